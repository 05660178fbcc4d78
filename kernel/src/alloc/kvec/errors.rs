//! The errors of [`Vec`](super::Vec) operations that do not allocate.
//!
//! Mirrors `rust/kernel/alloc/kvec/errors.rs` of Linux 7.3. Each error converts to `EINVAL`.

use crate::{
    error::{code::EINVAL, Error},
    fmt,
};

/// The error of [`Vec::push_within_capacity`](super::Vec::push_within_capacity): the vector is
/// full. Holds the element that was not pushed.
///
/// Mirrors `kernel::alloc::kvec::PushError`.
pub struct PushError<T>(pub T);

impl<T> fmt::Debug for PushError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Not enough capacity")
    }
}

impl<T> From<PushError<T>> for Error {
    #[inline]
    fn from(_: PushError<T>) -> Error {
        EINVAL
    }
}

/// The error of [`Vec::remove`](super::Vec::remove): the index is out of bounds.
///
/// Mirrors `kernel::alloc::kvec::RemoveError`.
pub struct RemoveError;

impl fmt::Debug for RemoveError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Index out of bounds")
    }
}

impl From<RemoveError> for Error {
    #[inline]
    fn from(_: RemoveError) -> Error {
        EINVAL
    }
}

/// The error of [`Vec::insert_within_capacity`](super::Vec::insert_within_capacity). Holds the
/// element that was not inserted.
///
/// Mirrors `kernel::alloc::kvec::InsertError`.
pub enum InsertError<T> {
    /// The index is past the end of the vector.
    IndexOutOfBounds(T),
    /// The vector is full.
    OutOfCapacity(T),
}

impl<T> fmt::Debug for InsertError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InsertError::IndexOutOfBounds(_) => write!(f, "Index out of bounds"),
            InsertError::OutOfCapacity(_) => write!(f, "Not enough capacity"),
        }
    }
}

impl<T> From<InsertError<T>> for Error {
    #[inline]
    fn from(_: InsertError<T>) -> Error {
        EINVAL
    }
}
