//! Mirrors `rust/kernel/types.rs` of Linux 7.3. (Skeleton: being written.)
