//! The kernel's procedural and declarative helper macros, as `kernel::macros` re-exports them.
//!
//! Mirrors the kernel's `macros` crate. (Skeleton: completed as the macros land.)

pub use crate::fmt;
