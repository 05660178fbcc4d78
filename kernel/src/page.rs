//! Memory pages: the page size constants, [`page_align`] and owned or borrowed [`Page`]s.
//!
//! Mirrors `rust/kernel/page.rs` of Linux 7.3. The constants and [`page_align`] are identical to the
//! kernel's (x86-64's 4 KiB pages). A [`Page`] is a page-aligned page of the process heap, always
//! mapped; its `struct page` pointer ([`Page::as_ptr`]) is the page's own address, as
//! `bindings::page` explains.

use core::{marker::PhantomData, mem::ManuallyDrop, ops::Deref, ptr::NonNull};
use std::alloc::Layout;

use crate::{
    alloc::{flags::__GFP_ZERO, AllocError, Flags},
    bindings,
    error::{code::EINVAL, Result},
    uaccess::UserSliceReader,
};

/// The base-2 logarithm of [`PAGE_SIZE`].
pub const PAGE_SHIFT: usize = 12;

/// The size of a page in bytes.
pub const PAGE_SIZE: usize = 1 << PAGE_SHIFT;

/// The mask that clears the offset in a page from an address.
pub const PAGE_MASK: usize = !(PAGE_SIZE - 1);

/// Rounds `addr` up to a multiple of [`PAGE_SIZE`], or returns `None` on overflow.
///
/// # Examples
///
/// ```
/// use kernel::page::{page_align, PAGE_SIZE};
///
/// assert_eq!(page_align(0), Some(0));
/// assert_eq!(page_align(1), Some(PAGE_SIZE));
/// assert_eq!(page_align(3 * PAGE_SIZE), Some(3 * PAGE_SIZE));
/// assert_eq!(page_align(usize::MAX - 1), None);
/// ```
#[inline(always)]
pub const fn page_align(addr: usize) -> Option<usize> {
    match addr.checked_add(PAGE_SIZE - 1) {
        Some(bumped) => Some(bumped & PAGE_MASK),
        None => None,
    }
}

/// The layout of one page.
const PAGE_LAYOUT: Layout = match Layout::from_size_align(PAGE_SIZE, PAGE_SIZE) {
    Ok(layout) => layout,
    Err(_) => panic!("a page is a valid layout"),
};

/// A page owned by someone else (such as a `VBox`), borrowed for `'a`.
///
/// Mirrors `kernel::page::BorrowedPage`; dereferences to a [`Page`] that is not freed on drop.
///
/// # Invariants
///
/// The page is valid for the lifetime `'a`.
pub struct BorrowedPage<'a>(ManuallyDrop<Page>, PhantomData<&'a Page>);

impl<'a> BorrowedPage<'a> {
    /// Returns the borrowed page at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid page (here: `PAGE_SIZE` bytes of page-aligned memory of this
    /// process) for the whole lifetime `'a`.
    pub unsafe fn from_raw(ptr: NonNull<bindings::page>) -> Self {
        // INVARIANT: By the safety requirements; `ManuallyDrop` keeps the page from being freed.
        Self(ManuallyDrop::new(Page { page: ptr }), PhantomData)
    }
}

impl Deref for BorrowedPage<'_> {
    type Target = Page;

    fn deref(&self) -> &Page {
        &self.0
    }
}

/// Types whose memory can be walked as [`BorrowedPage`]s.
///
/// Mirrors `kernel::page::AsPageIter`.
pub trait AsPageIter {
    /// The iterator over the pages.
    type Iter<'a>: Iterator<Item = BorrowedPage<'a>>
    where
        Self: 'a;

    /// Returns an iterator over the pages of `self`.
    fn page_iter(&mut self) -> Self::Iter<'_>;
}

/// An owned page of memory.
///
/// Mirrors `kernel::page::Page`. Differs in where the page comes from: the process heap
/// (`PAGE_SIZE` bytes aligned to `PAGE_SIZE`), which is always mapped; allocation failures can be
/// injected with `drydock_host::fault::AllocFailure`, as for the `alloc` mirror.
///
/// # Invariants
///
/// `page` points to `PAGE_SIZE` bytes of page-aligned memory of this process, allocated with
/// `PAGE_LAYOUT` and owned by this value (or, inside a [`BorrowedPage`], valid while borrowed).
pub struct Page {
    page: NonNull<bindings::page>,
}

