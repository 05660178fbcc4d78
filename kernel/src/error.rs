//! Kernel error codes and the [`Result`] type.
//!
//! Mirrors `rust/kernel/error.rs` of Linux 7.3. An [`Error`] is a negative `errno` value, exactly
//! as in the kernel, so the codes a driver returns keep their meaning when the same driver file is
//! built in a kernel tree. Every code of `include/uapi/asm-generic/errno-base.h`,
//! `include/uapi/asm-generic/errno.h` and `include/linux/errno.h` is available in [`code`], with
//! the kernel's numeric values (including the kernel-internal ones above 511, such as
//! [`code::EPROBE_DEFER`], which userspace C libraries do not define).
//!
//! Difference from the kernel: [`Error::name`] is answered from a table compiled into this crate
//! rather than by the C function `errname()`; the answers are the same.

use crate::{
    alloc::{layout::LayoutError, AllocError},
    fmt,
    str::CStr,
};

use core::num::{NonZeroI32, TryFromIntError};
use core::str::Utf8Error;

/// The largest errno value an [`Error`] can hold (the kernel's `MAX_ERRNO`).
const MAX_ERRNO: i32 = 4095;

/// The error codes, one constant per kernel errno.
///
/// Each constant is an [`Error`] holding the negated errno, as the kernel's `-EINVAL` and friends.
#[rustfmt::skip]
pub mod code {
    macro_rules! declare_err {
        ($name:ident, $errno:literal, $doc:literal) => {
            #[doc = $doc]
            pub const $name: super::Error = super::Error::from_const(-$errno);
        };
    }

