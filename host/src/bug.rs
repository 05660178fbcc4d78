//! Warnings of the kernel's `WARN_ON()` kind: a bug that the process survives.
//!
//! In the kernel, `WARN_ON(cond)` prints a `WARNING:` line with the location, a backtrace, and
//! taints the kernel (`TAINT_WARN`) when `cond` holds, and goes on. [`warn`] does the same for a
//! process: one `WARNING:` record at error level with the location and the thread, the backtrace
//! when `RUST_BACKTRACE` asks for one, and a taint flag that stays set ([`tainted`]).

use std::backtrace::{Backtrace, BacktraceStatus};
use std::sync::atomic::{AtomicU32, Ordering};

/// The taint flags set so far, one bit per flag number.
static TAINTS: AtomicU32 = AtomicU32::new(0);

/// Reports a warning at `location` (a file, possibly preceded by the condition that held, as
/// `[cond] file`) and `line`, and sets the taint flag numbered `taint` (the kernel's
/// `warn_slowpath_fmt()`).
pub fn warn(location: &str, line: u32, taint: u32) {
    if let Some(bit) = 1u32.checked_shl(taint) {
        TAINTS.fetch_or(bit, Ordering::Relaxed);
    }
    let thread = std::thread::current();
    log::error!(
        target: "drydock",
        "WARNING: PID: {} thread: {} at {location}:{line}",
        std::process::id(),
        thread.name().unwrap_or("unnamed")
    );
    let backtrace = Backtrace::capture();
    if backtrace.status() == BacktraceStatus::Captured {
        log::error!(target: "drydock", "Call Trace:\n{backtrace}");
    }
}

/// The taint flags set so far, one bit per flag number (the kernel's `/proc/sys/kernel/tainted`).
pub fn tainted() -> u32 {
    TAINTS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_warning_taints_the_process() {
        warn("[x > 3] drivers/example.rs", 7, crate::bindings::TAINT_WARN);
        assert_ne!(tainted() & 1 << crate::bindings::TAINT_WARN, 0);
    }
}
