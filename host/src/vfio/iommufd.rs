//! Devices through VFIO's device cdev, each in an iommufd I/O address space of its own.
//!
//! The call sequence is the kernel's (`Documentation/userspace-api/iommufd.rst`, and the VFIO
//! selftests' library): open `/dev/iommu`; `IOMMU_IOAS_ALLOC` an IOAS; open the device's cdev
//! (`/dev/vfio/devices/vfioN`, named by sysfs `vfio-dev/vfioN`), which refuses everything until
//! `VFIO_DEVICE_BIND_IOMMUFD` binds it to the iommufd (claiming the group's DMA for this iommufd:
//! the kernel refuses with `EPERM` while another member of its IOMMU group has a kernel driver or
//! another iommufd has the group, `EBUSY` while the group is open, `EINVAL` while another file
//! has the device); `VFIO_DEVICE_ATTACH_IOMMUFD_PT` attaches it
//! to the IOAS. Only then is `IOMMU_IOAS_IOVA_RANGES` meaningful: a fresh IOAS allows every IOVA,
//! and each device attached narrows the ranges to what its IOMMU translates, minus its reserved
//! regions (the MSI window on x86). The DMA pool allocates IOVAs in those ranges and maps with
//! `IOMMU_IOAS_MAP` at fixed IOVAs ([`super::mapper`]).
//!
//! A device in VFIO's no-IOMMU mode has a cdev of its own on kernels with
//! `CONFIG_IOMMUFD_NOIOMMU` (`/dev/vfio/devices/noiommu-vfioN`, opened with `CAP_SYS_RAWIO`
//! only): it is bound to an iommufd the same way (the kernel refuses a negative one), but
//! attached to no IOAS ([`open_noiommu_device`]); its DMA goes to physical addresses, from the
//! pool the no-IOMMU group uses, with no isolation.
//!
//! Each device gets its own iommufd and IOAS ([`Ioas`]), so one device's mappings are not in
//! another's domain. Closing the device's file unbinds it; the IOAS and its mappings go when the
//! pool, which holds the iommufd, is dropped.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;

use iommufd_bindings as iommufd;
use vfio_bindings::bindings::vfio as sys;

use super::container::{ioctl_error, open_node};
use super::interface::IOMMUFD_PATH;
use super::ioctl;
use super::mapper::{Domain, VfioMapper};
use crate::dma::iova::{IovaAllocator, MSI_WINDOW};
use crate::dma::memory::PAGE_SIZE;
use crate::dma::pool::DmaPool;
use crate::error::HostError;
use crate::sysfs::Sysfs;

/// The argument of `IOMMU_IOAS_ALLOC`.
pub(super) fn ioas_alloc() -> iommufd::iommu_ioas_alloc {
    iommufd::iommu_ioas_alloc {
        size: size_of::<iommufd::iommu_ioas_alloc>() as u32,
        flags: 0,
        out_ioas_id: 0,
    }
}

/// The argument of `VFIO_DEVICE_BIND_IOMMUFD` for the iommufd `iommufd` (no VF token).
pub(super) fn bind(iommufd: i32) -> sys::vfio_device_bind_iommufd {
    sys::vfio_device_bind_iommufd {
        argsz: size_of::<sys::vfio_device_bind_iommufd>() as u32,
        flags: 0,
        iommufd,
        out_devid: 0,
        token_uuid_ptr: 0,
    }
}

/// The argument of `VFIO_DEVICE_ATTACH_IOMMUFD_PT` attaching to IOAS `ioas` (no PASID).
pub(super) fn attach(ioas: u32) -> sys::vfio_device_attach_iommufd_pt {
    sys::vfio_device_attach_iommufd_pt {
        argsz: size_of::<sys::vfio_device_attach_iommufd_pt>() as u32,
        flags: 0,
        pt_id: ioas,
        pasid: 0,
    }
}

