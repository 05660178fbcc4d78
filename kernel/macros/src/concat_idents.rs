//! `concat_idents!`: one identifier made of two.

use proc_macro2::{Ident, TokenStream, TokenTree};
use syn::parse::{Parse, ParseStream};
use syn::Token;

/// The input: two identifiers separated by a comma.
pub(crate) struct Input {
    first: Ident,
    second: Ident,
}

impl Parse for Input {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let first = input.parse()?;
        input.parse::<Token![,]>()?;
        let second = input.parse()?;
        Ok(Self { first, second })
    }
}

/// Expands `concat_idents!(first, second)`: `firstsecond`, with the second's span.
pub(crate) fn expand(Input { first, second }: Input) -> TokenStream {
    let joined = Ident::new(&format!("{first}{second}"), second.span());
    TokenStream::from(TokenTree::Ident(joined))
}
