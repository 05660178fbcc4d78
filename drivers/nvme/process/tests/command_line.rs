//! The `nvme` binary as a user meets it: its help names the binary, a bad command line exits with
//! the usage status of every drydock program, and `RUST_LOG` sets what it logs.

use std::process::{Command, Output};

/// Runs `nvme ARGS` with `RUST_LOG` set to `filter` (or unset), and its debugfs tree off.
fn nvme(args: &[&str], filter: Option<&str>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_nvme"));
    command
        .args(args)
        .env_remove("DRYDOCK_LOG")
        .env_remove("RUST_LOG")
        .env("DRYDOCK_DEBUGFS", "off");
    if let Some(filter) = filter {
        command.env("RUST_LOG", filter);
    }
    command.output().expect("running nvme")
}

#[test]
fn help_names_the_binary_and_the_log_level() {
    let output = nvme(&["--help"], None);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(help.starts_with("nvme: "), "{help}");
    assert!(help.contains("Usage: nvme [OPTIONS]"), "{help}");
    assert!(help.contains("(module drydock_nvme)"), "{help}");
    assert!(help.contains("RUST_LOG=debug"), "{help}");
}

#[test]
fn a_bad_command_line_exits_2_with_one_line() {
    let output = nvme(&["--bogus"], None);
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr),
        "error: unknown option `--bogus`; `nvme --help` lists the options\n"
    );
}

#[test]
fn rust_log_sets_what_is_logged() {
    // A device that does not exist: the driver fails to open it, exit status 1, and logs why.
    let absent = ["0000:ff:1f.7"];
    let output = nvme(&absent, None);
    assert_eq!(output.status.code(), Some(1));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.contains("ERROR drydock: drydock_nvme: no PCI device 0000:ff:1f.7"),
        "{err}"
    );
    let output = nvme(&absent, Some("off"));
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
    // A filter that does not parse is said, and the default used.
    let output = nvme(&absent, Some("drydock=loud"));
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with("WARN  drydock: RUST_LOG=\"drydock=loud\": ")
            && err.contains("no PCI device"),
        "{err}"
    );
}
