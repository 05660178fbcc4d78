//! `#[vtable]`: which methods of a trait an implementation provides, as constants.

use std::collections::HashSet;

use proc_macro2::{Ident, TokenStream};
use quote::ToTokens;
use syn::{parse_quote, Attribute, ImplItem, Item, ItemImpl, ItemTrait, TraitItem};

/// The `#[cfg]` attributes of an item, which its generated constant must share.
fn cfgs(attrs: &[Attribute]) -> Vec<&Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("cfg")).collect()
}

/// `HAS_FOO` for a method `foo`.
fn has_const(method: &Ident) -> Ident {
    Ident::new(
        &format!("HAS_{}", method.to_string().to_uppercase()),
        method.span(),
    )
}

/// Adds to a trait the marker constant, the owner module type (unless the trait declares it) and
/// a `HAS_*` constant per method, `false` by default.
fn on_trait(mut item: ItemTrait) -> ItemTrait {
    let mut added: Vec<TraitItem> = vec![parse_quote! {
        /// Marks an implementation made with `#[vtable]`, which an implementation without the
        /// attribute lacks and so fails to build.
        const USE_VTABLE_ATTR: ();
    }];
    let declares_owner = item
        .items
        .iter()
        .any(|i| matches!(i, TraitItem::Type(t) if t.ident == "OwnerModule"));
    if !declares_owner {
        added.push(parse_quote! {
            /// The module that implements this trait; `#[vtable]` sets it to the crate's
            /// `LocalModule`.
            type OwnerModule: ::kernel::ModuleMetadata;
        });
    }
    for method in item.items.iter().filter_map(|i| match i {
        TraitItem::Fn(f) => Some(f),
        _ => None,
    }) {
        let name = has_const(&method.sig.ident);
        let cfgs = cfgs(&method.attrs);
        let doc = format!(
            "Whether the implementation provides `{}`.",
            method.sig.ident
        );
        added.push(parse_quote! {
            #(#cfgs)*
            #[doc = #doc]
            const #name: bool = false;
        });
    }
    item.items.extend(added);
    item
}

/// Adds to an implementation the marker constant, the owner module (unless given) and
/// `HAS_* = true` for each method it defines (unless given).
fn on_impl(mut item: ItemImpl) -> ItemImpl {
    let given: HashSet<Ident> = item
        .items
        .iter()
        .filter_map(|i| match i {
            ImplItem::Const(c) => Some(c.ident.clone()),
            ImplItem::Type(t) => Some(t.ident.clone()),
            _ => None,
        })
        .collect();
    let mut added: Vec<ImplItem> = vec![parse_quote! { const USE_VTABLE_ATTR: () = (); }];
    if !given.iter().any(|i| i == "OwnerModule") {
        added.push(parse_quote! { type OwnerModule = crate::LocalModule; });
    }
    for method in item.items.iter().filter_map(|i| match i {
        ImplItem::Fn(f) => Some(f),
        _ => None,
    }) {
        let name = has_const(&method.sig.ident);
        if given.contains(&name) {
            continue;
        }
        let cfgs = cfgs(&method.attrs);
        added.push(parse_quote! {
            #(#cfgs)*
            const #name: bool = true;
        });
    }
    item.items.extend(added);
    item
}

/// Expands `#[vtable]` on `item`.
pub(crate) fn expand(item: Item) -> syn::Result<TokenStream> {
    match item {
        Item::Trait(item) => Ok(on_trait(item).into_token_stream()),
        Item::Impl(item) => Ok(on_impl(item).into_token_stream()),
        other => Err(syn::Error::new_spanned(
            other,
            "`#[vtable]` applies to a trait or to an implementation of one",
        )),
    }
}
