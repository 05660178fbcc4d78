//! A misc device served to other processes through CUSE (`/dev/cuse`).
//!
//! Opening `/dev/cuse` starts a conversation in FUSE's wire format ([`super::abi`]): the kernel's
//! first request is `CUSE_INIT`, answered with the device to create (`DEVNAME=NAME`), upon which
//! the kernel creates the character device `NAME` of class `cuse` and, through devtmpfs or udev,
//! `/dev/NAME`. From then on each `open()`, `read()`, `write()`, `ioctl()` and last `close()` of
//! the node by any process is a request on the channel, answered by calling the driver's
//! operations, and closing the channel removes the device. libfuse's `cuse_lowlevel` does the same
//! in C; no maintained Rust crate speaks CUSE (`fuser` answers `CUSE_INIT` with `ENOSYS`), so this
//! module does, over the structures of `abi`.
//!
//! One thread waits for requests and starts a thread per request, so a driver call that blocks
//! (a read waiting for data) holds up no other caller, as in the kernel. Each request runs with
//! its data lent to the driver as user memory:
//!
//! - a read's and a write's buffer at `USER_BUFFER` (CUSE does not tell where the caller's buffer
//!   is), through the file's `iov_iter`; the file keeps its own position, since CUSE always passes
//!   position 0;
//! - an ioctl's argument at the caller's own address `arg`. The channel is opened with
//!   `CUSE_UNRESTRICTED_IOCTL`, so the kernel copies no memory by itself: the first request of an
//!   ioctl whose command has a direction and a size (`_IOC_DIR`, `_IOC_SIZE`) is answered with
//!   `FUSE_IOCTL_RETRY` and the range `arg .. arg + _IOC_SIZE` to copy in (and, for `_IOC_READ`,
//!   out); the kernel asks again with those bytes, the driver runs with them lent at `arg`, and
//!   for `_IOC_READ` the bytes are copied back, changed where the driver wrote. The driver's
//!   return value is the caller's (`EOVERFLOW` for one that does not fit FUSE's 32 bits).
//!
//! Reads and writes are at most [`MAX_IO`] bytes per request: the kernel splits larger ones.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use zerocopy::{FromBytes, IntoBytes};

use super::abi::*;
use super::{lock, MiscNode, OpenFile};
use crate::errno::Errno;
use crate::error::HostError;

/// The largest read or write one request carries: FUSE's default of 32 pages per request.
const MAX_IO: u32 = 32 * 4096;

/// The size of the buffer requests are read into: the largest write and its headers.
const BUFFER: usize = MAX_IO as usize + 4096;

/// `_IOC_READ`: the caller of an ioctl gets memory back (`_IOC_WRITE`, 1, is the other direction).
const IOC_READ: u32 = 2;

/// A misc device's CUSE channel, with the thread that serves it.
pub(super) struct CuseDevice {
    stop: Arc<EventFd>,
    reader: JoinHandle<()>,
    server: Arc<Server>,
}

/// What the serving threads share.
struct Server {
    channel: File,
    node: Arc<MiscNode>,
    /// The files opened through the node, by the handle given to the kernel.
    files: Mutex<HashMap<u64, Arc<OpenFile>>>,
    next_fh: AtomicU64,
    /// How many requests are being served, to wait for at the end.
    running: Mutex<usize>,
    idle: Condvar,
}

/// Counts a request being served until dropped.
struct Running(Arc<Server>);

