//! The operations of each kind of debugfs file, built at compile time for the file's data type.
//!
//! A text file shows its data through the host's `seq_file` code ([`Writer`]); a text write hands
//! the whole buffer to [`Reader`], ignoring the position, and takes all of it; binary files read
//! and write at the file position ([`BinaryWriter`], [`BinaryReader`]). The host calls each
//! operation with the file's data pointer and the request's buffer, lent as user memory.

use super::{BinaryReader, BinaryWriter, Reader, Writer};

use crate::{debugfs::callback_adapters::Adapter, fmt, fs::file, prelude::*, uaccess::UserSlice};

use drydock_host::debugfs::{FileOperations, SeqFile};

use core::marker::PhantomData;

#[cfg(CONFIG_DEBUG_FS)]
use core::ops::Deref;

/// The operations of a file whose data is a `T`, with its permissions.
///
/// # Invariants
///
/// `operations` may be called with a pointer to a `T` that is valid, and not mutably borrowed,
/// for the call. The layout does not depend on `T`.
#[repr(C)]
pub(super) struct FileOps<T> {
    #[cfg(CONFIG_DEBUG_FS)]
    operations: FileOperations,
    #[cfg(CONFIG_DEBUG_FS)]
    mode: u16,
    _phantom: PhantomData<T>,
}

impl<T> FileOps<T> {
    /// # Safety
    ///
    /// `operations` must be callable with a pointer to a `T` that is valid, and not mutably
    /// borrowed, for the call.
    const unsafe fn new(operations: FileOperations, mode: u16) -> Self {
        #[cfg(not(CONFIG_DEBUG_FS))]
        let _ = (operations, mode);
        // INVARIANT: by the safety requirements; `#[repr(C)]` with a marker for `T`.
        Self {
            #[cfg(CONFIG_DEBUG_FS)]
            operations,
            #[cfg(CONFIG_DEBUG_FS)]
            mode,
            _phantom: PhantomData,
        }
    }

    /// The file's permissions.
    #[cfg(CONFIG_DEBUG_FS)]
    pub(crate) const fn mode(&self) -> u16 {
        self.mode
    }
}

impl<T: Adapter> FileOps<T> {
    /// The same operations, for a file whose data is the adapter's inner type.
    pub(super) const fn adapt(&self) -> &FileOps<T::Inner> {
        // SAFETY: the layout of `FileOps` does not depend on its parameter (type invariant), and
        // a pointer to a `T::Inner` is usable as a pointer to a `T` (`Adapter`), so the
        // operations may be called with one.
        unsafe { &*core::ptr::from_ref(self).cast::<FileOps<T::Inner>>() }
    }
}

#[cfg(CONFIG_DEBUG_FS)]
impl<T> Deref for FileOps<T> {
    type Target = FileOperations;

    fn deref(&self) -> &FileOperations {
        &self.operations
    }
}

/// Shows a [`Writer`] through `Display`.
struct WriterAdapter<T>(T);

impl<T: Writer> fmt::Display for WriterAdapter<&T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f)
    }
}

/// Shows the `T` at `data` into `m` (a `seq_file`'s `show`).
///
/// # Safety
///
/// `data` must point to a `T` that is valid, and not mutably borrowed, for the call.
unsafe fn writer_show<T: Writer + Sync>(m: &mut SeqFile, data: *const c_void) {
    // SAFETY: by the safety requirements.
    let data = unsafe { &*data.cast::<T>() };
    // As the kernel's `seq_print!`, a formatting error ends the text where it stopped.
    let _ = fmt::Write::write_fmt(m, format_args!("{}", WriterAdapter(data)));
}

