//! The process's debugfs tree, mounted with FUSE for a shell to read and write.
//!
//! [`mount`] serves the tree at a directory through the kernel's FUSE (the `fuser` crate speaks
//! its protocol over `/dev/fuse`; no libfuse is needed, and a root process mounts directly): one
//! thread reads the kernel's requests and answers them from the tree, calling the files'
//! callbacks on that thread with the request's buffer lent as user memory. Every entry is looked up
//! and every attribute read again at each access (nothing is cached by the kernel), and every file
//! is opened for direct I/O, so a read or a write reaches the driver as the `read()` or `write()`
//! of a shell made it, at its position, as on debugfs.
//!
//! [`mount_for_module`] picks the directory a driver process uses (see [`mount_dir`]): the runner
//! calls it for every driver process and keeps the [`Mount`] until the module is unloaded, when
//! dropping it unmounts the tree and removes the directory. A process killed with `SIGKILL` leaves
//! its mount behind (`ls` then says "Transport endpoint is not connected"): the next process that
//! mounts in the same directory removes such leftovers, or `umount -l DIR` does.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use std::{collections::HashMap, io};

use fuser::{
    BsdFileFlags, Config, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, MountOption, OpenFlags, ReplyAttr, ReplyData, ReplyDirectory, ReplyEmpty,
    ReplyEntry, ReplyOpen, ReplyWrite, ReplyXattr, Request, TimeOrNow, WriteFlags,
};

use super::{attr, entries, lookup, open_number, Attr, OpenFile};
use crate::active::guarded;
use crate::errno::Errno;

/// The environment variable that chooses where a driver process mounts its debugfs tree: a
/// directory, or `off` for no mount.
pub const MOUNT_ENV: &str = "DRYDOCK_DEBUGFS";

/// How long the kernel may keep what a reply says: not at all, since entries come and go with the
/// driver's data.
const NO_CACHE: Duration = Duration::ZERO;

/// A mounted debugfs tree, unmounted when dropped.
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    dir: PathBuf,
}

impl Mount {
    /// The directory the tree is mounted at.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if let Some(session) = self.session.take() {
            if let Err(err) = session.umount_and_join() {
                // Busy (a shell's current directory is in it): detach it; the kernel drops it
                // when its last user leaves.
                log::debug!(target: "drydock", "debugfs: unmounting {}: {err}", self.dir.display());
                let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Why the tree could not be mounted, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("cannot mount the debugfs tree at {dir}: {err}; {fix}")]
pub struct MountError {
    /// Where the tree was to be mounted.
    pub dir: PathBuf,
    /// What failed.
    pub err: io::Error,
    /// What to do.
    pub fix: &'static str,
}

impl MountError {
    fn new(dir: &Path, err: io::Error) -> Self {
        let fix = if !Path::new("/dev/fuse").exists() {
            "the kernel has no FUSE: load it with `modprobe fuse` (CONFIG_FUSE_FS)"
        } else if err.kind() == io::ErrorKind::PermissionDenied {
            "run the driver as root, or install fusermount3 (Debian: `apt install fuse3`) for an \
             unprivileged mount"
        } else {
            "check that the directory can be created and mounted on, or choose another with \
             DRYDOCK_DEBUGFS=DIR"
        };
        Self {
            dir: dir.to_owned(),
            err,
            fix,
        }
    }
}

/// Mounts the process's debugfs tree at `dir`, creating the directory (and removing what a killed
/// process left mounted there) first.
pub fn mount(dir: &Path) -> Result<Mount, MountError> {
    if let Some(parent) = dir.parent() {
        remove_leftovers(parent);
    }
    // A directory still mounted by a process that died is not a directory any more.
    if std::fs::metadata(dir).is_err() {
        let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
    }
    std::fs::create_dir_all(dir).map_err(|err| MountError::new(dir, err))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName("drydock-debugfs".into()),
        MountOption::Subtype("debugfs".into()),
        MountOption::DefaultPermissions,
        MountOption::NoSuid,
        MountOption::NoDev,
        MountOption::NoExec,
    ];
    match fuser::spawn_mount(DebugFs::default(), dir, &config) {
        Ok(session) => Ok(Mount {
            session: Some(session),
            dir: dir.to_owned(),
        }),
        Err(err) => {
            let _ = std::fs::remove_dir(dir);
            Err(MountError::new(dir, err))
        }
    }
}

