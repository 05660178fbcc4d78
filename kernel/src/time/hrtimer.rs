//! High-resolution timers embedded in the structs they call back.
//!
//! Mirrors `rust/kernel/time/hrtimer.rs` of Linux 7.3 (C header `include/linux/hrtimer.h`). A
//! struct holds an [`HrTimer`] field, declares it with
//! [`impl_has_hr_timer!`](crate::impl_has_hr_timer) (which also picks the timer's
//! [mode](HrTimerMode): clock, absolute or relative expiry, context), and implements
//! [`HrTimerCallback`]. Starting the timer takes a pointer to the struct ([`Arc`],
//! `Pin<KBox<_>>`, `Pin<&_>`, `Pin<&mut _>`) and needs no allocation; it returns a handle
//! ([`HrTimerHandle`]) that cancels the timer when dropped.
//!
//! The C side is the host's [`drydock_host::hrtimer`]: each clock (monotonic, realtime, boottime,
//! TAI) has a thread per context (hard, soft) that sleeps on a `timerfd` of that clock and runs
//! the expired timers' callbacks. What differs from the kernel:
//!
//! - callbacks run on those threads, not in hard or soft interrupt context ("hard" and "soft"
//!   only choose the thread); code that sleeps in a callback works here but not in the kernel;
//! - a process has one set of timer bases, not one per CPU, so the pinned modes behave as the
//!   others;
//! - the slack of a timer is 0 and its resolution 1 ns.
//!
//! # Life of a timer
//!
//! A timer is *stopped* after setup. Starting it (with an expiry in its mode's terms) makes it
//! *started*; when it expires, its callback *runs*, and returns whether the timer is started
//! again ([`HrTimerRestart`]), at an expiry the callback usually moved with
//! [`HrTimerCallbackContext::forward`]. Cancelling stops a started timer, and waits for a running
//! callback to return first. A timer whose pointer type is [`Clone`] (an [`Arc`]) may be started
//! again while started: it moves to the new expiry.
//!
//! # Examples
//!
//! A ticker in an [`Arc`], which counts to three every 100 µs and then stops:
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::impl_has_hr_timer;
//! use kernel::sync::atomic::{ordering::Relaxed, Atomic};
//! use kernel::sync::{Arc, ArcBorrow, Completion};
//! use kernel::time::hrtimer::{
//!     HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerPointer, HrTimerRestart,
//!     RelativeMode,
//! };
//! use kernel::time::{Delta, Monotonic};
//!
//! #[pin_data]
//! struct Ticker {
//!     #[pin]
//!     timer: HrTimer<Self>,
//!     ticks: Atomic<u32>,
//!     #[pin]
//!     done: Completion,
//! }
//!
//! impl_has_hr_timer! {
//!     impl HasHrTimer<Self> for Ticker {
//!         mode: RelativeMode<Monotonic>, field: self.timer
//!     }
//! }
//!
//! impl HrTimerCallback for Ticker {
//!     type Pointer<'a> = Arc<Self>;
//!
//!     fn run(
//!         this: ArcBorrow<'_, Self>,
//!         mut ctx: HrTimerCallbackContext<'_, Self>,
//!     ) -> HrTimerRestart {
//!         if this.ticks.fetch_add(1, Relaxed) + 1 == 3 {
//!             this.done.complete_all();
//!             return HrTimerRestart::NoRestart;
//!         }
//!         ctx.forward_now(Delta::from_micros(100));
//!         HrTimerRestart::Restart
//!     }
//! }
//!
//! let ticker = Arc::pin_init(
//!     pin_init!(Ticker {
//!         timer <- HrTimer::new(),
//!         ticks: Atomic::new(0),
//!         done <- Completion::new(),
//!     }),
//!     GFP_KERNEL,
//! )?;
//! let _handle = ticker.clone().start(Delta::from_micros(100));
//! ticker.done.wait_for_completion();
//! assert_eq!(ticker.ticks.load(Relaxed), 3);
//! # Ok::<(), Error>(())
//! ```
//!
//! A timer on the stack, through `Pin<&_>`: [`ScopedHrTimerPointer::start_scoped`] cancels it
//! when the closure returns, so the struct cannot go away while the timer may run.
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::impl_has_hr_timer;
//! use kernel::sync::Completion;
//! use kernel::time::hrtimer::{
//!     HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerRestart, RelativeSoftMode,
//!     ScopedHrTimerPointer,
//! };
//! use kernel::time::{BootTime, Delta};
//! use pin_init::stack_pin_init;
//!
//! #[pin_data]
//! struct Alarm {
//!     #[pin]
//!     timer: HrTimer<Self>,
//!     #[pin]
//!     rang: Completion,
//! }
//!
//! impl_has_hr_timer! {
//!     impl HasHrTimer<Self> for Alarm {
//!         mode: RelativeSoftMode<BootTime>, field: self.timer
//!     }
//! }
//!
//! impl HrTimerCallback for Alarm {
//!     type Pointer<'a> = Pin<&'a Self>;
//!
//!     fn run(this: Pin<&Self>, _ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
//!         this.rang.complete_all();
//!         HrTimerRestart::NoRestart
//!     }
//! }
//!
//! stack_pin_init!(let alarm = pin_init!(Alarm {
//!     timer <- HrTimer::new(),
//!     rang <- Completion::new(),
//! }));
//! alarm.as_ref().start_scoped(Delta::from_micros(50), || alarm.rang.wait_for_completion());
//! ```
//!
//! [`Arc`]: crate::sync::Arc

