//! debugfs: the files drivers export for debugging, in a tree of the process that a shell can read
//! and write.
//!
//! In the kernel, `debugfs_create_dir()` and `debugfs_create_file_full()` add entries to the
//! debugfs filesystem (`/sys/kernel/debug`), whose files call the driver's callbacks when read or
//! written, and `debugfs_remove()` takes an entry away with everything under it, after waiting
//! for the callbacks running on its files. A driver process keeps the same tree in memory, with
//! the same functions, and shows it in two ways:
//!
//! - **FUSE**: [`mount_for_module`] mounts the tree at a directory of its own while the process
//!   runs (the runner does it for every driver process: `/run/drydock/debugfs/MODULE.PID`, see
//!   [`mount_dir`]), so `cat`, `echo >` and `ls` work on it from a shell as on
//!   `/sys/kernel/debug` ([`crate::pseudofs`] serves it). Each request's buffer is lent to the
//!   file's callbacks as user memory, so a driver reads and writes it through `UserSliceReader`
//!   and `UserSliceWriter` as in the kernel.
//! - **In process**: [`open`], [`read`], [`write`](fn@write), [`read_dir`] and [`metadata`] reach
//!   the same files by path, through the same code: tests use them, and they work without FUSE.
//!
//! Files behave as the kernel's: a text file's reads come from the text its `show` produced at
//! the first read of the open file (`seq_file`), a write hands the driver the whole buffer, a file
//! without a read (or write) operation fails reads (or writes) with `EINVAL`, an open file of a
//! removed entry fails with `EIO`, and creating an entry whose name exists fails with `EEXIST`,
//! logged as the kernel logs it. What differs: the files' owner is the process's user, and no
//! mode, owner or name can be changed through the mount.

mod file;

pub use crate::pseudofs::{Metadata, Mount, MountError};
pub use file::{FileOperations, OpenFile, ReadFn, SeqFile, ShowFn, WriteFn, USER_BUFFER};

use core::ffi::c_void;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::num::NonZeroU64;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::errno::Errno;
use crate::print::{printk, Level};
use crate::pseudofs::{self, Access, Attr, Kind, Node, Nodes, ROOT};
use file::FileNode;

/// The environment variable that chooses where a driver process mounts its debugfs tree: a
/// directory, or `off` for no mount.
pub const MOUNT_ENV: &str = "DRYDOCK_DEBUGFS";

/// An entry of the tree, a directory or a file (the kernel's `struct dentry *` of one).
///
/// Entries are numbered once and never again: a removed entry's number names nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dentry(NonZeroU64);

/// The process's debugfs tree: its directories hold nothing more than their entries, its files
/// their operations and data.
type Tree = Nodes<(), Arc<FileNode>>;

static TREE: LazyLock<Mutex<Tree>> = LazyLock::new(|| Mutex::new(Nodes::new(())));

fn tree() -> MutexGuard<'static, Tree> {
    TREE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates the directory `name` in `parent`, or at the root (`debugfs_create_dir()`).
///
/// Fails with `EEXIST` (logged) if `parent` has an entry of that name, `ENOENT` if `parent` was
/// removed, `ENOTDIR` if it is a file, and `EACCES` for a name that cannot be an entry's (empty,
/// `.`, `..`, or with a `/`).
pub fn debugfs_create_dir(name: &CStr, parent: Option<Dentry>) -> Result<Dentry, Errno> {
    let kind = Kind::Dir {
        entries: BTreeMap::new(),
        data: (),
    };
    create(name, parent, kind)
}

/// Creates the file `name` with permissions `mode` in `parent`, or at the root
/// (`debugfs_create_file_full()`): reads and writes call `fops`'s callbacks with `data`.
///
/// Fails as [`debugfs_create_dir`] does.
///
/// # Safety
///
/// `data` must be valid for `fops`'s callbacks, which may be called from any thread, until
/// [`debugfs_remove`] of the file, or of a directory above it, returned.
pub unsafe fn debugfs_create_file_full(
    name: &CStr,
    mode: u16,
    parent: Option<Dentry>,
    data: *const c_void,
    fops: &'static FileOperations,
) -> Result<Dentry, Errno> {
    // SAFETY: by the safety requirements; the file is removed only by `debugfs_remove`.
    let file = unsafe { FileNode::new(mode, fops, data) };
    create(name, parent, Kind::File(Arc::new(file)))
}

