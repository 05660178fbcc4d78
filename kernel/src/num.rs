//! Numbers: integer properties, [`Bounded`] integers and lossless casts.
//!
//! Mirrors `rust/kernel/num.rs` of Linux 7.3 and its submodules [`bounded`] (re-exported here, as
//! in the kernel) and [`casts`]. Identical to the kernel's.

use core::ops;

pub mod bounded;
pub mod casts;

pub use bounded::*;

/// Marks the unsigned integer types, as [`Integer::Signedness`].
///
/// Mirrors `kernel::num::Unsigned`.
pub enum Unsigned {}

/// Marks the signed integer types, as [`Integer::Signedness`].
///
/// Mirrors `kernel::num::Signed`.
pub enum Signed {}

mod private {
    /// Seals [`Integer`](super::Integer).
    pub trait Sealed {}
}

/// The primitive integer types and their core properties.
///
/// Mirrors `kernel::num::Integer`: sealed, implemented for `u8`..`u128`, `usize`, `i8`..`i128` and
/// `isize`, with every arithmetic, bitwise and shift operator as a supertrait.
pub trait Integer:
    private::Sealed
    + Sized
    + Copy
    + Clone
    + PartialEq
    + Eq
    + PartialOrd
    + Ord
    + ops::Add<Output = Self>
    + ops::AddAssign
    + ops::Sub<Output = Self>
    + ops::SubAssign
    + ops::Mul<Output = Self>
    + ops::MulAssign
    + ops::Div<Output = Self>
    + ops::DivAssign
    + ops::Rem<Output = Self>
    + ops::RemAssign
    + ops::BitAnd<Output = Self>
    + ops::BitAndAssign
    + ops::BitOr<Output = Self>
    + ops::BitOrAssign
    + ops::BitXor<Output = Self>
    + ops::BitXorAssign
    + ops::Shl<u32, Output = Self>
    + ops::ShlAssign<u32>
    + ops::Shr<u32, Output = Self>
    + ops::ShrAssign<u32>
    + ops::Not
{
    /// [`Signed`] or [`Unsigned`].
    type Signedness;

    /// The width of the type in bits.
    const BITS: u32;
}

macro_rules! impl_integer {
    ($($int:ty => $signedness:ty),* $(,)?) => {$(
        impl private::Sealed for $int {}

        impl Integer for $int {
            type Signedness = $signedness;
            const BITS: u32 = <$int>::BITS;
        }
    )*};
}

impl_integer!(
    u8 => Unsigned,
    u16 => Unsigned,
    u32 => Unsigned,
    u64 => Unsigned,
    u128 => Unsigned,
    usize => Unsigned,
    i8 => Signed,
    i16 => Signed,
    i32 => Signed,
    i64 => Signed,
    i128 => Signed,
    isize => Signed,
);
