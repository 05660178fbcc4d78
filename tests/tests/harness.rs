//! The harness against guests that misbehave on purpose: a failing case fails its test with the
//! guest's output and kernel log in the message, a hanging case is killed at its timeout while
//! the run goes on, a case during which the kernel reports trouble the case does not expect fails
//! with the kernel's lines, and a guest that stops making progress is killed at its deadline.
//!
//! Each test boots the default guest once with the runner's self-check cases, which the runner
//! knows but does not list (`tests/guest/src/cases/self_check.rs`).

use std::time::{Duration, Instant};

use drydock_guest::protocol::{CaseInfo, IommuMode};
use drydock_tests::guest::GuestBinaries;
use drydock_tests::profile::default_profile;
use drydock_tests::suite::{self, SuiteReport};

/// A plan entry for the self-check `name`. The timeout is what the guest's runner applies to
/// that case; the host uses it to compute the guest's deadline.
fn self_check(name: &str, timeout: Duration) -> CaseInfo {
    CaseInfo {
        name: name.to_owned(),
        timeout,
        iommu: IommuMode::ALL.to_vec(),
        needs: Vec::new(),
    }
}

fn binaries() -> GuestBinaries {
    match suite::guest_cases() {
        Ok((binaries, _)) => binaries,
        Err(e) => panic!("cannot build the guest binaries: {e}"),
    }
}

fn failure(report: &SuiteReport, name: &str) -> String {
    match report.result(name) {
        Ok(()) => panic!("{name} passed, but it misbehaves on purpose"),
        Err(message) => message,
    }
}

#[test]
fn failing_and_hanging_cases_fail_with_the_guest_output() {
    let plan = [
        self_check("self_check_fail", Duration::from_secs(60)),
        self_check("self_check_hang", Duration::from_secs(1)),
        self_check("self_check_pass", Duration::from_secs(60)),
    ];
    let report = suite::run_suite(default_profile(), &binaries(), &plan);

    let failed = failure(&report, "self_check_fail");
    for expected in [
        "case self_check_fail failed (exit code 1)",
        "--- stderr ---",
        "self-check: failing on purpose",
        "--- guest kernel log, last 50 lines",
        "--- run directory (kept) ---",
    ] {
        assert!(failed.contains(expected), "no {expected:?} in:\n{failed}");
    }

    let hung = failure(&report, "self_check_hang");
    for expected in [
        "case self_check_hang timed out after 1.",
        "and was killed",
        "self-check: hanging",
    ] {
        assert!(hung.contains(expected), "no {expected:?} in:\n{hung}");
    }

    // The run went on after both.
    assert_eq!(report.result("self_check_pass"), Ok(()));
}

#[test]
fn unexpected_kernel_messages_fail_the_case() {
    let plan = [
        self_check("self_check_kernel_warning", Duration::from_secs(60)),
        self_check(
            "self_check_expected_kernel_warning",
            Duration::from_secs(60),
        ),
        self_check("self_check_undeclared_dma_fault", Duration::from_secs(60)),
        self_check("self_check_pass", Duration::from_secs(60)),
    ];
    let report = suite::run_suite(default_profile(), &binaries(), &plan);

    // A warning the case logs itself, through /dev/kmsg, without declaring it.
    let warned = failure(&report, "self_check_kernel_warning");
    for expected in [
        "case self_check_kernel_warning ended after",
        "with unexpected kernel messages in the `iommu` guest",
        "--- unexpected kernel messages (the case declares none of them) ---\n<4>[",
        "] WARNING: CPU: 0 PID: 1 at self_check.rs:1 kernel_warning+0x0/0x1",
        "self-check: logged",
    ] {
        assert!(warned.contains(expected), "no {expected:?} in:\n{warned}");
    }
    // The same warning, declared.
    assert_eq!(report.result("self_check_expected_kernel_warning"), Ok(()));

    // A real IOMMU fault: the stray-DMA case, whose own checks pass, without its declaration.
    let faulted = failure(&report, "self_check_undeclared_dma_fault");
    for expected in [
        "with unexpected kernel messages",
        "] DMAR: DRHD: handling fault status reg",
        "Request device [",
        "the IOMMU's report:",
    ] {
        assert!(faulted.contains(expected), "no {expected:?} in:\n{faulted}");
    }
    assert_eq!(report.result("self_check_pass"), Ok(()));
}

#[test]
fn a_guest_that_stops_making_progress_is_killed_at_its_deadline() {
    let deadline = Duration::from_secs(10);
    let plan = [
        self_check("self_check_freeze_runner", Duration::from_secs(60)),
        self_check("self_check_pass", Duration::from_secs(60)),
    ];
    let binaries = binaries();
    let started = Instant::now();
    let report = suite::run_suite_within(default_profile(), &binaries, &plan, deadline);
    let elapsed = started.elapsed();

    let frozen = failure(&report, "self_check_freeze_runner");
    let expected = "the guest did not finish within 10 s of booting; QEMU was killed";
    assert!(frozen.contains(expected), "no {expected:?} in:\n{frozen}");
    let never_ran = failure(&report, "self_check_pass");
    assert!(never_ran.contains(expected), "{never_ran}");
    // Boot (at most the boot timeout, 120 s) plus the deadline: the harness did not wait for
    // the cases' own 60 s timeouts.
    assert!(
        elapsed < Duration::from_secs(120) + deadline,
        "the hung guest ran for {elapsed:?}"
    );
}
