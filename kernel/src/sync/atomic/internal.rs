//! The representations atomic types are stored as, and their operations.
//!
//! Mirrors `rust/kernel/sync/atomic/internal.rs` of Linux 7.3. The kernel maps each operation to
//! its C `atomic_*()` function; drydock maps them to `core::sync::atomic`, as described in
//! [`ordering`](super::ordering).

use super::ordering::OrderingType;
use crate::ffi::c_void;
use core::cell::UnsafeCell;
use core::sync::atomic::{self, Ordering as CoreOrdering};

mod private {
    /// Keeps the set of representations closed.
    pub trait Sealed {}
}

impl private::Sealed for i8 {}
impl private::Sealed for i16 {}
impl private::Sealed for *const c_void {}
impl private::Sealed for i32 {}
impl private::Sealed for i64 {}

/// A type that atomic values are stored as: `i8`, `i16`, `i32`, `i64` or `*const c_void`.
///
/// Mirrors `kernel::sync::atomic::AtomicImpl`.
pub trait AtomicImpl: Sized + Copy + private::Sealed {
    /// The type of the operand of additions and subtractions.
    type Delta;
}

impl AtomicImpl for i8 {
    type Delta = Self;
}

impl AtomicImpl for i16 {
    type Delta = Self;
}

impl AtomicImpl for *const c_void {
    type Delta = isize;
}

impl AtomicImpl for i32 {
    type Delta = Self;
}

impl AtomicImpl for i64 {
    type Delta = Self;
}

/// The storage of an atomic value.
#[repr(transparent)]
pub struct AtomicRepr<T: AtomicImpl>(UnsafeCell<T>);

impl<T: AtomicImpl> AtomicRepr<T> {
    /// Returns storage holding `v`.
    pub const fn new(v: T) -> Self {
        Self(UnsafeCell::new(v))
    }

    /// Returns a pointer to the stored value.
    pub const fn as_ptr(&self) -> *mut T {
        self.0.get()
    }
}

impl OrderingType {
    /// The `core` ordering of a read-modify-write operation with this ordering.
    pub(super) fn rmw(self) -> CoreOrdering {
        match self {
            OrderingType::Relaxed => CoreOrdering::Relaxed,
            OrderingType::Acquire => CoreOrdering::Acquire,
            OrderingType::Release => CoreOrdering::Release,
            OrderingType::Full => CoreOrdering::SeqCst,
        }
    }

    /// The `core` ordering of the load of a failed compare-and-exchange with this ordering.
    fn failure(self) -> CoreOrdering {
        match self {
            OrderingType::Relaxed | OrderingType::Release => CoreOrdering::Relaxed,
            OrderingType::Acquire => CoreOrdering::Acquire,
            OrderingType::Full => CoreOrdering::SeqCst,
        }
    }
}

/// Loads and stores.
pub trait AtomicBasicOps: AtomicImpl {
    /// Loads the value (`o` is `Relaxed` or `Acquire`).
    fn atomic_read(a: &AtomicRepr<Self>, o: OrderingType) -> Self;
    /// Stores `v` (`o` is `Relaxed` or `Release`).
    fn atomic_set(a: &AtomicRepr<Self>, v: Self, o: OrderingType);
}

/// Exchanges.
pub trait AtomicExchangeOps: AtomicImpl {
    /// Stores `v` and returns the previous value.
    fn atomic_xchg(a: &AtomicRepr<Self>, v: Self, o: OrderingType) -> Self;
    /// Stores `new` if the value is `*old` and returns `true`; otherwise stores the current
    /// value in `*old` and returns `false`.
    fn atomic_try_cmpxchg(a: &AtomicRepr<Self>, old: &mut Self, new: Self, o: OrderingType)
        -> bool;
}

/// Additions and subtractions (wrapping).
pub trait AtomicArithmeticOps: AtomicImpl {
    /// Adds `v` and returns the previous value.
    fn atomic_fetch_add(a: &AtomicRepr<Self>, v: Self::Delta, o: OrderingType) -> Self;
    /// Subtracts `v` and returns the previous value.
    fn atomic_fetch_sub(a: &AtomicRepr<Self>, v: Self::Delta, o: OrderingType) -> Self;
}

