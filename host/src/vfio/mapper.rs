//! Mapping DMA memory into a device's IOMMU domain: the [`VfioMapper`] under the DMA pool.
//!
//! The pool ([`crate::dma::pool::DmaPool`]) chooses every IOVA itself, inside the ranges the IOMMU
//! reported, and asks its mapper to install the translation there. A VFIO domain is one of two
//! kinds, with the same semantics and different ioctls:
//!
//! - a **container** of the group interface, type1v2: `VFIO_IOMMU_MAP_DMA` and
//!   `VFIO_IOMMU_UNMAP_DMA` on the container's fd;
//! - an **IOAS** (I/O address space) of an iommufd, for a device opened through its cdev:
//!   `IOMMU_IOAS_MAP` with `IOMMU_IOAS_MAP_FIXED_IOVA` (the pool's IOVA, not one the kernel picks)
//!   and `IOMMU_IOAS_UNMAP` on `/dev/iommu`'s fd, naming the IOAS.
//!
//! Both pin what they map, readable and writable by the device, and charge the pinned pages to
//! `RLIMIT_MEMLOCK`, which the mapper checks first so that the failure says how to raise it.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use iommufd_bindings as iommufd;
use vfio_bindings::bindings::vfio as sys;

use super::container::ioctl_error;
use super::ioctl;
use crate::dma::memory::check_memlock;
use crate::dma::pool::IommuMapper;
use crate::error::HostError;

/// Bytes pinned by every VFIO mapper of the process: one process's domains all count against its
/// one `RLIMIT_MEMLOCK`.
static PINNED: AtomicU64 = AtomicU64::new(0);

/// The IOMMU domain a mapper installs translations in.
pub(super) enum Domain {
    /// A VFIO container with the type1v2 backend.
    Container {
        /// The container's fd.
        fd: Arc<OwnedFd>,
        /// Groups attached to the container: with none, the kernel has dropped every mapping.
        attached: Arc<AtomicUsize>,
    },
    /// An IOAS of an iommufd; the fd keeps the IOAS alive as long as the mapper.
    Ioas {
        /// The iommufd (`/dev/iommu`).
        iommufd: Arc<OwnedFd>,
        /// The IOAS's ID.
        id: u32,
    },
}

/// The argument of `VFIO_IOMMU_MAP_DMA`: `len` bytes at `vaddr`, read and written by devices at
/// `iova`.
pub(super) fn type1_map(
    iova: u64,
    vaddr: NonNull<u8>,
    len: usize,
) -> sys::vfio_iommu_type1_dma_map {
    sys::vfio_iommu_type1_dma_map {
        argsz: size_of::<sys::vfio_iommu_type1_dma_map>() as u32,
        flags: sys::VFIO_DMA_MAP_FLAG_READ | sys::VFIO_DMA_MAP_FLAG_WRITE,
        vaddr: vaddr.as_ptr().expose_provenance() as u64,
        iova,
        size: len as u64,
    }
}

/// The argument of `VFIO_IOMMU_UNMAP_DMA` for `len` bytes at `iova`.
pub(super) fn type1_unmap(iova: u64, len: usize) -> sys::vfio_iommu_type1_dma_unmap {
    sys::vfio_iommu_type1_dma_unmap {
        argsz: size_of::<sys::vfio_iommu_type1_dma_unmap>() as u32,
        flags: 0,
        iova,
        size: len as u64,
        ..Default::default()
    }
}

/// The argument of `IOMMU_IOAS_MAP`: `len` bytes at `vaddr` mapped in IOAS `ioas` exactly at
/// `iova` (`FIXED_IOVA`: the kernel refuses a range already in use rather than moving it), read and
/// written by devices.
pub(super) fn ioas_map(
    ioas: u32,
    iova: u64,
    vaddr: NonNull<u8>,
    len: usize,
) -> iommufd::iommu_ioas_map {
    iommufd::iommu_ioas_map {
        size: size_of::<iommufd::iommu_ioas_map>() as u32,
        flags: iommufd::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_FIXED_IOVA
            | iommufd::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_READABLE
            | iommufd::iommufd_ioas_map_flags_IOMMU_IOAS_MAP_WRITEABLE,
        ioas_id: ioas,
        __reserved: 0,
        user_va: vaddr.as_ptr().expose_provenance() as u64,
        length: len as u64,
        iova,
    }
}

