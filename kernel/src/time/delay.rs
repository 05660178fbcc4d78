//! Sleeping and busy-waiting: [`fsleep`] and [`udelay`].
//!
//! Mirrors `rust/kernel/time/delay.rs` of Linux 7.3.

use super::{Delta, Instant, Monotonic};

/// `MAX_UDELAY_MS`: the longest busy wait [`udelay`] accepts, in milliseconds.
const MAX_UDELAY_MS: i64 = 5;

/// Sleeps for at least `delta`.
///
/// Mirrors `kernel::time::delay::fsleep` (the kernel's `fsleep()`), which picks how to wait from
/// the length: spans up to 10 µs are busy-waited ([`udelay`]), longer ones sleep (here with
/// the host's `usleep`, which may sleep longer, never shorter). `delta` is rounded up to whole
/// microseconds and must be in `0..=i32::MAX` µs; as in the kernel's Rust API, a value outside
/// that range is a bug and sleeps for the maximum.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::time::{delay::fsleep, Delta, Instant, Monotonic};
///
/// let start = Instant::<Monotonic>::now();
/// fsleep(Delta::from_millis(2));
/// assert!(start.elapsed() >= Delta::from_millis(2));
/// ```
pub fn fsleep(delta: Delta) {
    const MAX_DELTA: Delta = Delta::from_micros(i32::MAX as i64);

    let delta = if (Delta::ZERO..=MAX_DELTA).contains(&delta) {
        delta
    } else {
        MAX_DELTA
    };
    let micros = delta.as_micros_ceil();
    if micros <= 10 {
        udelay(delta);
    } else {
        // CAST: `micros` is in `11..=i32::MAX`.
        drydock_host::time::usleep(micros as u64);
    }
}

/// Busy-waits for at least `delta`.
///
/// Mirrors `kernel::time::delay::udelay` (the kernel's `udelay()`). `delta` is rounded up to whole
/// microseconds and must be in `0..=MAX_UDELAY_MS` (5 ms); outside that range it is a bug, caught
/// by an assertion in debug builds and clamped otherwise.
pub fn udelay(delta: Delta) {
    const MAX_UDELAY_DELTA: Delta = Delta::from_millis(MAX_UDELAY_MS);

    debug_assert!(delta.as_nanos() >= 0);
    debug_assert!(delta <= MAX_UDELAY_DELTA);

    let delta = if (Delta::ZERO..=MAX_UDELAY_DELTA).contains(&delta) {
        delta
    } else {
        MAX_UDELAY_DELTA
    };
    let wait = Delta::from_micros(delta.as_micros_ceil());
    let start = Instant::<Monotonic>::now();
    while start.elapsed() < wait {
        core::hint::spin_loop();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fsleep_sleeps_at_least_the_requested_time() {
        for delta in [
            Delta::from_nanos(1),
            Delta::from_micros(10),
            Delta::from_micros(11),
            Delta::from_millis(20),
        ] {
            let start = Instant::<Monotonic>::now();
            fsleep(delta);
            assert!(start.elapsed() >= delta, "{delta:?}");
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "leaves a sleeping thread behind, which Miri reports")]
    fn fsleep_treats_negative_as_maximum_not_as_zero() {
        // A negative span is clamped to the maximum, so it sleeps; run it on a thread and only
        // check that it has not returned after a moment.
        let handle = std::thread::spawn(|| fsleep(Delta::from_nanos(-1)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!handle.is_finished());
    }

    #[test]
    fn udelay_waits_at_least_the_requested_time() {
        let start = Instant::<Monotonic>::now();
        udelay(Delta::from_micros(200));
        assert!(start.elapsed() >= Delta::from_micros(200));
    }
}
