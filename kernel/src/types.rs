//! Kernel types: [`Opaque`], [`ForeignOwnable`], [`ScopeGuard`] and friends.
//!
//! Mirrors `rust/kernel/types.rs` of Linux 7.3.

use crate::ffi::c_void;
use core::{
    cell::UnsafeCell,
    marker::{PhantomData, PhantomPinned},
    mem::MaybeUninit,
    ops::{Deref, DerefMut},
};
use pin_init::{PinInit, Wrapper, Zeroable};

#[doc(hidden)]
pub mod for_lt;
pub use for_lt::{CovariantForLt, ForLt};

/// A type that can be handed to foreign (C) code as a single pointer, and taken back.
///
/// Mirrors `kernel::types::ForeignOwnable`. [`ForeignOwnable::into_foreign`] gives up ownership
/// and returns a pointer (for example to store as a device's driver data); the pointer can then
/// be borrowed any number of times and finally turned back into the owner with
/// [`ForeignOwnable::from_foreign`].
///
/// # Safety
///
/// Implementers must guarantee that [`ForeignOwnable::into_foreign`] returns a non-null pointer
/// aligned to [`ForeignOwnable::FOREIGN_ALIGN`].
pub unsafe trait ForeignOwnable: Sized {
    /// The alignment of the pointers [`ForeignOwnable::into_foreign`] returns.
    ///
    /// Foreign code may use the low bits that this alignment leaves zero.
    const FOREIGN_ALIGN: usize;

    /// What [`ForeignOwnable::borrow`] returns.
    type Borrowed<'a>
    where
        Self: 'a;

    /// What [`ForeignOwnable::borrow_mut`] returns.
    type BorrowedMut<'a>
    where
        Self: 'a;

    /// Gives up ownership and returns a pointer that represents the value.
    ///
    /// The pointer is non-null and aligned to [`ForeignOwnable::FOREIGN_ALIGN`].
    fn into_foreign(self) -> *mut c_void;

    /// Takes back ownership of a value given up by [`ForeignOwnable::into_foreign`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from a call to [`ForeignOwnable::into_foreign`] of the same type, must not
    /// have been passed to `from_foreign` since, and no borrow of it may be alive.
    unsafe fn from_foreign(ptr: *mut c_void) -> Self;

    /// As [`ForeignOwnable::from_foreign`], but returns `None` for a null pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be null, or meet the requirements of [`ForeignOwnable::from_foreign`].
    unsafe fn try_from_foreign(ptr: *mut c_void) -> Option<Self> {
        if ptr.is_null() {
            None
        } else {
            // SAFETY: `ptr` is not null, so by the caller's guarantee it meets the requirements of
            // `from_foreign`.
            unsafe { Some(Self::from_foreign(ptr)) }
        }
    }

    /// Borrows the value represented by `ptr` immutably.
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`ForeignOwnable::into_foreign`] of the same type, and
    /// [`ForeignOwnable::from_foreign`] must not be called on it, nor
    /// [`ForeignOwnable::borrow_mut`] be alive, while the borrow is alive.
    unsafe fn borrow<'a>(ptr: *mut c_void) -> Self::Borrowed<'a>;

    /// Borrows the value represented by `ptr` mutably.
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`ForeignOwnable::into_foreign`] of the same type, and no other
    /// borrow, nor a call to [`ForeignOwnable::from_foreign`], may happen while the borrow is
    /// alive.
    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> Self::BorrowedMut<'a>;
}

// SAFETY: The dangling pointer is non-null and aligned to `align_of::<()>()` (1).
unsafe impl ForeignOwnable for () {
    const FOREIGN_ALIGN: usize = core::mem::align_of::<()>();
    type Borrowed<'a> = ();
    type BorrowedMut<'a> = ();

    fn into_foreign(self) -> *mut c_void {
        core::ptr::NonNull::dangling().as_ptr()
    }

    unsafe fn from_foreign(_: *mut c_void) -> Self {}

    unsafe fn borrow<'a>(_: *mut c_void) -> Self::Borrowed<'a> {}

    unsafe fn borrow_mut<'a>(_: *mut c_void) -> Self::BorrowedMut<'a> {}
}

