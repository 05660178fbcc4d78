//! blk-mq's C side: tag sets, hardware queue contexts and requests (`include/linux/blk-mq.h`).
//!
//! A tag set ([`blk_mq_tag_set`]) holds, for each hardware queue, `queue_depth` requests, each
//! followed by `cmd_size` bytes of driver data (its *pdu*, [`blk_mq_rq_to_pdu`]);
//! [`blk_mq_alloc_tag_set`] allocates them and calls the driver's `init_request` on each. A request
//! is the block layer's until it is handed to `queue_rq`, and the driver's until the driver ends it
//! ([`blk_mq_end_request`]) or completes it ([`blk_mq_complete_request_remote`], which has the
//! driver's `complete` called on the hardware queue's thread, where it ends it). The dispatch
//! itself, shared by the front ends, is in `dispatch`.

use core::ffi::{c_int, c_uint, c_void};
use core::ptr::NonNull;
use std::alloc::Layout;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};

use super::dispatch::{self, HwState, Queue};
use super::{blk_opf_t, blk_status_t, sector_t};
use crate::errno::Errno;
use crate::print::{printk, Level};

/// `NUMA_NO_NODE`: memory from any node.
pub const NUMA_NO_NODE: c_int = -1;
/// The deepest a hardware queue may be; deeper tag sets are reduced to it (`BLK_MQ_MAX_DEPTH`).
pub const BLK_MQ_MAX_DEPTH: c_uint = 10240;
/// The kinds of hardware queue map (default, read, poll): `HCTX_MAX_TYPES`.
pub const HCTX_MAX_TYPES: c_uint = 3;

/// A driver's blk-mq callbacks (`struct blk_mq_ops`), those the host calls.
///
/// `poll` is called for polled I/O on a poll queue, which needs a tag set with a poll map
/// (`nr_maps > HCTX_TYPE_POLL`) and so a `map_queues` callback; 7.3's Rust drivers have none, and
/// neither front end submits polled I/O, so it is kept and never called, as for those drivers in
/// the kernel.
#[derive(Clone, Copy, Debug)]
pub struct blk_mq_ops {
    /// Queues a request with the driver.
    pub queue_rq:
        Option<unsafe extern "C" fn(*mut blk_mq_hw_ctx, *const blk_mq_queue_data) -> blk_status_t>,
    /// Submits the requests queued so far, after a batch that stopped short of its `last`.
    pub commit_rqs: Option<unsafe extern "C" fn(*mut blk_mq_hw_ctx)>,
    /// Polls for completed requests.
    pub poll: Option<unsafe extern "C" fn(*mut blk_mq_hw_ctx, *mut io_comp_batch) -> c_int>,
    /// Completes a request that [`blk_mq_complete_request_remote`] sent to this context.
    pub complete: Option<unsafe extern "C" fn(*mut request)>,
    /// Sets up a hardware queue context of a new queue.
    pub init_hctx: Option<unsafe extern "C" fn(*mut blk_mq_hw_ctx, *mut c_void, c_uint) -> c_int>,
    /// Tears down a hardware queue context of a queue going away.
    pub exit_hctx: Option<unsafe extern "C" fn(*mut blk_mq_hw_ctx, c_uint)>,
    /// Sets up the driver data of a request of a new tag set.
    pub init_request:
        Option<unsafe extern "C" fn(*mut blk_mq_tag_set, *mut request, c_uint, c_int) -> c_int>,
    /// Tears down the driver data of a request of a tag set going away.
    pub exit_request: Option<unsafe extern "C" fn(*mut blk_mq_tag_set, *mut request, c_uint)>,
}

/// A batch of completions that `poll` fills (`struct io_comp_batch`); opaque.
#[repr(C)]
pub struct io_comp_batch {
    _unused: [u8; 0],
}

/// What `queue_rq` is given (`struct blk_mq_queue_data`).
#[repr(C)]
pub struct blk_mq_queue_data {
    /// The request.
    pub rq: *mut request,
    /// Whether it is the last of its batch: if not, the driver may wait for the rest (or for
    /// `commit_rqs`) before it tells the device.
    pub last: bool,
}