/// Returns the `core` atomic viewing the storage of `a`.
macro_rules! core_atomic {
    ($core:ty, $a:expr) => {
        // SAFETY: The storage is valid and aligned for the whole lifetime of `$a`, the `core`
        // atomic has the size and alignment of the representation, and every access to the
        // storage goes through atomic operations.
        unsafe { <$core>::from_ptr($a.as_ptr().cast()) }
    };
}

/// Implements the load/store and exchange operations of integer representation `$ty` with `$core`.
macro_rules! impl_basic_and_exchange {
    ($($ty:ty => $core:ty),* $(,)?) => {
        $(
            impl AtomicBasicOps for $ty {
                #[inline(always)]
                fn atomic_read(a: &AtomicRepr<Self>, o: OrderingType) -> Self {
                    core_atomic!($core, a).load(o.rmw())
                }

                #[inline(always)]
                fn atomic_set(a: &AtomicRepr<Self>, v: Self, o: OrderingType) {
                    core_atomic!($core, a).store(v, o.rmw())
                }
            }

            impl AtomicExchangeOps for $ty {
                #[inline(always)]
                fn atomic_xchg(a: &AtomicRepr<Self>, v: Self, o: OrderingType) -> Self {
                    core_atomic!($core, a).swap(v, o.rmw())
                }

                #[inline(always)]
                fn atomic_try_cmpxchg(
                    a: &AtomicRepr<Self>,
                    old: &mut Self,
                    new: Self,
                    o: OrderingType,
                ) -> bool {
                    match core_atomic!($core, a).compare_exchange(*old, new, o.rmw(), o.failure()) {
                        Ok(_) => true,
                        Err(current) => {
                            *old = current;
                            false
                        }
                    }
                }
            }
        )*
    };
}

impl_basic_and_exchange! {
    i8 => atomic::AtomicI8,
    i16 => atomic::AtomicI16,
    i32 => atomic::AtomicI32,
    i64 => atomic::AtomicI64,
}

// Pointers are kept as `*const c_void`; `AtomicPtr` works with `*mut`, hence the conversions.
impl AtomicBasicOps for *const c_void {
    #[inline(always)]
    fn atomic_read(a: &AtomicRepr<Self>, o: OrderingType) -> Self {
        core_atomic!(atomic::AtomicPtr<c_void>, a)
            .load(o.rmw())
            .cast_const()
    }

    #[inline(always)]
    fn atomic_set(a: &AtomicRepr<Self>, v: Self, o: OrderingType) {
        core_atomic!(atomic::AtomicPtr<c_void>, a).store(v.cast_mut(), o.rmw())
    }
}

impl AtomicExchangeOps for *const c_void {
    #[inline(always)]
    fn atomic_xchg(a: &AtomicRepr<Self>, v: Self, o: OrderingType) -> Self {
        core_atomic!(atomic::AtomicPtr<c_void>, a)
            .swap(v.cast_mut(), o.rmw())
            .cast_const()
    }

    #[inline(always)]
    fn atomic_try_cmpxchg(
        a: &AtomicRepr<Self>,
        old: &mut Self,
        new: Self,
        o: OrderingType,
    ) -> bool {
        match core_atomic!(atomic::AtomicPtr<c_void>, a).compare_exchange(
            old.cast_mut(),
            new.cast_mut(),
            o.rmw(),
            o.failure(),
        ) {
            Ok(_) => true,
            Err(current) => {
                *old = current.cast_const();
                false
            }
        }
    }
}

/// Implements the arithmetic operations of representation `$ty` with `$core`.
macro_rules! impl_arithmetic {
    ($($ty:ty => $core:ty),* $(,)?) => {
        $(
            impl AtomicArithmeticOps for $ty {
                #[inline(always)]
                fn atomic_fetch_add(a: &AtomicRepr<Self>, v: Self, o: OrderingType) -> Self {
                    core_atomic!($core, a).fetch_add(v, o.rmw())
                }

                #[inline(always)]
                fn atomic_fetch_sub(a: &AtomicRepr<Self>, v: Self, o: OrderingType) -> Self {
                    core_atomic!($core, a).fetch_sub(v, o.rmw())
                }
            }
        )*
    };
}

impl_arithmetic! {
    i32 => atomic::AtomicI32,
    i64 => atomic::AtomicI64,
}
