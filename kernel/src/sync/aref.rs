//! Objects with their own reference count: [`ARef`] and [`AlwaysRefCounted`].
//!
//! Mirrors `rust/kernel/sync/aref.rs` of Linux 7.3. Many kernel objects (devices, for instance)
//! carry their own reference count and are reached through `get`/`put` functions; [`ARef<T>`] is
//! the owning pointer for them, as [`Arc`](crate::sync::Arc) is for objects whose count Rust
//! adds. A type opts in by implementing [`AlwaysRefCounted`].

use crate::{ffi::c_void, types::ForeignOwnable};
use core::{marker::PhantomData, mem::ManuallyDrop, ops::Deref, ptr::NonNull};

/// A type whose values are always reference counted, by a count inside the value.
///
/// Mirrors `kernel::sync::aref::AlwaysRefCounted`.
///
/// # Safety
///
/// Implementers must ensure that:
/// - [`AlwaysRefCounted::inc_ref`] keeps the value alive until the matching
///   [`AlwaysRefCounted::dec_ref`];
/// - every value reachable through a shared reference is reference counted, so that
///   [`AlwaysRefCounted::inc_ref`] on it is allowed.
pub unsafe trait AlwaysRefCounted {
    /// Takes a reference.
    fn inc_ref(&self);

    /// Drops a reference; the value may be freed when the last one goes.
    ///
    /// # Safety
    ///
    /// The caller owns a reference to `obj` (taken with [`AlwaysRefCounted::inc_ref`] or
    /// otherwise owned) and gives it up; it must not use `obj` afterwards through that reference.
    unsafe fn dec_ref(obj: NonNull<Self>);
}

/// An owned reference to an [`AlwaysRefCounted`] value.
///
/// Mirrors `kernel::sync::aref::ARef`. Cloning takes a reference, dropping gives it back.
///
/// # Invariants
///
/// `ptr` points to a valid `T`, of which the `ARef` owns one reference.
pub struct ARef<T: AlwaysRefCounted> {
    ptr: NonNull<T>,
    _p: PhantomData<T>,
}

// SAFETY: An `ARef<T>` may be the last reference, dropped on another thread, and gives shared
// access to `T`: `T` must be `Send` and `Sync`.
unsafe impl<T: AlwaysRefCounted + Sync + Send> Send for ARef<T> {}

// SAFETY: Sharing an `ARef<T>` shares `T`, and lets another thread clone (and so drop) references:
// `T` must be `Sync` and `Send`.
unsafe impl<T: AlwaysRefCounted + Sync + Send> Sync for ARef<T> {}

impl<T: AlwaysRefCounted> Unpin for ARef<T> {}

impl<T: AlwaysRefCounted> ARef<T> {
    /// Takes over a reference the caller owns.
    ///
    /// # Safety
    ///
    /// `ptr` points to a valid `T` of which the caller owns a reference, which it gives to the
    /// returned `ARef`.
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            ptr,
            _p: PhantomData,
        }
    }

    /// Gives up the `ARef` without dropping its reference, which the caller now owns.
    ///
    /// [`ARef::from_raw`] turns it back into an `ARef`.
    pub fn into_raw(me: Self) -> NonNull<T> {
        ManuallyDrop::new(me).ptr
    }
}

impl<T: AlwaysRefCounted> Clone for ARef<T> {
    fn clone(&self) -> Self {
        self.inc_ref();
        // SAFETY: A reference was just taken, and it is given to the new `ARef`.
        unsafe { Self::from_raw(self.ptr) }
    }
}

impl<T: AlwaysRefCounted> Deref for ARef<T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariant the value is valid while the `ARef` lives.
        unsafe { self.ptr.as_ref() }
    }
}

impl<T: AlwaysRefCounted> From<&T> for ARef<T> {
    /// Takes a new reference to a value reached through a shared reference.
    fn from(b: &T) -> Self {
        b.inc_ref();
        // SAFETY: A reference was just taken, and it is given to the new `ARef`.
        unsafe { Self::from_raw(NonNull::from(b)) }
    }
}