use super::{ClockSource, Delta, Instant};
use crate::{bindings, prelude::*, types::Opaque};
use core::{marker::PhantomData, ptr::NonNull, sync::atomic::Ordering};
use drydock_host::hrtimer as host;
use pin_init::PinInit;

/// The [`Instant`] type of the clock of `T`'s timer.
///
/// Mirrors `kernel::time::hrtimer::HrTimerInstant`.
pub type HrTimerInstant<T> = Instant<<<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Clock>;

/// A timer (the C `struct hrtimer`) embedded in a `T`, which its callback receives.
///
/// Mirrors `kernel::time::hrtimer::HrTimer`. See the [module documentation](self).
///
/// # Invariants
///
/// `timer` was initialised by the host's `hrtimer_setup`.
#[pin_data]
#[repr(C)]
pub struct HrTimer<T> {
    #[pin]
    timer: Opaque<bindings::hrtimer>,
    _t: PhantomData<T>,
}

// SAFETY: A timer may be moved to, used on and dropped on another thread: it holds no `T`.
unsafe impl<T> Send for HrTimer<T> {}

// SAFETY: The host serialises the operations on a timer with its base's lock.
unsafe impl<T> Sync for HrTimer<T> {}

impl<T> HrTimer<T> {
    /// Returns an initialiser of a stopped timer that calls `T`'s [`HrTimerCallback`], in the
    /// mode of `T`'s [`HasHrTimer`].
    pub fn new() -> impl PinInit<Self>
    where
        T: HrTimerCallback,
        T: HasHrTimer<T>,
    {
        pin_init!(Self {
            // INVARIANT: `hrtimer_setup` initialises `timer`.
            timer <- Opaque::ffi_init(move |place: *mut bindings::hrtimer| {
                // SAFETY: `place` is valid for writes and pinned; `RawHrTimerCallback::run` is
                // made to be called on this timer from the timer threads.
                unsafe {
                    host::hrtimer_setup(
                        place,
                        Some(T::Pointer::run),
                        <<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Clock::ID,
                        <T as HasHrTimer<T>>::TimerMode::C_MODE,
                    );
                }
            }),
            _t: PhantomData,
        })
    }

