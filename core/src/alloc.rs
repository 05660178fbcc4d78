//! Memory allocation with explicit flags: `KBox`, `KVec` and friends.
//!
//! Mirrors `rust/kernel/alloc.rs` and `rust/kernel/alloc/`. (Skeleton: completed by the alloc work.)

pub mod layout;

/// The error of a failed allocation; converts to `ENOMEM`.
///
/// Mirrors `kernel::alloc::AllocError`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub struct AllocError;
