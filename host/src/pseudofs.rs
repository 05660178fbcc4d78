//! What the process's pseudo file systems (debugfs, configfs) share: how a tree is reached by path
//! in the process, and how it is mounted with FUSE for a shell.
//!
//! In the kernel, debugfs (`/sys/kernel/debug`) and configfs (`/sys/kernel/config`) are file
//! systems whose files call drivers when read or written. A driver process keeps each as a tree in
//! memory ([`crate::debugfs`], [`crate::configfs`]) that implements [`Tree`]; this module serves any
//! such tree:
//!
//! - **in process**, by path: [`open`], [`read`], [`write`](fn@write), [`read_dir`],
//!   [`metadata`], [`mkdir`] and [`rmdir`], which tests use and which work without FUSE;
//! - **through FUSE** ([`mount`], [`mount_for_module`]), where the same calls answer the kernel's
//!   requests, so `cat`, `echo >`, `ls`, `mkdir` and `rmdir` work from a shell.

mod fuse;
mod nodes;

pub use fuse::{mount, mount_dir, mount_for_module, Mount, MountError};
pub(crate) use nodes::{Kind, Node, Nodes};

use std::ffi::CString;
use std::time::SystemTime;

use crate::errno::Errno;

/// What kind of entry a path names, with its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Metadata {
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Its permission bits.
    pub mode: u16,
}

/// An entry's number (its inode), kind and creation time.
#[derive(Clone, Copy, Debug)]
pub struct Attr {
    /// The entry's number in its tree; the root's is [`ROOT`].
    pub number: u64,
    /// Its kind and permissions.
    pub metadata: Metadata,
    /// The size `stat()` shows (the content of these files is made when read).
    pub size: u64,
    /// When it was created.
    pub created: SystemTime,
}

/// The number of a tree's root directory (FUSE's root inode).
pub const ROOT: u64 = 1;

/// How a file is opened: for reading, writing or both (`O_RDONLY`, `O_WRONLY`, `O_RDWR`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// Whether the file is opened for reading.
    pub read: bool,
    /// Whether the file is opened for writing.
    pub write: bool,
}

impl Access {
    /// `O_RDONLY`.
    pub const READ: Access = Access {
        read: true,
        write: false,
    };
    /// `O_WRONLY`.
    pub const WRITE: Access = Access {
        read: false,
        write: true,
    };
    /// `O_RDWR`.
    pub const READ_WRITE: Access = Access {
        read: true,
        write: true,
    };
}

/// A file system of the process: its tree of numbered entries, as the FUSE mount and the
/// functions of this module reach it.
///
/// The tree is the process's own (each implementation keeps one), so the operations take no
/// `self`. Errors are those the kernel's file system returns for the same operation.
pub trait Tree: 'static {
    /// The file system's name, as the kernel names it (`debugfs`, `configfs`): the FUSE subtype,
    /// and the directory under `/run/drydock` where driver processes mount it.
    const NAME: &'static str;
    /// The environment variable that chooses where a driver process mounts it (see [`mount_dir`]).
    const MOUNT_ENV: &'static str;
    /// A file opened in the tree.
    type File: File;

    /// The entry numbered `number`; `ENOENT` if there is none.
    fn attr(number: u64) -> Result<Attr, Errno>;
    /// The entry `name` of directory `parent`.
    fn lookup(parent: u64, name: &[u8]) -> Result<Attr, Errno>;
    /// The entries of directory `number`, with the number of its parent.
    fn entries(number: u64) -> Result<(u64, Vec<(CString, Attr)>), Errno>;
    /// Opens file `number` with `access`.
    fn open(number: u64, access: Access) -> Result<Self::File, Errno>;
    /// Makes directory `name` in `parent` (`mkdir(2)`); `EPERM` where the file system has no
    /// `mkdir`, as the kernel's VFS answers.
    fn mkdir(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
        let _ = (parent, name);
        Err(Errno::EPERM)
    }
    /// Removes directory `name` of `parent` (`rmdir(2)`); `EPERM` where the file system has no
    /// `rmdir`.
    fn rmdir(parent: u64, name: &[u8]) -> Result<(), Errno> {
        let _ = (parent, name);
        Err(Errno::EPERM)
    }
}

/// A file opened in a [`Tree`] (`struct file`), as a shell's `cat` or `echo >` opens it.
pub trait File: Send + Sync + 'static {
    /// Reads at most `count` bytes at `offset`, as `pread()` does: an empty result is the end of
    /// the file.
    fn read_at(&self, offset: u64, count: usize) -> Result<Vec<u8>, Errno>;
    /// Writes `data` at `offset`, as `pwrite()` does; returns how many bytes the file took.
    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno>;
}

/// The entry at `path`, relative to the tree's root (`a/b/c`; empty for the root).
pub fn resolve<T: Tree>(path: &str) -> Result<Attr, Errno> {
    path.split('/')
        .filter(|part| !part.is_empty())
        .try_fold(T::attr(ROOT)?, |dir, part| {
            T::lookup(dir.number, part.as_bytes())
        })
}

