//! Mirrors `rust/kernel/time.rs` of Linux 7.3. (Skeleton: being written.)
