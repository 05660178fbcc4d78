//! XArrays: sparse arrays of owned values, indexed by `usize`.
//!
//! Mirrors `rust/kernel/xarray.rs` of Linux 7.3, over the host's [`drydock_host::xarray`] as the
//! kernel's is over C's `struct xarray`. Its lock is a spin lock, held by a [`Guard`]; a store to
//! an index that holds nothing may allocate, and fails with `ENOMEM` when that fails (the host
//! asks the fault-injection hook). How the host's XArray differs from C's, invisibly to this API,
//! is in [`drydock_host::xarray`].
//!
//! C header: `include/linux/xarray.h`.

use crate::{
    alloc, bindings,
    build_assert::build_assert,
    error::{Error, Result},
    ffi::c_void,
    types::{ForeignOwnable, NotThreadSafe, Opaque},
};
use core::{iter, marker::PhantomData, pin::Pin, ptr::NonNull};
use drydock_host::xarray::{
    __xa_erase, __xa_store, xa_destroy, xa_err, xa_find, xa_find_after, xa_init_flags, xa_load,
    xa_lock, xa_trylock, xa_unlock,
};
use pin_init::{pin_data, pin_init, pinned_drop, PinInit};

/// A sparse array of owned values ([`ForeignOwnable`]s, such as [`KBox`](crate::alloc::KBox)es
/// or [`Arc`](crate::sync::Arc)s), indexed by `usize`.
///
/// Mirrors `kernel::xarray::XArray`. Like a `KVec<Option<T>>` that costs nothing for the indices
/// it does not use. It is pinned; reading and writing go through the [`Guard`] of its lock.
///
/// # Examples
///
/// ```
/// use kernel::prelude::*;
/// use kernel::xarray::{AllocKind, XArray};
///
/// let xa = KBox::pin_init(XArray::<KBox<u32>>::new(AllocKind::Alloc), GFP_KERNEL)?;
/// let mut guard = xa.lock();
/// assert!(guard.store(1 << 40, KBox::new(7, GFP_KERNEL)?, GFP_KERNEL)?.is_none());
/// assert_eq!(guard.get(1 << 40).copied(), Some(7));
/// *guard.get_mut(1 << 40).unwrap() += 1;
///
/// let old = guard.store(1 << 40, KBox::new(9, GFP_KERNEL)?, GFP_KERNEL)?;
/// assert_eq!(old.as_deref(), Some(&8));
/// assert_eq!(guard.remove(1 << 40).as_deref(), Some(&9));
/// assert!(guard.get(1 << 40).is_none());
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `xa` is an initialised [`bindings::xarray`] whose entries all come from
/// [`ForeignOwnable::into_foreign`] of `T`, and are owned by the array.
#[pin_data(PinnedDrop)]
pub struct XArray<T: ForeignOwnable> {
    #[pin]
    xa: Opaque<bindings::xarray>,
    _p: PhantomData<T>,
}

#[pinned_drop]
impl<T: ForeignOwnable> PinnedDrop for XArray<T> {
    fn drop(self: Pin<&mut Self>) {
        for entry in self.iter() {
            // SAFETY: The entry comes from `T::into_foreign` and the array owns it; it is dropped
            // once, and the array is never read again (it is being dropped), so the entry left
            // in it is never seen.
            drop(unsafe { T::from_foreign(entry.as_ptr()) });
        }
        // SAFETY: `xa` is initialised (type invariant) and nobody else uses it any more.
        unsafe { xa_destroy(self.xa.get()) };
    }
}

/// How an [`XArray`] numbers allocated entries: from 0 or from 1.
///
/// Mirrors `kernel::xarray::AllocKind` (`XA_FLAGS_ALLOC` and `XA_FLAGS_ALLOC1`).
pub enum AllocKind {
    /// Allocated indices start at 0.
    Alloc,
    /// Allocated indices start at 1.
    Alloc1,
}

