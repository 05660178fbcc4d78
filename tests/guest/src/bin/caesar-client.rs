//! `caesar-client [DEVICE]`: drives drydock's example misc device, `drivers/caesar`, through its
//! node (`/dev/caesar` unless given), as another process would, and prints one line per call with
//! what it returned, so that a case compares the lines with what docs/devices.md says the device
//! does.
//!
//! On one open file: the shift it starts with (13), a write read back from the file's position in
//! two reads and a read at the end, a new shift enciphering the next write, the text's length as
//! an ioctl's value, and the errors: a shift of 26 (`EINVAL`), an unknown command (`ENOTTY`), the
//! argument of a command with data at an unmapped address (`EFAULT`, both ways) and `mmap`, which
//! the device has not (`ENODEV`). On a second open file: its own shift, text and position, and a
//! write larger than the 4096 bytes a file keeps (the part that fits, then `ENOSPC`). It exits with
//! 1 if the device cannot be opened, 0 otherwise: the lines say what happened.

use std::ffi::CString;

#[path = "client/syscall.rs"]
mod syscall;

use syscall::{close, open, outcome};

/// The device's commands as a C program spells them: `_IOW('c', 1, __u32)` sets the shift,
/// `_IOR('c', 2, __u32)` gets it, `_IO('c', 3)` returns the text's length; `_IO('c', 4)` it does
/// not know.
const SET_SHIFT: libc::c_ulong = 0x4004_6301;
const GET_SHIFT: libc::c_ulong = 0x8004_6302;
const LEN: libc::c_ulong = 0x6303;
const UNKNOWN: libc::c_ulong = 0x6304;

/// An address no process maps (below `vm.mmap_min_addr`): a command's data there cannot be copied.
const UNMAPPED: usize = 8;

/// An open file of the device, and the word its lines start with (`second` for the second file).
struct Client {
    fd: libc::c_int,
    who: &'static str,
}

impl Client {
    /// Prints `what: RESULT`, prefixed with the file's word.
    fn say(&self, what: &str, result: &str) {
        println!("{}{what}: {result}", self.who);
    }

    /// `write()` of `bytes`, shown as `what`.
    fn write(&self, what: &str, bytes: &[u8]) {
        // SAFETY: `bytes` is valid for reads of its length.
        let n = unsafe { libc::write(self.fd, bytes.as_ptr().cast(), bytes.len()) };
        self.say(&format!("write {what}"), &outcome(n));
    }

    /// `read()` of up to `len` bytes: the count and the text, or, with `dots`, how many of the
    /// bytes are `.` rather than the text.
    fn read(&self, len: usize, dots: bool) {
        let mut buf = vec![0u8; len];
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(self.fd, buf.as_mut_ptr().cast(), buf.len()) };
        let result = match usize::try_from(n) {
            Ok(0) | Err(_) => outcome(n),
            Ok(n) if dots => {
                let count = buf[..n].iter().filter(|&&b| b == b'.').count();
                format!("{n} ({count} of them '.')")
            }
            Ok(n) => format!("{n} {:?}", String::from_utf8_lossy(&buf[..n])),
        };
        self.say(&format!("read {len}"), &result);
    }

    /// `ioctl(fd, cmd, arg)`: the [`outcome`] line.
    fn ioctl(&self, cmd: libc::c_ulong, arg: usize) -> String {
        // SAFETY: `arg` is the address of a `u32` the caller owns, 0, or `UNMAPPED`: the kernel
        // copies at most the command's 4 bytes, and from or to an address no process maps it
        // copies nothing.
        let ret = unsafe { libc::ioctl(self.fd, cmd, arg) };
        outcome(ret as isize)
    }

    /// `CAESAR_GET_SHIFT`: the result, and the shift it wrote if it succeeded.
    fn get_shift(&self) {
        let mut shift = u32::MAX;
        let result = self.ioctl(GET_SHIFT, core::ptr::from_mut(&mut shift) as usize);
        if result == "0" {
            self.say("get shift", &format!("0 shift={shift}"));
        } else {
            self.say("get shift", &result);
        }
    }

    /// `CAESAR_SET_SHIFT` to `shift`.
    fn set_shift(&self, shift: u32) {
        let result = self.ioctl(SET_SHIFT, core::ptr::from_ref(&shift) as usize);
        self.say(&format!("set shift {shift}"), &result);
    }

    /// `CAESAR_LEN`.
    fn len(&self) {
        self.say("length", &self.ioctl(LEN, 0));
    }

    /// `mmap()` of a page of the file.
    fn mmap(&self) {
        // SAFETY: a new shared mapping chosen by the kernel; it is unmapped if it is made.
        let map = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                4096,
                libc::PROT_READ,
                libc::MAP_SHARED,
                self.fd,
                0,
            )
        };
        if map == libc::MAP_FAILED {
            self.say("mmap", &outcome(-1));
        } else {
            self.say("mmap", "mapped");
            // SAFETY: `map` is the 4096-byte mapping just made, not used after.
            unsafe { libc::munmap(map, 4096) };
        }
    }
}

fn main() -> std::process::ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/dev/caesar".into());
    let Ok(c_path) = CString::new(path.clone()) else {
        eprintln!("caesar-client: {path:?} is no path");
        return std::process::ExitCode::from(2);
    };
    let first = match open(&c_path) {
        Ok(fd) => Client { fd, who: "" },
        Err(err) => {
            println!("open: {err}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("open: ok");
    first.get_shift();
    first.write("\"Hello, world!\"", b"Hello, world!");
    first.read(5, false);
    first.read(100, false);
    first.read(100, false);
    first.set_shift(3);
    first.get_shift();
    first.write("\" abc xyz\"", b" abc xyz");
    first.read(100, false);
    first.len();

    first.set_shift(26);
    first.get_shift();
    first.say("unknown command", &first.ioctl(UNKNOWN, 0));
    first.say(
        "get shift to an unmapped address",
        &first.ioctl(GET_SHIFT, UNMAPPED),
    );
    first.say(
        "set shift from an unmapped address",
        &first.ioctl(SET_SHIFT, UNMAPPED),
    );
    first.mmap();

    match open(&c_path) {
        Ok(fd) => {
            println!("second open: ok");
            let second = Client { fd, who: "second " };
            second.get_shift();
            second.read(100, false);
            second.write("\"Uryyb\"", b"Uryyb");
            second.read(100, false);
            first.len();
            second.write("5000 bytes", &[b'.'; 5000]);
            second.write("\"more\"", b"more");
            second.len();
            second.read(10000, true);
            println!("second close: {}", close(second.fd));
        }
        Err(err) => println!("second open: {err}"),
    }
    println!("close: {}", close(first.fd));
    std::process::ExitCode::SUCCESS
}