/// Where a driver process of `module` mounts its tree: `$DRYDOCK_DEBUGFS` if set, else
/// `/run/drydock/debugfs/MODULE.PID` for root, `$XDG_RUNTIME_DIR/drydock/debugfs/MODULE.PID` for
/// other users (`/tmp/drydock-debugfs-UID/MODULE.PID` without one); `None` if `DRYDOCK_DEBUGFS`
/// is `off`.
pub fn mount_dir(module: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(MOUNT_ENV) {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    let base = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/drydock")
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(runtime).join("drydock")
    } else {
        std::env::temp_dir().join(format!("drydock-debugfs-{}", nix::unistd::geteuid()))
    };
    Some(
        base.join("debugfs")
            .join(format!("{module}.{}", std::process::id())),
    )
}

/// Mounts the tree where a driver process of `module` does ([`mount_dir`]), logging where; if it
/// cannot, logs why and how to fix it (once per process) and returns `None`: the driver's files
/// then exist only in the process.
pub fn mount_for_module(module: &str) -> Option<Mount> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let dir = mount_dir(module)?;
    match mount(&dir) {
        Ok(mount) => {
            log::info!(target: "drydock", "{module}: debugfs at {}", dir.display());
            Some(mount)
        }
        Err(err) => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                log::warn!(
                    target: "drydock",
                    "{module}: {err} (the driver's debugfs files exist only inside the process)"
                );
            }
            None
        }
    }
}

/// Unmounts and removes the directories in `parent` named `NAME.PID` whose process is gone: what
/// processes killed before unmounting left.
fn remove_leftovers(parent: &Path) {
    let Ok(dirs) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in dirs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|name| name.rsplit_once('.'))
            .and_then(|(_, pid)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        let path = entry.path();
        let _ = nix::mount::umount2(&path, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir(&path);
    }
}

/// Answers the kernel's FUSE requests from the tree.
#[derive(Default)]
struct DebugFs {
    /// The open files and directories, by handle.
    handles: Mutex<HashMap<u64, Handle>>,
    next_handle: AtomicU64,
}

/// What a handle stands for.
enum Handle {
    /// An open file.
    File(Arc<OpenFile>),
    /// An open directory: its entries (`.` and `..` first) when it was opened.
    Dir(Vec<(u64, FileType, Vec<u8>)>),
}

/// The errno FUSE replies with.
fn fuse_errno(err: Errno) -> fuser::Errno {
    fuser::Errno::from_i32(-err.to_errno())
}

/// What `stat()` shows of an entry.
fn file_attr(attr: &Attr) -> FileAttr {
    let (kind, nlink) = if attr.metadata.is_dir {
        (FileType::Directory, 2)
    } else {
        (FileType::RegularFile, 1)
    };
    FileAttr {
        ino: INodeNo(attr.number),
        // Not debugfs's 0: see `FileNode::size_bound`.
        size: attr.size,
        blocks: 0,
        atime: attr.created,
        mtime: attr.created,
        ctime: attr.created,
        crtime: attr.created,
        kind,
        perm: attr.metadata.mode,
        nlink,
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
        rdev: 0,
        blksize: 4096,
        flags: 0,
    }
}

impl DebugFs {
    fn add_handle(&self, handle: Handle) -> FileHandle {
        let number = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, handle);
        FileHandle(number)
    }

    fn open_file(&self, fh: FileHandle) -> Result<Arc<OpenFile>, Errno> {
        match self
            .handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&fh.0)
        {
            Some(Handle::File(file)) => Ok(file.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn close(&self, fh: FileHandle) {
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&fh.0);
    }
}

