//! Guest cases as `cargo test` tests.
//!
//! Every case the guest runner lists becomes one test per guest profile whose IOMMU mode it
//! runs under and whose kernel offers the features it needs, named `[<profile>] <case>` (the
//! brackets keep `[iommu]` from matching `[noiommu]` in a filter). Each profile's guest boots
//! once, on the first of its tests that runs, with exactly the cases the command line selected;
//! profiles with no selected case do not boot. So `cargo test --test vm -- '[noiommu]'` boots one
//! guest, and `cargo test --test vm -- vfio_` boots each profile that has a matching case. The
//! test threads boot different profiles' guests at once (see `boots_first`).
//!
//! A failure shows the case's output and the guest's kernel log; see `drydock_tests::suite`.

use std::sync::{Arc, OnceLock};

use drydock_guest::protocol::CaseInfo;
use drydock_tests::guest::GuestBinaries;
use drydock_tests::profile::{Profile, PROFILES};
use drydock_tests::suite::{self, SuiteReport};
use libtest_mimic::{Arguments, Trial};

/// One profile's boot, shared by the tests of the cases planned in it.
struct ProfileRun {
    profile: &'static Profile,
    binaries: GuestBinaries,
    plan: Vec<CaseInfo>,
    report: OnceLock<SuiteReport>,
}

impl ProfileRun {
    /// Boots the guest on first use; later callers wait for that boot and share its report.
    fn report(&self) -> &SuiteReport {
        self.report
            .get_or_init(|| suite::run_suite(self.profile, &self.binaries, &self.plan))
    }
}

fn main() {
    let args = Arguments::from_args();
    let trials = match suite::guest_cases() {
        Ok((binaries, cases)) => trials(&args, &binaries, &cases),
        // Without the runner there is no list of cases: report that as a failing test, so the
        // run fails in the usual format and says why.
        Err(e) => vec![Trial::test("guest_binaries", move || {
            Err(e.to_string().into())
        })],
    };
    libtest_mimic::run(&args, trials).exit();
}

fn trials(args: &Arguments, binaries: &GuestBinaries, cases: &[CaseInfo]) -> Vec<Trial> {
    let mut trials = Vec::new();
    // A case whose IOMMU modes and kernel features no profile offers would never run: it fails
    // instead, saying so, rather than vanishing from the list.
    for case in cases.iter().filter(|c| !PROFILES.iter().any(|p| p.runs(c))) {
        let message = format!(
            "no guest profile runs {} (IOMMU modes {:?}, kernel features {:?}): add a profile to \
             tests/src/profile.rs or change the case's modes or features",
            case.name, case.iommu, case.needs
        );
        trials.push(Trial::test(
            format!("[no profile] {}", case.name),
            move || Err(message.into()),
        ));
    }
    let mut by_profile = Vec::new();
    for profile in PROFILES {
        // libtest-mimic filters by the same rule when it runs the trials; applying it here too
        // tells which cases the boot must run. They come first, so the profile's first trial
        // that runs is its first in the list (see `boots_first`).
        let (planned, unplanned): (Vec<&CaseInfo>, Vec<&CaseInfo>) =
            cases.iter().filter(|c| profile.runs(c)).partition(|c| {
                let probe = Trial::test(test_name(profile, c), || Ok(()));
                !args.is_filtered_out(&probe)
            });
        let run = Arc::new(ProfileRun {
            profile,
            binaries: binaries.clone(),
            plan: planned.iter().map(|c| (*c).clone()).collect(),
            report: OnceLock::new(),
        });
        let profile_trials: Vec<Trial> = planned
            .iter()
            .chain(&unplanned)
            .map(|case| {
                let run = Arc::clone(&run);
                let name = case.name.clone();
                Trial::test(test_name(profile, case), move || {
                    run.report().result(&name).map_err(Into::into)
                })
            })
            .collect();
        by_profile.push((planned.len(), profile_trials));
    }
    trials.extend(boots_first(by_profile));
    trials
}

/// Orders the trials so that the test threads boot different profiles' guests at once.
///
/// libtest-mimic hands the trials to its threads (one per CPU) in order, and the first trial of a
/// profile boots its guest while the profile's other trials wait for that boot's report. In the
/// profiles' own order every thread would wait on the same boot; here the first trial of each
/// profile comes first, the profile with the most planned cases leading, so each thread boots a
/// guest of its own and the longest boot starts first. The waiting trials follow.
fn boots_first(mut by_profile: Vec<(usize, Vec<Trial>)>) -> Vec<Trial> {
    by_profile.sort_by_key(|(planned, _)| std::cmp::Reverse(*planned));
    let mut first = Vec::new();
    let mut rest = Vec::new();
    for (_, trials) in by_profile {
        let mut trials = trials.into_iter();
        first.extend(trials.next());
        rest.extend(trials);
    }
    first.extend(rest);
    first
}

fn test_name(profile: &Profile, case: &CaseInfo) -> String {
    format!("[{}] {}", profile.name, case.name)
}
