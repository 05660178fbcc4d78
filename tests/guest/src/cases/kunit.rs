//! KUnit in the kernel: the `#[kunit_tests(suite)]` modules of drydock's driver files, which
//! `cargo test` runs in drydock, run again in the proof kernel, where KUnit runs a module's suites
//! when the module loads and reports them in the kernel log (KTAP). Each suite must report every
//! test its source declares, each passed, under the names KUnit gives them: the suite's and the
//! test functions'.

use drydock_guest::protocol::DRIVER_MODULES_DIR;

use super::in_kernel::COMPARISONS;
use super::{ensure, CaseResult};
use crate::kmsg::KernelLog;
use crate::modules;

/// A KUnit suite declared in a driver file.
#[derive(Debug, PartialEq)]
struct Suite {
    /// The name given to `#[kunit_tests(...)]`.
    name: String,
    /// Its `#[test]` functions, in source order.
    tests: Vec<String>,
}

/// Every driver module's KUnit suites pass in the kernel, test by test.
pub fn kunit_suites_pass_in_the_kernel() -> CaseResult {
    let mut checked = 0;
    for c in COMPARISONS.iter().filter(|c| c.dir == DRIVER_MODULES_DIR) {
        let Some(source) = c.source else { continue };
        for suite in suites(source) {
            check_suite(c.module, &suite)?;
            checked += 1;
        }
    }
    // pci-testdev has one: a driver file without suites cannot make this case pass vacuously.
    ensure!(
        checked > 0,
        "no driver file declares a #[kunit_tests] suite"
    );
    Ok(())
}

/// Loads `module`, reads what KUnit reported for `suite`, unloads it.
fn check_suite(module: &str, suite: &Suite) -> CaseResult {
    let ko = modules::module_tree()?
        .join(DRIVER_MODULES_DIR)
        .join(format!("{module}.ko"));
    let mut log = KernelLog::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    log.read_records()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    modules::load(&ko, "")?;
    let unloaded = modules::unload(module);
    let lines: Vec<String> = log
        .read_records()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?
        .into_iter()
        .map(|r| r.text)
        .collect();
    unloaded?;
    println!(
        "--- kernel log while {module} loaded ---\n{}",
        lines.join("\n")
    );
    let report = report_of(&lines, &suite.name).ok_or_else(|| {
        format!(
            "KUnit reported no suite {} when {module} loaded",
            suite.name
        )
    })?;
    let expected: Vec<String> = suite
        .tests
        .iter()
        .enumerate()
        .map(|(i, test)| format!("ok {} {test}", i + 1))
        .collect();
    ensure!(
        report.results == expected,
        "suite {}: KUnit reported {:?}, the source declares {:?} (each must pass)",
        suite.name,
        report.results,
        expected
    );
    ensure!(
        report.verdict.starts_with("ok ") && report.verdict.ends_with(&format!(" {}", suite.name)),
        "suite {}: KUnit's verdict is `{}`",
        suite.name,
        report.verdict
    );
    println!(
        "suite {}: {} tests passed in the kernel",
        suite.name,
        suite.tests.len()
    );
    Ok(())
}

/// What KUnit reported about one suite.
#[derive(Debug, PartialEq)]
struct Report {
    /// Each test's result line (`ok 1 name`, `not ok 2 name`), indentation removed.
    results: Vec<String>,
    /// The suite's own result line.
    verdict: String,
}

/// Finds the report of suite `name` in KTAP lines: `# Subtest: name`, the tests' indented result
/// lines, then the suite's unindented result line.
fn report_of(lines: &[String], name: &str) -> Option<Report> {
    let start = lines
        .iter()
        .position(|l| l.trim() == format!("# Subtest: {name}"))?;
    let mut results = Vec::new();
    for line in &lines[start + 1..] {
        let indented = line.starts_with(' ') || line.starts_with('\t');
        let trimmed = line.trim();
        let is_result = trimmed.starts_with("ok ") || trimmed.starts_with("not ok ");
        if !is_result {
            continue;
        }
        if indented {
            results.push(trimmed.to_owned());
        } else {
            return Some(Report {
                results,
                verdict: trimmed.to_owned(),
            });
        }
    }
    None
}

/// The KUnit suites a driver file declares: each `#[kunit_tests(name)]` module and the `#[test]`
/// functions after it.
fn suites(source: &str) -> Vec<Suite> {
    let mut suites: Vec<Suite> = Vec::new();
    let mut after_test_attribute = false;
    for line in source.lines().map(str::trim) {
        if let Some(rest) = line.strip_prefix("#[kunit_tests(") {
            let name = rest.trim_end_matches(")]").to_owned();
            suites.push(Suite {
                name,
                tests: Vec::new(),
            });
        } else if line == "#[test]" {
            after_test_attribute = true;
        } else if after_test_attribute && !line.starts_with("#[") {
            after_test_attribute = false;
            let name = line
                .strip_prefix("fn ")
                .and_then(|f| f.split(['(', '<']).next());
            if let (Some(suite), Some(name)) = (suites.last_mut(), name) {
                suite.tests.push(name.to_owned());
            }
        }
    }
    suites
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suites_are_read_from_the_source() {
        let source = "fn a() {}\n#[kunit_tests(my_suite)]\nmod tests {\n    #[test]\n    \
                      fn first() {}\n    fn helper() {}\n    #[test]\n    #[allow(x)]\n    \
                      fn second() -> Result {}\n}\n";
        assert_eq!(
            suites(source),
            [Suite {
                name: "my_suite".into(),
                tests: vec!["first".into(), "second".into()],
            }]
        );
    }

    #[test]
    fn the_pci_testdev_driver_declares_its_suite() {
        let c = COMPARISONS
            .iter()
            .find(|c| c.module == "pci_testdev")
            .unwrap();
        let found = suites(c.source.unwrap());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].name, "rust_drydock_pci_testdev");
        assert!(found[0].tests.len() >= 2, "{found:?}");
    }

    #[test]
    fn ktap_reports_are_found_by_suite() {
        let lines: Vec<String> = [
            "KTAP version 1",
            "1..1",
            "    KTAP version 1",
            "    # Subtest: my_suite",
            "    # speed: normal",
            "    1..2",
            "    ok 1 first",
            "    not ok 2 second",
            "# my_suite: pass:1 fail:1 skip:0 total:2",
            "not ok 1 my_suite",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            report_of(&lines, "my_suite"),
            Some(Report {
                results: vec!["ok 1 first".into(), "not ok 2 second".into()],
                verdict: "not ok 1 my_suite".into(),
            })
        );
        assert_eq!(report_of(&lines, "other"), None);
    }
}