/// The argument of `IOMMU_IOAS_UNMAP` for `len` bytes at `iova` of IOAS `ioas`.
pub(super) fn ioas_unmap(ioas: u32, iova: u64, len: usize) -> iommufd::iommu_ioas_unmap {
    iommufd::iommu_ioas_unmap {
        size: size_of::<iommufd::iommu_ioas_unmap>() as u32,
        ioas_id: ioas,
        iova,
        length: len as u64,
    }
}

/// Maps DMA memory into one IOMMU domain (a container or an IOAS), readable and writable by
/// devices, and counts its ioctls.
///
/// VFIO and iommufd pin the pages they map, so memory need not be locked beforehand; the pinned
/// pages count against `RLIMIT_MEMLOCK`, which is checked, against what every mapper of the
/// process pinned, before each mapping so that the failure says how to raise it.
pub struct VfioMapper {
    domain: Domain,
    map_ioctls: AtomicU64,
    unmap_ioctls: AtomicU64,
    mapped_bytes: AtomicU64,
}

impl VfioMapper {
    /// A mapper of `domain`.
    pub(super) fn new(domain: Domain) -> Self {
        Self {
            domain,
            map_ioctls: AtomicU64::new(0),
            unmap_ioctls: AtomicU64::new(0),
            mapped_bytes: AtomicU64::new(0),
        }
    }

    /// Returns how many map ioctls (`VFIO_IOMMU_MAP_DMA` or `IOMMU_IOAS_MAP`) were issued.
    pub fn map_ioctls(&self) -> u64 {
        self.map_ioctls.load(Ordering::Relaxed)
    }

    /// Returns how many unmap ioctls (`VFIO_IOMMU_UNMAP_DMA` or `IOMMU_IOAS_UNMAP`) were issued.
    pub fn unmap_ioctls(&self) -> u64 {
        self.unmap_ioctls.load(Ordering::Relaxed)
    }

    /// Returns how many bytes are mapped (and pinned) now.
    pub fn mapped_bytes(&self) -> u64 {
        self.mapped_bytes.load(Ordering::Relaxed)
    }

    /// The name of the domain's map ioctl, for messages.
    fn map_name(&self) -> &'static str {
        match self.domain {
            Domain::Container { .. } => "VFIO_IOMMU_MAP_DMA",
            Domain::Ioas { .. } => "IOMMU_IOAS_MAP",
        }
    }

    /// The name of the domain's unmap ioctl, for messages.
    fn unmap_name(&self) -> &'static str {
        match self.domain {
            Domain::Container { .. } => "VFIO_IOMMU_UNMAP_DMA",
            Domain::Ioas { .. } => "IOMMU_IOAS_UNMAP",
        }
    }

    /// Removes the translation of `len` bytes at `iova`; returns how many bytes the kernel says
    /// it unmapped (`None`: nothing to do, the kernel already dropped every mapping).
    fn unmap_ioctl(&self, iova: u64, len: usize) -> Result<Option<u64>, nix::errno::Errno> {
        match &self.domain {
            Domain::Container { fd, attached } => {
                if attached.load(Ordering::Acquire) == 0 {
                    // No group left: the kernel already dropped every mapping of the container.
                    return Ok(None);
                }
                let mut unmap = type1_unmap(iova, len);
                self.unmap_ioctls.fetch_add(1, Ordering::Relaxed);
                // SAFETY: `fd` is a container and `unmap` a valid argument.
                unsafe { ioctl::iommu_unmap_dma(fd.as_raw_fd(), &mut unmap) }?;
                Ok(Some(unmap.size))
            }
            Domain::Ioas { iommufd, id } => {
                let mut unmap = ioas_unmap(*id, iova, len);
                self.unmap_ioctls.fetch_add(1, Ordering::Relaxed);
                // SAFETY: `iommufd` is an iommufd and `unmap` a valid argument.
                unsafe { ioctl::iommu_ioas_unmap(iommufd.as_raw_fd(), &mut unmap) }?;
                Ok(Some(unmap.length))
            }
        }
    }
}

