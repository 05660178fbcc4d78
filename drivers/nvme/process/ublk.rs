//! The NVMe driver's namespaces as disks of the kernel, through ublk (`nvme --ublk`).
//!
//! Each controller's namespace is a ublk device ([`drydock_host::block::ublk::Device`]) with one
//! ublk queue per NVMe I/O queue. A queue has two threads: the ublk thread fetches the requests
//! ([`drydock_host::block::ublk::serve_queue`]) and submits them to its NVMe queue, and the
//! completion thread waits for the NVMe queue's interrupts and ends the requests. Each tag of a
//! ublk queue owns a slice of its queue's DMA buffer, which the controller reads (a write) or
//! writes (a read): ublk's own copy, `pread`/`pwrite` on `/dev/ublkcN` with user copy, moves the
//! data between the request's pages and that slice, and nothing else copies it.
//!
//! The devices ask for user recovery: if the process dies, the disk stays (its I/O waits), and
//! the next `nvme --ublk` for the same controller takes it back, the requests the dead process
//! had issued again. A stop signal deletes the disks (ublk waits for their I/O) before the
//! driver unbinds.
//!
//! This lives outside the driver file because 7.3's Rust `Request` has no data accessors: the
//! driver cannot serve a `block::mq` disk and stay buildable in the kernel (see docs/porting.md).

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Condvar, Mutex};

use drydock_host::block::genhd::DiskParams;
use drydock_host::block::ublk::{self, Device, QueueShared, Request};
use drydock_host::block::{REQ_OP_FLUSH, REQ_OP_READ, REQ_OP_WRITE, SECTOR_SHIFT};
use drydock_host::errno::Errno;
use drydock_nvme::{Completion, Controller, IoCommand, NvmeDriver, Queue, QueueConfig, Tag};
use drydock_runner::driver_data::with_driver_data;
use drydock_runner::runtime::{Options, Session, Stop, StopSignals};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::sync::Arc;
use kernel::time::Delta;

/// The tags of each ublk queue, if the controller's queues are that deep.
const DEPTH: u16 = 64;
/// The largest request, if the controller's transfers are that large.
const MAX_IO_BYTES: usize = 512 << 10;
/// The most queues per disk.
const MAX_QUEUES: u16 = 4;
/// How long a command may take before the driver takes it back.
const TIMEOUT: Delta = Delta::from_secs(30);
/// The high half of a device's mark (`nvme`): the low half is the controller's.
const MARK: u64 = 0x6e76_6d65 << 32;

/// Set once a stop signal arrived.
struct StopFlag {
    stopped: Mutex<bool>,
    changed: Condvar,
}

impl StopFlag {
    fn set(&self) {
        *self.stopped.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.changed.notify_all();
    }

