//! `pin_init!` and `init!`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::{
    braced,
    ext::IdentExt,
    parse::{Parse, ParseStream},
    spanned::Spanned,
    token, Attribute, Block, Expr, ExprCall, ExprPath, Ident, LitInt, Path, PathArguments, Token,
    Type,
};

use crate::diag::{Diagnostics, Failed};

/// Which macro is being expanded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `pin_init!`: uses the `#[pin_data]` of the struct, produces a `PinInit`.
    Pinned,
    /// `init!`: nothing is pinned, produces an `Init`.
    Unpinned,
}

/// The parsed macro input.
struct Initializer {
    /// `#[default_error(Type)]` attributes (the last one wins).
    default_error: Option<Type>,
    /// The name given in `&name in`.
    this: Option<Ident>,
    path: Path,
    brace: token::Brace,
    members: Vec<Member>,
    /// Whether `..Zeroable::init_zeroed()` ends the member list.
    zeroing: bool,
    /// The type given by `}? Type`.
    error: Option<Type>,
}

/// One comma-separated element between the braces.
struct Member {
    attrs: Vec<Attribute>,
    kind: MemberKind,
}

enum MemberKind {
    /// `field` or `field: expr`.
    Value { field: Ident, value: Option<Expr> },
    /// `field <- expr`.
    Init { field: Ident, init: Expr },
    /// `_: { ... }`.
    Code { block: Block },
}

impl Member {
    fn field(&self) -> Option<&Ident> {
        match &self.kind {
            MemberKind::Value { field, .. } | MemberKind::Init { field, .. } => Some(field),
            MemberKind::Code { .. } => None,
        }
    }

    /// The `#[cfg]` attributes, which also apply to everything generated for a field.
    fn cfgs(&self) -> impl Iterator<Item = &Attribute> {
        self.attrs.iter().filter(|a| a.path().is_ident("cfg"))
    }
}

impl Parse for Initializer {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let mut default_error = None;
        for attr in input.call(Attribute::parse_outer)? {
            if attr.path().is_ident("default_error") {
                default_error = Some(attr.parse_args::<Type>()?);
            } else {
                return Err(syn::Error::new(
                    attr.path().span(),
                    "unknown initializer attribute, only `#[default_error(Type)]` is supported",
                ));
            }
        }

        let this = if input.peek(Token![&]) {
            input.parse::<Token![&]>()?;
            let this = input.parse::<Ident>()?;
            input.parse::<Token![in]>()?;
            Some(this)
        } else {
            None
        };

        let path: Path = input.parse()?;
        for segment in &path.segments {
            match &segment.arguments {
                PathArguments::None => {}
                PathArguments::AngleBracketed(args) if args.colon2_token.is_some() => {}
                PathArguments::AngleBracketed(args) => {
                    return Err(syn::Error::new(
                        args.span(),
                        "generic arguments of the struct must use turbofish syntax: write \
                         `Name::<..> { .. }`",
                    ));
                }
                PathArguments::Parenthesized(args) => {
                    return Err(syn::Error::new(args.span(), "expected a struct path"));
                }
            }
        }
        if !input.peek(token::Brace) {
            return Err(input.error(
                "expected `{` after the struct path (only structs with named fields can be \
                 initialized)",
            ));
        }

        let content;
        let brace = braced!(content in input);
        let mut members = Vec::new();
        let mut zeroing = false;
        while !content.is_empty() {
            if content.peek(Token![..]) {
                let dots = content.parse::<Token![..]>()?;
                let rest: Expr = content.parse()?;
                if !is_zeroable_init_zeroed(&rest) {
                    let span = dots.span().join(rest.span()).unwrap_or_else(|| rest.span());
                    return Err(syn::Error::new(
                        span,
                        "expected nothing or `..Zeroable::init_zeroed()`",
                    ));
                }
                if !content.is_empty() {
                    return Err(content.error(
                        "`..Zeroable::init_zeroed()` must be the last element of the initializer",
                    ));
                }
                zeroing = true;
                break;
            }
            members.push(content.parse::<Member>()?);
            if content.is_empty() {
                break;
            }
            content.parse::<Token![,]>()?;
        }

