//! What the drydock host harness and the guest runner agree on.
//!
//! The guest runner (the `drydock-guest` binary of this package) runs inside a QEMU guest and
//! talks to the host only through files in a shared *run directory*. This library holds the two
//! halves of that contract that both sides compile in:
//!
//! - [`protocol`]: the run directory's file names and the line formats written to them;
//! - [`layout`]: which emulated PCI device sits at which address in every guest.
//!
//! It has no dependencies, so the host harness can link it without pulling in the runner.

pub mod layout;
pub mod protocol;
