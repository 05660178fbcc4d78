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

    /// Opens the kernel log past every record logged so far, for a case that reads what happens
    /// next; the error is a case's failure message.
    pub fn from_now() -> Result<Self, String> {
        let mut log = Self::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
        log.show_new(None)?;
        Ok(log)
    }

    /// Reads every record logged since the last call and, with a `title`, prints them under it
    /// for the case's output; the error is a case's failure message.
    pub fn show_new(&mut self, title: Option<&str>) -> Result<Vec<Record>, String> {
        let records = self
            .read_records()
            .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
        if let Some(title) = title {
            println!("--- {title} ---");
            for record in &records {
                println!("{record}");
            }
        }
        Ok(records)
    }

    /// Reads every record logged since the last call, formatted like `dmesg` (one line each).
    pub fn read_new(&mut self) -> io::Result<String> {
        let mut text = String::new();
        for record in self.read_records()? {
            text.push_str(&record.to_string());
            text.push('\n');
        }
        Ok(text)
    }

    /// Reads every record logged since the last call. Records lost because the reader fell behind
    /// are marked by a record of level 0 saying so.
    pub fn read_records(&mut self) -> io::Result<Vec<Record>> {
        let mut records = Vec::new();
        // A record is at most about 8 KiB (PRINTK_MESSAGE_MAX plus its prefix).
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            match self.file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => records.push(Record::parse(&buffer[..n])),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                // The reader fell behind and records were overwritten; it continues with the
                // oldest one left.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => records.push(Record {
                    level: 0,
                    micros: None,
                    text: "[ kernel log records were lost here ]".into(),
                }),
                Err(e) => return Err(e),
            }
        }
        Ok(records)
    }
}

/// One kernel log record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// The log level, 0 (`KERN_EMERG`) to 7 (`KERN_DEBUG`).
    pub level: u8,
    /// When it was logged, in microseconds since boot (`None` for a record that could not be
    /// parsed, which is kept whole as its text).
    pub micros: Option<u64>,
    /// The message, without the trailing newline.
    pub text: String,
}

/// `KERN_WARNING`: records at this level or more severe report trouble.
pub const LEVEL_WARNING: u8 = 4;
/// `KERN_INFO`: the least severe level a kernel built without debugging logs by default.
pub const LEVEL_INFO: u8 = 6;

impl Record {
    /// Parses one `/dev/kmsg` record,
    /// `<prio>,<seq>,<usec>,<flags>[,...];<text>\n[ KEY=value\n]*`.
    pub fn parse(record: &[u8]) -> Record {
        let record = String::from_utf8_lossy(record);
        let first_line = record.lines().next().unwrap_or("");
        let Some((prefix, message)) = first_line.split_once(';') else {
            return Record {
                level: 0,
                micros: None,
                text: first_line.to_owned(),
            };
        };
        let mut fields = prefix.split(',');
        // The priority holds the facility above the level's three bits.
        let level = fields
            .next()
            .and_then(|p| p.parse::<u32>().ok())
            .map_or(0, |p| (p & 7) as u8);
        let micros = fields.nth(1).and_then(|t| t.parse::<u64>().ok());
        Record {
            level,
            micros: Some(micros.unwrap_or(0)),
            text: message.to_owned(),
        }
    }
}

impl std::fmt::Display for Record {
    /// Like `dmesg`: `[ seconds.micros] text`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.micros {
            Some(micros) => write!(
                f,
                "[{:5}.{:06}] {}",
                micros / 1_000_000,
                micros % 1_000_000,
                self.text
            ),
            None => f.write_str(&self.text),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_record(record: &[u8]) -> String {
        Record::parse(record).to_string()
    }

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
    fn records_carry_their_level() {
        // Facility 0 (kernel), level 6; facility 1 (user), level 4.
        assert_eq!(
            Record::parse(b"6,1,5,-;edu 0000:00:02.0: alive\n"),
            Record {
                level: 6,
                micros: Some(5),
                text: "edu 0000:00:02.0: alive".into()
            }
        );
        assert_eq!(Record::parse(b"12,2,7,-;from userspace\n").level, 4);
    }

    #[test]
    fn malformed_records_are_kept_verbatim() {
        assert_eq!(format_record(b"no separator\n"), "no separator");
    }
}
