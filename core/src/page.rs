//! Mirrors `rust/kernel/page.rs` of Linux 7.3. (Skeleton: being written.)
