//! The generic lock and guard: [`Lock`], [`Guard`] and the [`Backend`] trait.
//!
//! Mirrors `rust/kernel/sync/lock.rs` of Linux 7.3. A [`Lock<T, B>`] protects a `T` with the
//! locking primitive of backend `B` ([`mutex::MutexBackend`], [`spinlock::SpinLockBackend`], ...);
//! [`Mutex`](super::Mutex) and [`SpinLock`](super::SpinLock) are its aliases. As in the kernel a
//! lock is initialised in place and pinned (`#[pin]` field and `<-` in `pin_init!`), and its guard
//! cannot be sent to another thread.

use super::LockClassKey;
use crate::{
    str::{CStr, CStrExt as _},
    types::{NotThreadSafe, Opaque, ScopeGuard},
};
use core::{cell::UnsafeCell, marker::PhantomPinned, pin::Pin};
use pin_init::{pin_data, pin_init, PinInit, Wrapper};

pub mod mutex;
pub mod spinlock;

pub(super) mod global;
pub use global::{GlobalGuard, GlobalLock, GlobalLockBackend, GlobalLockedBy};

/// A locking primitive that [`Lock`] can use.
///
/// Mirrors `kernel::sync::lock::Backend`.
///
/// # Safety
///
/// - Implementers must ensure that only one thread at a time holds the lock (between
///   [`Backend::lock`] or a successful [`Backend::try_lock`] and [`Backend::unlock`]);
/// - [`Backend::init`] must leave the state ready for the other functions, and the state must stay
///   valid where it is (it is pinned) until dropped.
pub unsafe trait Backend {
    /// The state of the lock (the kernel's C lock object).
    type State;

    /// The state a guard keeps while the lock is held (for example saved interrupt flags).
    type GuardState;

    /// Initialises the lock state at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for writes of a `State` and stay pinned; `name` must be a valid C
    /// string and `key` a valid lock class key, both living as long as the lock.
    unsafe fn init(
        ptr: *mut Self::State,
        name: *const crate::ffi::c_char,
        key: *mut crate::bindings::lock_class_key,
    );

    /// Acquires the lock, waiting as the primitive does.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a state initialised by [`Backend::init`].
    #[must_use]
    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState;

    /// Acquires the lock if it is free; returns `None` otherwise.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a state initialised by [`Backend::init`].
    unsafe fn try_lock(ptr: *mut Self::State) -> Option<Self::GuardState>;

    /// Releases the lock.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an initialised state of a lock the caller holds, and `guard_state` be
    /// what locking it returned.
    unsafe fn unlock(ptr: *mut Self::State, guard_state: &Self::GuardState);

    /// Reacquires a lock released with [`Backend::unlock`], updating the guard state.
    ///
    /// # Safety
    ///
    /// `ptr` must point to an initialised state, and `guard_state` be the state of the guard
    /// that released it.
    unsafe fn relock(ptr: *mut Self::State, guard_state: &mut Self::GuardState) {
        // SAFETY: The caller guarantees `ptr` points to an initialised state.
        *guard_state = unsafe { Self::lock(ptr) };
    }

    /// Asserts that the lock is held (the kernel checks with lockdep).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a state initialised by [`Backend::init`].
    unsafe fn assert_is_held(ptr: *mut Self::State);
}

/// A value of type `T` protected by a lock of backend `B`.
///
/// Mirrors `kernel::sync::lock::Lock`. Created with [`Lock::new`] (usually through
/// [`new_mutex!`](crate::sync::new_mutex) or [`new_spinlock!`](crate::sync::new_spinlock)) in a
/// pinned location.
#[repr(C)]
#[pin_data]
pub struct Lock<T: ?Sized, B: Backend> {
    /// The state of the lock.
    #[pin]
    state: Opaque<B::State>,

    /// Locks may refer to their own address, so they must not move.
    #[pin]
    _pin: PhantomPinned,

    /// The protected data.
    #[pin]
    pub(crate) data: UnsafeCell<T>,
}

// SAFETY: Sending a lock sends the `T` in it.
unsafe impl<T: ?Sized + Send, B: Backend> Send for Lock<T, B> {}

// SAFETY: The lock gives one thread at a time access to `T` (so `T: Send` suffices).
unsafe impl<T: ?Sized + Send, B: Backend> Sync for Lock<T, B> {}

