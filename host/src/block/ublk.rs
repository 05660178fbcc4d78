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
//! `Request` gives drivers no way to ask for. The name is ublk's: the process logs which disk got
//! which.
//!
//! The device ([`Device`]) and its queues' threads ([`serve_queue`]) are public for a server of
//! its own that moves the data itself, such as the NVMe driver's process, which serves each
//! namespace with its own queues and DMA buffers, and asks for user recovery
//! (`UBLK_F_USER_RECOVERY`, Linux 6.0), so that a restarted process takes the disk back.

mod control;
mod device;
mod queue;
mod uapi;

use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;

pub use device::{Device, Options};
pub use queue::{serve as serve_queue, QueueShared, Request};

use super::dispatch::{Bio, Queue, Sink};
use super::genhd::{DiskParams, Started};
use super::{blk_status_t, blk_status_to_errno, BLK_STS_OK};
use crate::errno::Errno;

/// The largest request, in bytes: 512 KiB, as ublk's own servers choose.
const MAX_IO_BYTES: u32 = 512 << 10;

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

/// A ublk device serving a disk of `block::mq`.
struct UblkDisk {
    device: Device,
    sink: Arc<UblkSink>,
    threads: Vec<JoinHandle<()>>,
}

/// Starts serving a disk as a ublk device.
pub(super) fn start(params: DiskParams, queue: Arc<Queue>) -> Result<Box<dyn Started>, Errno> {
    let options = Options {
        max_io_bytes: MAX_IO_BYTES,
        ..Options::default()
    };
    let device = Device::add(&params, &options)?;
    let queues = (0..device.queues())
        .map(|_| QueueShared::new())
        .collect::<Result<Box<[_]>, _>>();
    let mut disk = UblkDisk {
        device,
        sink: Arc::new(UblkSink {
            queues: Box::new([]),
        }),
        threads: Vec::new(),
    };
    match queues.and_then(|queues| disk.serve(queues, queue)) {
        Ok(()) => Ok(Box::new(disk)),
        Err(e) => {
            disk.quit();
            Err(e)
        }
    }
}

impl UblkDisk {
    /// Starts a thread for each queue, and the device once they fetch.
    fn serve(&mut self, queues: Box<[QueueShared]>, queue: Arc<Queue>) -> Result<(), Errno> {
        self.sink = Arc::new(UblkSink { queues });
        queue.set_sink(Arc::clone(&self.sink) as Arc<dyn Sink>);
        let (ready_tx, ready_rx) = mpsc::channel();
        let depth = self.device.depth();
        for q_id in 0..self.device.queues() {
            let (queue, sink, cdev) = (
                Arc::clone(&queue),
                Arc::clone(&self.sink),
                Arc::clone(self.device.cdev()),
            );
            let ready = ready_tx.clone();
            let thread = std::thread::Builder::new()
                .name(format!("ublk{}/{q_id}", self.device.id()))
                .spawn(move || {
                    let shared = &sink.queues[usize::from(q_id)];
                    let ready = |r| {
                        let _ = ready.send(r);
                    };
                    queue::serve(shared, &cdev, q_id, depth, ready, |requests| {
                        let bios = requests.into_iter().map(|r| Bio {
                            op: r.op,
                            sector: r.sector,
                            bytes: r.bytes,
                            cookie: u64::from(r.tag),
                        });
                        queue.run(u32::from(q_id), bios.collect())
                    });
                })
                .map_err(|e| Errno::from_io(&e))?;
            self.threads.push(thread);
        }
        drop(ready_tx);
        for _ in 0..self.device.queues() {
            ready_rx
                .recv()
                .map_err(|_| Errno::EIO)?
                .map_err(|e| device::failed(self.device.name(), "fetching requests", e))?;
        }
        // Blocks until every tag fetches, then adds the block device.
        self.device.start()
    }

    /// Makes the queue threads leave, waits for them, and deletes the device.
    fn quit(mut self) {
        for q in self.sink.queues.iter() {
            q.quit();
        }
        self.join();
        self.device.delete();
    }

    /// Waits for the queue threads, which hold the device's character device.
    fn join(&mut self) {
        for thread in self.threads.drain(..) {
            // A panic of the thread was reported on it already.
            let _ = thread.join();
        }
    }
}

impl Started for UblkDisk {
    fn stop(self: Box<Self>) {
        let mut disk = *self;
        // The disk has no request in flight: stopping deletes the block device at once, and each
        // tag's fetch completes with `UBLK_IO_RES_ABORT`, which ends its thread.
        match disk.device.stop() {
            Ok(()) => {
                disk.join();
                disk.device.delete();
            }
            Err(_) => disk.quit(),
        }
    }
}
