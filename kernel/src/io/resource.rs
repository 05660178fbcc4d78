//! Bus resources (address ranges such as a BAR's) and the regions requested from them.
//!
//! Mirrors `rust/kernel/io/resource.rs` of Linux 7.3: [`Resource`] (a `struct resource`),
//! [`Region`] (a requested, busy part of one) and [`Flags`], with the same methods.
//!
//! Differences from the kernel: there is no global resource tree (`iomem_resource`,
//! `ioport_resource`); each [`Resource`] handed out by the bus is the root of its own tree. A
//! request fails (`None`) if the range is empty, is not inside the resource, or overlaps a region
//! already requested from it; a region is released from the resource it was requested from, under
//! a process-wide lock as the kernel's `resource_lock`. Requests do not descend into non-busy
//! children, which the mirror never creates.

use core::ops::Deref;
use core::ptr::NonNull;
use std::sync::Mutex;

use crate::{
    bindings,
    ffi::c_ulong,
    str::{CStr, CStrExt as _, CString},
    types::Opaque,
};

pub use super::{PhysAddr, ResourceSize};

/// Serialises every change to and walk of a resource's list of requested regions.
static RESOURCE_LOCK: Mutex<()> = Mutex::new(());

/// A region requested from a [`Resource`]: busy until dropped.
///
/// Mirrors `kernel::io::resource::Region`; dereferences to the region's own [`Resource`].
///
/// # Invariants
///
/// `resource` points to a `bindings::resource` allocated by [`Resource::request_region`] with
/// `Box`, linked into its parent's list of children, and owned by this value; its `name` points
/// into `_name`.
pub struct Region {
    resource: NonNull<bindings::resource>,
    _name: CString,
}

impl Deref for Region {
    type Target = Resource;

    fn deref(&self) -> &Resource {
        // SAFETY: By the type invariant `resource` is valid for as long as `self` is.
        unsafe { Resource::from_raw(self.resource.as_ptr()) }
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        let _guard = RESOURCE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let child = self.resource.as_ptr();
        // SAFETY: By the type invariant `child` is a live resource linked under its parent, which
        // is still alive (`Resource::from_raw` requires a resource to outlive its regions), and
        // the lock is held while the list is changed.
        unsafe {
            let mut link = &raw mut (*(*child).parent).child;
            while *link != child {
                link = &raw mut (**link).sibling;
            }
            *link = (*child).sibling;
            drop(Box::from_raw(child));
        }
    }
}

// SAFETY: A `Region` owns a heap `struct resource` whose list links are only changed under
// `RESOURCE_LOCK`; it may be used and dropped from any thread.
unsafe impl Send for Region {}

// SAFETY: Shared access to a `Region` only reads its resource's fields, which do not change.
unsafe impl Sync for Region {}

/// A range of bus addresses: the C `struct resource`.
///
/// Mirrors `kernel::io::resource::Resource`. The bus hands out references to them (for example
/// to a PCI device's BARs).
///
/// # Invariants
///
/// The wrapped `bindings::resource` is valid, and its `name` is null or a NUL-terminated string,
/// for as long as the `Resource` is borrowed.
#[repr(transparent)]
pub struct Resource(Opaque<bindings::resource>);

impl Resource {
    /// Returns the `Resource` of the C resource at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `bindings::resource`, whose `name` is null or a NUL-terminated
    /// string, for the lifetime `'a`, and the resource must only be accessed through the result
    /// (and the regions requested from it) meanwhile. It must outlive every region requested from
    /// it.
    pub(crate) const unsafe fn from_raw<'a>(ptr: *mut bindings::resource) -> &'a Self {
        // SAFETY: `Resource` is a transparent wrapper of `Opaque<bindings::resource>`, itself
        // transparent over the C struct, which the caller guarantees is valid for `'a`.
        unsafe { &*ptr.cast() }
    }