impl<T: AlwaysRefCounted> Drop for ARef<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the `ARef` owns a reference, which it gives up here.
        unsafe { T::dec_ref(self.ptr) };
    }
}

impl<T, U> PartialEq<ARef<U>> for ARef<T>
where
    T: AlwaysRefCounted + PartialEq<U>,
    U: AlwaysRefCounted,
{
    #[inline]
    fn eq(&self, other: &ARef<U>) -> bool {
        T::eq(&**self, &**other)
    }
}

impl<T: AlwaysRefCounted + Eq> Eq for ARef<T> {}

// SAFETY: `into_foreign` returns the `ARef`'s pointer to `T`, non-null and aligned to `T`.
unsafe impl<T: AlwaysRefCounted> ForeignOwnable for ARef<T> {
    const FOREIGN_ALIGN: usize = core::mem::align_of::<T>();

    type Borrowed<'a>
        = &'a T
    where
        Self: 'a;
    type BorrowedMut<'a>
        = &'a T
    where
        Self: 'a;

    #[inline]
    fn into_foreign(self) -> *mut c_void {
        ARef::into_raw(self).as_ptr().cast()
    }

    #[inline]
    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: The caller guarantees `ptr` comes from `into_foreign`, so it is non-null.
        let ptr = unsafe { NonNull::new_unchecked(ptr.cast()) };
        // SAFETY: The reference given up by `into_foreign` is taken back.
        unsafe { ARef::from_raw(ptr) }
    }

    #[inline]
    unsafe fn borrow<'a>(ptr: *mut c_void) -> &'a T {
        // SAFETY: The caller guarantees the reference given up by `into_foreign` outlives `'a`.
        unsafe { &*ptr.cast() }
    }

    #[inline]
    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> &'a T {
        // SAFETY: The requirements of `borrow_mut` include those of `borrow`.
        unsafe { <Self as ForeignOwnable>::borrow(ptr) }
    }
}

impl<T, U> PartialEq<&'_ U> for ARef<T>
where
    T: AlwaysRefCounted + PartialEq<U>,
{
    #[inline]
    fn eq(&self, other: &&U) -> bool {
        T::eq(&**self, other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sync::Refcount;
    use core::sync::atomic::{AtomicBool, Ordering};

    /// Set when the test object is freed.
    static FREED: AtomicBool = AtomicBool::new(false);

    /// A refcounted object that frees itself when its last reference goes.
    struct Obj {
        refs: Refcount,
    }

    // SAFETY: The object is freed only when the count reaches zero, i.e. after the last reference.
    unsafe impl AlwaysRefCounted for Obj {
        fn inc_ref(&self) {
            self.refs.inc();
        }

        unsafe fn dec_ref(obj: NonNull<Self>) {
            // SAFETY: The caller owns a reference, so the object is valid.
            if unsafe { obj.as_ref() }.refs.dec_and_test() {
                // SAFETY: The object was allocated with `Box` and this was its last reference.
                drop(unsafe { std::boxed::Box::from_raw(obj.as_ptr()) });
                FREED.store(true, Ordering::Relaxed);
            }
        }
    }

    #[test]
    fn references_are_counted() {
        let raw = std::boxed::Box::into_raw(std::boxed::Box::new(Obj {
            refs: Refcount::new(1),
        }));
        // SAFETY: The count starts at one, owned by nobody yet: give it to `a`.
        let a = unsafe { ARef::from_raw(NonNull::new(raw).unwrap()) };
        let extra = ARef::from(&*a);
        drop(extra);
        let b = a.clone();
        drop(a);
        assert!(!FREED.load(Ordering::Relaxed));
        let ptr = b.into_foreign();
        // SAFETY: `ptr` comes from `into_foreign` of an `ARef<Obj>`.
        let borrowed = unsafe { <ARef<Obj> as ForeignOwnable>::borrow(ptr) };
        assert!(core::ptr::eq(borrowed, raw));
        // SAFETY: As above; the borrow is over.
        drop(unsafe { <ARef<Obj> as ForeignOwnable>::from_foreign(ptr) });
        assert!(FREED.load(Ordering::Relaxed));
    }
}