/// A tag set: the requests of the hardware queues of one or more disks (`struct
/// blk_mq_tag_set`).
///
/// The driver fills the public fields (a [`Default`] one is all zeroes, as C's) and calls
/// [`blk_mq_alloc_tag_set`], after which the tag set must not move until
/// [`blk_mq_free_tag_set`].
pub struct blk_mq_tag_set {
    /// The driver's callbacks.
    pub ops: *const blk_mq_ops,
    /// The number of hardware queues.
    pub nr_hw_queues: c_uint,
    /// The number of tags (requests) of each hardware queue.
    pub queue_depth: c_uint,
    /// Tags kept for the driver's own requests (none here: drydock has no reserved requests).
    pub reserved_tags: c_uint,
    /// The bytes of driver data after each request.
    pub cmd_size: c_uint,
    /// The NUMA node to allocate on.
    pub numa_node: c_int,
    /// The request timeout in jiffies (0 for the default); drydock has no request timeouts.
    pub timeout: c_uint,
    /// `BLK_MQ_F_*` flags.
    pub flags: c_uint,
    /// The driver's data, given to `init_hctx`.
    pub driver_data: *mut c_void,
    /// The number of queue maps (0 is taken as 1).
    pub nr_maps: c_uint,
    /// The requests, once allocated (blk-mq's private part).
    pub tags: Option<Arc<TagSetTags>>,
}

impl Default for blk_mq_tag_set {
    fn default() -> Self {
        Self {
            ops: core::ptr::null(),
            nr_hw_queues: 0,
            queue_depth: 0,
            reserved_tags: 0,
            cmd_size: 0,
            numa_node: 0,
            timeout: 0,
            flags: 0,
            driver_data: core::ptr::null_mut(),
            nr_maps: 0,
            tags: None,
        }
    }
}

/// A request: one I/O of a disk, on a tag of a hardware queue (`struct request`).
///
/// The driver data follows it in memory ([`blk_mq_rq_to_pdu`]). The public fields are the
/// block layer's, for the driver to read while it owns the request.
#[repr(C)]
pub struct request {
    /// The queue (disk) it belongs to.
    pub q: *mut request_queue,
    /// Its hardware queue context.
    pub mq_hctx: *mut blk_mq_hw_ctx,
    /// The operation (`REQ_OP_*`, [`REQ_OP_MASK`](super::REQ_OP_MASK)) and flags.
    pub cmd_flags: blk_opf_t,
    /// Its tag in its hardware queue.
    pub tag: c_int,
    /// The bytes it transfers.
    pub __data_len: c_uint,
    /// The first sector.
    pub __sector: sector_t,
    /// `enum mq_rq_state`: idle, in flight or complete.
    state: AtomicU32,
    /// What the front end calls the I/O.
    pub(super) cookie: u64,
}

/// The request is the block layer's (`MQ_RQ_IDLE`).
const MQ_RQ_IDLE: u32 = 0;
/// The driver started it (`MQ_RQ_IN_FLIGHT`).
const MQ_RQ_IN_FLIGHT: u32 = 1;
/// The driver completed it; `complete` is due (`MQ_RQ_COMPLETE`).
const MQ_RQ_COMPLETE: u32 = 2;

/// A hardware queue context: one hardware queue of one disk (`struct blk_mq_hw_ctx`).
pub struct blk_mq_hw_ctx {
    /// The queue (disk) it belongs to.
    pub queue: *mut request_queue,
    /// The driver's data for it, set by `init_hctx` if it wants.
    pub driver_data: *mut c_void,
    /// Its index among its queue's hardware queues.
    pub queue_num: c_uint,
    /// What waits to be dispatched or completed on it.
    pub(super) state: Mutex<HwState>,
}

/// A disk's request queue (`struct request_queue`).
pub struct request_queue {
    /// The driver's data, given to `__blk_mq_alloc_disk`.
    pub queuedata: *mut c_void,
    /// The tag set it takes requests from.
    pub tag_set: *mut blk_mq_tag_set,
    /// The dispatch state shared with the front end's threads.
    pub(super) mq: Arc<Queue>,
}

