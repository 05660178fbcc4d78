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
//! `cargo build` and `cargo test` do. As in the kernel, both macros may be used in a `const fn`:
//! when the function is evaluated at compile time, a failed assertion fails the evaluation.
//!
//! Differences from the kernel:
//! - a failed assertion in constant evaluation reports ``cannot access extern static
//!   `rust_build_error` `` with the chain of calls that led to it, where the kernel's reports the
//!   assertion's message (stable Rust cannot tell constant evaluation from run time in one
//!   function, so the symbol is a static that constant evaluation may not read);
//! - the proof needs the optimiser's inlining of `#[inline(always)]` code, which the kernel always
//!   has. rustc provides it at every optimisation level for the accessors of this crate; a crate
//!   that wraps them in its own non-inlined helpers may need `opt-level = 1` in debug builds, as
//!   drydock's workspace uses.

#[doc(inline)]
pub use crate::{build_assert_macro as build_assert, build_error, const_assert, static_assert};

extern "C" {
    /// Never defined: a read of it that survives optimisation fails the link, and a read during
    /// constant evaluation fails the evaluation, which is how [`build_assert!`] and
    /// [`build_error!`] report a failed build-time assertion.
    static rust_build_error: u8;
}

/// Fails the build if a call to it survives optimisation or is evaluated at compile time.
///
/// Called by [`build_error!`] and [`build_assert!`]; not meant to be called directly.
#[doc(hidden)]
#[inline(always)]
#[track_caller]
pub const fn build_error_fn(msg: &'static str) -> ! {
    // SAFETY: The symbol does not exist, so this read can only be part of a program that links if
    // the optimiser proved it unreachable, and constant evaluation refuses to read it; in a program
    // that builds, it never runs. The branch on the value keeps the read in the code that is
    // generated, so a call the optimiser cannot remove references the symbol.
    if unsafe { rust_build_error } == 0 {
        panic!("{}", msg);
    }
    #[allow(clippy::empty_loop)]
    loop {}
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
