//! A writer for the `newc` cpio format, the format of a Linux initramfs.
//!
//! Writing the archive directly (instead of running `cpio` over a staged directory) makes the
//! initramfs a pure function of its inputs: entries appear in the order they are added, with
//! fixed owners and timestamps, and device nodes need no root. See the kernel's
//! `Documentation/driver-api/early-userspace/buffer-format.rst`.

use std::io::{self, Write};

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;

/// Writes a `newc` archive entry by entry. Call [`CpioWriter::finish`] at the end.
pub struct CpioWriter<W: Write> {
    out: W,
    written: u64,
    next_ino: u32,
}

impl<W: Write> CpioWriter<W> {
    /// A writer that writes the archive to `out`.
    pub fn new(out: W) -> Self {
        CpioWriter {
            out,
            written: 0,
            next_ino: 1,
        }
    }

    /// Adds a directory. Parents must be added first.
    pub fn directory(&mut self, path: &str, permissions: u32) -> io::Result<()> {
        self.entry(path, S_IFDIR | permissions, 2, (0, 0), &[])
    }

    /// Adds a regular file.
    pub fn file(&mut self, path: &str, permissions: u32, data: &[u8]) -> io::Result<()> {
        self.entry(path, S_IFREG | permissions, 1, (0, 0), data)
    }

    /// Adds a symbolic link to `target`.
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// Adds a character device node.
    pub fn char_device(
        &mut self,
        path: &str,
        permissions: u32,
        major: u32,
        minor: u32,
    ) -> io::Result<()> {
        self.entry(path, S_IFCHR | permissions, 1, (major, minor), &[])
    }

    /// Writes the trailer, pads the archive to a multiple of 512 bytes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.header("TRAILER!!!", 0, 0, 1, (0, 0), 0)?;
        self.pad_to(512)?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(
        &mut self,
        path: &str,
        mode: u32,
        nlink: u32,
        rdev: (u32, u32),
        data: &[u8],
    ) -> io::Result<()> {
        let path = path.trim_start_matches('/');
        if path.is_empty() || path.contains('\0') {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("bad cpio entry name {path:?}"),
            ));
        }
        let size = u32::try_from(data.len()).map_err(|_| {
            io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is too large"))
        })?;
        let ino = self.next_ino;
        self.next_ino += 1;
        self.header(path, ino, mode, nlink, rdev, size)?;
        self.write(data)?;
        self.pad_to(4)
    }

    fn header(
        &mut self,
        name: &str,
        ino: u32,
        mode: u32,
        nlink: u32,
        (rdev_major, rdev_minor): (u32, u32),
        size: u32,
    ) -> io::Result<()> {
        let name_size = name.len() as u32 + 1;
        let fields = [
            ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev_major, rdev_minor, name_size, 0,
        ];
        let mut header = String::from("070701");
        for field in fields {
            header.push_str(&format!("{field:08x}"));
        }
        self.write(header.as_bytes())?;
        self.write(name.as_bytes())?;
        self.write(&[0])?;
        self.pad_to(4)
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.out.write_all(data)?;
        self.written += data.len() as u64;
        Ok(())
    }

    fn pad_to(&mut self, alignment: u64) -> io::Result<()> {
        let padding = (alignment - self.written % alignment) % alignment;
        self.write(&vec![0; padding as usize])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads back (name, mode, rdev major, rdev minor, data) of every entry.
    fn parse(archive: &[u8]) -> Vec<(String, u32, u32, u32, Vec<u8>)> {
        let mut entries = Vec::new();
        let mut at = 0;
        let align = |n: usize| n.div_ceil(4) * 4;
        loop {
            assert_eq!(&archive[at..at + 6], b"070701", "magic at {at}");
            let field = |i: usize| {
                let s = std::str::from_utf8(&archive[at + 6 + 8 * i..at + 14 + 8 * i]).unwrap();
                u32::from_str_radix(s, 16).unwrap() as usize
            };
            let (mode, size, major, minor, name_size) =
                (field(1), field(6), field(9), field(10), field(11));
            let name_start = at + 110;
            let name = String::from_utf8(archive[name_start..name_start + name_size - 1].to_vec())
                .unwrap();
            let data_start = align(name_start + name_size);
            let data = archive[data_start..data_start + size].to_vec();
            at = align(data_start + size);
            if name == "TRAILER!!!" {
                assert_eq!(archive.len() % 512, 0);
                assert!(archive[at..].iter().all(|&b| b == 0));
                return entries;
            }
            entries.push((name, mode as u32, major as u32, minor as u32, data));
        }
    }

    #[test]
    fn entries_read_back_as_written() {
        let mut w = CpioWriter::new(Vec::new());
        w.directory("/bin", 0o755).unwrap();
        w.file("/bin/busybox", 0o755, b"\x7fELF...").unwrap();
        w.symlink("/bin/sh", "busybox").unwrap();
        w.directory("/dev", 0o755).unwrap();
        w.char_device("/dev/console", 0o600, 5, 1).unwrap();
        w.file("/init", 0o755, b"#!/bin/sh\n").unwrap();
        let archive = w.finish().unwrap();
        let entries = parse(&archive);
        let summary: Vec<_> = entries
            .iter()
            .map(|(n, m, maj, min, d)| (n.as_str(), *m, *maj, *min, d.as_slice()))
            .collect();
        assert_eq!(
            summary,
            [
                ("bin", 0o040755, 0, 0, &b""[..]),
                ("bin/busybox", 0o100755, 0, 0, &b"\x7fELF..."[..]),
                ("bin/sh", 0o120777, 0, 0, &b"busybox"[..]),
                ("dev", 0o040755, 0, 0, &b""[..]),
                ("dev/console", 0o020600, 5, 1, &b""[..]),
                ("init", 0o100755, 0, 0, &b"#!/bin/sh\n"[..]),
            ]
        );
    }

    #[test]
    fn output_is_deterministic() {
        let build = || {
            let mut w = CpioWriter::new(Vec::new());
            w.file("a", 0o644, b"same").unwrap();
            w.finish().unwrap()
        };
        assert_eq!(build(), build());
    }

    #[test]
    fn bad_names_are_rejected() {
        let mut w = CpioWriter::new(Vec::new());
        assert!(w.file("/", 0o644, b"").is_err());
        assert!(w.file("a\0b", 0o644, b"").is_err());
    }
}
