//! The VFIO backend: real PCI devices through `/dev/vfio`, behind the IOMMU (or, in VFIO's
//! no-IOMMU mode, without one), over either of VFIO's interfaces: the group with its container,
//! or the device cdev with iommufd (`interface` says which and why).
//!
//! A thin layer of our own over the `<linux/vfio.h>` structures of `vfio-bindings` and `nix`'s
//! ioctl macros, shaped for a driver process rather than a hypervisor: every operation returns its
//! error with the errno, config space and reset return `Result`, interrupts are set per vector
//! range, and the IOMMU's valid IOVA ranges are read.
//!
//! - `interface`: which interface reaches a device ([`Interface`], [`choose`]);
//! - `container`: a group's container (type1v2 IOMMU, or no-IOMMU mode) and its IOVA ranges;
//! - `group`: IOMMU groups, their viability, and device files;
//! - `holders`: who holds a device another process asked for;
//! - `iommufd`: device cdevs bound to an iommufd, each attached to an IOAS of its own ([`Ioas`]);
//! - `mapper`: the [`VfioMapper`] that maps a DMA pool into a container
//!   (`VFIO_IOMMU_MAP_DMA`) or an IOAS (`IOMMU_IOAS_MAP`);
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
mod holders;
mod interface;
mod ioctl;
mod iommufd;
mod mapper;

use std::sync::Arc;

pub use container::{Container, IommuType};
pub use function::{VfioFunction, VfioOptions, VFIO_DRIVER};
pub use group::group_node;
pub use holders::{holders, in_use};
pub use interface::{
    cdev_path, choose, Choice, Interface, Offer, CDEV_DIR, INTERFACE_ENV, IOMMUFD_PATH,
};
pub use iommufd::Ioas;
pub use mapper::VfioMapper;

use super::dma::pool::DmaPool;
use super::dma::DmaSpace;
use super::error::HostError;
use super::pci::{PciDeviceRef, RawPciDevice};
use super::sysfs::Sysfs;

/// Opens the device at `address` (bound to vfio-pci) as a PCI device for a bus.
pub fn open(address: &str, sysfs: &Sysfs, options: VfioOptions) -> Result<PciDeviceRef, HostError> {
    let function = VfioFunction::open(address, sysfs, options)?;
    let name = function.device().address().to_owned();
    RawPciDevice::create(&name, Arc::new(function))
}

/// Returns the VFIO DMA pool behind a device's DMA space (its container's or its IOAS's), or
/// `None` for another kind of space (no-IOMMU mode, UIO, a simulated bus): for tests and
/// diagnostics that look at what a running driver's device has mapped.
pub fn dma_pool_of(space: Arc<dyn DmaSpace>) -> Option<Arc<DmaPool<VfioMapper>>> {
    let space: Arc<dyn std::any::Any + Send + Sync> = space;
    space.downcast().ok()
}

#[cfg(test)]
mod tests {
    use super::mapper::Domain;
    use super::*;
    use crate::dma::iova::IovaAllocator;
    use crate::dma::pool::IommuMapper;
    use std::os::fd::OwnedFd;
    use std::ptr::NonNull;

    /// A mapper of no IOMMU at all.
    struct Nothing;

    impl IommuMapper for Nothing {
        fn map(&self, _: u64, _: NonNull<u8>, _: usize) -> Result<(), HostError> {
            Ok(())
        }

        fn unmap(&self, _: u64, _: usize) -> Result<(), HostError> {
            Ok(())
        }

        fn needs_locked_memory(&self) -> bool {
            false
        }
    }

    #[test]
    fn a_vfio_pool_is_found_behind_a_devices_dma_space() {
        let fd: OwnedFd = std::fs::File::open("/dev/null").unwrap().into();
        let mapper = VfioMapper::new(Domain::Ioas {
            iommufd: Arc::new(fd),
            id: 1,
        });
        let ranges = IovaAllocator::new(&[(0, u64::from(u32::MAX))], &[]);
        let pool = Arc::new(DmaPool::new(mapper, ranges.clone()));
        let space: Arc<dyn DmaSpace> = pool.clone();
        let found = dma_pool_of(space).expect("the VFIO pool");
        assert!(Arc::ptr_eq(&found, &pool));
        let other: Arc<dyn DmaSpace> = Arc::new(DmaPool::new(Nothing, ranges));
        assert!(dma_pool_of(other).is_none());
    }
}
