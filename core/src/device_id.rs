//! Mirrors `rust/kernel/device_id.rs` of Linux 7.3. (Skeleton: being written.)
