//! Single bits and contiguous masks of bits, for register definitions.
//!
//! Mirrors `rust/kernel/bits.rs` of Linux 7.3 (C's `BIT()` and `GENMASK()`), for `u8`, `u16`,
//! `u32` and `u64`:
//!
//! - `bit_u32(n)` is the value with only bit `n` set, and `genmask_u32(l..=h)` the value with
//!   bits `l` to `h` set. Both are `const fn`s whose argument must be in range, which
//!   [`build_assert!`](crate::build_assert::build_assert) checks at build time: in a constant,
//!   evaluation fails; elsewhere the link fails unless the optimiser proves the argument in range.
//! - `checked_bit_u32(n)` and `genmask_checked_u32(l..=h)` check at run time and return `None` for
//!   an argument out of range.
//!
//! # Examples
//!
//! ```
//! use kernel::bits::{bit_u32, checked_bit_u8, genmask_checked_u16, genmask_u64};
//!
//! const ENABLE: u32 = bit_u32(31);
//! const ADDRESS: u64 = genmask_u64(12..=51);
//! assert_eq!(ENABLE, 0x8000_0000);
//! assert_eq!(ADDRESS, 0x000f_ffff_ffff_f000);
//! assert_eq!(checked_bit_u8(8), None);
//! assert_eq!(genmask_checked_u16(4..=7), Some(0xf0));
//! assert_eq!(genmask_checked_u16(7..=4), None);
//! ```

use core::ops::RangeInclusive;

use crate::build_assert::build_assert;
use crate::macros::paste;

/// Defines `checked_bit_$ty` and `bit_$ty`.
macro_rules! bit_fns {
    ($($ty:ident),*) => {$(
        paste! {
            #[doc = concat!("The `", stringify!($ty), "` with only bit `n` set, or `None` if `n` is \
                not below ", stringify!($ty), "::BITS.")]
            ///
            /// Mirrors the kernel's function of the same name.
            #[inline]
            pub fn [<checked_bit_ $ty>](n: u32) -> Option<$ty> {
                (1 as $ty).checked_shl(n)
            }

            #[doc = concat!("The `", stringify!($ty), "` with only bit `n` set (C's `BIT()`).")]
            ///
            #[doc = concat!("`n` must be below `", stringify!($ty), "::BITS`, which is checked at \
                build time (see the [module documentation](self)).")]
            ///
            /// Mirrors the kernel's function of the same name.
            #[inline(always)]
            pub const fn [<bit_ $ty>](n: u32) -> $ty {
                build_assert!(n < <$ty>::BITS);
                (1 as $ty) << n
            }
        }
    )*};
}

/// Defines `genmask_checked_$ty` and `genmask_$ty`.
macro_rules! genmask_fns {
    ($($ty:ident),*) => {$(
        paste! {
            #[doc = concat!("The `", stringify!($ty), "` with the bits of `range` set, or `None` if \
                the range is reversed or ends at or above ", stringify!($ty), "::BITS.")]
            ///
            /// Mirrors the kernel's function of the same name.
            #[inline]
            pub fn [<genmask_checked_ $ty>](range: RangeInclusive<u32>) -> Option<$ty> {
                let (low, high) = (*range.start(), *range.end());
                if low > high {
                    return None;
                }
                let top = [<checked_bit_ $ty>](high)?;
                let bottom = [<checked_bit_ $ty>](low)?;
                Some((top | (top - 1)) & !(bottom - 1))
            }

            #[doc = concat!("The `", stringify!($ty), "` with the bits of `range` set (C's \
                `GENMASK()`, with the range written low to high).")]
            ///
            #[doc = concat!("The range must not be reversed and must end below `", stringify!($ty),
                "::BITS`, which is checked at build time (see the [module documentation](self)).")]
            ///
            /// Mirrors the kernel's function of the same name.
            #[inline(always)]
            pub const fn [<genmask_ $ty>](range: RangeInclusive<u32>) -> $ty {
                let (low, high) = (*range.start(), *range.end());
                build_assert!(low <= high);
                let top = [<bit_ $ty>](high);
                let bottom = [<bit_ $ty>](low);
                (top | (top - 1)) & !(bottom - 1)
            }
        }
    )*};
}

bit_fns!(u64, u32, u16, u8);
genmask_fns!(u64, u32, u16, u8);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::reversed_empty_ranges)]
    fn bits_and_masks_at_the_edges() {
        assert_eq!(bit_u8(7), 0x80);
        assert_eq!(bit_u64(63), 1 << 63);
        assert_eq!(checked_bit_u32(31), Some(1 << 31));
        assert_eq!(checked_bit_u32(32), None);
        assert_eq!(genmask_u8(0..=7), u8::MAX);
        assert_eq!(genmask_u32(3..=3), 0x8);
        assert_eq!(genmask_u64(0..=63), u64::MAX);
        assert_eq!(genmask_checked_u64(0..=64), None);
        assert_eq!(genmask_checked_u8(0..=7), Some(u8::MAX));
        assert_eq!(genmask_checked_u32(2..=1), None);
    }

    #[test]
    fn the_const_forms_evaluate_at_compile_time() {
        const MASK: u16 = genmask_u16(4..=11);
        const BIT: u16 = bit_u16(15);
        assert_eq!((MASK, BIT), (0x0ff0, 0x8000));
    }
}
