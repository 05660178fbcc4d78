//! High-resolution timers: the kernel's `hrtimer_setup()`, `hrtimer_start_range_ns()`,
//! `hrtimer_cancel()` and `hrtimer_forward()`, for a process.
//!
//! # Bases and their threads
//!
//! As in the kernel, a timer belongs to a *clock base*, chosen when it is set up: one per clock
//! (`CLOCK_MONOTONIC`, `CLOCK_REALTIME`, `CLOCK_BOOTTIME`, `CLOCK_TAI`) and context (hard, or
//! soft with `HRTIMER_MODE_SOFT`). Each base keeps its started timers ordered by expiry, and has
//! one service thread (`hrtimer/<clock>` or `hrtimer/<clock>-soft`), started with the base's first
//! timer, that plays the part of the timer interrupt: it sleeps in `read()` on a `timerfd` of the
//! base's clock, armed (absolute) to the earliest expiry, and when it wakes runs the callbacks of
//! every expired timer, one after the other. The kernel keeps a set of bases per CPU; a process
//! has one set, so `HRTIMER_MODE_PINNED` changes nothing. `timerfd` has no `CLOCK_TAI`: the TAI
//! bases arm theirs on `CLOCK_REALTIME` at the same instant (TAI minus the current offset) and
//! check the TAI clock when they wake.
//!
//! # Semantics kept from the kernel
//!
//! - A timer is queued at most once: starting a queued timer moves it to its new expiry.
//! - A callback that returns `HRTIMER_RESTART` is queued again at its (usually forwarded)
//!   expiry, unless it was started again meanwhile.
//! - [`hrtimer_cancel`] dequeues the timer and, if its callback is running, waits for it to
//!   return (the callback may have restarted it: then it is dequeued again).
//! - Callbacks of one base never run concurrently; a callback that blocks delays the other timers
//!   of its base, as a slow interrupt handler would. Callbacks do not run in interrupt context:
//!   code that sleeps in one works here but would not in the kernel.

use core::ffi::c_int;
use core::sync::atomic::{AtomicI64, AtomicU8, Ordering};
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};

use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};

use crate::bindings::{
    clockid_t, hrtimer, hrtimer_function, hrtimer_mode, hrtimer_mode_HRTIMER_MODE_REL,
    hrtimer_mode_HRTIMER_MODE_SOFT, hrtimer_restart, ktime_t, HRTIMER_STATE_ENQUEUED,
    HRTIMER_STATE_INACTIVE,
};
use crate::time::{
    ktime_add_safe, ktime_get, CLOCK_BOOTTIME, CLOCK_MONOTONIC, CLOCK_REALTIME, CLOCK_TAI,
};

/// A pointer to a timer, kept in its base.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TimerPtr(*const hrtimer);

// SAFETY: A timer is used from its base's thread and its owner's threads; the contract of
// `hrtimer_start_range_ns` keeps it valid while it is queued, and `hrtimer_cancel` while its
// callback runs.
unsafe impl Send for TimerPtr {}

impl TimerPtr {
    /// Returns the timer's expiry, reached through the raw pointer: no reference to the whole
    /// timer is made, as its owner may hold one to the struct around it (a callback's
    /// `Pin<&mut T>`).
    ///
    /// # Safety
    ///
    /// The timer must be valid for `'a`.
    unsafe fn expires<'a>(self) -> &'a AtomicI64 {
        // SAFETY: The caller guarantees the timer is valid for `'a`.
        unsafe { &(*self.0).node.expires }
    }

    /// Returns the timer's state (`HRTIMER_STATE_*`), reached as [`TimerPtr::expires`] is.
    ///
    /// # Safety
    ///
    /// The timer must be valid for `'a`.
    unsafe fn state<'a>(self) -> &'a AtomicU8 {
        // SAFETY: The caller guarantees the timer is valid for `'a`.
        unsafe { &(*self.0).state }
    }
}

/// The mutable part of a base.
///
/// # Invariants
///
/// - A timer is in `queue` exactly when its `state` has `HRTIMER_STATE_ENQUEUED`, and then under
///   the key `(its node.expires, its address)`: so at most once, and found again by its fields.
/// - The expiry of a queued timer does not change while it is queued: a start dequeues it before
///   setting the new expiry, and a forward refuses a queued timer.
/// - Every queued timer is valid (`hrtimer_start_range_ns`'s contract).
/// - `running` is the timer whose callback the base's thread is calling, if any; it was dequeued
///   before the call (a start from the callback may queue it again).
struct BaseState {
    /// The started timers, by expiry (ties broken by address: a timer is queued at most once).
    queue: BTreeMap<(ktime_t, usize), TimerPtr>,
    /// The timer whose callback is running (the kernel's `cpu_base->running`).
    running: Option<TimerPtr>,
}

