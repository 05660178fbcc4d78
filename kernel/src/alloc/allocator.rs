//! The kernel's allocators: [`Kmalloc`], [`Vmalloc`] and [`KVmalloc`].
//!
//! Mirrors `rust/kernel/alloc/allocator.rs` of Linux 7.3. In the kernel, `kmalloc` returns
//! physically contiguous memory of at most `KMALLOC_MAX_SIZE` bytes, `vmalloc` returns virtually
//! contiguous, page-aligned memory of any size, and `kvmalloc` tries the first and falls back to
//! the second.
//!
//! Here all three take their memory from the process allocator (`std::alloc`) and keep the
//! properties a driver can observe: [`Kmalloc`] refuses blocks larger than `KMALLOC_MAX_SIZE`
//! (4 MiB, the x86-64 value) and aligns blocks to `ARCH_KMALLOC_MINALIGN` (8); [`Vmalloc`] aligns
//! every block to a page; [`KVmalloc`] places blocks up to `KMALLOC_MAX_SIZE` as [`Kmalloc`] does
//! and larger ones as [`Vmalloc`] does. Every allocation or growth first consults the fault
//! injection hook of [`drydock_host::fault`].
//!
//! `vmalloc` memory is made of whole pages, in the kernel as here: a [`Vmalloc`] block (and a
//! [`KVmalloc`] block placed as one) takes its size rounded up to a page, so that each of its pages
//! can be handed out as a [`page::BorrowedPage`] ([`Vmalloc::to_page`], [`VmallocPageIter`]). In
//! drydock a `struct page` pointer is the address of the page's memory.

use super::{flags, AllocError, Allocator, Flags, NumaNode};
use crate::page;
use core::{alloc::Layout, ptr::NonNull};

mod iter;
pub use self::iter::VmallocPageIter;

/// `ARCH_KMALLOC_MINALIGN` on x86-64: the alignment of every `kmalloc` block.
const ARCH_KMALLOC_MINALIGN: usize = 8;

/// `KMALLOC_MAX_SIZE` on x86-64 (`MAX_PAGE_ORDER` 10 plus `PAGE_SHIFT` 12): the largest `kmalloc`.
const KMALLOC_MAX_SIZE: usize = 1 << 22;

/// The size of a page, and the alignment and size granule of every `vmalloc` block.
pub(crate) const PAGE_SIZE: usize = page::PAGE_SIZE;

/// The `kmalloc` allocator: physically contiguous memory, at most 4 MiB per block.
///
/// Mirrors `kernel::alloc::allocator::Kmalloc`; see the [module documentation](self) for how it is
/// done here.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::{alloc::allocator::Kmalloc, prelude::*};
///
/// // More than `KMALLOC_MAX_SIZE` (4 MiB) does not fit in a `kmalloc` block, but does in a
/// // `kvmalloc` one.
/// struct Huge([u8; (4 << 20) + 1]);
/// assert!(KBox::<Huge>::new_uninit(GFP_KERNEL | __GFP_NOWARN).is_err());
/// assert!(KVBox::<Huge>::new_uninit(GFP_KERNEL).is_ok());
/// ```
pub struct Kmalloc;

/// The `vmalloc` allocator: virtually contiguous, page-aligned memory of any size.
///
/// Mirrors `kernel::alloc::allocator::Vmalloc`; see the [module documentation](self) for how it is
/// done here.
pub struct Vmalloc;

/// The `kvmalloc` allocator: `kmalloc` memory when the block fits, `vmalloc` memory otherwise.
///
/// Mirrors `kernel::alloc::allocator::KVmalloc`; see the [module documentation](self) for how it
/// is done here.
pub struct KVmalloc;

/// How one of the kernel allocators places its blocks in the process heap.
#[derive(Clone, Copy)]
enum Placement {
    /// As `kmalloc`: limited in size, aligned to `ARCH_KMALLOC_MINALIGN`.
    Kmalloc,
    /// As `vmalloc`: page aligned.
    Vmalloc,
    /// As `kvmalloc`: as `kmalloc` if the block fits, as `vmalloc` otherwise.
    KVmalloc,
}

