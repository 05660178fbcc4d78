//! KUnit's notion of the current test: which test case, if any, the calling thread is running.
//!
//! In the kernel, `kunit_get_current_test()` returns the test the current task runs, and a failed
//! KUnit assertion is reported to it and ends it. In a process, a KUnit suite is a module of
//! ordinary tests that `cargo test` runs, one per thread; each marks itself as the thread's
//! current test for its duration ([`enter`]).

use core::cell::Cell;
use core::ffi::CStr;
use core::marker::PhantomData;

/// A KUnit test case: its suite and its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TestCase {
    /// The suite's name, as `#[kunit_tests(suite)]` gives it.
    pub suite: &'static CStr,
    /// The test's name: its function's.
    pub name: &'static CStr,
}

thread_local! {
    /// The test the calling thread runs.
    static CURRENT: Cell<Option<TestCase>> = const { Cell::new(None) };
}

/// Returns the test case the calling thread runs, if any (the kernel's
/// `kunit_get_current_test()`).
pub fn current_test() -> Option<TestCase> {
    CURRENT.with(Cell::get)
}

/// Marks `case` as the calling thread's current test until the guard is dropped.
pub fn enter(case: TestCase) -> CurrentTest {
    let previous = CURRENT.with(|current| current.replace(Some(case)));
    CurrentTest {
        previous,
        _thread: PhantomData,
    }
}

/// The calling thread runs a test case while this lives; see [`enter`].
#[must_use = "the thread runs the test only while the guard lives"]
pub struct CurrentTest {
    previous: Option<TestCase>,
    /// The guard describes the thread that made it.
    _thread: PhantomData<*mut ()>,
}

impl Drop for CurrentTest {
    fn drop(&mut self) {
        CURRENT.with(|current| current.set(self.previous));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_test_is_current_on_its_thread_while_the_guard_lives() {
        assert_eq!(current_test(), None);
        let case = TestCase {
            suite: c"suite",
            name: c"case",
        };
        let guard = enter(case);
        assert_eq!(current_test(), Some(case));
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(current_test(), None));
        });
        drop(guard);
        assert_eq!(current_test(), None);
    }
}
