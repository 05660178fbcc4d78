//! What the device clients (`misc-device-client`, `caesar-client`) share: a system call's result
//! as the line they print, and opening a node as another process would.

use std::ffi::CString;
use std::io::Error;

/// A system call's result as a line: the value, or `-1 NAME` for an error.
pub(crate) fn outcome(ret: isize) -> String {
    if ret >= 0 {
        return ret.to_string();
    }
    let errno = Error::last_os_error().raw_os_error().unwrap_or(0);
    let name = match errno {
        libc::EPERM => "EPERM",
        libc::ENOENT => "ENOENT",
        libc::EIO => "EIO",
        libc::EBADF => "EBADF",
        libc::EAGAIN => "EAGAIN",
        libc::EFAULT => "EFAULT",
        libc::ENODEV => "ENODEV",
        libc::EINVAL => "EINVAL",
        libc::ENOTTY => "ENOTTY",
        libc::ENOSPC => "ENOSPC",
        libc::ENOSYS => "ENOSYS",
        libc::ESPIPE => "ESPIPE",
        _ => return format!("{ret} errno {errno}"),
    };
    format!("{ret} {name}")
}

/// Opens `path` for reading and writing; an error is its [`outcome`] line.
pub(crate) fn open(path: &CString) -> Result<libc::c_int, String> {
    // SAFETY: `path` is a NUL-terminated string.
    let fd = unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
    if fd < 0 {
        Err(outcome(-1))
    } else {
        Ok(fd)
    }
}

/// Closes `fd`; returns the [`outcome`] line.
pub(crate) fn close(fd: libc::c_int) -> String {
    // SAFETY: `fd` is a descriptor the program opened and closes once.
    let closed = unsafe { libc::close(fd) };
    outcome(closed as isize)
}
