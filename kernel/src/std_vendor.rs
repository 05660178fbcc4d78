//! Helpers in the style of the standard library: `dbg!`.
//!
//! Mirrors `rust/kernel/std_vendor.rs` of Linux 7.3, whose `dbg!` is the standard library's,
//! adapted to print through `pr_info!`.
//!
//! Difference from the kernel: `kernel::dbg!` is the standard library's `dbg!` itself, printing
//! `[file:line:column] expression = value` to standard error (where a driver process's log goes
//! too) rather than through `pr_info!`. A drydock driver crate is not `no_std` (in a kernel tree
//! every module is built with `-Zcrate-attr=no_std`, which a stable toolchain cannot do), so the
//! standard library's `dbg!` is in scope in every driver file; a `dbg!` of the kernel's own, also
//! in scope through `use kernel::prelude::*;`, would make every use of `dbg!` ambiguous, as it
//! did for Linux's own `rust_print_main` sample. Being the same macro, it is not.
//!
//! # Examples
//!
//! ```
//! # use kernel::prelude::*;
//! let a = 2;
//! let b = dbg!(a * 2) + 1;
//! assert_eq!(b, 5);
//! let (x, y) = kernel::dbg!(1, "two");
//! assert_eq!((x, y), (1, "two"));
//! ```

#[doc(inline)]
pub use std::dbg;
