//! Memory layouts of arrays.
//!
//! Mirrors `rust/kernel/alloc/layout.rs` of Linux 7.3.

use core::{alloc::Layout, marker::PhantomData};

/// The error of a layout computation that overflowed; converts to `ENOMEM`.
///
/// Mirrors `kernel::alloc::layout::LayoutError`.
pub struct LayoutError;

/// The layout of an array `[T; n]` whose length is only known at run time.
///
/// Mirrors `kernel::alloc::layout::ArrayLayout`.
///
/// # Invariants
///
/// `len * size_of::<T>()` does not overflow and is at most `isize::MAX`.
pub struct ArrayLayout<T> {
    len: usize,
    _phantom: PhantomData<fn() -> T>,
}

impl<T> Clone for ArrayLayout<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for ArrayLayout<T> {}

impl<T> ArrayLayout<T> {
    /// Returns the layout of `[T; 0]`.
    pub const fn empty() -> Self {
        // INVARIANT: Zero elements take zero bytes.
        Self {
            len: 0,
            _phantom: PhantomData,
        }
    }

    /// Returns the layout of `[T; len]`.
    ///
    /// # Errors
    ///
    /// Fails if the array would take more than `isize::MAX` bytes (including when computing its
    /// size overflows).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// use kernel::alloc::layout::ArrayLayout;
    ///
    /// let layout = ArrayLayout::<i32>::new(15)?;
    /// assert_eq!(layout.len(), 15);
    /// assert_eq!(layout.size(), 60);
    ///
    /// // `isize::MAX` four-byte elements overflow the size computation,
    /// assert!(ArrayLayout::<i32>::new(isize::MAX as usize).is_err());
    /// // and half as many do not overflow but exceed `isize::MAX` bytes.
    /// assert!(ArrayLayout::<i32>::new(isize::MAX as usize / 2).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub const fn new(len: usize) -> Result<Self, LayoutError> {
        match len.checked_mul(core::mem::size_of::<T>()) {
            // INVARIANT: The size was just checked.
            Some(size) if size <= isize::MAX as usize => Ok(Self {
                len,
                _phantom: PhantomData,
            }),
            _ => Err(LayoutError),
        }
    }

    /// Returns the layout of `[T; len]` without checking its size.
    ///
    /// # Safety
    ///
    /// `len * size_of::<T>()` must not overflow and must be at most `isize::MAX`.
    pub const unsafe fn new_unchecked(len: usize) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            len,
            _phantom: PhantomData,
        }
    }

    /// Returns the number of elements of the array.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if the array has no elements.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns the size of the array in bytes.
    pub const fn size(&self) -> usize {
        self.len * core::mem::size_of::<T>()
    }
}

impl<T> From<ArrayLayout<T>> for Layout {
    fn from(value: ArrayLayout<T>) -> Self {
        // SAFETY: By the type invariant the size of the array is at most `isize::MAX`, which is
        // all `Layout::array` checks for.
        unsafe { Layout::array::<T>(value.len).unwrap_unchecked() }
    }
}
