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
use std::collections::{BTreeMap, HashMap};
use std::ffi::{CStr, CString};
use std::num::NonZeroU64;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::errno::Errno;
use crate::print::{printk, Level};
use crate::pseudofs::{self, Access, Attr, ROOT};
use file::FileNode;

/// The environment variable that chooses where a driver process mounts its debugfs tree: a
/// directory, or `off` for no mount.
pub const MOUNT_ENV: &str = "DRYDOCK_DEBUGFS";

/// An entry of the tree, a directory or a file (the kernel's `struct dentry *` of one).
///
/// Entries are numbered once and never again: a removed entry's number names nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Dentry(NonZeroU64);

/// An entry's kind, with what it holds.
enum Kind {
    /// A directory and its entries, by name.
    Dir(BTreeMap<CString, u64>),
    /// A file.
    File(Arc<FileNode>),
}

/// An entry in the tree.
struct Node {
    name: CString,
    parent: u64,
    created: SystemTime,
    kind: Kind,
}

/// The process's debugfs tree.
struct Tree {
    nodes: HashMap<u64, Node>,
    next: u64,
}

static TREE: LazyLock<Mutex<Tree>> = LazyLock::new(|| {
    let root = Node {
        name: c"/".to_owned(),
        parent: ROOT,
        created: SystemTime::now(),
        kind: Kind::Dir(BTreeMap::new()),
    };
    Mutex::new(Tree {
        nodes: HashMap::from([(ROOT, root)]),
        next: ROOT + 1,
    })
});

fn tree() -> MutexGuard<'static, Tree> {
    TREE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Creates the directory `name` in `parent`, or at the root (`debugfs_create_dir()`).
