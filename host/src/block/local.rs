//! The in-process front end: disks that exist in the process, for tests on any machine.
//!
//! A disk added while the front end is [`Frontend::InProcess`](super::Frontend::InProcess) gets
//! one thread per hardware queue, as a ublk disk does, and is found by its name with
//! [`Disk::open`]. [`Disk::submit`] hands a batch of I/O to a hardware queue, as a plugged batch
//! of bios reaches blk-mq: the queue's thread gives each a request and calls the driver, and each
//! [`Completion`] says how the I/O ended. I/O submitted to a disk being removed fails with `EIO`.
//!
//! ```
//! use drydock_host::block::local::Disk;
//! assert!(Disk::open("no-such-disk").is_err());
//! ```

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use super::dispatch::{Bio, Queue, Sink};
use super::genhd::{DiskParams, Started};
use super::{
    blk_opf_t, blk_status_t, blk_status_to_errno, BLK_STS_OK, REQ_OP_DISCARD, REQ_OP_FLUSH,
    REQ_OP_READ, REQ_OP_WRITE, REQ_OP_WRITE_ZEROES, SECTOR_SHIFT,
};
use crate::errno::Errno;

/// The operation of an I/O.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// Read sectors (`REQ_OP_READ`).
    Read,
    /// Write sectors (`REQ_OP_WRITE`).
    Write,
    /// Flush the write cache (`REQ_OP_FLUSH`).
    Flush,
    /// Discard sectors (`REQ_OP_DISCARD`).
    Discard,
    /// Write zeroes (`REQ_OP_WRITE_ZEROES`).
    WriteZeroes,
}

impl Op {
    /// The `REQ_OP_*` value.
    pub fn to_req_op(self) -> blk_opf_t {
        match self {
            Op::Read => REQ_OP_READ,
            Op::Write => REQ_OP_WRITE,
            Op::Flush => REQ_OP_FLUSH,
            Op::Discard => REQ_OP_DISCARD,
            Op::WriteZeroes => REQ_OP_WRITE_ZEROES,
        }
    }
}

/// An I/O to submit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Io {
    /// What to do.
    pub op: Op,
    /// The first sector.
    pub sector: u64,
    /// How many 512-byte sectors.
    pub sectors: u32,
}

/// How an I/O ends: the bytes transferred, or the errno of the request's status.
pub type Outcome = Result<u32, Errno>;

/// Where an I/O's outcome arrives.
#[derive(Default)]
struct Slot {
    outcome: Mutex<Option<Outcome>>,
    ended: Condvar,
}

impl Slot {
    fn fill(&self, outcome: Outcome) {
        *lock(&self.outcome) = Some(outcome);
        self.ended.notify_all();
    }
}

/// The outcome of a submitted I/O, once it ended.
#[derive(Clone)]
pub struct Completion(Arc<Slot>);

impl Completion {
    /// The outcome, if the I/O ended.
    pub fn outcome(&self) -> Option<Outcome> {
        *lock(&self.0.outcome)
    }

