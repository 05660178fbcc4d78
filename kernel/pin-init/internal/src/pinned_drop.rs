//! `#[pinned_drop]`.

use proc_macro2::TokenStream;
use quote::{quote, ToTokens};
use syn::{parse_quote, spanned::Spanned, FnArg, ImplItem, ItemImpl, Token};

use crate::diag::{Diagnostics, Failed};

pub(crate) fn expand(
    args: TokenStream,
    input: TokenStream,
    dx: &mut Diagnostics,
) -> Result<TokenStream, Failed> {
    if !args.is_empty() {
        dx.error(args.span(), "`#[pinned_drop]` takes no arguments");
    }
    let mut item: ItemImpl = syn::parse2(input).map_err(|e| dx.push(e))?;

    if let Some(unsafety) = item.unsafety {
        dx.error(
            unsafety.span,
            "implementing `PinnedDrop` with `#[pinned_drop]` is safe, remove `unsafe`",
        );
    }
    match &mut item.trait_ {
        None => {
            return Err(dx.error(
                item.self_ty.span(),
                "`#[pinned_drop]` must be applied to `impl PinnedDrop for Type`, not to an \
                 inherent impl",
            ));
        }
        Some((negation, path, _for)) => {
            if let Some(negation) = negation {
                dx.error(
                    negation.span,
                    "`PinnedDrop` cannot be implemented negatively",
                );
            }
            // Accept `PinnedDrop`, `pin_init::PinnedDrop` and `::pin_init::PinnedDrop`: the trait
            // is always replaced by the absolute path below, so other paths would be misleading.
            let names: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
            let accepted = matches!(
                names
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .as_slice(),
                ["PinnedDrop"] | ["pin_init", "PinnedDrop"]
            );
            if !accepted {
                dx.error(
                    path.span(),
                    "`#[pinned_drop]` can only implement `PinnedDrop` (or `pin_init::PinnedDrop`)",
                );
            }
            for segment in &path.segments {
                if !segment.arguments.is_none() {
                    dx.error(
                        segment.arguments.span(),
                        "`PinnedDrop` takes no generic arguments",
                    );
                }
            }
            *path = parse_quote!(::pin_init::PinnedDrop);
        }
    }
    item.unsafety = Some(Token![unsafe](item.impl_token.span));

    for impl_item in &mut item.items {
        if let ImplItem::Fn(function) = impl_item {
            if function.sig.ident == "drop" {
                if function.sig.inputs.len() != 1
                    || !matches!(function.sig.inputs.first(), Some(FnArg::Receiver(_)))
                {
                    dx.error(
                        function.sig.inputs.span(),
                        "`PinnedDrop::drop` takes exactly one parameter: `self: Pin<&mut Self>`",
                    );
                }
                function
                    .sig
                    .inputs
                    .push(parse_quote!(_: ::pin_init::__internal::OnlyCallFromDrop));
            }
        }
    }
    Ok(quote!(#item).into_token_stream())
}
