//! Values whose access can be revoked: [`Revocable`].
//!
//! Mirrors `rust/kernel/revocable.rs` of Linux 7.3. Readers reach the value inside an RCU
//! read-side critical section ([`rcu::Guard`]); [`Revocable::revoke`] marks the value unavailable,
//! waits for a grace period, so that every reader that saw it available is done, and then drops
//! it. In drydock the grace period is the one of [`drydock_host::rcu`].

use crate::{
    sync::{
        atomic::{AtomicFlag, Relaxed},
        rcu,
    },
    try_pin_init,
    types::Opaque,
};
use core::{marker::PhantomData, ops::Deref, pin::Pin, ptr::drop_in_place};
use pin_init::{pin_data, pinned_drop, PinInit, Wrapper};

/// A value that can be revoked: once revoked, it is dropped and no longer reachable.
///
/// Mirrors `kernel::revocable::Revocable`. The kernel uses it for resources that disappear when a
/// device is unbound (the I/O mappings behind `Devres`): accessors either get the value or learn
/// it is gone, and the value is dropped exactly once, when no accessor uses it any more.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::revocable::Revocable;
///
/// struct Example {
///     a: u32,
///     b: u32,
/// }
///
/// fn add_two(v: &Revocable<Example>) -> Option<u32> {
///     let guard = v.try_access()?;
///     Some(guard.a + guard.b)
/// }
///
/// let v = KBox::pin_init(Revocable::new(Example { a: 10, b: 20 }), GFP_KERNEL)?;
/// assert_eq!(add_two(&v), Some(30));
/// assert!(v.revoke());
/// assert_eq!(add_two(&v), None);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `data` holds a valid `T` while `is_available` is `true`, and the `T` is dropped at most once;
/// - readers only reach `data` inside an RCU read-side critical section that began while
///   `is_available` was `true`.
#[pin_data(PinnedDrop)]
pub struct Revocable<T> {
    is_available: AtomicFlag,
    #[pin]
    data: Opaque<T>,
}

// SAFETY: Sending a `Revocable` sends the `T` in it (and may drop it on the other thread).
unsafe impl<T: Send> Send for Revocable<T> {}

// SAFETY: Sharing a `Revocable` shares `&T` with readers (`T: Sync`) and lets any thread revoke,
// which drops the `T` there (`T: Send`).
unsafe impl<T: Sync + Send> Sync for Revocable<T> {}

impl<T> Revocable<T> {
    /// Returns an initialiser of a revocable holding the value `data` initialises.
    pub fn new<E>(data: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        // INVARIANT: The value is initialised and available.
        try_pin_init!(Self {
            is_available: AtomicFlag::new(true),
            data <- Opaque::pin_init(data),
        }? E)
    }

    /// Returns a guard giving access to the value, or `None` if it was revoked.
    ///
    /// The value is not dropped while the guard lives; a concurrent [`Revocable::revoke`] waits
    /// for it. The guard holds an RCU read-side critical section, so it must not be kept long.
    pub fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        let guard = rcu::read_lock();
        if self.is_available.load(Relaxed) {
            // INVARIANT: The value was available inside the critical section `guard` holds.
            Some(RevocableGuard::new(self.data.get(), guard))
        } else {
            None
        }
    }

    /// Returns the value, or `None` if it was revoked, for as long as the given RCU critical
    /// section lasts.
    pub fn try_access_with_guard<'a>(&'a self, _guard: &'a rcu::Guard) -> Option<&'a T> {
        if self.is_available.load(Relaxed) {
            // SAFETY: The value is available and the critical section `_guard` proves lasts for
            // `'a`, so a revocation waits for `'a` to end before dropping it.
            Some(unsafe { &*self.data.get() })
        } else {
            None
        }
    }

    /// Runs `f` on the value and returns its result, or returns `None` if the value was revoked.
    pub fn try_access_with<R, F: FnOnce(&T) -> R>(&self, f: F) -> Option<R> {
        self.try_access().map(|t| f(&*t))
    }

    /// Returns the value without checking that it is available.
    ///
    /// # Safety
    ///
    /// The caller must ensure the value is not revoked while the reference lives.
    pub unsafe fn access(&self) -> &T {
        // SAFETY: The caller guarantees the value is available for the reference's lifetime.
        unsafe { &*self.data.get() }
    }

    /// Marks the value unavailable and, if this call did so, drops it once it is safe.
    ///
    /// # Safety
    ///
    /// If `SYNC` is `false`, the caller must ensure no reader is using the value.
    unsafe fn revoke_internal<const SYNC: bool>(&self) -> bool {
        let revoke = self.is_available.xchg(false, Relaxed);
        if revoke {
            if SYNC {
                // Every reader that saw the value available is inside a critical section that
                // began before the flag changed; wait for all of them to end.
                rcu::synchronize_rcu();
            }
            // SAFETY: This call changed the flag, so it alone drops the value, which was valid;
            // no reader uses it (the grace period, or the caller's guarantee). The flag stays
            // `false`, so it is never reached again.
            unsafe { drop_in_place(self.data.get()) };
        }
        revoke
    }

    /// Revokes access and drops the value without waiting for readers.
    ///
    /// Returns `true` if this call revoked it, `false` if it was already revoked.
    ///
    /// # Safety
    ///
    /// No reader may be using the value (no [`RevocableGuard`] or reference from
    /// [`Revocable::try_access_with_guard`] alive).
    pub unsafe fn revoke_nosync(&self) -> bool {
        // SAFETY: Guaranteed by the caller.
        unsafe { self.revoke_internal::<false>() }
    }

    /// Revokes access, waits until no reader uses the value, and drops it.
    ///
    /// Returns `true` if this call revoked it, `false` if it was already revoked. Must not be
    /// called while the calling thread holds a [`RevocableGuard`] (it would wait for itself).
    pub fn revoke(&self) -> bool {
        // SAFETY: With `SYNC`, `revoke_internal` waits for readers itself.
        unsafe { self.revoke_internal::<true>() }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for Revocable<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The `Revocable` is being dropped, so nothing moves out of it.
        let p = unsafe { self.get_unchecked_mut() };
        if *p.is_available.get_mut() {
            // SAFETY: The value is available, hence valid, and the exclusive access means no
            // reader exists; it is dropped here only.
            unsafe { drop_in_place(p.data.get()) };
        }
    }
}

