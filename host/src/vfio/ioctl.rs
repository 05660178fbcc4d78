//! The raw VFIO ioctls: request numbers and typed wrappers.
//!
//! `<linux/vfio.h>` defines every VFIO request as `_IO(VFIO_TYPE, VFIO_BASE + n)`, with no size or
//! direction bits: the argument structures carry their own size (`argsz`). `vfio-bindings` has the
//! structures and constants but not the request numbers, so they are computed here from `n`.
//!
//! The iommufd requests of `<linux/iommufd.h>` (`/dev/iommu`) have the same form in the same type,
//! `_IO(IOMMUFD_TYPE, IOMMUFD_CMD_*)` with `IOMMUFD_TYPE` = `';'` and commands from `0x80`, so they
//! never collide with VFIO's `100 + n`; `iommufd-bindings` has their structures and command
//! numbers.
//!
//! Every wrapper is `unsafe`: the kernel reads and writes through the pointer it is given, and the
//! caller must pass a pointer to a live, correctly sized argument (for the variable-size ones, a
//! buffer at least `argsz` bytes long).

use iommufd_bindings as iommufd;
use nix::{ioctl_none_bad, ioctl_readwrite_bad, ioctl_write_int_bad, ioctl_write_ptr_bad};
use vfio_bindings::bindings::vfio as sys;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)`.
const fn request(n: u32) -> libc::c_ulong {
    nix::request_code_none!(sys::VFIO_TYPE, sys::VFIO_BASE + n) as libc::c_ulong
}

/// `_IO(IOMMUFD_TYPE, command)`.
const fn iommufd_request(command: u32) -> libc::c_ulong {
    nix::request_code_none!(iommufd::IOMMUFD_TYPE, command) as libc::c_ulong
}

/// `VFIO_GET_API_VERSION`.
pub(super) const GET_API_VERSION: libc::c_ulong = request(0);
/// `VFIO_CHECK_EXTENSION`.
pub(super) const CHECK_EXTENSION: libc::c_ulong = request(1);
/// `VFIO_SET_IOMMU`.
pub(super) const SET_IOMMU: libc::c_ulong = request(2);
/// `VFIO_GROUP_GET_STATUS`.
pub(super) const GROUP_GET_STATUS: libc::c_ulong = request(3);
/// `VFIO_GROUP_SET_CONTAINER`.
pub(super) const GROUP_SET_CONTAINER: libc::c_ulong = request(4);
/// `VFIO_GROUP_GET_DEVICE_FD`.
pub(super) const GROUP_GET_DEVICE_FD: libc::c_ulong = request(6);
/// `VFIO_DEVICE_GET_INFO`.
pub(super) const DEVICE_GET_INFO: libc::c_ulong = request(7);
/// `VFIO_DEVICE_GET_REGION_INFO`.
pub(super) const DEVICE_GET_REGION_INFO: libc::c_ulong = request(8);
/// `VFIO_DEVICE_GET_IRQ_INFO`.
pub(super) const DEVICE_GET_IRQ_INFO: libc::c_ulong = request(9);
/// `VFIO_DEVICE_SET_IRQS`.
pub(super) const DEVICE_SET_IRQS: libc::c_ulong = request(10);
/// `VFIO_DEVICE_RESET`.
pub(super) const DEVICE_RESET: libc::c_ulong = request(11);
/// `VFIO_IOMMU_GET_INFO`.
pub(super) const IOMMU_GET_INFO: libc::c_ulong = request(12);
/// `VFIO_IOMMU_MAP_DMA`.
pub(super) const IOMMU_MAP_DMA: libc::c_ulong = request(13);
/// `VFIO_IOMMU_UNMAP_DMA`.
pub(super) const IOMMU_UNMAP_DMA: libc::c_ulong = request(14);
/// `VFIO_DEVICE_BIND_IOMMUFD`.
pub(super) const DEVICE_BIND_IOMMUFD: libc::c_ulong = request(18);
/// `VFIO_DEVICE_ATTACH_IOMMUFD_PT`.
pub(super) const DEVICE_ATTACH_IOMMUFD_PT: libc::c_ulong = request(19);
/// `IOMMU_IOAS_ALLOC`.
pub(super) const IOMMU_IOAS_ALLOC: libc::c_ulong = iommufd_request(iommufd::IOMMUFD_CMD_IOAS_ALLOC);
/// `IOMMU_IOAS_IOVA_RANGES`.
pub(super) const IOMMU_IOAS_IOVA_RANGES: libc::c_ulong =
    iommufd_request(iommufd::IOMMUFD_CMD_IOAS_IOVA_RANGES);
/// `IOMMU_IOAS_MAP`.
pub(super) const IOMMU_IOAS_MAP: libc::c_ulong = iommufd_request(iommufd::IOMMUFD_CMD_IOAS_MAP);
/// `IOMMU_IOAS_UNMAP`.
pub(super) const IOMMU_IOAS_UNMAP: libc::c_ulong = iommufd_request(iommufd::IOMMUFD_CMD_IOAS_UNMAP);

ioctl_none_bad!(
    /// Returns the VFIO API version of a container fd.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container.
    get_api_version,
    GET_API_VERSION
);
ioctl_write_int_bad!(
    /// Returns whether a container supports extension `data` (an IOMMU type).
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container.
    check_extension,
    CHECK_EXTENSION
);
ioctl_write_int_bad!(
    /// Sets a container's IOMMU type; needs a group attached first.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container.
    set_iommu,
    SET_IOMMU
);
ioctl_readwrite_bad!(
    /// Reads a group's status.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO group and `data` a valid `vfio_group_status` with `argsz` set.
    group_get_status,
    GROUP_GET_STATUS,
    sys::vfio_group_status
);
ioctl_write_ptr_bad!(
    /// Attaches a group to the container whose fd `data` points to.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO group and `data` point to a container fd.
    group_set_container,
    GROUP_SET_CONTAINER,
    libc::c_int
);
ioctl_write_ptr_bad!(
    /// Returns a new fd for the device named by the C string `data`.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO group and `data` a NUL-terminated string.
    group_get_device_fd,
    GROUP_GET_DEVICE_FD,
    libc::c_char
);
ioctl_readwrite_bad!(
    /// Reads a device's information (without capabilities: `argsz` is the bare structure).
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device and `data` a valid `vfio_device_info` with `argsz` set.
    device_get_info,
    DEVICE_GET_INFO,
    sys::vfio_device_info
);
ioctl_readwrite_bad!(
    /// Reads a region's information, with its capability chain when `argsz` leaves room.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device and `data` a buffer of `argsz` bytes starting with a
    /// `vfio_region_info`, suitably aligned.
    device_get_region_info,
    DEVICE_GET_REGION_INFO,
    sys::vfio_region_info
);
ioctl_readwrite_bad!(
    /// Reads an interrupt index's information.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device and `data` a valid `vfio_irq_info` with `argsz` set.
    device_get_irq_info,
    DEVICE_GET_IRQ_INFO,
    sys::vfio_irq_info
);
ioctl_write_ptr_bad!(
    /// Sets the signalling of a range of interrupt vectors.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device and `data` a buffer of `argsz` bytes starting with a
    /// `vfio_irq_set` followed by its data.
    device_set_irqs,
    DEVICE_SET_IRQS,
    sys::vfio_irq_set
);
ioctl_none_bad!(
    /// Resets a device.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device.
    device_reset,
    DEVICE_RESET
);
ioctl_readwrite_bad!(
    /// Reads the IOMMU's information, with its capability chain when `argsz` leaves room.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container and `data` a buffer of `argsz` bytes starting with a
    /// `vfio_iommu_type1_info`, suitably aligned.
    iommu_get_info,
    IOMMU_GET_INFO,
    sys::vfio_iommu_type1_info
);
ioctl_write_ptr_bad!(
    /// Maps process memory at an IOVA.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container and `data` a valid `vfio_iommu_type1_dma_map`, whose memory
    /// stays mapped in the process while the IOMMU mapping exists.
    iommu_map_dma,
    IOMMU_MAP_DMA,
    sys::vfio_iommu_type1_dma_map
);
ioctl_readwrite_bad!(
    /// Unmaps an IOVA range; the kernel writes back how much it unmapped.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO container and `data` a valid `vfio_iommu_type1_dma_unmap`.
    iommu_unmap_dma,
    IOMMU_UNMAP_DMA,
    sys::vfio_iommu_type1_dma_unmap
);

ioctl_readwrite_bad!(
    /// Binds a device opened through its cdev to an iommufd; the kernel writes the bond's device
    /// ID back. Until this succeeds, the device file refuses every other operation.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device cdev and `data` a valid `vfio_device_bind_iommufd` naming an
    /// open iommufd.
    device_bind_iommufd,
    DEVICE_BIND_IOMMUFD,
    sys::vfio_device_bind_iommufd
);
ioctl_readwrite_bad!(
    /// Attaches a bound device to an IOAS (or hardware page table) of its iommufd.
    ///
    /// # Safety
    ///
    /// `fd` must be a VFIO device cdev bound to an iommufd and `data` a valid
    /// `vfio_device_attach_iommufd_pt`.
    device_attach_iommufd_pt,
    DEVICE_ATTACH_IOMMUFD_PT,
    sys::vfio_device_attach_iommufd_pt
);
ioctl_readwrite_bad!(
    /// Allocates an I/O address space; the kernel writes its ID back.
    ///
    /// # Safety
    ///
    /// `fd` must be an iommufd and `data` a valid `iommu_ioas_alloc`.
    iommu_ioas_alloc,
    IOMMU_IOAS_ALLOC,
    iommufd::iommu_ioas_alloc
);
ioctl_readwrite_bad!(
    /// Reads the IOVA ranges an IOAS may map; fails with `EMSGSIZE` (setting `num_iovas`) when
    /// the array it points to is too short.
    ///
    /// # Safety
    ///
    /// `fd` must be an iommufd and `data` a valid `iommu_ioas_iova_ranges` whose `allowed_iovas`
    /// points to `num_iovas` writable `iommu_iova_range`s.
    iommu_ioas_iova_ranges,
    IOMMU_IOAS_IOVA_RANGES,
    iommufd::iommu_ioas_iova_ranges
);
ioctl_readwrite_bad!(
    /// Maps process memory into an IOAS.
    ///
    /// # Safety
    ///
    /// `fd` must be an iommufd and `data` a valid `iommu_ioas_map`, whose memory stays mapped in
    /// the process while the IOMMU mapping exists.
    iommu_ioas_map,
    IOMMU_IOAS_MAP,
    iommufd::iommu_ioas_map
);
ioctl_readwrite_bad!(
    /// Unmaps an IOVA range of an IOAS; the kernel writes back how much it unmapped.
    ///
    /// # Safety
    ///
    /// `fd` must be an iommufd and `data` a valid `iommu_ioas_unmap`.
    iommu_ioas_unmap,
    IOMMU_IOAS_UNMAP,
    iommufd::iommu_ioas_unmap
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_the_uapi_header() {
        // `_IO(';', 100)` = 0x3b64: no direction or size bits.
        assert_eq!(GET_API_VERSION, 0x3b64);
        assert_eq!(SET_IOMMU, 0x3b66);
        assert_eq!(GROUP_GET_DEVICE_FD, 0x3b6a);
        assert_eq!(DEVICE_SET_IRQS, 0x3b6e);
        assert_eq!(IOMMU_GET_INFO, 0x3b70);
        assert_eq!(IOMMU_UNMAP_DMA, 0x3b72);
        // VFIO_BASE + 18 and + 19.
        assert_eq!(DEVICE_BIND_IOMMUFD, 0x3b76);
        assert_eq!(DEVICE_ATTACH_IOMMUFD_PT, 0x3b77);
    }

    #[test]
    fn iommufd_request_numbers_match_the_uapi_header() {
        // `_IO(';', IOMMUFD_CMD_*)`, the commands counted from 0x80.
        assert_eq!(IOMMU_IOAS_ALLOC, 0x3b81);
        assert_eq!(IOMMU_IOAS_IOVA_RANGES, 0x3b84);
        assert_eq!(IOMMU_IOAS_MAP, 0x3b85);
        assert_eq!(IOMMU_IOAS_UNMAP, 0x3b86);
    }
}
