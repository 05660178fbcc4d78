//! Assertions checked when the code is built, not when it runs.
//!
//! Mirrors `rust/kernel/build_assert.rs` of Linux 7.3:
//!
//! - [`static_assert!`] asserts a constant expression at item level;
//! - [`const_assert!`] asserts a constant expression inside a function, where it may depend on
//!   generic parameters (it is evaluated when the function is instantiated);
//! - [`build_assert!`] asserts an expression that the optimiser must be able to prove, such as an
//!   I/O offset passed as a constant to an `#[inline(always)]` accessor;
//! - [`build_error!`] marks a path that must be optimised away.
//!
//! As in the kernel, [`build_assert!`] and [`build_error!`] work through the linker: when the
//! optimiser cannot remove the failing branch, the program references the undefined symbol
//! `rust_build_error` and the link fails with
//! `undefined symbol: rust_build_error ... referenced by <the function that asserted>`.
//! Checking without linking (`cargo check`, `cargo doc`) therefore does not report these failures;
//! `cargo build` and `cargo test` do.
//!
//! Differences from the kernel:
//! - the kernel's `build_error` function is a `const fn`, so `build_error!` and `build_assert!`
//!   may be used inside a `const fn` there. Stable Rust cannot make a `const fn` reference an
//!   undefined symbol, so in drydock these two macros work only in non-`const` functions; inside a
//!   `const fn`, use [`const_assert!`] (which the kernel has too);
//! - the proof needs the optimiser's inlining of `#[inline(always)]` code, which the kernel always
//!   has. rustc provides it at every optimisation level for the accessors of this crate; a crate
//!   that wraps them in its own non-inlined helpers may need `opt-level = 1` in debug builds, as
//!   drydock's workspace uses.

#[doc(inline)]
pub use crate::{build_assert_macro as build_assert, build_error, const_assert, static_assert};

extern "C" {
    /// Never defined: a reference to it that survives optimisation fails the link, which is how
    /// [`build_assert!`] and [`build_error!`] report a failed build-time assertion.
    fn rust_build_error() -> !;
}

/// Fails the build if a call to it survives optimisation.
///
/// Called by [`build_error!`] and [`build_assert!`]; not meant to be called directly.
#[doc(hidden)]
#[inline(always)]
#[track_caller]
pub fn build_error_fn(msg: &'static str) -> ! {
    let _ = msg;
    // SAFETY: The symbol does not exist, so this call can only be part of a program that links if
    // the optimiser proved it unreachable; in a program that links, it never runs.
    unsafe { rust_build_error() }
}

/// Asserts at item level that a constant boolean expression is true.
///
/// Mirrors the kernel's `static_assert!`; the build fails if the expression is false.
///
/// # Examples
///
/// ```
/// kernel::static_assert!(core::mem::size_of::<u32>() == 4);
/// kernel::static_assert!(1 + 1 == 2, "arithmetic works");
/// ```
#[macro_export]
macro_rules! static_assert {
    ($condition:expr $(,$arg:literal)?) => {
        const _: () = ::core::assert!($condition $(,$arg)?);
    };
}

/// Asserts inside a function that a constant expression is true; it may use the function's generic
/// parameters and is checked when the function is instantiated.
///
/// Mirrors the kernel's `const_assert!`.
///
/// # Examples
///
/// ```
/// fn first_word<const N: usize>(words: [u32; N]) -> u32 {
///     kernel::const_assert!(N > 0, "an empty array has no first word");
///     words[0]
/// }
/// assert_eq!(first_word([7, 8]), 7);
/// ```
#[macro_export]
macro_rules! const_assert {
    ($condition:expr $(,$arg:literal)?) => {
        const { ::core::assert!($condition $(,$arg)?) };
    };
}

/// Fails the build if the path that reaches it is not optimised away.
///
/// Mirrors the kernel's `build_error!`; see the [module documentation](self) for how it works and
/// how it differs.
#[macro_export]
macro_rules! build_error {
    () => {{
        $crate::build_assert::build_error_fn("")
    }};
    ($msg:expr) => {{
        $crate::build_assert::build_error_fn($msg)
    }};
}

/// Asserts a condition that the optimiser must prove true; the build fails otherwise.
///
/// Mirrors the kernel's `build_assert!`. Use it for conditions on values that are constants at the
/// call site but arrive as function arguments, such as register offsets; for true constants prefer
/// [`static_assert!`] or [`const_assert!`], which do not depend on the optimiser.
///
/// # Examples
///
/// ```
/// #[inline(always)]
/// fn word_at(offset: usize) -> usize {
///     kernel::build_assert::build_assert!(offset % 4 == 0, "offset must be word aligned");
///     offset / 4
/// }
/// assert_eq!(word_at(8), 2);
/// // `word_at(6)` would fail the link with `undefined symbol: rust_build_error`.
/// ```
#[macro_export]
macro_rules! build_assert_macro {
    ($cond:expr $(,)?) => {{
        if !$cond {
            $crate::build_assert::build_error_fn(concat!("assertion failed: ", stringify!($cond)));
        }
    }};
    ($cond:expr, $msg:expr) => {{
        if !$cond {
            $crate::build_assert::build_error_fn($msg);
        }
    }};
}
