//! Data protected by a lock that does not contain it: [`LockedBy`].
//!
//! Mirrors `rust/kernel/sync/locked_by.rs` of Linux 7.3.

use super::{lock::Backend, lock::Lock};
use crate::const_assert;
use core::{cell::UnsafeCell, mem::size_of, ptr};

/// Data of type `T` protected by the lock that protects an owner of type `U`.
///
/// Mirrors `kernel::sync::LockedBy`. Useful when the data lives outside the lock, for example in
/// objects that are on a list the lock protects. Access needs a reference to the lock's data
/// (`&U`, or `&mut U` for mutable access), which can only come from holding the lock; the
/// reference is checked at run time to be the owner's, and a mismatch panics.
///
/// Difference from the kernel: the checks that the lock and `U` are not zero-sized are done at
/// compile time with `const_assert!` rather than with `build_assert!`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{new_mutex, LockedBy, Mutex};
/// use pin_init::stack_pin_init;
///
/// struct Inventory {
///     total: u32,
/// }
///
/// stack_pin_init!(let inventory = new_mutex!(Inventory { total: 0 }));
/// let item = LockedBy::new(&inventory, 5u32);
///
/// let mut guard = inventory.lock();
/// *item.access_mut(&mut guard) += 1;
/// guard.total += *item.access(&guard);
/// assert_eq!(guard.total, 6);
/// ```
///
/// # Invariants
///
/// `owner` is the address of the data of the lock that protects `data`.
pub struct LockedBy<T: ?Sized, U: ?Sized> {
    owner: *const U,
    data: UnsafeCell<T>,
}

// SAFETY: Sending a `LockedBy` sends the `T` in it.
unsafe impl<T: ?Sized + Send, U: ?Sized> Send for LockedBy<T, U> {}

// SAFETY: Shared access to `T` needs `T: Sync` (see `access`); mutable access goes through the
// owner's lock, which lets only one thread at a time have it, so `T: Send` suffices for that.
unsafe impl<T: ?Sized + Send, U: ?Sized> Sync for LockedBy<T, U> {}

impl<T, U> LockedBy<T, U> {
    /// Wraps `data`, to be protected by `owner`.
    pub fn new<B: Backend>(owner: &Lock<U, B>, data: T) -> Self {
        const_assert!(
            size_of::<Lock<U, B>>() > 0,
            "The lock type cannot be a ZST because it may be impossible to distinguish instances"
        );
        // INVARIANT: `owner.data` is the data of the lock that protects `data`.
        Self {
            owner: owner.data.get(),
            data: UnsafeCell::new(data),
        }
    }
}

impl<T: ?Sized, U> LockedBy<T, U> {
    /// Returns the data, given a shared reference to the owner's locked data.
    ///
    /// # Panics
    ///
    /// Panics if `owner` is not the data of the lock passed to [`LockedBy::new`].
    pub fn access<'a>(&'a self, owner: &'a U) -> &'a T
    where
        T: Sync,
    {
        const_assert!(
            size_of::<U>() > 0,
            "`U` cannot be a ZST because `owner` wouldn't be unique"
        );
        if !ptr::eq(owner, self.owner) {
            panic!("mismatched owners");
        }
        // SAFETY: `owner` is the data of the protecting lock, so the lock is held (or the caller
        // has exclusive access to it) for `'a`, and no mutable access happens meanwhile.
        unsafe { &*self.data.get() }
    }

    /// Returns the data mutably, given a mutable reference to the owner's locked data.
    ///
    /// # Panics
    ///
    /// Panics if `owner` is not the data of the lock passed to [`LockedBy::new`].
    pub fn access_mut<'a>(&'a self, owner: &'a mut U) -> &'a mut T {
        const_assert!(
            size_of::<U>() > 0,
            "`U` cannot be a ZST because `owner` wouldn't be unique"
        );
        if !ptr::eq(owner, self.owner) {
            panic!("mismatched owners");
        }
        // SAFETY: `owner` is exclusively borrowed data of the protecting lock, so no other access
        // to `data` can happen for `'a`.
        unsafe { &mut *self.data.get() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::sync::{new_mutex, Mutex};

    #[test]
    fn access_with_the_owner_and_panic_with_another() {
        let a: Pin<KBox<Mutex<u32>>> = KBox::pin_init(new_mutex!(1), GFP_KERNEL).unwrap();
        let b: Pin<KBox<Mutex<u32>>> = KBox::pin_init(new_mutex!(2), GFP_KERNEL).unwrap();
        let data = LockedBy::new(&a, 10u64);
        {
            let mut guard = a.lock();
            *data.access_mut(&mut guard) += 1;
            assert_eq!(*data.access(&guard), 11);
        }
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let guard = b.lock();
            let _ = data.access(&guard);
        }));
        assert!(
            result.is_err(),
            "access with another lock's data must panic"
        );
        // The panic released `b`'s guard while unwinding.
        assert!(b.try_lock().is_some());
    }
}
