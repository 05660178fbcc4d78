//! drydock's real-device test harness.
//!
//! The host has no VFIO or UIO, so every test that needs a real device runs inside a QEMU guest
//! (TCG, q35, an emulated Intel IOMMU) with emulated PCI devices. This crate prepares and boots
//! those guests and brings the results back:
//!
//! - [`prereq`] installs the host's Debian packages (QEMU, busybox) or says how to;
//! - [`debian`] fetches Debian's current kernel into the [`cache`] (its bytes shown as they come,
//!   by [`progress`]), and [`proof_kernel`] has `tests/kernel/build` build the Linux 7.3 proof
//!   kernel with the drivers `tests/kernel/drivers` lists;
//! - [`kernel`] resolves which module files a guest loads, and [`bzimage`] unpacks the kernel
//!   so it boots faster;
//! - [`initramfs`] builds (with [`cpio`]) and caches the guest's initramfs;
//! - [`profile`] defines the guest profiles (`iommu`, `pt`, `noiommu`, and `kernel73` and
//!   `kernel73-noiommu` on the proof kernel);
//! - [`qemu`] builds the QEMU command line, and [`vm`] boots it under a watchdog;
//! - [`guest`] builds the static guest binaries, with Linux's own samples as drydock processes
//!   ([`upstream`]), and [`suite`] runs guest cases in a boot and reports each one;
//! - [`spdk`] has `benches/nvme/spdk/build` build SPDK's `spdk_nvme_perf` for the NVMe
//!   benchmark's `spdk` variant (only when a benchmark asks for it).
//!
//! `tests/vm.rs` turns each guest case into a `cargo test` test; the `drydock-vm` binary boots
//! guests for people. `docs/testing.md` describes the design.

mod error;

pub mod bzimage;
pub mod cache;
pub mod cpio;
pub mod debian;
pub mod elf;
pub mod guest;
pub mod initramfs;
pub mod kernel;
pub mod prereq;
pub mod process;
pub mod profile;
pub mod progress;
pub mod proof_kernel;
pub mod qemu;
pub mod spdk;
pub mod suite;
pub mod upstream;
pub mod vm;

pub use error::{Context, Error, Result};