impl Placement {
    /// Returns the layout a block of `layout` (of non-zero size) is given in the process heap, or
    /// an error if this allocator cannot hold such a block.
    ///
    /// `kmalloc` blocks are aligned to `ARCH_KMALLOC_MINALIGN`; `vmalloc` blocks are aligned to a
    /// page and span whole pages.
    fn host_layout(self, layout: Layout) -> Result<Layout, AllocError> {
        let vmalloc = match self {
            Placement::Kmalloc if layout.size() > KMALLOC_MAX_SIZE => return Err(AllocError),
            Placement::Kmalloc => false,
            Placement::Vmalloc => true,
            Placement::KVmalloc => layout.size() > KMALLOC_MAX_SIZE,
        };
        let (size, align) = if vmalloc {
            let pages = layout.size().div_ceil(PAGE_SIZE);
            let size = pages.checked_mul(PAGE_SIZE).ok_or(AllocError)?;
            (size, layout.align().max(PAGE_SIZE))
        } else {
            (layout.size(), layout.align().max(ARCH_KMALLOC_MINALIGN))
        };
        Layout::from_size_align(size, align).map_err(|_| AllocError)
    }

    /// Allocates, resizes or frees a block, with the contract of [`Allocator::realloc`].
    ///
    /// # Safety
    ///
    /// The requirements of [`Allocator::realloc`], for blocks placed by `self`.
    unsafe fn realloc(
        self,
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // A zero-sized old block was never allocated: its pointer is only a dangling one.
        let old = match ptr {
            Some(ptr) if old_layout.size() != 0 => {
                // The block exists, so its layout was accepted when it was allocated.
                let host_old = self.host_layout(old_layout)?;
                Some((ptr, host_old))
            }
            _ => None,
        };

        if layout.size() == 0 {
            if let Some((ptr, host_old)) = old {
                // SAFETY: By the caller's guarantee `ptr` is a live block allocated by this
                // placement with `old_layout`, hence by the process allocator with `host_old`.
                unsafe { std::alloc::dealloc(ptr.as_ptr(), host_old) };
            }
            return Ok(NonNull::slice_from_raw_parts(
                super::dangling_from_layout(layout),
                0,
            ));
        }

        let host_new = self
            .host_layout(layout)
            .inspect_err(|_| warn(layout, flags))?;
        if drydock_host::fault::alloc_should_fail() {
            return Err(AllocError);
        }
        let zero = flags.contains(flags::__GFP_ZERO);

        let new = match old {
            // Same alignment: the process allocator can resize in place or move for us.
            Some((ptr, host_old)) if host_old.align() == host_new.align() => {
                // SAFETY: `ptr` is a live block allocated with `host_old`; the new size is
                // non-zero and forms a valid layout with the same alignment (`host_new`).
                let new = unsafe { std::alloc::realloc(ptr.as_ptr(), host_old, host_new.size()) };
                if zero && !new.is_null() && host_new.size() > host_old.size() {
                    // SAFETY: `new` is valid for `host_new.size()` bytes; zero the grown tail.
                    unsafe {
                        new.add(host_old.size())
                            .write_bytes(0, host_new.size() - host_old.size())
                    };
                }
                new
            }
            _ => {
                // SAFETY: `host_new` has a non-zero size.
                let new = unsafe {
                    if zero {
                        std::alloc::alloc_zeroed(host_new)
                    } else {
                        std::alloc::alloc(host_new)
                    }
                };
                if let (false, Some((ptr, host_old))) = (new.is_null(), old) {
                    // SAFETY: `ptr` is valid for `host_old.size()` bytes and `new` for
                    // `host_new.size()`; they are distinct live blocks. Afterwards the old block
                    // is freed with the layout it was allocated with and never used again.
                    unsafe {
                        core::ptr::copy_nonoverlapping(
                            ptr.as_ptr(),
                            new,
                            host_old.size().min(host_new.size()),
                        );
                        std::alloc::dealloc(ptr.as_ptr(), host_old);
                    }
                }
                new
            }
        };

        let new = NonNull::new(new)
            .ok_or(AllocError)
            .inspect_err(|_| warn(layout, flags))?;
        Ok(NonNull::slice_from_raw_parts(new, layout.size()))
    }
}

/// Reports a failed allocation, as the kernel does unless the caller passed `__GFP_NOWARN`.
fn warn(layout: Layout, flags: Flags) {
    if !flags.contains(flags::__GFP_NOWARN) {
        crate::pr_warn!(
            "allocation of {} bytes (alignment {}) failed\n",
            layout.size(),
            layout.align()
        );
    }
}

impl Kmalloc {
    /// Returns `layout` with its size rounded up to a multiple of its alignment, which is how a
    /// `kmalloc` block for it is sized.
    pub fn aligned_layout(layout: Layout) -> Layout {
        layout.pad_to_align()
    }
}

