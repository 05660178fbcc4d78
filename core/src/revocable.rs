//! Mirrors `rust/kernel/revocable.rs` of Linux 7.3. (Skeleton: being written.)