    declare_err!(EPERM, 1, "Operation not permitted.");
    declare_err!(ENOENT, 2, "No such file or directory.");
    declare_err!(ESRCH, 3, "No such process.");
    declare_err!(EINTR, 4, "Interrupted system call.");
    declare_err!(EIO, 5, "I/O error.");
    declare_err!(ENXIO, 6, "No such device or address.");
    declare_err!(E2BIG, 7, "Argument list too long.");
    declare_err!(ENOEXEC, 8, "Exec format error.");
    declare_err!(EBADF, 9, "Bad file number.");
    declare_err!(ECHILD, 10, "No child processes.");
    declare_err!(EAGAIN, 11, "Try again.");
    declare_err!(ENOMEM, 12, "Out of memory.");
    declare_err!(EACCES, 13, "Permission denied.");
    declare_err!(EFAULT, 14, "Bad address.");
    declare_err!(ENOTBLK, 15, "Block device required.");
    declare_err!(EBUSY, 16, "Device or resource busy.");
    declare_err!(EEXIST, 17, "File exists.");
    declare_err!(EXDEV, 18, "Cross-device link.");
    declare_err!(ENODEV, 19, "No such device.");
    declare_err!(ENOTDIR, 20, "Not a directory.");
    declare_err!(EISDIR, 21, "Is a directory.");
    declare_err!(EINVAL, 22, "Invalid argument.");
    declare_err!(ENFILE, 23, "File table overflow.");
    declare_err!(EMFILE, 24, "Too many open files.");
    declare_err!(ENOTTY, 25, "Not a typewriter.");
    declare_err!(ETXTBSY, 26, "Text file busy.");
    declare_err!(EFBIG, 27, "File too large.");
    declare_err!(ENOSPC, 28, "No space left on device.");
    declare_err!(ESPIPE, 29, "Illegal seek.");
    declare_err!(EROFS, 30, "Read-only file system.");
    declare_err!(EMLINK, 31, "Too many links.");
    declare_err!(EPIPE, 32, "Broken pipe.");
    declare_err!(EDOM, 33, "Math argument out of domain of func.");
    declare_err!(ERANGE, 34, "Math result not representable.");
    declare_err!(EDEADLK, 35, "Resource deadlock would occur.");
    declare_err!(ENAMETOOLONG, 36, "File name too long.");
    declare_err!(ENOLCK, 37, "No record locks available.");
    declare_err!(ENOSYS, 38, "Invalid system call number.");
    declare_err!(ENOTEMPTY, 39, "Directory not empty.");
    declare_err!(ELOOP, 40, "Too many symbolic links encountered.");
    declare_err!(ENOMSG, 42, "No message of desired type.");
    declare_err!(EIDRM, 43, "Identifier removed.");
    declare_err!(ECHRNG, 44, "Channel number out of range.");
    declare_err!(EL2NSYNC, 45, "Level 2 not synchronized.");
    declare_err!(EL3HLT, 46, "Level 3 halted.");
    declare_err!(EL3RST, 47, "Level 3 reset.");
    declare_err!(ELNRNG, 48, "Link number out of range.");
    declare_err!(EUNATCH, 49, "Protocol driver not attached.");
    declare_err!(ENOCSI, 50, "No CSI structure available.");
    declare_err!(EL2HLT, 51, "Level 2 halted.");
    declare_err!(EBADE, 52, "Invalid exchange.");
    declare_err!(EBADR, 53, "Invalid request descriptor.");
    declare_err!(EXFULL, 54, "Exchange full.");
    declare_err!(ENOANO, 55, "No anode.");
    declare_err!(EBADRQC, 56, "Invalid request code.");
    declare_err!(EBADSLT, 57, "Invalid slot.");
    declare_err!(EBFONT, 59, "Bad font file format.");
    declare_err!(ENOSTR, 60, "Device not a stream.");
    declare_err!(ENODATA, 61, "No data available.");
    declare_err!(ETIME, 62, "Timer expired.");
    declare_err!(ENOSR, 63, "Out of streams resources.");
    declare_err!(ENONET, 64, "Machine is not on the network.");
    declare_err!(ENOPKG, 65, "Package not installed.");
    declare_err!(EREMOTE, 66, "Object is remote.");
    declare_err!(ENOLINK, 67, "Link has been severed.");
    declare_err!(EADV, 68, "Advertise error.");
    declare_err!(ESRMNT, 69, "Srmount error.");
    declare_err!(ECOMM, 70, "Communication error on send.");
    declare_err!(EPROTO, 71, "Protocol error.");
    declare_err!(EMULTIHOP, 72, "Multihop attempted.");
    declare_err!(EDOTDOT, 73, "RFS specific error.");
    declare_err!(EBADMSG, 74, "Not a data message.");
    declare_err!(EFSBADCRC, 74, "Bad CRC detected.");
    declare_err!(EOVERFLOW, 75, "Value too large for defined data type.");
    declare_err!(ENOTUNIQ, 76, "Name not unique on network.");
    declare_err!(EBADFD, 77, "File descriptor in bad state.");
    declare_err!(EREMCHG, 78, "Remote address changed.");
    declare_err!(ELIBACC, 79, "Can not access a needed shared library.");
    declare_err!(ELIBBAD, 80, "Accessing a corrupted shared library.");
    declare_err!(ELIBSCN, 81, ".lib section in a.out corrupted.");
    declare_err!(ELIBMAX, 82, "Attempting to link in too many shared libraries.");
    declare_err!(ELIBEXEC, 83, "Cannot exec a shared library directly.");
    declare_err!(EILSEQ, 84, "Illegal byte sequence.");
    declare_err!(ERESTART, 85, "Interrupted system call should be restarted.");
    declare_err!(ESTRPIPE, 86, "Streams pipe error.");
    declare_err!(EUSERS, 87, "Too many users.");
    declare_err!(ENOTSOCK, 88, "Socket operation on non-socket.");
    declare_err!(EDESTADDRREQ, 89, "Destination address required.");
    declare_err!(EMSGSIZE, 90, "Message too long.");
    declare_err!(EPROTOTYPE, 91, "Protocol wrong type for socket.");
    declare_err!(ENOPROTOOPT, 92, "Protocol not available.");
    declare_err!(EPROTONOSUPPORT, 93, "Protocol not supported.");
    declare_err!(ESOCKTNOSUPPORT, 94, "Socket type not supported.");
    declare_err!(EOPNOTSUPP, 95, "Operation not supported on transport endpoint.");
    declare_err!(EPFNOSUPPORT, 96, "Protocol family not supported.");
    declare_err!(EAFNOSUPPORT, 97, "Address family not supported by protocol.");
    declare_err!(EADDRINUSE, 98, "Address already in use.");
    declare_err!(EADDRNOTAVAIL, 99, "Cannot assign requested address.");
    declare_err!(ENETDOWN, 100, "Network is down.");
    declare_err!(ENETUNREACH, 101, "Network is unreachable.");
    declare_err!(ENETRESET, 102, "Network dropped connection because of reset.");
    declare_err!(ECONNABORTED, 103, "Software caused connection abort.");
    declare_err!(ECONNRESET, 104, "Connection reset by peer.");
    declare_err!(ENOBUFS, 105, "No buffer space available.");
    declare_err!(EISCONN, 106, "Transport endpoint is already connected.");
    declare_err!(ENOTCONN, 107, "Transport endpoint is not connected.");
    declare_err!(ESHUTDOWN, 108, "Cannot send after transport endpoint shutdown.");
    declare_err!(ETOOMANYREFS, 109, "Too many references: cannot splice.");
    declare_err!(ETIMEDOUT, 110, "Connection timed out.");
    declare_err!(ECONNREFUSED, 111, "Connection refused.");
    declare_err!(EHOSTDOWN, 112, "Host is down.");
    declare_err!(EHOSTUNREACH, 113, "No route to host.");
    declare_err!(EALREADY, 114, "Operation already in progress.");
    declare_err!(EINPROGRESS, 115, "Operation now in progress.");
    declare_err!(ESTALE, 116, "Stale file handle.");
    declare_err!(EUCLEAN, 117, "Structure needs cleaning.");
    declare_err!(EFSCORRUPTED, 117, "Filesystem is corrupted.");
    declare_err!(ENOTNAM, 118, "Not a XENIX named type file.");
    declare_err!(ENAVAIL, 119, "No XENIX semaphores available.");
    declare_err!(EISNAM, 120, "Is a named type file.");
    declare_err!(EREMOTEIO, 121, "Remote I/O error.");
    declare_err!(EDQUOT, 122, "Quota exceeded.");
    declare_err!(ENOMEDIUM, 123, "No medium found.");
    declare_err!(EMEDIUMTYPE, 124, "Wrong medium type.");
    declare_err!(ECANCELED, 125, "Operation Canceled.");
    declare_err!(ENOKEY, 126, "Required key not available.");
    declare_err!(EKEYEXPIRED, 127, "Key has expired.");
    declare_err!(EKEYREVOKED, 128, "Key has been revoked.");
    declare_err!(EKEYREJECTED, 129, "Key was rejected by service.");
    declare_err!(EOWNERDEAD, 130, "Owner died.");
    declare_err!(ENOTRECOVERABLE, 131, "State not recoverable.");
    declare_err!(ERFKILL, 132, "Operation not possible due to RF-kill.");
    declare_err!(EHWPOISON, 133, "Memory page has hardware error.");
    declare_err!(EFTYPE, 134, "Wrong file type for the intended operation.");
    declare_err!(ERESTARTSYS, 512, "A system call was interrupted and should be restarted (kernel internal).");
    declare_err!(ERESTARTNOINTR, 513, "A system call should be restarted without signal interruption (kernel internal).");
    declare_err!(ERESTARTNOHAND, 514, "Restart if no handler.");
    declare_err!(ENOIOCTLCMD, 515, "No ioctl command.");
    declare_err!(ERESTART_RESTARTBLOCK, 516, "Restart by calling sys_restart_syscall.");
    declare_err!(EPROBE_DEFER, 517, "Driver requests probe retry.");
    declare_err!(EOPENSTALE, 518, "Open found a stale dentry.");
    declare_err!(ENOPARAM, 519, "Parameter not supported.");
    declare_err!(EBADHANDLE, 521, "Illegal NFS file handle.");
    declare_err!(ENOTSYNC, 522, "Update synchronization mismatch.");
    declare_err!(EBADCOOKIE, 523, "Cookie is stale.");
    declare_err!(ENOTSUPP, 524, "Operation is not supported.");
    declare_err!(ETOOSMALL, 525, "Buffer or request is too small.");
    declare_err!(ESERVERFAULT, 526, "An untranslatable error occurred.");
    declare_err!(EBADTYPE, 527, "Type not supported by server.");
    declare_err!(EJUKEBOX, 528, "Request initiated, but will not complete before timeout.");
    declare_err!(EIOCBQUEUED, 529, "Iocb queued, will get completion event.");
    declare_err!(ERECALLCONFLICT, 530, "Conflict with recalled state.");
    declare_err!(ENOGRACE, 531, "NFS file lock reclaim refused.");