fn create(
    name: &CStr,
    parent: Option<Dentry>,
    kind: Kind<(), Arc<FileNode>>,
) -> Result<Dentry, Errno> {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err(Errno::EACCES);
    }
    let mut tree = tree();
    let parent = parent.map_or(ROOT, |parent| parent.0.get());
    match tree.add(parent, name, kind) {
        Ok(number) => NonZeroU64::new(number).map(Dentry).ok_or(Errno::ENOMEM),
        Err(Errno::EEXIST) => {
            let parent = tree.get(parent).map(|node| node.name.to_string_lossy());
            printk(
                Level::Err,
                "debugfs",
                Some("debugfs"),
                format_args!(
                    "'{}' already exists in '{}'",
                    name.to_string_lossy(),
                    parent.unwrap_or_default()
                ),
            );
            Err(Errno::EEXIST)
        }
        Err(err) => Err(err),
    }
}

/// Removes `dentry` and, for a directory, everything under it (`debugfs_remove()`), then waits
/// until no callback runs on the removed files. Nothing happens if it was removed already.
///
/// Like the kernel's, it must not be called from a callback of a file it removes, which it would
/// wait for forever.
pub fn debugfs_remove(dentry: Dentry) {
    let removed = tree().remove(dentry.0.get());
    // Outside the tree's lock: a running callback may create or remove entries.
    for node in removed {
        if let Kind::File(file) = node.kind {
            file.remove();
        }
    }
}

/// What `stat()` shows of an entry: a directory has mode `0o755` (`0o700` for the root, as debugfs
/// is mounted) and size 0, a file the mode it was created with and, unlike on debugfs, a size
/// above its content ([`FileNode::size_bound`]).
fn stat(number: u64, node: &Node<(), Arc<FileNode>>) -> (Metadata, u64) {
    let (is_dir, mode, size) = match &node.kind {
        Kind::Dir { .. } if number == ROOT => (true, 0o700, 0),
        Kind::Dir { .. } => (true, 0o755, 0),
        Kind::File(file) => (false, file.mode(), file.size_bound()),
    };
    (Metadata { is_dir, mode }, size)
}

/// The process's debugfs tree, as [`crate::pseudofs`] serves it: a directory's mode is `0o755`
/// (`0o700` for the root, as debugfs is mounted), a file's the one it was created with.
pub struct Debugfs;

impl pseudofs::Tree for Debugfs {
    const NAME: &'static str = "debugfs";
    const MOUNT_ENV: &'static str = MOUNT_ENV;
    type File = OpenFile;

    fn attr(number: u64) -> Result<Attr, Errno> {
        tree().attr(number, stat)
    }

    fn lookup(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
        tree().lookup_attr(parent, name, stat)
    }

    fn entries(number: u64) -> Result<(u64, Vec<(CString, Attr)>), Errno> {
        tree().list(number, stat)
    }

    /// Opens file `number` for reading and writing, whatever `access` says: a debugfs file
    /// without a read (or write) operation fails the read (or write) itself, with `EINVAL`.
    fn open(number: u64, _access: Access) -> Result<OpenFile, Errno> {
        match &tree().get(number)?.kind {
            Kind::Dir { .. } => Err(Errno::EISDIR),
            Kind::File(file) => Ok(OpenFile::new(file.clone())),
        }
    }
}

/// Opens the file at `path` (relative to the tree's root) for reading and writing.
pub fn open(path: &str) -> Result<OpenFile, Errno> {
    pseudofs::open::<Debugfs>(path, Access::READ_WRITE)
}

pseudofs::tree_functions!(Debugfs);
