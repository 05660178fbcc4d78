//! A ublk queue's thread: fetches the requests of one hardware queue from `/dev/ublkcN`, hands
//! them to the server (the shared dispatch of the disks of `block::mq`, or a server of its own,
//! such as the NVMe driver's process), and commits their results.
//!
//! The thread keeps one `UBLK_U_IO_FETCH_REQ` per tag in its ring; a completion means the kernel
//! put a request on that tag, described in the queue's descriptor array (mapped from
//! `/dev/ublkcN`). When the request ends, `UBLK_U_IO_COMMIT_AND_FETCH_REQ` gives its result and
//! fetches the tag's next request. Ends come from any thread: they queue the result and wake the
//! thread through an eventfd, which the ring also reads, since ublk takes a tag's commands only
//! from the thread that fetched it. When the device stops, each fetch completes with
//! `UBLK_IO_RES_ABORT`, and the thread ends once all of its tags did.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use io_uring::{opcode, types, IoUring};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::mman::{mmap, munmap, MapFlags, ProtFlags};

use super::uapi::{
    io_cmd, ublksrv_io_desc, UBLK_IO_OP_DISCARD, UBLK_IO_OP_FLUSH, UBLK_IO_OP_READ,
    UBLK_IO_OP_WRITE, UBLK_IO_OP_WRITE_ZEROES, UBLK_IO_RES_ABORT, UBLK_IO_RES_OK,
    UBLK_MAX_QUEUE_DEPTH, UBLK_U_IO_COMMIT_AND_FETCH_REQ, UBLK_U_IO_FETCH_REQ,
};
use crate::block::{
    blk_opf_t, sector_t, REQ_OP_DISCARD, REQ_OP_FLUSH, REQ_OP_READ, REQ_OP_WRITE,
    REQ_OP_WRITE_ZEROES, SECTOR_SHIFT,
};
use crate::errno::Errno;
use crate::print::{printk, Level};

/// The `user_data` of the eventfd read.
const WAKE: u64 = u64::MAX;
/// The size of a page, which the descriptor arrays are rounded to.
const PAGE_SIZE: usize = 4096;

/// A request fetched on a tag of a queue, for the server to serve and end
/// ([`QueueShared::commit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// The tag: the request's name until it ends.
    pub tag: u16,
    /// The operation, a `REQ_OP_*` (read, write, flush, discard or write zeroes).
    pub op: blk_opf_t,
    /// The first sector.
    pub sector: sector_t,
    /// The bytes to transfer.
    pub bytes: u32,
}

/// What a queue's thread shares with the threads that end its requests.
pub struct QueueShared {
    /// Results to commit: tag and result (bytes, or a negative errno).
    commits: Mutex<Vec<(u16, i32)>>,
    /// Written to wake the thread.
    wake: EventFd,
    /// Set to make the thread leave without waiting for its tags (a start that failed).
    quit: AtomicBool,
}

impl QueueShared {
    /// A queue's shared state, with its eventfd.
    pub fn new() -> Result<QueueShared, Errno> {
        Ok(QueueShared {
            commits: Mutex::default(),
            wake: EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC)
                .map_err(|e| Errno::from_errno(-(e as i32)).unwrap_or(Errno::EIO))?,
            quit: AtomicBool::new(false),
        })
    }

    /// Wakes the thread.
    pub fn kick(&self) {
        // Only an overflowing counter fails, and then the thread is awake anyway.
        let _ = self.wake.write(1);
    }

    /// Queues the result of `tag` (the bytes transferred, which a read must have, or a negative
    /// errno) for the thread to commit.
    pub fn commit(&self, tag: u16, result: i32) {
        self.commits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((tag, result));
        self.kick();
    }

    /// Makes the thread leave without waiting for its tags (a start that failed).
    pub fn quit(&self) {
        self.quit.store(true, Ordering::SeqCst);
        self.kick();
    }
}