    /// Returns a pointer to the C timer of the `HrTimer` at `this`, without making a reference.
    ///
    /// # Safety
    ///
    /// `this` must point into an allocation at least the size of `Self`.
    unsafe fn raw_get(this: *const Self) -> *mut bindings::hrtimer {
        // SAFETY: The caller guarantees the projection stays in the allocation.
        Opaque::cast_into(unsafe { &raw const (*this).timer })
    }

    /// Cancels the timer at `this`, waiting for its callback to return if it is running. Returns
    /// whether the timer was started.
    ///
    /// The timer may be started again by a concurrent start. Users cancel through
    /// [`HrTimerHandle::cancel`].
    ///
    /// # Safety
    ///
    /// `this` must point to a valid `Self`.
    pub(crate) unsafe fn raw_cancel(this: *const Self) -> bool {
        // SAFETY: The caller guarantees `this` points to a valid `Self`.
        let timer = unsafe { HrTimer::raw_get(this) };
        // SAFETY: By the type invariant, the timer was set up; the host locks it.
        unsafe { host::hrtimer_cancel(timer) != 0 }
    }

    /// Forwards the timer at `self_ptr` past `now` by whole `interval`s; see
    /// [`HrTimer::forward`].
    ///
    /// # Safety
    ///
    /// `self_ptr` must point to a valid `Self`, and the caller must own it exclusively or be its
    /// callback.
    #[inline]
    unsafe fn raw_forward(self_ptr: *mut Self, now: HrTimerInstant<T>, interval: Delta) -> u64
    where
        T: HasHrTimer<T>,
    {
        // SAFETY: The caller guarantees `self_ptr` is valid and this caller may forward it; by
        // the type invariant, the timer was set up.
        unsafe {
            host::hrtimer_forward(Self::raw_get(self_ptr), now.as_nanos(), interval.as_nanos())
        }
    }

    /// Moves the expiry of an expired timer past `now`, by whole `interval`s, and returns how
    /// many; a timer that expires after `now` is left alone (0).
    ///
    /// Needs exclusive access, so a stopped timer; from the callback, use
    /// [`HrTimerCallbackContext::forward`].
    pub fn forward(self: Pin<&mut Self>, now: HrTimerInstant<T>, interval: Delta) -> u64
    where
        T: HasHrTimer<T>,
    {
        // SAFETY: The timer is not moved.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: `this` comes from a `&mut`, so it is valid and exclusive.
        unsafe { Self::raw_forward(this, now, interval) }
    }

    /// As [`HrTimer::forward`], past the current time of the timer's clock.
    pub fn forward_now(self: Pin<&mut Self>, interval: Delta) -> u64
    where
        T: HasHrTimer<T>,
    {
        self.forward(HrTimerInstant::<T>::now(), interval)
    }

    /// Returns the timer's expiry, as it is at the time of the call.
    pub fn expires(&self) -> HrTimerInstant<T>
    where
        T: HasHrTimer<T>,
    {
        // SAFETY: `self` is a valid `HrTimer`.
        let timer = unsafe { HrTimer::raw_get(self) };
        // The C code reads the expiry racily, with `READ_ONCE`; the host's is atomic.
        // SAFETY: `timer` is valid, and set up by the type invariant.
        let expires = unsafe { &(*timer).node.expires }.load(Ordering::Relaxed);
        // SAFETY: Expiries are never negative: the host adds a relative start to the clock with
        // `ktime_add_safe` (a negative or overflowing sum is `KTIME_SEC_MAX` seconds), absolute
        // starts are `Instant`s, and forwarding saturates.
        unsafe { Instant::from_ktime(expires) }
    }
}

/// A pointer to a struct with an [`HrTimer`], which starts the timer safely.
///
/// Mirrors `kernel::time::hrtimer::HrTimerPointer`; implemented by [`Arc`] and `Pin<KBox<_>>`.
/// It is [`Sync`] because the callback receives it on another thread. Starting may be repeated,
/// and each start returns a handle: any of them controls the timer.
///
/// [`Arc`]: crate::sync::Arc
pub trait HrTimerPointer: Sync + Sized {
    /// The timer's mode.
    type TimerMode: HrTimerMode;