///
/// Fails with `EEXIST` (logged) if `parent` has an entry of that name, `ENOENT` if `parent` was
/// removed, `ENOTDIR` if it is a file, and `EACCES` for a name that cannot be an entry's (empty,
/// `.`, `..`, or with a `/`).
pub fn debugfs_create_dir(name: &CStr, parent: Option<Dentry>) -> Result<Dentry, Errno> {
    create(name, parent, Kind::Dir(BTreeMap::new()))
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

fn create(name: &CStr, parent: Option<Dentry>, kind: Kind) -> Result<Dentry, Errno> {
    let bytes = name.to_bytes();
    if bytes.is_empty() || bytes == b"." || bytes == b".." || bytes.contains(&b'/') {
        return Err(Errno::EACCES);
    }
    let mut tree = tree();
    let parent = parent.map_or(ROOT, |parent| parent.0.get());
    let parent_node = tree.nodes.get(&parent).ok_or(Errno::ENOENT)?;
    let Kind::Dir(entries) = &parent_node.kind else {
        return Err(Errno::ENOTDIR);
    };
    if entries.contains_key(name) {
        printk(
            Level::Err,
            "debugfs",
            Some("debugfs"),
            format_args!(
                "'{}' already exists in '{}'",
                name.to_string_lossy(),
                parent_node.name.to_string_lossy()
            ),
        );
        return Err(Errno::EEXIST);
    }
    let number = tree.next;
    let dentry = Dentry(NonZeroU64::new(number).ok_or(Errno::ENOMEM)?);
    tree.next += 1;
    if let Some(Node {
        kind: Kind::Dir(entries),
        ..
    }) = tree.nodes.get_mut(&parent)
    {
        entries.insert(name.to_owned(), number);
    }
    let node = Node {
        name: name.to_owned(),
        parent,
        created: SystemTime::now(),
        kind,
    };
    tree.nodes.insert(number, node);
    Ok(dentry)
}

/// Removes `dentry` and, for a directory, everything under it (`debugfs_remove()`), then waits
/// until no callback runs on the removed files. Nothing happens if it was removed already.
///
/// Like the kernel's, it must not be called from a callback of a file it removes, which it would
/// wait for forever.
pub fn debugfs_remove(dentry: Dentry) {
    let files = {
        let mut tree = tree();
        let number = dentry.0.get();
        let Some(node) = tree.nodes.get(&number) else {
            return;
        };
        let (parent, name) = (node.parent, node.name.clone());
        if let Some(Node {
            kind: Kind::Dir(entries),
            ..
        }) = tree.nodes.get_mut(&parent)
        {
            entries.remove(&name);
        }
        let mut files = Vec::new();
        let mut pending = vec![number];
        while let Some(number) = pending.pop() {
            match tree.nodes.remove(&number).map(|node| node.kind) {
                Some(Kind::Dir(entries)) => pending.extend(entries.into_values()),
                Some(Kind::File(file)) => files.push(file),
                None => {}
            }
        }
        files
    };
    // Outside the tree's lock: a running callback may create or remove entries.
    for file in files {
        file.remove();
    }
}

impl Node {
    fn attr(&self, number: u64) -> Attr {
        let (is_dir, mode) = match &self.kind {
            Kind::Dir(_) if number == ROOT => (true, 0o700),
            Kind::Dir(_) => (true, 0o755),
            Kind::File(file) => (false, file.mode()),
        };
        Attr {
            number,
            metadata: Metadata { is_dir, mode },
            // As on debugfs, files show no size: their content is made when read.
            size: 0,
            created: self.created,
        }
    }
}

/// The process's debugfs tree, as [`crate::pseudofs`] serves it: a directory's mode is `0o755`
/// (`0o700` for the root, as debugfs is mounted), a file's the one it was created with.
pub struct Debugfs;

impl pseudofs::Tree for Debugfs {
    const NAME: &'static str = "debugfs";
    const MOUNT_ENV: &'static str = MOUNT_ENV;
    type File = OpenFile;

    fn attr(number: u64) -> Result<Attr, Errno> {
        let tree = tree();
        let node = tree.nodes.get(&number).ok_or(Errno::ENOENT)?;
        Ok(node.attr(number))
    }

    fn lookup(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
        let tree = tree();
        let node = tree.nodes.get(&parent).ok_or(Errno::ENOENT)?;
        let Kind::Dir(entries) = &node.kind else {
            return Err(Errno::ENOTDIR);
        };
        let name = CString::new(name).map_err(|_| Errno::ENOENT)?;
        let number = *entries.get(&name).ok_or(Errno::ENOENT)?;
        let child = tree.nodes.get(&number).ok_or(Errno::ENOENT)?;
        Ok(child.attr(number))
    }

    fn entries(number: u64) -> Result<(u64, Vec<(CString, Attr)>), Errno> {
        let tree = tree();
        let node = tree.nodes.get(&number).ok_or(Errno::ENOENT)?;
        let Kind::Dir(entries) = &node.kind else {
            return Err(Errno::ENOTDIR);
        };
        let list = entries
            .iter()
            .filter_map(|(name, &child)| {
                let attr = tree.nodes.get(&child)?.attr(child);
                Some((name.clone(), attr))
            })
            .collect();
        Ok((node.parent, list))
    }

    /// Opens file `number` for reading and writing, whatever `access` says: a debugfs file
    /// without a read (or write) operation fails the read (or write) itself, with `EINVAL`.
    fn open(number: u64, _access: Access) -> Result<OpenFile, Errno> {
        let tree = tree();
        match &tree.nodes.get(&number).ok_or(Errno::ENOENT)?.kind {
            Kind::Dir(_) => Err(Errno::EISDIR),
            Kind::File(file) => Ok(OpenFile::new(file.clone())),
        }
    }
}

/// Opens the file at `path` (relative to the tree's root) for reading and writing.
pub fn open(path: &str) -> Result<OpenFile, Errno> {
    pseudofs::open::<Debugfs>(path, Access::READ_WRITE)
}

/// Reads the file at `path` to its end, as `cat` does: one open, reads of a page each.
pub fn read(path: &str) -> Result<Vec<u8>, Errno> {
    pseudofs::read::<Debugfs>(path)
}

/// Writes `data` to the file at `path`, as `echo -n DATA > PATH` does: one open, one write at the
/// start. Returns how many bytes the file took.
pub fn write(path: &str, data: &[u8]) -> Result<usize, Errno> {
    pseudofs::write::<Debugfs>(path, data)
}

/// The names in the directory at `path`, in order.
pub fn read_dir(path: &str) -> Result<Vec<String>, Errno> {
    pseudofs::read_dir::<Debugfs>(path)
}

/// What the entry at `path` is; `ENOENT` if there is none.
pub fn metadata(path: &str) -> Result<Metadata, Errno> {
    pseudofs::metadata::<Debugfs>(path)
}

/// Mounts the process's debugfs tree at `dir` (see [`pseudofs::mount`]).
pub fn mount(dir: &Path) -> Result<Mount, MountError> {
    pseudofs::mount::<Debugfs>(dir)
}

/// Where a driver process of `module` mounts its debugfs tree (see [`pseudofs::mount_dir`]):
/// `$DRYDOCK_DEBUGFS`, else `/run/drydock/debugfs/MODULE.PID` for root; `None` for `off`.
pub fn mount_dir(module: &str) -> Option<PathBuf> {
    pseudofs::mount_dir::<Debugfs>(module)
}

/// Mounts the tree where a driver process of `module` does ([`mount_dir`]), logging where; if it
/// cannot, logs why and how to fix it and returns `None` (see [`pseudofs::mount_for_module`]).
pub fn mount_for_module(module: &str) -> Option<Mount> {
    pseudofs::mount_for_module::<Debugfs>(module)
}
