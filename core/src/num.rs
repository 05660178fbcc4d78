//! Mirrors `rust/kernel/num.rs` of Linux 7.3. (Skeleton: being written.)
