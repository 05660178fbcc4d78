//! Running guest cases: one boot per profile, one result per case.
//!
//! [`run_suite`] boots a profile's guest once for all the cases planned in it and turns what the
//! runner left in the run directory into one [`CaseResult`] per case. A failed case's message
//! carries everything needed to understand it: its output, the kernel messages logged while it
//! ran (first those that report trouble it does not expect), the tail of the guest's kernel log,
//! and, if the guest itself failed, the console.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use drydock_guest::protocol::{self, CaseInfo, Outcome, Status};

use crate::cache::Cache;
use crate::guest::GuestBinaries;
use crate::profile::Profile;
use crate::qemu::Console;
use crate::vm::{self, GuestExit, RunDir, Watchdog};
use crate::{progress, Error, Result};

/// A case's result: `Err` holds the full failure report.
pub type CaseResult = std::result::Result<(), String>;

/// Time allowed per case beyond its own timeout (process start-up, kernel log collection).
const PER_CASE_SLACK: Duration = Duration::from_secs(10);
/// Time allowed after the last case (the final kernel log, power-off).
const FINAL_SLACK: Duration = Duration::from_secs(60);
/// Lines of the guest kernel log shown with a failure.
const KERNEL_LOG_LINES: usize = 50;

/// The results of one boot.
#[derive(Debug)]
pub struct SuiteReport {
    results: BTreeMap<String, CaseResult>,
}

impl SuiteReport {
    /// The result of case `name`; a case that was not planned is an error too.
    pub fn result(&self, name: &str) -> CaseResult {
        self.results
            .get(name)
            .cloned()
            .unwrap_or_else(|| Err(format!("case {name} was not planned in this guest")))
    }
}

/// How long the guest may run after booting, for these cases.
pub fn run_timeout(cases: &[CaseInfo]) -> Duration {
    cases
        .iter()
        .map(|c| c.timeout + PER_CASE_SLACK)
        .sum::<Duration>()
        + FINAL_SLACK
}

/// Boots `profile` once and runs `cases` in it, in order, allowing the guest
/// [`run_timeout`]`(cases)` after it booted.
pub fn run_suite(
    profile: &'static Profile,
    binaries: &GuestBinaries,
    cases: &[CaseInfo],
) -> SuiteReport {
    run_suite_within(profile, binaries, cases, run_timeout(cases))
}

/// [`run_suite`], with the guest killed `limit` after it booted.
pub fn run_suite_within(
    profile: &'static Profile,
    binaries: &GuestBinaries,
    cases: &[CaseInfo],
    limit: Duration,
) -> SuiteReport {
    let fail_all = |message: String| SuiteReport {
        results: cases
            .iter()
            .map(|c| (c.name.clone(), Err(message.clone())))
            .collect(),
    };
    match boot_and_collect(profile, binaries, cases, limit) {
        Ok(report) => report,
        Err(e) => fail_all(format!(
            "the `{}` guest could not be started: {e}",
            profile.name
        )),
    }
}

fn boot_and_collect(
    profile: &'static Profile,
    binaries: &GuestBinaries,
    cases: &[CaseInfo],
    limit: Duration,
) -> Result<SuiteReport> {
    let cache = Cache::from_env()?;
    let prepared = vm::prepare(profile, &cache)?;
    let mut run_dir = RunDir::create(profile.name)?;
    let names: Vec<&str> = cases.iter().map(|c| c.name.as_str()).collect();
    run_dir.write(protocol::PLAN, &protocol::format_plan(&names))?;
    let runner = vm::guest_path(&binaries.runner())?;
    let script = format!(
        "exec {} run {}\n",
        vm::shell_quote(&runner.to_string_lossy()),
        protocol::GUEST_MOUNT
    );
    let watchdog = Watchdog {
        boot: vm::boot_timeout()?,
        run: Some(limit),
    };
    progress::say(&format!(
        "drydock: booting the `{}` guest ({}) for {} case(s)",
        profile.name,
        prepared.kernel.description,
        cases.len()
    ));
    let started = Instant::now();
    let exit = prepared.boot(&run_dir, &script, Console::Captured, watchdog, || {})?;
    progress::say(&format!(
        "drydock: the `{}` guest {} after {:.1} s (booted in {})",
        profile.name,
        exit.problem()
            .map_or("finished".to_owned(), |_| "FAILED".to_owned()),
        started.elapsed().as_secs_f64(),
        exit.boot_time
            .map_or("-".to_owned(), |t| format!("{:.1} s", t.as_secs_f64())),
    ));

    let mut results = BTreeMap::new();
    let mut all_passed = exit.problem().is_none();
    for case in cases {
        let result = case_result(profile, &run_dir, &exit, case);
        all_passed &= result.is_ok();
        results.insert(case.name.clone(), result);
    }
    if !all_passed {
        run_dir.keep();
    }
    Ok(SuiteReport { results })
}