    /// Every declared code with its name, in declaration order; the first entry for a number is
    /// the name [`Error::name`](super::Error::name) reports.
    pub(super) const NAMES: &[(i32, &core::ffi::CStr)] = &[
        (1, c"EPERM"),
        (2, c"ENOENT"),
        (3, c"ESRCH"),
        (4, c"EINTR"),
        (5, c"EIO"),
        (6, c"ENXIO"),
        (7, c"E2BIG"),
        (8, c"ENOEXEC"),
        (9, c"EBADF"),
        (10, c"ECHILD"),
        (11, c"EAGAIN"),
        (12, c"ENOMEM"),
        (13, c"EACCES"),
        (14, c"EFAULT"),
        (15, c"ENOTBLK"),
        (16, c"EBUSY"),
        (17, c"EEXIST"),
        (18, c"EXDEV"),
        (19, c"ENODEV"),
        (20, c"ENOTDIR"),
        (21, c"EISDIR"),
        (22, c"EINVAL"),
        (23, c"ENFILE"),
        (24, c"EMFILE"),
        (25, c"ENOTTY"),
        (26, c"ETXTBSY"),
        (27, c"EFBIG"),
        (28, c"ENOSPC"),
        (29, c"ESPIPE"),
        (30, c"EROFS"),
        (31, c"EMLINK"),
        (32, c"EPIPE"),
        (33, c"EDOM"),
        (34, c"ERANGE"),
        (35, c"EDEADLK"),
        (36, c"ENAMETOOLONG"),
        (37, c"ENOLCK"),
        (38, c"ENOSYS"),
        (39, c"ENOTEMPTY"),
        (40, c"ELOOP"),
        (42, c"ENOMSG"),
        (43, c"EIDRM"),
        (44, c"ECHRNG"),
        (45, c"EL2NSYNC"),
        (46, c"EL3HLT"),
        (47, c"EL3RST"),
        (48, c"ELNRNG"),
        (49, c"EUNATCH"),
        (50, c"ENOCSI"),
        (51, c"EL2HLT"),
        (52, c"EBADE"),
        (53, c"EBADR"),
        (54, c"EXFULL"),
        (55, c"ENOANO"),
        (56, c"EBADRQC"),
        (57, c"EBADSLT"),
        (59, c"EBFONT"),
        (60, c"ENOSTR"),
        (61, c"ENODATA"),
        (62, c"ETIME"),
        (63, c"ENOSR"),
        (64, c"ENONET"),
        (65, c"ENOPKG"),
        (66, c"EREMOTE"),
        (67, c"ENOLINK"),
        (68, c"EADV"),
        (69, c"ESRMNT"),
        (70, c"ECOMM"),
        (71, c"EPROTO"),
        (72, c"EMULTIHOP"),
        (73, c"EDOTDOT"),
        (74, c"EBADMSG"),
        (74, c"EFSBADCRC"),
        (75, c"EOVERFLOW"),
        (76, c"ENOTUNIQ"),
        (77, c"EBADFD"),
        (78, c"EREMCHG"),
        (79, c"ELIBACC"),
        (80, c"ELIBBAD"),
        (81, c"ELIBSCN"),
        (82, c"ELIBMAX"),
        (83, c"ELIBEXEC"),
        (84, c"EILSEQ"),
        (85, c"ERESTART"),
        (86, c"ESTRPIPE"),
        (87, c"EUSERS"),
        (88, c"ENOTSOCK"),
        (89, c"EDESTADDRREQ"),
        (90, c"EMSGSIZE"),
        (91, c"EPROTOTYPE"),
        (92, c"ENOPROTOOPT"),
        (93, c"EPROTONOSUPPORT"),
        (94, c"ESOCKTNOSUPPORT"),
        (95, c"EOPNOTSUPP"),
        (96, c"EPFNOSUPPORT"),
        (97, c"EAFNOSUPPORT"),
        (98, c"EADDRINUSE"),
        (99, c"EADDRNOTAVAIL"),
        (100, c"ENETDOWN"),
        (101, c"ENETUNREACH"),
        (102, c"ENETRESET"),
        (103, c"ECONNABORTED"),
        (104, c"ECONNRESET"),
        (105, c"ENOBUFS"),
        (106, c"EISCONN"),
        (107, c"ENOTCONN"),
        (108, c"ESHUTDOWN"),
        (109, c"ETOOMANYREFS"),
        (110, c"ETIMEDOUT"),
        (111, c"ECONNREFUSED"),
        (112, c"EHOSTDOWN"),
        (113, c"EHOSTUNREACH"),
        (114, c"EALREADY"),
        (115, c"EINPROGRESS"),
        (116, c"ESTALE"),
        (117, c"EUCLEAN"),
        (117, c"EFSCORRUPTED"),
        (118, c"ENOTNAM"),
        (119, c"ENAVAIL"),
        (120, c"EISNAM"),
        (121, c"EREMOTEIO"),
        (122, c"EDQUOT"),
        (123, c"ENOMEDIUM"),
        (124, c"EMEDIUMTYPE"),
        (125, c"ECANCELED"),
        (126, c"ENOKEY"),
        (127, c"EKEYEXPIRED"),
        (128, c"EKEYREVOKED"),
        (129, c"EKEYREJECTED"),
        (130, c"EOWNERDEAD"),
        (131, c"ENOTRECOVERABLE"),
        (132, c"ERFKILL"),
        (133, c"EHWPOISON"),
        (134, c"EFTYPE"),
        (512, c"ERESTARTSYS"),
        (513, c"ERESTARTNOINTR"),
        (514, c"ERESTARTNOHAND"),
        (515, c"ENOIOCTLCMD"),
        (516, c"ERESTART_RESTARTBLOCK"),
        (517, c"EPROBE_DEFER"),
        (518, c"EOPENSTALE"),
        (519, c"ENOPARAM"),
        (521, c"EBADHANDLE"),
        (522, c"ENOTSYNC"),
        (523, c"EBADCOOKIE"),
        (524, c"ENOTSUPP"),
        (525, c"ETOOSMALL"),
        (526, c"ESERVERFAULT"),
        (527, c"EBADTYPE"),
        (528, c"EJUKEBOX"),
        (529, c"EIOCBQUEUED"),
        (530, c"ERECALLCONFLICT"),
        (531, c"ENOGRACE"),
    ];
}

