//! The runner's isolation, tested on the host: the runner binary is an ordinary Linux program,
//! so it can run a plan of misbehaving self-check cases here and must record each one and carry
//! on.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_guest::protocol::{self, Outcome, Status};

const RUNNER: &str = env!("CARGO_BIN_EXE_drydock-guest");

fn run_dir(name: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("drydock-runner-test-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(dir: &Path, case: &str, file: &str) -> String {
    fs::read_to_string(dir.join(protocol::case_dir(case)).join(file)).unwrap()
}

fn outcome(dir: &Path, case: &str) -> Outcome {
    read(dir, case, protocol::CASE_OUTCOME).parse().unwrap()
}

#[test]
fn each_case_is_isolated_and_recorded() {
    let dir = run_dir("isolation");
    let plan = [
        "self_check_panic",
        "self_check_hang",
        "self_check_sigkill",
        "self_check_fail",
        "self_check_pass",
    ];
    fs::write(dir.join(protocol::PLAN), protocol::format_plan(&plan)).unwrap();
    let out = Command::new(RUNNER).arg("run").arg(&dir).output().unwrap();
    assert!(out.status.success(), "runner exited with {}", out.status);
    let progress = String::from_utf8(out.stdout).unwrap();
    assert!(progress.contains("self_check_hang timed-out"), "{progress}");

    let panic = outcome(&dir, "self_check_panic");
    assert_eq!(panic.status, Status::Failed { exit_code: 101 });
    assert!(read(&dir, "self_check_panic", protocol::CASE_STDERR).contains("panicking on purpose"));

    let hang = outcome(&dir, "self_check_hang");
    assert_eq!(hang.status, Status::TimedOut);
    assert!(hang.duration.as_millis() >= 1000, "{hang}");
    assert!(hang.duration.as_secs() < 10, "{hang}");
    assert_eq!(
        read(&dir, "self_check_hang", protocol::CASE_STDOUT),
        "self-check: hanging\n"
    );

    assert_eq!(
        outcome(&dir, "self_check_sigkill").status,
        Status::Killed { signal: 9 }
    );

    assert_eq!(
        outcome(&dir, "self_check_fail").status,
        Status::Failed { exit_code: 1 }
    );
    assert_eq!(
        read(&dir, "self_check_fail", protocol::CASE_STDERR),
        "self-check: failing on purpose\n"
    );

    assert_eq!(outcome(&dir, "self_check_pass").status, Status::Passed);
    assert_eq!(
        read(&dir, "self_check_pass", protocol::CASE_STDOUT),
        "self-check: to stdout\n"
    );
    assert_eq!(
        read(&dir, "self_check_pass", protocol::CASE_STDERR),
        "self-check: to stderr\n"
    );

    assert!(dir.join(protocol::DMESG).exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn unknown_cases_fail_the_run_before_anything_runs() {
    let dir = run_dir("unknown");
    fs::write(dir.join(protocol::PLAN), "self_check_pass\nno_such_case\n").unwrap();
    let out = Command::new(RUNNER).arg("run").arg(&dir).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no known case `no_such_case`"));
    assert!(!dir.join(protocol::case_dir("self_check_pass")).exists());
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn list_prints_every_case_but_no_self_checks() {
    let out = Command::new(RUNNER).arg("list").output().unwrap();
    assert!(out.status.success());
    let cases = protocol::parse_case_list(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert!(cases.iter().any(|c| c.name == "pci_devices_present"));
    assert!(cases.iter().all(|c| !c.name.starts_with("self_check")));
}
