//! The run directory: how a plan goes into the guest and results come out.
//!
//! For every guest boot the host creates a fresh directory and shares it read-write with the
//! guest over 9p, where it is mounted at [`GUEST_MOUNT`]. The files the runner reads and writes
//! there are:
//!
//! | path | written by | content |
//! |---|---|---|
//! | [`PLAN`] | host | names of the cases to run, one per line, in order ([`format_plan`]) |
//! | [`RUNNER_LOG`] | runner | the runner's own progress and errors |
//! | `cases/<name>/`[`CASE_STDOUT`], [`CASE_STDERR`] | the case's child process | its output, streamed |
//! | `cases/<name>/`[`CASE_KMSG`] | runner | kernel messages logged while the case ran |
//! | `cases/<name>/`[`CASE_UNEXPECTED_KMSG`] | runner | those that report unexpected trouble |
//! | `cases/<name>/`[`CASE_OUTCOME`] | runner | one [`Outcome`] line, written last |
//! | [`DMESG`] | runner | the whole guest kernel log after the last case |
//! | [`KERNEL_MODULES`] | host | where the guest sees the guest kernel's module tree |
//!
//! A case whose outcome file is missing did not finish: the guest died or was killed while it
//! ran. Output files are written while the case runs, so whatever it printed before is kept.
//!
//! The host learns which cases exist by running `drydock-guest list` (on the host: the binary is
//! static), which prints one [`CaseInfo`] line per case.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// Where the guest mounts the run directory.
pub const GUEST_MOUNT: &str = "/drydock";
/// The plan file, relative to the run directory.
pub const PLAN: &str = "plan";
/// The runner's own log, relative to the run directory.
pub const RUNNER_LOG: &str = "runner.log";
/// The guest's full kernel log, relative to the run directory.
pub const DMESG: &str = "dmesg";
/// The file naming, in the guest's view, the module tree of the kernel the guest runs (laid out as
/// `/lib/modules/<release>`), relative to the run directory. Written by the host for every boot.
pub const KERNEL_MODULES: &str = "kernel-modules";
/// Where a kernel with [`Feature::DriverModules`] has drydock's drivers in its module tree:
/// `<tree>/kernel/drivers/drydock/<name>.ko`, one per driver crate of `drivers/`, named after the
/// crate's library.
pub const DRIVER_MODULES_DIR: &str = "kernel/drivers/drydock";
/// Where the module tree of the proof kernel holds Linux's Rust samples (`<name>.ko`, named after
/// the sample's file).
pub const SAMPLE_MODULES_DIR: &str = "kernel/samples/rust";
/// The directory holding one subdirectory per case, relative to the run directory.
pub const CASES_DIR: &str = "cases";
/// A case's standard output, relative to its case directory.
pub const CASE_STDOUT: &str = "stdout";
/// A case's standard error, relative to its case directory.
pub const CASE_STDERR: &str = "stderr";
/// Kernel messages logged while the case ran, relative to its case directory.
pub const CASE_KMSG: &str = "kmsg";
/// The kernel messages logged while the case ran that report trouble the case does not expect,
/// one per line with its level (`<4>[    5.123456] WARNING: ...`), relative to its case
/// directory; written only when there are some.
pub const CASE_UNEXPECTED_KMSG: &str = "unexpected-kmsg";
/// The case's [`Outcome`] line, relative to its case directory.
pub const CASE_OUTCOME: &str = "outcome";

/// The relative path of a case's directory inside the run directory.
pub fn case_dir(name: &str) -> String {
    format!("{CASES_DIR}/{name}")
}

/// A line or file of the protocol that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParseError {}

fn parse_error(what: impl Into<String>) -> ParseError {
    ParseError(what.into())
}

/// Whether `name` can name a case: non-empty, lower-case ASCII letters, digits and `_` only, so
/// that it is safe as a file name and needs no quoting anywhere.
pub fn is_valid_case_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// How the guest kernel uses the IOMMU. Every guest profile has exactly one mode, and every case
/// says under which modes it is meaningful.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IommuMode {
    /// `intel_iommu=on`: devices sit in IOMMU groups with translating DMA domains; VFIO works.
    Translated,
    /// `intel_iommu=on iommu=pt`: IOMMU groups exist, but default domains are identity
    /// mapped, so devices driven through UIO can DMA to physical addresses.
    Passthrough,
    /// `intel_iommu=off`: the IOMMU is present in the machine but the kernel does not use it, so
    /// there are no IOMMU groups.
    Off,
}

