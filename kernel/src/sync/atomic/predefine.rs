//! The predefined atomic types.
//!
//! Mirrors `rust/kernel/sync/atomic/predefine.rs` of Linux 7.3.

use crate::ffi::c_void;
use crate::static_assert;
use core::mem::{align_of, size_of};

static_assert!(size_of::<bool>() == size_of::<i8>());
static_assert!(align_of::<bool>() == align_of::<i8>());

// SAFETY: `bool` has the size and alignment of `i8` (asserted above), every `bool` is a valid
// `i8`, and without arithmetic only `bool` values are ever stored.
unsafe impl super::AtomicType for bool {
    type Repr = i8;
}

// SAFETY: Identical types.
unsafe impl super::AtomicType for i8 {
    type Repr = i8;
}

// SAFETY: Identical types.
unsafe impl super::AtomicType for i16 {
    type Repr = i16;
}

// SAFETY: Pointers to sized types have the size and alignment of `*const c_void` and are valid
// for any address; there is no pointer arithmetic.
unsafe impl<T: Sized> super::AtomicType for *mut T {
    type Repr = *const c_void;
}

// SAFETY: As for `*mut T`.
unsafe impl<T: Sized> super::AtomicType for *const T {
    type Repr = *const c_void;
}

// SAFETY: Identical types.
unsafe impl super::AtomicType for i32 {
    type Repr = i32;
}

// SAFETY: Adding `rhs` to the representation is adding it to the value.
unsafe impl super::AtomicAdd<i32> for i32 {
    fn rhs_into_delta(rhs: i32) -> i32 {
        rhs
    }
}

// SAFETY: Identical types.
unsafe impl super::AtomicType for i64 {
    type Repr = i64;
}

// SAFETY: Adding `rhs` to the representation is adding it to the value.
unsafe impl super::AtomicAdd<i64> for i64 {
    fn rhs_into_delta(rhs: i64) -> i64 {
        rhs
    }
}

/// The representation of `isize` and `usize`.
#[allow(non_camel_case_types)]
#[cfg(target_pointer_width = "32")]
type isize_atomic_repr = i32;
/// The representation of `isize` and `usize`.
#[allow(non_camel_case_types)]
#[cfg(target_pointer_width = "64")]
type isize_atomic_repr = i64;

static_assert!(size_of::<isize>() == size_of::<isize_atomic_repr>());
static_assert!(align_of::<isize>() == align_of::<isize_atomic_repr>());
static_assert!(size_of::<usize>() == size_of::<isize_atomic_repr>());
static_assert!(align_of::<usize>() == align_of::<isize_atomic_repr>());

// SAFETY: Same size and alignment (asserted above); every bit pattern is valid for both.
unsafe impl super::AtomicType for isize {
    type Repr = isize_atomic_repr;
}

// SAFETY: Two's complement wrapping addition is the same for both types.
unsafe impl super::AtomicAdd<isize> for isize {
    fn rhs_into_delta(rhs: isize) -> isize_atomic_repr {
        // CAST: same size.
        rhs as isize_atomic_repr
    }
}

// SAFETY: Same size and alignment; every bit pattern is valid for both.
unsafe impl super::AtomicType for u32 {
    type Repr = i32;
}

// SAFETY: Two's complement wrapping addition is the same for signed and unsigned values.
unsafe impl super::AtomicAdd<u32> for u32 {
    fn rhs_into_delta(rhs: u32) -> i32 {
        // CAST: same size; the bits are kept.
        rhs as i32
    }
}

// SAFETY: Same size and alignment; every bit pattern is valid for both.
unsafe impl super::AtomicType for u64 {
    type Repr = i64;
}

// SAFETY: Two's complement wrapping addition is the same for signed and unsigned values.
unsafe impl super::AtomicAdd<u64> for u64 {
    fn rhs_into_delta(rhs: u64) -> i64 {
        // CAST: same size; the bits are kept.
        rhs as i64
    }
}

// SAFETY: Same size and alignment (asserted above); every bit pattern is valid for both.
unsafe impl super::AtomicType for usize {
    type Repr = isize_atomic_repr;
}

// SAFETY: Two's complement wrapping addition is the same for signed and unsigned values.
unsafe impl super::AtomicAdd<usize> for usize {
    fn rhs_into_delta(rhs: usize) -> isize_atomic_repr {
        // CAST: same size; the bits are kept.
        rhs as isize_atomic_repr
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;

    macro_rules! for_each_type {
        ($val:literal in [$($type:ty),*] $fn:expr) => {
            $({
                let v: $type = $val;
                $fn(v);
            })*
        }
    }

    #[test]
    fn loads_stores_exchanges_of_every_integer() {
        for_each_type!(42 in [i8, i16, i32, i64, u32, u64, isize, usize] |v| {
            let x = Atomic::new(v);
            assert_eq!(x.load(Relaxed), v);
            x.store(v + 1, Release);
            assert_eq!(x.load(Acquire), v + 1);
            assert_eq!(x.xchg(v, Full), v + 1);
            assert_eq!(x.cmpxchg(v + 1, v, Full), Err(v));
            assert_eq!(x.cmpxchg(v, v + 2, Relaxed), Ok(v));
            let ptr = x.as_ptr();
            // SAFETY: `ptr` points to the live atomic `x`, accessed atomically only.
            unsafe {
                assert_eq!(atomic_load(ptr, Relaxed), v + 2);
                atomic_store(ptr, v, Release);
                assert_eq!(xchg(ptr, v + 1, Full), v);
                assert_eq!(cmpxchg(ptr, v + 1, v, Full), Ok(v + 1));
            }
        });
    }

    #[test]
    fn arithmetic_wraps() {
        for_each_type!(42 in [i32, i64, u32, u64, isize, usize] |v| {
            let x = Atomic::new(v);
            x.add(1, Relaxed);
            assert_eq!(x.fetch_add(2, Full), v + 1);
            assert_eq!(x.fetch_sub(3, Acquire), v + 3);
            assert_eq!(x.load(Relaxed), v);
        });
        let x = Atomic::new(u32::MAX);
        assert_eq!(x.fetch_add(1, Relaxed), u32::MAX);
        assert_eq!(x.load(Relaxed), 0);
    }

    #[test]
    fn bools_and_pointers() {
        let b = Atomic::new(false);
        assert!(!b.xchg(true, Full));
        assert_eq!(b.cmpxchg(false, true, Relaxed), Err(true));

        let mut a = 1u8;
        let mut c = 2u8;
        let mut p = Atomic::new(&raw mut a);
        assert_eq!(p.xchg(&raw mut c, Release), &raw mut a);
        assert_eq!(p.load(Acquire), &raw mut c);
        assert_eq!(*p.get_mut(), &raw mut c);
        let cp = Atomic::new(&raw const a);
        assert_eq!(
            cp.cmpxchg(&raw const a, &raw const c, Full),
            Ok(&raw const a)
        );
    }

    #[test]
    fn flags() {
        let mut f = AtomicFlag::new(true);
        assert_eq!(f.cmpxchg(true, false, Full), Ok(true));
        assert!(!f.load(Relaxed));
        *f.get_mut() = true;
        f.store(false, Release);
        assert!(!f.xchg(true, Acquire));
    }

    #[test]
    fn concurrent_increments_are_not_lost() {
        let x = Atomic::new(0u64);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..1000 {
                        x.fetch_add(1, Full);
                    }
                });
            }
        });
        assert_eq!(x.load(Relaxed), 4000);
    }
}
