//! Semantics of `kernel::workqueue` on the host's worker threads: order on an ordered queue, a
//! pending item refused, an item never run twice at once, delays honoured, and each pointer type.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;
use std::vec::Vec;

use drydock_host::workqueue::{alloc_ordered_workqueue, destroy_workqueue};
use kernel::bindings;
use kernel::prelude::*;
use kernel::sync::aref::{ARef, AlwaysRefCounted};
use kernel::sync::Arc;
use kernel::time::{Delta, Instant, Jiffies, Monotonic};
use kernel::workqueue::{
    self, impl_has_delayed_work, impl_has_work, new_delayed_work, new_work, DelayedWork, Queue,
    Work, WorkItem,
};

/// How long a test waits for something that should happen at once: generous, the machine is
/// loaded.
const PATIENCE: Duration = Duration::from_secs(30);

/// An ordered queue of the host's, destroyed (after running what was queued) when dropped.
struct OrderedQueue(*mut bindings::workqueue_struct);

impl OrderedQueue {
    fn new(name: &'static CStr) -> Self {
        Self(alloc_ordered_workqueue(name))
    }

    fn queue(&self) -> &Queue {
        // SAFETY: The queue lives until `self` is dropped, which the borrow outlives.
        unsafe { Queue::from_raw(self.0) }
    }
}

impl Drop for OrderedQueue {
    fn drop(&mut self) {
        // SAFETY: The queue came from `alloc_ordered_workqueue`, and the test is done with it.
        unsafe { destroy_workqueue(self.0) };
    }
}

/// A boxed item that signals when it starts, then waits until it is released.
#[pin_data]
struct Gate {
    #[pin]
    work: Work<Gate>,
    started: Sender<()>,
    release: Mutex<Receiver<()>>,
}

impl_has_work! {
    impl HasWork<Self> for Gate { self.work }
}

impl WorkItem for Gate {
    type Pointer = Pin<KBox<Gate>>;

    fn run(this: Pin<KBox<Gate>>) {
        this.started.send(()).unwrap();
        let _ = this.release.lock().unwrap().recv_timeout(PATIENCE);
    }
}