impl<T, B: Backend> Lock<T, B> {
    /// Returns an initialiser of a lock protecting the value `t` initialises.
    ///
    /// `name` and `key` identify the lock for lockdep in the kernel; drydock has no lockdep and
    /// ignores them.
    pub fn new(
        t: impl PinInit<T>,
        name: &'static CStr,
        key: Pin<&'static LockClassKey>,
    ) -> impl PinInit<Self> {
        pin_init!(Self {
            data <- UnsafeCell::pin_init(t),
            _pin: PhantomPinned,
            // SAFETY: `slot` is valid for writes and pinned; `name` and `key` are `'static`.
            state <- Opaque::ffi_init(|slot| unsafe {
                B::init(slot, name.as_char_ptr(), key.as_ptr())
            }),
        })
    }
}

impl<B: Backend> Lock<(), B> {
    /// Returns the lock whose state is at `ptr`, protecting nothing.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a state initialised by [`Backend::init`] that stays valid for `'a`.
    #[inline]
    pub unsafe fn from_raw<'a>(ptr: *mut B::State) -> &'a Self {
        // SAFETY: `Lock<(), B>` is `repr(C)` with the state first and the other fields zero-sized,
        // and `Opaque` is transparent, so it has the layout of the state.
        unsafe { &*ptr.cast() }
    }
}

impl<T: ?Sized, B: Backend> Lock<T, B> {
    /// Acquires the lock and returns a guard giving access to the data.
    #[inline]
    pub fn lock(&self) -> Guard<'_, T, B> {
        // SAFETY: The state was initialised when the lock was.
        let state = unsafe { B::lock(self.state.get()) };
        // SAFETY: The lock was just acquired.
        unsafe { Guard::new(self, state) }
    }

    /// Acquires the lock if it is free, returning a guard; returns `None` otherwise.
    #[must_use = "if unused, the lock will be immediately unlocked"]
    #[inline]
    pub fn try_lock(&self) -> Option<Guard<'_, T, B>> {
        // SAFETY: The state was initialised when the lock was; when `try_lock` succeeds the lock
        // is held, as `Guard::new` requires.
        unsafe { B::try_lock(self.state.get()).map(|state| Guard::new(self, state)) }
    }
}

/// Proof that a lock is held, giving access to its data; dropping it releases the lock.
///
/// Mirrors `kernel::sync::lock::Guard`. Not `Send`: a lock is released by the thread that took it.
///
/// # Invariants
///
/// The lock `lock` is held by the current thread while the guard exists.
#[must_use = "the lock unlocks immediately when the guard is unused"]
pub struct Guard<'a, T: ?Sized, B: Backend> {
    pub(crate) lock: &'a Lock<T, B>,
    pub(crate) state: B::GuardState,
    _not_send: NotThreadSafe,
}

// SAFETY: Sharing a guard only shares `&T`.
unsafe impl<T: Sync + ?Sized, B: Backend> Sync for Guard<'_, T, B> {}

impl<'a, T: ?Sized, B: Backend> Guard<'a, T, B> {
    /// Returns the lock this guard holds.
    pub fn lock_ref(&self) -> &'a Lock<T, B> {
        self.lock
    }

    /// Releases the lock, runs `cb`, and reacquires the lock (also if `cb` panics).
    pub(crate) fn do_unlocked<U>(&mut self, cb: impl FnOnce() -> U) -> U {
        // SAFETY: By the type invariant the lock is held, with this guard's state.
        unsafe { B::unlock(self.lock.state.get(), &self.state) };
        let _relock = ScopeGuard::new(|| {
            // SAFETY: The lock was released above by this guard.
            unsafe { B::relock(self.lock.state.get(), &mut self.state) }
        });
        cb()
    }

    /// Returns the data pinned, for types that are not `Unpin`.
    pub fn as_mut(&mut self) -> Pin<&mut T> {
        // SAFETY: The lock is held, so access is exclusive; the data is pinned inside the lock,
        // and the pin is passed on.
        unsafe { Pin::new_unchecked(&mut *self.lock.data.get()) }
    }
}

impl<T: ?Sized, B: Backend> core::ops::Deref for Guard<'_, T, B> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &Self::Target {
        // SAFETY: The lock is held, so no other thread accesses the data.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized, B: Backend> core::ops::DerefMut for Guard<'_, T, B>
where
    T: Unpin,
{
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: The lock is held and the guard borrowed mutably, so access is exclusive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized, B: Backend> Drop for Guard<'_, T, B> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant the lock is held, with this guard's state.
        unsafe { B::unlock(self.lock.state.get(), &self.state) };
    }
}

