//! Memory layouts of arrays.
//!
//! Mirrors `rust/kernel/alloc/layout.rs`. (Skeleton: completed by the alloc work.)

/// The error of a layout computation that overflowed; converts to `ENOMEM`.
///
/// Mirrors `kernel::alloc::layout::LayoutError`.
#[derive(Debug)]
pub struct LayoutError;