    /// The handle of a started timer: dropping it cancels the timer and waits for a running
    /// callback. (Leaking it is safe.)
    type TimerHandle: HrTimerHandle;

    /// Starts the timer to expire at `expires` (in its mode's terms); a started timer moves to
    /// the new expiry.
    fn start(self, expires: <Self::TimerMode as HrTimerMode>::Expires) -> Self::TimerHandle;
}

/// A pointer to a struct with an [`HrTimer`] whose start is `unsafe`, because leaking the handle
/// would let the timer outlive the struct (stack timers).
///
/// Mirrors `kernel::time::hrtimer::UnsafeHrTimerPointer`; implemented by `Pin<&_>` and
/// `Pin<&mut _>`. [`ScopedHrTimerPointer`] wraps it safely.
///
/// # Safety
///
/// The pointee must outlive every handle returned by [`UnsafeHrTimerPointer::start`].
pub unsafe trait UnsafeHrTimerPointer: Sync + Sized {
    /// The timer's mode.
    type TimerMode: HrTimerMode;

    /// The handle of a started timer.
    ///
    /// # Safety
    ///
    /// Dropping it must cancel the timer and wait for a running callback to return.
    type TimerHandle: HrTimerHandle;

    /// Starts the timer to expire at `expires` (in its mode's terms); a started timer moves to
    /// the new expiry.
    ///
    /// # Safety
    ///
    /// The caller must keep the pointee alive until the timer is stopped, which dropping the
    /// handle (never leaking it) ensures.
    unsafe fn start(self, expires: <Self::TimerMode as HrTimerMode>::Expires) -> Self::TimerHandle;
}

/// A timer started for the length of a closure, so safe for timers on the stack.
///
/// Mirrors `kernel::time::hrtimer::ScopedHrTimerPointer`; implemented by every
/// [`UnsafeHrTimerPointer`].
///
/// # Safety
///
/// [`start_scoped`](ScopedHrTimerPointer::start_scoped) must not return while the timer is
/// started or its callback running.
pub unsafe trait ScopedHrTimerPointer {
    /// The timer's mode.
    type TimerMode: HrTimerMode;

    /// Starts the timer to expire at `expires`, calls `f`, then cancels the timer (waiting for a
    /// running callback) and returns what `f` returned.
    fn start_scoped<T, F>(self, expires: <Self::TimerMode as HrTimerMode>::Expires, f: F) -> T
    where
        F: FnOnce() -> T;
}

// SAFETY: The handle is dropped before `start_scoped` returns, and `UnsafeHrTimerPointer` makes
// dropping it stop the timer and wait for its callback.
unsafe impl<T> ScopedHrTimerPointer for T
where
    T: UnsafeHrTimerPointer,
{
    type TimerMode = T::TimerMode;

    fn start_scoped<U, F>(
        self,
        expires: <<T as UnsafeHrTimerPointer>::TimerMode as HrTimerMode>::Expires,
        f: F,
    ) -> U
    where
        F: FnOnce() -> U,
    {
        // SAFETY: The handle is not leaked: it is dropped below, before `self`'s pointee can go.
        let handle = unsafe { UnsafeHrTimerPointer::start(self, expires) };
        let result = f();
        drop(handle);
        result
    }
}

/// The function the C timer calls, for a pointer type to a struct with an [`HrTimer`].
///
/// Mirrors `kernel::time::hrtimer::RawHrTimerCallback`.
pub trait RawHrTimerCallback {
    /// What [`HrTimerCallback::run`] receives: `Self`, or a borrowed form of it.
    type CallbackTarget<'a>;

    /// Called by the timer core when the timer expires.
    ///
    /// # Safety
    ///
    /// Only the timer core may call it, with the timer that was started.
    unsafe extern "C" fn run(this: *mut bindings::hrtimer) -> bindings::hrtimer_restart;
}