impl Running {
    fn new(server: &Arc<Server>) -> Self {
        *lock(&server.running) += 1;
        Self(server.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let mut running = lock(&self.0.running);
        *running -= 1;
        if *running == 0 {
            self.0.idle.notify_all();
        }
    }
}

impl CuseDevice {
    /// Creates `/dev/NAME` for `node` through CUSE and starts serving it.
    pub(super) fn create(node: Arc<MiscNode>) -> Result<Self, HostError> {
        let name = node.name.to_string_lossy().into_owned();
        let fail = |why: &str, err: io::Error| {
            HostError::os(format!("cannot create /dev/{name} with CUSE ({why})"), err)
        };
        if Path::new("/dev").join(&name).exists() {
            return Err(fail(
                "the node exists",
                io::Error::from_raw_os_error(libc::EEXIST),
            ));
        }
        let channel = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/cuse")
            .map_err(|err| {
                let why = match err.kind() {
                    io::ErrorKind::NotFound => {
                        "the kernel has no CUSE: load it with `modprobe cuse` (CONFIG_CUSE)"
                    }
                    io::ErrorKind::PermissionDenied => {
                        "/dev/cuse is root's: run the driver as root"
                    }
                    _ => "opening /dev/cuse",
                };
                fail(why, err)
            })?;
        init(&channel, &name).map_err(|err| fail("the CUSE_INIT handshake", err))?;
        // The kernel created the device while it took the reply; if it could not, it aborted the
        // connection, which the channel reports as an error.
        let mut fds = [PollFd::new(channel.as_fd(), PollFlags::POLLIN)];
        poll(&mut fds, PollTimeout::ZERO).map_err(|err| fail("polling /dev/cuse", err.into()))?;
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLERR))
        {
            return Err(fail(
                "the kernel refused the device: is another CUSE device of that name running?",
                io::Error::from_raw_os_error(libc::EEXIST),
            ));
        }
        let stop = EventFd::from_flags(EfdFlags::EFD_CLOEXEC)
            .map(Arc::new)
            .map_err(|err| fail("creating an eventfd", err.into()))?;
        let server = Arc::new(Server {
            channel,
            node,
            files: Mutex::new(HashMap::new()),
            next_fh: AtomicU64::new(1),
            running: Mutex::new(0),
            idle: Condvar::new(),
        });
        let reader = std::thread::Builder::new()
            .name(format!("cuse {name}"))
            .spawn({
                let (server, stop) = (server.clone(), stop.clone());
                move || serve(&server, &stop)
            })
            .map_err(|err| fail("starting its thread", err))?;
        log::info!(target: "drydock", "misc: /dev/{name} created with CUSE");
        Ok(Self {
            stop,
            reader,
            server,
        })
    }

    /// Stops serving: waits for the requests being served, then closes the channel, which removes
    /// `/dev/NAME`, and closes the files the device's callers left open.
    pub(super) fn destroy(self) {
        let _ = self.stop.write(1);
        let _ = self.reader.join();
        let mut running = lock(&self.server.running);
        while *running > 0 {
            running = self
                .server
                .idle
                .wait(running)
                .unwrap_or_else(PoisonError::into_inner);
        }
        drop(running);
        // The reader and every request are done, so this is the last reference.
        if let Some(Server { channel, files, .. }) = Arc::into_inner(self.server) {
            drop(channel);
            drop(files);
        }
    }
}

/// Answers the kernel's `CUSE_INIT` on `channel`: a device named `name`, with unrestricted
/// ioctls and requests of up to [`MAX_IO`] bytes.
fn init(channel: &File, name: &str) -> io::Result<()> {
    let mut fds = [PollFd::new(channel.as_fd(), PollFlags::POLLIN)];
    poll(&mut fds, PollTimeout::NONE)?;
    let mut buf = vec![0; BUFFER];
    let n = (&*channel).read(&mut buf)?;
    let protocol = || io::Error::from_raw_os_error(libc::EPROTO);
    let (header, args) = fuse_in_header::read_from_prefix(&buf[..n]).map_err(|_| protocol())?;
    let (init, _) = cuse_init_in::read_from_prefix(args).map_err(|_| protocol())?;
    if header.opcode != CUSE_INIT || init.major != FUSE_KERNEL_VERSION {
        return Err(protocol());
    }
    let out = cuse_init_out {
        major: FUSE_KERNEL_VERSION,
        minor: init.minor.min(FUSE_KERNEL_MINOR_VERSION),
        unused: 0,
        flags: CUSE_UNRESTRICTED_IOCTL,
        max_read: MAX_IO,
        max_write: MAX_IO,
        // A major number of 0: the kernel chooses the device number.
        dev_major: 0,
        dev_minor: 0,
        spare: [0; 10],
    };
    let info = format!("DEVNAME={name}\0");
    reply(
        channel,
        header.unique,
        0,
        &[out.as_bytes(), info.as_bytes()],
    )
}

