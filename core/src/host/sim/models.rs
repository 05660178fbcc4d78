//! Models of QEMU's test devices, behaving as QEMU 7.2's do (see `qemu-devices.md` in the project
//! references): `edu` and `pci-testdev`.

pub mod edu;
pub mod pci_testdev;

pub use edu::Edu;
pub use pci_testdev::PciTestdev;
