//! Files: what a driver that serves a file interface sees of them.
//!
//! Mirrors `rust/kernel/fs.rs` of Linux 7.3, partly: [`file::Offset`], the position type of
//! reads and writes at a file offset. The file objects themselves (`File`, `LocalFile`, `Kiocb`)
//! are not mirrored yet; see `docs/porting.md`.

pub mod file;
