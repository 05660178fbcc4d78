//! What the `drydock` command does to a machine, as a library.
//!
//! - [`binding`]: hands PCI devices to vfio-pci or uio_pci_generic and gives them back to the
//!   drivers they had, with the policy that keeps a machine usable (a device in use, an IOMMU
//!   group that must move together, a bridge);
//! - [`usage`]: what uses a device (a mounted filesystem, swap, an interface that is up, an open
//!   file), each with the command that ends the use;
//! - [`readiness`]: whether a driver can run on this machine, each problem with its fix.
//!
//! All of it works on the kernel's view of devices, [`drydock_host::sysfs`], and on a fake tree in
//! tests. Only the `drydock` command and the tests depend on this crate; driver processes do not.

pub mod binding;
pub mod error;
pub mod readiness;
pub mod usage;
