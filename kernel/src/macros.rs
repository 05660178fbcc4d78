//! The kernel's procedural and declarative helper macros, as `kernel::macros` re-exports them.
//!
//! Mirrors the kernel's `macros` crate. The procedural ones come from drydock's `macros` crate
//! (package `drydock-macros`, in `kernel/macros`).

pub use crate::fmt;

pub use ::macros::{kunit_tests, paste};
