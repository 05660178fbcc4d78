//! Open files (`struct file`) and the calls the VFS makes on them: `read()`, `write()`,
//! `ioctl()`, `fdinfo`, and the last `fput()` that releases the file.
//!
//! A [`RawFile`] is what a character device's operations receive: its `private_data`, which the
//! driver's `open` sets, its flags, and its position, which the host keeps between reads and
//! writes as the kernel keeps `f_pos`. Files are reference counted ([`get_file`], [`fput`]); the
//! last reference releases the file through its operations' `release`, as the kernel's `__fput()`
//! does, so a driver that keeps a reference to a file delays its release.
//!
//! The calls take the request's data as the kernel does from the calling process: the buffer of a
//! read or a write is lent to the driver as user memory at [`USER_BUFFER`] (through an
//! [`IovIter`]), an ioctl's memory at the caller's own address (`arg`).
//!
//! Differences from the kernel: the VFS's own `ioctl` commands (`FIONBIO`, `FIOCLEX`...) are not
//! handled here (through CUSE, the kernel handles them before the driver); a file has no inode.

use core::ffi::{c_long, c_uint, c_ulong, c_void};
use core::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};

use crate::active::guarded;
use crate::bindings::{
    file_operations, kiocb, loff_t, ITER_DEST, ITER_SOURCE, O_ACCMODE, O_RDONLY, O_WRONLY,
};
use crate::errno::Errno;
use crate::iov::IovIter;
use crate::seq_file::SeqFile;
use crate::uaccess::{UserMemory, USER_BUFFER};

/// The userspace `struct file`: an open file of a character device.
///
/// # Invariants
///
/// - Allocated by [`FileRef::alloc`] on the heap, and freed by the [`fput`] that drops `f_count`
///   to zero, after `f_op`'s `release` if the file was opened.
/// - `private_data` is written only by `f_op`'s `open`, before the file is shared with another
///   thread.
#[repr(C)]
pub struct RawFile {
    /// The driver's data for the file: the device's data before `open`, what `open` stored after.
    pub private_data: *mut c_void,
    /// The flags the file was opened with (`O_RDWR`, `O_NONBLOCK`...).
    pub f_flags: c_uint,
    f_op: &'static file_operations,
    f_count: AtomicUsize,
    f_pos: AtomicI64,
    opened: AtomicBool,
}

// SAFETY: `private_data` is written before the file is shared (type invariant) and only handed to
// the file's operations, which may be called from any thread; the rest is atomic or immutable.
unsafe impl Send for RawFile {}
// SAFETY: as above.
unsafe impl Sync for RawFile {}

/// Takes a reference on `file` (`get_file()`).
///
/// # Safety
///
/// `file` must be a valid file on which the caller holds a reference.
pub unsafe fn get_file(file: *mut RawFile) {
    // SAFETY: valid, by the safety requirements.
    unsafe { &*file }.f_count.fetch_add(1, Ordering::Relaxed);
}

/// Drops a reference on `file` (`fput()`); the last one releases the file: its operations'
/// `release`, if it was opened, then its memory.
///
/// # Safety
///
/// `file` must be a valid file on which the caller owns a reference, which this call consumes.
pub unsafe fn fput(file: *mut RawFile) {
    // SAFETY: valid, by the safety requirements.
    let raw = unsafe { &*file };
    if raw.f_count.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    core::sync::atomic::fence(Ordering::Acquire);
    if raw.opened.load(Ordering::Relaxed) {
        if let Some(release) = raw.f_op.release {
            let _ = guarded("a file's release", || {
                // SAFETY: the last reference is gone, so this is the file's release, which owns
                // its private data; drydock has no inodes.
                Ok(unsafe { release(core::ptr::null_mut(), file) })
            });
        }
    }
    // SAFETY: allocated by `FileRef::alloc` with `Box` (type invariant); this was the last
    // reference, so nothing uses the file any more.
    drop(unsafe { Box::from_raw(file) });
}

/// A counted reference to a [`RawFile`]: a file descriptor's hold on an open file.
///
/// # Invariants
///
/// Owns one reference on a valid file.
pub struct FileRef(NonNull<RawFile>);

