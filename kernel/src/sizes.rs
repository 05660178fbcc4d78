//! Common sizes: the `SZ_*` constants.
//!
//! Mirrors `rust/kernel/sizes.rs` of Linux 7.3 (the C `include/linux/sizes.h`): the constants as
//! `usize` (for CPU-side arithmetic such as page counts) and, through [`SizeConstants`], as
//! associated constants of `u32`, `u64` and `usize` (for device address spaces, whose width does
//! not follow the CPU's). Identical to the kernel's.
//!
//! # Examples
//!
//! ```
//! use kernel::sizes::{SizeConstants, SZ_2M, SZ_4K};
//!
//! assert_eq!(SZ_2M / SZ_4K, 512);
//! let window: u64 = 3 * u64::SZ_1G;
//! assert_eq!(window, 0xc000_0000);
//! assert_eq!(u32::SZ_2G, 1 << 31);
//! ```

/// Defines the `usize` constants, the [`SizeConstants`] trait and its implementations.
macro_rules! define_sizes {
    ($($name:ident = $value:literal),* $(,)?) => {
        $(
            #[doc = concat!("`", stringify!($value), "`.")]
            pub const $name: usize = $value;
        )*

        /// The `SZ_*` constants as associated constants of an integer type, for device address
        /// spaces.
        ///
        /// Mirrors `kernel::sizes::SizeConstants`; implemented for `u32`, `u64` and `usize` (every
        /// size fits in a `u32`).
        pub trait SizeConstants {
            $(
                #[doc = concat!("`", stringify!($value), "`.")]
                const $name: Self;
            )*
        }

        define_sizes!(@impl u32: $($name = $value),*);
        define_sizes!(@impl u64: $($name = $value),*);
        define_sizes!(@impl usize: $($name = $value),*);
    };
    (@impl $int:ty: $($name:ident = $value:literal),*) => {
        impl SizeConstants for $int {
            $(const $name: Self = $value;)*
        }
    };
}

define_sizes!(
    SZ_1K = 0x0000_0400,
    SZ_2K = 0x0000_0800,
    SZ_4K = 0x0000_1000,
    SZ_8K = 0x0000_2000,
    SZ_16K = 0x0000_4000,
    SZ_32K = 0x0000_8000,
    SZ_64K = 0x0001_0000,
    SZ_128K = 0x0002_0000,
    SZ_256K = 0x0004_0000,
    SZ_512K = 0x0008_0000,
    SZ_1M = 0x0010_0000,
    SZ_2M = 0x0020_0000,
    SZ_4M = 0x0040_0000,
    SZ_8M = 0x0080_0000,
    SZ_16M = 0x0100_0000,
    SZ_32M = 0x0200_0000,
    SZ_64M = 0x0400_0000,
    SZ_128M = 0x0800_0000,
    SZ_256M = 0x1000_0000,
    SZ_512M = 0x2000_0000,
    SZ_1G = 0x4000_0000,
    SZ_2G = 0x8000_0000,
);
