//! Atomic values with the kernel's API: [`Atomic<T>`] and its orderings.
//!
//! Mirrors `rust/kernel/sync/atomic.rs` of Linux 7.3. An ordering is passed as a value:
//! `x.load(Relaxed)`, `x.store(v, Release)`, `x.fetch_add(1, Full)`; the type system rejects
//! orderings an operation does not have (a load cannot be `Release`).
//!
//! The kernel implements the operations with its C atomics and the Linux kernel memory model;
//! drydock implements them with `core::sync::atomic`, as [`ordering`] describes. One difference
//! follows: the kernel allows mixed-size atomic accesses to the same memory, Rust does not.
//!
//! # Examples
//!
//! ```
//! # use kernel::prelude::*;
//! use kernel::sync::atomic::{Atomic, Acquire, Full, Relaxed, Release};
//!
//! let x = Atomic::new(40u32);
//! x.add(1, Relaxed);
//! assert_eq!(x.fetch_add(1, Full), 41);
//! x.store(7, Release);
//! assert_eq!(x.load(Acquire), 7);
//! assert_eq!(x.cmpxchg(7, 8, Full), Ok(7));
//! assert_eq!(x.cmpxchg(7, 9, Relaxed), Err(8));
//! ```

mod internal;
pub mod ordering;
mod predefine;

pub use internal::AtomicImpl;
pub use ordering::{Acquire, Full, Relaxed, Release};

pub(crate) use internal::{AtomicArithmeticOps, AtomicBasicOps, AtomicExchangeOps};

use internal::AtomicRepr;

/// A value of type `T` that threads can access concurrently without a lock.
///
/// Mirrors `kernel::sync::atomic::Atomic`. `T` is any [`AtomicType`]: the integers `i8`, `i16`,
/// `i32`, `i64`, `u32`, `u64`, `isize`, `usize`, `bool`, and raw pointers. Which operations exist
/// depends on the representation: every type has loads, stores and exchanges; the 32- and 64-bit
/// integers also have additions.
#[repr(transparent)]
pub struct Atomic<T: AtomicType>(AtomicRepr<T::Repr>);

// SAFETY: Every access to the value is atomic, and `T: AtomicType` is a plain value.
unsafe impl<T: AtomicType> Send for Atomic<T> {}

// SAFETY: Every access to the value is atomic.
unsafe impl<T: AtomicType> Sync for Atomic<T> {}

/// A type that can be stored in an [`Atomic`].
///
/// Mirrors `kernel::sync::atomic::AtomicType`.
///
/// # Safety
///
/// - `Self` must have the size and alignment of `Self::Repr`;
/// - every `Self` must be a valid `Self::Repr` (round trips through `Repr` keep the value);
/// - every `Self::Repr` an atomic operation can produce from valid `Self`s must be a valid
///   `Self` (so types whose representation has arithmetic must be valid for every bit pattern).
pub unsafe trait AtomicType: Sized + Copy {
    /// The representation the value is stored and operated on as.
    type Repr: AtomicImpl;
}

/// An [`AtomicType`] to which a value of type `Rhs` can be added atomically.
///
/// Mirrors `kernel::sync::atomic::AtomicAdd`.
///
/// # Safety
///
/// Adding the delta [`AtomicAdd::rhs_into_delta`] returns to the representation of a value must
/// give the representation of a valid `Self`, the one that adding `rhs` gives (with wrapping).
pub unsafe trait AtomicAdd<Rhs = Self>: AtomicType {
    /// Converts the operand into the representation's delta type.
    fn rhs_into_delta(rhs: Rhs) -> <Self::Repr as AtomicImpl>::Delta;
}

/// Converts a value to its representation.
#[inline(always)]
const fn into_repr<T: AtomicType>(v: T) -> T::Repr {
    // SAFETY: By the safety requirements of `AtomicType`, `T` and `T::Repr` have the same size and
    // every `T` is a valid `T::Repr`.
    unsafe { core::mem::transmute_copy(&v) }
}

