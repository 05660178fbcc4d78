//! Reading the kernel log through `/dev/kmsg`.
//!
//! Every open file description of `/dev/kmsg` has its own read position that starts at the
//! oldest record, so a reader kept open across cases returns exactly the records logged since
//! its last read.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;

/// A reader of kernel log records.
pub struct KernelLog {
    file: File,
}

impl KernelLog {
    /// Opens the kernel log, positioned at its oldest record.
    pub fn open() -> io::Result<Self> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")?;
        Ok(KernelLog { file })
    }

    /// Reads every record logged since the last call, formatted like `dmesg` (one line each).
    pub fn read_new(&mut self) -> io::Result<String> {
        let mut text = String::new();
        // A record is at most about 8 KiB (PRINTK_MESSAGE_MAX plus its prefix).
        let mut record = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut record) {
                Ok(0) => break,
                Ok(n) => {
                    text.push_str(&format_record(&record[..n]));
                    text.push('\n');
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The reader fell behind and records were overwritten; it continues with the
                // oldest one left.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {
                    text.push_str("[ kernel log records were lost here ]\n");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(text)
    }
}

/// Formats one `/dev/kmsg` record, `<prio>,<seq>,<usec>,<flags>[,...];<text>\n[ KEY=value\n]*`,
/// as `[ seconds.micros] text`.
pub fn format_record(record: &[u8]) -> String {
    let record = String::from_utf8_lossy(record);
    let first_line = record.lines().next().unwrap_or("");
    let Some((prefix, message)) = first_line.split_once(';') else {
        return first_line.to_owned();
    };
    let micros = prefix
        .split(',')
        .nth(2)
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(0);
    format!(
        "[{:5}.{:06}] {message}",
        micros / 1_000_000,
        micros % 1_000_000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_format_like_dmesg() {
        let record = b"6,1042,5123456,-;vfio-pci 0000:00:02.0: enabling device\n SUBSYSTEM=pci\n DEVICE=+pci:0000:00:02.0\n";
        assert_eq!(
            format_record(record),
            "[    5.123456] vfio-pci 0000:00:02.0: enabling device"
        );
        assert_eq!(format_record(b"4,7,12,c,caller=T1;x\n"), "[    0.000012] x");
    }

    #[test]
    fn malformed_records_are_kept_verbatim() {
        assert_eq!(format_record(b"no separator\n"), "no separator");
    }
}
