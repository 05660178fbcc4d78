//! Polling I/O until a condition holds: [`read_poll_timeout`] and [`read_poll_timeout_atomic`].
//!
//! Mirrors `rust/kernel/io/poll.rs` of Linux 7.3 (the C `include/linux/iopoll.h`), with the same
//! signatures and behaviour: `op` is called, then `cond` on its result; an error of `op` ends the
//! poll, `cond` returning `true` ends it with the value, and the limit (a time or a number of
//! tries) ends it with `ETIMEDOUT`.
//!
//! Differences from the kernel: the kernel's `might_sleep()` check (a debugging aid that warns
//! when a sleeping function is called in atomic context) has no userspace counterpart and is not
//! made; `cpu_relax()` is [`core::hint::spin_loop`].

use crate::{
    error::{code::ETIMEDOUT, Result},
    time::{
        delay::{fsleep, udelay},
        Delta, Instant, Monotonic,
    },
};

/// Calls `op` until `cond` accepts its result, sleeping `sleep_delta` between tries, for at most
/// `timeout_delta`.
///
/// Mirrors `kernel::io::poll::read_poll_timeout`. Returns the accepted value, the first error of
/// `op`, or `ETIMEDOUT` once `timeout_delta` has passed since the start (after one last try). A
/// zero `sleep_delta` polls without sleeping. Only for contexts that may sleep.
///
/// # Examples
///
/// ```
/// use kernel::io::{poll::read_poll_timeout, Io, Mmio, Region};
/// use kernel::prelude::*;
/// use kernel::time::Delta;
///
/// const READY: u32 = 1;
///
/// fn wait_ready(io: Mmio<'_, Region<0x100>>) -> Result<u32> {
///     read_poll_timeout(
///         || io.try_read32(0x4),
///         |status: &u32| *status & READY != 0,
///         Delta::from_micros(100),
///         Delta::from_millis(5),
///     )
/// }
/// # let mut bar = [0u32; 0x40];
/// # let raw = kernel::io::MmioRaw::<Region<0x100>>::new_region(
/// #     bar.as_mut_ptr().expose_provenance(), 0x100)?;
/// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
/// # let io = unsafe { Mmio::from_raw(raw) };
/// # assert_eq!(wait_ready(io), Err(ETIMEDOUT));
/// # io.write32(3, 0x4);
/// # assert_eq!(wait_ready(io), Ok(3));
/// # Ok::<(), Error>(())
/// ```
#[track_caller]
pub fn read_poll_timeout<Op, Cond, T>(
    mut op: Op,
    mut cond: Cond,
    sleep_delta: Delta,
    timeout_delta: Delta,
) -> Result<T>
where
    Op: FnMut() -> Result<T>,
    Cond: FnMut(&T) -> bool,
{
    let start = Instant::<Monotonic>::now();
    loop {
        let value = op()?;
        if cond(&value) {
            return Ok(value);
        }
        if start.elapsed() > timeout_delta {
            return Err(ETIMEDOUT);
        }
        if !sleep_delta.is_zero() {
            fsleep(sleep_delta);
        }
        core::hint::spin_loop();
    }
}

/// Calls `op` until `cond` accepts its result, busy-waiting `delay_delta` between tries, for at
/// most `retry` tries.
///
/// Mirrors `kernel::io::poll::read_poll_timeout_atomic`. Returns the accepted value, the first
/// error of `op`, or `ETIMEDOUT` after `retry` rejected tries (so `retry == 0` tries nothing). It
/// never sleeps, so it may be used where sleeping is not allowed (an interrupt handler, under a
/// spinlock).
///
/// # Examples
///
/// ```
/// use core::cell::Cell;
/// use kernel::io::poll::read_poll_timeout_atomic;
/// use kernel::prelude::*;
/// use kernel::time::Delta;
///
/// let tries = Cell::new(0);
/// let ok = read_poll_timeout_atomic(
///     || { tries.set(tries.get() + 1); Ok(tries.get()) },
///     |n: &u32| *n == 3,
///     Delta::from_micros(1),
///     10,
/// );
/// assert_eq!(ok, Ok(3));
/// let never = read_poll_timeout_atomic(|| Ok(0u32), |n: &u32| *n == 1, Delta::ZERO, 4);
/// assert_eq!(never, Err(ETIMEDOUT));
/// ```
pub fn read_poll_timeout_atomic<Op, Cond, T>(
    mut op: Op,
    mut cond: Cond,
    delay_delta: Delta,
    retry: usize,
) -> Result<T>
where
    Op: FnMut() -> Result<T>,
    Cond: FnMut(&T) -> bool,
{
    for _ in 0..retry {
        let value = op()?;
        if cond(&value) {
            return Ok(value);
        }
        if !delay_delta.is_zero() {
            udelay(delay_delta);
        }
        core::hint::spin_loop();
    }
    Err(ETIMEDOUT)
}
