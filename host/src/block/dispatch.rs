//! The dispatch of I/O to a blk-mq driver, shared by both front ends.
//!
//! A front end (ublk, or the in-process one) runs one thread per hardware queue of a disk. The
//! thread hands the I/O it received to [`Queue::run`], which does what blk-mq does for a
//! hardware queue (`blk_mq_dispatch_rq_list()`): it gives each I/O a request on a free tag (an
//! I/O without one waits until a request ends), calls the driver's `queue_rq` on the batch with
//! `last` set on its last request, requeues what the driver turned away for lack of resources
//! (`BLK_STS_RESOURCE`, run again after a delay; `BLK_STS_DEV_RESOURCE`, run again when a
//! request ends), calls `commit_rqs` when a batch stopped short of its last request, and calls
//! the driver's `complete` on the requests completed towards this thread. When a request ends
//! ([`end`]), the front end learns its outcome through its [`Sink`].

use core::cell::{Cell, UnsafeCell};
use core::ptr::{self, NonNull};
use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use super::mq::{
    blk_mq_end_request, blk_mq_hw_ctx, blk_mq_queue_data, request, request_queue, TagSetTags,
};
use super::{
    blk_opf_t, blk_status_t, sector_t, BLK_STS_DEV_RESOURCE, BLK_STS_IOERR, BLK_STS_OK,
    BLK_STS_RESOURCE,
};

/// How long blk-mq waits before running a hardware queue again after `BLK_STS_RESOURCE`
/// (`BLK_MQ_RESOURCE_DELAY`, 3 ms).
const RESOURCE_DELAY: Duration = Duration::from_millis(3);

/// Where a front end learns what became of its I/O.
pub(crate) trait Sink: Send + Sync {
    /// The I/O the front end called `cookie`, on hardware queue `hctx`, ended with `status`,
    /// having transferred `bytes` if it succeeded. Called from any thread.
    fn end(&self, hctx: u32, cookie: u64, status: blk_status_t, bytes: u32);

    /// Asks the thread of hardware queue `hctx` to call [`Queue::run`] soon. Called from any
    /// thread, that one included.
    fn kick(&self, hctx: u32);
}

/// An I/O a front end submits (blk-mq's bio, which becomes one request).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Bio {
    /// The operation (`REQ_OP_*`).
    pub(crate) op: blk_opf_t,
    /// The first sector.
    pub(crate) sector: sector_t,
    /// The bytes to transfer.
    pub(crate) bytes: u32,
    /// What the front end calls it, given back to [`Sink::end`].
    pub(crate) cookie: u64,
}

/// What waits on a hardware queue.
#[derive(Default)]
pub(crate) struct HwState {
    /// I/O waiting for a tag.
    waiting: VecDeque<Bio>,
    /// Requests the driver turned away, to give it again (blk-mq's `hctx->dispatch`).
    requeue: VecDeque<NonNull<request>>,
    /// Requests completed towards this thread, for the driver's `complete`.
    done: Vec<NonNull<request>>,
    /// The driver turned a request away: run again when one ends (`BLK_MQ_S_SCHED_RESTART`).
    restart: bool,
    /// How many requests of this hardware queue ended so far.
    ends: u64,
}

// SAFETY: The requests are owned by the block layer while they are in these lists, and are
// accessed by the thread that takes them out, under the mutex.
unsafe impl Send for HwState {}

/// How many requests a queue has in flight, and whether it takes more.
#[derive(Default)]
struct Usage {
    in_flight: u64,
    dying: bool,
}

/// A disk's queue as its front end's threads see it.
///
/// # Invariants
///
/// - `q` is the disk's `request_queue`, which lives as long as the disk has requests in flight
///   or a front end thread;
/// - `hctxs[i]` is hardware queue context `i` of `q`, written only by `init_hctx` before any
///   thread but the disk's creator sees it.
pub(crate) struct Queue {
    q: *mut request_queue,
    hctxs: Box<[UnsafeCell<blk_mq_hw_ctx>]>,
    pub(super) tags: Arc<TagSetTags>,
    sink: OnceLock<Arc<dyn Sink>>,
    usage: Mutex<Usage>,
    idle: Condvar,
}

// SAFETY: The hardware queue contexts are shared read-only after set-up (type invariant), their
// state is under mutexes, and `q` is only read.
unsafe impl Send for Queue {}
// SAFETY: As for `Send`.
unsafe impl Sync for Queue {}

thread_local! {
    /// The hardware queue context whose [`Queue::run`] this thread is in, if any.
    static RUNNING: Cell<*const blk_mq_hw_ctx> = const { Cell::new(ptr::null()) };
}

