//! A [`Tree`] mounted with FUSE for a shell to use.
//!
//! [`mount`] serves a tree at a directory through the kernel's FUSE (the `fuser` crate speaks its
//! protocol over `/dev/fuse`; no libfuse is needed, and a root process mounts directly): one
//! thread reads the kernel's requests and answers them from the tree, calling the drivers'
//! callbacks on that thread. Every entry is looked up and every attribute read again at each
//! access (nothing is cached by the kernel), and every file is opened for direct I/O, so a read or
//! a write reaches the driver as the `read()` or `write()` of a shell made it, at its position, as
//! on the kernel's file system.
//!
//! [`mount_for_module`] picks the directory a driver process uses (see [`mount_dir`]): the runner
//! calls it for every driver process and keeps the [`Mount`] until the module is unloaded, when
//! dropping it unmounts the tree and removes the directory. A process killed with `SIGKILL` leaves
//! its mount behind (`ls` then says "Transport endpoint is not connected"): the next process that
//! mounts in the same directory removes such leftovers, or `umount -l DIR` does.

use std::ffi::OsStr;
use std::marker::PhantomData;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};
use std::{collections::HashMap, io};

use fuser::{
    BsdFileFlags, Config, FileAttr, FileHandle, FileType, Filesystem, FopenFlags, Generation,
    INodeNo, LockOwner, MountOption, OpenAccMode, OpenFlags, RenameFlags, ReplyAttr, ReplyCreate,
    ReplyData, ReplyDirectory, ReplyEmpty, ReplyEntry, ReplyOpen, ReplyWrite, ReplyXattr, Request,
    TimeOrNow, WriteFlags,
};

use super::{Access, Attr, File, Tree};
use crate::active;
use crate::errno::Errno;

/// How long the kernel may keep what a reply says: not at all, since entries come and go with the
/// driver's data.
const NO_CACHE: Duration = Duration::ZERO;

/// A mounted tree, unmounted when dropped.
pub struct Mount {
    session: Option<fuser::BackgroundSession>,
    dir: PathBuf,
    name: &'static str,
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
                log::debug!(
                    target: "drydock",
                    "{}: unmounting {}: {err}",
                    self.name,
                    self.dir.display()
                );
                let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Why a tree could not be mounted, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("cannot mount the {name} tree at {dir}: {err}; {fix}")]
pub struct MountError {
    /// The file system's name (`debugfs`, `configfs`).
    pub name: &'static str,
    /// Where the tree was to be mounted.
    pub dir: PathBuf,
    /// What failed.
    pub err: io::Error,
    /// What to do.
    pub fix: String,
}

impl MountError {
    fn new<T: Tree>(dir: &Path, err: io::Error) -> Self {
        let fix = if !Path::new("/dev/fuse").exists() {
            "the kernel has no FUSE: load it with `modprobe fuse` (CONFIG_FUSE_FS)".to_owned()
        } else if err.kind() == io::ErrorKind::PermissionDenied {
            "run the driver as root, or install fusermount3 (Debian: `apt install fuse3`) for an \
             unprivileged mount"
                .to_owned()
        } else {
            format!(
                "check that the directory can be created and mounted on, or choose another with \
                 {}=DIR",
                T::MOUNT_ENV
            )
        };
        Self {
            name: T::NAME,
            dir: dir.to_owned(),
            err,
            fix,
        }
    }
}

