//! Mirrors `rust/kernel/pci.rs` of Linux 7.3. (Skeleton: being written.)