/// Occupies a worker of `queue` until the returned sender is used (or dropped).
fn block(queue: &Queue) -> Sender<()> {
    let (started, started_rx) = channel();
    let (release, release_rx) = channel();
    let gate = KBox::pin_init(
        pin_init!(Gate {
            work <- new_work!("Gate::work"),
            started,
            release: Mutex::new(release_rx),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    queue.enqueue(gate);
    started_rx.recv_timeout(PATIENCE).unwrap();
    release
}

/// An item queued through an `Arc`, counting its runs and reporting each.
#[pin_data]
struct Counter {
    #[pin]
    work: Work<Counter>,
    runs: AtomicU32,
    ran: Mutex<Sender<u32>>,
}

impl_has_work! {
    impl HasWork<Self> for Counter { self.work }
}

impl WorkItem for Counter {
    type Pointer = Arc<Counter>;

    fn run(this: Arc<Counter>) {
        let runs = this.runs.fetch_add(1, Ordering::SeqCst) + 1;
        this.ran.lock().unwrap().send(runs).unwrap();
    }
}

fn counter() -> (Arc<Counter>, Receiver<u32>) {
    let (ran, ran_rx) = channel();
    let counter = Arc::pin_init(
        pin_init!(Counter {
            work <- new_work!(),
            runs: AtomicU32::new(0),
            ran: Mutex::new(ran),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    (counter, ran_rx)
}

/// What the steps of a test ran: each step's index and its worker's name.
type StepLog = std::sync::Arc<Mutex<Vec<(usize, Option<String>)>>>;

/// A boxed item that appends its index to a shared log, and counts its drops.
#[pin_data]
struct Step {
    #[pin]
    work: Work<Step>,
    index: usize,
    log: StepLog,
    dropped: CountsDrops,
}

impl_has_work! {
    impl HasWork<Self> for Step { self.work }
}

impl WorkItem for Step {
    type Pointer = Pin<KBox<Step>>;

    fn run(this: Pin<KBox<Step>>) {
        let thread = std::thread::current().name().map(String::from);
        this.log.lock().unwrap().push((this.index, thread));
    }
}

static STEPS_DROPPED: AtomicUsize = AtomicUsize::new(0);

/// Counts its drops in `STEPS_DROPPED`.
struct CountsDrops;

impl Drop for CountsDrops {
    fn drop(&mut self) {
        STEPS_DROPPED.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn an_ordered_queue_runs_boxed_items_in_order_on_its_worker() {
    let log = std::sync::Arc::new(Mutex::new(Vec::new()));
    let wq = OrderedQueue::new(c"test-ordered");
    let dropped_before = STEPS_DROPPED.load(Ordering::SeqCst);
    for index in 0..200 {
        let step_log = log.clone();
        let step = KBox::pin_init(
            pin_init!(Step {
                work <- new_work!("Step::work"),
                index,
                log: step_log,
                dropped: CountsDrops,
            }),
            GFP_KERNEL,
        )
        .unwrap();
        wq.queue().enqueue(step);
    }
    // Destroying the queue runs what it holds.
    drop(wq);
    let log = log.lock().unwrap();
    let order: Vec<usize> = log.iter().map(|(index, _)| *index).collect();
    assert_eq!(order, (0..200).collect::<Vec<_>>());
    let worker = Some(String::from("kworker/test-ordered"));
    assert!(
        log.iter().all(|(_, thread)| *thread == worker),
        "{:?}",
        log[0].1
    );
    // Each box was given to its run and freed there.
    assert_eq!(STEPS_DROPPED.load(Ordering::SeqCst) - dropped_before, 200);
}

#[test]
fn a_pending_item_is_handed_back_and_runs_once() {
    let wq = OrderedQueue::new(c"test-pending");
    let (item, ran) = counter();
    let release = block(wq.queue());

    assert!(wq.queue().enqueue(item.clone()).is_ok());
    // Queued and not started (the worker is busy): refused, and the same `Arc` comes back.
    let refused = wq.queue().enqueue(item.clone()).expect_err("queued twice");
    assert!(Arc::ptr_eq(&refused, &item));
    drop(refused);

    release.send(()).unwrap();
    assert_eq!(ran.recv_timeout(PATIENCE), Ok(1));
    drop(wq);
    assert_eq!(item.runs.load(Ordering::SeqCst), 1);

    // Once it has started, it may be queued again.
    assert!(workqueue::system().enqueue(item.clone()).is_ok());
    assert_eq!(ran.recv_timeout(PATIENCE), Ok(2));
}

/// An item that records how many of its runs overlap, the first run waiting to be released.
#[pin_data]
struct Reentry {
    #[pin]
    work: Work<Reentry>,
    active: AtomicU32,
    most_active: AtomicU32,
    first: AtomicBool,
    started: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
    finished: Mutex<Sender<()>>,
}

impl_has_work! {
    impl HasWork<Self> for Reentry { self.work }
}

impl WorkItem for Reentry {
    type Pointer = Arc<Reentry>;

    fn run(this: Arc<Reentry>) {
        let active = this.active.fetch_add(1, Ordering::SeqCst) + 1;
        this.most_active.fetch_max(active, Ordering::SeqCst);
        if this.first.swap(false, Ordering::SeqCst) {
            this.started.lock().unwrap().send(()).unwrap();
            let _ = this.release.lock().unwrap().recv_timeout(PATIENCE);
        }
        this.active.fetch_sub(1, Ordering::SeqCst);
        this.finished.lock().unwrap().send(()).unwrap();
    }
}

#[test]
fn an_item_queued_while_it_runs_runs_again_afterwards_never_alongside() {
    let (started, started_rx) = channel();
    let (release, release_rx) = channel();
    let (finished, finished_rx) = channel();
    let item = Arc::pin_init(
        pin_init!(Reentry {
            work <- new_work!("Reentry::work"),
            active: AtomicU32::new(0),
            most_active: AtomicU32::new(0),
            first: AtomicBool::new(true),
            started: Mutex::new(started),
            release: Mutex::new(release_rx),
            finished: Mutex::new(finished),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    // `system_unbound` has many workers: a second run could start on another one.
    let queue = workqueue::system_unbound();
    assert!(queue.enqueue(item.clone()).is_ok());
    started_rx.recv_timeout(PATIENCE).unwrap();
    // Running, so no longer pending: accepted.
    assert!(queue.enqueue(item.clone()).is_ok());
    // Give an idle worker the time to take the second run, if it would.
    std::thread::sleep(Duration::from_millis(100));
    release.send(()).unwrap();
    finished_rx.recv_timeout(PATIENCE).unwrap();
    finished_rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(item.most_active.load(Ordering::SeqCst), 1);
}

/// An item with a delayed work field, recording when it ran.
#[pin_data]
struct Later {
    #[pin]
    work: DelayedWork<Later>,
    ran_at: Mutex<Sender<Instant<Monotonic>>>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Later { self.work }
}

impl WorkItem for Later {
    type Pointer = Arc<Later>;

    fn run(this: Arc<Later>) {
        this.ran_at.lock().unwrap().send(Instant::now()).unwrap();
    }
}

fn later() -> (Arc<Later>, Receiver<Instant<Monotonic>>) {
    let (ran_at, ran_at_rx) = channel();
    let item = Arc::pin_init(
        pin_init!(Later {
            work <- new_delayed_work!("Later::work"),
            ran_at: Mutex::new(ran_at),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    (item, ran_at_rx)
}

/// How much later than its delay a delayed item may run, in milliseconds: the timer's and the
/// worker's wake-ups on a loaded machine (two cores shared with builds), with a wide margin; a
/// delay ignored or counted in the wrong unit (seconds for jiffies) is far outside it.
const LATENESS_MS: i64 = 2000;

/// Asserts that an item queued with a delay of `delay_ms` milliseconds ran `waited` after it was
/// queued: no earlier than its delay, and at most [`LATENESS_MS`] later.
fn assert_ran_after(waited: Delta, delay_ms: i64) {
    assert!(
        waited >= Delta::from_millis(delay_ms),
        "ran after {waited:?}, before its delay of {delay_ms} ms"
    );
    assert!(
        waited <= Delta::from_millis(delay_ms + LATENESS_MS),
        "ran after {waited:?}, more than {LATENESS_MS} ms after its delay of {delay_ms} ms"
    );
}

#[test]
fn delayed_work_runs_no_earlier_than_its_delay_and_is_pending_meanwhile() {
    // Waiting for its delay is pending too: neither kind of enqueue takes it again. An hour at
    // HZ = 250, so that it is still waiting however slow the machine: the item never runs, and
    // the timer keeps its reference until the process ends.
    let (parked, _) = later();
    assert!(workqueue::system()
        .enqueue_delayed(parked.clone(), 250 * 3600)
        .is_ok());
    assert!(workqueue::system()
        .enqueue_delayed(parked.clone(), 1)
        .is_err());
    assert!(workqueue::system_long().enqueue(parked.clone()).is_err());

    let (item, ran_at) = later();
    // 25 jiffies at HZ = 250: 100 ms.
    let start = Instant::<Monotonic>::now();
    assert!(workqueue::system()
        .enqueue_delayed(item.clone(), 25)
        .is_ok());
    let ran = ran_at.recv_timeout(PATIENCE).unwrap();
    assert_ran_after(ran - start, 100);
    assert!(ran_at.recv_timeout(Duration::from_millis(200)).is_err());

    // A delay of 0 queues it at once; `enqueue` does the same with a delayed item.
    assert!(workqueue::system().enqueue_delayed(item.clone(), 0).is_ok());
    ran_at.recv_timeout(PATIENCE).unwrap();
    assert!(workqueue::system().enqueue(item.clone()).is_ok());
    ran_at.recv_timeout(PATIENCE).unwrap();
}

/// A boxed item with a delayed work field, sending the thread that ran it.
#[pin_data]
struct BoxedLater {
    #[pin]
    work: DelayedWork<BoxedLater>,
    ran: Sender<Instant<Monotonic>>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for BoxedLater { self.work }
}

impl WorkItem for BoxedLater {
    type Pointer = Pin<KBox<BoxedLater>>;

    fn run(this: Pin<KBox<BoxedLater>>) {
        this.ran.send(Instant::now()).unwrap();
    }
}

#[test]
fn a_boxed_delayed_item_waits_its_delay() {
    let (ran, ran_rx) = channel();
    let item = KBox::pin_init(
        pin_init!(BoxedLater {
            work <- new_delayed_work!(),
            ran,
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let start = Instant::<Monotonic>::now();
    workqueue::system_highpri().enqueue_delayed(item, 5);
    let waited = ran_rx.recv_timeout(PATIENCE).unwrap() - start;
    assert_ran_after(waited, 20);
}

/// A struct with two work fields, told apart by their IDs.
#[pin_data]
struct Twin {
    #[pin]
    one: Work<Twin, 1>,
    #[pin]
    two: Work<Twin, 2>,
    ran: Mutex<Sender<u64>>,
}

impl_has_work! {
    impl HasWork<Self, 1> for Twin { self.one }
    impl HasWork<Self, 2> for Twin { self.two }
}

impl WorkItem<1> for Twin {
    type Pointer = Arc<Twin>;

    fn run(this: Arc<Twin>) {
        this.ran.lock().unwrap().send(1).unwrap();
    }
}

impl WorkItem<2> for Twin {
    type Pointer = Arc<Twin>;

    fn run(this: Arc<Twin>) {
        this.ran.lock().unwrap().send(2).unwrap();
    }
}

#[test]
fn each_work_field_is_queued_and_run_on_its_own() {
    let (ran, ran_rx) = channel();
    let twin = Arc::pin_init(
        pin_init!(Twin {
            one <- new_work!("Twin::one"),
            two <- new_work!("Twin::two"),
            ran: Mutex::new(ran),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let wq = OrderedQueue::new(c"test-twin");
    let release = block(wq.queue());
    // One field pending does not make the other pending.
    assert!(wq.queue().enqueue::<_, 2>(twin.clone()).is_ok());
    assert!(wq.queue().enqueue::<_, 1>(twin.clone()).is_ok());
    assert!(wq.queue().enqueue::<_, 1>(twin.clone()).is_err());
    release.send(()).unwrap();
    drop(wq);
    assert_eq!(ran_rx.try_iter().collect::<Vec<_>>(), [2, 1]);
}

/// A reference-counted object with a work field and a delayed one, freed by its last reference.
#[pin_data]
struct Shared {
    refs: AtomicUsize,
    #[pin]
    work: Work<Shared>,
    #[pin]
    later: DelayedWork<Shared, 2>,
    ran: Mutex<Sender<usize>>,
}

// SAFETY: `Shared`s are only made by `Shared::new`, which leaks a box that the last `dec_ref`
// frees.
unsafe impl AlwaysRefCounted for Shared {
    fn inc_ref(&self) {
        self.refs.fetch_add(1, Ordering::SeqCst);
    }

    unsafe fn dec_ref(obj: core::ptr::NonNull<Self>) {
        // SAFETY: The caller owns a reference, so `obj` is valid.
        if unsafe { obj.as_ref() }.refs.fetch_sub(1, Ordering::SeqCst) == 1 {
            // SAFETY: That was the last reference to the leaked box.
            drop(unsafe { KBox::from_raw(obj.as_ptr()) });
        }
    }
}

impl Shared {
    fn new(ran: Sender<usize>) -> ARef<Self> {
        let boxed = KBox::pin_init(
            pin_init!(Shared {
                refs: AtomicUsize::new(1),
                work <- new_work!("Shared::work"),
                later <- new_delayed_work!("Shared::later"),
                ran: Mutex::new(ran),
            }),
            GFP_KERNEL,
        )
        .unwrap();
        // SAFETY: The box is leaked, never moved, and freed by the last `dec_ref`.
        let leaked = unsafe { Pin::into_inner_unchecked(boxed) };
        // SAFETY: The new object's one reference is given to the `ARef`.
        unsafe { ARef::from_raw(core::ptr::NonNull::from(KBox::leak(leaked))) }
    }
}

impl_has_work! {
    impl HasWork<Self> for Shared { self.work }
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self, 2> for Shared { self.later }
}

impl Shared {
    /// What both fields run: reports the references the run sees.
    fn report(this: ARef<Shared>) {
        let refs = this.refs.load(Ordering::SeqCst);
        this.ran.lock().unwrap().send(refs).unwrap();
    }
}

impl WorkItem for Shared {
    type Pointer = ARef<Shared>;

    fn run(this: ARef<Shared>) {
        Shared::report(this);
    }
}

impl WorkItem<2> for Shared {
    type Pointer = ARef<Shared>;

    fn run(this: ARef<Shared>) {
        Shared::report(this);
    }
}

#[test]
fn an_aref_item_holds_its_reference_while_queued() {
    let (ran, ran_rx) = channel();
    let shared = Shared::new(ran);
    let wq = OrderedQueue::new(c"test-aref");
    let release = block(wq.queue());
    assert!(wq.queue().enqueue::<_, 0>(shared.clone()).is_ok());
    assert_eq!(shared.refs.load(Ordering::SeqCst), 2);
    let refused = wq
        .queue()
        .enqueue::<_, 0>(shared.clone())
        .expect_err("queued twice");
    assert_eq!(shared.refs.load(Ordering::SeqCst), 3);
    drop(refused);
    release.send(()).unwrap();
    // The run has the queue's reference and the test's.
    assert_eq!(ran_rx.recv_timeout(PATIENCE), Ok(2));
    drop(wq);
    assert_eq!(shared.refs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_delayed_aref_item_holds_its_reference_while_it_waits() {
    let (ran, ran_rx) = channel();
    let shared = Shared::new(ran);
    let wq = OrderedQueue::new(c"test-aref-delayed");
    // The worker is busy, so the item stays pending once its delay has passed, as well as before.
    let release = block(wq.queue());
    assert!(wq
        .queue()
        .enqueue_delayed::<_, 2>(shared.clone(), 1)
        .is_ok());
    assert_eq!(shared.refs.load(Ordering::SeqCst), 2);
    let refused = wq
        .queue()
        .enqueue_delayed::<_, 2>(shared.clone(), 1)
        .expect_err("queued twice");
    assert!(core::ptr::eq(&*refused, &*shared));
    assert_eq!(shared.refs.load(Ordering::SeqCst), 3);
    drop(refused);
    assert_eq!(shared.refs.load(Ordering::SeqCst), 2);
    release.send(()).unwrap();
    // The run has the reference the timer kept, and the test's.
    assert_eq!(ran_rx.recv_timeout(PATIENCE), Ok(2));
    drop(wq);
    assert_eq!(shared.refs.load(Ordering::SeqCst), 1);
    assert!(ran_rx.try_recv().is_err());
}

/// An item that queues itself again from its run (the polling pattern), through `enqueue` or,
/// with a `delay`, `enqueue_delayed`, until it has run `limit` times.
#[pin_data]
struct Poller {
    #[pin]
    work: DelayedWork<Poller>,
    delay: Option<Jiffies>,
    limit: u32,
    runs: AtomicU32,
    /// Whether each queueing from a run was accepted; `None` after the last run.
    requeued: Mutex<Sender<Option<bool>>>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Poller { self.work }
}

impl WorkItem for Poller {
    type Pointer = Arc<Poller>;

    fn run(this: Arc<Poller>) {
        let runs = this.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let requeued = this.requeued.lock().unwrap().clone();
        if runs == this.limit {
            requeued.send(None).unwrap();
            return;
        }
        let queue = workqueue::system();
        let accepted = match this.delay {
            Some(delay) => queue.enqueue_delayed(this.clone(), delay).is_ok(),
            None => queue.enqueue(this.clone()).is_ok(),
        };
        requeued.send(Some(accepted)).unwrap();
    }
}

#[test]
fn an_item_queues_itself_from_its_run() {
    for delay in [None, Some(1)] {
        let (requeued, requeued_rx) = channel();
        let poller = Arc::pin_init(
            pin_init!(Poller {
                work <- new_delayed_work!("Poller::work"),
                delay,
                limit: 5,
                runs: AtomicU32::new(0),
                requeued: Mutex::new(requeued),
            }),
            GFP_KERNEL,
        )
        .unwrap();
        assert!(workqueue::system().enqueue(poller.clone()).is_ok());
        // Its pending bit is clear while it runs, so each run's queueing is accepted.
        for _ in 1..5 {
            assert_eq!(
                requeued_rx.recv_timeout(PATIENCE),
                Ok(Some(true)),
                "{delay:?}"
            );
        }
        assert_eq!(requeued_rx.recv_timeout(PATIENCE), Ok(None), "{delay:?}");
        assert_eq!(poller.runs.load(Ordering::SeqCst), 5);
    }
}

#[test]
fn every_system_queue_runs_closures_on_its_own_workers() {
    // Each function reaches the C queue of its name (the workers are named after it).
    type QueueFn = fn() -> &'static Queue;
    let queues: [(QueueFn, &str); 9] = [
        (workqueue::system, "events"),
        (workqueue::system_highpri, "events_highpri"),
        (workqueue::system_long, "events_long"),
        (workqueue::system_unbound, "events_unbound"),
        (workqueue::system_freezable, "events_freezable"),
        (workqueue::system_power_efficient, "events_power_efficient"),
        (
            workqueue::system_freezable_power_efficient,
            "events_freezable_pwr_ef",
        ),
        (workqueue::system_bh, "events_bh"),
        (workqueue::system_bh_highpri, "events_bh_highpri"),
    ];
    let mut seen = Vec::new();
    for (queue, name) in queues {
        let (tx, rx) = channel();
        queue()
            .try_spawn(GFP_KERNEL, move || {
                let name = std::thread::current().name().map(String::from);
                tx.send(name).unwrap();
            })
            .unwrap();
        let worker = rx.recv_timeout(PATIENCE).unwrap().unwrap();
        assert_eq!(worker, format!("kworker/{name}"));
        seen.push(core::ptr::from_ref(queue()));
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 9);
}

/// A boxed delayed item that frees itself when it runs, and reports that it did.
#[pin_data]
struct Ephemeral {
    #[pin]
    work: DelayedWork<Ephemeral>,
    freed: Mutex<Sender<()>>,
}

impl_has_delayed_work! {
    impl HasDelayedWork<Self> for Ephemeral { self.work }
}

impl WorkItem for Ephemeral {
    type Pointer = Pin<KBox<Ephemeral>>;

    fn run(this: Pin<KBox<Ephemeral>>) {
        let freed = this.freed.lock().unwrap().clone();
        // Freed here, while the timer that queued it may still be on the timer thread's mind.
        drop(this);
        freed.send(()).unwrap();
    }
}

/// How many items `boxed_delayed_items_free_themselves_from_their_run` queues.
const EPHEMERAL_ITEMS: usize = 300;

#[test]
fn boxed_delayed_items_free_themselves_from_their_run() {
    let (tx, freed_rx) = channel();
    for round in 0..EPHEMERAL_ITEMS {
        let sender = tx.clone();
        let item = KBox::pin_init(
            pin_init!(Ephemeral {
                work <- new_delayed_work!("Ephemeral::work"),
                freed: Mutex::new(sender),
            }),
            GFP_KERNEL,
        )
        .unwrap();
        // One jiffy, or two: some items expire together, some alone.
        workqueue::system_unbound().enqueue_delayed(item, 1 + (round % 2) as u64);
    }
    for _ in 0..EPHEMERAL_ITEMS {
        freed_rx.recv_timeout(PATIENCE).unwrap();
    }
}

/// Runs `boxed_delayed_items_free_themselves_from_their_run` in this test binary under
/// valgrind's memcheck, which reports the reads of freed items that the test alone cannot see.
/// Skipped (with a note) where valgrind is not installed. By hand: `valgrind --error-exitcode=1
/// target/debug/deps/workqueue-HASH --exact boxed_delayed_items_free_themselves_from_their_run`.
#[test]
fn boxed_delayed_items_free_themselves_cleanly_under_valgrind() {
    use std::process::{Command, Stdio};

    /// How long valgrind may take before the test gives up on it.
    const VALGRIND_PATIENCE: Duration = Duration::from_secs(300);

    if Command::new("valgrind").arg("--version").output().is_err() {
        eprintln!("valgrind is not installed: skipped");
        return;
    }
    let mut child = Command::new("valgrind")
        .args(["--error-exitcode=1", "--quiet"])
        .arg(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "boxed_delayed_items_free_themselves_from_their_run",
            "--test-threads=1",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Read both pipes while valgrind runs, so that it never blocks on a full one.
    fn read(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    }
    let stdout = read(child.stdout.take().unwrap());
    let stderr = read(child.stderr.take().unwrap());
    let deadline = std::time::Instant::now() + VALGRIND_PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("valgrind ran for more than {VALGRIND_PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    // The test ran (a misspelt name would pass vacuously), and memcheck found nothing.
    assert!(stdout.contains("1 passed"), "{stdout}");
    assert!(status.success(), "{stdout}\n{stderr}");
}