// SAFETY: A page is plain memory; nothing ties it to a thread.
unsafe impl Send for Page {}

// SAFETY: The shared methods are `unsafe` and leave data races to their callers.
unsafe impl Sync for Page {}

impl Page {
    /// Allocates a page; its contents are zero if `flags` contains `__GFP_ZERO`, unspecified
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::page::{Page, PAGE_SIZE};
    /// use kernel::prelude::*;
    ///
    /// let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO)?;
    /// let mut buf = [0xffu8; 16];
    /// // SAFETY: `buf` is valid for 16 bytes of writes; nothing else accesses the page.
    /// unsafe { page.read_raw(buf.as_mut_ptr(), PAGE_SIZE - 16, 16)? };
    /// assert_eq!(buf, [0; 16]);
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn alloc_page(flags: Flags) -> Result<Self, AllocError> {
        if drydock_host::fault::alloc_should_fail() {
            return Err(AllocError);
        }
        // SAFETY: `PAGE_LAYOUT` has a non-zero size.
        let memory = unsafe {
            if flags.contains(__GFP_ZERO) {
                std::alloc::alloc_zeroed(PAGE_LAYOUT)
            } else {
                std::alloc::alloc(PAGE_LAYOUT)
            }
        };
        let page = NonNull::new(memory.cast()).ok_or(AllocError)?;
        // INVARIANT: `page` was just allocated with `PAGE_LAYOUT` and is owned by the result.
        Ok(Self { page })
    }

    /// Returns the page's `struct page` pointer (here, its address).
    pub fn as_ptr(&self) -> *mut bindings::page {
        self.page.as_ptr()
    }

    /// Returns the NUMA node of the page.
    ///
    /// Differs from the kernel: always 0 (drydock does not track the node of heap memory).
    #[inline]
    pub fn nid(&self) -> i32 {
        0
    }

    /// Calls `f` with a pointer to byte `off` of the page, valid for `len` bytes, or returns
    /// `EINVAL` (without calling `f`) if the range is not inside the page.
    fn with_pointer_into_page<T>(
        &self,
        off: usize,
        len: usize,
        f: impl FnOnce(*mut u8) -> Result<T>,
    ) -> Result<T> {
        match off.checked_add(len) {
            Some(end) if end <= PAGE_SIZE => f(self.page.as_ptr().cast::<u8>().wrapping_add(off)),
            _ => Err(EINVAL),
        }
    }

