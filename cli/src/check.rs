//! `drydock check`: the host's readiness report, printed with its fixes.

use std::io::Write;

use drydock_admin::binding::UserspaceDriver;
use drydock_admin::readiness::{self, Report, Status};
use drydock_host::sysfs::Sysfs;

use crate::args::CheckArgs;
use crate::output::{line, wrap};
use crate::Failure;

/// The width text is wrapped to.
const WIDTH: usize = 100;

/// Runs `drydock check`; `Ok(true)` when ready.
pub(crate) fn check(sysfs: &Sysfs, args: &CheckArgs, out: &mut dyn Write) -> Result<bool, Failure> {
    let driver = UserspaceDriver::parse(&args.driver)?;
    let report = readiness::check(sysfs, driver, args.device.as_deref())?;
    print(out, &report);
    Ok(report.ready())
}

/// Prints a report.
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
