//! Work queues: the kernel's `queue_work_on()`, `queue_delayed_work_on()` and the system queues,
//! run by worker threads of the process.
//!
//! # Work items
//!
//! A work item is a `work_struct` in the caller's memory, initialised in place by
//! [`init_work_with_key`] with the function to run. Its `data` word holds the *pending* bit
//! (`WORK_STRUCT_PENDING_BIT`), set by whoever queues it: a pending item is not queued again,
//! and [`queue_work_on`] says so by returning `false`. A worker clears the bit just before it
//! calls the function, so the function may queue its own item again. A `delayed_work` adds a
//! timer ([`crate::timer`]): [`queue_delayed_work_on`] sets the pending bit and starts the timer,
//! whose function ([`delayed_work_timer_fn`]) queues the item when the delay has passed.
//!
//! # Queues and workers
//!
//! Each [`Workqueue`] has its own queue of items and its own workers (threads named
//! `kworker/<queue>`), started when an item is queued and no worker is idle, up to the queue's
//! `max_active`, and kept afterwards. Items start in the order they were queued; with
//! `max_active` 1 (an ordered queue, [`alloc_ordered_workqueue`]) they also run one at a time in
//! that order. As in the kernel, an item is never run by two workers at once: an item queued
//! again while it runs waits for that run to return. A worker that cannot be started (the process
//! is out of threads) is logged, and its item waits for another worker of the queue, or for the
//! next item queued to start one.
//!
//! The kernel's system queues are [`system_wq`] and its siblings. The kernel shares per-CPU
//! worker pools between queues and manages their concurrency; here every queue has its own
//! threads, so `cpu` arguments, priorities (`highpri`), freezing and bottom-half context (`bh`)
//! change nothing: all run work in threads, at the process's priority.
//!
//! The functions a work item runs are `extern "C"`, as in the kernel: one that panics aborts the
//! process.

use core::ffi::{c_char, c_int, c_ulong, CStr};
use core::sync::atomic::Ordering;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use crate::bindings::{
    delayed_work, lock_class_key, timer_list, work_func_t, work_struct, WORK_STRUCT_PENDING_BIT,
};
use crate::timer::add_timer_in;

/// The pending bit of `work_struct::data`.
const PENDING: usize = 1 << WORK_STRUCT_PENDING_BIT;

/// The most workers a system queue starts (the kernel's `WQ_DFL_ACTIVE`).
const DFL_ACTIVE: usize = 1024;

/// A pointer to a queued work item.
#[derive(Clone, Copy, PartialEq, Eq)]
struct WorkPtr(*mut work_struct);

// SAFETY: Whoever queued an item keeps it valid until its function is called (`queue_work_on`'s
// contract), and its function may be called from any thread.
unsafe impl Send for WorkPtr {}

/// The mutable part of a queue.
///
/// # Invariants
///
/// - `pending` holds the items queued and not yet started, in the order they were queued; each
///   has its pending bit set, so it is there at most once, and is valid (`queue_work_on`'s
///   contract).
/// - `running` holds the items whose function a worker is calling, each once: a worker adds the
///   item it takes from `pending` and removes it when the function returns, and no worker takes
///   an item that is in `running`.
/// - `idle + wakeups` is the number of workers waiting in `Workqueue::work` for
///   `work_available`: a worker adds itself to `idle` when it starts waiting; `insert` moves one
///   from `idle` to `wakeups` when it hands the waiting workers an item; a worker that wakes and
///   finds `wakeups > 0` takes one and stops waiting. So `idle + wakeups <= workers.len()`.
/// - Once `stop` is set, it stays set and nothing is queued (`destroy_workqueue`'s contract).
struct QueueState {
    /// Items queued and not started, in order.
    pending: VecDeque<WorkPtr>,
    /// Items whose function is running.
    running: Vec<WorkPtr>,
    /// Workers started and not stopped.
    workers: Vec<JoinHandle<()>>,
    /// Workers waiting for work that no queuer has claimed.
    idle: usize,
    /// Claims on idle workers not yet taken up by one (see `Workqueue::insert`).
    wakeups: usize,
    /// The queue is being destroyed: workers stop.
    stop: bool,
}

/// A work queue (`struct workqueue_struct`); see the [module documentation](self).
pub struct Workqueue {
    name: &'static CStr,
    max_active: usize,
    state: Mutex<QueueState>,
    /// Signalled when an idle worker is claimed, and when the queue stops.
    work_available: Condvar,
    /// Signalled when an item's function returns.
    work_done: Condvar,
}

