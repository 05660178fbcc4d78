//! `misc-device-client [DEVICE]`: drives Linux 7.3's `rust_misc_device` sample through its device
//! node (`/dev/rust-misc-device` unless given), as another process would, and prints one line per
//! call with what it returned, so that two runs compare line for line: the sample built into the
//! kernel, and the same file run by drydock, served through CUSE.
//!
//! It does what the sample's own C program does (hello, get the value, set it to one more, get it
//! again, an unknown command), then writes the buffer and reads it back in pieces of 10 bytes
//! until the end, and opens the device a second time to get that file's own value. It exits with
//! 1 if the device cannot be opened, 0 otherwise: the lines say what happened.

use std::ffi::CString;

#[path = "client/syscall.rs"]
mod syscall;

use syscall::{close, open, outcome};

/// The sample's commands: `_IO('|', 0x80)`, `_IOR('|', 0x81, int)`, `_IOW('|', 0x82, int)`, and
/// `_IO('|', 0)`, which it does not know.
const HELLO: libc::c_ulong = 0x7c80;
const GET_VALUE: libc::c_ulong = 0x8004_7c81;
const SET_VALUE: libc::c_ulong = 0x4004_7c82;
const UNKNOWN: libc::c_ulong = 0x7c00;

/// What the client writes to the device's buffer.
const TEXT: &[u8] = b"drydock misc device client\n";

/// `ioctl(fd, cmd, value)`, printed as `what: RESULT` (and the value after, for a command that
/// returns one).
fn ioctl(fd: libc::c_int, what: &str, cmd: libc::c_ulong, value: Option<&mut libc::c_int>) {
    let shows_value = cmd == GET_VALUE;
    let (ret, after) = match value {
        Some(value) => {
            // SAFETY: `value` is valid for the 4 bytes the command copies.
            let ret = unsafe { libc::ioctl(fd, cmd, core::ptr::from_mut(value)) };
            (ret, *value)
        }
        // SAFETY: the command copies no memory; its argument is null.
        None => (unsafe { libc::ioctl(fd, cmd, 0usize) }, 0),
    };
    let result = outcome(ret as isize);
    if shows_value && ret >= 0 {
        println!("{what}: {result} value={after}");
    } else {
        println!("{what}: {result}");
    }
}

/// Reads `fd` in pieces of 10 bytes until the end; prints each read.
fn read_all(fd: libc::c_int) {
    let mut buf = [0u8; 10];
    loop {
        // SAFETY: `buf` is valid for writes of its length.
        let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        if n <= 0 {
            println!("read: {}", outcome(n));
            return;
        }
        // CAST: positive, and at most `buf.len()`.
        let text = String::from_utf8_lossy(&buf[..n as usize]);
        println!("read: {n} {text:?}");
    }
}

fn main() -> std::process::ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "/dev/rust-misc-device".into());
    let Ok(c_path) = CString::new(path.clone()) else {
        eprintln!("misc-device-client: {path:?} is no path");
        return std::process::ExitCode::from(2);
    };
    let fd = match open(&c_path) {
        Ok(fd) => fd,
        Err(err) => {
            println!("open: {err}");
            return std::process::ExitCode::from(1);
        }
    };
    println!("open: ok");
    ioctl(fd, "hello", HELLO, None);
    let mut value = 0;
    ioctl(fd, "get", GET_VALUE, Some(&mut value));
    value += 1;
    let mut new = value;
    ioctl(fd, &format!("set {value}"), SET_VALUE, Some(&mut new));
    ioctl(fd, "get", GET_VALUE, Some(&mut value));
    ioctl(fd, "unknown command", UNKNOWN, None);

    // SAFETY: `TEXT` is valid for reads of its length.
    let written = unsafe { libc::write(fd, TEXT.as_ptr().cast(), TEXT.len()) };
    println!("write {} bytes: {}", TEXT.len(), outcome(written));
    read_all(fd);

    match open(&c_path) {
        Ok(second) => {
            println!("second open: ok");
            let mut value = -1;
            ioctl(second, "second get", GET_VALUE, Some(&mut value));
            read_all(second);
            println!("second close: {}", close(second));
        }
        Err(err) => println!("second open: {err}"),
    }
    println!("close: {}", close(fd));
    std::process::ExitCode::SUCCESS
}
