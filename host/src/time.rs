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

/// Returns the jiffies counter (the kernel's `jiffies`): ticks of [`HZ`] on `CLOCK_MONOTONIC`.
pub fn jiffies() -> c_ulong {
    // CAST: `CLOCK_MONOTONIC` is never negative.
    (ktime_get(CLOCK_MONOTONIC) / TICK_NSEC) as c_ulong
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
}