/// A kernel error: a negative `errno` value.
///
/// Mirrors `kernel::error::Error`. Values are created from the constants in [`code`] or with
/// [`Error::from_errno`]; [`Debug`](core::fmt::Debug) prints the code's name, for example
/// `EINVAL`.
///
/// # Invariants
///
/// The value is a valid negated errno, in `-MAX_ERRNO..=-1` (`MAX_ERRNO` is 4095).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Error(NonZeroI32);

impl Error {
    /// Creates an [`Error`] from a negative kernel errno.
    ///
    /// A value that is not a negated errno (zero, a positive value or one below `-4095`) is a bug
    /// in the caller; as in the kernel, it is logged and turned into [`code::EINVAL`].
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::error::{code::ENODEV, Error};
    ///
    /// assert_eq!(Error::from_errno(-19), ENODEV);
    /// assert_eq!(Error::from_errno(7), kernel::error::code::EINVAL);
    /// ```
    pub fn from_errno(errno: crate::ffi::c_int) -> Error {
        match Self::try_from_errno(errno) {
            Some(error) => error,
            None => {
                crate::pr_warn!(
                    "attempted to create `Error` with out of range `errno`: {}\n",
                    errno
                );
                code::EINVAL
            }
        }
    }

    /// Creates an [`Error`] from a negative errno, or `None` if it is out of range.
    const fn try_from_errno(errno: crate::ffi::c_int) -> Option<Error> {
        if errno < -MAX_ERRNO || errno >= 0 {
            return None;
        }
        match NonZeroI32::new(errno) {
            // INVARIANT: `errno` is in `-MAX_ERRNO..=-1`, checked above.
            Some(value) => Some(Error(value)),
            None => None,
        }
    }

