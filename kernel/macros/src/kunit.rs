//! `#[kunit_tests]`: KUnit test modules as `cargo test` unit tests, named after their suite.

use std::ffi::CString;

use proc_macro2::{Span, TokenStream};
use quote::{quote, ToTokens};
use syn::{parse_quote, Ident, Item, ItemMod, LitCStr};

/// The longest suite name KUnit accepts, in bytes.
const MAX_SUITE_NAME: usize = 255;

/// The source file the attribute is in, as KUnit's assertion reports name it.
fn source_file() -> LitCStr {
    let file = proc_macro::Span::call_site().file();
    let file = CString::new(file).unwrap_or_default();
    LitCStr::new(&file, Span::call_site())
}

/// Expands `#[kunit_tests(suite)] mod m { ... }`: under `cfg(test)`, a module named after the suite
/// holding `m`, in which each `#[test]` function marks itself as the thread's current KUnit test
/// and its `assert!`/`assert_eq!` are KUnit assertions.
pub(crate) fn expand(suite: Ident, mut module: ItemMod) -> syn::Result<TokenStream> {
    if suite.to_string().len() > MAX_SUITE_NAME {
        return Err(syn::Error::new_spanned(
            suite,
            "test suite names cannot exceed the maximum length of 255 bytes",
        ));
    }
    let Some((brace, items)) = module.content.take() else {
        return Err(syn::Error::new_spanned(
            module,
            "`#[kunit_tests(test_name)]` attribute should only be applied to inline modules",
        ));
    };
    let suite_name = LitCStr::new(
        &CString::new(suite.to_string()).expect("an identifier has no NUL"),
        suite.span(),
    );
    let file = source_file();
    let mut processed: Vec<Item> = Vec::new();
    for item in items {
        let Item::Fn(mut function) = item else {
            processed.push(item);
            continue;
        };
        if !function.attrs.iter().any(|a| a.path().is_ident("test")) {
            processed.push(Item::Fn(function));
            continue;
        }
        let test = function.sig.ident.to_string();
        let test_name = LitCStr::new(
            &CString::new(test.clone()).expect("an identifier has no NUL"),
            function.sig.ident.span(),
        );
        // The assertions of this test, defined before it: a later test's shadow these.
        processed.push(parse_quote! {
            #[allow(unused)]
            macro_rules! assert {
                ($cond:expr $(,)?) => {{
                    kernel::kunit_assert!(#test, #file, 0, $cond);
                }};
            }
        });
        processed.push(parse_quote! {
            #[allow(unused)]
            macro_rules! assert_eq {
                ($left:expr, $right:expr $(,)?) => {{
                    kernel::kunit_assert_eq!(#test, #file, 0, $left, $right);
                }};
            }
        });
        function.block.stmts.insert(
            0,
            parse_quote! {
                let _kunit_case = ::kernel::kunit::enter_test(#suite_name, #test_name);
            },
        );
        processed.push(Item::Fn(function));
    }
    module.content = Some((brace, processed));
    let module = module.into_token_stream();
    Ok(quote! {
        /// The KUnit suite, as a module of `cargo test` tests named after it.
        #[cfg(test)]
        mod #suite {
            #[allow(unused_imports)]
            use super::*;

            #module
        }
    })
}