// SAFETY: `Placement::realloc` returns blocks of the process allocator, which stay valid until
// freed, accepts any block of this allocator, and keeps the promises of `Allocator::realloc`. The
// blocks are aligned to `ARCH_KMALLOC_MINALIGN` at least.
unsafe impl Allocator for Kmalloc {
    const MIN_ALIGN: usize = ARCH_KMALLOC_MINALIGN;

    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
        _nid: NumaNode,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let layout = Kmalloc::aligned_layout(layout);
        let old_layout = Kmalloc::aligned_layout(old_layout);
        // SAFETY: The caller's guarantees are those `Placement::realloc` needs; padding both
        // layouts the same way keeps `old_layout` the one the block was allocated with.
        unsafe { Placement::Kmalloc.realloc(ptr, layout, old_layout, flags) }
    }
}

impl Vmalloc {
    /// Returns the page of a `Vmalloc` allocation that starts at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be page aligned, point into a `Vmalloc` allocation, and stay valid for `'a`.
    pub unsafe fn to_page<'a>(ptr: NonNull<u8>) -> page::BorrowedPage<'a> {
        // SAFETY: `vmalloc` blocks span whole pages, so the page at the aligned `ptr` is entirely
        // inside the allocation, valid for `'a` (caller's guarantee); in drydock a `struct page`
        // pointer is the page's address.
        unsafe { page::BorrowedPage::from_raw(ptr.cast()) }
    }
}

// SAFETY: As for `Kmalloc`; the blocks are page aligned.
unsafe impl Allocator for Vmalloc {
    const MIN_ALIGN: usize = PAGE_SIZE;

    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
        _nid: NumaNode,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: The caller's guarantees are those `Placement::realloc` needs.
        unsafe { Placement::Vmalloc.realloc(ptr, layout, old_layout, flags) }
    }
}

// SAFETY: As for `Kmalloc`; the blocks are aligned to `ARCH_KMALLOC_MINALIGN` at least.
unsafe impl Allocator for KVmalloc {
    const MIN_ALIGN: usize = ARCH_KMALLOC_MINALIGN;

    #[inline]
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
        _nid: NumaNode,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let layout = Kmalloc::aligned_layout(layout);
        let old_layout = Kmalloc::aligned_layout(old_layout);
        // SAFETY: As for `Kmalloc`.
        unsafe { Placement::KVmalloc.realloc(ptr, layout, old_layout, flags) }
    }
}

