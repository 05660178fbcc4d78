//! The ublk front end: a disk of the process as a block device of the kernel, `/dev/ublkbN`.
//!
//! ublk (`drivers/block/ublk_drv.c`) is a blk-mq driver of the kernel whose requests a process
//! serves through io_uring. Adding a disk here adds a ublk device with the disk's hardware queues
//! and depth (`UBLK_U_CMD_ADD_DEV`), gives it the disk's capacity, block sizes and rotational
//! flag (`UBLK_U_CMD_SET_PARAMS`), starts one thread per hardware queue, which fetches that
//! queue's requests (see `queue`), and starts the device (`UBLK_U_CMD_START_DEV`), which adds the
//! block device `/dev/ublkbN`. The kernel's blk-mq, in front of ublk, turns the I/O of the block
//! device's users into ublk requests, one tag of a ublk queue each; the queue's thread hands them
//! to the shared dispatch, as blk-mq would hand them to the driver, with the ublk tag as the
//! front end's name for the I/O. Removing the disk stops the device (`UBLK_U_CMD_STOP_DEV`, which
//! deletes the block device once its I/O ended) and deletes it (`UBLK_U_CMD_DEL_DEV`).
//!
//! What it needs of the kernel: ublk with `UBLK_F_USER_COPY` (Linux 6.5), and so root. With user
//! copy the process gives ublk no buffers and copies nothing: the data stays in the kernel's pages
//! unless the process reads or writes it with `pread`/`pwrite` on `/dev/ublkcN`, which 7.3's Rust
//! `Request` gives drivers no way to ask for. The device's flags are those alone; user recovery
//! (`UBLK_F_USER_RECOVERY`, 6.1) is a flag of the same device and commands on the same control
//! device, so a server that takes a disk back after a crash can be built on this one. The name is
//! ublk's: the process logs which disk got which.

mod control;
mod queue;
mod uapi;

use std::os::fd::OwnedFd;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use control::Control;
use queue::QueueShared;
use uapi::{
    ublk_param_basic, ublk_params, ublksrv_ctrl_cmd, ublksrv_ctrl_dev_info, UBLK_ATTR_ROTATIONAL,
    UBLK_F_CMD_IOCTL_ENCODE, UBLK_F_USER_COPY, UBLK_MAX_QUEUE_DEPTH, UBLK_PARAM_TYPE_BASIC,
    UBLK_U_CMD_ADD_DEV, UBLK_U_CMD_DEL_DEV, UBLK_U_CMD_SET_PARAMS, UBLK_U_CMD_START_DEV,
    UBLK_U_CMD_STOP_DEV,
};

use super::dispatch::{Queue, Sink};
use super::genhd::{DiskParams, Started};
use super::{blk_status_t, blk_status_to_errno, BLK_STS_OK, SECTOR_SHIFT};
use crate::errno::Errno;
use crate::print::{printk, Level};

/// The largest request, in bytes: 512 KiB, as ublk's own servers choose.
const MAX_IO_BYTES: u32 = 512 << 10;

/// How long to wait for `/dev/ublkcN` to appear after the device is added.
const CDEV_PATIENCE: Duration = Duration::from_secs(5);

/// The flags of the ublk devices: user copy, and the ioctl-encoded commands.
const FLAGS: u64 = UBLK_F_USER_COPY | UBLK_F_CMD_IOCTL_ENCODE;

/// Where the requests of a ublk disk's queues end.
struct UblkSink {
    queues: Box<[QueueShared]>,
}

impl Sink for UblkSink {
    fn end(&self, hctx: u32, cookie: u64, status: blk_status_t, bytes: u32) {
        // ublk takes the bytes transferred (which a read must have) or a negative errno.
        let result = if status == BLK_STS_OK {
            i32::try_from(bytes).unwrap_or(i32::MAX)
        } else {
            blk_status_to_errno(status)
        };
        let tag = u16::try_from(cookie).unwrap_or(u16::MAX);
        self.queues[hctx as usize].commit(tag, result);
    }

