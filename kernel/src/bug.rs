//! Warnings: bugs the kernel survives.
//!
//! Mirrors `rust/kernel/bug.rs` of Linux 7.3. [`warn_on!`](crate::warn_on) reports a warning when
//! its condition holds and returns the condition, as C's `WARN_ON()` does.
//!
//! Difference from the kernel: the warning is the host's (`warn_slowpath_fmt()` in the kernel): one
//! `WARNING:` line in the log with the process, the thread, the condition and its location, a
//! backtrace when `RUST_BACKTRACE` is set, and the `TAINT_WARN` flag set in the process, instead of
//! a `bug_entry` trap.

/// The taint field of a bug entry's flags, for the taint flag numbered `value`.
#[doc(hidden)]
pub const fn bugflag_taint(value: u32) -> u32 {
    value << 8
}

/// Reports a warning at `location` and `line` with the bug flags `flags`; what `warn_flags!`
/// calls.
#[doc(hidden)]
#[cold]
pub fn warn_slowpath(location: &str, line: u32, flags: u32) {
    drydock_host::bug::warn(location, line, flags >> 8);
}

/// Reports a warning with the bug flags `$flags`, attributed to `$file` and the current line.
#[macro_export]
#[doc(hidden)]
macro_rules! warn_flags {
    ($file:expr, $flags:expr) => {
        $crate::bug::warn_slowpath(
            $file,
            ::core::line!(),
            $crate::bindings::BUGFLAG_WARNING | $flags,
        )
    };
}

/// Reports a warning if `cond` is true, and returns `cond`.
///
/// Mirrors the kernel's `warn_on!` (C's `WARN_ON()`); see the [module documentation](self) for
/// what the warning looks like here.
///
/// # Examples
///
/// ```
/// fn divide(a: u32, b: u32) -> u32 {
///     if kernel::warn_on!(b == 0) {
///         return 0;
///     }
///     a / b
/// }
///
/// assert_eq!(divide(6, 3), 2);
/// assert_eq!(divide(6, 0), 0);
/// ```
#[macro_export]
macro_rules! warn_on {
    ($cond:expr) => {{
        let cond = $cond;
        if cond {
            const COND_STR: &str =
                ::core::concat!("[", ::core::stringify!($cond), "] ", ::core::file!());
            const WARN_ON_FLAGS: u32 = $crate::bug::bugflag_taint($crate::bindings::TAINT_WARN);
            $crate::warn_flags!(COND_STR, WARN_ON_FLAGS);
        }
        cond
    }};
}

#[cfg(test)]
mod tests {
    #[test]
    fn warn_on_returns_its_condition_and_taints_only_when_it_holds() {
        let taint = 1 << crate::bindings::TAINT_WARN;
        let before = drydock_host::bug::tainted();
        assert!(!crate::warn_on!(1 + 1 == 3));
        assert_eq!(drydock_host::bug::tainted(), before);
        assert!(crate::warn_on!(2 > 1));
        assert_ne!(drydock_host::bug::tainted() & taint, 0);
    }
}
