//! `drydock-vm`'s command line, without booting anything: a bad command line is one line and exit
//! status 2, as in every drydock program, and the help says how to set the log level.

use std::process::{Command, Output};

fn drydock_vm(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_drydock-vm"))
        .args(args)
        .output()
        .expect("running drydock-vm")
}

#[test]
fn a_bad_command_line_is_one_line_and_status_2() {
    for (args, problem) in [
        (&["frobnicate"][..], "unknown command `frobnicate`"),
        (&["run"], "run needs `-- PROGRAM`"),
        (
            &["run", "--timeout", "soon", "--", "x"],
            "--timeout takes seconds",
        ),
        (&["shell", "--profile", "nope"], "no guest profile `nope`"),
        (&["shell", "--bogus"], "unexpected argument `--bogus`"),
        (&["demo", "now"], "demo takes no arguments"),
        (&["nvme-bench", "--bogus"], "nvme-bench takes"),
        (&["edu-bench", "--bogus"], "edu-bench takes"),
        (
            &["nvme-bench", "--profile", "nope"],
            "no guest profile `nope`",
        ),
        (&["nvme-bench", "--profile"], "nvme-bench takes"),
        // edu-bench compares the driver in the proof kernel with itself: that guest only.
        (&["edu-bench", "--profile", "kernel73"], "edu-bench takes"),
    ] {
        let output = drydock_vm(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {output:?}");
        let err = String::from_utf8_lossy(&output.stderr);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(
            err.starts_with(&format!("drydock-vm: {problem}"))
                && err.ends_with("; see `drydock-vm --help`\n"),
            "{args:?}: {err}"
        );
    }
    // Nothing at all: the help, on standard error, and the usage status.
    let output = drydock_vm(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).starts_with("Usage:"));
}

#[test]
fn help_fits_and_tells_how_to_set_the_log_level() {
    let output = drydock_vm(&["--help"]);
    assert_eq!(output.status.code(), Some(0));
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains("RUST_LOG=debug") && help.contains("DRYDOCK_LOG"),
        "{help}"
    );
    assert!(help.contains("125"), "{help}");
    for line in help.lines() {
        assert!(line.chars().count() <= 100, "{line:?}");
    }
}