/// The argument of `IOMMU_IOAS_IOVA_RANGES` for IOAS `ioas`, with room for `ranges`.
pub(super) fn iova_ranges_query(
    ioas: u32,
    ranges: &mut [iommufd::iommu_iova_range],
) -> iommufd::iommu_ioas_iova_ranges {
    iommufd::iommu_ioas_iova_ranges {
        size: size_of::<iommufd::iommu_ioas_iova_ranges>() as u32,
        ioas_id: ioas,
        num_iovas: ranges.len() as u32,
        __reserved: 0,
        allowed_iovas: ranges.as_mut_ptr().expose_provenance() as u64,
        out_iova_alignment: 0,
    }
}

/// An iommufd with one IOAS, the DMA domain of one device opened through its cdev.
pub struct Ioas {
    fd: Arc<OwnedFd>,
    id: u32,
    /// The device cdev attached to it, for messages.
    cdev: String,
    pool: Arc<DmaPool<VfioMapper>>,
}

impl Ioas {
    /// Returns the IOAS's ID in its iommufd.
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Returns the node of the device cdev attached to the IOAS.
    pub fn cdev(&self) -> &str {
        &self.cdev
    }

    /// Returns the DMA pool of the IOAS.
    pub fn dma_pool(&self) -> &Arc<DmaPool<VfioMapper>> {
        &self.pool
    }

    /// Reads the IOVA ranges the IOAS may map (`IOMMU_IOAS_IOVA_RANGES`), as inclusive
    /// `(first, last)` pairs, and the alignment the kernel asks of a mapping.
    pub fn iova_ranges(&self) -> Result<(Vec<(u64, u64)>, u64), HostError> {
        iova_ranges(&self.fd, self.id)
    }
}

/// `IOMMU_IOAS_IOVA_RANGES`, growing the array while the kernel says it is too short.
fn iova_ranges(fd: &OwnedFd, ioas: u32) -> Result<(Vec<(u64, u64)>, u64), HostError> {
    let mut ranges = vec![iommufd::iommu_iova_range::default(); 4];
    loop {
        let mut query = iova_ranges_query(ioas, &mut ranges);
        // SAFETY: `fd` is an iommufd and `query` points to `ranges`, `num_iovas` writable
        // entries, which outlive the call.
        match unsafe { ioctl::iommu_ioas_iova_ranges(fd.as_raw_fd(), &mut query) } {
            Ok(_) => {
                ranges.truncate(query.num_iovas as usize);
                let pairs = ranges.iter().map(|r| (r.start, r.last)).collect();
                return Ok((pairs, query.out_iova_alignment));
            }
            Err(nix::errno::Errno::EMSGSIZE) if query.num_iovas as usize > ranges.len() => {
                ranges.resize(query.num_iovas as usize, Default::default());
            }
            Err(e) => return Err(ioctl_error(format!("IOMMU_IOAS_IOVA_RANGES({ioas})"), e)),
        }
    }
}