impl<'a, T: ?Sized, B: Backend> Guard<'a, T, B> {
    /// Returns a guard for a lock the caller holds.
    ///
    /// # Safety
    ///
    /// The current thread must hold `lock`, with guard state `state`, and give up releasing it
    /// itself: the guard will.
    #[inline]
    pub unsafe fn new(lock: &'a Lock<T, B>, state: B::GuardState) -> Self {
        // SAFETY: The state of a lock is initialised.
        unsafe { B::assert_is_held(lock.state.get()) };
        // INVARIANT: Guaranteed by the caller.
        Self {
            lock,
            state,
            _not_send: NotThreadSafe,
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use crate::sync::{new_mutex, new_spinlock, Arc, Mutex, SpinLock};

    /// Threads and increments per thread of the contention tests (fewer under Miri, which is
    /// slow).
    const THREADS: usize = 4;
    const ROUNDS: usize = if cfg!(miri) { 50 } else { 20_000 };

    /// Increments a counter under the lock from several threads, with the read and the write of
    /// each increment separated by a yield, so that a lock that let two threads in would lose
    /// updates.
    fn hammer<B: super::Backend + 'static>(lock: Arc<super::Lock<usize, B>>) {
        let threads: std::vec::Vec<_> = (0..THREADS)
            .map(|_| {
                let lock = lock.clone();
                std::thread::spawn(move || {
                    for i in 0..ROUNDS {
                        let mut guard = lock.lock();
                        let seen = *guard;
                        if i % 64 == 0 {
                            std::thread::yield_now();
                        }
                        *guard = seen + 1;
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(*lock.lock(), THREADS * ROUNDS);
    }

    #[test]
    fn mutex_excludes_under_contention() {
        hammer(Arc::pin_init(new_mutex!(0usize), GFP_KERNEL).unwrap());
    }

    #[test]
    fn spinlock_excludes_under_contention() {
        hammer(Arc::pin_init(new_spinlock!(0usize, "counter"), GFP_KERNEL).unwrap());
    }

    #[test]
    fn spinlock_irq_excludes_under_contention() {
        hammer(Arc::pin_init(crate::sync::new_spinlock_irq!(0usize), GFP_KERNEL).unwrap());
    }

    #[test]
    fn try_lock_fails_while_held() {
        let m: Pin<KBox<Mutex<u8>>> = KBox::pin_init(new_mutex!(1), GFP_KERNEL).unwrap();
        let s: Pin<KBox<SpinLock<u8>>> = KBox::pin_init(new_spinlock!(1), GFP_KERNEL).unwrap();
        let g = m.lock();
        assert!(m.try_lock().is_none());
        assert!(core::ptr::eq(g.lock_ref(), &*m));
        drop(g);
        assert_eq!(m.try_lock().map(|g| *g), Some(1));
        let g = s.lock();
        assert!(s.try_lock().is_none());
        drop(g);
        assert!(s.try_lock().is_some());
    }

    #[test]
    fn do_unlocked_releases_and_relocks() {
        let m = KBox::pin_init(new_mutex!(0u8), GFP_KERNEL).unwrap();
        let mut g = m.lock();
        g.do_unlocked(|| {
            let mut other = m.try_lock().expect("released while the closure runs");
            *other = 5;
        });
        assert_eq!(*g, 5);
        assert!(m.try_lock().is_none());
    }

    #[test]
    fn global_locks() {
        crate::sync::global_lock! {
            // SAFETY: Initialised at the start of the test, before any use.
            unsafe(uninit) static TOTAL: SpinLock<u32> = 0;
        }
        // SAFETY: Called once, before any other use.
        unsafe { TOTAL.init() };
        let mut locked: crate::sync::GlobalLockedBy<u32, TOTAL> =
            crate::sync::GlobalLockedBy::new(1);
        std::thread::scope(|s| {
            for _ in 0..THREADS {
                s.spawn(|| *TOTAL.lock() += 1);
            }
        });
        let mut guard = TOTAL.lock();
        assert_eq!(*guard, 4);
        *locked.as_mut(&mut guard) += 1;
        assert_eq!(*locked.as_ref(&guard), 2);
        assert!(TOTAL.try_lock().is_none());
        drop(guard);
        assert_eq!(*locked.get_mut(), 2);
    }
}
