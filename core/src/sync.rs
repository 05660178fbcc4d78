//! Mirrors `rust/kernel/sync.rs` of Linux 7.3. (Skeleton: being written.)