    fn kick(&self, hctx: u32) {
        self.queues[hctx as usize].kick();
    }
}

/// A ublk device serving a disk.
struct UblkDisk {
    name: String,
    control: Control,
    dev_id: u32,
    sink: Arc<UblkSink>,
    threads: Vec<JoinHandle<()>>,
}

/// A control command for device `dev_id` with the buffer `buf`, or none.
fn command<T>(dev_id: u32, buf: Option<&mut T>, data: u64) -> ublksrv_ctrl_cmd {
    let (addr, len) = match buf {
        Some(buf) => (
            core::ptr::from_mut(buf) as u64,
            u16::try_from(core::mem::size_of::<T>()).unwrap_or(u16::MAX),
        ),
        None => (0, 0),
    };
    ublksrv_ctrl_cmd {
        dev_id,
        queue_id: u16::MAX,
        len,
        addr,
        data,
    }
}

/// Logs that `what` failed for the disk `name`, and returns the errno.
fn failed(name: &str, what: &str, e: Errno) -> Errno {
    printk(
        Level::Err,
        "ublk",
        None,
        format_args!("{name}: ublk: {what} failed: {e}\n"),
    );
    e
}

/// Starts serving a disk as a ublk device.
pub(super) fn start(params: DiskParams, queue: Arc<Queue>) -> Result<Box<dyn Started>, Errno> {
    let name = params.name.clone();
    if params.queue_depth > UBLK_MAX_QUEUE_DEPTH || params.nr_hw_queues > u32::from(u16::MAX) {
        return Err(failed(
            &name,
            &format!(
                "a queue depth of {} (ublk's limit is 4096)",
                params.queue_depth
            ),
            Errno::EINVAL,
        ));
    }
    let mut control = Control::open()?;
    let mut info = ublksrv_ctrl_dev_info {
        nr_hw_queues: u16::try_from(params.nr_hw_queues).unwrap_or(u16::MAX),
        queue_depth: u16::try_from(params.queue_depth).unwrap_or(u16::MAX),
        max_io_buf_bytes: MAX_IO_BYTES,
        dev_id: u32::MAX,
        ublksrv_pid: i32::try_from(std::process::id()).unwrap_or(0),
        flags: FLAGS,
        ..Default::default()
    };
    control
        .command(UBLK_U_CMD_ADD_DEV, command(u32::MAX, Some(&mut info), 0))
        .map_err(|e| failed(&name, "adding the device", e))?;
    let mut disk = UblkDisk {
        name: name.clone(),
        control,
        dev_id: info.dev_id,
        sink: Arc::new(UblkSink {
            queues: Box::new([]),
        }),
        threads: Vec::new(),
    };
    match disk.serve(&params, &info, queue) {
        Ok(()) => {
            printk(
                Level::Info,
                "ublk",
                None,
                format_args!("{name}: served as /dev/ublkb{}\n", disk.dev_id),
            );
            Ok(Box::new(disk))
        }
        Err(e) => {
            disk.quit();
            Err(e)
        }
    }
}

