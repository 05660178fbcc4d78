//! A debugfs file: its operations, its users, and what an open file reads and writes.
//!
//! A file's [`FileOperations`] are the kernel's `struct file_operations` reduced to what debugfs
//! files use: a `show` for text files, whose reads the host serves as the kernel's `seq_file`
//! code (`single_open()`, `seq_read()`) does, or a `read` at a position for other files, and a
//! `write` at a position. The callbacks reach the request's buffer as user memory: the host lends
//! it to the calling thread ([`crate::uaccess::UserMemory`]) at [`USER_BUFFER`] for the call.
//!
//! A file counts the callbacks running on it, as the kernel's debugfs proxy does
//! (`debugfs_file_get()`): removing the file waits until none runs, so the data the callbacks
//! borrow may be freed right after, and an open file of a removed entry fails with `EIO`.

use core::ffi::{c_char, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::active::{ActiveUse, ActiveUsers};
use crate::bindings::loff_t;
use crate::dma::memory::PAGE_SIZE;
use crate::errno::Errno;
pub use crate::seq_file::SeqFile;
use crate::uaccess::UserMemory;
pub use crate::uaccess::USER_BUFFER;

/// Shows the whole text of a file into `m` (a `seq_file`'s `show`, for `single_open()`).
pub type ShowFn = unsafe fn(m: &mut SeqFile, data: *const c_void);

/// Reads at most `count` bytes at `*pos` into user memory at `buf`, advancing `*pos`; returns the
/// number of bytes read or a negative errno (`file_operations::read`).
pub type ReadFn =
    unsafe fn(data: *const c_void, buf: *mut c_char, count: usize, pos: &mut loff_t) -> isize;

/// Writes `count` bytes from user memory at `buf` at `*pos`; returns the number of bytes taken or
/// a negative errno (`file_operations::write`).
pub type WriteFn =
    unsafe fn(data: *const c_void, buf: *const c_char, count: usize, pos: &mut loff_t) -> isize;

/// What a debugfs file does when it is read or written (`struct file_operations`).
///
/// Each callback is given the `data` pointer the file was created with. A file reads through
/// `show` if it has one, else through `read`; one with neither fails reads with `EINVAL`, and one
/// without `write` fails writes with `EINVAL`, as the kernel's do.
pub struct FileOperations {
    /// Shows the text of the file, as a `seq_file` does: an open file's reads are served from the
    /// text shown at its first read, and shown again for a read at another position than where
    /// the previous one ended.
    pub show: Option<ShowFn>,
    /// Reads at a position.
    pub read: Option<ReadFn>,
    /// Writes at a position.
    pub write: Option<WriteFn>,
}

/// A file of the tree, shared by the tree and the files opened on it.
///
/// # Invariants
///
/// Until `users` was removed and no callback it counts runs, `data` is valid for `fops`'s
/// callbacks, from any thread (the promise of whoever created the file).
pub(super) struct FileNode {
    mode: u16,
    fops: &'static FileOperations,
    data: *const c_void,
    users: ActiveUsers,
    /// The most bytes any read found in the file: a text file's longest rendering, the furthest
    /// end of a read that returned data.
    extent: AtomicU64,
}

// SAFETY: `data` is only passed to `fops`'s callbacks, which may be called from any thread
// (invariant); the rest is thread-safe.
unsafe impl Send for FileNode {}
// SAFETY: as above.
unsafe impl Sync for FileNode {}

impl FileNode {
    /// A file with permissions `mode` whose operations `fops` are called with `data`.
    ///
    /// # Safety
    ///
    /// `data` must be valid for `fops`'s callbacks, from any thread, until the file is removed
    /// ([`FileNode::remove`] returned).
    pub(super) unsafe fn new(
        mode: u16,
        fops: &'static FileOperations,
        data: *const c_void,
    ) -> Self {
        // INVARIANT: by the safety requirements.
        Self {
            mode,
            fops,
            data,
            users: ActiveUsers::default(),
            extent: AtomicU64::new(0),
        }
    }

    /// The file's permissions.
    pub(super) fn mode(&self) -> u16 {
        self.mode
    }

    /// The size `stat()` shows through the FUSE mount: 0 for a file that cannot be read, as
    /// on debugfs, and otherwise a bound above its content: a page multiple past the most bytes a
    /// read found so far, at least one page.
    ///
    /// debugfs files show no size, which readers ignore; but on FUSE, a `sendfile()` or
    /// `splice()` from the file (busybox's `cat`, `cp`) goes through the page cache, which
    /// stops at the size, so a file showing 0 would read as empty. With a bound above, such a
    /// read asks for a page and gets the content, and the kernel takes the short read as the
    /// end of the file. Content that grew past the bound since the last read is cut at the
    /// bound by those calls only; `read()` always gets all of it.
    pub(super) fn size_bound(&self) -> u64 {
        let FileOperations { show, read, .. } = *self.fops;
        if show.is_none() && read.is_none() {
            return 0;
        }
        (self.extent.load(Ordering::Relaxed) + 1).next_multiple_of(PAGE_SIZE as u64)
    }

    /// Notes that a read found `bytes` bytes in the file.
    fn found(&self, bytes: u64) {
        self.extent.fetch_max(bytes, Ordering::Relaxed);
    }

    /// Counts a callback about to run (`debugfs_file_get()`); `EIO` once the file is removed.
    fn get(&self) -> Result<ActiveUse<'_>, Errno> {
        self.users.get().ok_or(Errno::EIO)
    }

    /// Marks the file removed and waits until no callback runs on it.
    pub(super) fn remove(&self) {
        self.users.remove();
    }
}

