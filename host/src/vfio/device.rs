//! A VFIO device file: regions, config space, interrupts and reset.
//!
//! `VFIO_GROUP_GET_DEVICE_FD` (the group interface) or opening the device's cdev (bound to an
//! iommufd, [`super::iommufd`]) gives one file per device; from then on both are the same. Its
//! regions (the BARs, the ROM, config
//! space) are windows into the file at offsets `VFIO_DEVICE_GET_REGION_INFO` reports, read and
//! written with `pread`/`pwrite` or mapped with `mmap`; its interrupts are routed to eventfds with
//! `VFIO_DEVICE_SET_IRQS`. [`VfioDevice`] wraps those operations and returns every failure with its
//! errno; the PCI function built on it is in [`super::function`].

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use vfio_bindings::bindings::vfio as sys;

use super::caps::RegionInfo;
use super::container::ioctl_error;
use super::group::Group;
use super::interface::Interface;
use super::ioctl;
use super::iommufd::Ioas;
use crate::error::HostError;
use crate::function::IrqKind;

/// What `VFIO_DEVICE_GET_IRQ_INFO` reports about one interrupt index.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrqInfo {
    /// `VFIO_IRQ_INFO_*`.
    pub flags: u32,
    /// The number of vectors.
    pub count: u32,
}

/// The interrupt index of the device request interrupt, which vfio-pci signals when the kernel
/// wants the device back.
const REQUEST_IRQ_INDEX: u32 = sys::VFIO_PCI_REQ_IRQ_INDEX;

/// The `VFIO_DEVICE_SET_IRQS` flags that route an interrupt index to eventfds.
const TRIGGER_EVENTFDS: u32 = sys::VFIO_IRQ_SET_DATA_EVENTFD | sys::VFIO_IRQ_SET_ACTION_TRIGGER;

/// The VFIO interrupt index of an interrupt kind.
pub(super) fn irq_index(kind: IrqKind) -> u32 {
    match kind {
        IrqKind::Intx => sys::VFIO_PCI_INTX_IRQ_INDEX,
        IrqKind::Msi => sys::VFIO_PCI_MSI_IRQ_INDEX,
        IrqKind::MsiX => sys::VFIO_PCI_MSIX_IRQ_INDEX,
    }
}

/// An action of `VFIO_DEVICE_SET_IRQS` that carries no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqAction {
    /// Stop signalling the vectors (they stay pending).
    Mask,
    /// Resume signalling the vectors.
    Unmask,
}

/// How a device's file was obtained, which keeps its DMA domain.
pub(super) enum Attachment {
    /// From its group, attached to the group's container.
    Group(Arc<Group>),
    /// From its cdev, bound to an iommufd and attached to an IOAS of its own.
    Cdev(Arc<Ioas>),
    /// From its no-IOMMU cdev, bound to an iommufd and attached to no IOAS.
    NoIommuCdev,
}

/// An open VFIO PCI device.
pub struct VfioDevice {
    // Field order is drop order: the device file closes before its group or IOAS is released.
    file: Arc<File>,
    address: String,
    flags: u32,
    regions: Vec<Option<RegionInfo>>,
    irqs: Vec<IrqInfo>,
    attachment: Attachment,
}

impl VfioDevice {
    /// Opens the device at `address` (canonical form) in `group` and reads its regions and
    /// interrupt indexes.
    pub fn open(group: Arc<Group>, address: &str) -> Result<Self, HostError> {
        let fd = group.device_fd(address)?;
        Self::from_fd(fd, address, Attachment::Group(group))
    }

    /// Wraps the device file `fd` of the device at `address`, obtained through `attachment`,
    /// and reads its regions and interrupt indexes.
    pub(super) fn from_fd(
        fd: OwnedFd,
        address: &str,
        attachment: Attachment,
    ) -> Result<Self, HostError> {
        let mut info = sys::vfio_device_info {
            argsz: size_of::<sys::vfio_device_info>() as u32,
            ..Default::default()
        };
        // SAFETY: `fd` is a VFIO device and `info` a valid argument.
        unsafe { ioctl::device_get_info(fd.as_raw_fd(), &mut info) }
            .map_err(|e| ioctl_error(format!("VFIO_DEVICE_GET_INFO on {address}"), e))?;
        if info.flags & sys::VFIO_DEVICE_FLAGS_PCI == 0 {
            return Err(HostError::Unsupported {
                device: address.to_owned(),
                what: "a VFIO device that is not a PCI device".into(),
            });
        }
        // Regions that do not exist (the VGA region of other devices) fail with EINVAL.
        let regions = (0..info.num_regions)
            .map(|index| {
                region_info_bytes(&fd, index)
                    .ok()
                    .and_then(|b| RegionInfo::parse(&b))
            })
            .collect();
        let irqs = (0..info.num_irqs)
            .map(|index| irq_info(&fd, index).unwrap_or_default())
            .collect();
        Ok(Self {
            file: Arc::new(File::from(fd)),
            address: address.to_owned(),
            flags: info.flags,
            regions,
            irqs,
            attachment,
        })
    }

