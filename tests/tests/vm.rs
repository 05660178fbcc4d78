//! Guest cases as `cargo test` tests.
//!
//! Every case the guest runner lists becomes one test per guest profile whose IOMMU mode it
//! runs under and whose kernel offers the features it needs, named `[<profile>] <case>` (the brackets keep `[iommu]` from matching
//! `[noiommu]` in a filter). Each profile's guest boots once, on the first of its
//! tests that runs, with exactly the cases the command line selected; profiles with no
//! selected case do not boot. So `cargo test --test vm -- '[noiommu]'` boots one guest, and
//! `cargo test --test vm -- vfio_` boots each profile that has a matching case.
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
    for profile in PROFILES {
        let in_profile: Vec<&CaseInfo> = cases.iter().filter(|c| profile.runs(c)).collect();
        // libtest-mimic filters by the same rule when it runs the trials; applying it here too
        // tells which cases the boot must run.
        let plan = in_profile
            .iter()
            .filter(|c| {
                let probe = Trial::test(test_name(profile, c), || Ok(()));
                !args.is_filtered_out(&probe)
            })
            .map(|c| (*c).clone())
            .collect();
        let run = Arc::new(ProfileRun {
            profile,
            binaries: binaries.clone(),
            plan,
            report: OnceLock::new(),
        });
        for case in in_profile {
            let run = Arc::clone(&run);
            let name = case.name.clone();
            trials.push(Trial::test(test_name(profile, case), move || {
                run.report().result(&name).map_err(Into::into)
            }));
        }
    }
    trials
}

fn test_name(profile: &Profile, case: &CaseInfo) -> String {
    format!("[{}] {}", profile.name, case.name)
}
