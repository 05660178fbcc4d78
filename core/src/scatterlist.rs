//! Mirrors `rust/kernel/scatterlist.rs` of Linux 7.3. (Skeleton: being written.)