impl UblkDisk {
    /// Sets the device up for `params` and starts it.
    fn serve(
        &mut self,
        params: &DiskParams,
        info: &ublksrv_ctrl_dev_info,
        queue: Arc<Queue>,
    ) -> Result<(), Errno> {
        let name = &self.name;
        if info.flags & UBLK_F_USER_COPY == 0 {
            return Err(failed(
                name,
                "UBLK_F_USER_COPY (this kernel's ublk lacks it: Linux 6.5 has it)",
                Errno::EOPNOTSUPP,
            ));
        }
        let shift = |size: u32| u8::try_from(size.trailing_zeros()).unwrap_or(u8::MAX);
        let mut ublk_params = ublk_params {
            len: u32::try_from(core::mem::size_of::<ublk_params>()).unwrap_or(0),
            types: UBLK_PARAM_TYPE_BASIC,
            basic: ublk_param_basic {
                attrs: if params.rotational {
                    UBLK_ATTR_ROTATIONAL
                } else {
                    0
                },
                logical_bs_shift: shift(params.logical_block_size),
                physical_bs_shift: shift(params.physical_block_size),
                // 1 byte each, which the block layer raises to the physical block size and rounds
                // down to none, as for a driver that sets neither.
                io_opt_shift: 0,
                io_min_shift: 0,
                max_sectors: MAX_IO_BYTES >> SECTOR_SHIFT,
                dev_sectors: params.sectors,
                ..Default::default()
            },
        };
        self.control
            .command(
                UBLK_U_CMD_SET_PARAMS,
                command(self.dev_id, Some(&mut ublk_params), 0),
            )
            .map_err(|e| failed(name, "setting the parameters", e))?;
        let cdev = Arc::new(open_cdev(self.dev_id).map_err(|e| failed(name, "opening", e))?);

        let queues = (0..info.nr_hw_queues)
            .map(|_| QueueShared::new())
            .collect::<Result<Box<[_]>, _>>()?;
        self.sink = Arc::new(UblkSink { queues });
        queue.set_sink(Arc::clone(&self.sink) as Arc<dyn Sink>);
        let (ready_tx, ready_rx) = mpsc::channel();
        for q_id in 0..info.nr_hw_queues {
            let (queue, sink, cdev) = (
                Arc::clone(&queue),
                Arc::clone(&self.sink),
                Arc::clone(&cdev),
            );
            let ready = ready_tx.clone();
            let depth = info.queue_depth;
            let thread = std::thread::Builder::new()
                .name(format!("ublk{}/{q_id}", self.dev_id))
                .spawn(move || {
                    let shared = &sink.queues[usize::from(q_id)];
                    queue::serve(&queue, shared, &cdev, q_id, depth, |r| {
                        let _ = ready.send(r);
                    });
                })
                .map_err(|e| Errno::from_io(&e))?;
            self.threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..info.nr_hw_queues {
            ready_rx
                .recv()
                .map_err(|_| Errno::EIO)?
                .map_err(|e| failed(name, "fetching requests", e))?;
        }
        // Blocks until every tag fetches, then adds the block device.
        let pid = u64::from(std::process::id());
        self.control
            .command(UBLK_U_CMD_START_DEV, command::<()>(self.dev_id, None, pid))
            .map_err(|e| failed(name, "starting the device", e))?;
        Ok(())
    }

    /// Makes the queue threads leave, waits for them, and deletes the device.
    fn quit(mut self) {
        for q in self.sink.queues.iter() {
            q.quit();
        }
        self.delete();
    }

    /// Waits for the queue threads and deletes the device, whose character device they held.
    fn delete(&mut self) {
        for thread in self.threads.drain(..) {
            // A panic of the thread was reported on it already.
            let _ = thread.join();
        }
        if let Err(e) = self
            .control
            .command(UBLK_U_CMD_DEL_DEV, command::<()>(self.dev_id, None, 0))
        {
            failed(&self.name, "deleting the device", e);
        }
    }
}

impl Started for UblkDisk {
    fn stop(mut self: Box<Self>) {
        // The disk has no request in flight: stopping deletes the block device at once, and each
        // tag's fetch completes with `UBLK_IO_RES_ABORT`, which ends its thread.
        match self
            .control
            .command(UBLK_U_CMD_STOP_DEV, command::<()>(self.dev_id, None, 0))
        {
            Ok(_) => self.delete(),
            Err(e) => {
                failed(&self.name, "stopping the device", e);
                self.quit();
            }
        }
    }
}

/// Opens `/dev/ublkcN`, waiting a little for it to appear.
fn open_cdev(dev_id: u32) -> Result<OwnedFd, Errno> {
    let path = format!("/dev/ublkc{dev_id}");
    let start = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => return Ok(file.into()),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound && start.elapsed() < CDEV_PATIENCE =>
            {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Errno::from_io(&e)),
        }
    }
}