/// Converts a representation back to a value.
///
/// # Safety
///
/// `r` must be the representation of a valid `T`.
#[inline(always)]
const unsafe fn from_repr<T: AtomicType>(r: T::Repr) -> T {
    // SAFETY: Same size (`AtomicType`), and the caller guarantees that `r` is a valid `T`.
    unsafe { core::mem::transmute_copy(&r) }
}

impl<T: AtomicType> Atomic<T> {
    /// Returns an atomic holding `v`.
    pub const fn new(v: T) -> Self {
        Self(AtomicRepr::new(into_repr(v)))
    }

    /// Views the `T` at `ptr` as an atomic.
    ///
    /// # Safety
    ///
    /// - `ptr` must be aligned to `align_of::<T>()` and valid for reads and writes for `'a`;
    /// - for `'a`, every access to the value must be atomic (through this or another `Atomic`,
    ///   or [`atomic_load`] and friends), unless it happens before or after all the atomic ones.
    pub unsafe fn from_ptr<'a>(ptr: *mut T) -> &'a Self {
        // SAFETY: `Atomic<T>` is `repr(transparent)` over storage of the size and alignment of
        // `T` (`AtomicType`); the caller guarantees validity and atomic access.
        unsafe { &*ptr.cast::<Self>() }
    }

    /// Returns a pointer to the value. Accesses through it must be atomic while the atomic is
    /// shared.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.as_ptr().cast()
    }

    /// Returns a mutable reference to the value; no atomic access can happen meanwhile.
    pub fn get_mut(&mut self) -> &mut T {
        // SAFETY: The storage holds a valid `T` (the invariant kept by every operation), and the
        // exclusive borrow of `self` excludes concurrent accesses.
        unsafe { &mut *self.0.as_ptr().cast() }
    }
}

impl<T: AtomicType> Atomic<T>
where
    T::Repr: AtomicBasicOps,
{
    /// Loads the value (the kernel's `atomic_read()`/`atomic_read_acquire()`).
    #[doc(alias("atomic_read", "atomic64_read"))]
    #[inline(always)]
    pub fn load<Ordering: ordering::AcquireOrRelaxed>(&self, _: Ordering) -> T {
        let v = T::Repr::atomic_read(&self.0, Ordering::TYPE);
        // SAFETY: The storage always holds the representation of a valid `T`.
        unsafe { from_repr(v) }
    }

    /// Stores `v` (the kernel's `atomic_set()`/`atomic_set_release()`).
    #[doc(alias("atomic_set", "atomic64_set"))]
    #[inline(always)]
    pub fn store<Ordering: ordering::ReleaseOrRelaxed>(&self, v: T, _: Ordering) {
        T::Repr::atomic_set(&self.0, into_repr(v), Ordering::TYPE)
    }
}

impl<T: AtomicType + core::fmt::Debug> core::fmt::Debug for Atomic<T>
where
    T::Repr: AtomicBasicOps,
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Debug::fmt(&self.load(Relaxed), f)
    }
}

impl<T: AtomicType> Atomic<T>
where
    T::Repr: AtomicExchangeOps,
{
    /// Stores `v` and returns the previous value.
    #[doc(alias("atomic_xchg", "atomic64_xchg", "swap"))]
    #[inline(always)]
    pub fn xchg<Ordering: ordering::Ordering>(&self, v: T, _: Ordering) -> T {
        let old = T::Repr::atomic_xchg(&self.0, into_repr(v), Ordering::TYPE);
        // SAFETY: The storage always holds the representation of a valid `T`.
        unsafe { from_repr(old) }
    }

    /// Stores `new` if the value is `old`.
    ///
    /// Returns `Ok(old)` if it stored `new`, and `Err(current)` with the value found otherwise.
    /// With a failure the operation is only a load, ordered as `Ordering` orders loads.
    #[doc(alias(
        "atomic_cmpxchg",
        "atomic64_cmpxchg",
        "atomic_try_cmpxchg",
        "atomic64_try_cmpxchg",
        "compare_exchange"
    ))]
    #[inline(always)]
    pub fn cmpxchg<Ordering: ordering::Ordering>(
        &self,
        old: T,
        new: T,
        _: Ordering,
    ) -> Result<T, T> {
        let mut current = into_repr(old);
        if T::Repr::atomic_try_cmpxchg(&self.0, &mut current, into_repr(new), Ordering::TYPE) {
            Ok(old)
        } else {
            // SAFETY: On failure `current` holds the stored representation, of a valid `T`.
            Err(unsafe { from_repr(current) })
        }
    }
}