/// Runs a cleanup function when it goes out of scope, unless dismissed.
///
/// Mirrors `kernel::types::ScopeGuard`. The guard can also carry data of type `T`, which the
/// cleanup function receives, and which is reachable through the guard meanwhile.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::types::ScopeGuard;
///
/// let mut log = KVec::new();
/// {
///     let _guard = ScopeGuard::new(|| log.push("cleaned up", GFP_KERNEL).unwrap());
/// }
/// assert_eq!(log, ["cleaned up"]);
///
/// let guard = ScopeGuard::new_with_data(5, |_| panic!("dismissed guards do not run"));
/// assert_eq!(*guard, 5);
/// assert_eq!(guard.dismiss(), 5);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// The inner option is `Some` until the guard is dismissed or dropped.
pub struct ScopeGuard<T, F: FnOnce(T)>(Option<(T, F)>);

impl<T, F: FnOnce(T)> ScopeGuard<T, F> {
    /// Returns a guard that calls `cleanup_func(data)` when dropped.
    pub fn new_with_data(data: T, cleanup_func: F) -> Self {
        // INVARIANT: The option is `Some`.
        Self(Some((data, cleanup_func)))
    }

    /// Disarms the guard and returns its data; the cleanup function does not run.
    pub fn dismiss(mut self) -> T {
        let (data, _) = self.take();
        data
    }

    /// Takes the data and cleanup function out of an armed guard.
    fn take(&mut self) -> (T, F) {
        match self.0.take() {
            Some(inner) => inner,
            // By the type invariant the guard is armed until dismissed or dropped, and both of
            // those consume it.
            None => unreachable!("a ScopeGuard is armed until consumed"),
        }
    }
}

impl ScopeGuard<(), fn(())> {
    /// Returns a guard without data that calls `cleanup` when dropped.
    pub fn new(cleanup: impl FnOnce()) -> ScopeGuard<(), impl FnOnce(())> {
        ScopeGuard::new_with_data((), move |()| cleanup())
    }
}

impl<T, F: FnOnce(T)> Deref for ScopeGuard<T, F> {
    type Target = T;

    fn deref(&self) -> &T {
        match &self.0 {
            Some((data, _)) => data,
            None => unreachable!("a ScopeGuard is armed until consumed"),
        }
    }
}

impl<T, F: FnOnce(T)> DerefMut for ScopeGuard<T, F> {
    fn deref_mut(&mut self) -> &mut T {
        match &mut self.0 {
            Some((data, _)) => data,
            None => unreachable!("a ScopeGuard is armed until consumed"),
        }
    }
}

impl<T, F: FnOnce(T)> Drop for ScopeGuard<T, F> {
    fn drop(&mut self) {
        if let Some((data, cleanup)) = self.0.take() {
            cleanup(data)
        }
    }
}

/// Memory holding a `T` that Rust must not make assumptions about.
///
/// Mirrors `kernel::types::Opaque`. The kernel uses it for C structs embedded in Rust ones: the
/// contents may be uninitialised, may be changed behind Rust's back (they are in an
/// [`UnsafeCell`]) and may refer to their own address (the type is `!Unpin`). Access goes through
/// raw pointers: [`Opaque::get`], [`Opaque::cast_into`], [`Opaque::cast_from`].
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::types::Opaque;
/// use pin_init::stack_pin_init;
///
/// #[repr(C)]
/// struct RawCounter {
///     hits: u32,
/// }
///
/// stack_pin_init!(let counter = Opaque::ffi_init(|slot: *mut RawCounter| {
///     // SAFETY: `slot` is valid for writes of a `RawCounter`.
///     unsafe { slot.write(RawCounter { hits: 3 }) };
/// }));
/// // SAFETY: The counter was initialised above and nothing else accesses it.
/// assert_eq!(unsafe { (*counter.get()).hits }, 3);
/// ```
#[repr(transparent)]
pub struct Opaque<T> {
    value: UnsafeCell<MaybeUninit<T>>,
    _pin: PhantomPinned,
}

// SAFETY: `Opaque<T>` may hold anything, including all zeroes.
unsafe impl<T> Zeroable for Opaque<T> {}

impl<T> Opaque<T> {
    /// Returns an `Opaque` holding `value`.
    pub const fn new(value: T) -> Self {
        Self {
            value: UnsafeCell::new(MaybeUninit::new(value)),
            _pin: PhantomPinned,
        }
    }

    /// Returns an uninitialised `Opaque`.
    pub const fn uninit() -> Self {
        Self {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            _pin: PhantomPinned,
        }
    }

