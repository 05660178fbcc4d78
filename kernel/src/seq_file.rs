//! Text made by a `show` callback.
//!
//! Mirrors `rust/kernel/seq_file.rs` of Linux 7.3: a [`SeqFile`] collects what a callback such as
//! a misc device's `show_fdinfo` prints with [`seq_print!`].
//!
//! Difference from the kernel: the text goes to the host's in-memory `seq_file`, which hands it
//! to whoever asked (`drydock_host::miscdevice::OpenFile::show_fdinfo`). `/proc/PID/fdinfo/FD` of
//! a process that opened a misc device through CUSE shows the kernel's lines for the CUSE file
//! only: the kernel does not ask a CUSE server for more.

use crate::{bindings, fmt, types::NotThreadSafe, types::Opaque};

/// The text of a `seq_file` being made (`struct seq_file`).
///
/// Mirrors `kernel::seq_file::SeqFile`.
///
/// # Invariants
///
/// Wraps a valid `struct seq_file` that only the current thread uses.
#[repr(transparent)]
pub struct SeqFile {
    inner: Opaque<bindings::seq_file>,
    _not_send: NotThreadSafe,
}

impl SeqFile {
    /// The `seq_file` at `ptr`, borrowed for `'a`.
    ///
    /// # Safety
    ///
    /// For `'a`, `ptr` must point to a valid `struct seq_file` that no other thread uses.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::seq_file) -> &'a SeqFile {
        // INVARIANT: by the safety requirements.
        // SAFETY: valid for `'a`; `SeqFile` is a transparent `seq_file` (with a marker of no
        // size).
        unsafe { &*ptr.cast() }
    }

    /// Appends `args` to the text; what [`seq_print!`] calls.
    #[inline]
    pub fn call_printf(&self, args: fmt::Arguments<'_>) {
        // SAFETY: valid, and used by this thread alone (type invariant), which is in this call.
        unsafe { drydock_host::seq_file::seq_printf(self.inner.get(), args) };
    }
}

/// Appends to a [`SeqFile`] with Rust's formatting syntax.
///
/// Mirrors `kernel::seq_print!`.
#[macro_export]
macro_rules! seq_print {
    ($m:expr, $($arg:tt)+) => (
        $m.call_printf($crate::prelude::fmt!($($arg)+))
    );
}
pub use seq_print;
