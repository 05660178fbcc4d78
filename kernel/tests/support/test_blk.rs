//! A null-block-like test driver whose behaviour and observations are in its queue data, for
//! the `kernel::block::mq` tests (`#[path = "support/test_blk.rs"] mod test_blk;`, with
//! `use test_blk::LocalModule;` at the crate root, which `#[vtable]` names).

// Each test binary uses a part of it.
#![allow(dead_code)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use std::vec::Vec;

use kernel::bindings;
use kernel::block::mq::{Operations, Request};
use kernel::prelude::*;
use kernel::sync::aref::ARef;
use kernel::sync::{Arc, ArcBorrow};

/// What `module!` declares in a driver crate, which `#[vtable]` implementations name.
pub(crate) struct LocalModule;

impl kernel::ModuleMetadata for LocalModule {
    const NAME: &'static CStr = c"test_blk";
    // SAFETY: A null pointer is the placeholder of a module that is not loaded.
    const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
}

/// How long a test waits for something that should happen at once: generous, the machine is
/// loaded.
pub(crate) const PATIENCE: Duration = Duration::from_secs(30);

/// What `queue_rq` does with a request.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Ends it at once (rnull's `IRQMode::None`).
    End,
    /// Completes it with `Request::complete` (rnull's `IRQMode::Soft`).
    Complete,
    /// Keeps it until the test ends it.
    Hold,
    /// Turns the second request of each batch away once with `EBUSY`, then ends everything.
    BusyOnce,
    /// Fails it with `ENOSPC`.
    Fail,
    /// Ends a read at once, completes anything else with `Request::complete`, and fails a
    /// request from sector `bad_from` on with `EIO`: a disk with bad sectors at its end.
    Disk { bad_from: u64 },
}

/// A request as `queue_rq` saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Seen {
    pub(crate) op: u32,
    pub(crate) sector: u64,
    pub(crate) bytes: u32,
    pub(crate) last: bool,
    pub(crate) hctx: u32,
}

/// The driver's queue data: how it behaves and what it saw.
pub(crate) struct State {
    pub(crate) mode: Mode,
    pub(crate) seen: Mutex<Vec<Seen>>,
    pub(crate) held: Mutex<Vec<ARef<Request<TestDisk>>>>,
    pub(crate) commits: AtomicUsize,
    busy_done: AtomicBool,
    /// Set when the queue data is dropped, by the `GenDisk`'s drop.
    pub(crate) dropped: Arc<AtomicBool>,
}

impl State {
    /// The state of a driver in `mode`, not dropped yet.
    pub(crate) fn new(mode: Mode) -> Arc<State> {
        let state = State {
            mode,
            seen: Mutex::new(Vec::new()),
            held: Mutex::new(Vec::new()),
            commits: AtomicUsize::new(0),
            busy_done: AtomicBool::new(false),
            dropped: Arc::new(AtomicBool::new(false), GFP_KERNEL).unwrap(),
        };
        Arc::new(state, GFP_KERNEL).unwrap()
    }
}

impl Drop for State {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

/// The threads `complete` ran on, by name, for every disk of this test binary (tests check
/// requests of their own disk, by the disk's thread names being the same for all, so they look
/// only at whether an entry is a hardware queue thread).
pub(crate) static COMPLETED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A null-block-like test driver.
pub(crate) struct TestDisk;

/// The block layer's view of a request the driver holds.
pub(crate) fn raw(rq: &Request<TestDisk>) -> &bindings::request {
    // SAFETY: `Request` is a transparent wrapper of the C request, valid while the driver holds
    // it; only the block layer's fields are read, which do not change meanwhile.
    unsafe { &*core::ptr::from_ref(rq).cast::<bindings::request>() }
}

#[vtable]
impl Operations for TestDisk {
    type QueueData = Arc<State>;

    fn queue_rq(state: ArcBorrow<'_, State>, rq: ARef<Request<Self>>, last: bool) -> Result {
        let r = raw(&rq);
        let now = Seen {
            op: r.cmd_flags & bindings::REQ_OP_MASK,
            sector: r.__sector,
            bytes: r.__data_len,
            last,
            // SAFETY: The hardware queue context of a request being queued is live.
            hctx: unsafe { (*r.mq_hctx).queue_num },
        };
        let index = {
            let mut seen = state.seen.lock().unwrap();
            seen.push(now);
            seen.len()
        };
        match state.mode {
            Mode::End => Request::end_ok(rq).map_err(|_| EIO),
            Mode::Complete => {
                Request::complete(rq);
                Ok(())
            }
            Mode::Hold => {
                state.held.lock().unwrap().push(rq);
                Ok(())
            }
            Mode::BusyOnce if index == 2 && !state.busy_done.swap(true, Ordering::SeqCst) => {
                Err(EBUSY)
            }
            Mode::BusyOnce => Request::end_ok(rq).map_err(|_| EIO),
            Mode::Fail => Err(ENOSPC),
            Mode::Disk { bad_from } if now.sector >= bad_from => Err(EIO),
            Mode::Disk { .. } if now.op == bindings::REQ_OP_READ => {
                Request::end_ok(rq).map_err(|_| EIO)
            }
            Mode::Disk { .. } => {
                Request::complete(rq);
                Ok(())
            }
        }
    }

    fn commit_rqs(state: ArcBorrow<'_, State>) {
        state.commits.fetch_add(1, Ordering::SeqCst);
    }

    fn complete(rq: ARef<Request<Self>>) {
        let name = std::thread::current().name().unwrap_or("").to_owned();
        COMPLETED_ON.lock().unwrap().push(name);
        Request::end_ok(rq)
            .map_err(|_| EIO)
            .expect("the only reference");
    }
}

/// Waits until `cond` holds, or fails after [`PATIENCE`].
pub(crate) fn wait_for(what: &str, cond: impl Fn() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < PATIENCE, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}