/// Access to a [`Revocable`]'s value; the value is not dropped while the guard lives.
///
/// Mirrors `kernel::revocable::RevocableGuard`. It holds an RCU read-side critical section.
///
/// # Invariants
///
/// `data_ref` points to a valid `T` that is not dropped until `_rcu_guard` is.
pub struct RevocableGuard<'a, T> {
    data_ref: *const T,
    _rcu_guard: rcu::Guard,
    _p: PhantomData<&'a ()>,
}

impl<T> RevocableGuard<'_, T> {
    /// Returns a guard for the value at `data_ref`, protected by `rcu_guard`.
    fn new(data_ref: *const T, rcu_guard: rcu::Guard) -> Self {
        Self {
            data_ref,
            _rcu_guard: rcu_guard,
            _p: PhantomData,
        }
    }
}

impl<T> Deref for RevocableGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariant the value is valid while the guard lives.
        unsafe { &*self.data_ref }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::time::Duration;

    /// Counts its drops in the given counter.
    struct Counted(&'static AtomicUsize);

    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn revoke_waits_for_a_reader_and_drops_once() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let r = crate::sync::Arc::pin_init(Revocable::new(Counted(&DROPS)), GFP_KERNEL).unwrap();
        let holding = std::sync::Arc::new(AtomicBool::new(false));
        let released = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let (r, holding, released) = (r.clone(), holding.clone(), released.clone());
            std::thread::spawn(move || {
                let guard = r.try_access().expect("not revoked yet");
                holding.store(true, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(100));
                assert_eq!(DROPS.load(Ordering::SeqCst), 0, "dropped under a reader");
                released.store(true, Ordering::SeqCst);
                drop(guard);
            })
        };
        while !holding.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        assert!(r.revoke());
        assert!(
            released.load(Ordering::SeqCst),
            "revoke returned while a reader held the value"
        );
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
        reader.join().unwrap();

        assert!(r.try_access().is_none());
        assert!(r.try_access_with(|_| ()).is_none());
        assert!(r.try_access_with_guard(&rcu::read_lock()).is_none());
        assert!(!r.revoke());
        drop(r);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn dropping_an_unrevoked_value_drops_it() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let r = KBox::pin_init(Revocable::new(Counted(&DROPS)), GFP_KERNEL).unwrap();
        assert!(r.try_access_with(|c| core::ptr::eq(c.0, &DROPS)).unwrap());
        drop(r);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);

        static NOSYNC: AtomicUsize = AtomicUsize::new(0);
        let r = KBox::pin_init(Revocable::new(Counted(&NOSYNC)), GFP_KERNEL).unwrap();
        // SAFETY: No reader exists.
        assert!(unsafe { r.revoke_nosync() });
        // SAFETY: As above.
        assert!(!unsafe { r.revoke_nosync() });
        drop(r);
        assert_eq!(NOSYNC.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn concurrent_revokers_drop_once() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let r = crate::sync::Arc::pin_init(Revocable::new(Counted(&DROPS)), GFP_KERNEL).unwrap();
        let winners = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    if r.revoke() {
                        winners.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        assert_eq!(winners.load(Ordering::SeqCst), 1);
        assert_eq!(DROPS.load(Ordering::SeqCst), 1);
    }
}
