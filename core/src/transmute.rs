//! Mirrors `rust/kernel/transmute.rs` of Linux 7.3. (Skeleton: being written.)
