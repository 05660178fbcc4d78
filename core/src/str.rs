//! Strings.
//!
//! Mirrors `rust/kernel/str.rs`. (Skeleton: completed by the str work.)

pub use core::ffi::CStr;
