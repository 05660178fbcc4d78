//! The harness's error type: a message that says what failed and, where possible, what to do.

use std::fmt;

/// A harness error. Its message is meant for the person running the tests.
#[derive(Debug)]
pub struct Error {
    message: String,
}

/// The harness's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Adds what was being done to an error.
pub trait Context<T> {
    /// Prefixes the error with `context`.
    fn context(self, context: impl fmt::Display) -> Result<T>;

    /// Prefixes the error with the context `f` returns; `f` only runs on error.
    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T>;
}

impl<T, E: fmt::Display> Context<T> for std::result::Result<T, E> {
    fn context(self, context: impl fmt::Display) -> Result<T> {
        self.map_err(|e| Error::new(format!("{context}: {e}")))
    }

    fn with_context<C: fmt::Display>(self, f: impl FnOnce() -> C) -> Result<T> {
        self.map_err(|e| Error::new(format!("{}: {e}", f())))
    }
}

/// Returns early with an [`Error`] built from a format string.
#[macro_export]
macro_rules! bail {
    ($($arg:tt)*) => {
        return Err($crate::Error::new(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_prefixes_the_cause() {
        let err = "x".parse::<u8>().context("reading the answer").unwrap_err();
        assert_eq!(
            err.to_string(),
            "reading the answer: invalid digit found in string"
        );
        let err = Err::<(), _>("boom")
            .with_context(|| format!("step {}", 2))
            .unwrap_err();
        assert_eq!(err.to_string(), "step 2: boom");
    }
}