        let error = if input.peek(Token![?]) {
            input.parse::<Token![?]>()?;
            Some(input.parse::<Type>()?)
        } else {
            None
        };
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the initializer"));
        }

        Ok(Self {
            default_error,
            this,
            path,
            brace,
            members,
            zeroing,
            error,
        })
    }
}

impl Parse for Member {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let lookahead = input.lookahead1();
        let kind = if lookahead.peek(Token![_]) {
            input.parse::<Token![_]>()?;
            input.parse::<Token![:]>()?;
            if !input.peek(token::Brace) {
                return Err(input.error("expected a block: `_: { ... }`"));
            }
            MemberKind::Code {
                block: input.parse()?,
            }
        } else if lookahead.peek(Ident::peek_any) {
            let field = input.call(Ident::parse_any)?;
            let lookahead = input.lookahead1();
            if lookahead.peek(Token![<-]) {
                input.parse::<Token![<-]>()?;
                MemberKind::Init {
                    field,
                    init: input.parse()?,
                }
            } else if lookahead.peek(Token![:]) {
                input.parse::<Token![:]>()?;
                MemberKind::Value {
                    field,
                    value: Some(input.parse()?),
                }
            } else if input.is_empty() || input.peek(Token![,]) {
                MemberKind::Value { field, value: None }
            } else {
                return Err(input.error("expected `:`, `<-`, `,` or `}` after the field name"));
            }
        } else if input.peek(LitInt) {
            return Err(input.error(
                "tuple structs cannot be initialized by `pin_init!`/`init!`, use named fields",
            ));
        } else {
            return Err(lookahead.error());
        };
        Ok(Self { attrs, kind })
    }
}

/// Whether `expr` is exactly `Zeroable::init_zeroed()`.
fn is_zeroable_init_zeroed(expr: &Expr) -> bool {
    let Expr::Call(ExprCall {
        attrs, func, args, ..
    }) = expr
    else {
        return false;
    };
    if !attrs.is_empty() || !args.is_empty() {
        return false;
    }
    let Expr::Path(ExprPath {
        attrs,
        qself: None,
        path,
    }) = &**func
    else {
        return false;
    };
    attrs.is_empty()
        && path.leading_colon.is_none()
        && path.segments.len() == 2
        && path.segments[0].ident == "Zeroable"
        && path.segments[0].arguments.is_none()
        && path.segments[1].ident == "init_zeroed"
        && path.segments[1].arguments.is_none()
}

