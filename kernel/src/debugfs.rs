//! debugfs: files a driver exports for debugging, backed by its data.
//!
//! Mirrors `rust/kernel/debugfs.rs` and `rust/kernel/debugfs/` of Linux 7.3 (the C API of
//! `include/linux/debugfs.h`). A [`Dir`] is a directory; its methods create files that own their
//! data ([`File`], which derefs to it) and are removed when it is dropped. A [`Scope`] is a
//! directory tied to some data: its `init` closure creates files and subdirectories in a
//! [`ScopedDir`] that borrow the data, and dropping the `Scope` removes them all before the data
//! is dropped. What a file shows and takes is the data's [`Writer`] and [`Reader`] (text), or its
//! [`BinaryWriter`] and [`BinaryReader`] (bytes at the file position), or callbacks given when the
//! file is created.
//!
//! | file | mode | a read | a write |
//! |---|---|---|---|
//! | `read_only_file` | `0400` | the data's `Writer` text | `EINVAL` |
//! | `read_write_file` | `0600` | the data's `Writer` text | the whole buffer to `Reader` |
//! | `write_only_file` | `0200` | `EINVAL` | the whole buffer to `Reader` |
//! | `read_binary_file` | `0400` | `BinaryWriter` at the offset | `EINVAL` |
//! | `read_write_binary_file` | `0600` | `BinaryWriter` at the offset | `BinaryReader` at it |
//! | `write_binary_file` | `0200` | `EINVAL` | `BinaryReader` at the offset |
//! | `*_callback_file` | as above | the callback's text | the whole buffer to the callback |
//!
//! As in the kernel, a text file's reads come from the text shown at the open file's first read
//! (and shown again for a read somewhere else than where the last one ended), a text write takes
//! all it is given or fails, and creating a file or directory never fails for the driver: a name
//! that exists already is logged, and the entry (with whatever would go in it) is not created.
//!
//! # Where the files are
//!
//! A driver process's tree is mounted with FUSE while the process runs, at
//! `/run/drydock/debugfs/MODULE.PID` (for root; `$XDG_RUNTIME_DIR/drydock/debugfs/MODULE.PID`
//! otherwise; `DRYDOCK_DEBUGFS=DIR` chooses another place, `DRYDOCK_DEBUGFS=off` none), which
//! stands for `/sys/kernel/debug`: `cat`, `echo >` and `ls` work there as on debugfs, each
//! request's buffer lent to the driver as user memory. Without FUSE (no `/dev/fuse`, or no right
//! to mount), the process logs why once and the files exist only in the process, where tests
//! reach them with `drydock_host::debugfs::{read, write, open}`. `docs/architecture.md` describes
//! the mount.
//!
//! Differences from the kernel: the files belong to the process's user, not to root; no mode or
//! owner can be changed; and a file's `stat` shows size 0 as debugfs does.
//!
//! # Examples
//!
//! ```
//! use kernel::{debugfs::Dir, prelude::*, sync::atomic::{Atomic, Relaxed}};
//!
//! let dir = Dir::new(c"my_driver");
//! let counter = dir.read_write_file(c"counter", Atomic::<u32>::new(0));
//! let counter = KBox::pin_init(counter, GFP_KERNEL)?;
//! counter.store(3, Relaxed);
//! # assert_eq!(drydock_host::debugfs::read("my_driver/counter").unwrap(), b"3\n");
//! // `cat counter` shows `3`; `echo 7 > counter` stores 7.
//! # drydock_host::debugfs::write("my_driver/counter", b"7\n").unwrap();
//! # assert_eq!(counter.load(Relaxed), 7);
//! drop(counter);
//! // The file is gone; `my_driver` goes with `dir`.
//! # assert!(drydock_host::debugfs::metadata("my_driver/counter").is_err());
//! # Ok::<(), Error>(())
//! ```

// Without debugfs, most arguments go unused.
#![cfg_attr(not(CONFIG_DEBUG_FS), allow(unused_variables))]

#[cfg(CONFIG_DEBUG_FS)]
use crate::sync::Arc;
use crate::{fmt, prelude::*, str::CStr, uaccess::UserSliceReader};

