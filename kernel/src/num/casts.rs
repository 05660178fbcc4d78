//! Lossless integer casts, including those the standard library's [`From`] leaves out.
//!
//! Mirrors `rust/kernel/num/casts.rs` of Linux 7.3. The `as` operator does not tell a widening
//! cast from a truncating one; this module offers casts that are lossless by construction:
//!
//! - `const fn`s such as [`u32_as_usize`] and [`usize_as_u64`], for `const` contexts (where
//!   [`From`] cannot be called), covering the standard widenings too;
//! - [`FromSafeCast`] / [`IntoSafeCast`], for the widenings that hold on every architecture the
//!   kernel supports (32 and 64 bits) but that `From` does not provide;
//! - `const fn`s such as [`u64_into_u8`], narrowing a constant, with a build-time check that it
//!   fits;
//! - [`arch`], for casts lossless only for this build's pointer width.
//!
//! Identical to the kernel's; `CONFIG_64BIT` is `target_pointer_width = "64"` here.
//!
//! # Examples
//!
//! ```
//! use kernel::num::casts::{self, FromSafeCast, IntoSafeCast};
//!
//! const RING_ENTRIES: usize = casts::u16_as_usize(256);
//! let bus_addr: u64 = 0x1000usize.into_safe_cast();
//! assert_eq!(usize::from_safe_cast(7u32), 7);
//! assert_eq!(casts::u32_into_u8::<255>(), 255u8);
//! # let _ = (RING_ENTRIES, bus_addr);
//! ```

/// Defines `const fn {from}_as_{into}` widening casts.
macro_rules! impl_safe_as {
    ($from:ident as { $($into:ident),* }) => {$(
        $crate::macros::paste! {
            #[doc = concat!("Converts a [`", stringify!($from), "`] into a [`", stringify!($into),
                "`] without loss, in `const` contexts too.")]
            ///
            /// Outside `const` contexts, [`FromSafeCast`] and [`IntoSafeCast`] (or [`From`]) say
            /// the same.
            ///
            /// # Examples
            ///
            /// ```
            /// use kernel::num::casts;
            ///
            #[doc = concat!("const V: ", stringify!($into), " = casts::", stringify!($from), "_as_",
                stringify!($into), "(", stringify!($from), "::MAX);")]
            #[doc = concat!("assert_eq!(V as u128, ", stringify!($from), "::MAX as u128);")]
            /// ```
            #[inline]
            pub const fn [<$from _as_ $into>](value: $from) -> $into {
                $crate::static_assert!(size_of::<$into>() >= size_of::<$from>());
                // CAST: the target is at least as wide as the source, asserted above.
                value as $into
            }
        }
    )*};
}

impl_safe_as!(u8 as { u16, u32, u64, usize });
impl_safe_as!(u16 as { u32, u64, usize });
impl_safe_as!(u32 as { u64 });
// Every architecture the kernel supports has pointers of at most 64 bits...
impl_safe_as!(usize as { u64 });
// ... and of at least 32 bits.
impl_safe_as!(u32 as { usize });

/// Conversion into `Self` that is lossless on every architecture the kernel supports, where the
/// standard library offers none (it keeps `From<usize> for u64` out for portability).
///
/// Mirrors `kernel::num::casts::FromSafeCast`: implemented for `u64` from `usize` and for `usize`
/// from `u32`.
///
/// # Examples
///
/// ```
/// use kernel::num::casts::FromSafeCast;
///
/// assert_eq!(u64::from_safe_cast(usize::MAX), u64::MAX);
/// ```
pub trait FromSafeCast<T> {
    /// Converts `value` into `Self` without loss.
    fn from_safe_cast(value: T) -> Self;
}

impl FromSafeCast<usize> for u64 {
    #[inline]
    fn from_safe_cast(value: usize) -> Self {
        usize_as_u64(value)
    }
}

impl FromSafeCast<u32> for usize {
    #[inline]
    fn from_safe_cast(value: u32) -> Self {
        u32_as_usize(value)
    }
}

