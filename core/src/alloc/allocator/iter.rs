//! Walking a `vmalloc` buffer page by page.
//!
//! Mirrors `rust/kernel/alloc/allocator/iter.rs` of Linux 7.3.

use super::Vmalloc;
use crate::page;
use core::{marker::PhantomData, ptr::NonNull};

/// An iterator over the pages of a [`Vmalloc`] allocation.
///
/// Mirrors `kernel::alloc::allocator::VmallocPageIter`.
///
/// # Invariants
///
/// `buf` is the start of a live [`Vmalloc`] allocation of `size` bytes, valid for `'a`.
pub struct VmallocPageIter<'a> {
    buf: NonNull<u8>,
    size: usize,
    index: usize,
    _p: PhantomData<page::BorrowedPage<'a>>,
}

impl<'a> Iterator for VmallocPageIter<'a> {
    type Item = page::BorrowedPage<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        let offset = self.index.checked_mul(page::PAGE_SIZE)?;
        if offset >= self.size {
            return None;
        }
        self.index += 1;
        // SAFETY: `offset` is inside the allocation (checked above, type invariant).
        let ptr = unsafe { self.buf.add(offset) };
        // SAFETY: `ptr` points into the live `Vmalloc` allocation, valid for `'a`.
        Some(unsafe { Vmalloc::to_page(ptr) })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let remaining = self.page_count().saturating_sub(self.index);
        (remaining, Some(remaining))
    }
}

impl<'a> VmallocPageIter<'a> {
    /// Creates an iterator over the pages of the allocation at `buf`.
    ///
    /// # Safety
    ///
    /// `buf` must be the start of a live [`Vmalloc`] allocation of `size` bytes, valid for `'a`.
    pub unsafe fn new(buf: NonNull<u8>, size: usize) -> Self {
        // INVARIANT: by the safety requirements.
        Self {
            buf,
            size,
            index: 0,
            _p: PhantomData,
        }
    }

    /// Returns the size of the allocation in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Returns the number of pages of the allocation.
    #[inline]
    pub fn page_count(&self) -> usize {
        self.size.div_ceil(page::PAGE_SIZE)
    }
}