/// Gives the `count` bytes of user memory at `buf` to the `T` at `data`'s [`Reader`]; returns
/// `count`, or the reader's error.
///
/// # Safety
///
/// `data` must point to a `T` that is valid, and not mutably borrowed, for the call.
unsafe fn reader_write<T: Reader + Sync>(
    data: *const c_void,
    buf: *const c_char,
    count: usize,
    _pos: &mut file::Offset,
) -> isize {
    // SAFETY: by the safety requirements.
    let data = unsafe { &*data.cast::<T>() };
    let mut reader = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
    match data.read_from_slice(&mut reader) {
        // CAST: a write's size fits an `isize`.
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// Copies the `T` at `data`'s bytes from `*pos` into the `count` bytes of user memory at `buf`
/// ([`BinaryWriter`]).
///
/// # Safety
///
/// `data` must point to a `T` that is valid, and not mutably borrowed, for the call.
unsafe fn blob_read<T: BinaryWriter>(
    data: *const c_void,
    buf: *mut c_char,
    count: usize,
    pos: &mut file::Offset,
) -> isize {
    // SAFETY: by the safety requirements.
    let this = unsafe { &*data.cast::<T>() };
    let mut writer = UserSlice::new(UserPtr::from_ptr(buf.cast()), count).writer();
    match this
        .write_to_slice(&mut writer, pos)
        .and_then(|n| Ok(isize::try_from(n)?))
    {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

/// Copies the `count` bytes of user memory at `buf` into the `T` at `data`'s bytes from `*pos`
/// ([`BinaryReader`]).
///
/// # Safety
///
/// `data` must point to a `T` that is valid, and not mutably borrowed, for the call.
unsafe fn blob_write<T: BinaryReader>(
    data: *const c_void,
    buf: *const c_char,
    count: usize,
    pos: &mut file::Offset,
) -> isize {
    // SAFETY: by the safety requirements.
    let this = unsafe { &*data.cast::<T>() };
    let mut reader = UserSlice::new(UserPtr::from_ptr(buf.cast_mut().cast()), count).reader();
    match this
        .read_from_slice(&mut reader, pos)
        .and_then(|n| Ok(isize::try_from(n)?))
    {
        Ok(n) => n,
        Err(e) => e.to_errno() as isize,
    }
}

// Generic constants of a type are written as associated constants of a trait.

/// The operations of a read-only text file (mode `0400`).
pub(crate) trait ReadFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: Writer + Sync> ReadFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: Some(writer_show::<T>),
            read: None,
            write: None,
        };
        // SAFETY: `writer_show::<T>` needs a valid, not mutably borrowed `T`.
        unsafe { FileOps::new(operations, 0o400) }
    };
}

/// The operations of a read-write text file (mode `0600`).
pub(crate) trait ReadWriteFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: Writer + Reader + Sync> ReadWriteFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: Some(writer_show::<T>),
            read: None,
            write: Some(reader_write::<T>),
        };
        // SAFETY: `writer_show::<T>` and `reader_write::<T>` need a valid, not mutably borrowed
        // `T`.
        unsafe { FileOps::new(operations, 0o600) }
    };
}

/// The operations of a write-only text file (mode `0200`).
pub(crate) trait WriteFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: Reader + Sync> WriteFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: None,
            read: None,
            write: Some(reader_write::<T>),
        };
        // SAFETY: `reader_write::<T>` needs a valid, not mutably borrowed `T`.
        unsafe { FileOps::new(operations, 0o200) }
    };
}

/// The operations of a read-only binary file (mode `0400`).
pub(crate) trait BinaryReadFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: BinaryWriter + Sync> BinaryReadFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: None,
            read: Some(blob_read::<T>),
            write: None,
        };
        // SAFETY: `blob_read::<T>` needs a valid, not mutably borrowed `T`.
        unsafe { FileOps::new(operations, 0o400) }
    };
}

/// The operations of a write-only binary file (mode `0200`).
pub(crate) trait BinaryWriteFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: BinaryReader + Sync> BinaryWriteFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: None,
            read: None,
            write: Some(blob_write::<T>),
        };
        // SAFETY: `blob_write::<T>` needs a valid, not mutably borrowed `T`.
        unsafe { FileOps::new(operations, 0o200) }
    };
}

/// The operations of a read-write binary file (mode `0600`).
pub(crate) trait BinaryReadWriteFile<T> {
    const FILE_OPS: FileOps<T>;
}

impl<T: BinaryWriter + BinaryReader + Sync> BinaryReadWriteFile<T> for T {
    const FILE_OPS: FileOps<T> = {
        let operations = FileOperations {
            show: None,
            read: Some(blob_read::<T>),
            write: Some(blob_write::<T>),
        };
        // SAFETY: `blob_read::<T>` and `blob_write::<T>` need a valid, not mutably borrowed `T`.
        unsafe { FileOps::new(operations, 0o600) }
    };
}