    /// Requests the `size` bytes at `start` for exclusive use, marked busy until the returned
    /// [`Region`] is dropped; `None` if (part of) the range is already requested or is not inside
    /// this resource.
    ///
    /// # Examples
    ///
    /// See [`Flags`].
    pub fn request_region(
        &self,
        start: PhysAddr,
        size: ResourceSize,
        name: CString,
        flags: Flags,
    ) -> Option<Region> {
        let end = start.checked_add(size)?.checked_sub(1)?;
        let parent = self.0.get();
        let _guard = RESOURCE_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        // SAFETY: By the type invariant `parent` is valid; its list of children is only walked
        // and changed under the lock, which is held.
        unsafe {
            if size == 0 || start < (*parent).start || end > (*parent).end {
                return None;
            }
            let mut child = (*parent).child;
            while !child.is_null() {
                if start <= (*child).end && (*child).start <= end {
                    return None;
                }
                child = (*child).sibling;
            }
            let region = Box::into_raw(Box::new(bindings::resource {
                start,
                end,
                name: name.as_char_ptr(),
                flags: ((*parent).flags & c_ulong::from(bindings::IORESOURCE_TYPE_BITS))
                    | c_ulong::from(bindings::IORESOURCE_BUSY)
                    | flags.0,
                desc: 0,
                parent,
                sibling: (*parent).child,
                child: core::ptr::null_mut(),
            }));
            (*parent).child = region;
            // INVARIANT: `region` was allocated with `Box` and linked under `parent` just above;
            // its name points into the `CString`'s heap buffer, which moves with it.
            Some(Region {
                resource: NonNull::new_unchecked(region),
                _name: name,
            })
        }
    }

    /// Returns the size of the resource in bytes.
    pub fn size(&self) -> ResourceSize {
        let inner = self.0.get();
        // SAFETY: By the type invariant `inner` is valid; the bounds do not change.
        let (start, end) = unsafe { ((*inner).start, (*inner).end) };
        // As the C `resource_size()`: an inclusive range.
        end.wrapping_sub(start).wrapping_add(1)
    }

    /// Returns the first address of the resource.
    pub fn start(&self) -> PhysAddr {
        // SAFETY: By the type invariant the resource is valid; its start does not change.
        unsafe { (*self.0.get()).start }
    }

    /// Returns the name of the resource, if it has one.
    pub fn name(&self) -> Option<&CStr> {
        // SAFETY: By the type invariant the resource is valid; its name does not change.
        let name = unsafe { (*self.0.get()).name };
        if name.is_null() {
            return None;
        }
        // SAFETY: By the type invariant a non-null name is a NUL-terminated string valid while
        // `self` is borrowed.
        Some(unsafe { CStr::from_char_ptr(name) })
    }

    /// Returns the flags of the resource.
    pub fn flags(&self) -> Flags {
        // SAFETY: By the type invariant the resource is valid; its flags do not change.
        Flags(unsafe { (*self.0.get()).flags })
    }
}

// SAFETY: A `Resource`'s mutable part (its list of requested regions) is only changed under
// `RESOURCE_LOCK`; the rest does not change.
unsafe impl Send for Resource {}

// SAFETY: As for `Send`.
unsafe impl Sync for Resource {}

/// The flags of a resource (the C `struct resource::flags`), combined with `|`, `&` and `!`.
///
/// Mirrors `kernel::io::resource::Flags`, with the same constants.
///
/// # Examples
///
/// ```
/// use kernel::io::resource::Flags;
///
/// let flags = Flags::IORESOURCE_MEM | Flags::IORESOURCE_MEM_NONPOSTED;
/// assert!(flags.contains(Flags::IORESOURCE_MEM));
/// assert!(!flags.contains(Flags::IORESOURCE_IO));
/// assert!((flags & !Flags::IORESOURCE_MEM) == Flags::IORESOURCE_MEM_NONPOSTED);
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct Flags(c_ulong);