/// Mounts tree `T` at `dir`, creating the directory (and removing what a killed process left
/// mounted there) first.
pub fn mount<T: Tree>(dir: &Path) -> Result<Mount, MountError> {
    if let Some(parent) = dir.parent() {
        remove_leftovers(parent);
    }
    // A directory still mounted by a process that died is not a directory any more.
    if std::fs::metadata(dir).is_err() {
        let _ = nix::mount::umount2(dir, nix::mount::MntFlags::MNT_DETACH);
    }
    std::fs::create_dir_all(dir).map_err(|err| MountError::new::<T>(dir, err))?;
    let mut config = Config::default();
    config.mount_options = vec![
        MountOption::FSName(format!("drydock-{}", T::NAME)),
        MountOption::Subtype(T::NAME.into()),
        MountOption::DefaultPermissions,
        MountOption::NoSuid,
        MountOption::NoDev,
        MountOption::NoExec,
    ];
    match fuser::spawn_mount(Fs::<T>::new(), dir, &config) {
        Ok(session) => Ok(Mount {
            session: Some(session),
            dir: dir.to_owned(),
            name: T::NAME,
        }),
        Err(err) => {
            let _ = std::fs::remove_dir(dir);
            Err(MountError::new::<T>(dir, err))
        }
    }
}

/// Where a driver process of `module` mounts tree `T` (say `debugfs`): `$DRYDOCK_DEBUGFS` (the
/// tree's [`Tree::MOUNT_ENV`]) if set, else `/run/drydock/debugfs/MODULE.PID` for root,
/// `$XDG_RUNTIME_DIR/drydock/debugfs/MODULE.PID` for other users
/// (`/tmp/drydock-debugfs-UID/MODULE.PID` without one); `None` if the variable is `off`.
pub fn mount_dir<T: Tree>(module: &str) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(T::MOUNT_ENV) {
        return (dir != "off").then(|| PathBuf::from(dir));
    }
    let base = if nix::unistd::geteuid().is_root() {
        PathBuf::from("/run/drydock")
    } else if let Some(runtime) = std::env::var_os("XDG_RUNTIME_DIR") {
        PathBuf::from(runtime).join("drydock")
    } else {
        std::env::temp_dir().join(format!("drydock-{}-{}", T::NAME, nix::unistd::geteuid()))
    };
    Some(
        base.join(T::NAME)
            .join(format!("{module}.{}", std::process::id())),
    )
}

