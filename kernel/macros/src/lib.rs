//! The procedural macros of the kernel's `macros` crate, for drydock.
//!
//! Mirrors `rust/macros/` of Linux 7.3 for the macros that the mirrored `kernel` crate and driver
//! files use: [`paste!`] (identifier pasting, used by `bitfield!`/`register!` and `num::casts`),
//! [`concat_idents!`], [`vtable`] (which methods of an operations trait an implementation
//! provides), [`export`] (a function C calls by name) and [`kunit_tests`] (KUnit test modules,
//! which become ordinary `cargo test` unit tests here). The crate is named `macros`, as in the
//! kernel; `kernel::macros` re-exports it with the kernel's other macros (`module!`, `fmt!`,
//! `ForLt!`, `CovariantForLt!`), which drydock writes as `macro_rules!`.
//!
//! `paste!` and `#[kunit_tests]` use only the compiler's `proc_macro` API; the attribute macros
//! parse Rust items, with `syn`, as the kernel's do.

mod concat_idents;
mod export;
mod kunit;
mod paste;
mod vtable;

use proc_macro::TokenStream;
use syn::parse_macro_input;

/// Marks an operations trait whose methods are optional, and the implementations of one.
///
/// Mirrors the kernel's `#[vtable]`. A C driver table (`file_operations`, `blk_mq_ops`...) holds a
/// null pointer for an operation the driver does not provide, and the kernel calls the operation
/// only where the pointer is set. A Rust operations trait gives every optional method a default
/// body (`build_error!(VTABLE_DEFAULT_ERROR)`, so that calling it fails the build), and the code
/// that fills the C table asks, for each method, whether the implementation provides it:
///
/// - on the trait, the attribute adds a `const HAS_FOO: bool = false;` for each method `foo`, the
///   marker `const USE_VTABLE_ATTR: ();`, which an implementation without the attribute does not
///   define and so fails to build, and, unless the trait declares it, the associated type
///   `OwnerModule: ModuleMetadata`;
/// - on an implementation, it defines `HAS_FOO = true` for each method `foo` the implementation
///   writes (unless it sets the constant itself), `USE_VTABLE_ATTR`, and, unless given,
///   `type OwnerModule = crate::LocalModule;` (the type `module!` declares).
///
/// A method's `#[cfg]` attributes carry over to its constant.
///
/// # Examples
///
/// (Not run here: the example needs the `kernel` crate, whose tests run it.)
///
/// ```ignore
/// use kernel::error::VTABLE_DEFAULT_ERROR;
/// use kernel::prelude::*;
///
/// #[vtable]
/// pub trait Operations: Send + Sync + Sized {
///     fn open(&self) -> Result {
///         build_error!(VTABLE_DEFAULT_ERROR)
///     }
///     fn flush(&self) -> Result {
///         build_error!(VTABLE_DEFAULT_ERROR)
///     }
/// }
///
/// struct Device;
///
/// #[vtable]
/// impl Operations for Device {
///     fn open(&self) -> Result {
///         Ok(())
///     }
/// }
///
/// assert!(<Device as Operations>::HAS_OPEN && !<Device as Operations>::HAS_FLUSH);
/// ```
#[proc_macro_attribute]
pub fn vtable(attr: TokenStream, item: TokenStream) -> TokenStream {
    parse_macro_input!(attr as syn::parse::Nothing);
    vtable::expand(parse_macro_input!(item))
        .unwrap_or_else(|err| err.into_compile_error())
        .into()
}

/// Makes a Rust function callable from C by its name.
///
/// Mirrors the kernel's `#[export]`: the function's name is not mangled.
///
/// Difference from the kernel: the kernel also checks at build time that the signature matches
/// the declaration bindgen generated from the C header that declares the function. drydock has no
/// C headers and no C callers, so there is nothing to check the signature against; a mismatch
/// shows only in the kernel build.
#[proc_macro_attribute]
pub fn export(attr: TokenStream, item: TokenStream) -> TokenStream {
    parse_macro_input!(attr as syn::parse::Nothing);
    export::expand(parse_macro_input!(item)).into()
}

/// Joins two identifiers into one, with the second's span.
///
/// Mirrors the kernel's `concat_idents!`, for `macro_rules!` macros that build names from their
/// arguments.
///
/// # Examples
///
/// ```
/// macro_rules! prefixed {
///     ($prefix:ident, $name:ident) => {
///         const $name: u32 = 7;
///         const COPY: u32 = macros::concat_idents!($prefix, $name);
///     };
/// }
/// const PREFIX_VALUE: u32 = 7;
/// prefixed!(PREFIX_, VALUE);
/// assert_eq!(COPY, PREFIX_VALUE);
/// ```
#[proc_macro]
pub fn concat_idents(input: TokenStream) -> TokenStream {
    concat_idents::expand(parse_macro_input!(input)).into()
}

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

/// Turns a KUnit test module into ordinary unit tests, named after the suite.
///
/// Mirrors the kernel's `#[kunit_tests(suite_name)]` attribute, which registers the module's
/// `#[test]` functions as the test cases of a KUnit suite, run when the module loads. Here the
/// module is compiled only under `cfg(test)`, inside a module named after the suite, and its
/// `#[test]` functions run under `cargo test` (as `suite_name::module::test`). As in the kernel,
/// `assert!` and `assert_eq!` in the module are KUnit assertions (`kernel::kunit_assert!`), which
/// report a failure with KUnit's lines and end the test case, and each test runs as the thread's
/// current KUnit test (`kernel::kunit::in_kunit_test()`). The suite name may have at most 255
/// bytes.
///
/// A test may return `()` or a `Result<(), E>` with `E: Debug` (such as `kernel::error::Result`):
/// as with KUnit, which marks a test that returns an error as failed, a test returning `Err(_)`
/// fails, with the error's `Debug` form in the report.
///
/// # Examples
///
/// (Not run as a doctest: the expansion names the `kernel` crate, whose tests use the attribute.)
///
/// ```ignore
/// #[kernel::macros::kunit_tests(rust_doc_example)]
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
    let suite = parse_macro_input!(attr as syn::Ident);
    kunit::expand(suite, parse_macro_input!(item))
        .unwrap_or_else(|err| err.into_compile_error())
        .into()
}
