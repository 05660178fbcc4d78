//! `#[export]`: a Rust function that C code calls by name.

use proc_macro2::TokenStream;
use quote::quote;

/// Expands `#[export]` on `function`: its name is not mangled.
pub(crate) fn expand(function: syn::ItemFn) -> TokenStream {
    quote! {
        #[no_mangle]
        #function
    }
}
