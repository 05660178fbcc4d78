//! Memory allocation with explicit flags: [`KBox`], [`KVec`] and friends.
//!
//! Mirrors `rust/kernel/alloc.rs` of Linux 7.3. As in the kernel, every allocation names its
//! [`Allocator`] ([`Kmalloc`](allocator::Kmalloc), [`Vmalloc`](allocator::Vmalloc) or
//! [`KVmalloc`](allocator::KVmalloc)), takes [`Flags`] and can fail with [`AllocError`]; nothing
//! panics or aborts on exhaustion.
//!
//! Differences from the kernel: the memory comes from the process allocator (`std::alloc`); the
//! flags other than [`flags::__GFP_ZERO`] and [`flags::__GFP_NOWARN`] have no effect, and the NUMA
//! node is ignored. Tests can make allocations fail on purpose with
//! [`drydock_host::fault::AllocFailure`].

pub mod allocator;
pub mod kbox;
pub mod kvec;
pub mod layout;

pub use self::kbox::Box;
pub use self::kbox::KBox;
pub use self::kbox::KVBox;
pub use self::kbox::VBox;

pub use self::kvec::IntoIter;
pub use self::kvec::KVVec;
pub use self::kvec::KVec;
pub use self::kvec::VVec;
pub use self::kvec::Vec;

use crate::error::{code::EINVAL, Result};
use core::{alloc::Layout, ptr::NonNull};

/// The error of a failed allocation; converts to `ENOMEM`.
///
/// Mirrors `kernel::alloc::AllocError`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct AllocError;

/// Flags that tell an allocator how to allocate (the kernel's `gfp_t`).
///
/// Mirrors `kernel::alloc::Flags`: the values are those of the kernel's `GFP_*` bits, and they
/// combine with `|`, `&` and `!`. The constants are in [`flags`].
///
/// Difference from the kernel: only [`flags::__GFP_ZERO`] (zero the memory) and
/// [`flags::__GFP_NOWARN`] (do not log a failure) change what the allocators do; the others
/// describe kernel memory-management policies that have no counterpart in a process.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::alloc::flags::{GFP_KERNEL, __GFP_ZERO};
///
/// let flags = GFP_KERNEL | __GFP_ZERO;
/// assert!(flags.contains(__GFP_ZERO));
/// assert!(!(flags & !__GFP_ZERO).contains(__GFP_ZERO));
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Flags(u32);

impl Flags {
    /// Returns the `gfp_t` value, for the C side.
    pub(crate) fn as_raw(self) -> u32 {
        self.0
    }