/// Writes the reply to request `unique`: `error` (a negative errno, or 0) and `body`.
fn reply(channel: &File, unique: u64, error: i32, body: &[&[u8]]) -> io::Result<()> {
    let len = size_of::<fuse_out_header>() + body.iter().map(|part| part.len()).sum::<usize>();
    let header = fuse_out_header {
        len: u32::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        error,
        unique,
    };
    let mut slices = vec![IoSlice::new(header.as_bytes())];
    slices.extend(body.iter().map(|part| IoSlice::new(part)));
    // One `writev`: the kernel takes a reply in one write.
    (&*channel).write_vectored(&slices).map(drop)
}

/// The reader thread: waits for requests until `stop` is signalled or the kernel ends the
/// connection, and serves each on a thread of its own.
fn serve(server: &Arc<Server>, stop: &EventFd) {
    let mut buf = vec![0; BUFFER];
    loop {
        let mut fds = [
            PollFd::new(server.channel.as_fd(), PollFlags::POLLIN),
            PollFd::new(stop.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(err) => {
                log::error!(target: "drydock", "misc: polling /dev/cuse: {err}");
                return;
            }
        }
        if fds[1].any() == Some(true) {
            return;
        }
        let aborted = PollFlags::POLLERR | PollFlags::POLLHUP;
        if fds[0].revents().is_some_and(|r| r.intersects(aborted)) {
            log::warn!(
                target: "drydock",
                "misc: the kernel ended /dev/{}'s CUSE connection",
                server.node.name.to_string_lossy()
            );
            return;
        }
        let request = match (&server.channel).read(&mut buf) {
            Ok(n) => buf[..n].to_vec(),
            // Nothing after all, or a request its caller gave up on meanwhile.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EAGAIN | libc::EINTR | libc::ENOENT)
                ) =>
            {
                continue
            }
            Err(err) => {
                log::error!(target: "drydock", "misc: reading /dev/cuse: {err}");
                return;
            }
        };
        let unique = fuse_in_header::read_from_prefix(&request)
            .ok()
            .map(|(header, _)| header.unique);
        let running = Running::new(server);
        let spawned = std::thread::Builder::new()
            .name("cuse request".into())
            .spawn(move || {
                running.0.handle(&request);
                drop(running);
            });
        if let Err(err) = spawned {
            log::error!(target: "drydock", "misc: cannot start a thread for a request: {err}");
            // The caller waits for a reply: it gets the error.
            if let Some(unique) = unique {
                let _ = reply(&server.channel, unique, Errno::ENOMEM.to_errno(), &[]);
            }
        }
    }
}

impl Server {
    /// Serves one request and replies to it (except to `FUSE_INTERRUPT`, which needs none: the
    /// driver's call is not interrupted).
    fn handle(&self, request: &[u8]) {
        let Ok((header, args)) = fuse_in_header::read_from_prefix(request) else {
            return;
        };
        let body = match header.opcode {
            FUSE_OPEN => self.open(args),
            FUSE_READ => self.read(args),
            FUSE_WRITE => self.write(args),
            FUSE_RELEASE => self.release(args),
            FUSE_IOCTL => self.ioctl(args),
            FUSE_INTERRUPT => return,
            // `FUSE_POLL` among others: without a `poll` operation, the kernel then reports the
            // device always readable and writable, as it does for a misc device without one.
            _ => Err(Errno::ENOSYS),
        };
        let sent = match &body {
            Ok(body) => reply(&self.channel, header.unique, 0, &[body]),
            Err(errno) => reply(&self.channel, header.unique, errno.to_errno(), &[]),
        };
        // `ENOENT`: the caller was killed meanwhile, and nobody waits for the reply.
        if let Err(err) = sent {
            if err.raw_os_error() != Some(libc::ENOENT) {
                log::debug!(target: "drydock", "misc: replying on /dev/cuse: {err}");
            }
        }
    }