impl<T: ForeignOwnable> XArray<T> {
    /// Returns an initialiser of an empty array.
    pub fn new(kind: AllocKind) -> impl PinInit<Self> {
        let flags = match kind {
            AllocKind::Alloc => bindings::XA_FLAGS_ALLOC,
            AllocKind::Alloc1 => bindings::XA_FLAGS_ALLOC1,
        };
        pin_init!(Self {
            // INVARIANT: `xa_init_flags` initialises an empty array.
            // SAFETY: `xa` is valid for writes while the closure runs.
            xa <- Opaque::ffi_init(|xa| unsafe { xa_init_flags(xa, flags) }),
            _p: PhantomData,
        })
    }

    /// Returns the entries of the array in index order.
    ///
    /// Only for the destructor, which has exclusive access: the host reads without the lock.
    fn iter(&self) -> impl Iterator<Item = NonNull<c_void>> + '_ {
        let mut index = 0;
        // SAFETY: `xa` is initialised (type invariant); the caller has exclusive access.
        let first = unsafe { xa_find(self.xa.get(), &mut index, usize::MAX, bindings::XA_PRESENT) };
        let rest = iter::from_fn(move || {
            // SAFETY: As above; `index` is that of the last entry found.
            Some(unsafe {
                xa_find_after(self.xa.get(), &mut index, usize::MAX, bindings::XA_PRESENT)
            })
        });
        iter::once(first).chain(rest).map_while(NonNull::new)
    }

    /// Takes the lock if it is free; returns `None` if it is not.
    pub fn try_lock(&self) -> Option<Guard<'_, T>> {
        // SAFETY: `xa` is initialised (type invariant).
        if unsafe { xa_trylock(self.xa.get()) } != 0 {
            // INVARIANT: The lock was just taken.
            Some(Guard {
                xa: self,
                _not_send: NotThreadSafe,
            })
        } else {
            None
        }
    }

    /// Takes the lock, spinning while someone else holds it.
    pub fn lock(&self) -> Guard<'_, T> {
        // SAFETY: `xa` is initialised (type invariant).
        unsafe { xa_lock(self.xa.get()) };
        // INVARIANT: The lock was just taken.
        Guard {
            xa: self,
            _not_send: NotThreadSafe,
        }
    }
}

/// The held lock of an [`XArray`], through which it is read and written; dropping it unlocks.
///
/// Mirrors `kernel::xarray::Guard`.
///
/// # Invariants
///
/// The lock of `xa` is held, by this guard.
#[must_use = "the lock unlocks immediately when the guard is unused"]
pub struct Guard<'a, T: ForeignOwnable> {
    xa: &'a XArray<T>,
    _not_send: NotThreadSafe,
}

impl<T: ForeignOwnable> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        // SAFETY: The array is initialised and the guard holds its lock (type invariants).
        unsafe { xa_unlock(self.xa.xa.get()) };
    }
}

/// The error of [`Guard::store`]: why the value was not stored, and the value.
///
/// Mirrors `kernel::xarray::StoreError`.
pub struct StoreError<T> {
    /// Why the store failed.
    pub error: Error,
    /// The value that was not stored.
    pub value: T,
}

impl<T> From<StoreError<T>> for Error {
    /// Drops the value and keeps the error.
    #[inline]
    fn from(value: StoreError<T>) -> Self {
        value.error
    }
}

impl<'a, T: ForeignOwnable> Guard<'a, T> {
    /// Applies `f` to the entry at `index`, if there is one.
    fn load<F, U>(&self, index: usize, f: F) -> Option<U>
    where
        F: FnOnce(NonNull<c_void>) -> U,
    {
        // SAFETY: The array is initialised and locked (type invariants).
        let entry = unsafe { xa_load(self.xa.xa.get(), index) };
        NonNull::new(entry).map(f)
    }

