//! Timers in structs held by an [`Arc`].

use super::{
    callback_parts, cancel_timer_of, HasHrTimer, HrTimerCallback, HrTimerHandle, HrTimerMode,
    HrTimerPointer, RawHrTimerCallback,
};
use crate::bindings;
use crate::sync::{Arc, ArcBorrow};

/// The handle of a timer started through an `Arc<T>`: it holds a reference, so the struct lives
/// while the timer may run.
///
/// Mirrors `kernel::time::hrtimer::ArcHrTimerHandle`. Dropping it cancels the timer.
pub struct ArcHrTimerHandle<T>
where
    T: HasHrTimer<T>,
{
    pub(crate) inner: Arc<T>,
}

// SAFETY: `cancel` cancels the timer and waits for its callback, and `drop` calls it.
unsafe impl<T> HrTimerHandle for ArcHrTimerHandle<T>
where
    T: HasHrTimer<T>,
{
    fn cancel(&mut self) -> bool {
        // SAFETY: The handle's `Arc` keeps the `T` alive.
        unsafe { cancel_timer_of(Arc::as_ptr(&self.inner)) }
    }
}

impl<T> Drop for ArcHrTimerHandle<T>
where
    T: HasHrTimer<T>,
{
    fn drop(&mut self) {
        self.cancel();
    }
}

impl<T> HrTimerPointer for Arc<T>
where
    T: 'static,
    T: Send + Sync,
    T: HasHrTimer<T>,
    T: for<'a> HrTimerCallback<Pointer<'a> = Self>,
{
    type TimerMode = <T as HasHrTimer<T>>::TimerMode;
    type TimerHandle = ArcHrTimerHandle<T>;

    fn start(
        self,
        expires: <<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Expires,
    ) -> ArcHrTimerHandle<T> {
        // SAFETY: The pointer comes from a live `Arc`, which the handle keeps until the timer is
        // cancelled.
        unsafe { T::start(Arc::as_ptr(&self), expires) };
        ArcHrTimerHandle { inner: self }
    }
}

impl<T> RawHrTimerCallback for Arc<T>
where
    T: 'static,
    T: HasHrTimer<T>,
    T: for<'a> HrTimerCallback<Pointer<'a> = Self>,
{
    type CallbackTarget<'a> = ArcBorrow<'a, T>;

    unsafe extern "C" fn run(ptr: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: The timer core calls back the timer that was started, the field of a `T`.
        let (this, context) = unsafe { callback_parts::<T>(ptr) };
        // SAFETY: `this` came from `Arc::as_ptr`, and the handle that keeps that `Arc` alive
        // cannot be dropped until this callback returns (dropping it waits). No `UniqueArc` can
        // exist while the handle holds a reference.
        let target = unsafe { ArcBorrow::from_raw(this) };
        T::run(target, context).into_c()
    }
}