    /// Creates an [`Error`] for a constant, failing the build if `errno` is out of range.
    const fn from_const(errno: crate::ffi::c_int) -> Error {
        match Self::try_from_errno(errno) {
            Some(error) => error,
            None => panic!("invalid errno in `declare_err!`"),
        }
    }

    /// Returns the negative errno this error holds, as a C function would return it.
    pub fn to_errno(self) -> crate::ffi::c_int {
        self.0.get()
    }

    /// Returns the block layer's status for this error (`errno_to_blk_status()`).
    #[cfg(CONFIG_BLOCK)]
    pub(crate) fn to_blk_status(self) -> crate::bindings::blk_status_t {
        drydock_host::block::errno_to_blk_status(self.0.get())
    }

    /// Returns the error encoded as a pointer, as the kernel's `ERR_PTR()` does.
    ///
    /// The pointer is never dereferenceable; it lies in the last page of the address space.
    pub fn to_ptr<T>(self) -> *mut T {
        // CAST: sign extension of the negative errno gives the top-of-address-space encoding
        // that `IS_ERR()`/`from_err_ptr` recognise.
        core::ptr::without_provenance_mut(self.0.get() as isize as usize)
    }

    /// Returns the name of the error code, for example `EINVAL`, if it is a known one.
    ///
    /// Codes that share a number (such as `EFSBADCRC` and `EBADMSG`) report the name declared
    /// first in the kernel's headers.
    pub fn name(&self) -> Option<&'static CStr> {
        let errno = -self.0.get();
        code::NAMES
            .iter()
            .find(|(number, _)| *number == errno)
            .map(|(_, name)| *name)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name().and_then(|name| name.to_str().ok()) {
            Some(name) => f.write_str(name),
            None => f.debug_tuple("Error").field(&-self.0.get()).finish(),
        }
    }
}