/// A struct whose [`HrTimer`] calls it back.
///
/// Mirrors `kernel::time::hrtimer::HrTimerCallback`.
pub trait HrTimerCallback {
    /// The pointer type the timer is started through.
    type Pointer<'a>: RawHrTimerCallback;

    /// Called, on a timer thread, when the timer expires; returns whether to start it again.
    fn run(
        this: <Self::Pointer<'_> as RawHrTimerCallback>::CallbackTarget<'_>,
        ctx: HrTimerCallbackContext<'_, Self>,
    ) -> HrTimerRestart
    where
        Self: Sized,
        Self: HasHrTimer<Self>;
}

/// The handle of a timer that may be started or running.
///
/// Mirrors `kernel::time::hrtimer::HrTimerHandle`. Several handles may control one timer.
///
/// # Safety
///
/// Dropping the handle must cancel the timer and, if its callback is running, wait for it to
/// return (calling [`HrTimerHandle::cancel`] from `drop` does both).
pub unsafe trait HrTimerHandle {
    /// Cancels the timer, waiting for its callback to return if it is running; returns whether
    /// the timer was started.
    ///
    /// A concurrent start may start the timer again before this returns.
    fn cancel(&mut self) -> bool;
}

/// A struct that has an [`HrTimer<T>`] field.
///
/// Mirrors `kernel::time::hrtimer::HasHrTimer`; implement it with
/// [`impl_has_hr_timer!`](crate::impl_has_hr_timer).
///
/// # Safety
///
/// The struct has an [`HrTimer`] field, and every method works on that one field as documented.
pub unsafe trait HasHrTimer<T> {
    /// The timer's mode: its clock, the kind of expiry, its context.
    type TimerMode: HrTimerMode;

    /// Returns a pointer to the timer field of the struct at `this`, without making a reference.
    ///
    /// # Safety
    ///
    /// `this` must be a valid pointer.
    unsafe fn raw_get_timer(this: *const Self) -> *const HrTimer<T>;

    /// Returns a pointer to the struct whose timer field `ptr` points to.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the [`HrTimer<T>`] field of a `Self`.
    unsafe fn timer_container_of(ptr: *mut HrTimer<T>) -> *mut Self
    where
        Self: Sized;

    /// Returns a pointer to the C timer of the struct at `this`, without making a reference.
    ///
    /// # Safety
    ///
    /// `this` must be a valid pointer.
    unsafe fn c_timer_ptr(this: *const Self) -> *const bindings::hrtimer {
        // SAFETY: The caller guarantees `this` is valid.
        let timer = unsafe { Self::raw_get_timer(this) };
        // SAFETY: `timer` points to an `HrTimer` inside the struct.
        unsafe { HrTimer::raw_get(timer) }
    }

    /// Starts the timer of the struct at `this` to expire at `expires`; a started timer moves to
    /// the new expiry.
    ///
    /// # Safety
    ///
    /// - `this` must point to a valid `Self`;
    /// - the struct must stay alive until the timer expires (without restarting) or is
    ///   cancelled.
    unsafe fn start(this: *const Self, expires: <Self::TimerMode as HrTimerMode>::Expires) {
        // SAFETY: The caller guarantees `this` is valid and outlives the started timer, which
        // `HrTimer::new` set up.
        unsafe {
            host::hrtimer_start_range_ns(
                Self::c_timer_ptr(this).cast_mut(),
                expires.as_nanos(),
                0,
                <Self::TimerMode as HrTimerMode>::C_MODE,
            );
        }
    }
}

/// Whether a timer is started again after its callback.
///
/// Mirrors `kernel::time::hrtimer::HrTimerRestart`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum HrTimerRestart {
    /// The timer stops.
    NoRestart = bindings::hrtimer_restart::HRTIMER_NORESTART.0,
    /// The timer is started again, at its (forwarded) expiry.
    Restart = bindings::hrtimer_restart::HRTIMER_RESTART.0,
}

