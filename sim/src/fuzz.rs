//! Settings shared by the property tests that feed devices' values, as a hostile or broken
//! device would choose them, to the code that parses them.
//!
//! An ordinary `cargo test` runs each property for the number of cases its test gives (together
//! at least 10,000, within about a minute of CPU); setting `PROPTEST_CASES` runs every property
//! for that many cases instead, the long variant (`docs/testing.md`). A failing input is saved
//! beside the test's source file, in `<file>.proptest-regressions`, and run again first by every
//! later run: committed, it is a regression case.

use proptest::test_runner::{Config, FileFailurePersistence};

/// The configuration of a property that runs `ci_cases` cases unless `PROPTEST_CASES` says how
/// many, and keeps its failures beside its source file.
pub fn config(ci_cases: u32) -> Config {
    let mut config = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = ci_cases;
    }
    config.failure_persistence = Some(Box::new(FileFailurePersistence::WithSource(
        "proptest-regressions",
    )));
    config
}
