//! `#[pin_data]` and `#[pin_data(PinnedDrop)]`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{
    ext::IdentExt, parse_quote, spanned::Spanned, visit_mut::VisitMut, Attribute, Fields, Generics,
    Ident, Item, ItemStruct, Meta, Type, TypePath, Visibility,
};

use crate::diag::{Diagnostics, Failed};

/// One field of the struct, as far as `#[pin_data]` is concerned.
struct FieldInfo {
    /// `#[cfg]` attributes of the field, repeated on everything generated for it.
    cfgs: Vec<Attribute>,
    vis: Visibility,
    ident: Ident,
    ty: Type,
    /// Whether the field carried `#[pin]`.
    pinned: bool,
}

pub(crate) fn expand(
    args: TokenStream,
    input: TokenStream,
    dx: &mut Diagnostics,
) -> Result<TokenStream, Failed> {
    let pinned_drop = parse_args(args, dx)?;
    let item: Item = syn::parse2(input).map_err(|e| dx.push(e))?;
    let mut item = match item {
        Item::Struct(item) => item,
        Item::Enum(item) => {
            return Err(dx.error(
                item.enum_token.span,
                "`#[pin_data]` only supports structs, not enums",
            ));
        }
        Item::Union(item) => {
            return Err(dx.error(
                item.union_token.span,
                "`#[pin_data]` only supports structs, not unions",
            ));
        }
        other => {
            return Err(dx.error(other.span(), "`#[pin_data]` can only be applied to structs"));
        }
    };
    if let Fields::Unnamed(fields) = &item.fields {
        return Err(dx.error(
            fields.span(),
            "`#[pin_data]` only supports structs with named fields, not tuple structs",
        ));
    }

    // `Self` in the generics or field types would refer to the wrong type once they are copied
    // into the generated helper types, so spell it out.
    let self_ty: Type = {
        let name = &item.ident;
        let (_, ty_generics, _) = item.generics.split_for_impl();
        parse_quote!(#name #ty_generics)
    };
    let mut replacer = SelfReplacer(&self_ty);
    replacer.visit_generics_mut(&mut item.generics);
    replacer.visit_fields_mut(&mut item.fields);

    let fields = collect_fields(&mut item, dx);

    for field in fields
        .iter()
        .filter(|f| !f.pinned && is_phantom_pinned(&f.ty))
    {
        dx.warn(
            field.ident.span(),
            format!(
                "the field `{}` of type `PhantomPinned` only has an effect if it has the `#[pin]` \
                 attribute",
                field.ident.unraw()
            ),
        );
    }

    let projection = projection(&item, &fields);
    let pin_data = pin_data(&item, &fields);
    let unpin = unpin_impl(&item, &fields);
    let drop = drop_impl(&item, pinned_drop);
    Ok(quote! {
        #item

        #projection

        // Everything below is only reachable through the `HasPinData` implementation.
        const _: () = {
            #pin_data
            #unpin
            #drop
        };
    })
}

/// Parses the attribute arguments: nothing or `PinnedDrop`. Returns whether `PinnedDrop` was given.
fn parse_args(args: TokenStream, dx: &mut Diagnostics) -> Result<bool, Failed> {
    if args.is_empty() {
        return Ok(false);
    }
    match syn::parse2::<Ident>(args.clone()) {
        Ok(ident) if ident == "PinnedDrop" => Ok(true),
        _ => Err(dx.error(
            args.span(),
            "expected `#[pin_data]` or `#[pin_data(PinnedDrop)]`",
        )),
    }
}

/// Strips the `#[pin]` attributes from the fields and collects what is known about each field.
fn collect_fields(item: &mut ItemStruct, dx: &mut Diagnostics) -> Vec<FieldInfo> {
    let mut infos = Vec::new();
    for field in item.fields.iter_mut() {
        let mut pins = 0;
        field.attrs.retain(|attr| {
            if !attr.path().is_ident("pin") {
                return true;
            }
            pins += 1;
            if pins > 1 {
                dx.error(attr.span(), "duplicate `#[pin]` attribute");
            }
            if !matches!(attr.meta, Meta::Path(_)) {
                dx.error(attr.meta.span(), "`#[pin]` takes no arguments");
            }
            false
        });
        let Some(ident) = field.ident.clone() else {
            // Tuple structs were rejected before, unit structs have no fields.
            continue;
        };
        infos.push(FieldInfo {
            cfgs: field
                .attrs
                .iter()
                .filter(|attr| attr.path().is_ident("cfg"))
                .cloned()
                .collect(),
            vis: field.vis.clone(),
            ident,
            ty: field.ty.clone(),
            pinned: pins > 0,
        });
    }
    infos
}

/// Whether `ty` names `PhantomPinned` (`PhantomPinned`, `marker::PhantomPinned`,
/// `core::marker::PhantomPinned` or `std::marker::PhantomPinned`, optionally with leading `::`).
fn is_phantom_pinned(ty: &Type) -> bool {
    let Type::Path(TypePath { qself: None, path }) = ty else {
        return false;
    };
    let names: Vec<String> = path
        .segments
        .iter()
        .map(|s| {
            if s.arguments.is_none() {
                s.ident.to_string()
            } else {
                String::new()
            }
        })
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    match names.as_slice() {
        ["PhantomPinned"] | ["marker", "PhantomPinned"] => path.leading_colon.is_none(),
        ["core" | "std", "marker", "PhantomPinned"] => true,
        _ => false,
    }
}

/// Generics of the struct with the extra lifetime `'__pin` in front.
fn with_pin_lifetime(generics: &Generics) -> Generics {
    let mut generics = generics.clone();
    generics.params.insert(0, parse_quote!('__pin));
    generics
}

/// The `<Name>Projection` struct and the `project` method.
fn projection(item: &ItemStruct, fields: &[FieldInfo]) -> TokenStream {
    let name = &item.ident;
    let vis = &item.vis;
    let projection = format_ident!("{}Projection", name.unraw());
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    let generics_pin = with_pin_lifetime(&item.generics);
    let (_, ty_generics_pin, _) = generics_pin.split_for_impl();
    let this = Ident::new("__this", Span::mixed_site());

    let declarations = fields.iter().map(|f| {
        let FieldInfo {
            cfgs,
            vis,
            ident,
            ty,
            ..
        } = f;
        if f.pinned {
            quote!(#(#cfgs)* #vis #ident: ::core::pin::Pin<&'__pin mut #ty>,)
        } else {
            quote!(#(#cfgs)* #vis #ident: &'__pin mut #ty,)
        }
    });
    let projections = fields.iter().map(|f| {
        let FieldInfo { cfgs, ident, .. } = f;
        if f.pinned {
            quote! {
                #(#cfgs)*
                // SAFETY: The field is structurally pinned (it has `#[pin]`), so a pinned struct
                // means a pinned field; the `Unpin` implementation and the ban on `Drop` uphold
                // the remaining requirements of structural pinning.
                #ident: unsafe { ::core::pin::Pin::new_unchecked(&mut #this.#ident) },
            }
        } else {
            quote!(#(#cfgs)* #ident: &mut #this.#ident,)
        }
    });
    let field_list = |pinned: bool| {
        fields
            .iter()
            .filter(move |f| f.pinned == pinned)
            .map(|f| {
                let cfgs = &f.cfgs;
                let line = format!(" - `{}`", f.ident.unraw());
                // Use `cfg_attr` so that a field absent in this configuration is not listed.
                if cfgs.is_empty() {
                    quote!(#[doc = #line])
                } else {
                    let conditions = cfgs.iter().map(|attr| match &attr.meta {
                        Meta::List(list) => list.tokens.clone(),
                        _ => quote!(all()),
                    });
                    quote!(#[cfg_attr(all(#(#conditions),*), doc = #line)])
                }
            })
            .collect::<Vec<_>>()
    };
    let pinned_docs = field_list(true);
    let unpinned_docs = field_list(false);
    let struct_doc = format!(
        " Pin-projection of [`{}`], returned by its `project` method.",
        name.unraw()
    );

    quote! {
        #[doc = #struct_doc]
        #[doc(hidden)]
        #[allow(dead_code, non_snake_case, missing_docs)]
        #vis struct #projection #generics_pin #where_clause {
            #(#declarations)*
            __pin_init_lifetime: ::core::marker::PhantomData<&'__pin mut ()>,
        }

        impl #impl_generics #name #ty_generics #where_clause {
            /// Projects a pinned reference to the struct to references to its fields.
            ///
            /// Structurally pinned fields (`#[pin]`), projected to `Pin<&mut Field>`:
            #(#pinned_docs)*
            ///
            /// Other fields, projected to `&mut Field`:
            #(#unpinned_docs)*
            #[inline]
            #[allow(dead_code)]
            #vis fn project<'__pin>(
                self: ::core::pin::Pin<&'__pin mut Self>,
            ) -> #projection #ty_generics_pin {
                // SAFETY: Fields without `#[pin]` are not structurally pinned, so handing out
                // `&mut` to them is fine; pinned fields are only handed out pinned.
                let #this = unsafe { ::core::pin::Pin::get_unchecked_mut(self) };
                #projection {
                    #(#projections)*
                    __pin_init_lifetime: ::core::marker::PhantomData,
                }
            }
        }
    }
}

/// The pin data type with one slot function per field, and the `HasPinData` implementation.
fn pin_data(item: &ItemStruct, fields: &[FieldInfo]) -> TokenStream {
    let name = &item.ident;
    let vis = &item.vis;
    let generics = &item.generics;
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let slot = Ident::new("slot", Span::mixed_site());

    let accessors = fields.iter().map(|f| {
        let FieldInfo {
            cfgs,
            vis,
            ident,
            ty,
            ..
        } = f;
        let marker = if f.pinned {
            quote!(Pinned)
        } else {
            quote!(Unpinned)
        };
        quote! {
            #(#cfgs)*
            /// Returns the slot of this field in the struct at `slot`.
            ///
            /// # Safety
            ///
            /// `slot` must point to a struct under initialization whose field is valid for
            /// writes, aligned, uninitialized and not accessed by anyone else; the struct must be
            /// pinned.
            #[inline(always)]
            #[allow(non_snake_case)]
            #vis unsafe fn #ident(
                self,
                #slot: *mut #name #ty_generics,
            ) -> ::pin_init::__internal::FieldSlot<::pin_init::__internal::#marker, #ty> {
                // SAFETY: The caller guarantees the requirements for the field's memory, and the
                // field is marked `Pinned` exactly if it is structurally pinned and the struct is
                // pinned.
                unsafe {
                    ::pin_init::__internal::FieldSlot::new(::core::ptr::addr_of_mut!(
                        (*#slot).#ident
                    ))
                }
            }
        }
    });

    quote! {
        #[doc(hidden)]
        #[allow(missing_docs)]
        #vis struct __ThePinData #generics #where_clause {
            __pin_init_marker: ::pin_init::__internal::PhantomInvariant<#name #ty_generics>,
        }

        impl #impl_generics ::core::clone::Clone for __ThePinData #ty_generics #where_clause {
            #[inline(always)]
            fn clone(&self) -> Self {
                *self
            }
        }

        impl #impl_generics ::core::marker::Copy for __ThePinData #ty_generics #where_clause {}

        impl #impl_generics ::pin_init::__internal::InitData for __ThePinData #ty_generics
            #where_clause
        {
            type Target = #name #ty_generics;
        }

        #[allow(dead_code)]
        impl #impl_generics __ThePinData #ty_generics #where_clause {
            #(#accessors)*
        }

        // SAFETY: `#[pin_data]` generated this implementation, and the slot functions above point
        // at the respective fields, marked `Pinned` exactly for the `#[pin]` fields.
        unsafe impl #impl_generics ::pin_init::__internal::HasPinData for #name #ty_generics
            #where_clause
        {
            type PinData = __ThePinData #ty_generics;

            #[inline(always)]
            unsafe fn __pin_data() -> Self::PinData {
                __ThePinData {
                    __pin_init_marker: ::pin_init::__internal::PhantomInvariant::new(),
                }
            }
        }
    }
}

