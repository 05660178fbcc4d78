//! `#[derive(Zeroable)]` and `#[derive(MaybeZeroable)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::{parse_quote, spanned::Spanned, Data, DeriveInput, Fields};

use crate::diag::{Diagnostics, Failed};

/// What to do about fields that are not `Zeroable`.
pub(crate) enum Mode {
    /// `derive(Zeroable)`: such a field is a compile error.
    Require,
    /// `derive(MaybeZeroable)`: the implementation is bounded on all fields being `Zeroable`.
    IfPossible,
}

pub(crate) fn expand(
    input: TokenStream,
    mode: Mode,
    dx: &mut Diagnostics,
) -> Result<TokenStream, Failed> {
    let input: DeriveInput = syn::parse2(input).map_err(|e| dx.push(e))?;
    let fields = match input.data {
        Data::Struct(data) => data.fields,
        Data::Union(data) => Fields::Named(data.fields),
        Data::Enum(data) => {
            return Err(dx.error(
                data.enum_token.span,
                "`Zeroable` cannot be derived for enums: whether all zeroes is a valid value \
                 depends on the discriminants; implement it manually if it is",
            ));
        }
    };
    let name = &input.ident;
    let mut generics = input.generics.clone();
    for param in generics.type_params_mut() {
        param.bounds.push(parse_quote!(::pin_init::Zeroable));
    }
    match mode {
        Mode::Require => {
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            // One assertion per field, spanned at the field's type, so that a field that is not
            // `Zeroable` is reported where it is declared.
            let assertions = fields.iter().map(|field| {
                let ty = &field.ty;
                quote_spanned! {ty.span()=>
                    __assert_zeroable::<#ty>();
                }
            });
            Ok(quote! {
                // SAFETY: Every field is `Zeroable` (checked below), so all zeroes is a valid value
                // of every field; padding may hold any bytes.
                #[automatically_derived]
                unsafe impl #impl_generics ::pin_init::Zeroable for #name #ty_generics
                    #where_clause
                {}

                const _: () = {
                    fn __assert_zeroable<T: ?::core::marker::Sized + ::pin_init::Zeroable>() {}
                    #[allow(dead_code)]
                    fn __all_fields_are_zeroable #impl_generics () #where_clause {
                        #(#assertions)*
                    }
                };
            })
        }
        Mode::IfPossible => {
            let where_clause = generics.make_where_clause();
            for field in &fields {
                let ty = &field.ty;
                // The otherwise unused higher-ranked lifetime keeps the compiler from rejecting
                // bounds that mention no generic parameter and do not hold ("trivial bounds").
                where_clause
                    .predicates
                    .push(parse_quote!(#ty: for<'__zeroable> ::pin_init::Zeroable));
            }
            let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
            Ok(quote! {
                // SAFETY: The implementation only applies if every field is `Zeroable`, so all
                // zeroes is a valid value of every field; padding may hold any bytes.
                #[automatically_derived]
                unsafe impl #impl_generics ::pin_init::Zeroable for #name #ty_generics
                    #where_clause
                {}
            })
        }
    }
}