/// Opens the device cdev `node` of the device at `address`, binds it to a new iommufd and
/// attaches it to a new IOAS; returns the device's file and its domain.
///
/// `bind_failed` turns a refused bind (another process holds the device, or its group is not
/// viable) into the error that says so.
pub(super) fn open_device(
    sysfs: &Sysfs,
    address: &str,
    node: &str,
    bind_failed: impl FnOnce(nix::errno::Errno) -> HostError,
) -> Result<(OwnedFd, Arc<Ioas>), HostError> {
    let iommufd = open_node(&sysfs.path(IOMMUFD_PATH).to_string_lossy())?;
    let mut alloc = ioas_alloc();
    // SAFETY: `iommufd` is an iommufd and `alloc` a valid argument.
    unsafe { ioctl::iommu_ioas_alloc(iommufd.as_raw_fd(), &mut alloc) }
        .map_err(|e| ioctl_error("IOMMU_IOAS_ALLOC", e))?;
    let id = alloc.out_ioas_id;
    let device = bound_device(sysfs, node, &iommufd, bind_failed)?;
    let mut attach = attach(id);
    // SAFETY: `device` is a VFIO device cdev bound to `iommufd`, and `attach` a valid argument.
    unsafe { ioctl::device_attach_iommufd_pt(device.as_raw_fd(), &mut attach) }.map_err(|e| {
        ioctl_error(
            format!("VFIO_DEVICE_ATTACH_IOMMUFD_PT of {address} to IOAS {id}"),
            e,
        )
    })?;
    let (ranges, alignment) = iova_ranges(&iommufd, id)?;
    if alignment > PAGE_SIZE as u64 {
        return Err(HostError::os(
            format!("IOAS {id} asks for IOVAs aligned to {alignment:#x}, over a page"),
            io::Error::from_raw_os_error(libc::EINVAL),
        ));
    }
    log::debug!(target: "drydock", "{address}: IOAS {id} IOVA ranges {ranges:#x?}");
    let iommufd = Arc::new(iommufd);
    let mapper = VfioMapper::new(Domain::Ioas {
        iommufd: iommufd.clone(),
        id,
    });
    // The kernel already leaves reserved regions out; the MSI window stays out regardless.
    let pool = Arc::new(DmaPool::new(
        mapper,
        IovaAllocator::new(&ranges, &[MSI_WINDOW]),
    ));
    let ioas = Arc::new(Ioas {
        fd: iommufd,
        id,
        cdev: node.to_owned(),
        pool,
    });
    Ok((device, ioas))
}

/// Opens the device cdev `node` and binds it to `iommufd`.
///
/// `bind_failed` turns a refused bind into the error that says why.
fn bound_device(
    sysfs: &Sysfs,
    node: &str,
    iommufd: &OwnedFd,
    bind_failed: impl FnOnce(nix::errno::Errno) -> HostError,
) -> Result<OwnedFd, HostError> {
    let device = open_node(&sysfs.path(node).to_string_lossy())?;
    let mut bind = bind(iommufd.as_raw_fd());
    // SAFETY: `device` is a VFIO device cdev and `bind` names an open iommufd.
    if let Err(e) = unsafe { ioctl::device_bind_iommufd(device.as_raw_fd(), &mut bind) } {
        // Closed first, so that this process is not among the holders the caller looks for.
        drop(device);
        return Err(bind_failed(e));
    }
    Ok(device)
}

/// Opens the no-IOMMU cdev `node` (`/dev/vfio/devices/noiommu-vfio0`) and binds it to a new
/// iommufd, attaching it to no IOAS; returns the device's file.
///
/// The iommufd is closed on return: the bound device holds the kernel's reference to it until
/// the device's file closes, and there is nothing to map in it.
///
/// `bind_failed` turns a refused bind into the error that says why.
pub(super) fn open_noiommu_device(
    sysfs: &Sysfs,
    node: &str,
    bind_failed: impl FnOnce(nix::errno::Errno) -> HostError,
) -> Result<OwnedFd, HostError> {
    let iommufd = open_node(&sysfs.path(IOMMUFD_PATH).to_string_lossy())?;
    bound_device(sysfs, node, &iommufd, bind_failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_and_attach_arguments_are_the_bare_structures() {
        let bind = bind(9);
        // argsz, flags, iommufd, out_devid, then the token pointer: 24 bytes, no token flag.
        assert_eq!((bind.argsz, bind.flags, bind.iommufd), (24, 0, 9));
        assert_eq!(bind.token_uuid_ptr, 0);
        let attach = attach(3);
        assert_eq!(
            (attach.argsz, attach.flags, attach.pt_id, attach.pasid),
            (16, 0, 3, 0)
        );
        let alloc = ioas_alloc();
        assert_eq!((alloc.size, alloc.flags), (12, 0));
    }

    #[test]
    fn the_iova_ranges_query_points_at_the_array() {
        let mut ranges = vec![iommufd::iommu_iova_range::default(); 3];
        let query = iova_ranges_query(5, &mut ranges);
        assert_eq!(query.size, 32);
        assert_eq!(
            (query.ioas_id, query.num_iovas, query.__reserved),
            (5, 3, 0)
        );
        assert_eq!(query.allowed_iovas, ranges.as_ptr().addr() as u64);
    }
}
