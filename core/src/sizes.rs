//! Mirrors `rust/kernel/sizes.rs` of Linux 7.3. (Skeleton: being written.)
