//! Formatting: the kernel's `kernel::fmt` module.
//!
//! Mirrors `rust/kernel/fmt.rs`: the `core::fmt` items a driver uses, re-exported, and the [`fmt!`]
//! macro, which in the kernel wraps arguments so that kernel types format through their own
//! implementations. In userspace every type formats through `core::fmt` directly, so `fmt!` is
//! `format_args!`.
//!
//! [`fmt!`]: crate::fmt!

pub use core::fmt::{Arguments, Debug, Display, Error, Formatter, Result, Write};

/// Creates [`Arguments`] from a format string and its arguments, as `format_args!` does.
///
/// Mirrors the kernel's `fmt!` macro (from its `macros` crate), which the printing macros use.
///
/// # Examples
///
/// ```
/// let args = kernel::fmt!("{} + {} = {}", 1, 2, 1 + 2);
/// assert_eq!(args.to_string(), "1 + 2 = 3");
/// ```
#[macro_export]
macro_rules! fmt {
    ($($arg:tt)*) => {
        ::core::format_args!($($arg)*)
    };
}