/// What a text file's open file has shown: the text, and where the last read ended.
struct Shown {
    text: Vec<u8>,
    end: u64,
}

/// A file opened for reading and writing (`struct file`), as a shell's `cat` or `echo >` opens
/// it, through the FUSE mount or in-process.
pub struct OpenFile {
    file: Arc<FileNode>,
    shown: Mutex<Option<Shown>>,
}

impl OpenFile {
    pub(super) fn new(file: Arc<FileNode>) -> Self {
        Self {
            file,
            shown: Mutex::new(None),
        }
    }

    /// The file's permissions (`0o400`, `0o600`...).
    pub fn mode(&self) -> u16 {
        self.file.mode
    }

    /// Reads at most `count` bytes at `offset`, as `pread()` does: an empty result is the end of
    /// the file. `EIO` if the file was removed since it was opened, `EINVAL` if it cannot be read.
    pub fn read_at(&self, offset: u64, count: usize) -> Result<Vec<u8>, Errno> {
        let _use = self.file.get()?;
        let FileOperations { show, read, .. } = *self.file.fops;
        if let Some(show) = show {
            let mut shown = self.shown.lock().unwrap_or_else(PoisonError::into_inner);
            let text = match shown.take() {
                Some(shown) if shown.end == offset => shown.text,
                _ => {
                    let mut m = SeqFile::default();
                    // SAFETY: `_use` counts this call, so `data` is valid for the callback
                    // (`FileNode`'s invariant).
                    unsafe { show(&mut m, self.file.data) };
                    m.into_text()
                }
            };
            self.file.found(text.len() as u64);
            let start = usize::try_from(offset).map_or(text.len(), |o| o.min(text.len()));
            let part = text[start..][..count.min(text.len() - start)].to_vec();
            *shown = Some(Shown {
                end: offset + part.len() as u64,
                text,
            });
            return Ok(part);
        }
        let read = read.ok_or(Errno::EINVAL)?;
        let mut pos = loff_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        let mut buf = vec![0; count];
        let lent = UserMemory::writable(USER_BUFFER, &mut buf);
        // SAFETY: `_use` counts this call, so `data` is valid for the callback (`FileNode`'s
        // invariant); the buffer is user memory of this thread while `lent` lives.
        let done = unsafe {
            read(
                self.file.data,
                core::ptr::without_provenance_mut(USER_BUFFER),
                count,
                &mut pos,
            )
        };
        drop(lent);
        buf.truncate(Errno::from_count(done)?.min(count));
        if !buf.is_empty() {
            self.file.found(offset + buf.len() as u64);
        }
        Ok(buf)
    }

    /// Writes `data` at `offset`, as `pwrite()` does; returns how many bytes the file took. `EIO`
    /// if the file was removed since it was opened, `EINVAL` if it cannot be written.
    pub fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let _use = self.file.get()?;
        let write = self.file.fops.write.ok_or(Errno::EINVAL)?;
        let mut pos = loff_t::try_from(offset).map_err(|_| Errno::EINVAL)?;
        let _lent = UserMemory::readable(USER_BUFFER, data);
        // SAFETY: `_use` counts this call, so `data` is valid for the callback (`FileNode`'s
        // invariant); the buffer is user memory of this thread while `_lent` lives.
        let done = unsafe {
            write(
                self.file.data,
                core::ptr::without_provenance(USER_BUFFER),
                data.len(),
                &mut pos,
            )
        };
        Ok(Errno::from_count(done)?.min(data.len()))
    }
}

impl crate::pseudofs::File for OpenFile {
    fn read_at(&self, offset: u64, count: usize) -> Result<Vec<u8>, Errno> {
        OpenFile::read_at(self, offset, count)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        OpenFile::write_at(self, offset, data)
    }
}