impl HrTimerRestart {
    fn into_c(self) -> bindings::hrtimer_restart {
        bindings::hrtimer_restart(self as c_uint)
    }
}

/// A type of expiry: a point in time ([`Instant`]) or a span from now ([`Delta`]).
///
/// Mirrors `kernel::time::hrtimer::HrTimerExpires`.
pub trait HrTimerExpires {
    /// Returns the expiry in nanoseconds (a `ktime_t`), absolute or relative as the mode says.
    fn as_nanos(&self) -> i64;
}

impl<C: ClockSource> HrTimerExpires for Instant<C> {
    #[inline]
    fn as_nanos(&self) -> i64 {
        Instant::<C>::as_nanos(self)
    }
}

impl HrTimerExpires for Delta {
    #[inline]
    fn as_nanos(&self) -> i64 {
        Delta::as_nanos(*self)
    }
}

mod private {
    use crate::time::ClockSource;

    /// Keeps the set of modes closed.
    pub trait Sealed {}

    impl<C: ClockSource> Sealed for super::AbsoluteMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativeMode<C> {}
    impl<C: ClockSource> Sealed for super::AbsolutePinnedMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativePinnedMode<C> {}
    impl<C: ClockSource> Sealed for super::AbsoluteSoftMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativeSoftMode<C> {}
    impl<C: ClockSource> Sealed for super::AbsolutePinnedSoftMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativePinnedSoftMode<C> {}
    impl<C: ClockSource> Sealed for super::AbsoluteHardMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativeHardMode<C> {}
    impl<C: ClockSource> Sealed for super::AbsolutePinnedHardMode<C> {}
    impl<C: ClockSource> Sealed for super::RelativePinnedHardMode<C> {}
}

/// The mode of an [`HrTimer`]: its clock, its kind of expiry and its context.
///
/// Mirrors `kernel::time::hrtimer::HrTimerMode`; implemented by the twelve mode types of this
/// module only.
pub trait HrTimerMode: private::Sealed {
    /// The C `enum hrtimer_mode` value.
    const C_MODE: bindings::hrtimer_mode;

    /// The clock the timer runs on.
    type Clock: ClockSource;

    /// What an expiry is: [`Instant<Self::Clock>`] (absolute) or [`Delta`] (relative).
    type Expires: HrTimerExpires;
}