/// The directory that holds the last component of `path`, and that component; `for_root` if
/// `path` is the root itself.
fn parent_and_name<T: Tree>(path: &str, for_root: Errno) -> Result<(Attr, &str), Errno> {
    let path = path.trim_end_matches('/');
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    if name.is_empty() {
        return Err(for_root);
    }
    Ok((resolve::<T>(parent)?, name))
}

/// Opens the file at `path` with `access`.
pub fn open<T: Tree>(path: &str, access: Access) -> Result<T::File, Errno> {
    T::open(resolve::<T>(path)?.number, access)
}

/// Reads the file at `path` to its end, as `cat` does: one open for reading, reads of a page each.
pub fn read<T: Tree>(path: &str) -> Result<Vec<u8>, Errno> {
    let file = open::<T>(path, Access::READ)?;
    let mut content = Vec::new();
    loop {
        let part = file.read_at(content.len() as u64, 4096)?;
        if part.is_empty() {
            return Ok(content);
        }
        content.extend_from_slice(&part);
    }
}

/// Writes `data` to the file at `path`, as `echo -n DATA > PATH` does: one open for writing, one
/// write at the start. Returns how many bytes the file took.
pub fn write<T: Tree>(path: &str, data: &[u8]) -> Result<usize, Errno> {
    open::<T>(path, Access::WRITE)?.write_at(0, data)
}

/// The names in the directory at `path`, in order.
pub fn read_dir<T: Tree>(path: &str) -> Result<Vec<String>, Errno> {
    let (_, list) = T::entries(resolve::<T>(path)?.number)?;
    Ok(list
        .into_iter()
        .map(|(name, _)| name.to_string_lossy().into_owned())
        .collect())
}

/// What the entry at `path` is; `ENOENT` if there is none.
pub fn metadata<T: Tree>(path: &str) -> Result<Metadata, Errno> {
    Ok(resolve::<T>(path)?.metadata)
}

/// Makes the directory `path`, as `mkdir PATH` does.
pub fn mkdir<T: Tree>(path: &str) -> Result<(), Errno> {
    let (parent, name) = parent_and_name::<T>(path, Errno::EEXIST)?;
    T::mkdir(parent.number, name.as_bytes()).map(drop)
}

/// Removes the directory `path`, as `rmdir PATH` does.
pub fn rmdir<T: Tree>(path: &str) -> Result<(), Errno> {
    let (parent, name) = parent_and_name::<T>(path, Errno::EBUSY)?;
    T::rmdir(parent.number, name.as_bytes())
}

/// Defines, in the module of a [`Tree`] (`$tree`), the functions that reach the tree by path and
/// mount it: `read`, `write`, `read_dir`, `metadata`, `mount`, `mount_dir` and
/// `mount_for_module`, each the function of this module of the same name for that tree.
macro_rules! tree_functions {
    ($tree:ty) => {
        /// Reads the file at `path` (relative to the tree's root) to its end, as `cat` does.
        pub fn read(path: &str) -> Result<Vec<u8>, $crate::errno::Errno> {
            $crate::pseudofs::read::<$tree>(path)
        }

        /// Writes `data` to the file at `path`, as `echo -n DATA > PATH` does: one open, one write
        /// at the start. Returns how many bytes the file took.
        pub fn write(path: &str, data: &[u8]) -> Result<usize, $crate::errno::Errno> {
            $crate::pseudofs::write::<$tree>(path, data)
        }

        /// The names in the directory at `path`, in order.
        pub fn read_dir(path: &str) -> Result<Vec<String>, $crate::errno::Errno> {
            $crate::pseudofs::read_dir::<$tree>(path)
        }

        /// What the entry at `path` is; `ENOENT` if there is none.
        pub fn metadata(path: &str) -> Result<$crate::pseudofs::Metadata, $crate::errno::Errno> {
            $crate::pseudofs::metadata::<$tree>(path)
        }

        /// Mounts the process's tree at `dir` (see [`pseudofs::mount`](crate::pseudofs::mount)).
        pub fn mount(
            dir: &std::path::Path,
        ) -> Result<$crate::pseudofs::Mount, $crate::pseudofs::MountError> {
            $crate::pseudofs::mount::<$tree>(dir)
        }

        /// Where a driver process of `module` mounts the tree (see
        /// [`pseudofs::mount_dir`](crate::pseudofs::mount_dir)); `None` if it mounts none.
        pub fn mount_dir(module: &str) -> Option<std::path::PathBuf> {
            $crate::pseudofs::mount_dir::<$tree>(module)
        }

        /// Mounts the tree where a driver process of `module` does ([`mount_dir`]), logging
        /// where; if it cannot, logs why and how to fix it and returns `None` (see
        /// [`pseudofs::mount_for_module`](crate::pseudofs::mount_for_module)).
        pub fn mount_for_module(module: &str) -> Option<$crate::pseudofs::Mount> {
            $crate::pseudofs::mount_for_module::<$tree>(module)
        }
    };
}

pub(crate) use tree_functions;
