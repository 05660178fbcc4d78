//! Mirrors `rust/kernel/io.rs` of Linux 7.3. (Skeleton: being written.)