    /// Borrows the value at `index`, if there is one.
    pub fn get(&self, index: usize) -> Option<T::Borrowed<'_>> {
        self.load(index, |entry| {
            // SAFETY: The entry comes from `T::into_foreign`; it stays in the array while the
            // borrow (of `self`) lives, as removing or replacing it needs `&mut self`.
            unsafe { T::borrow(entry.as_ptr()) }
        })
    }

    /// Borrows the value at `index` mutably, if there is one.
    pub fn get_mut(&mut self, index: usize) -> Option<T::BorrowedMut<'_>> {
        self.load(index, |entry| {
            // SAFETY: The entry comes from `T::into_foreign`; the mutable borrow of `self` excludes
            // every other borrow of it and its removal while this one lives.
            unsafe { T::borrow_mut(entry.as_ptr()) }
        })
    }

    /// Removes the value at `index` and returns it, if there is one.
    pub fn remove(&mut self, index: usize) -> Option<T> {
        // SAFETY: The array is initialised and locked (type invariants).
        let entry = unsafe { __xa_erase(self.xa.xa.get(), index) };
        // SAFETY: `entry` is null or came from `T::into_foreign`, and the array gave up its
        // ownership; `&mut self` guarantees that no borrow of it from `get` or `get_mut` lives.
        unsafe { T::try_from_foreign(entry) }
    }

    /// Stores `value` at `index`; returns the value it replaces, if any.
    ///
    /// In the kernel the store may drop the lock to allocate (when `gfp` allows sleeping) and
    /// take it again; here it never drops it. On failure, the error and `value` come back in a
    /// [`StoreError`]: `ENOMEM` if the memory for a new index could not be allocated.
    ///
    /// `T`'s pointers must be aligned to at least 4 bytes (checked at build time): the XArray
    /// uses the two low bits.
    pub fn store(
        &mut self,
        index: usize,
        value: T,
        gfp: alloc::Flags,
    ) -> Result<Option<T>, StoreError<T>> {
        build_assert!(
            T::FOREIGN_ALIGN >= 4,
            "pointers stored in XArray must be 4-byte aligned"
        );
        let new = value.into_foreign();
        // INVARIANT: The array stores an entry that came from `T::into_foreign`.
        // SAFETY: The array is initialised and locked (type invariants).
        let old = unsafe { __xa_store(self.xa.xa.get(), index, new, gfp.as_raw()) };
        match xa_err(old) {
            0 => {
                // SAFETY: `old` is null or the entry the array held, from `T::into_foreign`, now
                // given up by the array; `&mut self` guarantees no borrow of it lives.
                Ok(unsafe { T::try_from_foreign(old) })
            }
            errno => {
                // SAFETY: `new` came from `T::into_foreign`, and the failed store did not keep it.
                let value = unsafe { T::from_foreign(new) };
                Err(StoreError {
                    value,
                    error: Error::from_errno(errno),
                })
            }
        }
    }
}

// SAFETY: The array owns its values, so it may move to another thread when they may.
unsafe impl<T: ForeignOwnable + Send> Send for XArray<T> {}

// SAFETY: Shared access reaches the values only through the lock, one thread at a time, which
// amounts to moving access between threads: `T: Send` is enough.
unsafe impl<T: ForeignOwnable + Send> Sync for XArray<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn a_failed_store_gives_the_value_back_and_stores_nothing() {
        let xa = KBox::pin_init(XArray::<KBox<u32>>::new(AllocKind::Alloc), GFP_KERNEL).unwrap();
        let mut guard = xa.lock();
        assert!(guard
            .store(1, KBox::new(1, GFP_KERNEL).unwrap(), GFP_KERNEL)
            .is_ok());
        let (two, three) = (
            KBox::new(2, GFP_KERNEL).unwrap(),
            KBox::new(3, GFP_KERNEL).unwrap(),
        );

        let failure = AllocFailure::next(usize::MAX);
        let Err(refused) = guard.store(2, two, GFP_KERNEL) else {
            panic!("the store must fail")
        };
        assert_eq!(refused.error, ENOMEM);
        assert_eq!(*refused.value, 2);
        assert_eq!(Error::from(refused), ENOMEM);
        assert!(guard.get(2).is_none());
        // Replacing a value needs no memory.
        let old = guard.store(1, three, GFP_KERNEL).ok().unwrap();
        assert_eq!(old.as_deref(), Some(&1));
        assert_eq!(failure.injected(), 1);
        drop(failure);
        assert_eq!(guard.get(1).copied(), Some(3));
    }
}
