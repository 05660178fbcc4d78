//! Text made by a driver's `show` callback: the kernel's `struct seq_file`.
//!
//! In the kernel, a `seq_file` collects the text a `show` callback prints with `seq_printf()`, for
//! a read of a debugfs file or of `/proc/PID/fdinfo/FD`. Here a [`SeqFile`] collects it in memory
//! until the host hands it to whoever reads.

use core::fmt;

/// The text a `show` callback produces (the kernel's `struct seq_file`).
#[derive(Default)]
pub struct SeqFile {
    text: Vec<u8>,
}

impl SeqFile {
    /// The text shown so far.
    pub fn into_text(self) -> Vec<u8> {
        self.text
    }
}

impl fmt::Write for SeqFile {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.text.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends `args` to the text of `m` (`seq_printf(m, "%pA", &args)`).
///
/// # Safety
///
/// `m` must point to a valid [`SeqFile`] that nothing else accesses during the call.
pub unsafe fn seq_printf(m: *mut SeqFile, args: fmt::Arguments<'_>) {
    // SAFETY: by the safety requirements, `m` is valid and not otherwise accessed.
    let m = unsafe { &mut *m };
    // As the kernel's `seq_printf`, a formatting error ends the text where it stopped.
    let _ = fmt::Write::write_fmt(m, args);
}