#[cfg(CONFIG_DEBUG_FS)]
use core::mem::ManuallyDrop;
use core::{
    marker::{PhantomData, PhantomPinned},
    ops::Deref,
};

mod traits;
pub use traits::{BinaryReader, BinaryReaderMut, BinaryWriter, Reader, Writer};

mod callback_adapters;
use callback_adapters::{FormatAdapter, NoWriter, WritableAdapter};

mod file_ops;
use file_ops::{
    BinaryReadFile, BinaryReadWriteFile, BinaryWriteFile, FileOps, ReadFile, ReadWriteFile,
    WriteFile,
};

#[cfg(CONFIG_DEBUG_FS)]
mod entry;
#[cfg(CONFIG_DEBUG_FS)]
use entry::Entry;

/// A debugfs directory, shared by its clones.
///
/// Mirrors `kernel::debugfs::Dir`. The directory is removed when its last clone is dropped and
/// every file and subdirectory made from it is gone, as each keeps its parent.
// `None`: the directory's entry could not be allocated; nothing is created under it.
#[derive(Clone)]
pub struct Dir(#[cfg(CONFIG_DEBUG_FS)] Option<Arc<Entry<'static>>>);

impl Dir {
    /// A directory `name` in `parent`, or at the root.
    fn create(name: &CStr, parent: Option<&Dir>) -> Self {
        #[cfg(CONFIG_DEBUG_FS)]
        {
            let parent = match parent {
                Some(Dir(None)) => return Self(None),
                Some(Dir(Some(entry))) => Some(entry.clone()),
                None => None,
            };
            // If the `Arc` cannot be allocated, the entry is dropped, which removes it.
            Self(Arc::new(Entry::dynamic_dir(name, parent), GFP_KERNEL).ok())
        }
        #[cfg(not(CONFIG_DEBUG_FS))]
        Self()
    }

    /// A file `name` in this directory, with operations `file_ops`, owning the data `data`
    /// initialises.
    fn create_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
        file_ops: &'static FileOps<T>,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Sync + 'static,
    {
        let scope = Scope::<T>::new(data, move |data| {
            #[cfg(CONFIG_DEBUG_FS)]
            if let Some(parent) = &self.0 {
                // SAFETY: `data` is the scope's, which drops the entry before the data.
                unsafe { Entry::dynamic_file(name, parent.clone(), data, file_ops) }
            } else {
                Entry::empty()
            }
        });
        try_pin_init! {
            File {
                scope <- scope
            } ? E
        }
    }

    /// Creates the directory `name` at the root of debugfs.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::debugfs::Dir;
    /// let debugfs = Dir::new(c"parent");
    /// ```
    pub fn new(name: &CStr) -> Self {
        Dir::create(name, None)
    }

    /// Creates the directory `name` in this one.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::debugfs::Dir;
    /// let parent = Dir::new(c"parent");
    /// let child = parent.subdir(c"child");
    /// ```
    pub fn subdir(&self, name: &CStr) -> Self {
        Dir::create(name, Some(self))
    }

    /// Creates a read-only file `name` (mode `0400`) owning the data `data` initialises, which it
    /// shows with its [`Writer`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::debugfs::Dir;
    /// # use kernel::prelude::*;
    /// # let dir = Dir::new(c"my_debugfs_dir");
    /// let file = KBox::pin_init(dir.read_only_file(c"foo", 200), GFP_KERNEL)?;
    /// // `my_debugfs_dir/foo` shows 200, until `file` is dropped.
    /// # assert_eq!(drydock_host::debugfs::read("my_debugfs_dir/foo").unwrap(), b"200\n");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_only_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Writer + Send + Sync + 'static,
    {
        let file_ops = &<T as ReadFile<_>>::FILE_OPS;
        self.create_file(name, data, file_ops)
    }

    /// Creates a read-only binary file `name` (mode `0400`) owning the data `data` initialises,
    /// whose bytes it shows with its [`BinaryWriter`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::debugfs::Dir;
    /// # use kernel::prelude::*;
    /// # let dir = Dir::new(c"my_debugfs_dir");
    /// let file = KBox::pin_init(dir.read_binary_file(c"foo", [0x1, 0x2]), GFP_KERNEL)?;
    /// // `my_debugfs_dir/foo` holds the array's bytes: two `i32`s.
    /// # let bytes = drydock_host::debugfs::read("my_debugfs_dir/foo").unwrap();
    /// # assert_eq!(bytes, [1, 0, 0, 0, 2, 0, 0, 0]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_binary_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: BinaryWriter + Send + Sync + 'static,
    {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a read-only file `name` (mode `0400`) owning the data `data` initialises, which it
    /// shows with the callback `_f`.
    ///
    /// `_f` must be a function item or a closure that captures nothing; the build fails
    /// otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::{
    /// #     debugfs::Dir,
    /// #     prelude::*,
    /// #     sync::atomic::{Atomic, Relaxed},
    /// # };
    /// # let dir = Dir::new(c"foo");
    /// let file = KBox::pin_init(
    ///     dir.read_callback_file(c"bar", Atomic::<u32>::new(3), &|val, f| {
    ///         let out = val.load(Relaxed);
    ///         writeln!(f, "{out:#010x}")
    ///     }),
    ///     GFP_KERNEL,
    /// )?;
    /// // `foo/bar` shows `0x00000003`.
    /// # assert_eq!(drydock_host::debugfs::read("foo/bar").unwrap(), b"0x00000003\n");
    /// file.store(10, Relaxed);
    /// // Now it shows `0x0000000a`.
    /// # assert_eq!(drydock_host::debugfs::read("foo/bar").unwrap(), b"0x0000000a\n");
    /// # Ok::<(), Error>(())
    /// ```
    pub fn read_callback_file<'a, T, E: 'a, F>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
        _f: &'static F,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
    {
        let file_ops = <FormatAdapter<T, F>>::FILE_OPS.adapt();
        self.create_file(name, data, file_ops)
    }

    /// Creates a read-write file `name` (mode `0600`) owning the data `data` initialises, which it
    /// shows with its [`Writer`] and sets from what is written with its [`Reader`].
    pub fn read_write_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Writer + Reader + Send + Sync + 'static,
    {
        let file_ops = &<T as ReadWriteFile<_>>::FILE_OPS;
        self.create_file(name, data, file_ops)
    }

    /// Creates a read-write binary file `name` (mode `0600`) owning the data `data` initialises,
    /// whose bytes it reads with its [`BinaryWriter`] and writes with its [`BinaryReader`].
    pub fn read_write_binary_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: BinaryWriter + BinaryReader + Send + Sync + 'static,
    {
        let file_ops = &<T as BinaryReadWriteFile<_>>::FILE_OPS;
        self.create_file(name, data, file_ops)
    }

    /// Creates a read-write file `name` (mode `0600`) owning the data `data` initialises, which it
    /// shows with the callback `_f` and to which it gives what is written with the callback `_w`.
    ///
    /// `_f` and `_w` must be function items or closures that capture nothing; the build fails
    /// otherwise.
    pub fn read_write_callback_file<'a, T, E: 'a, F, W>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
        _f: &'static F,
        _w: &'static W,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
        W: Fn(&T, &mut UserSliceReader) -> Result + Send + Sync,
    {
        let file_ops =
            <WritableAdapter<FormatAdapter<T, F>, W> as file_ops::ReadWriteFile<_>>::FILE_OPS
                .adapt()
                .adapt();
        self.create_file(name, data, file_ops)
    }

    /// Creates a write-only file `name` (mode `0200`) owning the data `data` initialises, which it
    /// sets from what is written with its [`Reader`].
    ///
    /// The file is removed when the returned [`File`] is dropped.
    pub fn write_only_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Reader + Send + Sync + 'static,
    {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a write-only binary file `name` (mode `0200`) owning the data `data` initialises,
    /// whose bytes it writes with its [`BinaryReader`].
    ///
    /// The file is removed when the returned [`File`] is dropped.
    pub fn write_binary_file<'a, T, E: 'a>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: BinaryReader + Send + Sync + 'static,
    {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a write-only file `name` (mode `0200`) owning the data `data` initialises, to which
    /// it gives what is written with the callback `_w`.
    ///
    /// `_w` must be a function item or a closure that captures nothing; the build fails
    /// otherwise.
    pub fn write_callback_file<'a, T, E: 'a, W>(
        &'a self,
        name: &'a CStr,
        data: impl PinInit<T, E> + 'a,
        _w: &'static W,
    ) -> impl PinInit<File<T>, E> + 'a
    where
        T: Send + Sync + 'static,
        W: Fn(&T, &mut UserSliceReader) -> Result + Send + Sync,
    {
        let file_ops = <WritableAdapter<NoWriter<T>, W> as WriteFile<_>>::FILE_OPS
            .adapt()
            .adapt();
        self.create_file(name, data, file_ops)
    }

    // Not public: the directory it returns has a `Dir` parent and is never removed unless its
    // entry is taken out and dropped, as `scope` does.
    fn scoped_dir<'data>(&self, name: &CStr) -> ScopedDir<'data, 'static> {
        #[cfg(CONFIG_DEBUG_FS)]
        {
            let parent = match &self.0 {
                None => return ScopedDir::empty(),
                Some(entry) => entry.clone(),
            };
            ScopedDir {
                entry: ManuallyDrop::new(Entry::dynamic_dir(name, Some(parent))),
                _phantom: PhantomData,
            }
        }
        #[cfg(not(CONFIG_DEBUG_FS))]
        ScopedDir::empty()
    }

    /// Creates the directory `name` in this one, tied to the data `data` initialises.
    ///
    /// `init` fills the directory: the files and subdirectories it creates in the [`ScopedDir`]
    /// may borrow the data. Dropping the returned [`Scope`] removes the directory with everything
    /// in it, then drops the data.
    pub fn scope<'a, T: 'a, E: 'a, F>(
        &'a self,
        data: impl PinInit<T, E> + 'a,
        name: &'a CStr,
        init: F,
    ) -> impl PinInit<Scope<T>, E> + 'a
    where
        F: for<'data, 'dir> FnOnce(&'data T, &'dir ScopedDir<'data, 'dir>) + 'a,
    {
        Scope::new(data, |data| {
            let scoped = self.scoped_dir(name);
            init(data, &scoped);
            scoped.into_entry()
        })
    }
}

/// Data tied to a debugfs directory, or to a file, whose entries are removed before the data is
/// dropped, and which does not move while they exist.
///
/// Mirrors `kernel::debugfs::Scope`. It backs [`File`], and [`Dir::scope`] and [`Scope::dir`]
/// return one for a directory whose files borrow the data. It derefs to the data.
#[pin_data]
pub struct Scope<T> {
    // Declared first: the entry is dropped, and with it the files removed, before the data.
    #[cfg(CONFIG_DEBUG_FS)]
    _entry: Entry<'static>,
    #[pin]
    data: T,
    // The files point to the data: it must not move, even if `T: Unpin`.
    #[pin]
    _pin: PhantomPinned,
}

/// A debugfs file owning its data.
///
/// Mirrors `kernel::debugfs::File`. It derefs to the data; dropping it removes the file, then
/// drops the data.
#[pin_data]
pub struct File<T> {
    #[pin]
    scope: Scope<T>,
}

#[cfg(not(CONFIG_DEBUG_FS))]
impl<'b, T: 'b> Scope<T> {
    fn new<E: 'b, F>(data: impl PinInit<T, E> + 'b, init: F) -> impl PinInit<Self, E> + 'b
    where
        F: for<'a> FnOnce(&'a T) + 'b,
    {
        try_pin_init! {
            Self {
                data <- data,
                _pin: PhantomPinned
            } ? E
        }
        .pin_chain(|scope| {
            init(&scope.data);
            Ok(())
        })
    }
}