/// The requests of a tag set, per hardware queue (blk-mq's `struct blk_mq_tags`).
///
/// # Invariants
///
/// - `set` is the tag set these were allocated for, pinned until [`blk_mq_free_tag_set`];
/// - each request in `hw` is allocated with `rq_layout` and initialised, its driver data set up
///   by the driver's `init_request`, until `blk_mq_free_tag_set` frees it; after that, the
///   queues that still hold these tags are dead and take no request from them.
pub struct TagSetTags {
    set: *mut blk_mq_tag_set,
    pub(super) ops: &'static blk_mq_ops,
    pub(super) depth: u32,
    pub(super) nr_hw_queues: u32,
    rq_layout: Layout,
    pub(super) hw: Box<[Tags]>,
}

// SAFETY: The pointers are to the tag set and its requests, which the tag set's owner keeps alive
// and whose fields are accessed by whoever owns each request (the block layer or the driver, one
// at a time), as in C.
unsafe impl Send for TagSetTags {}
// SAFETY: As for `Send`; the free tags are under a mutex.
unsafe impl Sync for TagSetTags {}

/// The requests of one hardware queue index and which of them are free.
pub(super) struct Tags {
    rqs: Box<[NonNull<request>]>,
    free: Mutex<TagPool>,
}

/// The free tags of a hardware queue index, and the queues waiting for one.
struct TagPool {
    free: Vec<u32>,
    waiters: Vec<(Weak<Queue>, u32)>,
}

impl Tags {
    /// Takes a free request, or registers hardware queue `hctx` of `queue` to be kicked when one
    /// is freed.
    pub(super) fn get(&self, queue: &Arc<Queue>, hctx: u32) -> Option<NonNull<request>> {
        let mut pool = self.free.lock().unwrap_or_else(|e| e.into_inner());
        match pool.free.pop() {
            Some(tag) => Some(self.rqs[tag as usize]),
            None => {
                pool.waiters.push((Arc::downgrade(queue), hctx));
                None
            }
        }
    }

    /// Frees `tag`, returning the hardware queues that waited for one.
    fn put(&self, tag: u32) -> Vec<(Weak<Queue>, u32)> {
        let mut pool = self.free.lock().unwrap_or_else(|e| e.into_inner());
        pool.free.push(tag);
        core::mem::take(&mut pool.waiters)
    }
}

/// The driver data of `rq` (`blk_mq_rq_to_pdu()`): the `cmd_size` bytes that follow it.
pub fn blk_mq_rq_to_pdu(rq: *mut request) -> *mut c_void {
    rq.wrapping_add(1).cast()
}