impl IommuMode {
    /// Every mode, in a fixed order.
    pub const ALL: [IommuMode; 3] = [
        IommuMode::Translated,
        IommuMode::Passthrough,
        IommuMode::Off,
    ];

    /// The mode's name in protocol lines.
    pub fn as_str(self) -> &'static str {
        match self {
            IommuMode::Translated => "translated",
            IommuMode::Passthrough => "passthrough",
            IommuMode::Off => "off",
        }
    }
}

impl fmt::Display for IommuMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IommuMode {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        IommuMode::ALL
            .into_iter()
            .find(|mode| mode.as_str() == s)
            .ok_or_else(|| parse_error(format!("unknown IOMMU mode `{s}`")))
    }
}

/// What a guest kernel offers besides its IOMMU mode, which some cases need. Every guest profile
/// lists the features of its kernel; a case that needs a feature runs only in profiles that offer
/// it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// drydock's drivers, built in the kernel's source tree, are modules of the kernel (under
    /// [`DRIVER_MODULES_DIR`] of its module tree): the proof kernel of `tests/kernel/build`.
    DriverModules,
    /// VFIO's no-IOMMU mode (`CONFIG_VFIO_NOIOMMU`), which Debian's kernels lack.
    VfioNoIommu,
    /// VFIO's device cdev with iommufd (`CONFIG_VFIO_DEVICE_CDEV`, `CONFIG_IOMMUFD`), which
    /// Debian's kernels lack.
    VfioCdev,
    /// ublk, the kernel's userspace block driver, with user copy and user recovery
    /// (`CONFIG_BLK_DEV_UBLK`, Linux 6.5), which Debian 12's 6.1 kernel lacks.
    Ublk,
    /// CUSE, the character-device side of FUSE (`CONFIG_CUSE`), ready at boot: built in, or its
    /// module loaded (Debian's profiles do not load it).
    Cuse,
}

impl Feature {
    /// Every feature, in a fixed order.
    pub const ALL: [Feature; 5] = [
        Feature::DriverModules,
        Feature::VfioNoIommu,
        Feature::VfioCdev,
        Feature::Ublk,
        Feature::Cuse,
    ];

    /// The feature's name in protocol lines.
    pub fn as_str(self) -> &'static str {
        match self {
            Feature::DriverModules => "driver-modules",
            Feature::VfioNoIommu => "vfio-noiommu",
            Feature::VfioCdev => "vfio-cdev",
            Feature::Ublk => "ublk",
            Feature::Cuse => "cuse",
        }
    }
}

impl fmt::Display for Feature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Feature {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, ParseError> {
        Feature::ALL
            .into_iter()
            .find(|feature| feature.as_str() == s)
            .ok_or_else(|| parse_error(format!("unknown kernel feature `{s}`")))
    }
}

/// One line of `drydock-guest list`: a case, its timeout, the IOMMU modes it runs under and the
/// kernel features it needs.
///
/// Format: `case <name> timeout=<seconds> iommu=<mode>[,<mode>...][ needs=<feature>[,...]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseInfo {
    /// The case's name (see [`is_valid_case_name`]).
    pub name: String,
    /// How long the case may run before the runner kills it.
    pub timeout: Duration,
    /// The IOMMU modes under which the case runs.
    pub iommu: Vec<IommuMode>,
    /// The kernel features the case needs (none for most).
    pub needs: Vec<Feature>,
}

impl CaseInfo {
    /// Whether the case runs in a guest with the given IOMMU mode.
    pub fn runs_under(&self, mode: IommuMode) -> bool {
        self.iommu.contains(&mode)
    }

    /// Whether the case runs in a guest with the given IOMMU mode whose kernel offers `features`.
    pub fn runs_in(&self, mode: IommuMode, features: &[Feature]) -> bool {
        self.runs_under(mode) && self.needs.iter().all(|need| features.contains(need))
    }
}

/// Comma-separated names.
fn join<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

impl fmt::Display for CaseInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "case {} timeout={} iommu={}",
            self.name,
            self.timeout.as_secs(),
            join(&self.iommu)
        )?;
        if !self.needs.is_empty() {
            write!(f, " needs={}", join(&self.needs))?;
        }
        Ok(())
    }
}

