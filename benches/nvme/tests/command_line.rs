//! `nvme-bench`'s command line, which it checks before touching a device: `--help` says how to set
//! the log level and the exit statuses; a bad command line is one line and status 2.

use std::process::Command;

use drydock_host::{exit_status, log_filter};

/// Runs `nvme-bench` with `args`: its exit status, standard output and standard error.
fn run(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_nvme-bench"))
        .args(args)
        .output()
        .unwrap();
    let text = |bytes: Vec<u8>| String::from_utf8(bytes).unwrap();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

#[test]
fn help_says_the_log_level_and_the_exit_statuses() {
    let (status, stdout, _) = run(&["--help"]);
    assert_eq!(status, Some(exit_status::SUCCESS.into()));
    assert!(stdout.contains("\nLog level:\n"), "{stdout}");
    assert!(stdout.contains(log_filter::HELP), "{stdout}");
    assert!(stdout.contains("2 bad command line"), "{stdout}");
}

#[test]
fn chart_draws_the_committed_run_as_it_is_committed() {
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/results/results.csv");
    let (status, stdout, stderr) = run(&["chart", csv]);
    assert_eq!(status, Some(exit_status::SUCCESS.into()), "{stderr}");
    let committed = include_str!("../results/iops.svg");
    assert_eq!(
        stdout, committed,
        "regenerate: nvme-bench chart results.csv > iops.svg"
    );
}

#[test]
fn latency_chart_draws_the_committed_run_as_it_is_committed() {
    let csv = concat!(env!("CARGO_MANIFEST_DIR"), "/results/results.csv");
    let (status, stdout, stderr) = run(&["latency-chart", csv]);
    assert_eq!(status, Some(exit_status::SUCCESS.into()), "{stderr}");
    let committed = include_str!("../results/latency.svg");
    assert_eq!(
        stdout, committed,
        "regenerate: nvme-bench latency-chart results.csv > latency.svg"
    );
}

#[test]
fn a_bad_command_line_is_one_line_and_status_2() {
    for args in [
        &["--bogus"][..],
        &["--seconds"],
        &["--seconds", "soon"],
        &["integrity"],
        &["integrity", "0000:00:04.0", "--ios", "many"],
        &["hammer"],
        &["hammer", "0000:00:04.0", "extra"],
        &["chart"],
        &["latency-chart"],
        &["latency-chart", "a.csv", "b.csv"],
        &["host-chart"],
    ] {
        let (status, stdout, stderr) = run(args);
        assert_eq!(
            status,
            Some(exit_status::USAGE.into()),
            "{args:?}: {stderr}"
        );
        assert_eq!(stdout, "", "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("nvme-bench: ") && stderr.contains("nvme-bench --help"),
            "{args:?}: {stderr}"
        );
    }
}
