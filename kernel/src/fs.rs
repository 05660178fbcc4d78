//! Files: what a driver that serves a file interface sees of them.
//!
//! Mirrors `rust/kernel/fs.rs` of Linux 7.3: the open file ([`File`], [`LocalFile`], in
//! [`file`](mod@file)) and the control block of a read or a write ([`Kiocb`]).

pub mod file;
pub use self::file::{File, LocalFile};

mod kiocb;
pub use self::kiocb::Kiocb;
