//! ioctl command numbers: building them and taking them apart.
//!
//! Mirrors `rust/kernel/ioctl.rs` of Linux 7.3 (C's `_IO`, `_IOR`, `_IOW`, `_IOWR` and `_IOC_*`
//! macros of `include/uapi/asm-generic/ioctl.h`). A command number packs a direction (none, read,
//! write or both, from the caller's point of view), a type (usually a character naming the
//! driver), a number within the type, and the size of the argument the command copies. The
//! builders are `const fn`s whose fields must fit their bits, which `build_assert!` checks.
//!
//! # Examples
//!
//! ```
//! use kernel::ioctl::{_IOC_DIR, _IOC_NR, _IOC_SIZE, _IOC_TYPE, _IOR, _IOW, _IO};
//! use kernel::uapi::{_IOC_NONE, _IOC_READ, _IOC_WRITE};
//!
//! const HELLO: u32 = _IO(b'|' as u32, 0x80);
//! const GET_VALUE: u32 = _IOR::<i32>(b'|' as u32, 0x81);
//! const SET_VALUE: u32 = _IOW::<i32>(b'|' as u32, 0x82);
//!
//! assert_eq!(HELLO, 0x7c80);
//! assert_eq!(_IOC_DIR(GET_VALUE), _IOC_READ);
//! assert_eq!(_IOC_DIR(SET_VALUE), _IOC_WRITE);
//! assert_eq!(_IOC_DIR(HELLO), _IOC_NONE);
//! assert_eq!((_IOC_TYPE(SET_VALUE), _IOC_NR(SET_VALUE)), (b'|' as u32, 0x82));
//! assert_eq!(_IOC_SIZE(GET_VALUE), 4);
//! ```

#![allow(non_snake_case)]

use crate::build_assert::build_assert;
use crate::uapi;

/// Packs the four fields of a command number (C's `_IOC`).
#[inline(always)]
const fn _IOC(dir: u32, ty: u32, nr: u32, size: usize) -> u32 {
    build_assert!(dir <= uapi::_IOC_DIRMASK);
    build_assert!(ty <= uapi::_IOC_TYPEMASK);
    build_assert!(nr <= uapi::_IOC_NRMASK);
    build_assert!(size <= uapi::_IOC_SIZEMASK as usize);
    // CAST: `size` fits the size field, checked above.
    dir << uapi::_IOC_DIRSHIFT
        | ty << uapi::_IOC_TYPESHIFT
        | nr << uapi::_IOC_NRSHIFT
        | (size as u32) << uapi::_IOC_SIZESHIFT
}

/// A command that copies no argument (C's `_IO`).
///
/// Mirrors `kernel::ioctl::_IO`.
#[inline(always)]
pub const fn _IO(ty: u32, nr: u32) -> u32 {
    _IOC(uapi::_IOC_NONE, ty, nr, 0)
}

/// A command that copies a `T` to the caller (C's `_IOR`).
///
/// Mirrors `kernel::ioctl::_IOR`.
#[inline(always)]
pub const fn _IOR<T>(ty: u32, nr: u32) -> u32 {
    _IOC(uapi::_IOC_READ, ty, nr, core::mem::size_of::<T>())
}

/// A command that copies a `T` from the caller (C's `_IOW`).
///
/// Mirrors `kernel::ioctl::_IOW`.
#[inline(always)]
pub const fn _IOW<T>(ty: u32, nr: u32) -> u32 {
    _IOC(uapi::_IOC_WRITE, ty, nr, core::mem::size_of::<T>())
}

/// A command that copies a `T` from the caller and back (C's `_IOWR`).
///
/// Mirrors `kernel::ioctl::_IOWR`.
#[inline(always)]
pub const fn _IOWR<T>(ty: u32, nr: u32) -> u32 {
    _IOC(
        uapi::_IOC_READ | uapi::_IOC_WRITE,
        ty,
        nr,
        core::mem::size_of::<T>(),
    )
}

/// The direction of command `nr` (C's `_IOC_DIR`).
///
/// Mirrors `kernel::ioctl::_IOC_DIR`.
pub const fn _IOC_DIR(nr: u32) -> u32 {
    nr >> uapi::_IOC_DIRSHIFT & uapi::_IOC_DIRMASK
}

/// The type of command `nr` (C's `_IOC_TYPE`).
///
/// Mirrors `kernel::ioctl::_IOC_TYPE`.
pub const fn _IOC_TYPE(nr: u32) -> u32 {
    nr >> uapi::_IOC_TYPESHIFT & uapi::_IOC_TYPEMASK
}

/// The number of command `nr` within its type (C's `_IOC_NR`).
///
/// Mirrors `kernel::ioctl::_IOC_NR`.
pub const fn _IOC_NR(nr: u32) -> u32 {
    nr >> uapi::_IOC_NRSHIFT & uapi::_IOC_NRMASK
}

/// The size of the argument command `nr` copies (C's `_IOC_SIZE`).
///
/// Mirrors `kernel::ioctl::_IOC_SIZE`.
pub const fn _IOC_SIZE(nr: u32) -> usize {
    // CAST: the size field has 14 bits.
    (nr >> uapi::_IOC_SIZESHIFT & uapi::_IOC_SIZEMASK) as usize
}