    /// Copies `len` bytes at `offset` of the page to `dst`, or returns `EINVAL` if the range is
    /// not inside the page.
    ///
    /// # Safety
    ///
    /// - `dst` must be valid for `len` bytes of writes.
    /// - No write to the same bytes of the page may race with this read.
    pub unsafe fn read_raw(&self, dst: *mut u8, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, |src| {
            // SAFETY: `src` is valid for `len` bytes inside the page (checked by the caller of
            // this closure), `dst` for `len` bytes by the safety requirements, and page memory
            // cannot overlap a buffer the caller may write.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
            Ok(())
        })
    }

    /// Copies `len` bytes from `src` to `offset` of the page, or returns `EINVAL` if the range is
    /// not inside the page.
    ///
    /// # Safety
    ///
    /// - `src` must be valid for `len` bytes of reads.
    /// - No read or write of the same bytes of the page may race with this write.
    pub unsafe fn write_raw(&self, src: *const u8, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, |dst| {
            // SAFETY: As in `read_raw`, with the roles swapped.
            unsafe { core::ptr::copy_nonoverlapping(src, dst, len) };
            Ok(())
        })
    }

    /// Zeroes `len` bytes at `offset` of the page, or returns `EINVAL` if the range is not inside
    /// the page.
    ///
    /// # Safety
    ///
    /// No read or write of the same bytes of the page may race with this write.
    pub unsafe fn fill_zero_raw(&self, offset: usize, len: usize) -> Result {
        self.with_pointer_into_page(offset, len, |dst| {
            // SAFETY: `dst` is valid for `len` bytes inside the page; races are excluded by the
            // safety requirements.
            unsafe { core::ptr::write_bytes(dst, 0, len) };
            Ok(())
        })
    }

    /// Copies data from userspace into this page.
    ///
    /// This method will perform bounds checks on the page offset. If `offset .. offset+len` goes
    /// outside of the page, then this call returns [`EINVAL`].
    ///
    /// Like the other `UserSliceReader` methods, data races are allowed on the userspace address.
    /// However, they are not allowed on the page you are copying into.
    ///
    /// # Safety
    ///
    /// Callers must ensure that this call does not race with a read or write to the same page that
    /// overlaps with this write.
    pub unsafe fn copy_from_user_slice_raw(
        &self,
        reader: &mut UserSliceReader,
        offset: usize,
        len: usize,
    ) -> Result {
        self.with_pointer_into_page(offset, len, move |dst| {
            // SAFETY: If `with_pointer_into_page` calls into this closure, then it has performed a
            // bounds check and guarantees that `dst` is valid for `len` bytes. Furthermore, we have
            // exclusive access to the slice since the caller guarantees that there are no races.
            reader.read_raw(unsafe { core::slice::from_raw_parts_mut(dst.cast(), len) })
        })
    }
}

impl Drop for Page {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: By the type invariant the page was allocated with `PAGE_LAYOUT` and is owned
        // (a `BorrowedPage` never drops its `Page`).
        unsafe { std::alloc::dealloc(self.page.as_ptr().cast(), PAGE_LAYOUT) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::flags::GFP_KERNEL;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn pages_are_aligned_bounded_and_zeroed_on_request() {
        let page = Page::alloc_page(GFP_KERNEL | __GFP_ZERO).unwrap();
        assert!(page.as_ptr().addr().is_multiple_of(PAGE_SIZE));
        let data = [1u8, 2, 3, 4];
        let mut back = [0u8; 4];
        // SAFETY: The buffers are valid for 4 bytes; nothing else accesses the page.
        unsafe {
            page.write_raw(data.as_ptr(), PAGE_SIZE - 4, 4).unwrap();
            page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 4, 4).unwrap();
            assert_eq!(back, data);
            assert_eq!(page.write_raw(data.as_ptr(), PAGE_SIZE - 3, 4), Err(EINVAL));
            assert_eq!(page.read_raw(back.as_mut_ptr(), usize::MAX, 4), Err(EINVAL));
            page.fill_zero_raw(PAGE_SIZE - 2, 2).unwrap();
            assert_eq!(page.fill_zero_raw(PAGE_SIZE, 1), Err(EINVAL));
            page.read_raw(back.as_mut_ptr(), PAGE_SIZE - 4, 4).unwrap();
            assert_eq!(back, [1, 2, 0, 0]);
            page.read_raw(back.as_mut_ptr(), 0, 4).unwrap();
            assert_eq!(back, [0; 4]);
        }
        assert_eq!(page.nid(), 0);
    }

    #[test]
    fn borrowed_pages_are_not_freed() {
        let owner = Page::alloc_page(GFP_KERNEL).unwrap();
        {
            // SAFETY: `owner` outlives the borrow.
            let borrowed = unsafe { BorrowedPage::from_raw(NonNull::new(owner.as_ptr()).unwrap()) };
            assert_eq!(borrowed.as_ptr(), owner.as_ptr());
        }
        // The borrow ended without freeing the page: it is still usable.
        // SAFETY: Nothing else accesses the page.
        unsafe { owner.fill_zero_raw(0, PAGE_SIZE).unwrap() };
    }

    #[test]
    fn allocation_failures_can_be_injected() {
        let _failure = AllocFailure::next(1);
        assert!(Page::alloc_page(GFP_KERNEL).is_err());
    }
}
