//! drydock's host machinery: the C side of the Linux 7.3 driver API, in a process.
//!
//! In the kernel, the Rust `kernel` crate wraps C: the driver core (`struct device`, buses,
//! `probe()` and `remove()`), the PCI core (`pci_iomap()`, `pci_alloc_irq_vectors()`), the DMA
//! API (`dma_alloc_attrs()`), the interrupt core (`request_irq()`), locks, RCU and `printk()`.
//! drydock's `kernel` crate wraps this crate instead: it is that C side, done in userspace.
//!
//! - The driver core: [`device`] (the userspace `struct device`), [`pci`] (`struct pci_dev` and
//!   the PCI core's functions), [`bus`] (matching, `probe()`, `remove()`, device-managed
//!   resources), [`module`] (loading a driver module into a bus), and the buses of devices without
//!   hardware of their own: [`auxiliary`] (devices a driver adds under its device, for other
//!   drivers) and [`faux`].
//! - The services drivers call: [`dma`] and [`sg`] (DMA memory and IOVAs), [`irq`] (interrupt
//!   lines, handlers and their threads), [`mmio`] (register accesses), [`sync`] and [`rcu`],
//!   [`time`], [`hrtimer`] and [`timer`] (timers and their threads), [`workqueue`] (work queues
//!   and their workers), [`print`](mod@print), [`firmware`] (loading firmware files), [`debugfs`]
//!   (the process's debugfs tree) and [`configfs`] (its configfs tree), both mounted with FUSE by
//!   [`pseudofs`], [`miscdevice`] (character devices, served to other processes with CUSE) with
//!   [`fs`] (open files), [`iov`] and [`uaccess`] (the callers' data).
//! - The C data structures the kernel's collections wrap: [`rbtree`] (red-black trees), [`xarray`]
//!   (sparse arrays), [`bitmap`] and [`bitops`] (bit arrays and their searches).
//! - The backends that reach devices, behind [`function::PciFunction`]: [`vfio`] (behind an IOMMU,
//!   or VFIO's no-IOMMU mode) and [`uio`] (without an IOMMU); the kernel's view of devices in
//!   [`sysfs`].
//! - The C-side data both sides name: [`bindings`], which the `kernel` crate re-exports under the
//!   name bindgen's output has in a kernel tree; errors as [`errno::Errno`] and, with what to do
//!   about them, [`error::HostError`].
//! - What drydock's programs share: [`log_filter`] (the log filter `RUST_LOG` or `DRYDOCK_LOG`
//!   sets), [`exit_status`] (one scheme of exit statuses) and [`state`] (a driver process's
//!   interrupts, DMA memory and devices, shown in its debugfs tree).
//!
//! This crate never depends on the `kernel` crate: the types it shares with it are the C ones, and
//! the `kernel` crate converts at the seam, as the kernel's Rust code does. `docs/architecture.md`
//! describes the layers and how a probe, a DMA allocation and an interrupt cross them.
//!
//! # Start here
//!
//! A driver never names this crate: to write one, start from the `kernel` crate's documentation
//! and `docs/tutorial.md`. Read this crate to see what happens under a call of the driver API:
//!
//! - a module is a [`module::ModuleDescriptor`] (what `module_pci_driver!` emits), loaded into a
//!   [`bus::Bus`], which matches its drivers against the bus's devices and calls `probe()`: that
//!   is the driver core of `drivers/base/`;
//! - a device on the bus is a [`pci::PciDeviceRef`] over a [`function::PciFunction`], the backend
//!   that reaches the hardware: [`vfio`] or [`uio`] for a real device, a simulated function in
//!   tests (the `drydock-sim` crate);
//! - what the PCI core does for a probe (enabling the device, mapping a BAR, allocating interrupt
//!   vectors) is in [`pci`], [`mmio`] and [`irq`]; DMA memory and its bus addresses in [`dma`];
//! - the `drydock` command's view of the machine (devices, drivers, IOMMU groups) is [`sysfs`].

// zerocopy 0.8's derives (the FUSE structures of `miscdevice`) generate non-ASCII identifiers,
// which the workspace's lints deny.
#![allow(non_ascii_idents)]

mod active;
pub mod auxiliary;
mod bar_file;
mod binding;
pub mod bindings;
pub mod bitmap;
pub mod bitops;
pub mod block;
pub mod bug;
pub mod bus;
pub mod configfs;
pub mod debugfs;
pub mod device;
pub mod dma;
pub mod errno;
pub mod error;
pub mod exit_status;
pub mod fault;
pub mod faux;
pub mod firmware;
pub mod fs;
pub mod function;
mod futex;
pub mod hrtimer;
pub mod iov;
pub mod irq;
pub mod kunit;
pub mod log_filter;
pub mod miscdevice;
pub mod mmio;
pub mod module;
pub mod pci;
pub mod pci_config;
pub mod pci_id;
pub mod print;
pub mod pseudofs;
pub mod rbtree;
pub mod rcu;
pub mod seq_file;
pub mod sg;
pub mod state;
pub mod sync;
pub mod sysfs;
pub mod time;
pub mod timer;
pub mod trace;
pub mod uaccess;
pub mod uio;
pub mod user;
pub mod vfio;
pub mod workqueue;
pub mod xarray;
