//! Mirrors `rust/kernel/init.rs` of Linux 7.3. (Skeleton: being written.)