impl Filesystem for DebugFs {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match lookup(parent.0, name.as_bytes()) {
            Ok(attr) => reply.entry(&NO_CACHE, &file_attr(&attr), Generation(0)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        match attr(ino.0) {
            Ok(attr) => reply.attr(&NO_CACHE, &file_attr(&attr)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn setattr(
        &self,
        _req: &Request,
        ino: INodeNo,
        mode: Option<u32>,
        uid: Option<u32>,
        gid: Option<u32>,
        _size: Option<u64>,
        _atime: Option<TimeOrNow>,
        _mtime: Option<TimeOrNow>,
        _ctime: Option<SystemTime>,
        _fh: Option<FileHandle>,
        _crtime: Option<SystemTime>,
        _chgtime: Option<SystemTime>,
        _bkuptime: Option<SystemTime>,
        _flags: Option<BsdFileFlags>,
        reply: ReplyAttr,
    ) {
        // `echo > FILE` truncates before writing, which changes nothing on a debugfs file; times
        // are not kept. The mode and owner are the driver's.
        if mode.is_some() || uid.is_some() || gid.is_some() {
            return reply.error(fuser::Errno::EPERM);
        }
        match attr(ino.0) {
            Ok(attr) => reply.attr(&NO_CACHE, &file_attr(&attr)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn open(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match open_number(ino.0) {
            Ok(file) => {
                let fh = self.add_handle(Handle::File(Arc::new(file)));
                reply.opened(fh, FopenFlags::FOPEN_DIRECT_IO);
            }
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn read(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        size: u32,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyData,
    ) {
        let result = self
            .open_file(fh)
            .and_then(|file| guarded("debugfs: a read", || file.read_at(offset, size as usize)));
        match result {
            Ok(data) => reply.data(&data),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn write(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        data: &[u8],
        _write_flags: WriteFlags,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        reply: ReplyWrite,
    ) {
        let result = self
            .open_file(fh)
            .and_then(|file| guarded("debugfs: a write", || file.write_at(offset, data)));
        match result {
            // CAST: at most `data.len()`, which FUSE bounds by its 32-bit write size.
            Ok(written) => reply.written(written as u32),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn flush(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _fh: FileHandle,
        _lock_owner: LockOwner,
        reply: ReplyEmpty,
    ) {
        reply.ok();
    }

    fn release(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        _lock_owner: Option<LockOwner>,
        _flush: bool,
        reply: ReplyEmpty,
    ) {
        self.close(fh);
        reply.ok();
    }

    fn opendir(&self, _req: &Request, ino: INodeNo, _flags: OpenFlags, reply: ReplyOpen) {
        match entries(ino.0) {
            Ok((parent, list)) => {
                let mut listing = vec![
                    (ino.0, FileType::Directory, b".".to_vec()),
                    (parent, FileType::Directory, b"..".to_vec()),
                ];
                listing.extend(list.into_iter().map(|(name, attr)| {
                    let kind = file_attr(&attr).kind;
                    (attr.number, kind, name.into_bytes())
                }));
                reply.opened(self.add_handle(Handle::Dir(listing)), FopenFlags::empty());
            }
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn readdir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        offset: u64,
        mut reply: ReplyDirectory,
    ) {
        let handles = self.handles.lock().unwrap_or_else(PoisonError::into_inner);
        let Some(Handle::Dir(listing)) = handles.get(&fh.0) else {
            return reply.error(fuser::Errno::EBADF);
        };
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        for (index, (number, kind, name)) in listing.iter().enumerate().skip(start) {
            // The offset of an entry is where the next read starts.
            if reply.add(
                INodeNo(*number),
                index as u64 + 1,
                *kind,
                OsStr::from_bytes(name),
            ) {
                break;
            }
        }
        reply.ok();
    }

    fn getxattr(
        &self,
        _req: &Request,
        _ino: INodeNo,
        _name: &OsStr,
        _size: u32,
        reply: ReplyXattr,
    ) {
        // debugfs files have no extended attributes; `ENOSYS` tells the kernel to stop asking.
        reply.error(fuser::Errno::ENOSYS);
    }

    fn listxattr(&self, _req: &Request, _ino: INodeNo, _size: u32, reply: ReplyXattr) {
        reply.error(fuser::Errno::ENOSYS);
    }

    fn releasedir(
        &self,
        _req: &Request,
        _ino: INodeNo,
        fh: FileHandle,
        _flags: OpenFlags,
        reply: ReplyEmpty,
    ) {
        self.close(fh);
        reply.ok();
    }
}