/// The `REQ_OP_*` of a ublk operation, if blk-mq has one.
fn req_op(ublk_op: u32) -> Option<blk_opf_t> {
    match ublk_op {
        UBLK_IO_OP_READ => Some(REQ_OP_READ),
        UBLK_IO_OP_WRITE => Some(REQ_OP_WRITE),
        UBLK_IO_OP_FLUSH => Some(REQ_OP_FLUSH),
        UBLK_IO_OP_DISCARD => Some(REQ_OP_DISCARD),
        UBLK_IO_OP_WRITE_ZEROES => Some(REQ_OP_WRITE_ZEROES),
        _ => None,
    }
}

/// The descriptor array of a queue, mapped read-only from `/dev/ublkcN`.
///
/// # Invariants
///
/// `addr` maps `len` bytes holding at least `depth` descriptors, until dropped.
struct Descriptors {
    addr: core::ptr::NonNull<core::ffi::c_void>,
    len: usize,
    depth: u16,
}

impl Descriptors {
    fn map(cdev: &File, q_id: u16, depth: u16) -> Result<Descriptors, Errno> {
        let size = core::mem::size_of::<ublksrv_io_desc>();
        let round = |n: usize| n.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let len = round(usize::from(depth) * size);
        let offset = usize::from(q_id) * round(UBLK_MAX_QUEUE_DEPTH as usize * size);
        // SAFETY: A new shared read-only mapping of the device, placed by the kernel, aliases no
        // memory of the process.
        let addr = unsafe {
            mmap(
                None,
                core::num::NonZeroUsize::new(len).ok_or(Errno::EINVAL)?,
                ProtFlags::PROT_READ,
                MapFlags::MAP_SHARED | MapFlags::MAP_POPULATE,
                cdev.as_fd(),
                i64::try_from(offset).map_err(|_| Errno::EINVAL)?,
            )
        }
        .map_err(|e| Errno::from_errno(-(e as i32)).unwrap_or(Errno::EIO))?;
        // INVARIANT: `len` bytes of `depth` descriptors were mapped.
        Ok(Descriptors { addr, len, depth })
    }

    /// The descriptor of `tag`, as the kernel wrote it before completing the tag's fetch.
    fn get(&self, tag: u16) -> ublksrv_io_desc {
        assert!(tag < self.depth);
        // SAFETY: `tag` is within the mapped descriptors (type invariant); the kernel wrote it
        // before completing the fetch that reported it, and does not write it again until the
        // tag is committed.
        unsafe {
            self.addr
                .cast::<ublksrv_io_desc>()
                .as_ptr()
                .add(usize::from(tag))
                .read_volatile()
        }
    }
}

impl Drop for Descriptors {
    fn drop(&mut self) {
        // SAFETY: The mapping is this value's (type invariant), unused after this.
        let _ = unsafe { munmap(self.addr, self.len) };
    }
}

