//! `drydock check`: the host's readiness report, printed with its fixes.

use std::io::Write;

use drydock_admin::binding::UserspaceDriver;
use drydock_admin::readiness::{self, DmaNeed, Finding, Report, Status};
use drydock_host::sysfs::Sysfs;
use serde::Serialize;

use crate::args::CheckArgs;
use crate::output::{line, wrap};
use crate::Failure;

/// The width text is wrapped to.
const WIDTH: usize = 100;

/// `check --json`: the report as scripts read it. docs/cli.md documents the schema; fields are
/// only ever added to it.
#[derive(Debug, Serialize)]
struct JsonReport<'a> {
    /// `vfio-pci` or `uio_pci_generic`.
    driver: &'static str,
    /// The device checked, `DDDD:BB:DD.F`, or `null`.
    device: Option<&'a str>,
    /// Whether a driver process can run: no finding is a problem. The exit status says the same.
    ready: bool,
    /// What was checked, in order.
    findings: Vec<JsonFinding<'a>>,
    /// On a machine with no VFIO at all, the paragraph the text output prints instead of the
    /// findings; else `null`.
    no_vfio: Option<&'a str>,
}

/// A finding in `check --json`.
#[derive(Debug, Serialize)]
struct JsonFinding<'a> {
    /// What was checked, as the text output names it (`IOMMU`, `memory lock`...).
    topic: &'static str,
    /// `ok`, `note` or `problem`.
    status: &'static str,
    /// What was found.
    found: &'a str,
    /// What to do about it: set for notes and problems, else `null`.
    fix: Option<&'a str>,
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(finding: &'a Finding) -> Self {
        Self {
            topic: finding.topic,
            status: match finding.status {
                Status::Ok => "ok",
                Status::Note => "note",
                Status::Problem => "problem",
            },
            found: &finding.found,
            fix: finding.fix.as_deref(),
        }
    }
}

/// Runs `drydock check`; `Ok(true)` when ready.
pub(crate) fn check(sysfs: &Sysfs, args: &CheckArgs, out: &mut dyn Write) -> Result<bool, Failure> {
    let driver = UserspaceDriver::parse(&args.driver)?;
    let need = match args.program.as_deref() {
        None => DmaNeed::ANY,
        Some(program) => DmaNeed::of(program).ok_or_else(|| {
            Failure::usage(format!(
                "drydock knows what {} lock for DMA, not `{program}`; without --for, it checks \
                 for one 2 MiB chunk per device",
                DmaNeed::known().collect::<Vec<_>>().join(" and ")
            ))
        })?,
    };
    let report = readiness::check(sysfs, driver, args.device.as_deref(), need)?;
    if args.json {
        print_json(out, &report)?;
    } else {
        print(out, &report);
    }
    Ok(report.ready())
}

/// Prints a report as JSON.
fn print_json(out: &mut dyn Write, report: &Report) -> Result<(), Failure> {
    let json = JsonReport {
        driver: report.driver.name(),
        device: report.device.as_deref(),
        ready: report.ready(),
        findings: report.findings.iter().map(JsonFinding::from).collect(),
        no_vfio: report.no_vfio.as_deref(),
    };
    let text = serde_json::to_string_pretty(&json)
        .map_err(|e| Failure::failed(format!("cannot encode the report as JSON: {e}")))?;
    line(out, &text);
    Ok(())
}

/// Prints a report as text.
pub(crate) fn print(out: &mut dyn Write, report: &Report) {
    if let Some(paragraph) = &report.no_vfio {
        line(out, &wrap(paragraph, WIDTH, "", ""));
        return;
    }
    let device = report
        .device
        .as_ref()
        .map_or(String::new(), |d| format!(", device {d}"));
    line(out, &format!("drydock check: {}{device}", report.driver));
    let topic_width = report
        .findings
        .iter()
        .map(|f| f.topic.len())
        .max()
        .unwrap_or(0);
    let indent = " ".repeat(2 + 7 + 2 + topic_width + 2);
    for finding in &report.findings {
        let head = format!(
            "  {:<7}  {:<topic_width$}  ",
            finding.status.to_string(),
            finding.topic
        );
        line(out, &wrap(&finding.found, WIDTH, &head, &indent));
        if let Some(fix) = &finding.fix {
            if finding.status != Status::Ok {
                let first = format!("{indent}fix: ");
                let rest = format!("{indent}     ");
                line(out, &wrap(fix, WIDTH, &first, &rest));
            }
        }
    }
    let problems = report.problems().count();
    if problems == 0 {
        line(
            out,
            &format!("ready: a driver can run here through {}", report.driver),
        );
    } else {
        line(
            out,
            &format!(
                "not ready: {problems} problem{}; the fixes are above",
                if problems == 1 { "" } else { "s" }
            ),
        );
    }
}