/// A worker's pointer to its queue.
#[derive(Clone, Copy)]
struct QueueRef(*const Workqueue);

// SAFETY: A queue is `Sync`, and `destroy_workqueue` joins the workers before freeing it.
unsafe impl Send for QueueRef {}

impl QueueRef {
    /// Returns the queue, for `'a`. A method, so closures capture the whole `Send` wrapper.
    ///
    /// # Safety
    ///
    /// The queue must stay valid for `'a`.
    unsafe fn get<'a>(self) -> &'a Workqueue {
        // SAFETY: The caller guarantees the queue is valid for `'a`.
        unsafe { &*self.0 }
    }
}

impl Workqueue {
    const fn new(name: &'static CStr, max_active: usize) -> Self {
        Self {
            name,
            max_active,
            state: Mutex::new(QueueState {
                pending: VecDeque::new(),
                running: Vec::new(),
                workers: Vec::new(),
                idle: 0,
                wakeups: 0,
                stop: false,
            }),
            work_available: Condvar::new(),
            work_done: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues `work`, whose pending bit the caller set (the kernel's `__queue_work()`): an idle
    /// worker is claimed for it, or, if none is idle, a worker is started (up to `max_active`).
    ///
    /// If the worker cannot be started (the process is out of threads or memory), the error is
    /// logged and the item stays queued: a busy worker of the queue runs it when it is done, and
    /// if the queue has none, the next item queued tries again to start one. Meanwhile nothing
    /// runs it (and [`destroy_workqueue`] waits for it).
    fn insert(&self, work: *mut work_struct) {
        let mut state = self.lock();
        state.pending.push_back(WorkPtr(work));
        if state.idle > 0 {
            state.idle -= 1;
            state.wakeups += 1;
            self.work_available.notify_one();
        } else if state.workers.len() < self.max_active {
            let queue = QueueRef(self);
            let spawned = std::thread::Builder::new()
                .name(format!("kworker/{}", self.name.to_string_lossy()))
                // SAFETY: The queue outlives its workers: `destroy_workqueue` joins them before
                // freeing it, and the system queues are never freed.
                .spawn(move || unsafe { queue.get() }.work());
            match spawned {
                Ok(worker) => state.workers.push(worker),
                Err(err) => log::error!(
                    target: "drydock",
                    "workqueue {:?}: starting a worker: {err}; {} items wait for one",
                    self.name,
                    state.pending.len()
                ),
            }
        }
    }

    /// A worker: runs items that no other worker is running, waiting when there are none.
    fn work(&self) {
        let mut state = self.lock();
        loop {
            let runnable = state
                .pending
                .iter()
                .position(|work| !state.running.contains(work));
            let Some(index) = runnable else {
                if state.stop {
                    return;
                }
                state.idle += 1;
                loop {
                    state = self
                        .work_available
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                    if state.wakeups > 0 {
                        state.wakeups -= 1;
                        break;
                    }
                    if state.stop {
                        state.idle -= 1;
                        return;
                    }
                }
                continue;
            };
            let Some(work) = state.pending.remove(index) else {
                continue;
            };
            state.running.push(work);
            drop(state);
            // SAFETY: The item was queued, so it is valid until its function is called; its
            // function is the one `init_work_with_key` stored.
            unsafe {
                let func = (*work.0).func;
                (*work.0).data.fetch_and(!PENDING, Ordering::SeqCst);
                if let Some(func) = func {
                    func(work.0);
                }
            }
            // The item may be gone now: only its address is used below.
            state = self.lock();
            if let Some(index) = state.running.iter().position(|w| *w == work) {
                state.running.swap_remove(index);
            }
            self.work_done.notify_all();
        }
    }
}

/// Declares the system queues: for each, a `static` queue and the C global pointing to it.
macro_rules! system_queues {
    ($($(#[$doc:meta])* $global:ident, $queue:ident, $name:literal;)*) => {$(
        static $queue: Workqueue = Workqueue::new($name, DFL_ACTIVE);
        $(#[$doc])*
        #[allow(non_upper_case_globals)]
        pub static $global: &Workqueue = &$queue;
    )*};
}

system_queues! {
    /// `system_wq`: the queue of `schedule_work()`, for short items.
    system_wq, SYSTEM_WQ, c"events";
    /// `system_highpri_wq`: for items that want a higher priority (the same one here).
    system_highpri_wq, SYSTEM_HIGHPRI_WQ, c"events_highpri";
    /// `system_long_wq`: for items that may run long.
    system_long_wq, SYSTEM_LONG_WQ, c"events_long";
    /// `system_unbound_wq`: for items not bound to a CPU (none is, here).
    system_unbound_wq, SYSTEM_UNBOUND_WQ, c"events_unbound";
    /// `system_freezable_wq`: frozen during suspend in the kernel (never, here).
    system_freezable_wq, SYSTEM_FREEZABLE_WQ, c"events_freezable";
    /// `system_power_efficient_wq`: unbound when the kernel saves power (no difference here).
    system_power_efficient_wq, SYSTEM_POWER_EFFICIENT_WQ, c"events_power_efficient";
    /// `system_freezable_power_efficient_wq`: both of the above.
    system_freezable_power_efficient_wq, SYSTEM_FREEZABLE_POWER_EFFICIENT_WQ,
        c"events_freezable_pwr_ef";
    /// `system_bh_wq`: run in softirq context in the kernel (in a thread, here).
    system_bh_wq, SYSTEM_BH_WQ, c"events_bh";
    /// `system_bh_highpri_wq`: the high-priority bottom-half queue (in a thread, here).
    system_bh_highpri_wq, SYSTEM_BH_HIGHPRI_WQ, c"events_bh_highpri";
}

/// Allocates an ordered work queue (`alloc_ordered_workqueue()`): one worker, which runs the
/// items one at a time in the order they were queued. Destroy it with [`destroy_workqueue`].
///
/// 7.3's Rust API has no way to allocate a queue (`kernel::workqueue::Queue::from_raw` takes
/// one); this is how a process, or a test, gets one.
pub fn alloc_ordered_workqueue(name: &'static CStr) -> *mut Workqueue {
    Box::into_raw(Box::new(Workqueue::new(name, 1)))
}

/// Destroys a queue from [`alloc_ordered_workqueue`] (`destroy_workqueue()`): waits until every
/// queued item has run (items may queue more meanwhile), stops the workers and frees it.
///
/// # Safety
///
/// `wq` must come from [`alloc_ordered_workqueue`] and not be destroyed yet; nothing may queue
/// on it once this returns, including the timers of delayed items. It must not be called from one
/// of the queue's own work items (it would wait for that item to return, forever).
pub unsafe fn destroy_workqueue(wq: *mut Workqueue) {
    // SAFETY: The caller guarantees `wq` is a live queue.
    let queue = unsafe { &*wq };
    let mut state = queue.lock();
    while !state.pending.is_empty() || !state.running.is_empty() {
        state = queue
            .work_done
            .wait(state)
            .unwrap_or_else(|e| e.into_inner());
    }
    state.stop = true;
    let workers = core::mem::take(&mut state.workers);
    drop(state);
    queue.work_available.notify_all();
    for worker in workers {
        let _ = worker.join();
    }
    // SAFETY: `wq` came from `Box::into_raw`, and its workers are gone.
    drop(unsafe { Box::from_raw(wq) });
}

/// Initialises `work` to run `func` (the kernel's `INIT_WORK()`, through the helper
/// `init_work_with_key()`); `onstack`, `name` and `key` are for debugging objects and lockdep,
/// which drydock does not have.
///
/// # Safety
///
/// `work` must be valid for writes.
pub unsafe fn init_work_with_key(
    work: *mut work_struct,
    func: work_func_t,
    _onstack: bool,
    _name: *const c_char,
    _key: *mut lock_class_key,
) {
    // SAFETY: The caller guarantees `work` is valid for writes.
    unsafe {
        work.write(work_struct {
            data: 0.into(),
            func,
        });
    }
}

/// Sets the pending bit of `work`; returns whether it was clear.
///
/// # Safety
///
/// `work` must point to an initialised work item.
unsafe fn claim(work: *mut work_struct) -> bool {
    // SAFETY: The caller guarantees `work` is initialised; `data` is atomic.
    let data = unsafe { &(*work).data };
    data.fetch_or(PENDING, Ordering::SeqCst) & PENDING == 0
}

/// Queues `work` on `wq` (`queue_work_on()`). Returns `false`, doing nothing, if it is pending
/// already (queued, or its delay running). `cpu` is ignored: queues have no per-CPU pools here.
///
/// # Safety
///
/// `wq` must be a live queue and `work` an initialised work item; if this returns `true`, `work`
/// must stay valid until its function is called, and the function must be safe to call on it
/// from a worker thread.
pub unsafe fn queue_work_on(_cpu: c_int, wq: *mut Workqueue, work: *mut work_struct) -> bool {
    // SAFETY: The caller guarantees `work` is initialised.
    if !unsafe { claim(work) } {
        return false;
    }
    // SAFETY: The caller guarantees `wq` is live.
    unsafe { &*wq }.insert(work);
    true
}

/// Queues `dwork` on `wq` after `delay` jiffies (`queue_delayed_work_on()`), at once if `delay` is
/// 0. Returns `false`, doing nothing, if it is pending already. The item is queued no earlier
/// than `delay` jiffies ([`crate::time::TICK_NSEC`] each) after the call.
///
/// # Safety
///
/// As [`queue_work_on`], for the whole of `dwork`, whose timer must have been initialised with
/// [`delayed_work_timer_fn`]; `wq` must stay live until the item is queued.
pub unsafe fn queue_delayed_work_on(
    cpu: c_int,
    wq: *mut Workqueue,
    dwork: *mut delayed_work,
    delay: c_ulong,
) -> bool {
    // SAFETY: The caller guarantees `dwork` is valid.
    let work = unsafe { &raw mut (*dwork).work };
    // SAFETY: The caller guarantees `dwork` is initialised.
    if !unsafe { claim(work) } {
        return false;
    }
    if delay == 0 {
        // SAFETY: The caller guarantees `wq` is live.
        unsafe { &*wq }.insert(work);
        return true;
    }
    // SAFETY: The pending bit is this caller's, so nothing else uses the timer or these fields,
    // and the caller keeps `dwork` valid until the timer has queued it.
    unsafe {
        (*dwork).wq = wq;
        (*dwork).cpu = cpu;
        add_timer_in(&raw mut (*dwork).timer, delay);
    }
    true
}

/// The function of a delayed item's timer (`delayed_work_timer_fn()`): queues the item on the
/// queue [`queue_delayed_work_on`] recorded.
///
/// # Safety
///
/// `timer` must be the `timer` of a `delayed_work` started by [`queue_delayed_work_on`].
pub unsafe extern "C" fn delayed_work_timer_fn(timer: *mut timer_list) {
    let offset = core::mem::offset_of!(delayed_work, timer);
    let dwork = timer
        .cast::<u8>()
        .wrapping_sub(offset)
        .cast::<delayed_work>();
    // SAFETY: The caller guarantees `timer` is in a started `delayed_work`, which
    // `queue_delayed_work_on`'s contract keeps valid until its function runs, and whose queue it
    // requires to stay live until now, when the item is queued.
    unsafe { (*(*dwork).wq).insert(&raw mut (*dwork).work) };
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::MaybeUninit;
    use core::sync::atomic::AtomicPtr;

    /// The test's items, and the indices of those that ran, in order.
    static ITEMS: AtomicPtr<work_struct> = AtomicPtr::new(core::ptr::null_mut());
    static RAN: Mutex<Vec<usize>> = Mutex::new(Vec::new());

    unsafe extern "C" fn record(work: *mut work_struct) {
        // SAFETY: Only items of the test's array are queued with this function.
        let index = unsafe { work.offset_from(ITEMS.load(Ordering::SeqCst)) };
        RAN.lock().unwrap().push(index.unsigned_abs());
    }

    #[test]
    fn destroying_an_ordered_queue_runs_what_was_queued_in_order() {
        let items = Box::leak(Box::new(
            [const { MaybeUninit::<work_struct>::uninit() }; 16],
        ));
        let items = items.as_mut_ptr().cast::<work_struct>();
        ITEMS.store(items, Ordering::SeqCst);
        let wq = alloc_ordered_workqueue(c"host-test");
        // SAFETY: The items are leaked, so valid forever; the queue is live until destroyed.
        unsafe {
            for i in 0..16 {
                let work = items.add(i);
                init_work_with_key(
                    work,
                    Some(record),
                    false,
                    core::ptr::null(),
                    core::ptr::null_mut(),
                );
                assert!(queue_work_on(0, wq, work));
            }
            destroy_workqueue(wq);
        }
        assert_eq!(*RAN.lock().unwrap(), (0..16).collect::<Vec<_>>());
    }
}
