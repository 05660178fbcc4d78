//! Procedural macros of drydock's `pin-init` crate.
//!
//! Do not depend on this crate directly: use the macros re-exported by `pin-init`, where they are
//! documented. The generated code refers to the runtime crate as `::pin_init`, so the runtime
//! crate must be available under that name (as it is in the kernel).

use proc_macro::TokenStream;

mod diag;
mod init;
mod pin_data;
mod pinned_drop;
mod zeroable;

use diag::Diagnostics;

/// Runs `expand` on a fresh [`Diagnostics`] and appends the diagnostics to its output.
fn run(
    expand: impl FnOnce(&mut Diagnostics) -> Result<proc_macro2::TokenStream, diag::Failed>,
) -> TokenStream {
    let mut diagnostics = Diagnostics::default();
    let output = expand(&mut diagnostics);
    diagnostics.finish(output).into()
}

/// See `pin_init::pin_data`.
#[proc_macro_attribute]
pub fn pin_data(args: TokenStream, input: TokenStream) -> TokenStream {
    run(|dx| pin_data::expand(args.into(), input.into(), dx))
}

/// See `pin_init::pinned_drop`.
#[proc_macro_attribute]
pub fn pinned_drop(args: TokenStream, input: TokenStream) -> TokenStream {
    run(|dx| pinned_drop::expand(args.into(), input.into(), dx))
}

/// See `pin_init::Zeroable`.
#[proc_macro_derive(Zeroable)]
pub fn derive_zeroable(input: TokenStream) -> TokenStream {
    run(|dx| zeroable::expand(input.into(), zeroable::Mode::Require, dx))
}

/// See `pin_init::MaybeZeroable`.
#[proc_macro_derive(MaybeZeroable)]
pub fn derive_maybe_zeroable(input: TokenStream) -> TokenStream {
    run(|dx| zeroable::expand(input.into(), zeroable::Mode::IfPossible, dx))
}

/// See `pin_init::pin_init`.
#[proc_macro]
pub fn pin_init(input: TokenStream) -> TokenStream {
    run(|dx| init::expand(input.into(), init::Kind::Pinned, dx))
}

/// See `pin_init::init`.
#[proc_macro]
pub fn init(input: TokenStream) -> TokenStream {
    run(|dx| init::expand(input.into(), init::Kind::Unpinned, dx))
}