impl IommuMapper for VfioMapper {
    fn map(&self, iova: u64, vaddr: NonNull<u8>, len: usize) -> Result<(), HostError> {
        check_memlock(PINNED.load(Ordering::Relaxed), len as u64)?;
        self.map_ioctls.fetch_add(1, Ordering::Relaxed);
        let result = match &self.domain {
            Domain::Container { fd, .. } => {
                let map = type1_map(iova, vaddr, len);
                // SAFETY: `fd` is a container and `map` a valid argument; the pool keeps the
                // memory mapped in the process until it has unmapped it from the IOMMU.
                unsafe { ioctl::iommu_map_dma(fd.as_raw_fd(), &map) }
            }
            Domain::Ioas { iommufd, id } => {
                let mut map = ioas_map(*id, iova, vaddr, len);
                // SAFETY: `iommufd` is an iommufd and `map` a valid argument; the pool keeps the
                // memory mapped in the process until it has unmapped it from the IOAS.
                unsafe { ioctl::iommu_ioas_map(iommufd.as_raw_fd(), &mut map) }
            }
        };
        result.map_err(|e| {
            ioctl_error(
                format!("{} of {len:#x} bytes at IOVA {iova:#x}", self.map_name()),
                e,
            )
        })?;
        self.mapped_bytes.fetch_add(len as u64, Ordering::Relaxed);
        PINNED.fetch_add(len as u64, Ordering::Relaxed);
        Ok(())
    }

    fn unmap(&self, iova: u64, len: usize) -> Result<(), HostError> {
        let unmapped = self.unmap_ioctl(iova, len).map_err(|e| {
            ioctl_error(
                format!("{} of {len:#x} bytes at IOVA {iova:#x}", self.unmap_name()),
                e,
            )
        })?;
        // Gone with the container's last group, or unmapped now: no longer pinned.
        self.mapped_bytes.fetch_sub(len as u64, Ordering::Relaxed);
        PINNED.fetch_sub(len as u64, Ordering::Relaxed);
        match unmapped {
            Some(size) if size != len as u64 => Err(HostError::os(
                format!(
                    "{} at IOVA {iova:#x} unmapped {size:#x} bytes, not {len:#x}",
                    self.unmap_name()
                ),
                io::Error::from(io::ErrorKind::InvalidData),
            )),
            _ => Ok(()),
        }
    }

    fn needs_locked_memory(&self) -> bool {
        // VFIO and iommufd pin what they map.
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vaddr() -> NonNull<u8> {
        NonNull::new(0x7f00_0020_0000usize as *mut u8).unwrap()
    }

    #[test]
    fn type1_arguments_say_read_write_at_the_pools_iova() {
        let map = type1_map(0xffe0_0000, vaddr(), 0x20_0000);
        assert_eq!(map.argsz, 32);
        assert_eq!(
            map.flags,
            sys::VFIO_DMA_MAP_FLAG_READ | sys::VFIO_DMA_MAP_FLAG_WRITE
        );
        assert_eq!(
            (map.vaddr, map.iova, map.size),
            (0x7f00_0020_0000, 0xffe0_0000, 0x20_0000)
        );
        let unmap = type1_unmap(0xffe0_0000, 0x20_0000);
        assert_eq!((unmap.argsz, unmap.flags), (24, 0));
        assert_eq!((unmap.iova, unmap.size), (0xffe0_0000, 0x20_0000));
    }

    #[test]
    fn ioas_arguments_fix_the_iova_and_name_the_ioas() {
        let map = ioas_map(7, 0xffe0_0000, vaddr(), 0x20_0000);
        // `struct iommu_ioas_map`: u32 size, flags, ioas_id, __reserved, then three u64.
        assert_eq!(map.size, 40);
        // FIXED_IOVA (1 << 0), WRITEABLE (1 << 1), READABLE (1 << 2): the kernel must not choose
        // another IOVA, since the pool has handed this one out.
        assert_eq!(map.flags, 0b111);
        assert_eq!((map.ioas_id, map.__reserved), (7, 0));
        assert_eq!(
            (map.user_va, map.length, map.iova),
            (0x7f00_0020_0000, 0x20_0000, 0xffe0_0000)
        );
        let unmap = ioas_unmap(7, 0xffe0_0000, 0x20_0000);
        assert_eq!(unmap.size, 24);
        assert_eq!(
            (unmap.ioas_id, unmap.iova, unmap.length),
            (7, 0xffe0_0000, 0x20_0000)
        );
    }
}
