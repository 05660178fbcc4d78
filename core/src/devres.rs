//! Mirrors `rust/kernel/devres.rs` of Linux 7.3. (Skeleton: being written.)
