//! The host machinery: how the kernel's driver core is done inside a process.
//!
//! Nothing here is part of the kernel API, and driver files never name it. The mirrored modules
//! call into it where the kernel calls C (`pci_iomap()`, `request_irq()`, `dma_alloc_attrs()`...).
//! See `docs/architecture.md`.

pub mod bar_file;
pub mod binding;
pub mod bus;
pub mod command_line;
pub mod device;
pub mod dma;
pub mod error;
pub mod fault;
pub mod function;
pub mod futex;
pub mod irq;
pub mod logger;
pub mod mmio;
pub mod module;
pub mod pci;
pub mod pci_config;
pub mod rcu;
pub mod readiness;
pub mod runtime;
pub mod sg;
pub mod sim;
pub mod sync;
pub mod sysfs;
pub mod uio;
pub mod usage;
pub mod vfio;