/// Serves queue `q_id` of the device whose character device is `cdev`: the thread's body, until
/// the device stops. `ready` is called once the fetches are submitted (or setting up failed), so
/// that the device may be started. `run` is given the requests fetched (possibly none, when
/// woken or when the time it asked for passed) and returns how long the thread may wait before
/// calling it again (forever if `None`); ends come through `shared`.
pub fn serve(
    shared: &QueueShared,
    cdev: &File,
    q_id: u16,
    depth: u16,
    ready: impl FnOnce(Result<(), Errno>),
    mut run: impl FnMut(Vec<Request>) -> Option<Duration>,
) {
    // Declared before the ring, so that it outlives the read the ring may still have of it.
    let mut wake_buf = Box::new([0u8; 8]);
    let set_up = IoUring::new((u32::from(depth) + 2).next_power_of_two())
        .map_err(|e| Errno::from_io(&e))
        .and_then(|ring| Ok((ring, Descriptors::map(cdev, q_id, depth)?)));
    let (mut ring, descriptors) = match set_up {
        Ok(set_up) => set_up,
        Err(e) => return ready(Err(e)),
    };
    let fd = types::Fd(cdev.as_raw_fd());
    let wake_read = |buf: &mut [u8; 8]| {
        opcode::Read::new(
            types::Fd(shared.wake.as_fd().as_raw_fd()),
            buf.as_mut_ptr(),
            8,
        )
        .build()
        .user_data(WAKE)
    };
    let mut pending: Vec<io_uring::squeue::Entry> = (0..depth)
        .map(|tag| {
            opcode::UringCmd16::new(fd, UBLK_U_IO_FETCH_REQ)
                .cmd(io_cmd(q_id, tag, -1))
                .build()
                .user_data(u64::from(tag))
        })
        .collect();
    pending.push(wake_read(&mut wake_buf));
    // Submitted without waiting: no fetch completes before the device is started, which waits
    // for `ready`.
    if let Err(e) =
        push_all(&mut ring, &mut pending).and_then(|()| submit(&ring, Some(Duration::ZERO)))
    {
        return ready(Err(e));
    }
    ready(Ok(()));

    let mut aborted = 0u16;
    let mut again: Option<Duration> = None;
    while aborted < depth && !shared.quit.load(Ordering::SeqCst) {
        if let Err(e) = submit(&ring, again) {
            printk(
                Level::Err,
                "ublk",
                None,
                format_args!("ublk: queue {q_id} stops: {e}\n"),
            );
            break;
        }
        let mut requests = Vec::new();
        let mut woken = false;
        for cqe in ring.completion() {
            if cqe.user_data() == WAKE {
                woken = true;
                continue;
            }
            let tag = u16::try_from(cqe.user_data()).unwrap_or(u16::MAX);
            match cqe.result() {
                UBLK_IO_RES_OK => {
                    let desc = descriptors.get(tag);
                    match req_op(desc.op_flags & 0xff) {
                        Some(op) => requests.push(Request {
                            tag,
                            op,
                            sector: desc.start_sector,
                            bytes: desc.nr_sectors << SECTOR_SHIFT,
                        }),
                        // An operation blk-mq drivers are not given here: refused.
                        None => shared.commit(tag, Errno::EOPNOTSUPP.to_errno()),
                    }
                }
                UBLK_IO_RES_ABORT => aborted += 1,
                error => {
                    printk(
                        Level::Err,
                        "ublk",
                        None,
                        format_args!("ublk: queue {q_id} tag {tag}: error {error}\n"),
                    );
                    aborted += 1;
                }
            }
        }
        if woken {
            pending.push(wake_read(&mut wake_buf));
        }
        again = run(requests);
        let commits =
            core::mem::take(&mut *shared.commits.lock().unwrap_or_else(|e| e.into_inner()));
        pending.extend(commits.into_iter().map(|(tag, result)| {
            opcode::UringCmd16::new(fd, UBLK_U_IO_COMMIT_AND_FETCH_REQ)
                .cmd(io_cmd(q_id, tag, result))
                .build()
                .user_data(u64::from(tag))
        }));
        if let Err(e) = push_all(&mut ring, &mut pending) {
            printk(
                Level::Err,
                "ublk",
                None,
                format_args!("ublk: queue {q_id} stops: {e}\n"),
            );
            break;
        }
    }
    // Dropping the ring cancels what it still has in flight; then the mapping goes.
    drop(ring);
    drop(descriptors);
}

/// Pushes `entries` to the ring's submission queue, submitting when it is full.
fn push_all(ring: &mut IoUring, entries: &mut Vec<io_uring::squeue::Entry>) -> Result<(), Errno> {
    for entry in entries.drain(..) {
        loop {
            // SAFETY: The entries' buffers (the eventfd read's) live as long as the ring: the
            // ring is dropped before them.
            if unsafe { ring.submission().push(&entry) }.is_ok() {
                break;
            }
            submit(ring, Some(Duration::ZERO))?;
        }
    }
    Ok(())
}

/// Submits what was pushed and waits for a completion, at most `timeout` if given.
fn submit(ring: &IoUring, timeout: Option<Duration>) -> Result<(), Errno> {
    let result = match timeout {
        None => ring.submit_and_wait(1),
        Some(timeout) => {
            let ts = types::Timespec::from(timeout);
            let args = types::SubmitArgs::new().timespec(&ts);
            ring.submitter().submit_with_args(1, &args)
        }
    };
    match result {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => Ok(()),
        Err(e) => Err(Errno::from_io(&e)),
    }
}