/// Returns whether a block of `layout` allocated by [`KVmalloc`] is placed as `vmalloc` memory
/// (the kernel's `is_vmalloc_addr()` for such a block).
pub(crate) fn kvmalloc_is_vmalloc(layout: Layout) -> bool {
    Kmalloc::aligned_layout(layout).size() > KMALLOC_MAX_SIZE
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::flags::{__GFP_NOWARN, __GFP_ZERO, GFP_KERNEL};
    use drydock_host::fault::AllocFailure;

    fn is_aligned<A: Allocator>(layout: Layout) -> bool {
        let block = A::alloc(layout, GFP_KERNEL, NumaNode::NO_NODE).unwrap();
        let addr = block.cast::<u8>().as_ptr().addr();
        // SAFETY: `block` was allocated by `A` with `layout`.
        unsafe { A::free(block.cast(), layout) };
        addr % layout.align().max(A::MIN_ALIGN) == 0
    }

    #[test]
    fn blocks_honour_alignment_and_min_align() {
        for align in [1, 8, 128, 8192] {
            let layout = Layout::from_size_align(1024, align).unwrap();
            assert!(is_aligned::<Kmalloc>(layout));
            assert!(is_aligned::<Vmalloc>(layout));
            assert!(is_aligned::<KVmalloc>(layout));
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "allocates and scans 4 MiB, too slow under Miri")]
    fn kmalloc_refuses_blocks_over_kmalloc_max_size() {
        let too_big = Layout::array::<u8>(KMALLOC_MAX_SIZE + 1).unwrap();
        let flags = GFP_KERNEL | __GFP_NOWARN;
        assert_eq!(
            Kmalloc::alloc(too_big, flags, NumaNode::NO_NODE),
            Err(AllocError)
        );
        let block = KVmalloc::alloc(too_big, flags, NumaNode::NO_NODE).unwrap();
        assert_eq!(block.cast::<u8>().as_ptr().addr() % PAGE_SIZE, 0);
        // SAFETY: `block` was allocated by `KVmalloc` with `too_big`.
        unsafe { KVmalloc::free(block.cast(), too_big) };
    }

    #[test]
    #[cfg_attr(miri, ignore = "allocates and scans 4 MiB, too slow under Miri")]
    fn growth_keeps_contents_and_zeroes_the_tail() {
        let small = Layout::array::<u8>(16).unwrap();
        // Across the `kmalloc`/`vmalloc` boundary of `KVmalloc` the block moves.
        let large = Layout::array::<u8>(KMALLOC_MAX_SIZE + 16).unwrap();
        let block = KVmalloc::alloc(small, GFP_KERNEL | __GFP_ZERO, NumaNode::NO_NODE).unwrap();
        let ptr = block.cast::<u8>();
        // SAFETY: `block` is valid for 16 bytes.
        unsafe { ptr.as_ptr().write_bytes(0xab, 16) };
        // SAFETY: `ptr` is a live block of `KVmalloc` allocated with `small`.
        let grown = unsafe {
            KVmalloc::realloc(
                Some(ptr),
                large,
                small,
                GFP_KERNEL | __GFP_ZERO,
                NumaNode::NO_NODE,
            )
        }
        .unwrap();
        assert_eq!(grown.len(), large.size());
        // SAFETY: `grown` is valid for `large.size()` bytes.
        let bytes = unsafe { grown.as_ref() };
        assert!(bytes[..16].iter().all(|&b| b == 0xab));
        assert!(bytes[16..].iter().all(|&b| b == 0));
        // SAFETY: `grown` is a live block of `KVmalloc` allocated with `large`.
        unsafe { KVmalloc::free(grown.cast(), large) };
    }

    #[test]
    fn injected_failure_leaves_the_block_valid() {
        let small = Layout::array::<u64>(2).unwrap();
        let large = Layout::array::<u64>(64).unwrap();
        let block = Kmalloc::alloc(small, GFP_KERNEL, NumaNode::NO_NODE).unwrap();
        let ptr = block.cast::<u64>();
        // SAFETY: `block` is valid for two `u64`s.
        unsafe { ptr.as_ptr().write(7) };
        let failure = AllocFailure::next(1);
        // SAFETY: `ptr` is a live block of `Kmalloc` allocated with `small`.
        let res = unsafe {
            Kmalloc::realloc(
                Some(ptr.cast()),
                large,
                small,
                GFP_KERNEL,
                NumaNode::NO_NODE,
            )
        };
        assert_eq!(res, Err(AllocError));
        assert_eq!(failure.injected(), 1);
        // SAFETY: The failed `realloc` left the block valid.
        assert_eq!(unsafe { ptr.as_ptr().read() }, 7);
        // SAFETY: `ptr` is still a live block allocated with `small`.
        unsafe { Kmalloc::free(ptr.cast(), small) };
    }

    #[test]
    fn vmalloc_blocks_span_whole_pages() {
        use crate::{alloc::VVec, page::AsPageIter};

        let mut v = VVec::<u8>::with_capacity(PAGE_SIZE + 1, GFP_KERNEL).unwrap();
        v.resize(PAGE_SIZE + 1, 0xaa, GFP_KERNEL).unwrap();
        let start = v.as_ptr().cast_mut();
        let pages: std::vec::Vec<_> = v.page_iter().collect();
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].as_ptr().cast::<u8>(), start);
        // The last page is whole, although only its first byte is in use: writing all of it stays
        // inside the allocation (Miri checks).
        // SAFETY: Nothing else accesses the page meanwhile.
        unsafe { pages[1].fill_zero_raw(0, PAGE_SIZE) }.unwrap();
        drop(pages);
        assert_eq!(v[PAGE_SIZE], 0);
        assert_eq!(v[PAGE_SIZE - 1], 0xaa);
    }

    #[test]
    fn zero_sized_blocks_use_no_memory() {
        let empty = Layout::new::<()>();
        let failure = AllocFailure::next(1);
        let block = Vmalloc::alloc(empty, GFP_KERNEL, NumaNode::NO_NODE).unwrap();
        assert_eq!(block.len(), 0);
        // Nothing was allocated, so the armed failure was not consumed.
        assert_eq!(failure.injected(), 0);
        // SAFETY: A zero-sized block may be freed with any pointer.
        unsafe { Vmalloc::free(block.cast(), empty) };
    }
}
