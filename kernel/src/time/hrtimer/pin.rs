//! Timers in structs borrowed as `Pin<&T>`.

use super::{
    HasHrTimer, HrTimer, HrTimerCallback, HrTimerCallbackContext, HrTimerHandle, HrTimerMode,
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
        let this: *const T = self.inner.get_ref();
        // SAFETY: `this` comes from a reference, so it points to a valid `T`.
        let timer = unsafe { <T as HasHrTimer<T>>::raw_get_timer(this) };
        // SAFETY: `timer` is the valid `HrTimer` field of that `T`.
        unsafe { HrTimer::<T>::raw_cancel(timer) }
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
        // `HrTimer` is a `repr(C)` wrapper of the C timer, its first field.
        let timer = ptr.cast::<HrTimer<T>>();
        // SAFETY: The timer core calls back the timer that was started, the field of a `T`.
        let this = unsafe { T::timer_container_of(timer) };
        // SAFETY: The handle borrows the `T` and cannot be dropped until this callback returns
        // (dropping it waits), so the `T` is valid; it was pinned when the timer was started.
        let target = unsafe { Pin::new_unchecked(&*this) };
        // SAFETY: This is the callback of `timer`, which is live.
        let context = unsafe { HrTimerCallbackContext::from_raw(timer) };
        T::run(target, context).into_c()
    }
}
