//! Processor-specific helpers.
//!
//! Mirrors `rust/kernel/processor.rs` of Linux 7.3.

/// Tells the processor that the caller is spinning in a busy-wait loop (C's `cpu_relax()`: the
/// `pause` instruction on x86).
///
/// Mirrors `kernel::processor::cpu_relax`.
#[inline]
pub fn cpu_relax() {
    core::hint::spin_loop();
}