pub(crate) fn expand(
    input: TokenStream,
    kind: Kind,
    dx: &mut Diagnostics,
) -> Result<TokenStream, Failed> {
    let init: Initializer = syn::parse2(input).map_err(|e| dx.push(e))?;
    check_duplicates(&init, dx)?;

    let Initializer {
        default_error,
        this,
        path,
        brace,
        members,
        zeroing,
        error,
    } = &init;

    // The identifiers of the generated code use the `mixed_site` span: like `macro_rules!`
    // locals, user code cannot see them. Only `this` and the field names are visible.
    let slot = Ident::new("__slot", Span::mixed_site());
    let closure = Ident::new("__init", Span::mixed_site());
    let data = Ident::new("__data", Span::mixed_site());
    let get_data = Ident::new("__get_data", Span::mixed_site());

    let error = match (error, default_error) {
        (Some(error), _) | (None, Some(error)) => quote!(#error),
        (None, None) => quote!(::core::convert::Infallible),
    };

    let (data_trait, data_fn, from_closure) = match kind {
        Kind::Pinned => (
            quote!(::pin_init::__internal::PinDataOf),
            "__pin_data",
            quote!(pin_init_from_closure),
        ),
        Kind::Unpinned => (
            quote!(::pin_init::__internal::HasInitData),
            "__init_data",
            quote!(init_from_closure),
        ),
    };
    // Spanned at the struct name, so that "not a `#[pin_data]` struct" points at it.
    let name_span = path
        .segments
        .last()
        .map_or_else(Span::call_site, |s| s.ident.span());
    let data_fn = Ident::new(data_fn, name_span);
    let get_data_fn = quote_spanned!(name_span=> #path::#data_fn);

    let zero = if *zeroing {
        quote! {
            {
                fn __assert_zeroable<T: ?::core::marker::Sized + ::pin_init::Zeroable>(
                    _: *mut T,
                ) {
                }
                __assert_zeroable(#slot);
            }
            // SAFETY: The struct is `Zeroable` (checked above), so all zeroes is a valid value;
            // `slot` is valid for writes. The fields given below overwrite their zero value
            // without dropping it, which is fine as zeroed values own nothing.
            unsafe { ::core::ptr::write_bytes(#slot, 0, 1) };
        }
    } else {
        quote!()
    };

    let this = this.as_ref().map(|this| {
        quote! {
            // SAFETY: `slot` is a valid pointer, hence not null.
            let #this = unsafe { ::core::ptr::NonNull::new_unchecked(#slot) };
        }
    });

    let body = init_members(members, kind, &data, &slot);
    let check = field_check(members, *zeroing, path, brace, &slot);

    Ok(quote! {{
        // Only name the function here, so that no user-written token ends up in an `unsafe` block.
        let #get_data = {
            #[allow(unused_imports)]
            use #data_trait;
            #get_data_fn
        };
        // SAFETY: Called by the initializer macro, as required.
        let #data = unsafe { #get_data() };
        let #closure = ::pin_init::__internal::InitData::make_closure::<_, #error>(
            #data,
            move |#slot| {
                #zero
                #this
                #body
                #check
                // SAFETY: Every field has been initialized above (the check above proves that
                // every field is mentioned).
                ::core::result::Result::Ok(unsafe { ::pin_init::__internal::InitOk::new() })
            },
        );
        let #closure = move |#slot| -> ::core::result::Result<(), #error> {
            #closure(#slot).map(|_: ::pin_init::__internal::InitOk| ())
        };
        // SAFETY: The closure initializes every field (in place for `<-`) and returns `Ok` only
        // then. On an early return or a panic, the guards drop exactly the fields initialized so
        // far, leaving the slot uninitialized. Pinned fields are initialized with `PinInit` and
        // only handed out as `Pin<&mut _>`; for `init!` nothing relies on pinning.
        unsafe { ::pin_init::#from_closure::<_, #error>(#closure) }
    }})
}

/// Reports fields that are mentioned more than once.
///
/// The compiler would report this too (through the struct expression of the field check), but
/// only after confusing errors about the generated code.
fn check_duplicates(init: &Initializer, dx: &mut Diagnostics) -> Result<(), Failed> {
    let mut result = Ok(());
    let mut seen: Vec<(&Ident, Vec<String>)> = Vec::new();
    for member in &init.members {
        let Some(field) = member.field() else {
            continue;
        };
        // Fields with different `#[cfg]`s may legitimately appear twice.
        let cfgs: Vec<String> = member.cfgs().map(|a| quote!(#a).to_string()).collect();
        if seen
            .iter()
            .any(|(other, other_cfgs)| *other == field && (cfgs.is_empty() || *other_cfgs == cfgs))
        {
            result = Err(dx.error(
                field.span(),
                format!("field `{}` is initialized more than once", field.unraw()),
            ));
        } else {
            seen.push((field, cfgs));
        }
    }
    result
}

/// The statements initializing the fields and running the `_:` blocks, in order.
fn init_members(members: &[Member], kind: Kind, data: &Ident, slot: &Ident) -> TokenStream {
    let mut tokens = TokenStream::new();
    let mut guards = Vec::new();
    for member in members {
        let attrs = &member.attrs;
        let (field, init_stmt) = match &member.kind {
            MemberKind::Code { block } => {
                let stmts = &block.stmts;
                tokens.extend(quote! {
                    #(#attrs)*
                    {
                        #(#stmts)*
                    }
                });
                continue;
            }
            MemberKind::Value { field, value } => {
                let value = match value {
                    Some(value) => quote!(#value),
                    None => quote!(#field),
                };
                (field, quote!(.write(#value)))
            }
            MemberKind::Init { field, init } => (field, quote!(.init(#init)?)),
        };
        let cfgs: Vec<&Attribute> = member.cfgs().collect();
        let guard = format_ident!("__{}_guard", field.unraw(), span = Span::mixed_site());
        // The field's access carries the field's span, for diagnostics. The `unsafe` block around
        // it has the macro's (`quote!`'s call-site span): inside an initialiser the user writes in
        // an `unsafe` block of their own, rustc then sees a block the macro wrote, not one nested
        // in the user's code, and does not report it as unnecessary.
        let access = match kind {
            Kind::Pinned => quote_spanned! {field.span()=> #data.#field(#slot) },
            Kind::Unpinned => quote_spanned! {field.span()=>
                ::pin_init::__internal::FieldSlot::<::pin_init::__internal::Unpinned, _>::new(
                    ::core::ptr::addr_of_mut!((*#slot).#field),
                )
            },
        };
        let field_slot = quote! {
            // SAFETY: `slot` points to the struct under initialization; this field has not been
            // initialized yet (every field appears at most once, see the field check) and is
            // aligned (the field check takes a reference to it). Nobody else accesses it, and for
            // `pin_init!` the struct is pinned, as `PinInit::__init` requires (`init!` never
            // considers any field pinned).
            (unsafe { #access })
        };
        tokens.extend(quote! {
            #(#attrs)*
            let mut #guard = #field_slot #init_stmt;
            #(#cfgs)*
            #[allow(unused_variables, non_snake_case)]
            let #field = #guard.binding();
        });
        guards.push((cfgs, guard));
    }
    let forgets = guards.iter().map(|(cfgs, guard)| {
        quote! {
            #(#cfgs)*
            ::core::mem::forget(#guard);
        }
    });
    quote! {
        #tokens
        // Every field is initialized: the struct owns them now, disarm the guards.
        #(#forgets)*
    }
}

/// Never executed code that makes the compiler check that every field is mentioned exactly once
/// (at most once with `..Zeroable::init_zeroed()`), and that no field is unaligned.
fn field_check(
    members: &[Member],
    zeroing: bool,
    path: &Path,
    brace: &token::Brace,
    slot: &Ident,
) -> TokenStream {
    let fields: Vec<(Vec<&Attribute>, &Ident)> = members
        .iter()
        .filter_map(|m| Some((m.cfgs().collect(), m.field()?)))
        .collect();
    let references = fields.iter().map(|(cfgs, field)| {
        quote! {
            #(#cfgs)*
            // SAFETY: Never executed. Creating a reference is only allowed for aligned fields,
            // which rejects fields of `#[repr(packed)]` structs at compile time.
            let _ = unsafe { &(*#slot).#field };
        }
    });
    let values = fields
        .iter()
        .map(|(cfgs, field)| quote!(#(#cfgs)* #field: ::core::unreachable!(),));
    let rest = zeroing.then(|| quote!(..::pin_init::zeroed()));
    // The struct expression is spanned at the braces, so that "missing field" points at the
    // initializer.
    let literal = quote_spanned! {brace.span.join()=>
        #path { #(#values)* #rest }
    };
    quote! {
        #[allow(unreachable_code, clippy::diverging_sub_expression)]
        let _ = || {
            #(#references)*
            fn __same_type<T>(_: *mut T, _: T) {}
            __same_type(#slot, #literal);
        };
    }
}
