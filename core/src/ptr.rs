//! Mirrors `rust/kernel/ptr.rs` of Linux 7.3. (Skeleton: being written.)
