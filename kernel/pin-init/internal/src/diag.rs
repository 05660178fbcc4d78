//! Collection of the errors and warnings a macro invocation produces.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::quote_spanned;

/// Errors and warnings emitted by one macro invocation.
///
/// Errors do not stop the expansion right away: a macro keeps going where it can, so that the user
/// sees all problems at once, and [`Diagnostics::finish`] then appends them to the output.
#[derive(Default)]
pub(crate) struct Diagnostics {
    errors: Option<syn::Error>,
    warnings: TokenStream,
}

/// Marker returned when an error has been recorded and no meaningful output can be produced.
pub(crate) struct Failed;

impl Diagnostics {
    /// Records an error at `span`.
    pub(crate) fn error(&mut self, span: Span, msg: impl Display) -> Failed {
        self.push(syn::Error::new(span, msg))
    }

    /// Records an already built `syn::Error`.
    pub(crate) fn push(&mut self, error: syn::Error) -> Failed {
        match &mut self.errors {
            Some(errors) => errors.combine(error),
            None => self.errors = Some(error),
        }
        Failed
    }

    /// Records a warning at `span`.
    ///
    /// Stable proc-macros cannot emit warnings directly, so this emits a use of a deprecated
    /// function whose deprecation note is the message.
    pub(crate) fn warn(&mut self, span: Span, msg: impl Display) {
        let msg = format!("\n{msg}");
        self.warnings.extend(quote_spanned! {span=>
            const _: () = {
                #[deprecated = #msg]
                const fn pin_init_warning() {}
                pin_init_warning();
            };
        });
    }

    /// Combines the macro's output with the recorded diagnostics.
    ///
    /// On `Err`, only the diagnostics are emitted.
    pub(crate) fn finish(self, output: Result<TokenStream, Failed>) -> TokenStream {
        let mut tokens = output.unwrap_or_default();
        if let Some(errors) = self.errors {
            tokens.extend(errors.into_compile_error());
        }
        tokens.extend(self.warnings);
        tokens
    }
}