fn describe(outcome: &Outcome) -> String {
    let secs = outcome.duration.as_secs_f64();
    match outcome.status {
        Status::Passed => format!("passed in {secs:.2} s"),
        Status::Failed { exit_code: 101 } => format!("panicked after {secs:.2} s"),
        Status::Failed { exit_code } => format!("failed (exit code {exit_code}) after {secs:.2} s"),
        Status::Killed { signal } => format!("was killed by signal {signal} after {secs:.2} s"),
        Status::TimedOut => format!("timed out after {secs:.1} s and was killed"),
        Status::UnexpectedKernelMessages => {
            format!("ended after {secs:.2} s with unexpected kernel messages")
        }
    }
}

/// The result of one case, from the files the runner left.
fn case_result(
    profile: &Profile,
    run_dir: &RunDir,
    exit: &GuestExit,
    case: &CaseInfo,
) -> CaseResult {
    let dir = protocol::case_dir(&case.name);
    let outcome = run_dir
        .read(format!("{dir}/{}", protocol::CASE_OUTCOME))
        .map(|line| line.parse::<Outcome>());
    let headline = match outcome {
        Some(Ok(Outcome {
            status: Status::Passed,
            ..
        })) => return Ok(()),
        Some(Ok(outcome)) => format!(
            "case {} {} in the `{}` guest",
            case.name,
            describe(&outcome),
            profile.name
        ),
        Some(Err(e)) => format!("case {}: unreadable outcome: {e}", case.name),
        None => match exit.problem() {
            Some(problem) => format!("case {} did not complete: {problem}", case.name),
            None => format!(
                "case {} has no result: the runner stopped early (see the console)",
                case.name
            ),
        },
    };

    let mut report = headline;
    let section = |report: &mut String, title: &str, file: &str| {
        if let Some(text) = run_dir.read(file) {
            let text = text.trim_end();
            let text = if text.is_empty() { "(empty)" } else { text };
            report.push_str(&format!("\n--- {title} ---\n{text}"));
        }
    };
    section(
        &mut report,
        "unexpected kernel messages (the case declares none of them)",
        &format!("{dir}/{}", protocol::CASE_UNEXPECTED_KMSG),
    );
    section(
        &mut report,
        "stdout",
        &format!("{dir}/{}", protocol::CASE_STDOUT),
    );
    section(
        &mut report,
        "stderr",
        &format!("{dir}/{}", protocol::CASE_STDERR),
    );
    section(
        &mut report,
        "kernel messages while the case ran",
        &format!("{dir}/{}", protocol::CASE_KMSG),
    );
    match run_dir.read(protocol::DMESG) {
        Some(dmesg) => report.push_str(&format!(
            "\n--- guest kernel log, last {KERNEL_LOG_LINES} lines (all of it: {}) ---\n{}",
            run_dir.file(protocol::DMESG).display(),
            vm::tail(&dmesg, KERNEL_LOG_LINES)
        )),
        // The runner did not get to save the kernel log; the console has it.
        None => report.push_str(&format!("\n{}", run_dir.diagnostics())),
    }
    report.push_str(&format!(
        "\n--- run directory (kept) ---\n{}",
        run_dir.path().display()
    ));
    Err(report)
}

/// Builds (or locates) the guest binaries and lists their cases, as one step that either
/// yields both or says what failed.
pub fn guest_cases() -> Result<(GuestBinaries, Vec<CaseInfo>)> {
    let binaries = GuestBinaries::locate_or_build()?;
    let cases = binaries.list_cases()?;
    if cases.is_empty() {
        return Err(Error::new(format!(
            "{} lists no cases",
            binaries.runner().display()
        )));
    }
    Ok((binaries, cases))
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_guest::protocol::IommuMode;

    fn case(name: &str, secs: u64) -> CaseInfo {
        CaseInfo {
            name: name.into(),
            timeout: Duration::from_secs(secs),
            iommu: vec![IommuMode::Translated],
            needs: Vec::new(),
        }
    }

    #[test]
    fn the_run_timeout_covers_every_case_and_slack() {
        let cases = [case("a", 30), case("b", 5)];
        assert_eq!(
            run_timeout(&cases),
            Duration::from_secs(30 + 5 + 2 * 10 + 60)
        );
    }

    #[test]
    fn outcomes_read_as_sentences() {
        let outcome = |status| Outcome {
            status,
            duration: Duration::from_millis(1500),
        };
        assert_eq!(
            describe(&outcome(Status::Failed { exit_code: 101 })),
            "panicked after 1.50 s"
        );
        assert_eq!(
            describe(&outcome(Status::Failed { exit_code: 1 })),
            "failed (exit code 1) after 1.50 s"
        );
        assert_eq!(
            describe(&outcome(Status::TimedOut)),
            "timed out after 1.5 s and was killed"
        );
        assert_eq!(
            describe(&outcome(Status::UnexpectedKernelMessages)),
            "ended after 1.50 s with unexpected kernel messages"
        );
    }

    #[test]
    fn unplanned_cases_are_errors() {
        let report = SuiteReport {
            results: BTreeMap::from([("a".to_owned(), Ok(()))]),
        };
        assert_eq!(report.result("a"), Ok(()));
        assert!(report.result("b").is_err());
    }
}
