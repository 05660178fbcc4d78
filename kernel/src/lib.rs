//! The Linux 7.3 Rust driver API (`kernel` crate), in userspace.
//!
//! This crate reproduces the driver-facing part of the Rust-for-Linux `kernel` crate of Linux 7.3
//! (`rust/kernel/`), with the kernel's module paths, names, generics, lifetimes and signatures, on
//! stable Rust. Driver crates depend on it under the name `kernel`:
//!
//! ```toml
//! [dependencies]
//! kernel = { package = "drydock-kernel", path = "../../kernel" }
//! pin-init = { path = "../../kernel/pin-init" }
//! zerocopy = { version = "0.8", features = ["derive"] }
//! ```
//!
//! so that a driver file says `use kernel::prelude::*;` and builds unchanged here and in a kernel
//! tree. Its public API is the 7.3 API: `docs/porting.md` lists every mirrored item and how it
//! differs, if at all. A module the kernel does not have fails to build here as it would in a
//! kernel tree. The exception is the hidden [`bindings`], which, as bindgen's output in a tree, is
//! the C side: here the host's raw types under their C names (`pci_dev`, `device`, `module`) and
//! the descriptor `module!` emits; a driver file has no reason to name it, and the in-tree build
//! rejects what it names there that C does not have.
//!
//! # Start here
//!
//! A PCI driver implements [`pci::Driver`] and declares its module with
//! [`module_pci_driver!`]; its `probe` maps BARs ([`pci::Bar`], read with [`register!`]-defined
//! registers), allocates DMA memory ([`dma::Coherent`]) and requests interrupts
//! ([`irq::Registration`]). `docs/tutorial.md` writes one step by step.
//!
//! # Where the kernel calls C
//!
//! Where the kernel calls a C function of the driver core (`pci_iomap()`, `request_irq()`,
//! `dma_alloc_attrs()`, `printk()`, ...), this crate calls the host crate, `drydock-host`, which
//! does the same in a process: over VFIO or UIO for real devices, or over a simulated bus in
//! tests. The C-side data both name is [`bindings`], as in the kernel. Making a driver a process
//! (opening devices, loading the module, waiting for a signal) is the job of the crates above this
//! one. `docs/architecture.md` describes the layers.

// The unsizing coercions of `KBox`, `Arc`, `ArcBorrow` and `ListArc`, opt-in (see the `coerce-pointee`
// feature in Cargo.toml).
#![cfg_attr(feature = "coerce-pointee", feature(derive_coerce_pointee))]
// zerocopy 0.8's derives (`FromBytes`, `IntoBytes`, which the kernel's prelude exports and
// `io::Region` uses) generate non-ASCII identifiers; the kernel's lint set denies them.
#![allow(non_ascii_idents)]

// The kernel crate refers to itself as `::kernel` in its macros; so does this one.
extern crate self as kernel;

pub mod alloc;
pub mod auxiliary;
pub mod bindings;
pub mod bitfield;
pub mod bitmap;
pub mod bits;
#[cfg(CONFIG_BLOCK)]
pub mod block;
pub mod bug;
pub mod build_assert;
#[cfg(CONFIG_CONFIGFS_FS)]
pub mod configfs;
pub mod debugfs;
pub mod device;
pub mod device_id;
pub mod devres;
pub mod dma;
pub mod driver;
pub mod error;
pub mod faux;
pub mod ffi;
#[cfg(CONFIG_RUST_FW_LOADER_ABSTRACTIONS)]
pub mod firmware;
pub mod fmt;
pub mod fs;
pub mod id_pool;
pub mod impl_flags;
pub mod init;
pub mod io;
pub mod ioctl;
pub mod iov;
pub mod irq;
pub mod kunit;
pub mod list;
pub mod macros;
pub mod miscdevice;
pub mod mm;
pub mod module;
pub mod module_param;
pub mod num;
pub mod page;
pub mod pci;
pub mod prelude;
pub mod print;
pub mod processor;
pub mod ptr;
pub mod rbtree;
pub mod revocable;
pub mod scatterlist;
pub mod seq_file;
pub mod sizes;
pub mod std_vendor;
pub mod str;
pub mod sync;
pub mod time;
pub mod tracepoint;
pub mod transmute;
pub mod types;
pub mod uaccess;
pub mod uapi;
pub mod workqueue;
pub mod xarray;

pub use module::{InPlaceModule, Module, ModuleMetadata, ThisModule};
pub use std_vendor::dbg;

/// Produces a pointer to the struct that contains the field `$field_ptr` points to.
///
/// Mirrors the kernel's `container_of!`: `$field_ptr` is a raw pointer to the field named by
/// `$fields` inside a `$Container`. The macro performs only pointer arithmetic; dereferencing the
/// result is `unsafe` and needs the caller's proof that the field really lives in such a struct.
///
/// # Examples
///
/// ```
/// #[repr(C)]
/// struct Pair { a: u32, b: u64 }
///
/// let pair = Pair { a: 1, b: 2 };
/// let b_ptr: *const u64 = &pair.b;
/// // SAFETY: `b_ptr` points to the `b` field of a live `Pair`.
/// let container: *const Pair = unsafe { kernel::container_of!(b_ptr, Pair, b) };
/// assert!(core::ptr::eq(container, &pair));
/// ```
#[macro_export]
macro_rules! container_of {
    ($field_ptr:expr, $Container:ty, $($fields:tt)*) => {{
        let offset: usize = ::core::mem::offset_of!($Container, $($fields)*);
        let field_ptr = $field_ptr;
        let container_ptr = field_ptr.byte_sub(offset).cast::<$Container>();
        $crate::assert_same_type(field_ptr, (&raw const (*container_ptr).$($fields)*).cast_mut());
        container_ptr
    }};
}

/// Type check used by [`container_of!`]: compiles only if both arguments have the same type.
#[doc(hidden)]
pub fn assert_same_type<T>(_: T, _: T) {}

#[cfg(test)]
mod tests {
    #[test]
    fn the_kernel_configuration_reaches_the_crate() {
        // Passed by the build script, as a kernel build passes `include/generated/rustc_cfg`.
        const { assert!(cfg!(CONFIG_64BIT) && cfg!(CONFIG_PCI)) };
        const { assert!(cfg!(CONFIG_PCI = "y")) };
        const { assert!(!cfg!(CONFIG_32BIT) && !cfg!(CONFIG_OF)) };
    }
}