/// Declares a mode type.
macro_rules! mode {
    ($(#[$doc:meta])* $name:ident, $c_mode:ident, $expires:ty) => {
        $(#[$doc])*
        pub struct $name<C: ClockSource>(PhantomData<C>);

        impl<C: ClockSource> HrTimerMode for $name<C> {
            const C_MODE: bindings::hrtimer_mode = bindings::$c_mode;

            type Clock = C;
            type Expires = $expires;
        }
    };
}

mode! {
    /// Expires at an [`Instant`] of the clock `C`.
    ///
    /// Mirrors `kernel::time::hrtimer::AbsoluteMode`.
    AbsoluteMode, hrtimer_mode_HRTIMER_MODE_ABS, Instant<C>
}

mode! {
    /// Expires a [`Delta`] after it is started, on the clock `C`.
    ///
    /// Mirrors `kernel::time::hrtimer::RelativeMode`.
    RelativeMode, hrtimer_mode_HRTIMER_MODE_REL, Delta
}

mode! {
    /// Absolute, and kept on the CPU that started it.
    ///
    /// Mirrors `kernel::time::hrtimer::AbsolutePinnedMode`. A process has one timer base per
    /// clock, so pinning changes nothing: as [`AbsoluteMode`].
    AbsolutePinnedMode, hrtimer_mode_HRTIMER_MODE_ABS_PINNED, Instant<C>
}

mode! {
    /// Relative, and kept on the CPU that started it.
    ///
    /// Mirrors `kernel::time::hrtimer::RelativePinnedMode`; as [`RelativeMode`] here.
    RelativePinnedMode, hrtimer_mode_HRTIMER_MODE_REL_PINNED, Delta
}

mode! {
    /// Absolute, with the callback in soft interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::AbsoluteSoftMode`. The callback runs on the clock's soft
    /// timer thread.
    AbsoluteSoftMode, hrtimer_mode_HRTIMER_MODE_ABS_SOFT, Instant<C>
}

mode! {
    /// Relative, with the callback in soft interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::RelativeSoftMode`. The callback runs on the clock's soft
    /// timer thread.
    RelativeSoftMode, hrtimer_mode_HRTIMER_MODE_REL_SOFT, Delta
}

mode! {
    /// Absolute, pinned, with the callback in soft interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::AbsolutePinnedSoftMode`; as [`AbsoluteSoftMode`] here.
    AbsolutePinnedSoftMode, hrtimer_mode_HRTIMER_MODE_ABS_PINNED_SOFT, Instant<C>
}

mode! {
    /// Relative, pinned, with the callback in soft interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::RelativePinnedSoftMode`; as [`RelativeSoftMode`] here.
    RelativePinnedSoftMode, hrtimer_mode_HRTIMER_MODE_REL_PINNED_SOFT, Delta
}

mode! {
    /// Absolute, with the callback in hard interrupt context (even on `PREEMPT_RT`).
    ///
    /// Mirrors `kernel::time::hrtimer::AbsoluteHardMode`. The callback runs on the clock's hard
    /// timer thread, as without a context.
    AbsoluteHardMode, hrtimer_mode_HRTIMER_MODE_ABS_HARD, Instant<C>
}

mode! {
    /// Relative, with the callback in hard interrupt context (even on `PREEMPT_RT`).
    ///
    /// Mirrors `kernel::time::hrtimer::RelativeHardMode`. The callback runs on the clock's hard
    /// timer thread, as without a context.
    RelativeHardMode, hrtimer_mode_HRTIMER_MODE_REL_HARD, Delta
}

mode! {
    /// Absolute, pinned, with the callback in hard interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::AbsolutePinnedHardMode`; as [`AbsoluteHardMode`] here.
    AbsolutePinnedHardMode, hrtimer_mode_HRTIMER_MODE_ABS_PINNED_HARD, Instant<C>
}

mode! {
    /// Relative, pinned, with the callback in hard interrupt context.
    ///
    /// Mirrors `kernel::time::hrtimer::RelativePinnedHardMode`; as [`RelativeHardMode`] here.
    RelativePinnedHardMode, hrtimer_mode_HRTIMER_MODE_REL_PINNED_HARD, Delta
}

/// Access to the timer from inside its callback.
///
/// Mirrors `kernel::time::hrtimer::HrTimerCallbackContext`. Forwarding a timer needs its owner's
/// exclusive access, or to be its callback: this type is the proof of the latter.
///
/// # Invariants
///
/// - It exists only during a callback of the timer;
/// - `self.0` points to that live [`HrTimer<T>`].
pub struct HrTimerCallbackContext<'a, T: HasHrTimer<T>>(NonNull<HrTimer<T>>, PhantomData<&'a ()>);

impl<'a, T: HasHrTimer<T>> HrTimerCallbackContext<'a, T> {
    /// Returns the context of the callback of `timer`.
    ///
    /// # Safety
    ///
    /// Only for [`RawHrTimerCallback::run`] implementations, with the timer being called back
    /// (valid and initialised); the context must not outlive that call.
    pub(crate) unsafe fn from_raw(timer: *mut HrTimer<T>) -> Self {
        // INVARIANT: The caller guarantees this is the callback of the live `timer`.
        // SAFETY: The caller guarantees `timer` is valid, so not null.
        Self(unsafe { NonNull::new_unchecked(timer) }, PhantomData)
    }

    /// As [`HrTimer::forward`], from the callback.
    pub fn forward(&mut self, now: HrTimerInstant<T>, interval: Delta) -> u64 {
        // SAFETY: By the type invariants, this is the timer's callback and `self.0` is valid.
        unsafe { HrTimer::<T>::raw_forward(self.0.as_ptr(), now, interval) }
    }

    /// As [`HrTimer::forward_now`], from the callback.
    pub fn forward_now(&mut self, duration: Delta) -> u64 {
        self.forward(HrTimerInstant::<T>::now(), duration)
    }
}

/// Implements [`HasHrTimer`] for a struct, from its timer field and its mode.
///
/// Mirrors the kernel's `impl_has_hr_timer!`. Generic parameters go in braces after `impl`; see
/// the [module documentation](self) for an example.
#[macro_export]
macro_rules! impl_has_hr_timer {
    (
        impl$({$($generics:tt)*})?
            HasHrTimer<$timer_type:ty>
            for $self:ty
        {
            mode : $mode:ty,
            field : self.$field:ident $(,)?
        }
        $($rest:tt)*
    ) => {
        // SAFETY: `raw_get_timer` compiles only if the field is an `HrTimer` of this type, and
        // `timer_container_of` undoes the projection.
        unsafe impl$(<$($generics)*>)? $crate::time::hrtimer::HasHrTimer<$timer_type> for $self {
            type TimerMode = $mode;

            #[inline]
            unsafe fn raw_get_timer(
                this: *const Self,
            ) -> *const $crate::time::hrtimer::HrTimer<$timer_type> {
                // SAFETY: The caller guarantees `this` is valid.
                unsafe { ::core::ptr::addr_of!((*this).$field) }
            }

            #[inline]
            unsafe fn timer_container_of(
                ptr: *mut $crate::time::hrtimer::HrTimer<$timer_type>,
            ) -> *mut Self {
                // SAFETY: The caller guarantees `ptr` is this field of a `$timer_type`.
                unsafe { ::kernel::container_of!(ptr, $timer_type, $field) }
            }
        }
    }
}

/// Cancels the timer of the struct at `this`: what every handle's [`HrTimerHandle::cancel`]
/// does.
///
/// # Safety
///
/// `this` must point to a valid `T`.
unsafe fn cancel_timer_of<T: HasHrTimer<T>>(this: *const T) -> bool {
    // SAFETY: The caller guarantees `this` is valid.
    let timer = unsafe { T::raw_get_timer(this) };
    // SAFETY: `timer` is the `HrTimer` field of a valid `T`.
    unsafe { HrTimer::<T>::raw_cancel(timer) }
}

/// Returns the struct whose timer `ptr` is, and the context of its callback: how every
/// [`RawHrTimerCallback::run`] starts.
///
/// # Safety
///
/// Only for [`RawHrTimerCallback::run`] implementations, with the timer being called back, which
/// must be the field of a `T`; the context must not outlive that call.
unsafe fn callback_parts<'a, T: HasHrTimer<T>>(
    ptr: *mut bindings::hrtimer,
) -> (*mut T, HrTimerCallbackContext<'a, T>) {
    // `HrTimer` is a `repr(C)` wrapper of the C timer, its first field.
    let timer = ptr.cast::<HrTimer<T>>();
    // SAFETY: The caller guarantees the timer is the field of a `T`.
    let this = unsafe { T::timer_container_of(timer) };
    // SAFETY: The caller guarantees this is the callback of `timer`, which is live.
    let context = unsafe { HrTimerCallbackContext::from_raw(timer) };
    (this, context)
}

mod arc;
pub use arc::ArcHrTimerHandle;
mod pin;
pub use pin::PinHrTimerHandle;
mod pin_mut;
pub use pin_mut::PinMutHrTimerHandle;
// `box` is a keyword.
mod tbox;
pub use tbox::BoxHrTimerHandle;
