//! Clocks and sleeping: what the kernel's `ktime_get()` family and `fsleep()` do, for a process.

use core::ffi::c_ulong;
use std::time::Duration;

use crate::bindings::{clockid_t, ktime_t};

/// The tick rate: jiffies per second. 250, the rate of the Debian kernels (`CONFIG_HZ_250`).
pub const HZ: c_ulong = 250;

/// Nanoseconds in a jiffy (the kernel's `TICK_NSEC`).
pub const TICK_NSEC: i64 = 1_000_000_000 / HZ as i64;

/// `CLOCK_REALTIME`: the wall clock.
pub const CLOCK_REALTIME: clockid_t = libc::CLOCK_REALTIME;
/// `CLOCK_MONOTONIC`: time since boot, not counting suspend.
pub const CLOCK_MONOTONIC: clockid_t = libc::CLOCK_MONOTONIC;
/// `CLOCK_BOOTTIME`: time since boot, counting suspend.
pub const CLOCK_BOOTTIME: clockid_t = libc::CLOCK_BOOTTIME;
/// `CLOCK_TAI`: the wall clock without leap seconds.
pub const CLOCK_TAI: clockid_t = libc::CLOCK_TAI;

/// Returns the time on clock `id` in nanoseconds (the kernel's `ktime_get()`,
/// `ktime_get_real()`, ...), saturated at `i64::MAX`.
///
/// # Panics
///
/// Panics if the clock does not exist; every clock of this module exists on every Linux host.
pub fn ktime_get(id: clockid_t) -> ktime_t {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is valid for writes.
    let ret = unsafe { libc::clock_gettime(id, &mut ts) };
    assert_eq!(ret, 0, "clock_gettime({id}) failed");
    ts.tv_sec
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec)
}

/// `KTIME_SEC_MAX`: the largest number of whole seconds a `ktime_t` holds.
pub const KTIME_SEC_MAX: i64 = i64::MAX / 1_000_000_000;

/// Adds two times as the kernel's `ktime_add_safe()`: a sum that overflows, or is less than
/// either operand (one of them negative), is [`KTIME_SEC_MAX`] seconds, a time so far ahead that
/// a timer set to it never expires.
pub fn ktime_add_safe(lhs: ktime_t, rhs: ktime_t) -> ktime_t {
    let sum = lhs.wrapping_add(rhs);
    if sum < 0 || sum < lhs || sum < rhs {
        KTIME_SEC_MAX * 1_000_000_000
    } else {
        sum
    }
}

/// Sleeps for at least `micros` microseconds (the sleeping half of the kernel's `fsleep()`).
pub fn usleep(micros: u64) {
    std::thread::sleep(Duration::from_micros(micros));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_read_and_monotonic_time_does_not_go_back() {
        for id in [CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME, CLOCK_TAI] {
            assert!(ktime_get(id) > 0, "clock {id}");
        }
        let before = ktime_get(CLOCK_MONOTONIC);
        usleep(1000);
        assert!(ktime_get(CLOCK_MONOTONIC) - before >= 1_000_000);
    }

    #[test]
    fn ktime_add_safe_clamps_overflowing_and_negative_sums() {
        let max = KTIME_SEC_MAX * 1_000_000_000;
        assert_eq!(ktime_add_safe(5, 7), 12);
        assert_eq!(ktime_add_safe(0, 100), 100);
        assert_eq!(ktime_add_safe(i64::MAX - 1, 1), i64::MAX);
        // Overflowing.
        assert_eq!(ktime_add_safe(i64::MAX, 1), max);
        assert_eq!(ktime_add_safe(1 << 62, 1 << 62), max);
        // A negative operand: the sum is less than the other one, even when it is not negative.
        assert_eq!(ktime_add_safe(-5, 100), max);
        assert_eq!(ktime_add_safe(100, -5), max);
        assert_eq!(ktime_add_safe(i64::MIN, 100), max);
    }
}