/// The `Unpin` implementation: the struct is `Unpin` if all `#[pin]` fields are.
fn unpin_impl(item: &ItemStruct, fields: &[FieldInfo]) -> TokenStream {
    let name = &item.ident;
    let (_, ty_generics, _) = item.generics.split_for_impl();
    let mut generics_pin = with_pin_lifetime(&item.generics);
    generics_pin.make_where_clause();
    let (impl_generics_pin, ty_generics_pin, where_clause_pin) = generics_pin.split_for_impl();
    let predicates = &where_clause_pin.expect("created above").predicates;
    let pinned = fields.iter().filter(|f| f.pinned).map(|f| {
        let FieldInfo {
            cfgs, ident, ty, ..
        } = f;
        quote!(#(#cfgs)* #ident: #ty,)
    });
    // The helper struct carries the extra lifetime so that the bound below always mentions a
    // generic parameter; a bound like `PhantomPinned: Unpin` would otherwise be rejected as a
    // trivially false bound instead of just making the implementation not apply.
    quote! {
        #[allow(dead_code, non_snake_case)]
        struct __Unpin #generics_pin where #predicates {
            __pin_init_lifetime: ::pin_init::__internal::PhantomInvariantLifetime<'__pin>,
            __pin_init_marker: ::pin_init::__internal::PhantomInvariant<#name #ty_generics>,
            #(#pinned)*
        }

        #[doc(hidden)]
        impl #impl_generics_pin ::core::marker::Unpin for #name #ty_generics
        where
            __Unpin #ty_generics_pin: ::core::marker::Unpin,
            #predicates
        {}
    }
}

