//! `#[kunit_tests]`: KUnit test modules as `cargo test` unit tests.

use proc_macro::{Delimiter, Span, TokenStream, TokenTree};

use crate::paste::compile_error;

/// The longest suite name KUnit accepts, in bytes.
const MAX_SUITE_NAME: usize = 255;

/// Expands `#[kunit_tests(suite)] mod m { ... }` to `#[cfg(test)] mod m { ... }`.
pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> TokenStream {
    let attr: Vec<TokenTree> = attr.into_iter().collect();
    let suite = match attr.as_slice() {
        [TokenTree::Ident(suite)] => suite.clone(),
        _ => {
            let span = attr.first().map_or_else(Span::call_site, TokenTree::span);
            return compile_error("expected `#[kunit_tests(suite_name)]`", span);
        }
    };
    if suite.to_string().len() > MAX_SUITE_NAME {
        return compile_error(
            "test suite names cannot exceed the maximum length of 255 bytes",
            suite.span(),
        );
    }

    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    let mod_at = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "mod"));
    let inline_module = mod_at.is_some_and(|at| {
        matches!(
            &tokens[at + 1..],
            [TokenTree::Ident(_), TokenTree::Group(body)] if body.delimiter() == Delimiter::Brace
        )
    });
    if !inline_module {
        let span = tokens.first().map_or_else(Span::call_site, TokenTree::span);
        return compile_error(
            "`#[kunit_tests(test_name)]` attribute should only be applied to inline modules",
            span,
        );
    }

    let mut out: TokenStream = "#[cfg(test)]".parse().expect("`#[cfg(test)]` tokenizes");
    out.extend(item);
    out
}
