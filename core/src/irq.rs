//! Mirrors `rust/kernel/irq.rs` of Linux 7.3. (Skeleton: being written.)
