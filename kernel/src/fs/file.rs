//! Open files.
//!
//! Mirrors `rust/kernel/fs/file.rs` of Linux 7.3: [`File`] and [`LocalFile`], the open file
//! (`struct file`) a character device's operations receive, reference counted as
//! [`ARef<File>`](crate::sync::aref::ARef); its [`flags`]; the position type [`Offset`];
//! [`BadFdError`].
//!
//! Differences from the kernel: an open file of a driver process is one of the host's
//! (`drydock_host::fs`), made when a process opens a misc device (through CUSE, or in process).
//! Looking up a file descriptor (`LocalFile::fget`), the opener's credentials (`LocalFile::cred`)
//! and installing a descriptor (`FileDescriptorReservation`) are not mirrored: they act on the
//! calling process's descriptor table and credentials, which a driver process does not have (see
//! `docs/porting.md`).

use crate::{
    bindings,
    error::{code::EBADF, Error},
    fmt,
    sync::aref::AlwaysRefCounted,
    types::Opaque,
};
use core::ptr;

/// A position in a file, in bytes from its start (`loff_t`).
///
/// Mirrors `kernel::fs::file::Offset`.
pub type Offset = bindings::loff_t;

/// The flags a [`File`] is opened with, as [`LocalFile::flags`] returns them.
///
/// Mirrors `kernel::fs::file::flags`: the values of Linux's `O_*` flags on x86_64.
pub mod flags {
    use crate::bindings;

    /// Writes go to the end of the file.
    pub const O_APPEND: u32 = bindings::O_APPEND;
    /// Signal-driven I/O.
    pub const O_ASYNC: u32 = bindings::FASYNC;
    /// The descriptor closes on `exec()`.
    pub const O_CLOEXEC: u32 = bindings::O_CLOEXEC;
    /// The file was created if it did not exist.
    pub const O_CREAT: u32 = bindings::O_CREAT;
    /// Direct I/O.
    pub const O_DIRECT: u32 = bindings::O_DIRECT;
    /// The file must be a directory.
    pub const O_DIRECTORY: u32 = bindings::O_DIRECTORY;
    /// Writes sync their data, not all metadata (compare [`O_SYNC`]).
    pub const O_DSYNC: u32 = bindings::O_DSYNC;
    /// With [`O_CREAT`], the file must not exist.
    pub const O_EXCL: u32 = bindings::O_EXCL;
    /// Offsets are 64 bits wide.
    pub const O_LARGEFILE: u32 = bindings::O_LARGEFILE;
    /// Reads do not update the access time.
    pub const O_NOATIME: u32 = bindings::O_NOATIME;
    /// The file does not become the process's controlling terminal.
    pub const O_NOCTTY: u32 = bindings::O_NOCTTY;
    /// The open fails if the path's last component is a symbolic link.
    pub const O_NOFOLLOW: u32 = bindings::O_NOFOLLOW;
    /// Non-blocking I/O.
    pub const O_NONBLOCK: u32 = bindings::O_NONBLOCK;
    /// Non-blocking I/O: [`O_NONBLOCK`] (they differ on SPARC64 only).
    pub const O_NDELAY: u32 = bindings::O_NDELAY;
    /// A descriptor of a path, not of an open file.
    pub const O_PATH: u32 = bindings::O_PATH;
    /// Writes sync their data and metadata.
    pub const O_SYNC: u32 = bindings::O_SYNC;
    /// An unnamed temporary regular file.
    pub const O_TMPFILE: u32 = bindings::O_TMPFILE;
    /// The file was truncated to length 0.
    pub const O_TRUNC: u32 = bindings::O_TRUNC;
    /// The mask of the access mode: [`O_RDONLY`], [`O_WRONLY`] or [`O_RDWR`].
    ///
    /// ```
    /// use kernel::fs::file;
    /// # let flags = file::flags::O_RDWR | file::flags::O_NONBLOCK;
    /// assert_eq!(flags & file::flags::O_ACCMODE, file::flags::O_RDWR);
    /// ```
    pub const O_ACCMODE: u32 = bindings::O_ACCMODE;
    /// Open for reading only.
    pub const O_RDONLY: u32 = bindings::O_RDONLY;
    /// Open for writing only.
    pub const O_WRONLY: u32 = bindings::O_WRONLY;
    /// Open for reading and writing.
    pub const O_RDWR: u32 = bindings::O_RDWR;
}

/// An open file (`struct file`), safe to use from any thread.
///
/// Mirrors `kernel::fs::file::File`. A file descriptor refers to an open file; an open file may be
/// shared by several descriptors and processes. Open files are reference counted:
/// [`ARef<File>`](crate::sync::aref::ARef) owns a reference, a `&File` borrows one that someone
/// else holds for as long as the borrow lives. The last reference releases the file: the
/// operations' `release` runs then, so a driver that keeps an `ARef<File>` delays it.
///
/// [`LocalFile`]'s methods are available on it through `Deref`.
///
/// # Invariants
///
/// - Every value is reference counted by the host's `get_file`/`fput`.
/// - No `fdget_pos` without the position lock is active on it (drydock has none at all).
#[repr(transparent)]
pub struct File {
    inner: Opaque<bindings::file>,
}

// SAFETY: the host's files may be used and released from any thread, and there is no unlocked
// `fdget_pos` (type invariant).
unsafe impl Send for File {}
// SAFETY: as above; every method is thread safe.
unsafe impl Sync for File {}

