//! The kernel's procedural and declarative helper macros, as `kernel::macros` re-exports them.
//!
//! Mirrors the kernel's `macros` crate: `module!`, `#[vtable]`, `#[export]`, `fmt!`,
//! `concat_idents!`, `paste!`, `#[kunit_tests]`, `ForLt!` and `CovariantForLt!`. The procedural
//! ones come from drydock's `macros` crate (package `drydock-macros`, in `kernel/macros`);
//! `module!`, `fmt!`, `ForLt!` and `CovariantForLt!` are `macro_rules!` here (see
//! `docs/porting.md`).

pub use crate::fmt;
pub use crate::module_macro as module;
pub use crate::{CovariantForLt, ForLt};

pub use ::macros::{concat_idents, export, kunit_tests, paste, vtable};