impl From<AllocError> for Error {
    #[inline]
    fn from(_: AllocError) -> Error {
        code::ENOMEM
    }
}

impl From<TryFromIntError> for Error {
    #[inline]
    fn from(_: TryFromIntError) -> Error {
        code::EINVAL
    }
}

impl From<Utf8Error> for Error {
    #[inline]
    fn from(_: Utf8Error) -> Error {
        code::EINVAL
    }
}

impl From<LayoutError> for Error {
    #[inline]
    fn from(_: LayoutError) -> Error {
        code::ENOMEM
    }
}

impl From<fmt::Error> for Error {
    #[inline]
    fn from(_: fmt::Error) -> Error {
        code::EINVAL
    }
}

impl From<core::convert::Infallible> for Error {
    #[inline]
    fn from(e: core::convert::Infallible) -> Error {
        match e {}
    }
}

/// Converts the errno of a host function, as the kernel's `to_result()` converts the return value
/// of a C function (the host is where the kernel calls C).
#[doc(hidden)]
impl From<drydock_host::errno::Errno> for Error {
    #[inline]
    fn from(errno: drydock_host::errno::Errno) -> Error {
        match Self::try_from_errno(errno.to_errno()) {
            Some(error) => error,
            // An `Errno` holds a value in the range of `Error`'s.
            None => code::EINVAL,
        }
    }
}

/// The message of the default body of a `#[vtable]` trait method that must not be called.
///
/// Mirrors `kernel::error::VTABLE_DEFAULT_ERROR`.
pub const VTABLE_DEFAULT_ERROR: &str =
    "This function must not be called, see the #[vtable] documentation.";

/// A [`Result`](core::result::Result) whose error defaults to [`Error`] and whose value defaults
/// to `()`, so `Result` alone means "success or an errno".
///
/// Mirrors `kernel::error::Result`.
pub type Result<T = (), E = Error> = core::result::Result<T, E>;

