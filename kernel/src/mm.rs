//! Memory management.
//!
//! Mirrors `rust/kernel/mm.rs` of Linux 7.3, partly: only [`virt::VmaNew`], the type a misc
//! device's `mmap` is given. The address spaces (`Mm`, `MmWithUser`...) are not mirrored: a
//! driver process cannot map its memory into another process's (see `docs/porting.md`).

pub mod virt;
