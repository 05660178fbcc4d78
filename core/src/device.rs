//! Mirrors `rust/kernel/device.rs` of Linux 7.3. (Skeleton: being written.)
