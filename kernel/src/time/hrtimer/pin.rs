//! Timers in structs borrowed as `Pin<&T>`.

use super::{
    callback_parts, cancel_timer_of, HasHrTimer, HrTimerCallback, HrTimerHandle, HrTimerMode,
    RawHrTimerCallback, UnsafeHrTimerPointer,
};
use crate::bindings;
use core::pin::Pin;

/// The handle of a timer started through a `Pin<&'a T>`; the timer may be started or running
/// while it exists.
///
/// Mirrors `kernel::time::hrtimer::PinHrTimerHandle`. Dropping it cancels the timer.
pub struct PinHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    pub(crate) inner: Pin<&'a T>,
}

// SAFETY: `cancel` cancels the timer and waits for its callback, and `drop` calls it.
unsafe impl<'a, T> HrTimerHandle for PinHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    fn cancel(&mut self) -> bool {
        // SAFETY: The handle borrows the `T`, so it is valid.
        unsafe { cancel_timer_of(self.inner.get_ref()) }
    }
}

impl<'a, T> Drop for PinHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    fn drop(&mut self) {
        self.cancel();
    }
}

// SAFETY: The handle borrows the `T` for `'a`, so the `T` outlives it.
unsafe impl<'a, T> UnsafeHrTimerPointer for Pin<&'a T>
where
    T: Send + Sync,
    T: HasHrTimer<T>,
    T: HrTimerCallback<Pointer<'a> = Self>,
{
    type TimerMode = <T as HasHrTimer<T>>::TimerMode;
    type TimerHandle = PinHrTimerHandle<'a, T>;

    unsafe fn start(
        self,
        expires: <<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Expires,
    ) -> Self::TimerHandle {
        let this: *const T = self.get_ref();
        // SAFETY: `this` comes from a reference; the caller keeps the `T` alive until the timer
        // is stopped.
        unsafe { T::start(this, expires) };
        PinHrTimerHandle { inner: self }
    }
}

impl<'a, T> RawHrTimerCallback for Pin<&'a T>
where
    T: HasHrTimer<T>,
    T: HrTimerCallback<Pointer<'a> = Self>,
{
    type CallbackTarget<'b> = Self;

    unsafe extern "C" fn run(ptr: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: The timer core calls back the timer that was started, the field of a `T`.
        let (this, context) = unsafe { callback_parts::<T>(ptr) };
        // SAFETY: The handle borrows the `T` and cannot be dropped until this callback returns
        // (dropping it waits), so the `T` is valid; it was pinned when the timer was started.
        let target = unsafe { Pin::new_unchecked(&*this) };
        T::run(target, context).into_c()
    }
}