    /// Returns an `Opaque` whose bytes are all zero.
    pub const fn zeroed() -> Self {
        Self {
            value: UnsafeCell::new(MaybeUninit::zeroed()),
            _pin: PhantomPinned,
        }
    }

    /// Returns an initialiser that runs `init_func` on the address of the (pinned) contents.
    ///
    /// For C-style initialisation functions that cannot fail; `init_func` is trusted to leave the
    /// contents in the state the users of this `Opaque` expect.
    pub fn ffi_init(init_func: impl FnOnce(*mut T)) -> impl PinInit<Self> {
        // SAFETY: Any contents, even uninitialised ones, are a valid `Opaque<T>`, so the
        // initialiser cannot leave the slot invalid; it never fails.
        unsafe {
            pin_init::pin_init_from_closure::<_, ::core::convert::Infallible>(move |slot| {
                init_func(Self::cast_into(slot));
                Ok(())
            })
        }
    }

    /// Returns an initialiser that runs the fallible `init_func` on the address of the (pinned)
    /// contents.
    ///
    /// If `init_func` fails, it must have cleaned up after itself: nothing is dropped.
    pub fn try_ffi_init<E>(
        init_func: impl FnOnce(*mut T) -> Result<(), E>,
    ) -> impl PinInit<Self, E> {
        // SAFETY: Any contents are a valid `Opaque<T>`, whether `init_func` succeeds or fails.
        unsafe {
            pin_init::pin_init_from_closure::<_, E>(move |slot| init_func(Self::cast_into(slot)))
        }
    }

    /// Returns a raw pointer to the contents.
    pub const fn get(&self) -> *mut T {
        UnsafeCell::get(&self.value).cast::<T>()
    }

    /// Converts a pointer to an `Opaque<T>` into a pointer to its contents.
    pub const fn cast_into(this: *const Self) -> *mut T {
        UnsafeCell::raw_get(this.cast::<UnsafeCell<MaybeUninit<T>>>()).cast::<T>()
    }

    /// Converts a pointer to contents into a pointer to the `Opaque<T>` holding them.
    pub const fn cast_from(this: *const T) -> *const Self {
        this.cast()
    }
}

impl<T> Wrapper<T> for Opaque<T> {
    /// Returns an initialiser that pin-initialises the contents with `value_init`.
    fn pin_init<E>(value_init: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        Self::try_ffi_init(|slot: *mut T| {
            // SAFETY: `slot` is the pinned contents, valid for a `T`; on error `raw_try_init`
            // leaves nothing to drop.
            unsafe { pin_init::raw_try_init(slot, value_init) }
        })
    }
}

/// A marker that makes the type containing it neither `Send` nor `Sync`.
///
/// Mirrors `kernel::types::NotThreadSafe`; use the constant of the same name to build it.
pub type NotThreadSafe = PhantomData<*mut ()>;

/// The value of [`NotThreadSafe`](type@NotThreadSafe).
#[allow(non_upper_case_globals)]
pub const NotThreadSafe: NotThreadSafe = PhantomData;

#[cfg(test)]
mod tests {
    use super::*;
    use core::cell::Cell;

    #[test]
    fn scope_guard_runs_once_unless_dismissed() {
        let runs = Cell::new(0);
        {
            let mut guard = ScopeGuard::new_with_data(1, |n| runs.set(runs.get() + n));
            *guard += 1;
        }
        assert_eq!(runs.get(), 2);
        let guard = ScopeGuard::new(|| runs.set(100));
        guard.dismiss();
        assert_eq!(runs.get(), 2);
    }

    #[test]
    fn opaque_pointers_round_trip() {
        let o = Opaque::new(7u32);
        let inner = Opaque::cast_into(&o);
        assert_eq!(inner, o.get());
        assert!(core::ptr::eq(Opaque::cast_from(inner), &o));
        // SAFETY: `o` holds a valid `u32` and nothing else accesses it.
        assert_eq!(unsafe { *o.get() }, 7);
        let z = Opaque::<u64>::zeroed();
        // SAFETY: All zeroes is a valid `u64`.
        assert_eq!(unsafe { *z.get() }, 0);
    }

    #[test]
    fn unit_is_foreign_ownable() {
        let ptr = ().into_foreign();
        assert!(!ptr.is_null());
        // SAFETY: `ptr` comes from `into_foreign` of `()`.
        unsafe { <() as ForeignOwnable>::from_foreign(ptr) };
    }
}
