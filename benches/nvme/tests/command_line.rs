//! `nvme-bench`'s command line, which it checks before touching a device: `--help` says how to set
//! the log level and the exit statuses; a bad command line is one line and status 2; the variant
//! `ublk` is refused on a kernel without ublk.

use std::path::Path;
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
        &["--variants", "bogus"],
        &["--variants", "kernel,ublk,"],
        &["--variants", "kernel", "--variants"],
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

#[test]
fn every_variant_is_known_and_ublk_needs_ublk() {
    let (status, _, stderr) = run(&["--variants", "polled,ublk-ish"]);
    assert_eq!(status, Some(exit_status::USAGE.into()), "{stderr}");
    assert!(
        stderr.contains("no variant `ublk-ish` (the variants: polled,polled-4k,")
            && stderr.contains(",spdk,ublk)"),
        "{stderr}"
    );
    // Controllers that do not exist, so that a kernel with ublk fails harmlessly further on.
    let (status, stdout, stderr) = run(&[
        "--variants",
        "ublk,kernel",
        "--drydock",
        "0000:ff:1f.6",
        "--kernel",
        "0000:ff:1f.7",
    ]);
    assert_eq!(status, Some(exit_status::FAILURE.into()), "{stderr}");
    assert_eq!(stdout, "");
    if Path::new("/dev/ublk-control").exists() {
        eprintln!("this kernel has ublk: the refusal of the variant is not checked here");
    } else {
        assert_eq!(
            stderr.lines().collect::<Vec<_>>(),
            [concat!(
                "nvme-bench: the variant ublk needs the kernel's ublk driver, and this kernel ",
                "has no /dev/ublk-control: it takes Linux 6.5 or later built with ",
                "CONFIG_BLK_DEV_UBLK (`modprobe ublk_drv` if it is a module); in drydock's ",
                "guest, `drydock-vm nvme-bench --profile kernel73` (Debian's 6.1 has no ublk)"
            )],
        );
    }
}