    /// Returns the device's address.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// Returns the interface the device was opened through.
    pub fn interface(&self) -> Interface {
        match self.attachment {
            Attachment::Group(_) => Interface::Group,
            Attachment::Cdev(_) | Attachment::NoIommuCdev => Interface::Cdev,
        }
    }

    /// Returns the group the device was opened through (group interface only).
    pub fn group(&self) -> Option<&Arc<Group>> {
        match &self.attachment {
            Attachment::Group(group) => Some(group),
            Attachment::Cdev(_) | Attachment::NoIommuCdev => None,
        }
    }

    /// Returns the IOAS the device is attached to (cdev interface only).
    pub fn ioas(&self) -> Option<&Arc<Ioas>> {
        match &self.attachment {
            Attachment::Cdev(ioas) => Some(ioas),
            Attachment::Group(_) | Attachment::NoIommuCdev => None,
        }
    }

    /// Returns the device file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Returns a shared reference to the device file, for regions served through it.
    pub fn shared_file(&self) -> Arc<File> {
        self.file.clone()
    }

    /// Returns region `index`, if the device has it.
    pub fn region(&self, index: u32) -> Option<&RegionInfo> {
        self.regions.get(index as usize)?.as_ref()
    }

    /// Returns the raw answer of `VFIO_DEVICE_GET_REGION_INFO` for region `index`.
    pub fn region_info_bytes(&self, index: u32) -> Result<Vec<u8>, HostError> {
        region_info_bytes(&self.file, index)
    }

    /// Returns how many vectors of `kind` the device offers.
    pub fn irq_count(&self, kind: IrqKind) -> u32 {
        self.irqs
            .get(irq_index(kind) as usize)
            .map_or(0, |info| info.count)
    }

    /// Whether the device has the device request interrupt (vfio-pci has had it since Linux 4.0).
    pub fn has_request_irq(&self) -> bool {
        self.irqs
            .get(REQUEST_IRQ_INDEX as usize)
            .is_some_and(|info| info.count > 0)
    }

    /// Routes the device request interrupt to eventfd `fd`: from then on, when the kernel wants
    /// the device back (it is removed, or unbound from vfio-pci), vfio-pci signals `fd` (again
    /// every 10 s) instead of waiting silently for the process to close the device.
    pub fn set_request_eventfd(&self, fd: RawFd) -> Result<(), HostError> {
        let data = fd.to_ne_bytes();
        self.set_irqs(
            REQUEST_IRQ_INDEX,
            "device request",
            TRIGGER_EVENTFDS,
            0,
            1,
            &data,
        )
    }

    /// Returns the information of the interrupt index of `kind`.
    pub fn irq_info(&self, kind: IrqKind) -> IrqInfo {
        self.irqs
            .get(irq_index(kind) as usize)
            .copied()
            .unwrap_or_default()
    }

    /// Returns the size of config space (the config region's size).
    pub fn config_size(&self) -> usize {
        self.region(sys::VFIO_PCI_CONFIG_REGION_INDEX)
            .map_or(256, |r| r.size as usize)
    }

    /// Reads `data.len()` bytes of config space at `offset`.
    pub fn config_read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError> {
        let base = self.config_base(offset, data.len())?;
        self.file
            .read_exact_at(data, base + u64::from(offset))
            .map_err(|err| {
                HostError::os(
                    format!(
                        "{}: reading {} bytes of config space at {offset:#x}",
                        self.address,
                        data.len()
                    ),
                    err,
                )
            })
    }

