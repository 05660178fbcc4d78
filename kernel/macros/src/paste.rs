//! `paste!`: identifier pasting in `[< ... >]` groups.

use proc_macro::{Delimiter, Group, Ident, Spacing, Span, TokenStream, TokenTree};

/// An error found in the input, reported as `compile_error!` at `span`.
struct PasteError {
    message: String,
    span: Span,
}

/// Expands a `paste!` invocation: replaces `[< ... >]` groups by pasted identifiers.
pub(crate) fn expand(input: TokenStream) -> TokenStream {
    match rewrite(input) {
        Ok(tokens) => tokens,
        Err(error) => compile_error(&error.message, error.span),
    }
}

/// Rewrites a token stream, descending into groups.
fn rewrite(input: TokenStream) -> Result<TokenStream, PasteError> {
    let mut tokens = Vec::new();
    for token in input {
        let TokenTree::Group(group) = token else {
            tokens.push(token);
            continue;
        };
        let inner: Vec<TokenTree> = group.stream().into_iter().collect();
        match paste_body(&group, &inner) {
            Some(body) => tokens.push(TokenTree::Ident(paste_ident(body, group.span())?)),
            None => {
                let mut rebuilt = Group::new(group.delimiter(), rewrite(group.stream())?);
                rebuilt.set_span(group.span());
                tokens.push(TokenTree::Group(rebuilt));
            }
        }
    }
    Ok(unwrap_path_segments(tokens).into_iter().collect())
}

/// Returns the parts between `<` and `>` if `group` is a `[< ... >]` paste group.
fn paste_body<'t>(group: &Group, inner: &'t [TokenTree]) -> Option<&'t [TokenTree]> {
    let is_punct =
        |token: &TokenTree, c: char| matches!(token, TokenTree::Punct(p) if p.as_char() == c);
    match inner {
        [first, body @ .., last]
            if group.delimiter() == Delimiter::Bracket
                && !body.is_empty()
                && is_punct(first, '<')
                && is_punct(last, '>') =>
        {
            Some(body)
        }
        _ => None,
    }
}

/// One piece of a pasted identifier, with the span it came from.
struct Part {
    text: String,
    span: Span,
}

/// Concatenates the parts of a paste group into one identifier.
fn paste_ident(body: &[TokenTree], group_span: Span) -> Result<Ident, PasteError> {
    let mut parts = Vec::new();
    let mut span = None;
    collect_parts(body, &mut parts, &mut span)?;
    let text: String = parts.iter().map(|part| part.text.as_str()).collect();
    let is_ident_char = |c: char| c == '_' || c.is_alphanumeric();
    let starts_well = text
        .chars()
        .next()
        .is_some_and(|c| c == '_' || c.is_alphabetic());
    if !starts_well || !text.chars().all(is_ident_char) {
        return Err(PasteError {
            message: format!("`{text}` is not a valid identifier"),
            span: group_span,
        });
    }
    Ok(Ident::new(&text, span.unwrap_or(group_span)))
}

/// Appends the parts of `tokens` to `parts`, applying modifiers; `span` records a `:span` choice.
fn collect_parts(
    tokens: &[TokenTree],
    parts: &mut Vec<Part>,
    span: &mut Option<Span>,
) -> Result<(), PasteError> {
    let mut iter = tokens.iter();
    while let Some(token) = iter.next() {
        match token {
            TokenTree::Ident(ident) => {
                let text = ident.to_string();
                let text = text.strip_prefix("r#").unwrap_or(&text).to_owned();
                parts.push(Part {
                    text,
                    span: ident.span(),
                });
            }
            TokenTree::Literal(literal) => {
                let text = literal.to_string();
                let text = match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
                    Some(unquoted) => unquoted.to_owned(),
                    None => text,
                };
                parts.push(Part {
                    text,
                    span: literal.span(),
                });
            }
            TokenTree::Group(group) if group.delimiter() == Delimiter::None => {
                let inner: Vec<TokenTree> = group.stream().into_iter().collect();
                collect_parts(&inner, parts, span)?;
            }
            TokenTree::Punct(colon) if colon.as_char() == ':' => {
                let Some(TokenTree::Ident(modifier)) = iter.next() else {
                    return Err(PasteError {
                        message: "expected a modifier (`lower`, `upper` or `span`) after `:`"
                            .into(),
                        span: colon.span(),
                    });
                };
                let Some(last) = parts.last_mut() else {
                    return Err(PasteError {
                        message: "a modifier must follow the part it applies to".into(),
                        span: colon.span(),
                    });
                };
                match modifier.to_string().as_str() {
                    "lower" => last.text = last.text.to_lowercase(),
                    "upper" => last.text = last.text.to_uppercase(),
                    "span" if span.is_none() => *span = Some(last.span),
                    "span" => {
                        return Err(PasteError {
                            message: "`:span` may be given once per pasted identifier".into(),
                            span: modifier.span(),
                        })
                    }
                    other => {
                        return Err(PasteError {
                            message: format!("unknown paste modifier `{other}`"),
                            span: modifier.span(),
                        })
                    }
                }
            }
            other => {
                return Err(PasteError {
                    message: format!("`{other}` cannot be part of a pasted identifier"),
                    span: other.span(),
                })
            }
        }
    }
    Ok(())
}

/// Removes the invisible groups that macro variables (`$t:ty`, `$p:path`...) leave around a path
/// segment next to `::`: the parser does not accept `⟦u32⟧::BITS`, only `u32::BITS`.
fn unwrap_path_segments(tokens: Vec<TokenTree>) -> Vec<TokenTree> {
    let path_sep_at = |i: usize| {
        matches!(
            (tokens.get(i), tokens.get(i + 1)),
            (Some(TokenTree::Punct(a)), Some(TokenTree::Punct(b)))
                if a.as_char() == ':' && a.spacing() == Spacing::Joint && b.as_char() == ':'
        )
    };
    let mut out = Vec::with_capacity(tokens.len());
    for (i, token) in tokens.iter().enumerate() {
        match token {
            TokenTree::Group(group)
                if group.delimiter() == Delimiter::None
                    && (path_sep_at(i + 1) || (i >= 2 && path_sep_at(i - 2))) =>
            {
                out.extend(group.stream());
            }
            _ => out.push(token.clone()),
        }
    }
    out
}

/// Builds `::core::compile_error!("message")` with every token at `span`.
pub(crate) fn compile_error(message: &str, span: Span) -> TokenStream {
    let tokens: TokenStream = format!("::core::compile_error!({message:?});")
        .parse()
        .expect("a compile_error! invocation always tokenizes");
    respan(tokens, span)
}

/// Gives every token of `tokens` the span `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            if let TokenTree::Group(group) = &token {
                let mut rebuilt = Group::new(group.delimiter(), respan(group.stream(), span));
                rebuilt.set_span(span);
                token = TokenTree::Group(rebuilt);
            } else {
                token.set_span(span);
            }
            token
        })
        .collect()
}