impl FromStr for CaseInfo {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let bad = || parse_error(format!("malformed case line `{line}`"));
        let mut words = line.split_whitespace();
        if words.next() != Some("case") {
            return Err(bad());
        }
        let name = words.next().ok_or_else(bad)?;
        if !is_valid_case_name(name) {
            return Err(parse_error(format!("invalid case name `{name}`")));
        }
        let timeout = words
            .next()
            .and_then(|w| w.strip_prefix("timeout="))
            .and_then(|s| s.parse().ok())
            .map(Duration::from_secs)
            .ok_or_else(bad)?;
        let iommu = words
            .next()
            .and_then(|w| w.strip_prefix("iommu="))
            .ok_or_else(bad)?
            .split(',')
            .map(IommuMode::from_str)
            .collect::<Result<Vec<_>, _>>()?;
        let needs = match words.next() {
            None => Vec::new(),
            Some(word) => word
                .strip_prefix("needs=")
                .ok_or_else(bad)?
                .split(',')
                .map(Feature::from_str)
                .collect::<Result<Vec<_>, _>>()?,
        };
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(CaseInfo {
            name: name.to_owned(),
            timeout,
            iommu,
            needs,
        })
    }
}

/// Parses the output of `drydock-guest list`.
pub fn parse_case_list(text: &str) -> Result<Vec<CaseInfo>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(CaseInfo::from_str)
        .collect()
}

/// Formats a plan: the case names, one per line.
pub fn format_plan<S: AsRef<str>>(names: &[S]) -> String {
    names.iter().map(|n| format!("{}\n", n.as_ref())).collect()
}

/// Parses a plan written by [`format_plan`].
pub fn parse_plan(text: &str) -> Result<Vec<String>, ParseError> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(|name| {
            if is_valid_case_name(name) {
                Ok(name.to_owned())
            } else {
                Err(parse_error(format!("invalid case name `{name}` in plan")))
            }
        })
        .collect()
}

/// How a case ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The case returned success.
    Passed,
    /// The case's process exited with this non-zero code: it returned an error (1) or panicked
    /// (101).
    Failed {
        /// The exit code.
        exit_code: i32,
    },
    /// The case's process was killed by this signal, and not by the runner.
    Killed {
        /// The signal number.
        signal: i32,
    },
    /// The case ran past its timeout and the runner killed it.
    TimedOut,
    /// The case's process exited with success, but the kernel logged messages that report
    /// trouble the case does not expect (listed in [`CASE_UNEXPECTED_KMSG`]).
    UnexpectedKernelMessages,
}

/// One case's result: the single line of its outcome file.
///
/// Format: `passed <ms>ms`, `failed <ms>ms exit=<code>`, `killed <ms>ms signal=<n>`,
/// `timed-out <ms>ms`, or `unexpected-kernel-messages <ms>ms`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    /// How the case ended.
    pub status: Status,
    /// How long it ran, as measured by the runner.
    pub duration: Duration,
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.duration.as_millis();
        match self.status {
            Status::Passed => write!(f, "passed {ms}ms"),
            Status::Failed { exit_code } => write!(f, "failed {ms}ms exit={exit_code}"),
            Status::Killed { signal } => write!(f, "killed {ms}ms signal={signal}"),
            Status::TimedOut => write!(f, "timed-out {ms}ms"),
            Status::UnexpectedKernelMessages => write!(f, "unexpected-kernel-messages {ms}ms"),
        }
    }
}

impl FromStr for Outcome {
    type Err = ParseError;

