//! C types, as the kernel's `ffi` crate provides them.
//!
//! Mirrors the `ffi` crate that the kernel re-exports as `kernel::ffi`; here the types are those of
//! `core::ffi`, which match the kernel's on the architectures drydock runs on.

pub use core::ffi::{
    c_char, c_int, c_long, c_longlong, c_schar, c_short, c_uchar, c_uint, c_ulong, c_ulonglong,
    c_ushort, c_void, CStr,
};
