//! Models of QEMU's devices, behaving as QEMU 7.2's do (see `qemu-devices.md` in the project
//! references): `edu`, `pci-testdev` and the NVMe controller.

pub mod edu;
pub mod nvme;
pub mod pci_testdev;

pub use edu::Edu;
pub use nvme::Nvme;
pub use pci_testdev::PciTestdev;