// SAFETY: a reference may be used and dropped from any thread (`RawFile` is `Send + Sync`).
unsafe impl Send for FileRef {}
// SAFETY: as above.
unsafe impl Sync for FileRef {}

impl FileRef {
    /// A new file with operations `f_op`, opened with `flags`, whose `private_data` is
    /// `private_data` until its `open` replaces it; not opened yet.
    pub fn alloc(f_op: &'static file_operations, flags: c_uint, private_data: *mut c_void) -> Self {
        let file = Box::new(RawFile {
            private_data,
            f_flags: flags,
            f_op,
            f_count: AtomicUsize::new(1),
            f_pos: AtomicI64::new(0),
            opened: AtomicBool::new(false),
        });
        // INVARIANT: the file's one reference is this value's.
        // SAFETY: `Box::into_raw` never returns null.
        Self(unsafe { NonNull::new_unchecked(Box::into_raw(file)) })
    }

    /// The file, as the operations take it.
    pub fn as_ptr(&self) -> *mut RawFile {
        self.0.as_ptr()
    }

    fn raw(&self) -> &RawFile {
        // SAFETY: the reference keeps the file valid (type invariant).
        unsafe { self.0.as_ref() }
    }

    /// Opens the file: calls its operations' `open`, if any; from then on the last reference
    /// releases it. The file must not be shared with another thread before this returns.
    pub fn open(&self) -> Result<(), Errno> {
        if let Some(open) = self.raw().f_op.open {
            let ret = guarded("open", || {
                // SAFETY: the file is valid and not shared yet, so `open` may set its private
                // data; drydock has no inodes.
                Ok(unsafe { open(core::ptr::null_mut(), self.as_ptr()) })
            })?;
            // CAST: an `int` fits an `isize`.
            Errno::from_count(ret as isize)?;
        }
        self.raw().opened.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Whether the file was opened with `access` (`O_RDONLY` or `O_WRONLY`) or for both.
    fn may(&self, access: c_uint) -> bool {
        let mode = self.raw().f_flags & O_ACCMODE;
        mode == access || mode == crate::bindings::O_RDWR
    }

    /// Reads at most `count` bytes at the file position, as `read()` does, through the
    /// operations' `read_iter`; the position moves past what was read.
    ///
    /// Fails with `EBADF` if the file is not open for reading, `EINVAL` if it cannot be read or
    /// its position is negative, and with the driver's error.
    pub fn read(&self, count: usize) -> Result<Vec<u8>, Errno> {
        if !self.may(O_RDONLY) {
            return Err(Errno::EBADF);
        }
        let read_iter = self.raw().f_op.read_iter.ok_or(Errno::EINVAL)?;
        let mut buf = vec![0; count];
        let done = {
            let _lent = UserMemory::writable(USER_BUFFER, &mut buf);
            let mut iter = IovIter::ubuf(ITER_DEST, USER_BUFFER, count);
            // SAFETY: a read's `iov_iter` over the user memory lent above, and the file.
            self.rw(count, |kiocb| unsafe { read_iter(kiocb, &mut iter) })?
        };
        buf.truncate(done);
        Ok(buf)
    }

    /// Writes `data` at the file position, as `write()` does, through the operations'
    /// `write_iter`; returns how many bytes the driver took, past which the position moves.
    ///
    /// Fails with `EBADF` if the file is not open for writing, `EINVAL` if it cannot be written
    /// or its position is negative, and with the driver's error.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        if !self.may(O_WRONLY) {
            return Err(Errno::EBADF);
        }
        let write_iter = self.raw().f_op.write_iter.ok_or(Errno::EINVAL)?;
        let _lent = UserMemory::readable(USER_BUFFER, data);
        let mut iter = IovIter::ubuf(ITER_SOURCE, USER_BUFFER, data.len());
        // SAFETY: a write's `iov_iter` over the user memory lent above, and the file.
        self.rw(data.len(), |kiocb| unsafe { write_iter(kiocb, &mut iter) })
    }

    /// Runs a read or a write of `count` bytes at the file position (`vfs_read()`,
    /// `new_sync_read()`): the `kiocb` starts at the position, which takes the `kiocb`'s after a
    /// call that did not fail.
    fn rw(&self, count: usize, call: impl FnOnce(*mut kiocb) -> isize) -> Result<usize, Errno> {
        let raw = self.raw();
        let pos: loff_t = raw.f_pos.load(Ordering::Relaxed);
        if pos < 0 {
            return Err(Errno::EINVAL);
        }
        if count == 0 {
            return Ok(0);
        }
        let mut kiocb = kiocb {
            ki_filp: self.as_ptr(),
            ki_pos: pos,
        };
        let done = Errno::from_count(guarded("a read or a write", || Ok(call(&mut kiocb)))?)?;
        // As with the kernel's character devices, concurrent calls on one file race for the
        // position: the last to end sets it.
        raw.f_pos.store(kiocb.ki_pos, Ordering::Relaxed);
        Ok(done.min(count))
    }

    /// Calls the operations' `unlocked_ioctl` (or, with `compat`, `compat_ioctl`, as for a 32-bit
    /// process) with `cmd` and `arg`, `user` lent meanwhile as the caller's memory at address
    /// `arg` (as `ioctl(fd, cmd, user)` from a process whose `user` is at `arg`); returns what the
    /// driver returned, which is negative for an error. `ENOTTY` if the file has no such handler.
    pub fn ioctl(
        &self,
        compat: bool,
        cmd: u32,
        arg: usize,
        user: &mut [u8],
    ) -> Result<c_long, Errno> {
        let f_op = self.raw().f_op;
        let handler = if compat {
            f_op.compat_ioctl
        } else {
            f_op.unlocked_ioctl
        };
        let handler = handler.ok_or(Errno::ENOTTY)?;
        let _lent = (!user.is_empty()).then(|| UserMemory::writable(arg, user));
        // CAST: `unsigned long` is `usize` wide on x86_64.
        guarded("an ioctl", || {
            // SAFETY: the file is valid while referenced; the memory at `arg` is lent above.
            Ok(unsafe { handler(self.as_ptr(), cmd, arg as c_ulong) })
        })
    }

    /// The text the operations' `show_fdinfo` shows for the file (the driver's part of
    /// `/proc/PID/fdinfo/FD`), or `None` if it has none.
    pub fn show_fdinfo(&self) -> Result<Option<String>, Errno> {
        let Some(show) = self.raw().f_op.show_fdinfo else {
            return Ok(None);
        };
        let mut m = SeqFile::default();
        guarded("show_fdinfo", || {
            // SAFETY: `m` is a valid `seq_file` only this call uses; the file is valid.
            unsafe { show(&mut m, self.as_ptr()) };
            Ok(())
        })?;
        Ok(Some(String::from_utf8_lossy(&m.into_text()).into_owned()))
    }
}

impl Clone for FileRef {
    fn clone(&self) -> Self {
        // SAFETY: the file is valid, and this value holds a reference on it (type invariant).
        unsafe { get_file(self.as_ptr()) };
        // INVARIANT: owns the reference taken just above.
        Self(self.0)
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: the value owns a reference on the valid file (type invariant).
        unsafe { fput(self.as_ptr()) };
    }
}

/// Hands a 32-bit process's `ioctl()` to the file's 64-bit handler with `arg` widened as a
/// pointer (`compat_ptr_ioctl()`); `ENOTTY` without one.
///
/// # Safety
///
/// `file` must be a valid file, and `arg`'s memory lent as for its `unlocked_ioctl`.
pub unsafe fn compat_ptr_ioctl(file: *mut RawFile, cmd: c_uint, arg: c_ulong) -> c_long {
    // SAFETY: valid, by the safety requirements.
    match unsafe { &*file }.f_op.unlocked_ioctl {
        // `compat_ptr()` zero-extends a 32-bit user address on x86_64.
        // SAFETY: by the safety requirements.
        Some(ioctl) => unsafe { ioctl(file, cmd, arg & c_ulong::from(u32::MAX)) },
        None => c_long::from(Errno::ENOTTY.to_errno()),
    }
}
