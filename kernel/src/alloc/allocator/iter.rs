//! Walking the pages of a [`Vmalloc`] allocation: [`VmallocPageIter`].
//!
//! Mirrors `rust/kernel/alloc/allocator/iter.rs` of Linux 7.3.

use super::Vmalloc;
use crate::page;
use core::{marker::PhantomData, ptr::NonNull};

/// An iterator over the pages of a [`Vmalloc`] allocation, as [`page::BorrowedPage`]s, in address
/// order.
///
/// Mirrors `kernel::alloc::allocator::VmallocPageIter`.
///
/// # Invariants
///
/// - `buf` is a page-aligned pointer into a [`Vmalloc`] allocation, valid for `'a`;
/// - `size` is the number of bytes from `buf` to the end of that allocation.
pub struct VmallocPageIter<'a> {
    /// The start of the walked memory.
    buf: NonNull<u8>,
    /// The size of the walked memory, in bytes.
    size: usize,
    /// The index of the next page.
    index: usize,
    _p: PhantomData<page::BorrowedPage<'a>>,
}

impl<'a> Iterator for VmallocPageIter<'a> {
    type Item = page::BorrowedPage<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.index.checked_mul(page::PAGE_SIZE)?;
        if offset >= self.size() {
            return None;
        }
        self.index += 1;
        // SAFETY: `offset < size`, so the pointer stays inside the allocation (type invariant).
        let ptr = unsafe { self.buf.add(offset) };
        // SAFETY: `ptr` is page aligned (`buf` is, and `offset` is a multiple of the page size),
        // points into a `Vmalloc` allocation, and is valid for `'a` (type invariant).
        Some(unsafe { Vmalloc::to_page(ptr) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.page_count().saturating_sub(self.index);
        (remaining, Some(remaining))
    }
}

impl<'a> VmallocPageIter<'a> {
    /// Returns an iterator over the pages of the `size` bytes at `buf`.
    ///
    /// # Safety
    ///
    /// - `buf` must be a page-aligned pointer into a [`Vmalloc`] allocation, valid for `'a`;
    /// - `size` must be the number of bytes from `buf` to the end of that allocation.
    pub unsafe fn new(buf: NonNull<u8>, size: usize) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            buf,
            size,
            index: 0,
            _p: PhantomData,
        }
    }

    /// Returns the size in bytes of the walked memory (which may end inside its last page).
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the number of pages of the walked memory.
    #[inline]
    pub fn page_count(&self) -> usize {
        self.size().div_ceil(page::PAGE_SIZE)
    }
}