impl<T: AtomicType> Atomic<T>
where
    T::Repr: AtomicArithmeticOps,
{
    /// Adds `v` (wrapping), without ordering.
    #[inline(always)]
    pub fn add<Rhs>(&self, v: Rhs, _: ordering::Relaxed)
    where
        T: AtomicAdd<Rhs>,
    {
        T::Repr::atomic_fetch_add(
            &self.0,
            T::rhs_into_delta(v),
            ordering::OrderingType::Relaxed,
        );
    }

    /// Adds `v` (wrapping) and returns the previous value.
    #[inline(always)]
    pub fn fetch_add<Rhs, Ordering: ordering::Ordering>(&self, v: Rhs, _: Ordering) -> T
    where
        T: AtomicAdd<Rhs>,
    {
        let old = T::Repr::atomic_fetch_add(&self.0, T::rhs_into_delta(v), Ordering::TYPE);
        // SAFETY: By `AtomicAdd`, the stored (and previous) representations are of valid `T`s.
        unsafe { from_repr(old) }
    }

    /// Subtracts `v` (wrapping) and returns the previous value.
    #[inline(always)]
    pub fn fetch_sub<Rhs, Ordering: ordering::Ordering>(&self, v: Rhs, _: Ordering) -> T
    where
        T: AtomicAdd<Rhs>,
    {
        let old = T::Repr::atomic_fetch_sub(&self.0, T::rhs_into_delta(v), Ordering::TYPE);
        // SAFETY: By `AtomicAdd`, the stored (and previous) representations are of valid `T`s.
        unsafe { from_repr(old) }
    }
}

/// A `bool` the size of the smallest atomic the architecture handles well (one byte on x86-64
/// and arm64).
#[repr(C)]
#[derive(Clone, Copy)]
struct Flag {
    bool_field: bool,
}

impl Flag {
    #[inline(always)]
    const fn new(b: bool) -> Self {
        Self { bool_field: b }
    }
}

// SAFETY: `Flag` is a `bool`, of the size and alignment of `i8`; only exchanges and loads and
// stores of valid flags are available on it (no arithmetic), so the stored byte is 0 or 1.
unsafe impl AtomicType for Flag {
    type Repr = i8;
}

/// An atomic boolean flag.
///
/// Mirrors `kernel::sync::atomic::AtomicFlag`, which the kernel provides so that flags use the
/// best atomic size of the architecture; on the architectures drydock runs on that is a byte, as
/// `Atomic<bool>` uses.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::atomic::{AtomicFlag, Relaxed};
///
/// let flag = AtomicFlag::new(false);
/// assert_eq!(flag.xchg(true, Relaxed), false);
/// assert!(flag.load(Relaxed));
/// assert_eq!(flag.cmpxchg(false, true, Relaxed), Err(true));
/// ```
pub struct AtomicFlag(Atomic<Flag>);

impl AtomicFlag {
    /// Returns a flag holding `b`.
    #[inline(always)]
    pub const fn new(b: bool) -> Self {
        Self(Atomic::new(Flag::new(b)))
    }

    /// Returns a mutable reference to the flag; no atomic access can happen meanwhile.
    #[inline(always)]
    pub fn get_mut(&mut self) -> &mut bool {
        &mut self.0.get_mut().bool_field
    }

