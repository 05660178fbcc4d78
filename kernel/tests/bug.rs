//! Tests of `kernel::bug`: what `warn_on!` logs when its condition holds, and that it logs nothing
//! when it does not.

use drydock_runner::logger;

/// Returns whether `x > 3`, warning if so, and the line of the `warn_on!`.
fn check(x: u32) -> (bool, u32) {
    (kernel::warn_on!(x > 3), line!())
}

#[test]
fn a_warning_logs_its_condition_and_the_callers_file_and_line() {
    let log = logger::capture();
    let (held, line) = check(4);
    assert!(held);
    let location = format!("at [x > 3] {}:{line}", file!());
    let warnings: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.message.ends_with(&location))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "one record for one warning: {warnings:?}"
    );
    let warning = &warnings[0];
    assert_eq!(warning.level.as_str(), "ERROR");
    let thread = std::thread::current();
    let expected = format!(
        "WARNING: PID: {} thread: {} {location}",
        std::process::id(),
        thread.name().unwrap()
    );
    assert_eq!(warning.message, expected);
}

#[test]
fn a_condition_that_does_not_hold_logs_nothing() {
    let log = logger::capture();
    let x = 3;
    // The line of this call is not `check`'s: a warning of the other test running alongside is
    // not this one.
    let (held, line) = (kernel::warn_on!(x > 3), line!());
    assert!(!held);
    assert!(!log.contains(&format!("at [x > 3] {}:{line}", file!())));
}