/// Marks the thread as running a hardware queue until dropped.
struct Running(*const blk_mq_hw_ctx);

impl Running {
    fn enter(hctx: *const blk_mq_hw_ctx) -> Running {
        Running(RUNNING.replace(hctx))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        RUNNING.set(self.0);
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Queue {
    /// The queue of `q`, with `tags.nr_hw_queues` hardware queue contexts.
    pub(super) fn new(q: *mut request_queue, tags: Arc<TagSetTags>) -> Queue {
        let hctxs = (0..tags.nr_hw_queues)
            .map(|queue_num| {
                UnsafeCell::new(blk_mq_hw_ctx {
                    queue: q,
                    driver_data: ptr::null_mut(),
                    queue_num,
                    state: Mutex::default(),
                })
            })
            .collect();
        // INVARIANT: The contexts are `q`'s; nothing has seen them yet.
        Queue {
            q,
            hctxs,
            tags,
            sink: OnceLock::new(),
            usage: Mutex::default(),
            idle: Condvar::new(),
        }
    }

    /// The number of hardware queues.
    pub(crate) fn nr_hw_queues(&self) -> u32 {
        self.tags.nr_hw_queues
    }

    /// The number of tags of each hardware queue.
    pub(crate) fn queue_depth(&self) -> u32 {
        self.tags.depth
    }

    /// Hardware queue context `i`, for `init_hctx` and `exit_hctx`.
    pub(super) fn hctx_ptr(&self, i: u32) -> *mut blk_mq_hw_ctx {
        self.hctxs[i as usize].get()
    }

    fn hctx(&self, i: u32) -> &blk_mq_hw_ctx {
        // SAFETY: Contexts are only read once shared (type invariant).
        unsafe { &*self.hctxs[i as usize].get() }
    }

    /// Connects the front end; its first I/O may follow at once.
    pub(super) fn set_sink(&self, sink: Arc<dyn Sink>) {
        // A queue is added once; a second sink would be a host bug.
        assert!(self.sink.set(sink).is_ok(), "a disk added twice");
    }

    fn sink(&self) -> &Arc<dyn Sink> {
        // Requests exist only once the front end is connected.
        self.sink.get().expect("I/O on a disk without a front end")
    }

    /// Dispatches `new` and whatever waits on hardware queue `hctx`, and completes what was
    /// completed towards it; on the thread of that hardware queue only.
    ///
    /// Returns how soon it must run again even if nothing kicks it (after `BLK_STS_RESOURCE`).
    pub(crate) fn run(self: &Arc<Self>, hctx: u32, new: Vec<Bio>) -> Option<Duration> {
        let hctx_ptr = self.hctx_ptr(hctx);
        let ctx = self.hctx(hctx);
        let _running = Running::enter(hctx_ptr);
        for bio in new {
            if self.enter() {
                lock(&ctx.state).waiting.push_back(bio);
            } else {
                // `bio_queue_enter()` on a disk being removed fails the I/O.
                self.sink().end(hctx, bio.cookie, BLK_STS_IOERR, 0);
            }
        }
        let mut again = None;
        loop {
            let (list, done, ends) = {
                let mut state = lock(&ctx.state);
                let mut list = core::mem::take(&mut state.requeue);
                while let Some(bio) = state.waiting.front() {
                    let Some(mut rq) = self.tags.hw[hctx as usize].get(self, hctx) else {
                        break;
                    };
                    // SAFETY: A free tag's request is the block layer's, and so this thread's.
                    unsafe { rq.as_mut() }.prepare(self.q, hctx_ptr, bio);
                    list.push_back(rq);
                    state.waiting.pop_front();
                }
                (list, core::mem::take(&mut state.done), state.ends)
            };
            if list.is_empty() && done.is_empty() {
                break;
            }
            let stopped = !list.is_empty() && {
                again = self.dispatch(ctx, hctx_ptr, list, ends);
                again.is_some() || lock(&ctx.state).restart
            };
            for rq in done {
                // SAFETY: The request was completed towards this thread, which now owns it, and
                // `complete` exists: drivers without one never complete remotely.
                unsafe { (self.tags.ops.complete.expect("complete"))(rq.as_ptr()) };
            }
            if stopped {
                break;
            }
        }
        again
    }

    /// Hands `list` to the driver, as `blk_mq_dispatch_rq_list()`.
    fn dispatch(
        &self,
        ctx: &blk_mq_hw_ctx,
        hctx: *mut blk_mq_hw_ctx,
        mut list: VecDeque<NonNull<request>>,
        ends: u64,
    ) -> Option<Duration> {
        let ops = self.tags.ops;
        let queue_rq = ops.queue_rq.expect("blk_mq_alloc_tag_set checks queue_rq");
        let mut queued = 0u32;
        let mut ret = BLK_STS_OK;
        while let Some(rq) = list.pop_front() {
            let bd = blk_mq_queue_data {
                rq: rq.as_ptr(),
                last: list.is_empty(),
            };
            // SAFETY: `hctx` is live, `rq` a request prepared for it that the driver now owns.
            ret = unsafe { queue_rq(hctx, &bd) };
            match ret {
                BLK_STS_OK => queued += 1,
                BLK_STS_RESOURCE | BLK_STS_DEV_RESOURCE => {
                    list.push_front(rq);
                    break;
                }
                // SAFETY: The driver refused the request: the block layer ends it.
                status => unsafe { blk_mq_end_request(rq.as_ptr(), status) },
            }
        }
        // The driver may have waited for a `last` that did not come.
        if (!list.is_empty() || ret != BLK_STS_OK) && queued > 0 {
            if let Some(commit_rqs) = ops.commit_rqs {
                // SAFETY: `hctx` is live.
                unsafe { commit_rqs(hctx) };
            }
        }
        if list.is_empty() {
            return None;
        }
        let mut state = lock(&ctx.state);
        list.append(&mut state.requeue);
        state.requeue = list;
        if ret == BLK_STS_RESOURCE {
            Some(RESOURCE_DELAY)
        } else if state.ends != ends {
            // A request ended while the driver turned this one away: try again now.
            Some(Duration::ZERO)
        } else {
            state.restart = true;
            None
        }
    }

    /// Counts a new request in, unless the disk is being removed.
    fn enter(&self) -> bool {
        let mut usage = lock(&self.usage);
        if usage.dying {
            return false;
        }
        usage.in_flight += 1;
        true
    }

    /// Counts a request out.
    fn exit(&self) {
        let mut usage = lock(&self.usage);
        usage.in_flight -= 1;
        if usage.in_flight == 0 {
            self.idle.notify_all();
        }
    }

    /// Takes no new I/O from now on, and waits until the requests in flight ended (the start of
    /// `del_gendisk()`).
    pub(super) fn freeze(&self) {
        let mut usage = lock(&self.usage);
        usage.dying = true;
        while usage.in_flight > 0 {
            usage = self.idle.wait(usage).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Whether the disk takes no new I/O.
    pub(crate) fn is_dying(&self) -> bool {
        lock(&self.usage).dying
    }
}

/// A request of `hctx` ended: tells the front end, frees the tag, and kicks whoever waited for
/// one.
///
/// # Safety
///
/// `hctx` must be the live hardware queue context of a request that ended, which the block layer
/// took back.
pub(super) unsafe fn end(
    hctx: *mut blk_mq_hw_ctx,
    cookie: u64,
    tag: u32,
    status: blk_status_t,
    bytes: u32,
) {
    // SAFETY: The caller guarantees `hctx` is live: its queue is, until `exit` below.
    let (ctx, queue) = unsafe { (&*hctx, Arc::clone(&(*(*hctx).queue).mq)) };
    let num = ctx.queue_num;
    queue.sink().end(num, cookie, status, bytes);
    let waiters = queue.tags.put(num, tag);
    let rerun = {
        let mut state = lock(&ctx.state);
        state.ends += 1;
        core::mem::take(&mut state.restart)
    };
    if rerun {
        queue.sink().kick(num);
    }
    for (waiter, i) in waiters {
        if let Some(sink) = waiter.upgrade().as_ref().and_then(|w| w.sink.get()) {
            sink.kick(i);
        }
    }
    queue.exit();
}

/// Completes `rq` towards its hardware queue's thread, or says to complete it in place (see
/// `blk_mq_complete_request_remote`).
///
/// # Safety
///
/// `rq` must be a request the driver owns, of a live queue.
pub(super) unsafe fn complete_remote(rq: *mut request) -> bool {
    // SAFETY: The caller guarantees `rq` is valid and its hardware queue live.
    let ctx = unsafe { &*(*rq).mq_hctx };
    // SAFETY: As above, the queue is live.
    let queue = unsafe { &(*ctx.queue).mq };
    // SAFETY: As above.
    let rq = unsafe { NonNull::new_unchecked(rq) };
    if ptr::eq(RUNNING.get(), ctx) {
        if queue.nr_hw_queues() > 1 {
            return false;
        }
        lock(&ctx.state).done.push(rq);
    } else {
        lock(&ctx.state).done.push(rq);
        queue.sink().kick(ctx.queue_num);
    }
    true
}