    /// Writes `data` to config space at `offset`.
    pub fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), HostError> {
        let base = self.config_base(offset, data.len())?;
        self.file
            .write_all_at(data, base + u64::from(offset))
            .map_err(|err| {
                HostError::os(
                    format!(
                        "{}: writing {} bytes of config space at {offset:#x}",
                        self.address,
                        data.len()
                    ),
                    err,
                )
            })
    }

    /// Returns the config region's file offset after checking that an access fits in it.
    fn config_base(&self, offset: u16, len: usize) -> Result<u64, HostError> {
        let region = self
            .region(sys::VFIO_PCI_CONFIG_REGION_INDEX)
            .ok_or_else(|| HostError::Unsupported {
                device: self.address.clone(),
                what: "config space access (VFIO reports no config region)".into(),
            })?;
        if usize::from(offset) + len > region.size as usize {
            return Err(HostError::os(
                format!(
                    "{}: config access of {len} bytes at {offset:#x} is past the end of config space ({:#x} bytes)",
                    self.address, region.size
                ),
                io::Error::from_raw_os_error(libc::EINVAL),
            ));
        }
        Ok(region.offset)
    }

    /// Routes vectors `start..start + fds.len()` of `kind` to eventfds (`-1`: stop signalling that
    /// vector), enabling the interrupt kind if it is not enabled (`ACTION_TRIGGER`).
    pub fn set_irq_eventfds(
        &self,
        kind: IrqKind,
        start: u32,
        fds: &[RawFd],
    ) -> Result<(), HostError> {
        let data: Vec<u8> = fds.iter().flat_map(|fd| fd.to_ne_bytes()).collect();
        self.set_irqs(
            irq_index(kind),
            &format!("{kind:?}"),
            TRIGGER_EVENTFDS,
            start,
            fds.len() as u32,
            &data,
        )
    }

    /// Masks or unmasks vectors `start..start + count` of `kind`.
    ///
    /// VFIO implements masking for INTx; Linux (up to at least 6.x) returns `ENOTTY` for MSI and
    /// MSI-X, reported as [`HostError::Unsupported`].
    pub fn irq_action(
        &self,
        kind: IrqKind,
        action: IrqAction,
        start: u32,
        count: u32,
    ) -> Result<(), HostError> {
        let flag = match action {
            IrqAction::Mask => sys::VFIO_IRQ_SET_ACTION_MASK,
            IrqAction::Unmask => sys::VFIO_IRQ_SET_ACTION_UNMASK,
        };
        let flags = sys::VFIO_IRQ_SET_DATA_NONE | flag;
        match self.set_irqs(
            irq_index(kind),
            &format!("{kind:?}"),
            flags,
            start,
            count,
            &[],
        ) {
            Err(HostError::Os { source, .. })
                if matches!(source.raw_os_error(), Some(libc::ENOTTY | libc::EINVAL))
                    && kind != IrqKind::Intx =>
            {
                Err(HostError::Unsupported {
                    device: self.address.clone(),
                    what: format!(
                        "{action:?} of {kind:?} vectors through VFIO (the kernel implements it for \
                         INTx only; free or re-route the vector instead)"
                    ),
                })
            }
            other => other,
        }
    }

    /// Disables every vector of `kind`.
    pub fn disable_irqs(&self, kind: IrqKind) -> Result<(), HostError> {
        self.set_irqs(
            irq_index(kind),
            &format!("{kind:?}"),
            sys::VFIO_IRQ_SET_DATA_NONE | sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            0,
            0,
            &[],
        )
    }

    /// Signals the eventfds of vectors `start..start + count` of `kind`, enabled already, as if
    /// the device had raised them (`VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER` with a
    /// count: VFIO's loopback for testing). Vectors without an eventfd are skipped by the kernel.
    pub fn fire_irqs(&self, kind: IrqKind, start: u32, count: u32) -> Result<(), HostError> {
        debug_assert!(count > 0, "a count of 0 disables the vectors");
        self.set_irqs(
            irq_index(kind),
            &format!("{kind:?}"),
            sys::VFIO_IRQ_SET_DATA_NONE | sys::VFIO_IRQ_SET_ACTION_TRIGGER,
            start,
            count,
            &[],
        )
    }

    /// Issues `VFIO_DEVICE_SET_IRQS` for interrupt index `index` (named `what` in errors) with
    /// `data` after the header.
    fn set_irqs(
        &self,
        index: u32,
        what: &str,
        flags: u32,
        start: u32,
        count: u32,
        data: &[u8],
    ) -> Result<(), HostError> {
        let mut buf = irq_set(index, flags, start, count, data);
        let set = buf.as_mut_ptr().cast::<sys::vfio_irq_set>();
        // SAFETY: `file` is a VFIO device and `set` a buffer of the `argsz` bytes it says, as the
        // ioctl expects.
        unsafe { ioctl::device_set_irqs(self.file.as_raw_fd(), set) }.map_err(|e| {
            ioctl_error(
                format!(
                    "{}: VFIO_DEVICE_SET_IRQS({what}, flags {flags:#x}, vectors {start}..{})",
                    self.address,
                    start + count
                ),
                e,
            )
        })?;
        Ok(())
    }

    /// Whether the device offers a reset (FLR, PM reset, or a bus reset it has alone).
    pub fn can_reset(&self) -> bool {
        self.flags & sys::VFIO_DEVICE_FLAGS_RESET != 0
    }

    /// Resets the device (`VFIO_DEVICE_RESET`).
    pub fn reset(&self) -> Result<(), HostError> {
        if !self.can_reset() {
            return Err(HostError::Unsupported {
                device: self.address.clone(),
                what: "function reset (VFIO reports no reset method: no FLR, no PM reset, and no \
                       bus reset the device has to itself)"
                    .into(),
            });
        }
        // SAFETY: `file` is a VFIO device.
        unsafe { ioctl::device_reset(self.file.as_raw_fd()) }
            .map_err(|e| ioctl_error(format!("{}: VFIO_DEVICE_RESET", self.address), e))?;
        Ok(())
    }
}