/// Allocates the requests of a tag set the driver filled in (`blk_mq_alloc_tag_set()`), calling
/// the driver's `init_request` on each.
///
/// As blk-mq: fails with `EINVAL` without hardware queues, tags or `queue_rq`, or with more maps
/// than `HCTX_MAX_TYPES`; reduces a depth above [`BLK_MQ_MAX_DEPTH`] (saying so) and, with one
/// map, the hardware queues to the number of CPUs; more than one map without a `map_queues`
/// callback (which the host does not call) is a kernel `BUG()`, a panic here. An `init_request`
/// failure frees what was set up and is returned.
///
/// # Safety
///
/// `set` must point to a tag set that is not allocated yet, whose `ops` points to callbacks that
/// live for the rest of the process, and that stays pinned until [`blk_mq_free_tag_set`]; the
/// callbacks must be sound to call as blk-mq calls them.
pub unsafe fn blk_mq_alloc_tag_set(set: *mut blk_mq_tag_set) -> Result<(), Errno> {
    // SAFETY: The caller guarantees `set` is valid and not otherwise accessed.
    let s = unsafe { &mut *set };
    if s.nr_hw_queues == 0 || s.queue_depth == 0 || s.ops.is_null() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: The caller guarantees `ops` lives for the rest of the process.
    let ops: &'static blk_mq_ops = unsafe { &*s.ops };
    if ops.queue_rq.is_none() || s.queue_depth < s.reserved_tags + 1 {
        return Err(Errno::EINVAL);
    }
    if s.queue_depth > BLK_MQ_MAX_DEPTH {
        printk(
            Level::Info,
            "blk-mq",
            None,
            format_args!("blk-mq: reduced tag depth to {BLK_MQ_MAX_DEPTH}\n"),
        );
        s.queue_depth = BLK_MQ_MAX_DEPTH;
    }
    if s.nr_maps == 0 {
        s.nr_maps = 1;
    } else if s.nr_maps > HCTX_MAX_TYPES {
        return Err(Errno::EINVAL);
    }
    // `blk_mq_update_queue_map()` without a `map_queues` callback.
    assert!(
        s.nr_maps == 1,
        "kernel BUG at block/blk-mq.c: more than one queue map without map_queues"
    );
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    s.nr_hw_queues = s.nr_hw_queues.min(u32::try_from(cpus).unwrap_or(u32::MAX));

    let rq_layout = Layout::new::<request>()
        .extend(Layout::from_size_align(s.cmd_size as usize, 1).map_err(|_| Errno::EINVAL)?)
        .map_err(|_| Errno::EINVAL)?
        .0
        .pad_to_align();
    let mut tags = TagSetTags {
        set,
        ops,
        depth: s.queue_depth,
        nr_hw_queues: s.nr_hw_queues,
        rq_layout,
        hw: Box::new([]),
    };
    let mut hw = Vec::with_capacity(s.nr_hw_queues as usize);
    for hctx_idx in 0..s.nr_hw_queues {
        let mut rqs = Vec::with_capacity(s.queue_depth as usize);
        let result = (0..s.queue_depth).try_for_each(|tag| {
            let rq = tags.alloc_request(hctx_idx, tag)?;
            rqs.push(rq);
            Ok(())
        });
        hw.push(Tags {
            rqs: rqs.into_boxed_slice(),
            free: Mutex::new(TagPool {
                free: (0..s.queue_depth).rev().collect(),
                waiters: Vec::new(),
            }),
        });
        if let Err(e) = result {
            tags.hw = hw.into_boxed_slice();
            // SAFETY: The requests set up so far were never handed out.
            unsafe { tags.release() };
            return Err(e);
        }
    }
    tags.hw = hw.into_boxed_slice();
    s.tags = Some(Arc::new(tags));
    Ok(())
}

impl TagSetTags {
    /// Allocates the request of `tag` of hardware queue `hctx_idx` and has the driver set it up.
    fn alloc_request(&self, hctx_idx: u32, tag: u32) -> Result<NonNull<request>, Errno> {
        // SAFETY: The layout is not zero-sized: it holds a `request`.
        let rq = NonNull::new(unsafe { std::alloc::alloc_zeroed(self.rq_layout) })
            .ok_or(Errno::ENOMEM)?
            .cast::<request>();
        // SAFETY: `rq` is freshly allocated for a `request` and aligned for it.
        unsafe {
            rq.as_ptr().write(request {
                q: core::ptr::null_mut(),
                mq_hctx: core::ptr::null_mut(),
                cmd_flags: 0,
                tag: c_int::try_from(tag).unwrap_or(c_int::MAX),
                __data_len: 0,
                __sector: 0,
                state: AtomicU32::new(MQ_RQ_IDLE),
                cookie: 0,
            })
        };
        if let Some(init) = self.ops.init_request {
            // SAFETY: `set` is the pinned tag set (type invariant), `rq` a request with
            // `cmd_size` bytes of driver data after it, as `init_request` needs.
            let ret = unsafe { init(self.set, rq.as_ptr(), hctx_idx, NUMA_NO_NODE) };
            if ret != 0 {
                // SAFETY: Allocated above with this layout, never handed out.
                unsafe { std::alloc::dealloc(rq.as_ptr().cast(), self.rq_layout) };
                return Err(Errno::from_errno(ret).unwrap_or(Errno::EINVAL));
            }
        }
        Ok(rq)
    }
}

impl TagSetTags {
    /// Has the driver tear down every request and frees them.
    ///
    /// # Safety
    ///
    /// Called once, when no request is in use and none will be: the tag set is being freed, and
    /// no disk uses it.
    unsafe fn release(&self) {
        for (hctx_idx, tags) in (0u32..).zip(self.hw.iter()) {
            for rq in tags.rqs.iter() {
                if let Some(exit) = self.ops.exit_request {
                    // SAFETY: The request was set up by `init_request` (type invariant) and is
                    // the block layer's, unused (the caller's guarantee); `set` is still pinned.
                    unsafe { exit(self.set, rq.as_ptr(), hctx_idx) };
                }
                // SAFETY: Allocated with this layout (type invariant); freed once, here.
                unsafe { std::alloc::dealloc(rq.as_ptr().cast(), self.rq_layout) };
            }
        }
    }
}

