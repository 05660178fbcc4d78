//! Timers counted in jiffies (`struct timer_list`), as far as delayed work needs them.
//!
//! The kernel runs these from its timer wheel, at jiffy granularity; here each is an
//! [`hrtimer`](crate::hrtimer) on the soft `CLOCK_MONOTONIC` base, started for the exact delay, so
//! it never expires before the delay has passed (the wheel may expire a timer up to a jiffy early
//! in real time, counted from when it was started).

use core::ffi::{c_char, c_ulong};

use crate::bindings::{
    hrtimer, hrtimer_mode_HRTIMER_MODE_REL_SOFT, hrtimer_restart, lock_class_key, timer_list,
};
use crate::hrtimer::{hrtimer_setup, hrtimer_start_range_ns};
use crate::time::{CLOCK_MONOTONIC, TICK_NSEC};

/// Initialises `timer` to call `func` when it expires (`timer_init_key()`). `name` and `key`
/// name the timer for lockdep, which drydock does not have; `flags` (`TIMER_IRQSAFE`, ...) are
/// kept and have no effect.
///
/// # Safety
///
/// `timer` must be valid for writes and stay at its address while it is in use, and `func` must
/// be safe to call with `timer` from another thread whenever the timer expires.
pub unsafe fn timer_init_key(
    timer: *mut timer_list,
    func: Option<unsafe extern "C" fn(*mut timer_list)>,
    flags: u32,
    _name: *const c_char,
    _key: *mut lock_class_key,
) {
    // SAFETY: The caller guarantees `timer` is valid for writes and stays in place; `expired`
    // may be called on its `entry` from the timer thread, as `func` may on the whole.
    unsafe {
        hrtimer_setup(
            &raw mut (*timer).entry,
            Some(expired),
            CLOCK_MONOTONIC,
            hrtimer_mode_HRTIMER_MODE_REL_SOFT,
        );
        (&raw mut (*timer).function).write(func);
        (&raw mut (*timer).flags).write(flags);
    }
}

/// Starts `timer` to expire `delay` jiffies from now (the kernel's `timer->expires = jiffies +
/// delay; add_timer(timer)`; the expiry is the `hrtimer`'s, there is no jiffies counter).
///
/// # Safety
///
/// `timer` must have been initialised by [`timer_init_key`], must not be started, and must stay
/// valid until it has expired.
pub(crate) unsafe fn add_timer_in(timer: *mut timer_list, delay: c_ulong) {
    let nanos = i64::try_from(delay)
        .unwrap_or(i64::MAX)
        .saturating_mul(TICK_NSEC);
    // SAFETY: The caller guarantees the timer is initialised, not started, and valid until its
    // function has been called (the `hrtimer` does not restart).
    unsafe {
        hrtimer_start_range_ns(
            &raw mut (*timer).entry,
            nanos,
            0,
            hrtimer_mode_HRTIMER_MODE_REL_SOFT,
        );
    }
}

/// The callback of a `timer_list`'s `hrtimer`: calls the timer's function.
///
/// # Safety
///
/// `entry` must be the `entry` of a `timer_list` initialised by [`timer_init_key`].
unsafe extern "C" fn expired(entry: *mut hrtimer) -> hrtimer_restart {
    let offset = core::mem::offset_of!(timer_list, entry);
    let timer = entry.cast::<u8>().wrapping_sub(offset).cast::<timer_list>();
    // SAFETY: The caller guarantees `entry` is in a `timer_list`, whose function `timer_init_key`'s
    // contract lets this thread call.
    unsafe {
        if let Some(function) = (*timer).function {
            function(timer);
        }
    }
    hrtimer_restart::HRTIMER_NORESTART
}