    /// Waits at most `timeout` for the I/O to end; returns its outcome, or `None` if it did not
    /// end in time.
    pub fn wait(&self, timeout: Duration) -> Option<Outcome> {
        let guard = lock(&self.0.outcome);
        let (guard, _) = self
            .0
            .ended
            .wait_timeout_while(guard, timeout, |o| o.is_none())
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// What a hardware queue's thread is asked to do.
#[derive(Default)]
struct Inbox {
    bios: Vec<Bio>,
    kicked: bool,
    stop: bool,
}

/// A hardware queue of an in-process disk.
#[derive(Default)]
struct Hw {
    inbox: Mutex<Inbox>,
    wake: Condvar,
}

/// An in-process disk, as its threads and handles share it.
struct Local {
    queue: Arc<Queue>,
    params: DiskParams,
    hw: Box<[Hw]>,
    slots: Mutex<HashMap<u64, Arc<Slot>>>,
    next_cookie: AtomicU64,
}

/// The in-process disks, by name.
static DISKS: Mutex<BTreeMap<String, Arc<Local>>> = Mutex::new(BTreeMap::new());

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sink for Local {
    fn end(&self, _hctx: u32, cookie: u64, status: blk_status_t, bytes: u32) {
        let slot = lock(&self.slots).remove(&cookie);
        if let Some(slot) = slot {
            slot.fill(if status == BLK_STS_OK {
                Ok(bytes)
            } else {
                Err(Errno::from_errno(blk_status_to_errno(status)).unwrap_or(Errno::EIO))
            });
        }
    }

    fn kick(&self, hctx: u32) {
        let hw = &self.hw[hctx as usize];
        lock(&hw.inbox).kicked = true;
        hw.wake.notify_one();
    }
}

impl Local {
    /// The loop of hardware queue `i`'s thread.
    fn serve(&self, i: u32) {
        let hw = &self.hw[i as usize];
        let mut again: Option<Duration> = None;
        loop {
            let bios = {
                let mut inbox = lock(&hw.inbox);
                while inbox.bios.is_empty() && !inbox.kicked && !inbox.stop {
                    match again {
                        Some(delay) => {
                            let (guard, timeout) = hw
                                .wake
                                .wait_timeout(inbox, delay)
                                .unwrap_or_else(|e| e.into_inner());
                            inbox = guard;
                            if timeout.timed_out() {
                                break;
                            }
                        }
                        None => inbox = hw.wake.wait(inbox).unwrap_or_else(|e| e.into_inner()),
                    }
                }
                // What was submitted before the disk stopped still gets its outcome.
                if inbox.stop && inbox.bios.is_empty() {
                    return;
                }
                inbox.kicked = false;
                core::mem::take(&mut inbox.bios)
            };
            again = self.queue.run(i, bios);
        }
    }
}

/// Starts serving a disk in the process.
pub(super) fn start(params: DiskParams, queue: Arc<Queue>) -> Result<Box<dyn Started>, Errno> {
    let mut disks = lock(&DISKS);
    if disks.contains_key(&params.name) {
        return Err(Errno::EEXIST);
    }
    let local = Arc::new(Local {
        hw: (0..queue.nr_hw_queues()).map(|_| Hw::default()).collect(),
        queue: Arc::clone(&queue),
        params,
        slots: Mutex::default(),
        next_cookie: AtomicU64::new(0),
    });
    queue.set_sink(Arc::clone(&local) as Arc<dyn Sink>);
    let mut threads = Vec::new();
    for i in 0..queue.nr_hw_queues() {
        let served = Arc::clone(&local);
        let spawned = std::thread::Builder::new()
            .name(format!("blk-mq/{i}"))
            .spawn(move || served.serve(i));
        match spawned {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                LocalStarted { local, threads }.stop_threads();
                return Err(Errno::from_io(&e));
            }
        }
    }
    disks.insert(local.params.name.clone(), Arc::clone(&local));
    Ok(Box::new(LocalStarted { local, threads }))
}

/// A disk being served in the process.
struct LocalStarted {
    local: Arc<Local>,
    threads: Vec<JoinHandle<()>>,
}

impl LocalStarted {
    fn stop_threads(self) {
        for hw in self.local.hw.iter() {
            lock(&hw.inbox).stop = true;
            hw.wake.notify_one();
        }
        for thread in self.threads {
            // A panic of the thread was reported on it already.
            let _ = thread.join();
        }
    }
}

impl Started for LocalStarted {
    fn stop(self: Box<Self>) {
        lock(&DISKS).remove(&self.local.params.name);
        self.stop_threads();
    }
}

/// An in-process disk, opened by name.
pub struct Disk(Arc<Local>);

impl Disk {
    /// Opens the in-process disk the driver named `name`; `ENODEV` if there is none.
    pub fn open(name: &str) -> Result<Disk, Errno> {
        lock(&DISKS)
            .get(name)
            .map(|local| Disk(Arc::clone(local)))
            .ok_or(Errno::ENODEV)
    }

    /// What the disk is: its size, block sizes, queues.
    pub fn params(&self) -> &DiskParams {
        &self.0.params
    }

    /// Submits `ios` to hardware queue `hctx` as one batch, in order; `EINVAL` if the disk has no
    /// such hardware queue. An I/O submitted once the disk is being removed fails with `EIO`.
    pub fn submit(&self, hctx: u32, ios: &[Io]) -> Result<Vec<Completion>, Errno> {
        let local = &self.0;
        let hw = local.hw.get(hctx as usize).ok_or(Errno::EINVAL)?;
        let completions: Vec<_> = ios.iter().map(|_| Completion(Arc::default())).collect();
        let mut inbox = lock(&hw.inbox);
        if inbox.stop || local.queue.is_dying() {
            for c in &completions {
                c.0.fill(Err(Errno::EIO));
            }
            return Ok(completions);
        }
        let mut slots = lock(&local.slots);
        for (io, completion) in ios.iter().zip(&completions) {
            let cookie = local.next_cookie.fetch_add(1, Ordering::Relaxed);
            slots.insert(cookie, Arc::clone(&completion.0));
            inbox.bios.push(Bio {
                op: io.op.to_req_op(),
                sector: io.sector,
                bytes: io.sectors << SECTOR_SHIFT,
                cookie,
            });
        }
        drop(slots);
        drop(inbox);
        hw.wake.notify_one();
        Ok(completions)
    }
}