#[cfg(CONFIG_DEBUG_FS)]
impl<'b, T: 'b> Scope<T> {
    fn entry_mut(self: Pin<&mut Self>) -> &mut Entry<'static> {
        // SAFETY: `_entry` is not structurally pinned, and nothing else is reached.
        unsafe { &mut Pin::into_inner_unchecked(self)._entry }
    }

    /// Initialises the data, then creates the entries with `init`, which get the data in its
    /// final place.
    fn new<E: 'b, F>(data: impl PinInit<T, E> + 'b, init: F) -> impl PinInit<Self, E> + 'b
    where
        F: for<'a> FnOnce(&'a T) -> Entry<'static> + 'b,
    {
        try_pin_init! {
            Self {
                _entry: Entry::empty(),
                data <- data,
                _pin: PhantomPinned
            } ? E
        }
        .pin_chain(|scope| {
            *scope.entry_mut() = init(&scope.data);
            Ok(())
        })
    }
}

impl<'a, T: 'a> Scope<T> {
    /// Creates the directory `name` at the root of debugfs, tied to the data `data` initialises.
    ///
    /// `init` fills the directory: the files and subdirectories it creates in the [`ScopedDir`]
    /// may borrow the data. Dropping the returned [`Scope`] removes the directory with everything
    /// in it, then drops the data.
    pub fn dir<E: 'a, F>(
        data: impl PinInit<T, E> + 'a,
        name: &'a CStr,
        init: F,
    ) -> impl PinInit<Self, E> + 'a
    where
        F: for<'data, 'dir> FnOnce(&'data T, &'dir ScopedDir<'data, 'dir>) + 'a,
    {
        Scope::new(data, |data| {
            let scoped = ScopedDir::new(name);
            init(data, &scoped);
            scoped.into_entry()
        })
    }
}

