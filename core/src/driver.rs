//! Mirrors `rust/kernel/driver.rs` of Linux 7.3. (Skeleton: being written.)
