//! Error numbers, as the kernel's C functions return them.
//!
//! The host's functions that stand for C functions of the kernel fail with an [`Errno`], a negative
//! `errno` value, as `pci_iomap()` or `request_irq()` do; the `kernel` crate turns it into its
//! `Error` at the call, as the kernel's Rust code does with `to_result()`. The failures of the host
//! itself carry more: a [`HostError`](crate::error::HostError) says what went wrong and what to
//! do, and becomes an `Errno` where it reaches the kernel API.

use core::ffi::c_int;
use core::fmt;
use std::io;

/// A negative `errno` value.
///
/// # Invariants
///
/// The value is between `-4095` and `-1` (the kernel's `-MAX_ERRNO` to `-1`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(c_int);

impl Errno {
    /// `EPERM`: operation not permitted.
    pub const EPERM: Errno = Errno(-1);
    /// `ENOENT`: no such file or directory.
    pub const ENOENT: Errno = Errno(-2);
    /// `EBADF`: bad file descriptor (for instance, a read of a file opened for writing only).
    pub const EBADF: Errno = Errno(-9);
    /// `EIO`: I/O error.
    pub const EIO: Errno = Errno(-5);
    /// `ENXIO`: no such device or address.
    pub const ENXIO: Errno = Errno(-6);
    /// `EAGAIN`: try again (for instance, a non-blocking call that would block).
    pub const EAGAIN: Errno = Errno(-11);
    /// `ENOMEM`: out of memory.
    pub const ENOMEM: Errno = Errno(-12);
    /// `EACCES`: permission denied.
    pub const EACCES: Errno = Errno(-13);
    /// `EFAULT`: bad address.
    pub const EFAULT: Errno = Errno(-14);
    /// `EBUSY`: device or resource busy.
    pub const EBUSY: Errno = Errno(-16);
    /// `EEXIST`: already exists.
    pub const EEXIST: Errno = Errno(-17);
    /// `ENODEV`: no such device.
    pub const ENODEV: Errno = Errno(-19);
    /// `ENOTDIR`: not a directory.
    pub const ENOTDIR: Errno = Errno(-20);
    /// `EISDIR`: is a directory.
    pub const EISDIR: Errno = Errno(-21);
    /// `EINVAL`: invalid argument.
    pub const EINVAL: Errno = Errno(-22);
    /// `ENOTTY`: inappropriate ioctl for device.
    pub const ENOTTY: Errno = Errno(-25);
    /// `EFBIG`: file too large.
    pub const EFBIG: Errno = Errno(-27);
    /// `ENOSPC`: no space left.
    pub const ENOSPC: Errno = Errno(-28);
    /// `ENAMETOOLONG`: file name too long.
    pub const ENAMETOOLONG: Errno = Errno(-36);
    /// `ENOSYS`: function not implemented.
    pub const ENOSYS: Errno = Errno(-38);
    /// `ENOTEMPTY`: directory not empty.
    pub const ENOTEMPTY: Errno = Errno(-39);
    /// `EPROTO`: protocol error.
    pub const EPROTO: Errno = Errno(-71);
    /// `EOVERFLOW`: value too large for its type.
    pub const EOVERFLOW: Errno = Errno(-75);
    /// `EOPNOTSUPP`: operation not supported.
    pub const EOPNOTSUPP: Errno = Errno(-95);
    /// `EPROBE_DEFER`: a driver's probe asks to be retried later (kernel-internal, never seen by
    /// userspace).
    pub const EPROBE_DEFER: Errno = Errno(-517);

    /// The largest `errno` value (the kernel's `MAX_ERRNO`).
    const MAX: c_int = 4095;

    /// Returns the `Errno` for a negative value between `-4095` and `-1`, or `None`.
    pub const fn from_errno(errno: c_int) -> Option<Errno> {
        if errno < 0 && errno >= -Self::MAX {
            // INVARIANT: checked just above.
            Some(Errno(errno))
        } else {
            None
        }
    }

    /// Returns the byte count a C callback returned (`ssize_t`), or the error its negative value
    /// stands for (`EIO` for a negative value that is no errno).
    pub fn from_count(ret: isize) -> Result<usize, Errno> {
        usize::try_from(ret).map_err(|_| {
            c_int::try_from(ret)
                .ok()
                .and_then(Errno::from_errno)
                .unwrap_or(Errno::EIO)
        })
    }

    /// Returns the pointer a C function returned, or the error it holds (`IS_ERR()` and
    /// `PTR_ERR()`: the addresses of the last 4095 bytes are errors); `ENOMEM` for null, as the
    /// callers of constructors that may return either read it.
    pub fn from_err_ptr<T>(ptr: *mut T) -> Result<*mut T, Errno> {
        if ptr.is_null() {
            return Err(Errno::ENOMEM);
        }
        // CAST: an address reinterpreted as a signed number, as `PTR_ERR()` does.
        match c_int::try_from(ptr.addr() as isize) {
            Ok(value) => Errno::from_errno(value).map_or(Ok(ptr), Err),
            Err(_) => Ok(ptr),
        }
    }

    /// Returns the errno of an operating-system error (`EIO` if it carries none, or an invalid
    /// one).
    pub fn from_io(err: &io::Error) -> Errno {
        err.raw_os_error()
            .and_then(|errno| Errno::from_errno(errno.wrapping_neg()))
            .unwrap_or(Errno::EIO)
    }

    /// Returns the negative value, as a C function returns it.
    pub const fn to_errno(self) -> c_int {
        self.0
    }

    /// Returns the operating-system error with this number.
    pub fn to_io(self) -> io::Error {
        io::Error::from_raw_os_error(-self.0)
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Errno({}: {})", self.0, self.to_io())
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (errno {})", self.to_io(), -self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_kernel_errnos_are_errnos() {
        assert_eq!(Errno::from_errno(-22), Some(Errno::EINVAL));
        assert_eq!(Errno::from_errno(-4095).map(Errno::to_errno), Some(-4095));
        for bad in [0, 1, 22, -4096, c_int::MIN] {
            assert_eq!(Errno::from_errno(bad), None, "{bad}");
        }
    }

    #[test]
    fn ssize_values_are_counts_or_errnos() {
        assert_eq!(Errno::from_count(7), Ok(7));
        assert_eq!(Errno::from_count(0), Ok(0));
        assert_eq!(Errno::from_count(-16), Err(Errno::EBUSY));
        assert_eq!(Errno::from_count(-5000), Err(Errno::EIO));
    }

    #[test]
    fn error_pointers_hold_errnos() {
        let mut value = 0u8;
        let ptr = &raw mut value;
        assert_eq!(Errno::from_err_ptr(ptr), Ok(ptr));
        assert_eq!(
            Errno::from_err_ptr(core::ptr::null_mut::<u8>()),
            Err(Errno::ENOMEM)
        );
        let err = core::ptr::without_provenance_mut::<u8>((-22isize) as usize);
        assert_eq!(Errno::from_err_ptr(err), Err(Errno::EINVAL));
        let last = core::ptr::without_provenance_mut::<u8>((-4096isize) as usize);
        assert_eq!(Errno::from_err_ptr(last), Ok(last));
    }

    #[test]
    fn os_errors_keep_their_number() {
        assert_eq!(
            Errno::from_io(&io::Error::from_raw_os_error(13)),
            Errno::EACCES
        );
        assert_eq!(Errno::from_io(&io::Error::other("no number")), Errno::EIO);
        assert_eq!(Errno::EBUSY.to_io().raw_os_error(), Some(16));
    }
}
