//! Timers in structs borrowed as `Pin<&mut T>`.

use super::{
    callback_parts, cancel_timer_of, HasHrTimer, HrTimerCallback, HrTimerHandle, HrTimerMode,
    RawHrTimerCallback, UnsafeHrTimerPointer,
};
use crate::bindings;
use core::{marker::PhantomData, pin::Pin, ptr::NonNull};

/// The handle of a timer started through a `Pin<&'a mut T>`; the timer may be started or running
/// while it exists.
///
/// Mirrors `kernel::time::hrtimer::PinMutHrTimerHandle`. Dropping it cancels the timer.
pub struct PinMutHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    pub(crate) inner: NonNull<T>,
    _p: PhantomData<&'a mut T>,
}

// SAFETY: `cancel` cancels the timer and waits for its callback, and `drop` calls it.
unsafe impl<'a, T> HrTimerHandle for PinMutHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    fn cancel(&mut self) -> bool {
        // SAFETY: `inner` comes from the `&'a mut T` the handle borrows, so it is valid.
        unsafe { cancel_timer_of(self.inner.as_ptr()) }
    }
}

impl<'a, T> Drop for PinMutHrTimerHandle<'a, T>
where
    T: HasHrTimer<T>,
{
    fn drop(&mut self) {
        self.cancel();
    }
}

// SAFETY: The handle borrows the `T` mutably for `'a`, so the `T` outlives it.
unsafe impl<'a, T> UnsafeHrTimerPointer for Pin<&'a mut T>
where
    T: Send + Sync,
    T: HasHrTimer<T>,
    T: HrTimerCallback<Pointer<'a> = Self>,
{
    type TimerMode = <T as HasHrTimer<T>>::TimerMode;
    type TimerHandle = PinMutHrTimerHandle<'a, T>;

    unsafe fn start(
        mut self,
        expires: <<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Expires,
    ) -> Self::TimerHandle {
        // SAFETY: The `T` is not moved out of: its address goes to the handle, which gives it to
        // the callback pinned again.
        let this = NonNull::from(unsafe { self.as_mut().get_unchecked_mut() });
        // SAFETY: `this` comes from a reference; the caller keeps the `T` alive until the timer
        // is stopped.
        unsafe { T::start(this.as_ptr(), expires) };
        PinMutHrTimerHandle {
            inner: this,
            _p: PhantomData,
        }
    }
}

impl<'a, T> RawHrTimerCallback for Pin<&'a mut T>
where
    T: HasHrTimer<T>,
    T: HrTimerCallback<Pointer<'a> = Self>,
{
    type CallbackTarget<'b> = Self;

    unsafe extern "C" fn run(ptr: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: The timer core calls back the timer that was started, the field of a `T`.
        let (this, context) = unsafe { callback_parts::<T>(ptr) };
        // SAFETY: The handle borrows the `T` mutably and cannot be dropped until this callback
        // returns (dropping it waits), so the `T` is valid and this is its only user; it was
        // pinned when the timer was started.
        let target = unsafe { Pin::new_unchecked(&mut *this) };
        T::run(target, context).into_c()
    }
}
