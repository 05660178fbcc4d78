//! The VFIO backend: real PCI devices through `/dev/vfio`, behind the IOMMU (or, in VFIO's
//! no-IOMMU mode, without one).
//!
//! A thin layer of our own over the `<linux/vfio.h>` structures of `vfio-bindings` and `nix`'s
//! ioctl macros, shaped for a driver process rather than a hypervisor: every operation returns its
//! error with the errno, config space and reset return `Result`, interrupts are set per vector
//! range, and the IOMMU's valid IOVA ranges are read.
//!
//! - `container`: the process's container (type1v2 IOMMU, or no-IOMMU mode), its IOVA ranges
//!   and the [`VfioMapper`] that maps the shared DMA pool with `VFIO_IOMMU_MAP_DMA`;
//! - `group`: IOMMU groups, their viability, and device files;
//! - `device`: a device file: regions, config space, `VFIO_DEVICE_SET_IRQS`, reset;
//! - `bar`: how a BAR region is reached (mapped whole, sparse, or trapped);
//! - `caps`: parsing of information buffers and their capability chains;
//! - `function`: [`VfioFunction`], the [`PciFunction`](super::function::PciFunction) of a VFIO
//!   device;
//! - `ioctl`: the request numbers and raw ioctls.
//!
//! [`open`] opens a device into a [`super::pci::RawPciDevice`], ready for a bus.

mod bar;
mod caps;
mod container;
mod device;
mod function;
mod group;
mod ioctl;

use std::sync::Arc;

pub use container::{Container, IommuType, VfioMapper};
pub use function::{VfioFunction, VfioOptions, VFIO_DRIVER};

use super::error::HostError;
use super::pci::{PciDeviceRef, RawPciDevice};
use super::sysfs::Sysfs;

/// Opens the device at `address` (bound to vfio-pci) as a PCI device for a bus.
pub fn open(address: &str, sysfs: &Sysfs, options: VfioOptions) -> Result<PciDeviceRef, HostError> {
    let function = VfioFunction::open(address, sysfs, options)?;
    let name = function.device().address().to_owned();
    RawPciDevice::create(&name, Arc::new(function))
}