/// Mounts tree `T` where a driver process of `module` does ([`mount_dir`]), logging where; if it
/// cannot, logs why and how to fix it (once per process and tree) and returns `None`: the tree
/// then exists only in the process.
pub fn mount_for_module<T: Tree>(module: &str) -> Option<Mount> {
    // The trees whose failure was logged.
    static WARNED: Mutex<Vec<&str>> = Mutex::new(Vec::new());
    let dir = mount_dir::<T>(module)?;
    match mount::<T>(&dir) {
        Ok(mount) => {
            log::info!(target: "drydock", "{module}: {} at {}", T::NAME, dir.display());
            Some(mount)
        }
        Err(err) => {
            let mut warned = WARNED.lock().unwrap_or_else(PoisonError::into_inner);
            if !warned.contains(&T::NAME) {
                warned.push(T::NAME);
                log::warn!(
                    target: "drydock",
                    "{module}: {err} (the driver's {} files exist only inside the process)",
                    T::NAME
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

/// Answers the kernel's FUSE requests from tree `T`.
struct Fs<T: Tree> {
    /// The open files and directories, by handle.
    handles: Mutex<HashMap<u64, Handle<T::File>>>,
    next_handle: AtomicU64,
    _tree: PhantomData<fn() -> T>,
}

/// What a handle stands for.
enum Handle<F> {
    /// An open file.
    File(Arc<F>),
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

/// How a FUSE open asks for a file.
fn access(flags: OpenFlags) -> Access {
    match flags.acc_mode() {
        OpenAccMode::O_RDONLY => Access::READ,
        OpenAccMode::O_WRONLY => Access::WRITE,
        OpenAccMode::O_RDWR => Access::READ_WRITE,
    }
}

impl<T: Tree> Fs<T> {
    fn new() -> Self {
        Self {
            handles: Mutex::new(HashMap::new()),
            next_handle: AtomicU64::new(0),
            _tree: PhantomData,
        }
    }

    fn add_handle(&self, handle: Handle<T::File>) -> FileHandle {
        let number = self.next_handle.fetch_add(1, Ordering::Relaxed);
        self.handles
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(number, handle);
        FileHandle(number)
    }

    fn open_file(&self, fh: FileHandle) -> Result<Arc<T::File>, Errno> {
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

    /// Answers with what `stat()` shows of entry `ino`.
    fn reply_attr(ino: INodeNo, reply: ReplyAttr) {
        match T::attr(ino.0) {
            Ok(attr) => reply.attr(&NO_CACHE, &file_attr(&attr)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    /// Runs a driver's callbacks for a request ([`active::guarded`], the panic logged with the
    /// file system's name).
    fn guarded<R>(what: &str, f: impl FnOnce() -> Result<R, Errno>) -> Result<R, Errno> {
        active::guarded(format_args!("{}: {what}", T::NAME), f)
    }
}

impl<T: Tree> Filesystem for Fs<T> {
    fn lookup(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEntry) {
        match T::lookup(parent.0, name.as_bytes()) {
            Ok(attr) => reply.entry(&NO_CACHE, &file_attr(&attr), Generation(0)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn getattr(&self, _req: &Request, ino: INodeNo, _fh: Option<FileHandle>, reply: ReplyAttr) {
        Self::reply_attr(ino, reply);
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
        // `echo > FILE` truncates before writing, which changes nothing on these files; times are
        // not kept. The mode and owner are the driver's.
        if mode.is_some() || uid.is_some() || gid.is_some() {
            return reply.error(fuser::Errno::EPERM);
        }
        Self::reply_attr(ino, reply);
    }

    fn mknod(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _rdev: u32,
        reply: ReplyEntry,
    ) {
        // Files are the drivers' to make: the VFS's answer for a directory without `create`.
        reply.error(fuser::Errno::EACCES);
    }

    fn create(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _mode: u32,
        _umask: u32,
        _flags: i32,
        reply: ReplyCreate,
    ) {
        reply.error(fuser::Errno::EACCES);
    }

    fn mkdir(
        &self,
        _req: &Request,
        parent: INodeNo,
        name: &OsStr,
        _mode: u32,
        _umask: u32,
        reply: ReplyEntry,
    ) {
        match Self::guarded("a mkdir", || T::mkdir(parent.0, name.as_bytes())) {
            Ok(attr) => reply.entry(&NO_CACHE, &file_attr(&attr), Generation(0)),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn unlink(&self, _req: &Request, _parent: INodeNo, _name: &OsStr, reply: ReplyEmpty) {
        // The VFS's answer for a directory without `unlink`.
        reply.error(fuser::Errno::EPERM);
    }

    fn rmdir(&self, _req: &Request, parent: INodeNo, name: &OsStr, reply: ReplyEmpty) {
        match Self::guarded("an rmdir", || T::rmdir(parent.0, name.as_bytes())) {
            Ok(()) => reply.ok(),
            Err(err) => reply.error(fuse_errno(err)),
        }
    }

    fn rename(
        &self,
        _req: &Request,
        _parent: INodeNo,
        _name: &OsStr,
        _newparent: INodeNo,
        _newname: &OsStr,
        _flags: RenameFlags,
        reply: ReplyEmpty,
    ) {
        // The VFS's answer for a directory without `rename`.
        reply.error(fuser::Errno::EPERM);
    }

    fn open(&self, _req: &Request, ino: INodeNo, flags: OpenFlags, reply: ReplyOpen) {
        match T::open(ino.0, access(flags)) {
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
            .and_then(|file| Self::guarded("a read", || file.read_at(offset, size as usize)));
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
            .and_then(|file| Self::guarded("a write", || file.write_at(offset, data)));
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
        match T::entries(ino.0) {
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
        // The files have no extended attributes; `ENOSYS` tells the kernel to stop asking.
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
