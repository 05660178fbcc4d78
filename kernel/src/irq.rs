//! Interrupt handling: handlers and their registration on interrupt lines.
//!
//! Mirrors `rust/kernel/irq.rs` of Linux 7.3. A driver implements [`Handler`] (or
//! [`ThreadedHandler`]) and keeps a [`Registration`] (or [`ThreadedRegistration`]) for as long as
//! the handler may run; a PCI driver gets the [`IrqRequest`] for a vector from
//! `pci::IrqVectorRegistration::index`.
//!
//! In userspace, handlers run on the host machinery's interrupt threads (one per vector, see
//! `drydock_host::irq`), woken by the eventfd VFIO signals; threaded handlers run on a worker
//! thread of their own. The guarantees drivers rely on are the kernel's: a handler never runs
//! concurrently with itself, and once a registration is dropped its handler has finished and is
//! never called again.

mod flags;
mod request;

pub use flags::Flags;
pub use request::{
    Handler, IrqRequest, IrqReturn, Registration, ThreadedHandler, ThreadedIrqReturn,
    ThreadedRegistration,
};