/// The timers of one clock and one context (`struct hrtimer_clock_base`); see the
/// [module documentation](self).
///
/// # Invariants
///
/// - `state` keeps `BaseState`'s invariants, and is only changed with its lock held.
/// - Once created, `timerfd` is armed (under that lock) no later than the earliest expiry in the
///   queue, or disarmed if the queue is empty, except while the service thread runs callbacks:
///   it re-arms it for the first remaining timer before it sleeps again. It may be armed earlier
///   (after a dequeue): the thread then wakes, finds nothing expired, and re-arms it.
pub struct ClockBase {
    clock: clockid_t,
    name: &'static str,
    state: Mutex<BaseState>,
    /// Signalled whenever a callback returns.
    callback_done: Condvar,
    /// The base's timerfd, created with its service thread.
    timerfd: OnceLock<TimerFd>,
}

impl ClockBase {
    const fn new(clock: clockid_t, name: &'static str) -> Self {
        Self {
            clock,
            name,
            state: Mutex::new(BaseState {
                queue: BTreeMap::new(),
                running: None,
            }),
            callback_done: Condvar::new(),
            timerfd: OnceLock::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, BaseState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns the base's timerfd, starting its service thread the first time.
    fn timerfd(&'static self) -> &'static TimerFd {
        self.timerfd.get_or_init(|| {
            let clock = match self.clock {
                CLOCK_REALTIME | CLOCK_TAI => ClockId::CLOCK_REALTIME,
                CLOCK_BOOTTIME => ClockId::CLOCK_BOOTTIME,
                _ => ClockId::CLOCK_MONOTONIC,
            };
            let fd = TimerFd::new(clock, TimerFlags::TFD_CLOEXEC)
                .unwrap_or_else(|err| panic!("hrtimer: creating a timerfd: {err}"));
            std::thread::Builder::new()
                .name(format!("hrtimer/{}", self.name))
                .spawn(move || self.serve())
                .unwrap_or_else(|err| panic!("hrtimer: spawning the {} thread: {err}", self.name));
            fd
        })
    }

    /// Arms the timerfd to `expires` on the base's clock, or disarms it.
    fn arm(&'static self, expires: Option<ktime_t>) {
        let fd = self.timerfd();
        let result = match expires {
            None => fd.unset(),
            Some(mut expires) => {
                if self.clock == CLOCK_TAI {
                    expires -= ktime_get(CLOCK_TAI) - ktime_get(CLOCK_REALTIME);
                }
                // An all-zero expiry would disarm the timerfd: one nanosecond is as past.
                let at = TimeSpec::from_duration(core::time::Duration::from_nanos(
                    expires.max(1).unsigned_abs(),
                ));
                fd.set(
                    Expiration::OneShot(at),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
            }
        };
        if let Err(err) = result {
            log::error!(target: "drydock", "hrtimer/{}: arming the timerfd: {err}", self.name);
        }
    }

    /// Queues `timer` at its expiry, arming the timerfd if it is now the first.
    fn enqueue(&'static self, state: &mut BaseState, timer: TimerPtr) {
        // SAFETY: The callers hold a valid timer (see `TimerPtr`).
        let (expires, timer_state) = unsafe { (timer.expires(), timer.state()) };
        let expires = expires.load(Ordering::Relaxed);
        let key = (expires, timer.0 as usize);
        state.queue.insert(key, timer);
        timer_state.store(HRTIMER_STATE_ENQUEUED, Ordering::Relaxed);
        if state
            .queue
            .first_key_value()
            .is_some_and(|(first, _)| *first == key)
        {
            self.arm(Some(expires));
        }
    }

    /// Dequeues `timer` if it is queued; returns whether it was.
    fn remove(state: &mut BaseState, timer: TimerPtr) -> bool {
        // SAFETY: The callers hold a valid timer (see `TimerPtr`).
        let (expires, timer_state) = unsafe { (timer.expires(), timer.state()) };
        if timer_state.load(Ordering::Relaxed) & HRTIMER_STATE_ENQUEUED == 0 {
            return false;
        }
        let expires = expires.load(Ordering::Relaxed);
        state.queue.remove(&(expires, timer.0 as usize));
        timer_state.store(HRTIMER_STATE_INACTIVE, Ordering::Relaxed);
        // The timerfd may now wake the thread early, which finds nothing to run and re-arms it.
        true
    }

    /// The service thread: waits for the earliest expiry, runs what expired, again.
    fn serve(&'static self) {
        let fd = self.timerfd();
        loop {
            if let Err(err) = fd.wait() {
                log::error!(target: "drydock", "hrtimer/{}: reading the timerfd: {err}", self.name);
            }
            self.run_expired();
        }
    }

    /// Runs the callbacks of the expired timers, then arms the timerfd for the next one.
    fn run_expired(&'static self) {
        let mut state = self.lock();
        while let Some((&(expires, _), &timer)) = state.queue.first_key_value() {
            if expires > ktime_get(self.clock) {
                break;
            }
            Self::remove(&mut state, timer);
            state.running = Some(timer);
            drop(state);
            // No reference to the timer is held across the callback: the callback may borrow
            // the struct around it mutably (`Pin<&mut T>`, `Pin<KBox<T>>`), or free it.
            // SAFETY: The timer was queued, so `hrtimer_start_range_ns`'s contract keeps it
            // valid until its callback returns; `function` is read through the raw pointer.
            let function = unsafe { (*timer.0).function };
            let restart = match function {
                // SAFETY: `hrtimer_setup`'s contract allows calling the callback on the timer
                // from this thread.
                Some(function) => unsafe { function(timer.0.cast_mut()) },
                None => hrtimer_restart::HRTIMER_NORESTART,
            };
            state = self.lock();
            state.running = None;
            // As the kernel's `__run_hrtimer()`: after `HRTIMER_NORESTART` the timer is not
            // touched again, as it may be gone (a delayed work item's timer queues the item, and
            // a worker may run it, and free it, before the callback returns). After
            // `HRTIMER_RESTART`, a timer started again meanwhile stays where that start put it.
            if restart == hrtimer_restart::HRTIMER_RESTART {
                // SAFETY: The callback asked for a restart, so by `hrtimer_start_range_ns`'s
                // contract the timer is still valid; the lock keeps `hrtimer_cancel` out.
                let timer_state = unsafe { timer.state() };
                if timer_state.load(Ordering::Relaxed) & HRTIMER_STATE_ENQUEUED == 0 {
                    self.enqueue(&mut state, timer);
                }
            }
            self.callback_done.notify_all();
        }
        let next = state
            .queue
            .first_key_value()
            .map(|(&(expires, _), _)| expires);
        self.arm(next);
    }
}

/// The bases, indexed by [`base_index`].
static BASES: [ClockBase; 8] = [
    ClockBase::new(CLOCK_MONOTONIC, "monotonic"),
    ClockBase::new(CLOCK_MONOTONIC, "monotonic-soft"),
    ClockBase::new(CLOCK_REALTIME, "realtime"),
    ClockBase::new(CLOCK_REALTIME, "realtime-soft"),
    ClockBase::new(CLOCK_BOOTTIME, "boottime"),
    ClockBase::new(CLOCK_BOOTTIME, "boottime-soft"),
    ClockBase::new(CLOCK_TAI, "tai"),
    ClockBase::new(CLOCK_TAI, "tai-soft"),
];

/// Returns the index in [`BASES`] of `clock_id` in the context `mode` asks for; an unknown clock
/// is `CLOCK_MONOTONIC`, with a warning, as in the kernel.
fn base_index(clock_id: clockid_t, mode: hrtimer_mode) -> usize {
    let clock = match clock_id {
        CLOCK_MONOTONIC => 0,
        CLOCK_REALTIME => 1,
        CLOCK_BOOTTIME => 2,
        CLOCK_TAI => 3,
        _ => {
            log::warn!(target: "drydock", "hrtimer: invalid clockid {clock_id}, using MONOTONIC");
            0
        }
    };
    clock * 2 + usize::from(mode & hrtimer_mode_HRTIMER_MODE_SOFT != 0)
}

/// Returns the base of an initialised timer.
///
/// # Safety
///
/// `timer` must point to a timer initialised by [`hrtimer_setup`].
unsafe fn base_of(timer: *const hrtimer) -> &'static ClockBase {
    // SAFETY: `hrtimer_setup` sets `base` to an element of `BASES`, and the caller guarantees it
    // ran.
    unsafe { &*(*timer).base }
}

/// Initialises `timer` (`hrtimer_setup()`): it will call `function` when it expires, on the base
/// of `clock_id` in the context `mode` asks for (soft if it has `HRTIMER_MODE_SOFT`).
///
/// A timer without a function warns and never calls anything, as the kernel's does.
///
/// # Safety
///
/// `timer` must be valid for writes and stay at its address while it is in use, and `function`
/// must be safe to call with `timer` from another thread whenever the timer expires.
pub unsafe fn hrtimer_setup(
    timer: *mut hrtimer,
    function: hrtimer_function,
    clock_id: clockid_t,
    mode: hrtimer_mode,
) {
    if function.is_none() {
        log::warn!(target: "drydock", "hrtimer_setup: a timer without a function");
    }
    let base: *const ClockBase = &BASES[base_index(clock_id, mode)];
    // SAFETY: The caller guarantees `timer` is valid for writes.
    unsafe {
        timer.write(hrtimer {
            node: crate::bindings::timerqueue_node { expires: 0.into() },
            function,
            base,
            state: HRTIMER_STATE_INACTIVE.into(),
        });
    }
}

/// Starts `timer` (`hrtimer_start_range_ns()`): at `tim` on its base's clock, or `tim` from now
/// with `HRTIMER_MODE_REL`. A started timer is moved to the new expiry. The slack the kernel may
/// use to batch timers (`delta_ns`) is ignored: timers expire as early as they can.
///
/// As in the kernel, a relative `tim` is added with [`ktime_add_safe`]: a negative one, or one
/// that overflows, puts the expiry at `KTIME_SEC_MAX` seconds, so the timer does not expire.
///
/// # Safety
///
/// `timer` must have been initialised by [`hrtimer_setup`] and must stay valid until its callback
/// has returned `HRTIMER_NORESTART` (and not started it again) or [`hrtimer_cancel`] has returned.
/// The callback may free the timer, or let another thread free it, before it returns
/// `HRTIMER_NORESTART` (not touching it afterwards): the base does not touch it either. A callback
/// that returns `HRTIMER_RESTART` must leave it valid, as a started timer.
pub unsafe fn hrtimer_start_range_ns(
    timer: *mut hrtimer,
    tim: ktime_t,
    _delta_ns: u64,
    mode: hrtimer_mode,
) {
    // SAFETY: The caller guarantees the timer was set up.
    let base = unsafe { base_of(timer) };
    let timer = TimerPtr(timer);
    let mut state = base.lock();
    ClockBase::remove(&mut state, timer);
    let expires = if mode & hrtimer_mode_HRTIMER_MODE_REL != 0 {
        // A negative `tim`, or one that overflows, is as far ahead as a `ktime_t` goes.
        ktime_add_safe(tim, ktime_get(base.clock))
    } else {
        tim
    };
    // SAFETY: The caller guarantees the timer is valid.
    unsafe { timer.expires() }.store(expires, Ordering::Relaxed);
    base.enqueue(&mut state, timer);
}

/// Cancels `timer` (`hrtimer_cancel()`): dequeues it, waiting first for its callback to return if
/// it is running. Returns 1 if the timer was queued, 0 if not.
///
/// Must not be called from the timer's own callback (it would wait for itself, as in the kernel).
///
/// # Safety
///
/// `timer` must have been initialised by [`hrtimer_setup`] and be valid.
pub unsafe fn hrtimer_cancel(timer: *mut hrtimer) -> c_int {
    // SAFETY: The caller guarantees the timer was set up.
    let base = unsafe { base_of(timer) };
    let timer = TimerPtr(timer);
    let mut state = base.lock();
    while state.running == Some(timer) {
        state = base
            .callback_done
            .wait(state)
            .unwrap_or_else(|e| e.into_inner());
    }
    c_int::from(ClockBase::remove(&mut state, timer))
}

/// Forwards the expiry of `timer` (`hrtimer_forward()`): if it is at or before `now`, adds
/// `interval` as many times as it takes to be after `now`, and returns how many; otherwise
/// returns 0. An interval under 1 ns counts as 1 ns (the resolution). A queued timer is not
/// forwarded (0, with a warning, as in the kernel).
///
/// # Safety
///
/// `timer` must have been initialised by [`hrtimer_setup`] and be valid, and the caller must be
/// its callback or own it exclusively.
pub unsafe fn hrtimer_forward(timer: *mut hrtimer, now: ktime_t, interval: ktime_t) -> u64 {
    let timer = TimerPtr(timer);
    // SAFETY: The caller guarantees the timer is valid and set up.
    let (base, expiry, timer_state) = unsafe { (base_of(timer.0), timer.expires(), timer.state()) };
    // The expiry of a queued timer is its key in the base: checked and changed under the lock.
    let _state = base.lock();
    let expires = expiry.load(Ordering::Relaxed);
    let delta = now.saturating_sub(expires);
    if delta < 0 {
        return 0;
    }
    if timer_state.load(Ordering::Relaxed) & HRTIMER_STATE_ENQUEUED != 0 {
        log::warn!(target: "drydock", "hrtimer_forward: the timer is queued");
        return 0;
    }
    let interval = interval.max(1);
    // `delta / interval + 1` intervals put the expiry after `now`.
    let overruns = delta / interval + 1;
    let new = expires.saturating_add(overruns.saturating_mul(interval));
    expiry.store(new, Ordering::Relaxed);
    // CAST: `overruns` is positive.
    overruns as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::hrtimer_mode_HRTIMER_MODE_ABS;
    use core::mem::MaybeUninit;

    unsafe extern "C" fn no_restart(_: *mut hrtimer) -> hrtimer_restart {
        hrtimer_restart::HRTIMER_NORESTART
    }

    /// Sets up `timer` on the monotonic base, to call [`no_restart`].
    ///
    /// # Safety
    ///
    /// As [`hrtimer_setup`].
    unsafe fn set_up(timer: *mut hrtimer) {
        // SAFETY: The caller keeps the promises of `hrtimer_setup`; `no_restart` does nothing.
        unsafe {
            hrtimer_setup(
                timer,
                Some(no_restart),
                CLOCK_MONOTONIC,
                hrtimer_mode_HRTIMER_MODE_ABS,
            )
        };
    }

    #[test]
    fn forward_adds_whole_intervals_past_now() {
        let mut timer = MaybeUninit::<hrtimer>::uninit();
        let t = timer.as_mut_ptr();
        // SAFETY: `timer` is a local that outlives its uses, and is never started.
        unsafe {
            set_up(t);
            (*t).node.expires.store(100, Ordering::Relaxed);
            // Not expired: nothing to do.
            assert_eq!(hrtimer_forward(t, 99, 10), 0);
            // Expired exactly: one interval.
            assert_eq!(hrtimer_forward(t, 100, 10), 1);
            assert_eq!((*t).node.expires.load(Ordering::Relaxed), 110);
            // 35 past: four intervals, to 150 > 145.
            assert_eq!(hrtimer_forward(t, 145, 10), 4);
            assert_eq!((*t).node.expires.load(Ordering::Relaxed), 150);
            // Landing on `now` is not after it.
            assert_eq!(hrtimer_forward(t, 170, 10), 3);
            assert_eq!((*t).node.expires.load(Ordering::Relaxed), 180);
            // An empty interval is the resolution, 1 ns.
            assert_eq!(hrtimer_forward(t, 180, 0), 1);
            assert_eq!(hrtimer_cancel(t), 0);
        }
    }

    #[test]
    fn a_negative_or_overflowing_relative_expiry_is_as_far_as_a_ktime_goes() {
        let far = crate::time::KTIME_SEC_MAX * 1_000_000_000;
        for tim in [-1, i64::MIN, i64::MAX] {
            let mut timer = MaybeUninit::<hrtimer>::uninit();
            let t = timer.as_mut_ptr();
            // SAFETY: `timer` is a local that outlives its uses; the timer is cancelled before
            // it goes, and does not expire meanwhile.
            unsafe {
                set_up(t);
                hrtimer_start_range_ns(t, tim, 0, hrtimer_mode_HRTIMER_MODE_REL);
                assert_eq!((*t).node.expires.load(Ordering::Relaxed), far, "{tim}");
                // Queued, and not run.
                assert_eq!(hrtimer_cancel(t), 1);
            }
        }
    }

    #[test]
    fn modes_choose_the_base() {
        assert_eq!(base_index(CLOCK_TAI, hrtimer_mode_HRTIMER_MODE_SOFT), 7);
        assert_eq!(base_index(CLOCK_BOOTTIME, hrtimer_mode_HRTIMER_MODE_REL), 4);
        assert_eq!(base_index(-1, hrtimer_mode_HRTIMER_MODE_ABS), 0);
    }
}