// SAFETY: files are always reference counted by the host (type invariant), which keeps them alive
// until the last reference is dropped.
unsafe impl AlwaysRefCounted for File {
    #[inline]
    fn inc_ref(&self) {
        // SAFETY: a shared reference means the count is positive.
        unsafe { drydock_host::fs::get_file(self.as_ptr()) };
    }

    #[inline]
    unsafe fn dec_ref(obj: ptr::NonNull<File>) {
        // SAFETY: the caller gives up a reference it owns; `File` is a transparent `file`.
        unsafe { drydock_host::fs::fput(obj.cast().as_ptr()) }
    }
}

/// An open file (`struct file`) that may not be safe to use from another thread.
///
/// Mirrors `kernel::fs::file::LocalFile`. In the kernel, a file whose position a thread uses
/// without the position lock (`fdget_pos` on an unshared file) must stay on that thread;
/// [`LocalFile::assume_no_fdget_pos`] turns it into a [`File`]. drydock never skips the lock, so
/// the distinction only matters for building the same code as the kernel.
///
/// # Invariants
///
/// - Every value is reference counted by the host's `get_file`/`fput`.
/// - An `fdget_pos` without the position lock on it, if any, is on the current thread.
#[repr(transparent)]
pub struct LocalFile {
    inner: Opaque<bindings::file>,
}

// SAFETY: files are always reference counted by the host (type invariant).
unsafe impl AlwaysRefCounted for LocalFile {
    #[inline]
    fn inc_ref(&self) {
        // SAFETY: a shared reference means the count is positive.
        unsafe { drydock_host::fs::get_file(self.as_ptr()) };
    }

    #[inline]
    unsafe fn dec_ref(obj: ptr::NonNull<LocalFile>) {
        // SAFETY: the caller gives up a reference it owns; `LocalFile` is a transparent `file`.
        unsafe { drydock_host::fs::fput(obj.cast().as_ptr()) }
    }
}

impl LocalFile {
    /// The file at `ptr`, borrowed for `'a`.
    ///
    /// # Safety
    ///
    /// - `ptr` must point to a valid file whose reference count stays positive for `'a`.
    /// - An `fdget_pos` without the position lock on it, if any, must be on the current thread.
    #[inline]
    pub unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a LocalFile {
        // INVARIANT: by the safety requirements.
        // SAFETY: valid for `'a` (safety requirements); `LocalFile` is a transparent `file`.
        unsafe { &*ptr.cast() }
    }

    /// Declares that no `fdget_pos` without the position lock is active on the current thread,
    /// which makes the file usable from any thread.
    ///
    /// # Safety
    ///
    /// No `fdget_pos` without the position lock may be active on the current thread.
    #[inline]
    pub unsafe fn assume_no_fdget_pos(
        me: crate::sync::aref::ARef<LocalFile>,
    ) -> crate::sync::aref::ARef<File> {
        // INVARIANT: none on this thread (safety requirement), nor on others (type invariant).
        // SAFETY: `LocalFile` and `File` are both transparent `file`s; the reference moves over.
        unsafe { crate::sync::aref::ARef::from_raw(crate::sync::aref::ARef::into_raw(me).cast()) }
    }

    /// The host's `struct file`.
    #[inline]
    pub fn as_ptr(&self) -> *mut bindings::file {
        self.inner.get()
    }

    /// The flags the file was opened with: the caller's `open()` flags, a combination of the
    /// constants in [`flags`].
    ///
    /// Difference from the kernel: later changes with `fcntl(F_SETFL)` are not seen (CUSE does
    /// not pass them on).
    #[inline]
    pub fn flags(&self) -> u32 {
        // SAFETY: the file is valid while borrowed; `f_flags` is not written after the file was
        // made, and the volatile read stands for the kernel's `READ_ONCE`.
        unsafe { ptr::addr_of!((*self.as_ptr()).f_flags).read_volatile() }
    }
}

impl File {
    /// The file at `ptr`, borrowed for `'a`.
    ///
    /// # Safety
    ///
    /// - `ptr` must point to a valid file whose reference count stays positive for `'a`.
    /// - Every `fdget_pos` active on it must hold the position lock.
    #[inline]
    pub unsafe fn from_raw_file<'a>(ptr: *const bindings::file) -> &'a File {
        // INVARIANT: by the safety requirements.
        // SAFETY: valid for `'a` (safety requirements); `File` is a transparent `file`.
        unsafe { &*ptr.cast() }
    }
}

impl core::ops::Deref for File {
    type Target = LocalFile;

    #[inline]
    fn deref(&self) -> &LocalFile {
        // SAFETY: the file is valid while borrowed, and has no unlocked `fdget_pos` at all (type
        // invariant).
        unsafe { LocalFile::from_raw_file(ptr::from_ref(self).cast()) }
    }
}

/// The error `EBADF`, for operations that can fail only with it.
///
/// Mirrors `kernel::fs::file::BadFdError`.
#[derive(Copy, Clone, Eq, PartialEq)]
pub struct BadFdError;

impl From<BadFdError> for Error {
    #[inline]
    fn from(_: BadFdError) -> Error {
        EBADF
    }
}

impl fmt::Debug for BadFdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad("EBADF")
    }
}
