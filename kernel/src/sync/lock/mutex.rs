//! A mutex: a lock whose contended lockers sleep.
//!
//! Mirrors `rust/kernel/sync/lock/mutex.rs` of Linux 7.3. In the kernel the backend is the C
//! `struct mutex`; in drydock it is [`RawMutex`], a futex-based mutex: lockers that find it held
//! sleep in the kernel until the holder releases it. It is not recursive and has no owner
//! tracking; locking a mutex twice from one thread deadlocks, as in the kernel.

use drydock_host::sync::RawMutex;

/// Creates a [`Mutex`] initialiser with the given name (or one made of the source location) and
/// a new lock class.
///
/// Mirrors the kernel's `new_mutex!`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{new_mutex, Mutex};
///
/// #[pin_data]
/// struct Counter {
///     #[pin]
///     value: Mutex<u32>,
/// }
///
/// let counter = KBox::pin_init(pin_init!(Counter { value <- new_mutex!(0, "counter") }), GFP_KERNEL)?;
/// *counter.value.lock() += 1;
/// assert_eq!(*counter.value.lock(), 1);
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
macro_rules! new_mutex {
    ($inner:expr $(, $name:literal)? $(,)?) => {
        $crate::sync::Mutex::new(
            $inner, $crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_mutex;

/// A mutual-exclusion lock whose contended lockers sleep.
///
/// Mirrors `kernel::sync::Mutex`: a [`Lock`](super::Lock) with the [`MutexBackend`]. It may be
/// held across sleeping operations (another lock, a condition variable wait, an allocation).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{new_mutex, Arc, Mutex};
///
/// let shared = Arc::pin_init(new_mutex!(0u64), GFP_KERNEL)?;
/// let handles: std::vec::Vec<_> = (0..4)
///     .map(|_| {
///         let shared = shared.clone();
///         std::thread::spawn(move || {
///             for _ in 0..100 {
///                 *shared.lock() += 1;
///             }
///         })
///     })
///     .collect();
/// for h in handles {
///     h.join().unwrap();
/// }
/// assert_eq!(*shared.lock(), 400);
/// # Ok::<(), Error>(())
/// ```
pub type Mutex<T> = super::Lock<T, MutexBackend>;

/// The guard of a held [`Mutex`].
///
/// Mirrors `kernel::sync::MutexGuard`.
pub type MutexGuard<'a, T> = super::Guard<'a, T, MutexBackend>;

/// The backend of [`Mutex`].
///
/// Mirrors `kernel::sync::lock::mutex::MutexBackend`; its state is a futex-based [`RawMutex`]
/// rather than the kernel's `struct mutex`.
pub struct MutexBackend;

// SAFETY: `RawMutex` lets one thread at a time hold it; the state is initialised by `init` and
// needs no cleanup.
unsafe impl super::Backend for MutexBackend {
    type State = RawMutex;
    type GuardState = ();

    #[inline]
    unsafe fn init(
        ptr: *mut Self::State,
        _name: *const crate::ffi::c_char,
        _key: *mut crate::bindings::lock_class_key,
    ) {
        // SAFETY: The caller guarantees `ptr` is valid for writes.
        unsafe { ptr.write(RawMutex::new()) }
    }

    #[inline]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: The caller guarantees `ptr` points to an initialised state.
        unsafe { &*ptr }.lock();
    }

    #[inline]
    unsafe fn unlock(ptr: *mut Self::State, _guard_state: &Self::GuardState) {
        // SAFETY: The caller guarantees `ptr` points to an initialised state it holds.
        unsafe { &*ptr }.unlock();
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