impl<T> Deref for Scope<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.data
    }
}

impl<T> Deref for File<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.scope
    }
}

/// A directory of a [`Scope`], usable for `'dir`, whose files may borrow data living for
/// `'data`.
///
/// Mirrors `kernel::debugfs::ScopedDir`. Dropping it removes nothing: its entries go when the
/// `Scope` does.
pub struct ScopedDir<'data, 'dir> {
    #[cfg(CONFIG_DEBUG_FS)]
    entry: ManuallyDrop<Entry<'dir>>,
    _phantom: PhantomData<fn(&'data ()) -> &'dir ()>,
}

impl<'data, 'dir> ScopedDir<'data, 'dir> {
    /// Creates the subdirectory `name`, usable while this one is borrowed.
    pub fn dir<'dir2>(&'dir2 self, name: &CStr) -> ScopedDir<'data, 'dir2> {
        ScopedDir {
            #[cfg(CONFIG_DEBUG_FS)]
            entry: ManuallyDrop::new(Entry::dir(name, Some(&*self.entry))),
            _phantom: PhantomData,
        }
    }

    fn create_file<T: Sync>(&self, name: &CStr, data: &'data T, vtable: &'static FileOps<T>) {
        // The scope's directory removes the file with itself.
        #[cfg(CONFIG_DEBUG_FS)]
        core::mem::forget(Entry::file(name, &self.entry, data, vtable));
    }