/// The other direction of [`FromSafeCast`], as [`Into`] is to [`From`].
///
/// Mirrors `kernel::num::casts::IntoSafeCast`.
///
/// # Examples
///
/// ```
/// use kernel::num::casts::IntoSafeCast;
///
/// let len: usize = 4096u32.into_safe_cast();
/// assert_eq!(len, 4096);
/// ```
pub trait IntoSafeCast<T> {
    /// Converts `self` into `T` without loss.
    fn into_safe_cast(self) -> T;
}

impl<S, T: FromSafeCast<S>> IntoSafeCast<T> for S {
    #[inline]
    fn into_safe_cast(self) -> T {
        T::from_safe_cast(self)
    }
}

/// Defines `const fn {from}_into_{into}::<N>()` narrowing casts of a constant.
macro_rules! impl_const_into {
    ($from:ident => { $($into:ident),* }) => {$(
        $crate::macros::paste! {
            #[doc = concat!("Converts the constant `N` from [`", stringify!($from), "`] to [`",
                stringify!($into), "`]; the build fails if it does not fit.")]
            ///
            /// # Examples
            ///
            /// ```
            /// use kernel::num::casts;
            ///
            #[doc = concat!("assert_eq!(casts::", stringify!($from), "_into_", stringify!($into),
                "::<{ ", stringify!($into), "::MAX as ", stringify!($from), " }>(), ",
                stringify!($into), "::MAX);")]
            /// ```
            #[inline]
            pub const fn [<$from _into_ $into>]<const N: $from>() -> $into {
                $crate::static_assert!(<$from>::BITS >= <$into>::BITS);
                // CAST: widening the target's bounds to the (wider) source type is lossless.
                $crate::const_assert!(
                    N >= <$into>::MIN as $from && N <= <$into>::MAX as $from,
                    "the constant does not fit in the target type"
                );
                // CAST: `N` is within the target's range, asserted above.
                N as $into
            }
        }
    )*};
}

impl_const_into!(usize => { u8, u16, u32 });
impl_const_into!(u64 => { u8, u16, u32 });
impl_const_into!(u32 => { u8, u16 });
impl_const_into!(u16 => { u8 });

/// Casts that are lossless only for this build's pointer width.
///
/// Mirrors `kernel::num::casts::arch`. Code using it depends on the pointer width (the kernel's
/// `CONFIG_64BIT`); keep it to code that is specific to one anyway.
pub mod arch {
    /// [`FromSafeCast`](super::FromSafeCast) for casts lossless on this architecture only.
    pub trait FromSafeCastArch<T> {
        /// Converts `value` into `Self` without loss.
        fn from_safe_cast_arch(value: T) -> Self;
    }

    /// The other direction of [`FromSafeCastArch`].
    pub trait IntoSafeCastArch<T> {
        /// Converts `self` into `T` without loss.
        fn into_safe_cast_arch(self) -> T;
    }

    impl<S, T: FromSafeCastArch<S>> IntoSafeCastArch<T> for S {
        #[inline]
        fn into_safe_cast_arch(self) -> T {
            T::from_safe_cast_arch(self)
        }
    }

    /// Converts a [`u64`] into a [`usize`], lossless with 64-bit pointers.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::casts::arch::u64_as_usize;
    ///
    /// assert_eq!(u64_as_usize(u64::MAX), usize::MAX);
    /// ```
    #[cfg(target_pointer_width = "64")]
    #[inline]
    pub const fn u64_as_usize(value: u64) -> usize {
        // CAST: `usize` has 64 bits on this architecture.
        value as usize
    }

    #[cfg(target_pointer_width = "64")]
    impl FromSafeCastArch<u64> for usize {
        #[inline]
        fn from_safe_cast_arch(value: u64) -> Self {
            u64_as_usize(value)
        }
    }

    /// Converts a [`usize`] into a [`u32`], lossless with 32-bit pointers.
    #[cfg(target_pointer_width = "32")]
    #[inline]
    pub const fn usize_as_u32(value: usize) -> u32 {
        // CAST: `usize` has 32 bits on this architecture.
        value as u32
    }

    #[cfg(target_pointer_width = "32")]
    impl FromSafeCastArch<usize> for u32 {
        #[inline]
        fn from_safe_cast_arch(value: usize) -> Self {
            usize_as_u32(value)
        }
    }
}
