//! Virtual memory areas.
//!
//! Mirrors `rust/kernel/mm/virt.rs` of Linux 7.3, partly: [`VmaNew`] as a type, with none of its
//! methods, and none of the other area types.

use crate::{bindings, types::Opaque};

/// A memory area being set up by `mmap()` (`struct vm_area_struct`), which a driver's `mmap`
/// completes.
///
/// Mirrors `kernel::mm::virt::VmaNew`, as a type only: no host path maps a driver's file (CUSE
/// cannot), so none is ever made, and its methods are not mirrored. A driver that implements
/// `MiscDevice::mmap` builds only if its `mmap` calls none of them; `mmap()` of its device fails
/// with `ENODEV`, as for a character device without `mmap`.
#[repr(transparent)]
pub struct VmaNew {
    _vma: Opaque<bindings::vm_area_struct>,
}
