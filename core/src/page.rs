//! Memory pages: the page size constants and [`page_align`].
//!
//! Mirrors `rust/kernel/page.rs` of Linux 7.3, for its constants and [`page_align`], identical to
//! the kernel's (x86-64's 4 KiB pages). The `Page`, `BorrowedPage` and `AsPageIter` items are not
//! mirrored yet: `Page::alloc_page` takes the allocation `Flags` of the `alloc` mirror, being
//! written separately (`docs/porting/io.md` lists them).

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
