//! The `drydock` binary as a user meets it: help, bad input, permission denied, a reader that
//! goes away. Each failure is one line on standard error and a non-zero status, never a panic.
//! `--root` points the binary at a fake tree (no kernel reacts to writes there, so only what
//! happens before any write is run this way; the commands' effects are tested in-process).

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output, Stdio};

use drydock_sim::sysfs::{FakeDevice, FakeSys};

/// The binary, with no log filter from the test's environment and no terminal width.
fn drydock() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_drydock"));
    for variable in ["RUST_LOG", "DRYDOCK_LOG", "COLUMNS"] {
        command.env_remove(variable);
    }
    command
}

fn run(args: &[&str]) -> Output {
    drydock().args(args).output().expect("running drydock")
}

/// Checks that `output` is a failure with status `code` and exactly one line on standard error,
/// returned.
fn one_line_failure(output: &Output, code: i32) -> String {
    let err = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(output.status.code(), Some(code), "{output:?}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("drydock: "), "{err}");
    assert!(
        !err.contains("panicked") && !err.contains("RUST_BACKTRACE"),
        "{err}"
    );
    assert!(output.stdout.is_empty(), "{output:?}");
    err
}

#[test]
fn help_speaks_the_language_of_the_tools_it_replaces() {
    let output = run(&["--help"]);
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for word in [
        "dpdk-devbind.py",
        "setup.sh",
        "driverctl",
        "list",
        "bind",
        "unbind",
        "check",
    ] {
        assert!(help.contains(word), "--help lacks {word}:\n{help}");
    }
    let output = run(&["bind", "--help"]);
    let help = String::from_utf8(output.stdout).unwrap();
    for word in [
        "--driver",
        "--group",
        "--force",
        "uio_pci_generic",
        "driver_override",
    ] {
        assert!(help.contains(word), "bind --help lacks {word}:\n{help}");
    }
    // No command: the help, on standard error, and the usage status.
    let output = run(&[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("Usage: drydock"));
}

#[test]
fn help_is_wrapped_to_the_terminal() {
    let help_of = |columns: Option<&str>, args: &[&str]| {
        let mut command = drydock();
        command.args(args);
        if let Some(columns) = columns {
            command.env("COLUMNS", columns);
        }
        let output = command.output().expect("running drydock");
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    for args in [
        &["--help"][..],
        &["list", "--help"],
        &["bind", "--help"],
        &["unbind", "--help"],
        &["check", "--help"],
    ] {
        // No terminal: 100 columns at most.
        let help = help_of(None, args);
        let widest = help.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(widest <= 100, "{args:?}: {widest} columns:\n{help}");
        // A narrow terminal: its width.
        let help = help_of(Some("72"), args);
        let options: Vec<&str> = help
            .lines()
            .skip_while(|l| !l.starts_with("Options:") && !l.starts_with("Commands:"))
            .take_while(|l| !l.is_empty())
            .collect();
        assert!(options.len() > 2, "{args:?}:\n{help}");
        for line in options {
            assert!(line.chars().count() <= 72, "{args:?}: {line:?}\n{help}");
        }
        // A wide one: still 100 at most, for reading.
        let help = help_of(Some("250"), args);
        assert!(help.lines().all(|l| l.chars().count() <= 100), "{help}");
    }
}

#[test]
fn mistyped_commands_and_options_get_suggestions() {
    let err = one_line_failure(&run(&["lsit"]), 2);
    assert_eq!(
        err,
        "drydock: unrecognized subcommand 'lsit' (a similar subcommand exists: 'list'); see \
         `drydock --help`\n"
    );
    let err = one_line_failure(&run(&["bind", "--dryrun", "00:02.0"]), 2);
    assert!(
        err.contains("(a similar argument exists: '--dry-run')"),
        "{err}"
    );
}

#[test]
fn renamed_flags_say_what_they_are_now() {
    let err = one_line_failure(&run(&["bind", "-d", "uio_pci_generic", "00:02.0"]), 2);
    assert!(
        err.contains("`-d DRIVER` is now `-b DRIVER`") && err.contains("`drydock bind --help`"),
        "{err}"
    );
    assert!(!err.contains("use '-- -d'"), "{err}");
    let err = one_line_failure(&run(&["check", "-d", "vfio-pci"]), 2);
    assert!(err.contains("`--driver DRIVER`"), "{err}");
    let err = one_line_failure(&run(&["list", "-v", "8086"]), 2);
    assert!(err.contains("`-d VENDOR:`"), "{err}");
}

#[test]
fn rust_log_shows_what_drydock_writes() {
    let fake = FakeSys::new("log");
    fake.add_device(&FakeDevice::edu("0000:00:02.0"));
    fake.add_driver("uio_pci_generic", &[]);
    let root = fake.root().to_str().unwrap();
    let args = [
        "--root",
        root,
        "bind",
        "-b",
        "uio_pci_generic",
        "0000:00:02.0",
    ];
    // Without a filter: the one line of the failure (nothing reacts to the writes in this tree).
    let quiet = drydock().args(args).output().unwrap();
    let quiet_err = String::from_utf8_lossy(&quiet.stderr).into_owned();
    assert_eq!(quiet_err.lines().count(), 1, "{quiet_err}");
    for variable in ["RUST_LOG", "DRYDOCK_LOG"] {
        let output = drydock()
            .args(args)
            .env(variable, "debug")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&output.stderr);
        assert!(
            err.lines().any(
                |l| l.starts_with("drydock: debug: writing `uio_pci_generic` to ")
                    && l.ends_with("0000:00:02.0/driver_override")
            ),
            "{variable}: {err}"
        );
        assert_eq!(output.status.code(), quiet.status.code());
    }
    // DRYDOCK_LOG wins over RUST_LOG.
    let output = drydock()
        .args(args)
        .env("RUST_LOG", "debug")
        .env("DRYDOCK_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stderr), quiet_err);
    // A filter that does not parse is said, not ignored.
    let output = drydock()
        .args(["--root", root, "list"])
        .env("RUST_LOG", "drydock=loud")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(
        err.starts_with("drydock: warning: RUST_LOG=\"drydock=loud\": ")
            && err.contains("invalid logging spec 'loud'"),
        "{err}"
    );
}

#[test]
fn malformed_addresses_are_one_line_each() {
    for bad in [
        "00:04",
        "zz:00.0",
        "0000:00:04.9",
        "0000:00:20.0",
        "",
        "0000:00:04.0.1",
    ] {
        let err = one_line_failure(&run(&["bind", bad]), 2);
        assert!(err.contains("DDDD:BB:DD.F"), "{bad:?}: {err}");
    }
}

#[test]
fn bad_command_lines_are_one_line() {
    let err = one_line_failure(&run(&["bind"]), 2);
    assert_eq!(
        err,
        "drydock: the following required arguments were not provided: <BDF>...; see `drydock \
         bind --help`\n"
    );
    let err = one_line_failure(&run(&["frobnicate"]), 2);
    assert!(
        err.contains("frobnicate") && err.contains("`drydock --help`"),
        "{err}"
    );
    let err = one_line_failure(&run(&["unbind", "--all", "0000:00:02.0"]), 2);
    assert!(
        err.contains("--all") && err.contains("`drydock unbind --help`"),
        "{err}"
    );
    let err = one_line_failure(&run(&["list", "--class"]), 2);
    assert!(
        err.contains("a value is required for '--class <CLASS>'"),
        "{err}"
    );
}

#[test]
fn absent_devices_and_unknown_drivers_are_named() {
    let fake = FakeSys::guest("binary");
    let root = fake.root().to_str().unwrap();
    let err = one_line_failure(&run(&["--root", root, "bind", "0000:00:09.0"]), 1);
    assert!(err.contains("no PCI device 0000:00:09.0"), "{err}");
    let err = one_line_failure(
        &run(&["--root", root, "bind", "--driver", "nvme", "0000:00:02.0"]),
        2,
    );
    assert!(err.contains("unknown driver `nvme`"), "{err}");
    let err = one_line_failure(&run(&["--root", root, "check", "0000:00:09.0"]), 1);
    assert!(err.contains("drydock list"), "{err}");
    // A refusal before any write: the interface is up.
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    let err = one_line_failure(&run(&["--root", root, "bind", "0000:00:06.0"]), 1);
    assert!(err.contains("eth0 is up"), "{err}");
    assert!(fake.writes().is_empty());
}

#[test]
fn permission_denied_says_to_run_as_root() {
    let fake = FakeSys::new("denied");
    fake.add_device(&FakeDevice::edu("0000:00:02.0"));
    fake.add_driver("uio_pci_generic", &[]);
    let root = fake.root().to_str().unwrap().to_owned();
    let as_root = nix_euid_is_root();
    let mut command = if as_root {
        // `nobody` may not reach cargo's target directory (under /root, mode 0700, on CI): it
        // runs a copy placed in the fake tree, which `nobody` can reach.
        let copy = fake.root().join("drydock");
        std::fs::copy(env!("CARGO_BIN_EXE_drydock"), &copy).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        Command::new(copy)
    } else {
        drydock()
    };
    command.args([
        "--root",
        &root,
        "bind",
        "--driver",
        "uio_pci_generic",
        "0000:00:02.0",
    ]);
    // As root, drop to an unprivileged user; as anyone else, make the file read-only.
    if as_root {
        command.uid(65534).gid(65534);
    } else {
        let file = fake
            .root()
            .join("sys/devices/pci0000:00/0000:00:02.0/driver_override");
        std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o444)).unwrap();
    }
    let output = command.output().expect("running drydock");
    let err = one_line_failure(&output, 1);
    assert!(err.contains("permission denied"), "{err}");
    assert!(err.contains("run as root"), "{err}");
    assert!(fake.sysfs().driver("0000:00:02.0").is_none());
}

/// Whether this test runs as root (it then runs the binary as `nobody`).
fn nix_euid_is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("Uid:"))?;
            line.split_whitespace().nth(2).map(|euid| euid == "0")
        })
        .unwrap_or(false)
}

#[test]
fn a_reader_that_goes_away_ends_the_list_quietly() {
    let fake = FakeSys::new("pipe");
    // Enough devices that the table outgrows the pipe's buffer.
    for bus in 0..8u8 {
        for slot in 0..32u8 {
            for function in 0..8u8 {
                fake.add_device(&FakeDevice {
                    address: &format!("0000:{bus:02x}:{slot:02x}.{function}"),
                    ids: (0x8086, 0x10d3),
                    class: 0x020000,
                    driver: None,
                    group: None,
                    resource: "",
                });
            }
        }
    }
    let mut child = drydock()
        .args(["--root", fake.root().to_str().unwrap(), "list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running drydock");
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert!(first.starts_with("BDF"), "{first}");
    // The reader is dropped here: the rest of the table meets a closed pipe.
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