impl Flags {
    /// Returns `true` if every flag of `flags` is set in `self`.
    pub fn contains(self, flags: Flags) -> bool {
        (self & flags) == flags
    }
}

impl core::ops::BitOr for Flags {
    type Output = Self;

    fn bitor(self, rhs: Self) -> Self {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for Flags {
    type Output = Self;

    fn bitand(self, rhs: Self) -> Self {
        Self(self.0 & rhs.0)
    }
}

impl core::ops::Not for Flags {
    type Output = Self;

    fn not(self) -> Self {
        Self(!self.0)
    }
}

impl Flags {
    /// PCI/ISA I/O ports.
    pub const IORESOURCE_IO: Flags = Flags::new(bindings::IORESOURCE_IO);

    /// The resource is multiplexed by software.
    pub const IORESOURCE_MUXED: Flags = Flags::new(bindings::IORESOURCE_MUXED);

    /// Memory.
    pub const IORESOURCE_MEM: Flags = Flags::new(bindings::IORESOURCE_MEM);

    /// Memory to be mapped non-posted (`ioremap_np()`).
    pub const IORESOURCE_MEM_NONPOSTED: Flags = Flags::new(bindings::IORESOURCE_MEM_NONPOSTED);

    /// Returns the flags of the C value `value`.
    const fn new(value: u32) -> Self {
        // CAST: widening; `c_ulong` has at least 32 bits.
        Flags(value as c_ulong)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::str::CString;

    fn name(s: &str) -> CString {
        CString::try_from_fmt(format_args!("{s}")).unwrap()
    }

    #[test]
    fn regions_are_exclusive_and_released_on_drop() {
        let mut raw = bindings::resource {
            start: 0x1000,
            end: 0x1fff,
            name: c"BAR0".as_ptr(),
            flags: c_ulong::from(bindings::IORESOURCE_MEM),
            desc: 0,
            parent: core::ptr::null_mut(),
            sibling: core::ptr::null_mut(),
            child: core::ptr::null_mut(),
        };
        // SAFETY: `raw` is valid, with a static name, and outlives every use and region below.
        let bar = unsafe { Resource::from_raw(&raw mut raw) };
        assert_eq!((bar.start(), bar.size()), (0x1000, 0x1000));
        assert_eq!(bar.name().map(|n| n.to_bytes()), Some(&b"BAR0"[..]));
        assert!(bar.flags().contains(Flags::IORESOURCE_MEM));

        let regs = bar.request_region(0x1000, 0x100, name("regs"), Flags::IORESOURCE_MEM_NONPOSTED);
        let regs = regs.expect("a free range can be requested");
        assert_eq!((regs.start(), regs.size()), (0x1000, 0x100));
        assert_eq!(regs.name().map(|n| n.to_bytes()), Some(&b"regs"[..]));
        assert!(regs
            .flags()
            .contains(Flags::IORESOURCE_MEM | Flags::IORESOURCE_MEM_NONPOSTED));

        assert!(bar
            .request_region(0x10ff, 2, name("overlap"), Flags::IORESOURCE_MEM)
            .is_none());
        assert!(bar
            .request_region(0x1f00, 0x101, name("outside"), Flags::IORESOURCE_MEM)
            .is_none());
        assert!(bar
            .request_region(0x0fff, 1, name("below"), Flags::IORESOURCE_MEM)
            .is_none());
        assert!(bar
            .request_region(0x1100, 0, name("empty"), Flags::IORESOURCE_MEM)
            .is_none());
        let tail = bar.request_region(0x1f00, 0x100, name("tail"), Flags::IORESOURCE_MEM);
        assert!(tail.is_some());

        drop(regs);
        let again = bar.request_region(0x1080, 0x10, name("again"), Flags::IORESOURCE_MEM);
        assert!(again.is_some(), "a dropped region is released");
        drop(tail);
        drop(again);
        assert!(raw.child.is_null());
    }
}