/// Either the `Drop` implementation calling `PinnedDrop`, or the guard against `Drop`.
fn drop_impl(item: &ItemStruct, pinned_drop: bool) -> TokenStream {
    let name = &item.ident;
    let (impl_generics, ty_generics, where_clause) = item.generics.split_for_impl();
    if pinned_drop {
        quote! {
            impl #impl_generics ::core::ops::Drop for #name #ty_generics #where_clause {
                fn drop(&mut self) {
                    // SAFETY: `self` is being dropped, so it is never used (or moved) again after
                    // this function: treating it as pinned is fine.
                    let pinned = unsafe { ::core::pin::Pin::new_unchecked(self) };
                    // SAFETY: We are in `Drop::drop` of the type and pass the token to its own
                    // `PinnedDrop::drop`.
                    let token = unsafe { ::pin_init::__internal::OnlyCallFromDrop::new() };
                    ::pin_init::PinnedDrop::drop(pinned, token);
                }
            }
        }
    } else {
        // A `Drop` implementation would get `&mut Self` and could move out of pinned fields. It
        // is forbidden by implementing a trait for the struct that is also implemented for all
        // `Drop` types: if the struct implemented `Drop`, the two implementations would overlap.
        // The second trait catches a `PinnedDrop` implementation that would never be called
        // because `PinnedDrop` is missing from the `#[pin_data]` arguments.
        quote! {
            #[allow(non_camel_case_types)]
            trait MustNotImplDrop__use_pin_data_PinnedDrop_and_pinned_drop_instead {}
            #[allow(drop_bounds)]
            impl<T: ::core::ops::Drop + ?::core::marker::Sized>
                MustNotImplDrop__use_pin_data_PinnedDrop_and_pinned_drop_instead for T {}
            impl #impl_generics MustNotImplDrop__use_pin_data_PinnedDrop_and_pinned_drop_instead
                for #name #ty_generics #where_clause {}

            #[allow(non_camel_case_types)]
            trait PinnedDropIsUnused__add_PinnedDrop_to_pin_data_arguments {}
            impl<T: ::pin_init::PinnedDrop + ?::core::marker::Sized>
                PinnedDropIsUnused__add_PinnedDrop_to_pin_data_arguments for T {}
            impl #impl_generics PinnedDropIsUnused__add_PinnedDrop_to_pin_data_arguments
                for #name #ty_generics #where_clause {}
        }
    }
}

/// Replaces `Self` by the struct's type, without entering nested items (where `Self` means
/// something else).
struct SelfReplacer<'a>(&'a Type);

impl VisitMut for SelfReplacer<'_> {
    fn visit_type_mut(&mut self, ty: &mut Type) {
        if let Type::Path(TypePath { qself: None, path }) = ty {
            if path.is_ident("Self") {
                *ty = self.0.clone();
                return;
            }
        }
        syn::visit_mut::visit_type_mut(self, ty);
    }

    fn visit_item_mut(&mut self, _: &mut Item) {}
}