    /// The open file of handle `fh`.
    fn file(&self, fh: u64) -> Result<Arc<OpenFile>, Errno> {
        lock(&self.files).get(&fh).cloned().ok_or(Errno::EBADF)
    }

    fn open(&self, args: &[u8]) -> Result<Vec<u8>, Errno> {
        let (open, _) = fuse_open_in::read_from_prefix(args).map_err(|_| Errno::EINVAL)?;
        let file = self.node.open(open.flags)?;
        let fh = self.next_fh.fetch_add(1, Ordering::Relaxed);
        lock(&self.files).insert(fh, Arc::new(file));
        let out = fuse_open_out {
            fh,
            open_flags: 0,
            backing_id: 0,
        };
        Ok(out.as_bytes().to_vec())
    }

    fn read(&self, args: &[u8]) -> Result<Vec<u8>, Errno> {
        let (read, _) = fuse_read_in::read_from_prefix(args).map_err(|_| Errno::EINVAL)?;
        self.file(read.fh)?.read(read.size as usize)
    }

    fn write(&self, args: &[u8]) -> Result<Vec<u8>, Errno> {
        // `struct fuse_write_in` has `struct fuse_read_in`'s layout; the data follows it.
        let (write, data) = fuse_read_in::read_from_prefix(args).map_err(|_| Errno::EINVAL)?;
        let data = data.get(..write.size as usize).ok_or(Errno::EINVAL)?;
        let written = self.file(write.fh)?.write(data)?;
        let out = fuse_write_out {
            // CAST: at most `data.len()`, which came from a `u32`.
            size: written as u32,
            padding: 0,
        };
        Ok(out.as_bytes().to_vec())
    }

    fn release(&self, args: &[u8]) -> Result<Vec<u8>, Errno> {
        let (release, _) = fuse_release_in::read_from_prefix(args).map_err(|_| Errno::EINVAL)?;
        // Dropping the last handle closes the file, whose release runs then.
        drop(lock(&self.files).remove(&release.fh));
        Ok(Vec::new())
    }

    fn ioctl(&self, args: &[u8]) -> Result<Vec<u8>, Errno> {
        let (ioctl, data) = fuse_ioctl_in::read_from_prefix(args).map_err(|_| Errno::EINVAL)?;
        let file = self.file(ioctl.fh)?;
        let (dir, size) = (ioctl.cmd >> 30, (ioctl.cmd >> 16) & 0x3fff);
        let copies_out = dir & IOC_READ != 0;
        if size > 0 && dir != 0 && ioctl.in_size == 0 && ioctl.out_size == 0 {
            // Ask for the argument: in, so that the driver may read it and so that what it does
            // not write goes back unchanged; and out for `_IOC_READ`.
            let range = fuse_ioctl_iovec {
                base: ioctl.arg,
                len: u64::from(size),
            };
            let out = fuse_ioctl_out {
                result: 0,
                flags: FUSE_IOCTL_RETRY,
                in_iovs: 1,
                out_iovs: u32::from(copies_out),
            };
            let mut body = out.as_bytes().to_vec();
            body.extend_from_slice(range.as_bytes());
            if copies_out {
                body.extend_from_slice(range.as_bytes());
            }
            return Ok(body);
        }
        let mut user = data
            .get(..ioctl.in_size as usize)
            .ok_or(Errno::EINVAL)?
            .to_vec();
        // CAST: a user address of the caller, which fits a `usize` on x86_64.
        let arg = ioctl.arg as usize;
        let ret = if ioctl.flags & FUSE_IOCTL_COMPAT != 0 {
            file.compat_ioctl(ioctl.cmd, arg, &mut user)?
        } else {
            file.ioctl(ioctl.cmd, arg, &mut user)?
        };
        let out = fuse_ioctl_out {
            result: i32::try_from(ret).map_err(|_| Errno::EOVERFLOW)?,
            flags: 0,
            in_iovs: 0,
            out_iovs: 0,
        };
        let mut body = out.as_bytes().to_vec();
        if copies_out {
            body.extend_from_slice(&user[..user.len().min(ioctl.out_size as usize)]);
        }
        Ok(body)
    }
}