    /// Returns `true` if every flag set in `flags` is also set in `self`.
    pub fn contains(self, flags: Flags) -> bool {
        (self & flags) == flags
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self::Output {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self::Output {
        Self(self.0 & rhs.0)
    }
}

impl core::ops::Not for Flags {
    type Output = Self;
    fn not(self) -> Self::Output {
        Self(!self.0)
    }
}

/// The allocation flags, with the values of the kernel's `include/linux/gfp_types.h`.
///
/// Mirrors `kernel::alloc::flags`, which has exactly these constants.
pub mod flags {
    use super::Flags;

    /// `___GFP_HIGHMEM` (bit 1).
    const HIGHMEM: u32 = 1 << 1;
    /// `___GFP_HIGH` (bit 5).
    const HIGH: u32 = 1 << 5;
    /// `___GFP_IO` (bit 6).
    const IO: u32 = 1 << 6;
    /// `___GFP_FS` (bit 7).
    const FS: u32 = 1 << 7;
    /// `___GFP_ZERO` (bit 8).
    const ZERO: u32 = 1 << 8;
    /// `___GFP_DIRECT_RECLAIM` (bit 10).
    const DIRECT_RECLAIM: u32 = 1 << 10;
    /// `___GFP_KSWAPD_RECLAIM` (bit 11).
    const KSWAPD_RECLAIM: u32 = 1 << 11;
    /// `___GFP_NOWARN` (bit 13).
    const NOWARN: u32 = 1 << 13;
    /// `___GFP_ACCOUNT` (bit 22).
    const ACCOUNT: u32 = 1 << 22;

    /// The allocated memory is zeroed. Usually combined with another flag.
    pub const __GFP_ZERO: Flags = Flags(ZERO);

    /// The memory may come from high memory, which the kernel does not map permanently; not for
    /// `kmalloc`-style allocations. Usually combined with another flag. No effect here.
    pub const __GFP_HIGHMEM: Flags = Flags(HIGHMEM);

    /// For callers that cannot sleep and need the allocation to succeed; may use the atomic
    /// reserves (`0x820`).
    pub const GFP_ATOMIC: Flags = Flags(HIGH | KSWAPD_RECLAIM);

    /// The usual flags for kernel allocations: may sleep and reclaim memory (`0xcc0`).
    pub const GFP_KERNEL: Flags = Flags(DIRECT_RECLAIM | KSWAPD_RECLAIM | IO | FS);

    /// [`GFP_KERNEL`], with the memory accounted to the caller's memory cgroup (`0x400cc0`).
    pub const GFP_KERNEL_ACCOUNT: Flags = Flags(GFP_KERNEL.0 | ACCOUNT);

    /// For allocations that must not sleep, start I/O or call into file systems; likely to fail
    /// under pressure (`0x2800`).
    pub const GFP_NOWAIT: Flags = Flags(KSWAPD_RECLAIM | NOWARN);

    /// A failure is not logged. Usually combined with another flag.
    pub const __GFP_NOWARN: Flags = Flags(NOWARN);
}

/// `MAX_NUMNODES` of a kernel built with `CONFIG_NODES_SHIFT=10`, as the Debian kernels are.
const MAX_NUMNODES: i32 = 1 << 10;

/// A NUMA node: where an allocation should preferably come from.
///
/// Mirrors `kernel::alloc::NumaNode`. The allocators of this crate accept it and ignore it: a
/// process does not choose the node of its heap memory.
#[derive(Clone, Copy, PartialEq)]
pub struct NumaNode(i32);

impl NumaNode {
    /// Names node `node`; fails with `EINVAL` if it is negative or not below the kernel's
    /// `MAX_NUMNODES` (1024 here).
    pub fn new(node: i32) -> Result<Self> {
        if !(0..MAX_NUMNODES).contains(&node) {
            return Err(EINVAL);
        }
        Ok(Self(node))
    }
}

impl NumaNode {
    /// Any node will do (`NUMA_NO_NODE`).
    pub const NO_NODE: NumaNode = NumaNode(-1);
}

/// An allocator: allocates, resizes and frees memory blocks described by a [`Layout`].
///
/// Mirrors `kernel::alloc::Allocator`. Allocators are types without values (zero-sized types):
/// the functions take no `self`, so a [`Box`] or [`Vec`] only names its allocator as a type
/// parameter.
///
/// # Safety
///
/// An implementation must guarantee that
/// - a block it returns stays valid until it is passed to [`Allocator::free`] or
///   [`Allocator::realloc`];
/// - a pointer to a valid block can be passed to any function of the same allocator;
/// - every function keeps the promises listed in its `# Guarantees` section.
pub unsafe trait Allocator {
    /// The alignment every block of this allocator has at least.
    ///
    /// # Guarantees
    ///
    /// Every pointer returned by the allocator is aligned to `MIN_ALIGN`, even when the layout
    /// asks for less.
    const MIN_ALIGN: usize;

    /// Allocates a block that fits `layout`.
    ///
    /// The same as [`Allocator::realloc`] called without an existing block.
    ///
    /// # Guarantees
    ///
    /// On success, the returned pointer is valid for reads and writes of `layout.size()` bytes
    /// until it is passed to [`Allocator::free`] or [`Allocator::realloc`], and it is aligned to
    /// `layout.align()`. The memory is zeroed if `flags` contains
    /// [`__GFP_ZERO`](flags::__GFP_ZERO).
    fn alloc(layout: Layout, flags: Flags, nid: NumaNode) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: Without a block (`None`), `realloc` has no requirement on the other arguments.
        unsafe { Self::realloc(None, layout, Layout::new::<()>(), flags, nid) }
    }

    /// Allocates a block that fits `layout`, moving the contents of `ptr` (if any) into it.
    ///
    /// - With `ptr == None`, this allocates a new block and `old_layout` is ignored.
    /// - With a zero-sized `layout`, this frees `ptr` and returns a dangling pointer.
    /// - Otherwise the block grows or shrinks (in place or by moving); a growing block may end up
    ///   larger than asked for, and a shrinking one may keep its size.
    ///
    /// If the allocation fails, the block at `ptr` is left untouched and still valid.
    ///
    /// # Safety
    ///
    /// - If `ptr == Some(p)`, `p` is a valid block of this allocator, unless `old_layout` has size
    ///   zero, in which case `p` may be any pointer (it is not used);
    /// - `old_layout` is the layout the block at `ptr` was allocated with.
    ///
    /// # Guarantees
    ///
    /// Those of [`Allocator::alloc`]; when `ptr == Some(p)`, also that the first
    /// `min(layout.size(), old_layout.size())` bytes are those of `p`, and that `p` is still valid
    /// if an error is returned.
    unsafe fn realloc(
        ptr: Option<NonNull<u8>>,
        layout: Layout,
        old_layout: Layout,
        flags: Flags,
        nid: NumaNode,
    ) -> Result<NonNull<[u8]>, AllocError>;

    /// Frees the block at `ptr`.
    ///
    /// # Safety
    ///
    /// - `ptr` is a valid block of this allocator, unless `layout` has size zero, in which case it
    ///   may be any pointer;
    /// - `layout` is the layout the block was allocated with;
    /// - the block is never accessed again.
    unsafe fn free(ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: The caller guarantees that `ptr` and `layout` describe a valid block of this
        // allocator; resizing to zero bytes frees it and cannot fail.
        let _ = unsafe {
            Self::realloc(
                Some(ptr),
                Layout::new::<()>(),
                layout,
                Flags(0),
                NumaNode::NO_NODE,
            )
        };
    }
}

/// Returns a non-null pointer aligned for `layout`, that points to no memory (for zero-sized
/// blocks).
pub(crate) fn dangling_from_layout(layout: Layout) -> NonNull<u8> {
    NonNull::without_provenance(
        layout
            .align()
            .try_into()
            .unwrap_or(core::num::NonZeroUsize::MIN),
    )
}
