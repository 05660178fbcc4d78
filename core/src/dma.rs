//! Mirrors `rust/kernel/dma.rs` of Linux 7.3. (Skeleton: being written.)
