//! Mirrors `rust/kernel/bitfield.rs` of Linux 7.3. (Skeleton: being written.)
