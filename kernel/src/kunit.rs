//! KUnit: tests of a driver that run where the driver runs.
//!
//! Mirrors `rust/kernel/kunit.rs` of Linux 7.3. A module marked `#[kunit_tests(suite)]` holds a
//! KUnit suite: each `#[test]` function is a test case, in which `assert!` and `assert_eq!` are
//! KUnit assertions ([`kunit_assert!`](crate::kunit_assert)), which report a failure to KUnit
//! with the file, the line and the condition, and end the test case.
//!
//! Difference from the kernel: in a kernel built with `CONFIG_KUNIT=y`, the suite runs when the
//! module loads, and KUnit prints its results. Here the suite is a module of ordinary tests that
//! `cargo test` runs, named after the suite (`suite::module::test`), and a failed assertion prints
//! KUnit's lines and fails its test by panicking. [`in_kunit_test`] is true on the thread of a
//! running test case.
//!
//! # Examples
//!
//! ```
//! use kernel::kunit::in_kunit_test;
//!
//! /// Reads the device's revision, or a fixed one under KUnit, where there is no device.
//! fn revision() -> u8 {
//!     if in_kunit_test() {
//!         return 0x10;
//!     }
//!     0x11
//! }
//!
//! // A doctest is not a KUnit test case here (in the kernel, doctests run under KUnit).
//! assert_eq!(revision(), 0x11);
//! ```

use core::ffi::CStr;

use crate::fmt;

/// Logs an error line of a KUnit report.
#[doc(hidden)]
pub fn err(args: fmt::Arguments<'_>) {
    crate::print::call_printk(crate::print::Level::Err, "kunit", None, args);
}

/// Logs an informational line of a KUnit report.
#[doc(hidden)]
pub fn info(args: fmt::Arguments<'_>) {
    crate::print::call_printk(crate::print::Level::Info, "kunit", None, args);
}

/// Reports a failed KUnit assertion named `name`, at `file`:`line`, whose condition was
/// `condition`: KUnit's lines, then the end of the test case (a panic, which fails the test) if
/// the thread runs one; what `kunit_assert!` calls.
#[doc(hidden)]
#[cold]
#[track_caller]
pub fn assertion_failed(name: &str, file: &CStr, line: i32, condition: &str) {
    let file = file.to_string_lossy();
    err(crate::prelude::fmt!(
        "    # {name}: ASSERTION FAILED at {file}:{line}\n"
    ));
    err(crate::prelude::fmt!(
        "    Expected {condition} to be true, but is false\n"
    ));
    if drydock_host::kunit::current_test().is_none() {
        err(crate::prelude::fmt!(
            "    Failure not reported to KUnit since this is a non-KUnit task\n"
        ));
        return;
    }
    panic!("KUnit assertion failed at {file}:{line}: {condition}");
}

/// Asserts `$condition` in a KUnit test case; used by `#[kunit_tests]` for `assert!`.
///
/// Mirrors the kernel's hidden `kunit_assert!`: `$name` names the test, `$file` (a `&CStr`) its
/// file, and `$diff` is subtracted from the line number. A failure is reported as KUnit reports
/// it and ends the test case; outside a test case, it is only logged.
#[doc(hidden)]
#[macro_export]
macro_rules! kunit_assert {
    ($name:literal, $file:expr, $diff:expr, $condition:expr $(,)?) => {
        'out: {
            if $condition {
                break 'out;
            }
            // CAST: line numbers of source files fit an `i32`, as the kernel's `kunit_loc` keeps
            // them.
            $crate::kunit::assertion_failed(
                $name,
                $file,
                ::core::line!() as i32 - $diff,
                ::core::stringify!($condition),
            );
        }
    };
}

/// Asserts `$left == $right` in a KUnit test case; used by `#[kunit_tests]` for `assert_eq!`.
///
/// Mirrors the kernel's hidden `kunit_assert_eq!`.
#[doc(hidden)]
#[macro_export]
macro_rules! kunit_assert_eq {
    ($name:literal, $file:expr, $diff:expr, $left:expr, $right:expr $(,)?) => {{
        $crate::kunit_assert!($name, $file, $diff, $left == $right);
    }};
}

/// What a test case may return: nothing, or a result.
trait TestResult {
    /// Whether the test case passed.
    fn is_test_result_ok(&self) -> bool;
}

impl TestResult for () {
    fn is_test_result_ok(&self) -> bool {
        true
    }
}

impl<T, E> TestResult for Result<T, E> {
    fn is_test_result_ok(&self) -> bool {
        self.is_ok()
    }
}

/// Whether a test case's return value means it passed; used by `#[kunit_tests]`.
#[doc(hidden)]
#[allow(private_bounds)]
pub fn is_test_result_ok(t: impl TestResult) -> bool {
    t.is_test_result_ok()
}

/// Marks the calling thread as running the test case `name` of `suite` until the guard is dropped;
/// used by `#[kunit_tests]`.
#[doc(hidden)]
pub fn enter_test(suite: &'static CStr, name: &'static CStr) -> drydock_host::kunit::CurrentTest {
    drydock_host::kunit::enter(drydock_host::kunit::TestCase { suite, name })
}

/// Whether the calling thread is running a KUnit test case.
///
/// Mirrors `kernel::kunit::in_kunit_test`. Test-only behaviour (a mock, a shortcut) can depend on
/// it; see the [module documentation](self).
pub fn in_kunit_test() -> bool {
    drydock_host::kunit::current_test().is_some()
}