/// Frees the requests of a tag set (`blk_mq_free_tag_set()`), calling the driver's
/// `exit_request` on each.
///
/// # Safety
///
/// `set` must point to a tag set allocated by [`blk_mq_alloc_tag_set`] that no disk uses any
/// more.
pub unsafe fn blk_mq_free_tag_set(set: *mut blk_mq_tag_set) {
    // SAFETY: The caller guarantees `set` is valid and that no disk uses it: the requests are
    // unused. Taking them out of the tag set makes this the only release.
    if let Some(tags) = unsafe { (*set).tags.take() } {
        // SAFETY: As above.
        unsafe { tags.release() };
    }
}

/// Marks a request as started by the driver (`blk_mq_start_request()`).
///
/// # Safety
///
/// `rq` must be a request the driver owns (handed to `queue_rq` and not ended).
pub unsafe fn blk_mq_start_request(rq: *mut request) {
    // SAFETY: The caller guarantees `rq` is valid.
    unsafe { &(*rq).state }.store(MQ_RQ_IN_FLIGHT, Ordering::Release);
}

/// Ends a request with `status` and hands it back to the block layer (`blk_mq_end_request()`):
/// the front end learns its outcome, its tag is free again, and whoever waited for the tag or
/// for the request's end is woken.
///
/// # Safety
///
/// `rq` must be a request the driver owns, which it must not use afterwards.
pub unsafe fn blk_mq_end_request(rq: *mut request, status: blk_status_t) {
    // SAFETY: The caller guarantees `rq` is a valid request it hands back.
    let (hctx, cookie, tag, bytes) = unsafe {
        (*rq).state.store(MQ_RQ_IDLE, Ordering::Release);
        ((*rq).mq_hctx, (*rq).cookie, (*rq).tag, (*rq).__data_len)
    };
    // SAFETY: A request in the driver's hands belongs to a live queue: the queue's removal waits
    // for its requests to end, which happens below.
    unsafe { dispatch::end(hctx, cookie, u32::try_from(tag).unwrap_or(0), status, bytes) };
}

/// Completes a request from wherever the driver is (`blk_mq_complete_request_remote()`): returns
/// `false` if the driver should call its `complete` itself, now, or `true` if it was sent to the
/// hardware queue's thread, which calls it.
///
/// As blk-mq: on the hardware queue's own thread (blk-mq: the submitting CPU) a queue with one
/// hardware queue completes in its "softirq", after the current dispatch, and one with more
/// completes in place; from any other thread the completion goes to the hardware queue's thread
/// (blk-mq: an IPI to the submitting CPU).
///
/// # Safety
///
/// `rq` must be a request the driver owns; if this returns `true`, the driver no longer does.
pub unsafe fn blk_mq_complete_request_remote(rq: *mut request) -> bool {
    // SAFETY: The caller guarantees `rq` is valid.
    unsafe { &(*rq).state }.store(MQ_RQ_COMPLETE, Ordering::Release);
    // SAFETY: As in `blk_mq_end_request`, the request's queue is live.
    unsafe { dispatch::complete_remote(rq) }
}

impl request {
    /// Sets the request up for an I/O of `queue`'s hardware queue `hctx`.
    pub(super) fn prepare(
        &mut self,
        q: *mut request_queue,
        hctx: *mut blk_mq_hw_ctx,
        bio: &dispatch::Bio,
    ) {
        self.q = q;
        self.mq_hctx = hctx;
        self.cmd_flags = bio.op;
        self.__sector = bio.sector;
        self.__data_len = bio.bytes;
        self.cookie = bio.cookie;
        self.state.store(MQ_RQ_IDLE, Ordering::Relaxed);
    }
}

impl TagSetTags {
    /// Frees `tag` of hardware queue `hctx`, returning the hardware queues that waited for one.
    pub(super) fn put(&self, hctx: u32, tag: u32) -> Vec<(Weak<Queue>, u32)> {
        self.hw[hctx as usize].put(tag)
    }
}
