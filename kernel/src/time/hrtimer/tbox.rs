//! Timers in structs owned by a `Pin<Box<T, A>>`.

use super::{
    callback_parts, cancel_timer_of, HasHrTimer, HrTimerCallback, HrTimerHandle, HrTimerMode,
    HrTimerPointer, RawHrTimerCallback,
};
use crate::bindings;
use crate::prelude::*;
use core::ptr::NonNull;

/// The handle of a timer started through a `Pin<Box<T, A>>`: it owns the box, and frees it when
/// dropped, after cancelling the timer.
///
/// Mirrors `kernel::time::hrtimer::BoxHrTimerHandle`.
///
/// # Invariants
///
/// `inner` comes from `Box::into_raw`.
pub struct BoxHrTimerHandle<T, A>
where
    T: HasHrTimer<T>,
    A: crate::alloc::Allocator,
{
    pub(crate) inner: NonNull<T>,
    _p: core::marker::PhantomData<A>,
}

// SAFETY: `cancel` cancels the timer and waits for its callback, and `drop` calls it.
unsafe impl<T, A> HrTimerHandle for BoxHrTimerHandle<T, A>
where
    T: HasHrTimer<T>,
    A: crate::alloc::Allocator,
{
    fn cancel(&mut self) -> bool {
        // SAFETY: By the type invariant, `inner` is the handle's live box.
        unsafe { cancel_timer_of(self.inner.as_ptr()) }
    }
}

impl<T, A> Drop for BoxHrTimerHandle<T, A>
where
    T: HasHrTimer<T>,
    A: crate::alloc::Allocator,
{
    fn drop(&mut self) {
        self.cancel();
        // SAFETY: By the type invariant, `inner` comes from `Box::into_raw`; the timer is
        // stopped, so nothing else uses the box.
        drop(unsafe { Box::<T, A>::from_raw(self.inner.as_ptr()) })
    }
}

impl<T, A> HrTimerPointer for Pin<Box<T, A>>
where
    T: 'static,
    T: Send + Sync,
    T: HasHrTimer<T>,
    T: for<'a> HrTimerCallback<Pointer<'a> = Pin<Box<T, A>>>,
    A: crate::alloc::Allocator,
{
    type TimerMode = <T as HasHrTimer<T>>::TimerMode;
    type TimerHandle = BoxHrTimerHandle<T, A>;

    fn start(
        self,
        expires: <<T as HasHrTimer<T>>::TimerMode as HrTimerMode>::Expires,
    ) -> Self::TimerHandle {
        // SAFETY: The contents are not moved: the handle keeps the box where it is, and the
        // callback gets them pinned again.
        let boxed = unsafe { Pin::into_inner_unchecked(self) };
        let inner = NonNull::from(Box::leak(boxed));
        // SAFETY: `inner` points to the box's `T`, which the handle frees only after cancelling.
        unsafe { T::start(inner.as_ptr(), expires) };
        // INVARIANT: `Box::leak` is `Box::into_raw` made a reference.
        BoxHrTimerHandle {
            inner,
            _p: core::marker::PhantomData,
        }
    }
}

impl<T, A> RawHrTimerCallback for Pin<Box<T, A>>
where
    T: 'static,
    T: HasHrTimer<T>,
    T: for<'a> HrTimerCallback<Pointer<'a> = Pin<Box<T, A>>>,
    A: crate::alloc::Allocator,
{
    type CallbackTarget<'a> = Pin<&'a mut T>;

    unsafe extern "C" fn run(ptr: *mut bindings::hrtimer) -> bindings::hrtimer_restart {
        // SAFETY: The timer core calls back the timer that was started, the field of a `T`.
        let (this, context) = unsafe { callback_parts::<T>(ptr) };
        // SAFETY: The handle owns the box and cannot free it until this callback returns
        // (dropping it waits), and only lends it pinned; the callback is its only user meanwhile.
        let target = unsafe { Pin::new_unchecked(&mut *this) };
        T::run(target, context).into_c()
    }
}
