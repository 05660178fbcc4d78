//! Spin locks: locks whose contended lockers busy-wait.
//!
//! Mirrors `rust/kernel/sync/lock/spinlock.rs` of Linux 7.3. In the kernel the backend is the C
//! `spinlock_t`; in drydock it is [`RawSpinLock`], a test-and-set lock on which contended lockers
//! spin. A thread holding a spin lock can be preempted here, which the kernel prevents; so that
//! the holder gets to run, a locker that has spun for a while yields the processor before spinning
//! again. Holding a spin lock while sleeping is a bug in the kernel and stays one here.
//!
//! [`SpinLockIrq`] is, in the kernel, a spin lock that also disables local interrupts while held.
//! A process has no interrupts to disable: drydock delivers simulated device interrupts on a
//! thread of their own, which contends for the lock like any other thread, so [`SpinLockIrq`]
//! behaves as [`SpinLock`]. Not yet mirrored: `SpinLockIrq::lock_with` and `try_lock_with`, which
//! need the `interrupt` module's `LocalInterruptDisabled`.

use super::{Backend, Guard, Lock};
use drydock_host::sync::RawSpinLock;

/// Creates a [`SpinLock`] initialiser with the given name (or one made of the source location)
/// and a new lock class.
///
/// Mirrors the kernel's `new_spinlock!`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{new_spinlock, SpinLock};
///
/// #[pin_data]
/// struct Stats {
///     #[pin]
///     irqs: SpinLock<u64>,
/// }
///
/// let stats = KBox::pin_init(pin_init!(Stats { irqs <- new_spinlock!(0) }), GFP_KERNEL)?;
/// *stats.irqs.lock() += 1;
/// assert_eq!(*stats.irqs.lock(), 1);
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
macro_rules! new_spinlock {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLock::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock;

/// A mutual-exclusion lock whose contended lockers busy-wait.
///
/// Mirrors `kernel::sync::SpinLock`: a [`Lock`] with the [`SpinLockBackend`]. For short critical
/// sections that do not sleep.
pub type SpinLock<T> = Lock<T, SpinLockBackend>;

/// The backend of [`SpinLock`].
///
/// Mirrors `kernel::sync::lock::spinlock::SpinLockBackend`; its state is a [`RawSpinLock`] rather
/// than the kernel's `spinlock_t`.
pub struct SpinLockBackend;

/// The guard of a held [`SpinLock`].
///
/// Mirrors `kernel::sync::SpinLockGuard`.
pub type SpinLockGuard<'a, T> = Guard<'a, T, SpinLockBackend>;

// SAFETY: `RawSpinLock` lets one thread at a time hold it; the state is initialised by `init` and
// needs no cleanup.
unsafe impl Backend for SpinLockBackend {
    type State = RawSpinLock;
    type GuardState = ();

    #[inline]
    unsafe fn init(
        ptr: *mut Self::State,
        _name: *const crate::ffi::c_char,
        _key: *mut crate::bindings::lock_class_key,
    ) {
        // SAFETY: The caller guarantees `ptr` is valid for writes.
        unsafe { ptr.write(RawSpinLock::new()) }
    }

    #[inline]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller guarantees `ptr` points to an initialised state.
        unsafe { &*ptr }.lock()
    }

    #[inline]
    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller guarantees `ptr` points to an initialised state it holds.
        unsafe { &*ptr }.unlock()
    }

    #[inline]
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller guarantees `ptr` points to an initialised state.
        unsafe { &*ptr }.try_lock().then_some(())
    }

    #[inline]
    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller guarantees `ptr` points to an initialised state.
        let held = unsafe { &*ptr }.is_locked();
        debug_assert!(held);
    }
}

/// Creates a [`SpinLockIrq`] initialiser with the given name (or one made of the source location)
/// and a new lock class.
///
/// Mirrors the kernel's `new_spinlock_irq!`.
#[macro_export]
macro_rules! new_spinlock_irq {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::SpinLockIrq::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_spinlock_irq;

/// A spin lock that, in the kernel, also disables local interrupts while held.
///
/// Mirrors `kernel::sync::SpinLockIrq`; see the [module documentation](self) for how it behaves
/// here.
pub type SpinLockIrq<T> = Lock<T, SpinLockIrqBackend>;

/// The backend of [`SpinLockIrq`].
///
/// Mirrors `kernel::sync::lock::spinlock::SpinLockIrqBackend`.
pub struct SpinLockIrqBackend;

/// The guard of a held [`SpinLockIrq`].
///
/// Mirrors `kernel::sync::SpinLockIrqGuard`.
pub type SpinLockIrqGuard<'a, T> = Guard<'a, T, SpinLockIrqBackend>;

// SAFETY: The same primitive as `SpinLockBackend`, which is a valid backend.
unsafe impl Backend for SpinLockIrqBackend {
    type State = RawSpinLock;
    type GuardState = ();

    #[inline]
    unsafe fn init(
        ptr: *mut Self::State,
        name: *const crate::ffi::c_char,
        key: *mut crate::bindings::lock_class_key,
    ) {
        // SAFETY: The caller's guarantees are those of `SpinLockBackend::init`.
        unsafe { SpinLockBackend::init(ptr, name, key) }
    }

    #[inline]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller's guarantees are those of `SpinLockBackend::lock`.
        unsafe { SpinLockBackend::lock(ptr) }
    }

    #[inline]
    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState) {
        // SAFETY: The caller's guarantees are those of `SpinLockBackend::unlock`.
        unsafe { SpinLockBackend::unlock(ptr, guard_state) }
    }

    #[inline]
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState> {
        // SAFETY: The caller's guarantees are those of `SpinLockBackend::try_lock`.
        unsafe { SpinLockBackend::try_lock(ptr) }
    }

    #[inline]
    unsafe fn assert_is_held(ptr: *mut Self::State) {
        // SAFETY: The caller's guarantees are those of `SpinLockBackend::assert_is_held`.
        unsafe { SpinLockBackend::assert_is_held(ptr) }
    }
}