    fn wait(&self) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        while !*stopped {
            stopped = self
                .changed
                .wait(stopped)
                .unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Binds the controllers `options` name and serves their namespaces as ublk disks until a stop
/// signal.
pub(crate) fn run(options: Options) -> ExitCode {
    drydock_runner::logger::init();
    match serve(options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            log::error!(target: "drydock", "nvme --ublk: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(options: Options) -> Result<(), String> {
    // Caught before anything is opened, so a stop request is never lost.
    let signals = StopSignals::install().map_err(|e| e.to_string())?;
    let session = Session::load(&drydock_nvme::__DRYDOCK_MODULE).map_err(|e| format!("{e:?}"))?;
    session.open_devices(options).map_err(|e| e.to_string())?;
    let devices = session.bus().bound_devices();
    if devices.is_empty() {
        return Err("no controller is bound; the probe errors are in the log".into());
    }
    let stop = StopFlag {
        stopped: Mutex::new(false),
        changed: Condvar::new(),
    };
    let outcome = std::thread::scope(|scope| {
        let exports: Vec<_> = devices
            .iter()
            .map(|device| {
                let stop = &stop;
                scope.spawn(move || {
                    with_driver_data::<NvmeDriver, _>(device, |dev, ctrl| {
                        export(dev, ctrl.get_ref(), stop)
                    })
                    .map_err(|e| format!("the driver is not bound: {e:?}"))?
                })
            })
            .collect();
        match signals.wait() {
            Ok(Stop::Signal(signal)) => {
                log::info!(target: "drydock", "nvme: signal {signal} received, unloading");
            }
            Ok(Stop::Fault) => log::error!(target: "drydock", "nvme: a driver callback panicked"),
            Err(e) => log::error!(target: "drydock", "nvme: waiting for a signal: {e}"),
        }
        stop.set();
        exports
            .into_iter()
            .map(|export| {
                export
                    .join()
                    .map_err(|_| "a disk's thread panicked".to_owned())?
            })
            .collect::<Result<Vec<()>, String>>()
    });
    session.stop();
    outcome.map(|_| ())
}

/// The mark of the ublk device of the controller `name`: a hash of its address.
fn mark(name: &str) -> u64 {
    // FNV-1a, 32 bits.
    let hash = name.bytes().fold(0x811c_9dc5u32, |hash, byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    });
    MARK | u64::from(hash)
}

/// Serves the namespace of `ctrl` as a ublk disk (a new one, or the one a dead process left)
/// until `stop`.
fn export(dev: &pci::Device<Bound>, ctrl: &Controller<'_>, stop: &StopFlag) -> Result<(), String> {
    let address = dev.as_ref().name().to_string_lossy().into_owned();
    let ns = ctrl.namespace();
    let name = format!("{address}n{}", ns.id);
    let mark = mark(&address);
    let max_io_bytes = ctrl.max_transfer().min(MAX_IO_BYTES);
    let device = match Device::recover(&name, mark).map_err(|e| format!("{name}: {e}"))? {
        Some(device) => device,
        None => {
            let params = DiskParams {
                name: name.clone(),
                sectors: ns.blocks << (ns.block_shift - SECTOR_SHIFT as u8),
                logical_block_size: 1 << ns.block_shift,
                physical_block_size: 1 << ns.block_shift,
                rotational: false,
                nr_hw_queues: u32::from(ctrl.max_io_queues().min(MAX_QUEUES)),
                queue_depth: u32::from(DEPTH).min(ctrl.max_queue_entries() - 1),
            };
            let options = ublk::Options {
                max_io_bytes: u32::try_from(max_io_bytes).map_err(|e| e.to_string())?,
                write_cache: ctrl.info().volatile_write_cache,
                recovery: true,
                mark,
            };
            Device::add(&params, &options).map_err(|e| format!("{name}: {e}"))?
        }
    };
    let result = serve_device(dev, ctrl, &device, stop);
    // A disk taken back that could not be served stays for the next process to try.
    if result.is_ok() || !device.recovered() {
        device.delete();
    }
    result
}

/// Creates an NVMe queue and a DMA buffer for each ublk queue of `device`, serves them, starts
/// the device, and stops it on `stop`.
fn serve_device(
    dev: &pci::Device<Bound>,
    ctrl: &Controller<'_>,
    device: &Device,
    stop: &StopFlag,
) -> Result<(), String> {
    let name = device.name();
    let slot = device.max_io_bytes() as usize;
    if slot > ctrl.max_transfer() || u32::from(device.queues()) > u32::from(ctrl.max_io_queues()) {
        return Err(format!(
            "{name}: the disk has {} queues of {} KiB requests, more than the controller takes",
            device.queues(),
            slot >> 10
        ));
    }
    let config = QueueConfig {
        depth: device.depth() + 1,
        interrupts: true,
        timeout: TIMEOUT,
    };
    let mut queues = Vec::new();
    for q_id in 0..device.queues() {
        match DiskQueue::new(dev, ctrl, device, q_id, config) {
            Ok(queue) => queues.push(queue),
            Err(e) => {
                for queue in &queues {
                    let _ = ctrl.delete_io_queue(dev, &queue.nvme);
                }
                return Err(format!("{name}: {e}"));
            }
        }
    }
    let outcome = std::thread::scope(|scope| {
        let (ready_tx, ready_rx) = mpsc::channel();
        for queue in &queues {
            let ready = ready_tx.clone();
            scope.spawn(move || {
                let ready = |r| {
                    let _ = ready.send(r);
                };
                let cdev = device.cdev();
                ublk::serve_queue(
                    &queue.shared,
                    cdev,
                    queue.q_id,
                    device.depth(),
                    ready,
                    |rs| {
                        queue.submit(dev, device, rs);
                        None
                    },
                );
                queue.served.store(true, Ordering::SeqCst);
            });
            scope.spawn(move || queue.complete(dev, device));
        }
        drop(ready_tx);
        let fetching = (0..queues.len())
            .map(|_| ready_rx.recv().map_err(|_| Errno::EIO)?)
            .collect::<Result<Vec<()>, Errno>>();
        let served = fetching
            .and_then(|_| device.start())
            .map_err(|e| format!("{name}: starting: {e}"))
            .and_then(|()| {
                stop.wait();
                // ublk waits for the requests in flight, then ends every tag's fetch.
                device.stop().map_err(|e| format!("{name}: stopping: {e}"))
            });
        if served.is_err() {
            for queue in &queues {
                queue.shared.quit();
            }
        }
        served
    });
    for queue in &queues {
        let _ = ctrl.delete_io_queue(dev, &queue.nvme);
    }
    outcome
}

/// A request on the controller: its ublk tag, its bytes, and whether it is a read.
#[derive(Clone, Copy)]
struct Pending {
    tag: u16,
    bytes: usize,
    read: bool,
}

/// A ublk queue and the NVMe queue that serves it.
struct DiskQueue {
    q_id: u16,
    nvme: Arc<Queue>,
    /// `slot` bytes for each tag.
    buffer: Coherent<[u8]>,
    slot: usize,
    block_shift: u8,
    shared: QueueShared,
    /// The request of each command in flight, by its whole [`Tag`] (slot and sequence number):
    /// the completion thread looks it up after the queue freed the slot, when the ublk thread
    /// may already have placed another command in it. The command identifier (`Tag::cid`) does
    /// not tell the two apart: it keeps 4 bits of the sequence number, and the queue hands the
    /// slot freed last to the next command, so with 16 or 32 commands submitted in between (a
    /// queue depth of 16 or 32) the two had the same identifier, the new command's entry
    /// replaced the old one's, and the old request was never ended.
    pending: Mutex<Vec<(Tag, Pending)>>,
    /// Set once the ublk thread ended: the completion thread ends once nothing is in flight.
    served: AtomicBool,
}

impl DiskQueue {
    /// Creates NVMe queue `q_id` with its DMA buffer, for the ublk queue `q_id` of `device`.
    fn new(
        dev: &pci::Device<Bound>,
        ctrl: &Controller<'_>,
        device: &Device,
        q_id: u16,
        config: QueueConfig,
    ) -> Result<DiskQueue, String> {
        let slot = device.max_io_bytes() as usize;
        let bytes = usize::from(device.depth()) * slot;
        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), bytes, GFP_KERNEL)
            .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
        let nvme = ctrl
            .create_io_queue(dev, config)
            .map_err(|e| format!("creating NVMe queue {q_id}: {e:?}"))?;
        Ok(DiskQueue {
            q_id,
            pending: Mutex::new(Vec::with_capacity(nvme.capacity())),
            nvme,
            buffer,
            slot,
            block_shift: ctrl.namespace().block_shift,
            shared: QueueShared::new().map_err(|e| e.to_string())?,
            served: AtomicBool::new(false),
        })
    }

    /// The slice of the DMA buffer of `tag`, `bytes` long.
    ///
    /// # Safety
    ///
    /// The controller must not access the slice while it lives: the tag has no command in
    /// flight.
    #[allow(clippy::mut_from_ref)]
    unsafe fn slot(&self, tag: u16, bytes: usize) -> &mut [u8] {
        let offset = usize::from(tag) * self.slot;
        assert!(bytes <= self.slot && offset + self.slot <= self.buffer.len());
        // SAFETY: the slice is within the buffer (checked above), which lives as long as `self`;
        // the tag's ublk request owns it, so no other thread uses it, and the caller guarantees
        // the controller does not.
        unsafe {
            core::slice::from_raw_parts_mut(
                self.buffer.as_mut_ptr().cast::<u8>().add(offset),
                bytes,
            )
        }
    }

    /// Submits `requests` to the NVMe queue, ending at once those that fail.
    fn submit(&self, dev: &pci::Device<Bound>, device: &Device, requests: Vec<Request>) {
        if requests.is_empty() {
            return;
        }
        for request in requests {
            if let Err(e) = self.place(dev, device, request) {
                self.shared.commit(request.tag, e.to_errno());
            }
        }
        if self.nvme.commit(dev).is_err() {
            log::error!(target: "drydock", "nvme --ublk: queue {}: ringing failed", self.q_id);
        }
    }

    /// Places one request in the NVMe queue (the doorbell rings after the batch).
    fn place(
        &self,
        dev: &pci::Device<Bound>,
        device: &Device,
        request: Request,
    ) -> Result<(), Errno> {
        let bytes = request.bytes as usize;
        let lba = (request.sector << SECTOR_SHIFT) >> self.block_shift;
        let blocks = request.bytes >> self.block_shift;
        let offset = usize::from(request.tag) * self.slot;
        let (command, read) = match request.op {
            REQ_OP_READ => (
                IoCommand::Read {
                    lba,
                    blocks,
                    buffer: &self.buffer,
                    offset,
                },
                true,
            ),
            REQ_OP_WRITE => {
                // SAFETY: the tag has no command in flight.
                device.copy_from_request(self.q_id, request.tag, unsafe {
                    self.slot(request.tag, bytes)
                })?;
                let command = IoCommand::Write {
                    lba,
                    blocks,
                    buffer: &self.buffer,
                    offset,
                };
                (command, false)
            }
            REQ_OP_FLUSH => (IoCommand::Flush, false),
            _ => return Err(Errno::EOPNOTSUPP),
        };
        if bytes > self.slot || (request.op != REQ_OP_FLUSH && blocks == 0) {
            return Err(Errno::EINVAL);
        }
        // The doorbell rings after the batch: the completion cannot come before this is noted.
        let nvme_tag = self.nvme.queue(dev, &command).map_err(|_| Errno::EIO)?;
        let pending = Pending {
            tag: request.tag,
            bytes,
            read,
        };
        self.pending
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((nvme_tag, pending));
        Ok(())
    }

    /// Waits for the NVMe queue's completions and ends their requests, until the ublk thread
    /// ended and nothing is in flight.
    fn complete(&self, dev: &pci::Device<Bound>, device: &Device) {
        let mut out = [Completion::default(); 64];
        loop {
            let n = match self.nvme.wait(dev, &mut out, Delta::from_millis(100)) {
                Ok(n) => n,
                Err(e) => {
                    log::error!(target: "drydock", "nvme --ublk: queue {}: {e:?}", self.q_id);
                    0
                }
            };
            if n == 0 && self.served.load(Ordering::SeqCst) && self.nvme.outstanding() == 0 {
                return;
            }
            for completion in &out[..n] {
                let taken = {
                    let mut pending = self.pending.lock().unwrap_or_else(|e| e.into_inner());
                    let index = pending.iter().position(|(t, _)| *t == completion.tag);
                    index.map(|index| pending.swap_remove(index).1)
                };
                let Some(Pending { tag, bytes, read }) = taken else {
                    continue;
                };
                // ublk takes the bytes transferred (a flush has none) or a negative errno.
                let copied = match (completion.to_result(), read) {
                    (Err(_), _) => Err(Errno::EIO),
                    (Ok(()), true) => {
                        // SAFETY: the command completed: the controller no longer writes the
                        // slot, and the tag has no other command until it is committed.
                        let data = unsafe { self.slot(tag, bytes) };
                        device.copy_to_request(self.q_id, tag, data)
                    }
                    (Ok(()), false) => Ok(()),
                };
                let result = match copied {
                    Ok(()) => i32::try_from(bytes).unwrap_or(i32::MAX),
                    Err(e) => e.to_errno(),
                };
                self.shared.commit(tag, result);
            }
        }
    }
}
