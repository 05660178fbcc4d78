//! Sleeping and waking threads on a 32-bit word: the Linux `futex(2)` system call.
//!
//! The sleeping primitives of the mirror (mutexes, condition variables, completions) are built on
//! these two calls, as the kernel builds its own on the scheduler's wait queues.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// Sleeps while `word` holds `expected`, for at most `timeout` (forever if `None`).
///
/// Returns `false` if the timeout elapsed and `true` otherwise: on a wake-up, when `word` did not
/// hold `expected` to begin with, or spuriously (a signal). Callers re-check their condition.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> bool {
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        tv_nsec: libc::c_long::from(t.subsec_nanos()),
    });
    let ts_ptr = ts.as_ref().map_or(core::ptr::null(), core::ptr::from_ref);
    // SAFETY: `word` is a valid, aligned 32-bit word for the duration of the call, and `ts_ptr` is
    // null or points to a `timespec` that outlives the call. `FUTEX_WAIT` only reads both.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
            expected,
            ts_ptr,
        )
    };
    !(ret == -1 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ETIMEDOUT))
}

/// Wakes up to `count` threads sleeping in [`wait`] on `word`.
pub(crate) fn wake(word: &AtomicU32, count: i32) {
    // SAFETY: `word` is a valid, aligned 32-bit word; `FUTEX_WAKE` does not access memory through
    // it, it only uses its address as a key.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
            count,
        );
    }
}