/// Converts a C-style return value (zero or positive on success, a negative errno on failure)
/// into a [`Result`].
///
/// # Examples
///
/// ```
/// use kernel::error::{code::EBUSY, to_result};
///
/// assert_eq!(to_result(0), Ok(()));
/// assert_eq!(to_result(-16), Err(EBUSY));
/// ```
pub fn to_result(err: crate::ffi::c_int) -> Result {
    if err < 0 {
        Err(Error::from_errno(err))
    } else {
        Ok(())
    }
}

/// Splits a pointer that may encode an error (an `ERR_PTR()`) into a [`Result`].
///
/// Pointers in the last 4095 bytes of the address space are errors, as the kernel's `IS_ERR()`
/// decides; every other pointer, including null, is returned as is.
pub fn from_err_ptr<T>(ptr: *mut T) -> Result<*mut T> {
    let value = ptr.addr() as isize;
    if (-(MAX_ERRNO as isize)..0).contains(&value) {
        // CAST: the range check above guarantees the value fits in an `i32`.
        return Err(Error::from_errno(value as i32));
    }
    Ok(ptr)
}

/// Calls `f` and turns its result into a C-style return value: the value on success, the negative
/// errno on failure.
///
/// Bus adapters use this to report a driver callback's outcome, as the kernel's C callbacks do.
pub fn from_result<T, F>(f: F) -> T
where
    T: From<i16>,
    F: FnOnce() -> Result<T>,
{
    match f() {
        Ok(value) => value,
        // CAST: errno values are at most 4095 in magnitude, so they fit in an `i16`.
        Err(e) => T::from(e.to_errno() as i16),
    }
}

#[cfg(test)]
mod tests {
    use super::code::*;
    use super::*;

    #[test]
    fn codes_hold_the_kernel_numbers() {
        assert_eq!(EPERM.to_errno(), -1);
        assert_eq!(EINVAL.to_errno(), -22);
        assert_eq!(ETIMEDOUT.to_errno(), -110);
        assert_eq!(EPROBE_DEFER.to_errno(), -517);
        assert_eq!(ENOGRACE.to_errno(), -531);
        assert_eq!(EFSBADCRC, EBADMSG);
    }

    #[test]
    fn debug_prints_the_name() {
        assert_eq!(format!("{:?}", ENODEV), "ENODEV");
        assert_eq!(format!("{:?}", EPROBE_DEFER), "EPROBE_DEFER");
        // An errno without a name (520 is unassigned) prints its number.
        assert_eq!(format!("{:?}", Error::from_errno(-520)), "Error(520)");
        assert_eq!(EFSCORRUPTED.name(), Some(c"EUCLEAN"));
    }

    #[test]
    fn out_of_range_errno_becomes_einval() {
        assert_eq!(Error::from_errno(0), EINVAL);
        assert_eq!(Error::from_errno(5), EINVAL);
        assert_eq!(Error::from_errno(-4096), EINVAL);
        assert_eq!(Error::from_errno(-4095).to_errno(), -4095);
    }

    #[test]
    fn every_code_round_trips_through_its_number() {
        for (errno, name) in code::NAMES {
            let error = Error::from_errno(-errno);
            assert_eq!(error.to_errno(), -errno);
            let reported = error.name().expect("declared codes have names");
            // Aliases report the first name declared for their number.
            let first = code::NAMES.iter().find(|(n, _)| n == errno).unwrap().1;
            assert_eq!(reported, first, "name of {name:?}");
        }
    }

    #[test]
    fn c_style_conversions() {
        assert_eq!(to_result(3), Ok(()));
        assert_eq!(to_result(-12), Err(ENOMEM));
        let p: *mut u8 = EIO.to_ptr();
        assert_eq!(from_err_ptr(p), Err(EIO));
        let null: *mut u8 = core::ptr::null_mut();
        assert_eq!(from_err_ptr(null), Ok(null));
        assert_eq!(from_result(|| -> Result<i32> { Err(ENOSPC) }), -28);
        assert_eq!(from_result(|| -> Result<i32> { Ok(7) }), 7);
    }
}