    /// Creates a read-only file `name` (mode `0400`) showing `data` with its [`Writer`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_only_file<T: Writer + Send + Sync + 'static>(&self, name: &CStr, data: &'data T) {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a read-only binary file `name` (mode `0400`) showing the bytes of `data` with its
    /// [`BinaryWriter`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_binary_file<T: BinaryWriter + Send + Sync + 'static>(
        &self,
        name: &CStr,
        data: &'data T,
    ) {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a read-only file `name` (mode `0400`) showing `data` with the callback `_f`.
    ///
    /// `_f` must be a function item or a closure that captures nothing; the build fails
    /// otherwise. The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_callback_file<T, F>(&self, name: &CStr, data: &'data T, _f: &'static F)
    where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
    {
        let vtable = <FormatAdapter<T, F> as ReadFile<_>>::FILE_OPS.adapt();
        self.create_file(name, data, vtable)
    }

    /// Creates a read-write file `name` (mode `0600`) showing `data` with its [`Writer`] and
    /// setting it from what is written with its [`Reader`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_write_file<T: Writer + Reader + Send + Sync + 'static>(
        &self,
        name: &CStr,
        data: &'data T,
    ) {
        let vtable = &<T as ReadWriteFile<_>>::FILE_OPS;
        self.create_file(name, data, vtable)
    }

    /// Creates a read-write binary file `name` (mode `0600`) reading the bytes of `data` with its
    /// [`BinaryWriter`] and writing them with its [`BinaryReader`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_write_binary_file<T: BinaryWriter + BinaryReader + Send + Sync + 'static>(
        &self,
        name: &CStr,
        data: &'data T,
    ) {
        let vtable = &<T as BinaryReadWriteFile<_>>::FILE_OPS;
        self.create_file(name, data, vtable)
    }

    /// Creates a read-write file `name` (mode `0600`) showing `data` with the callback `_f` and
    /// giving it what is written with the callback `_w`.
    ///
    /// `_f` and `_w` must be function items or closures that capture nothing; the build fails
    /// otherwise. The file is removed with the [`Scope`] this directory belongs to.
    pub fn read_write_callback_file<T, F, W>(
        &self,
        name: &CStr,
        data: &'data T,
        _f: &'static F,
        _w: &'static W,
    ) where
        T: Send + Sync + 'static,
        F: Fn(&T, &mut fmt::Formatter<'_>) -> fmt::Result + Send + Sync,
        W: Fn(&T, &mut UserSliceReader) -> Result + Send + Sync,
    {
        let vtable = <WritableAdapter<FormatAdapter<T, F>, W> as ReadWriteFile<_>>::FILE_OPS
            .adapt()
            .adapt();
        self.create_file(name, data, vtable)
    }

    /// Creates a write-only file `name` (mode `0200`) setting `data` from what is written with
    /// its [`Reader`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn write_only_file<T: Reader + Send + Sync + 'static>(&self, name: &CStr, data: &'data T) {
        let vtable = &<T as WriteFile<_>>::FILE_OPS;
        self.create_file(name, data, vtable)
    }

    /// Creates a write-only binary file `name` (mode `0200`) writing the bytes of `data` with its
    /// [`BinaryReader`].
    ///
    /// The file is removed with the [`Scope`] this directory belongs to.
    pub fn write_binary_file<T: BinaryReader + Send + Sync + 'static>(
        &self,
        name: &CStr,
        data: &'data T,
    ) {
        self.create_file(name, data, &T::FILE_OPS)
    }

    /// Creates a write-only file `name` (mode `0200`) giving `data` what is written with the
    /// callback `_w`.
    ///
    /// `_w` must be a function item or a closure that captures nothing; the build fails
    /// otherwise. The file is removed with the [`Scope`] this directory belongs to.
    pub fn write_only_callback_file<T, W>(&self, name: &CStr, data: &'data T, _w: &'static W)
    where
        T: Send + Sync + 'static,
        W: Fn(&T, &mut UserSliceReader) -> Result + Send + Sync,
    {
        let vtable = &<WritableAdapter<NoWriter<T>, W> as WriteFile<_>>::FILE_OPS
            .adapt()
            .adapt();
        self.create_file(name, data, vtable)
    }

    fn empty() -> Self {
        ScopedDir {
            #[cfg(CONFIG_DEBUG_FS)]
            entry: ManuallyDrop::new(Entry::empty()),
            _phantom: PhantomData,
        }
    }

    #[cfg(CONFIG_DEBUG_FS)]
    fn into_entry(self) -> Entry<'dir> {
        ManuallyDrop::into_inner(self.entry)
    }

    #[cfg(not(CONFIG_DEBUG_FS))]
    fn into_entry(self) {}
}

impl<'data> ScopedDir<'data, 'static> {
    // Not public: a directory without a parent is never removed unless its entry is taken out
    // and dropped, as `Scope::dir` does.
    fn new(name: &CStr) -> ScopedDir<'data, 'static> {
        ScopedDir {
            #[cfg(CONFIG_DEBUG_FS)]
            entry: ManuallyDrop::new(Entry::dir(name, None)),
            _phantom: PhantomData,
        }
    }
}