    /// Loads the flag.
    #[inline(always)]
    pub fn load<Ordering: ordering::AcquireOrRelaxed>(&self, o: Ordering) -> bool {
        self.0.load(o).bool_field
    }

    /// Stores `v`.
    #[inline(always)]
    pub fn store<Ordering: ordering::ReleaseOrRelaxed>(&self, v: bool, o: Ordering) {
        self.0.store(Flag::new(v), o);
    }

    /// Stores `new` and returns the previous value.
    #[inline(always)]
    pub fn xchg<Ordering: ordering::Ordering>(&self, new: bool, o: Ordering) -> bool {
        self.0.xchg(Flag::new(new), o).bool_field
    }

    /// Stores `new` if the flag is `old`; returns `Ok(old)` if it did, `Err(current)` otherwise.
    #[inline(always)]
    pub fn cmpxchg<Ordering: ordering::Ordering>(
        &self,
        old: bool,
        new: bool,
        o: Ordering,
    ) -> Result<bool, bool> {
        match self.0.cmpxchg(Flag::new(old), Flag::new(new), o) {
            Ok(_) => Ok(old),
            Err(f) => Err(f.bool_field),
        }
    }
}

/// Loads the value at `ptr` atomically (the kernel's `READ_ONCE()`/`smp_load_acquire()`).
///
/// # Safety
///
/// The requirements of [`Atomic::from_ptr`], for the duration of the call.
#[doc(alias("READ_ONCE", "smp_load_acquire"))]
#[inline(always)]
pub unsafe fn atomic_load<T: AtomicType, Ordering: ordering::AcquireOrRelaxed>(
    ptr: *mut T,
    o: Ordering,
) -> T
where
    T::Repr: AtomicBasicOps,
{
    // SAFETY: Guaranteed by the caller.
    unsafe { Atomic::from_ptr(ptr) }.load(o)
}

/// Stores `v` at `ptr` atomically (the kernel's `WRITE_ONCE()`/`smp_store_release()`).
///
/// # Safety
///
/// The requirements of [`Atomic::from_ptr`], for the duration of the call.
#[doc(alias("WRITE_ONCE", "smp_store_release"))]
#[inline(always)]
pub unsafe fn atomic_store<T: AtomicType, Ordering: ordering::ReleaseOrRelaxed>(
    ptr: *mut T,
    v: T,
    o: Ordering,
) where
    T::Repr: AtomicBasicOps,
{
    // SAFETY: Guaranteed by the caller.
    unsafe { Atomic::from_ptr(ptr) }.store(v, o);
}

/// Stores `new` at `ptr` atomically and returns the previous value.
///
/// # Safety
///
/// The requirements of [`Atomic::from_ptr`], for the duration of the call.
#[inline(always)]
pub unsafe fn xchg<T: AtomicType, Ordering: ordering::Ordering>(
    ptr: *mut T,
    new: T,
    o: Ordering,
) -> T
where
    T::Repr: AtomicExchangeOps,
{
    // SAFETY: Guaranteed by the caller.
    unsafe { Atomic::from_ptr(ptr) }.xchg(new, o)
}

/// Stores `new` at `ptr` atomically if the value there is `old`; see [`Atomic::cmpxchg`].
///
/// # Safety
///
/// The requirements of [`Atomic::from_ptr`], for the duration of the call.
#[doc(alias("try_cmpxchg"))]
#[inline(always)]
pub unsafe fn cmpxchg<T: AtomicType, Ordering: ordering::Ordering>(
    ptr: *mut T,
    old: T,
    new: T,
    o: Ordering,
) -> Result<T, T>
where
    T::Repr: AtomicExchangeOps,
{
    // SAFETY: Guaranteed by the caller.
    unsafe { Atomic::from_ptr(ptr) }.cmpxchg(old, new, o)
}