/// The argument of `VFIO_DEVICE_SET_IRQS`: a `vfio_irq_set` header for interrupt index `index`
/// with `data` after it, in a `u32` buffer (which keeps the header aligned) of `argsz` bytes
/// rounded up.
fn irq_set(index: u32, flags: u32, start: u32, count: u32, data: &[u8]) -> Vec<u32> {
    let header = size_of::<sys::vfio_irq_set>();
    let argsz = header + data.len();
    let mut buf = vec![0u32; argsz.div_ceil(4)];
    let set = buf.as_mut_ptr().cast::<sys::vfio_irq_set>();
    // SAFETY: the buffer is aligned for the header and at least `argsz` bytes long, so the header
    // and `data` after it fit.
    unsafe {
        set.write(sys::vfio_irq_set {
            argsz: argsz as u32,
            flags,
            index,
            start,
            count,
            data: Default::default(),
        });
        core::ptr::copy_nonoverlapping(data.as_ptr(), set.cast::<u8>().add(header), data.len());
    }
    buf
}

/// Queries region `index`, capabilities included.
fn region_info_bytes(fd: &impl AsRawFd, index: u32) -> Result<Vec<u8>, HostError> {
    let mut argsz = size_of::<sys::vfio_region_info>();
    loop {
        let mut buf = vec![0u64; argsz.div_ceil(8)];
        let info = buf.as_mut_ptr().cast::<sys::vfio_region_info>();
        // SAFETY: the buffer is aligned and large enough for the structure.
        unsafe {
            (*info).argsz = argsz as u32;
            (*info).index = index;
        }
        // SAFETY: `fd` is a VFIO device and `info` points to `argsz` writable bytes.
        unsafe { ioctl::device_get_region_info(fd.as_raw_fd(), info) }
            .map_err(|e| ioctl_error(format!("VFIO_DEVICE_GET_REGION_INFO({index})"), e))?;
        // SAFETY: the kernel filled the structure in.
        let needed = unsafe { (*info).argsz } as usize;
        if needed <= argsz {
            let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
            return Ok(bytes[..argsz].to_vec());
        }
        argsz = needed;
    }
}

/// Queries interrupt index `index`.
fn irq_info(fd: &OwnedFd, index: u32) -> Result<IrqInfo, HostError> {
    let mut info = sys::vfio_irq_info {
        argsz: size_of::<sys::vfio_irq_info>() as u32,
        index,
        ..Default::default()
    };
    // SAFETY: `fd` is a VFIO device and `info` a valid argument.
    unsafe { ioctl::device_get_irq_info(fd.as_raw_fd(), &mut info) }
        .map_err(|e| ioctl_error(format!("VFIO_DEVICE_GET_IRQ_INFO({index})"), e))?;
    Ok(IrqInfo {
        flags: info.flags,
        count: info.count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_device_request_eventfd_is_set_as_the_uapi_lays_it_out() {
        // `struct vfio_irq_set` (argsz, flags, index, start, count) and one eventfd: flags
        // VFIO_IRQ_SET_DATA_EVENTFD (1 << 2) | VFIO_IRQ_SET_ACTION_TRIGGER (1 << 5), index
        // VFIO_PCI_REQ_IRQ_INDEX (4), in `linux/vfio.h`.
        let buf = irq_set(
            REQUEST_IRQ_INDEX,
            TRIGGER_EVENTFDS,
            0,
            1,
            &7i32.to_ne_bytes(),
        );
        assert_eq!(buf, [24, 0x24, 4, 0, 1, 7]);
        // MSI-X vectors 2 and 3 to eventfds 9 and -1 (released).
        let data: Vec<u8> = [9i32, -1].iter().flat_map(|fd| fd.to_ne_bytes()).collect();
        let buf = irq_set(irq_index(IrqKind::MsiX), TRIGGER_EVENTFDS, 2, 2, &data);
        assert_eq!(buf, [28, 0x24, 2, 2, 2, 9, u32::MAX]);
    }
}