    fn from_str(line: &str) -> Result<Self, ParseError> {
        let line = line.trim();
        let bad = || parse_error(format!("malformed outcome line `{line}`"));
        let mut words = line.split_whitespace();
        let status = words.next().ok_or_else(bad)?;
        let duration = words
            .next()
            .and_then(|w| w.strip_suffix("ms"))
            .and_then(|ms| ms.parse().ok())
            .map(Duration::from_millis)
            .ok_or_else(bad)?;
        let mut number_after = |key: &str| -> Result<i32, ParseError> {
            words
                .next()
                .and_then(|w| w.strip_prefix(key))
                .and_then(|n| n.parse().ok())
                .ok_or_else(bad)
        };
        let status = match status {
            "passed" => Status::Passed,
            "failed" => Status::Failed {
                exit_code: number_after("exit=")?,
            },
            "killed" => Status::Killed {
                signal: number_after("signal=")?,
            },
            "timed-out" => Status::TimedOut,
            "unexpected-kernel-messages" => Status::UnexpectedKernelMessages,
            _ => return Err(bad()),
        };
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(Outcome { status, duration })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_names_are_plain_identifiers() {
        assert!(is_valid_case_name("pci_devices_present"));
        assert!(is_valid_case_name("vfio2"));
        for bad in ["", "Upper", "with space", "../escape", "a/b", "dash-ed"] {
            assert!(!is_valid_case_name(bad), "{bad:?} accepted");
        }
    }

    #[test]
    fn case_info_round_trips() {
        let info = CaseInfo {
            name: "vfio_edu_bar0".into(),
            timeout: Duration::from_secs(45),
            iommu: vec![IommuMode::Translated, IommuMode::Passthrough],
            needs: Vec::new(),
        };
        let line = info.to_string();
        assert_eq!(
            line,
            "case vfio_edu_bar0 timeout=45 iommu=translated,passthrough"
        );
        assert_eq!(line.parse::<CaseInfo>(), Ok(info.clone()));
        assert!(info.runs_under(IommuMode::Passthrough));
        assert!(!info.runs_under(IommuMode::Off));
        assert!(info.runs_in(IommuMode::Translated, &[]));
    }

    #[test]
    fn needed_features_round_trip_and_restrict_where_a_case_runs() {
        let info = CaseInfo {
            name: "in_kernel_edu".into(),
            timeout: Duration::from_secs(60),
            iommu: vec![IommuMode::Off],
            needs: vec![Feature::DriverModules, Feature::VfioNoIommu],
        };
        let line = info.to_string();
        assert_eq!(
            line,
            "case in_kernel_edu timeout=60 iommu=off needs=driver-modules,vfio-noiommu"
        );
        assert_eq!(line.parse::<CaseInfo>(), Ok(info.clone()));
        assert!(!info.runs_in(IommuMode::Off, &[]));
        assert!(!info.runs_in(IommuMode::Off, &[Feature::DriverModules]));
        assert!(info.runs_in(IommuMode::Off, &Feature::ALL));
        assert!(!info.runs_in(IommuMode::Translated, &Feature::ALL));
    }

    #[test]
    fn case_info_rejects_malformed_lines() {
        for bad in [
            "case",
            "test x timeout=1 iommu=off",
            "case x timeout=one iommu=off",
            "case x timeout=1 iommu=sometimes",
            "case x timeout=1",
            "case x timeout=1 iommu=off extra",
            "case x timeout=1 iommu=off needs=wings",
            "case x timeout=1 iommu=off needs=vfio-noiommu extra",
            "case X timeout=1 iommu=off",
        ] {
            assert!(bad.parse::<CaseInfo>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn case_list_skips_blank_lines() {
        let list =
            parse_case_list("case a timeout=1 iommu=off\n\ncase b timeout=2 iommu=translated\n")
                .unwrap();
        let names: Vec<_> = list.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn plan_round_trips_and_rejects_bad_names() {
        let plan = format_plan(&["a", "b_c"]);
        assert_eq!(plan, "a\nb_c\n");
        assert_eq!(parse_plan(&plan).unwrap(), ["a", "b_c"]);
        assert!(parse_plan("a\n../../etc\n").is_err());
    }

    #[test]
    fn outcomes_round_trip() {
        let d = Duration::from_millis(1234);
        for status in [
            Status::Passed,
            Status::Failed { exit_code: 101 },
            Status::Killed { signal: 9 },
            Status::TimedOut,
            Status::UnexpectedKernelMessages,
        ] {
            let outcome = Outcome {
                status,
                duration: d,
            };
            assert_eq!(outcome.to_string().parse::<Outcome>(), Ok(outcome));
        }
        assert_eq!(
            Outcome {
                status: Status::Failed { exit_code: 1 },
                duration: d
            }
            .to_string(),
            "failed 1234ms exit=1"
        );
    }

    #[test]
    fn outcome_rejects_malformed_lines() {
        for bad in [
            "",
            "passed",
            "passed 12",
            "failed 12ms",
            "killed 1ms exit=9",
            "won 1ms",
        ] {
            assert!(bad.parse::<Outcome>().is_err(), "{bad:?} accepted");
        }
    }
}
