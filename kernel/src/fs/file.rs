//! Open files.
//!
//! Mirrors `rust/kernel/fs/file.rs` of Linux 7.3, partly: the position type [`Offset`].

/// A position in a file, in bytes from its start (`loff_t`).
///
/// Mirrors `kernel::fs::file::Offset`.
pub type Offset = crate::bindings::loff_t;
