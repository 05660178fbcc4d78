//! The procedural macros of the kernel's `macros` crate, for drydock.
//!
//! Mirrors `rust/macros/` of Linux 7.3 for the macros that the mirrored `kernel` crate and driver
//! files use: [`paste!`] (identifier pasting, used by `bitfield!`/`register!` and `num::casts`)
//! and [`kunit_tests`] (KUnit test modules, which become ordinary `cargo test` unit tests here).
//! The crate is named `macros`, as in the kernel; `kernel::macros` re-exports it.
//!
//! The implementation uses only the compiler's `proc_macro` API, so the crate has no dependencies.

mod kunit;
mod paste;

use proc_macro::TokenStream;

/// Pastes identifiers together inside `[< ... >]` groups.
///
/// Mirrors the kernel's `paste!`. Within the macro input, every bracketed group of the form
/// `[< part part ... >]` is replaced by a single identifier made of its parts, concatenated. A part
/// is an identifier (a leading `r#` is dropped), a literal (string literals lose their quotes), or
/// the tokens of a macro variable. A part may be followed by a modifier:
///
/// - `:lower` / `:upper`: the part is lowercased / uppercased;
/// - `:span`: the pasted identifier takes this part's span (hygiene and error location) instead of
///   the span of the `[< >]` group.
///
/// # Examples
///
/// ```
/// macro_rules! getter {
///     ($field:ident) => {
///         macros::paste! {
///             const [<$field:upper _SHIFT>]: u32 = 4;
///             fn [<get_ $field>]() -> u32 { [<$field:upper _SHIFT>] }
///         }
///     };
/// }
/// getter!(mode);
/// assert_eq!(get_mode(), MODE_SHIFT);
/// ```
#[proc_macro]
pub fn paste(input: TokenStream) -> TokenStream {
    paste::expand(input)
}

/// Turns a KUnit test module into ordinary unit tests.
///
/// Mirrors the kernel's `#[kunit_tests(suite_name)]` attribute, which registers the module's
/// `#[test]` functions as a KUnit suite. Here the module is compiled only under `cfg(test)` and its
/// `#[test]` functions run under `cargo test` (the suite name is checked, as in the kernel, to be
/// at most 255 bytes long, and otherwise unused).
///
/// A test may return `()` or a `Result<(), E>` with `E: Debug` (such as `kernel::error::Result`):
/// as with KUnit, which marks a test that returns an error as failed, a test returning `Err(_)`
/// fails, with the error's `Debug` form in the report.
///
/// # Examples
///
/// (Not run as a doctest: a doctest does not run `#[test]` functions. The crate's own test
/// modules use the attribute.)
///
/// ```ignore
/// #[macros::kunit_tests(rust_doc_example)]
/// mod tests {
///     #[test]
///     fn addition() {
///         assert_eq!(1 + 1, 2);
///     }
///
///     #[test]
///     fn fallible() -> Result<(), core::num::TryFromIntError> {
///         let small: u8 = 200u32.try_into()?;
///         assert_eq!(small, 200);
///         Ok(())
///     }
/// }
/// ```
#[proc_macro_attribute]
pub fn kunit_tests(attr: TokenStream, item: TokenStream) -> TokenStream {
    kunit::expand(attr, item)
}
