//! Semantics of `kernel::time::hrtimer` on the host's timer threads: every mode on its clock and
//! context, restarting, cancelling (also while the callback runs), and each handle type.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Mutex;
use std::time::Duration;
use std::vec::Vec;

use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};
use kernel::time::hrtimer::{
    AbsoluteHardMode, AbsoluteMode, AbsolutePinnedHardMode, AbsolutePinnedMode,
    AbsolutePinnedSoftMode, AbsoluteSoftMode, ArcHrTimerHandle, HasHrTimer, HrTimer,
    HrTimerCallback, HrTimerCallbackContext, HrTimerHandle, HrTimerPointer, HrTimerRestart,
    RelativeHardMode, RelativeMode, RelativePinnedHardMode, RelativePinnedMode,
    RelativePinnedSoftMode, RelativeSoftMode, ScopedHrTimerPointer,
};
use kernel::time::{BootTime, Delta, Instant, Monotonic, RealTime, Tai};
use kernel::{bindings, impl_has_hr_timer};
use pin_init::stack_pin_init;

/// How long a test waits for something that should happen soon: generous, the machine is loaded.
const PATIENCE: Duration = Duration::from_secs(30);

/// A delay long enough that a timer started with it does not expire during a test.
const NEVER: Delta = Delta::from_secs(3600);

/// Declares a struct whose timer, in the mode given, reports when and on which thread it fired,
/// and a test that starts it and checks both.
macro_rules! mode_test {
    ($test:ident, $probe:ident, $mode:ident<$clock:ident>, $kind:ident, $thread:literal) => {
        #[pin_data]
        struct $probe {
            #[pin]
            timer: HrTimer<Self>,
            fired: Mutex<Sender<(Instant<$clock>, Option<String>)>>,
        }

        impl_has_hr_timer! {
            impl HasHrTimer<Self> for $probe {
                mode: $mode<$clock>, field: self.timer
            }
        }

        impl HrTimerCallback for $probe {
            type Pointer<'a> = Arc<Self>;

            fn run(
                this: ArcBorrow<'_, Self>,
                _: HrTimerCallbackContext<'_, Self>,
            ) -> HrTimerRestart {
                let thread = std::thread::current().name().map(String::from);
                this.fired.lock().unwrap().send((Instant::now(), thread)).unwrap();
                HrTimerRestart::NoRestart
            }
        }

        #[test]
        fn $test() {
            let (fired, fired_rx) = channel();
            let probe = Arc::pin_init(
                pin_init!($probe {
                    timer <- HrTimer::new(),
                    fired: Mutex::new(fired),
                }),
                GFP_KERNEL,
            )
            .unwrap();
            let delay = Delta::from_millis(20);
            let earliest = Instant::<$clock>::now() + delay;
            let mut handle = mode_test!(@start $kind, probe.clone(), delay, earliest);
            let (at, thread) = fired_rx.recv_timeout(PATIENCE).unwrap();
            assert!(at - earliest >= Delta::ZERO, "fired {:?} early", earliest - at);
            assert!(probe.timer.expires() - earliest >= Delta::ZERO);
            assert_eq!(thread.as_deref(), Some($thread));
            // Fired without restarting: stopped.
            assert!(!handle.cancel());
        }
    };
    (@start relative, $ptr:expr, $delay:expr, $earliest:expr) => {
        $ptr.start($delay)
    };
    (@start absolute, $ptr:expr, $delay:expr, $earliest:expr) => {
        $ptr.start($earliest)
    };
}

mode_test!(
    absolute,
    Abs,
    AbsoluteMode<Monotonic>,
    absolute,
    "hrtimer/monotonic"
);
mode_test!(
    relative,
    Rel,
    RelativeMode<Monotonic>,
    relative,
    "hrtimer/monotonic"
);
mode_test!(
    absolute_pinned,
    AbsPin,
    AbsolutePinnedMode<Monotonic>,
    absolute,
    "hrtimer/monotonic"
);
mode_test!(
    relative_pinned,
    RelPin,
    RelativePinnedMode<Monotonic>,
    relative,
    "hrtimer/monotonic"
);
mode_test!(
    absolute_soft,
    AbsSoft,
    AbsoluteSoftMode<Monotonic>,
    absolute,
    "hrtimer/monotonic-soft"
);
mode_test!(
    relative_soft,
    RelSoft,
    RelativeSoftMode<Monotonic>,
    relative,
    "hrtimer/monotonic-soft"
);
mode_test!(
    absolute_pinned_soft,
    AbsPinSoft,
    AbsolutePinnedSoftMode<Monotonic>,
    absolute,
    "hrtimer/monotonic-soft"
);
mode_test!(
    relative_pinned_soft,
    RelPinSoft,
    RelativePinnedSoftMode<Monotonic>,
    relative,
    "hrtimer/monotonic-soft"
);
mode_test!(
    absolute_hard,
    AbsHard,
    AbsoluteHardMode<Monotonic>,
    absolute,
    "hrtimer/monotonic"
);
mode_test!(
    relative_hard,
    RelHard,
    RelativeHardMode<Monotonic>,
    relative,
    "hrtimer/monotonic"
);
mode_test!(
    absolute_pinned_hard,
    AbsPinHard,
    AbsolutePinnedHardMode<Monotonic>,
    absolute,
    "hrtimer/monotonic"
);
mode_test!(
    relative_pinned_hard,
    RelPinHard,
    RelativePinnedHardMode<Monotonic>,
    relative,
    "hrtimer/monotonic"
);
mode_test!(
    absolute_realtime,
    AbsReal,
    AbsoluteMode<RealTime>,
    absolute,
    "hrtimer/realtime"
);
mode_test!(
    relative_realtime,
    RelReal,
    RelativeMode<RealTime>,
    relative,
    "hrtimer/realtime"
);
mode_test!(
    absolute_boottime,
    AbsBoot,
    AbsoluteMode<BootTime>,
    absolute,
    "hrtimer/boottime"
);
mode_test!(
    relative_boottime,
    RelBoot,
    RelativeMode<BootTime>,
    relative,
    "hrtimer/boottime"
);
mode_test!(
    absolute_tai,
    AbsTai,
    AbsoluteMode<Tai>,
    absolute,
    "hrtimer/tai"
);
mode_test!(
    relative_tai_soft,
    RelTaiSoft,
    RelativeSoftMode<Tai>,
    relative,
    "hrtimer/tai-soft"
);

/// A timer that fires `limit` times, forwarding itself by `interval` from its callback.
#[pin_data]
struct Ticker {
    #[pin]
    timer: HrTimer<Self>,
    interval: Delta,
    limit: u32,
    ticks: Mutex<Vec<(Instant<Monotonic>, u64, bool)>>,
    done: Mutex<Sender<()>>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Ticker {
        mode: RelativeMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Ticker {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let now = Instant::<Monotonic>::now();
        let expired = now - this.timer.expires() >= Delta::ZERO;
        let mut ticks = this.ticks.lock().unwrap();
        if ticks.len() + 1 == this.limit as usize {
            ticks.push((now, 0, expired));
            this.done.lock().unwrap().send(()).unwrap();
            return HrTimerRestart::NoRestart;
        }
        let overruns = ctx.forward_now(this.interval);
        ticks.push((now, overruns, expired));
        HrTimerRestart::Restart
    }
}

#[test]
fn a_restarting_timer_fires_after_each_forwarded_expiry() {
    let (done, done_rx) = channel();
    let interval = Delta::from_millis(3);
    let ticker = Arc::pin_init(
        pin_init!(Ticker {
            timer <- HrTimer::new(),
            interval,
            limit: 5,
            ticks: Mutex::new(Vec::new()),
            done: Mutex::new(done),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let start = Instant::<Monotonic>::now();
    let mut handle = ticker.clone().start(interval);
    done_rx.recv_timeout(PATIENCE).unwrap();
    let ticks = ticker.ticks.lock().unwrap();
    assert_eq!(ticks.len(), 5);
    // Each callback ran once its expiry had passed, and moved it on by at least one interval, so
    // the k-th firing is at least k + 1 intervals after the start.
    let mut intervals = 1;
    for (k, (at, overruns, expired)) in ticks.iter().enumerate() {
        assert!(*expired, "tick {k} ran before its expiry");
        assert!(*at - start >= interval * intervals, "tick {k} early");
        if k < 4 {
            assert!(*overruns >= 1);
            intervals += i64::try_from(*overruns).unwrap();
        }
    }
    drop(ticks);
    // The last callback did not restart it.
    assert!(!handle.cancel());
}

/// A timer whose callback reports that it started, waits to be released, then returns: with
/// `restart`, it restarts the timer far in the future.
#[pin_data]
struct Slow {
    #[pin]
    timer: HrTimer<Self>,
    restart: bool,
    gate: Gate,
    returned_at: AtomicUsize,
}

/// Orders the events of the tests that cancel or drop a timer while its callback runs.
static SEQUENCE: AtomicUsize = AtomicUsize::new(1);

/// Holds a callback until the test releases it.
struct Gate {
    entered: Mutex<Sender<()>>,
    release: Mutex<Receiver<()>>,
}

impl Gate {
    /// Returns a gate, the receiver told when a callback enters it, and the sender that
    /// releases it.
    fn new() -> (Self, Receiver<()>, Sender<()>) {
        let (entered, entered_rx) = channel();
        let (release, release_rx) = channel();
        let gate = Gate {
            entered: Mutex::new(entered),
            release: Mutex::new(release_rx),
        };
        (gate, entered_rx, release)
    }

    /// Says the callback entered, then waits until it is released, for [`PATIENCE`] at most.
    fn pass(&self) {
        self.entered.lock().unwrap().send(()).unwrap();
        let _ = self.release.lock().unwrap().recv_timeout(PATIENCE);
    }
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Slow {
        // The only timers of the soft boottime base, which they block.
        mode: RelativeSoftMode<BootTime>, field: self.timer
    }
}

impl HrTimerCallback for Slow {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.gate.pass();
        let restart = if this.restart {
            ctx.forward_now(NEVER);
            HrTimerRestart::Restart
        } else {
            HrTimerRestart::NoRestart
        };
        this.returned_at
            .store(SEQUENCE.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        restart
    }
}

/// Once a callback has started (`entered`), runs `job` while another thread releases the
/// callback (`release`) a moment later, and checks that `job` returned only after the callback
/// did (`returned_at`, from `SEQUENCE`). Returns what `job` returned.
fn while_the_callback_runs<T>(
    entered: &Receiver<()>,
    release: Sender<()>,
    returned_at: impl Fn() -> usize,
    job: impl FnOnce() -> T,
) -> T {
    entered.recv_timeout(PATIENCE).unwrap();
    let done = std::sync::Arc::new(AtomicBool::new(false));
    let releaser = {
        let done = done.clone();
        std::thread::spawn(move || {
            // Give the job the time to reach the timer: it must still be waiting then.
            std::thread::sleep(Duration::from_millis(100));
            let early = done.load(Ordering::SeqCst);
            release.send(()).unwrap();
            early
        })
    };
    let result = job();
    let done_at = SEQUENCE.fetch_add(1, Ordering::SeqCst);
    done.store(true, Ordering::SeqCst);
    assert!(!releaser.join().unwrap(), "returned while the callback ran");
    let returned_at = returned_at();
    assert!(returned_at != 0 && returned_at < done_at);
    result
}

/// Starts a `Slow` timer, cancels it while its callback runs, and returns what the cancel
/// returned and the handle.
fn cancel_while_the_callback_runs(restart: bool) -> (bool, ArcHrTimerHandle<Slow>) {
    let (gate, entered_rx, release) = Gate::new();
    let slow = Arc::pin_init(
        pin_init!(Slow {
            timer <- HrTimer::new(),
            restart,
            gate,
            returned_at: AtomicUsize::new(0),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let mut handle = slow.clone().start(Delta::from_millis(1));
    let returned_at = || slow.returned_at.load(Ordering::SeqCst);
    let was_started =
        while_the_callback_runs(&entered_rx, release, returned_at, || handle.cancel());
    (was_started, handle)
}

#[test]
fn cancel_waits_for_a_running_callback() {
    let (was_started, mut handle) = cancel_while_the_callback_runs(true);
    // The callback restarted the timer, and the cancel that waited for it dequeued it.
    assert!(was_started);
    assert!(!handle.cancel());
}

#[test]
fn cancel_waits_for_a_running_callback_that_does_not_restart() {
    let (was_started, mut handle) = cancel_while_the_callback_runs(false);
    // The timer was dequeued to run its callback, which did not restart it.
    assert!(!was_started);
    assert!(!handle.cancel());
}

/// A timer that only counts its callbacks.
#[pin_data]
struct Idle {
    #[pin]
    timer: HrTimer<Self>,
    runs: AtomicU32,
    ran: Mutex<Sender<()>>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Idle {
        mode: RelativeMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Idle {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.runs.fetch_add(1, Ordering::SeqCst);
        this.ran.lock().unwrap().send(()).unwrap();
        HrTimerRestart::NoRestart
    }
}

fn idle() -> (Arc<Idle>, Receiver<()>) {
    let (ran, ran_rx) = channel();
    let idle = Arc::pin_init(
        pin_init!(Idle {
            timer <- HrTimer::new(),
            runs: AtomicU32::new(0),
            ran: Mutex::new(ran),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    (idle, ran_rx)
}

#[test]
fn cancel_stops_a_started_timer_once() {
    let (idle, ran) = idle();
    let mut handle = idle.clone().start(NEVER);
    assert!(handle.cancel());
    assert!(!handle.cancel());
    drop(handle);
    // Stopped, it can be started again; the cancelled start never fired.
    let _handle = idle.clone().start(Delta::from_millis(1));
    ran.recv_timeout(PATIENCE).unwrap();
    assert_eq!(idle.runs.load(Ordering::SeqCst), 1);
}

#[test]
fn a_negative_relative_expiry_never_expires() {
    let (idle, ran) = idle();
    let before = Instant::<Monotonic>::now();
    for delay in [
        Delta::from_nanos(-1),
        Delta::from_secs(-10),
        Delta::from_nanos(i64::MIN),
    ] {
        let mut handle = idle.clone().start(delay);
        // As the kernel's `ktime_add_safe()`: `KTIME_SEC_MAX` seconds, over 292 years.
        assert!(idle.timer.expires() - before > Delta::from_secs(292 * 365 * 24 * 3600));
        // Still started: it has not fired.
        assert!(handle.cancel());
    }
    assert!(ran.try_recv().is_err());
    assert_eq!(idle.runs.load(Ordering::SeqCst), 0);
}

#[test]
fn starting_a_started_timer_moves_it() {
    let (idle, ran) = idle();
    let mut far = idle.clone().start(NEVER);
    let _near = idle.clone().start(Delta::from_millis(1));
    ran.recv_timeout(PATIENCE).unwrap();
    // One timer, queued once: it fired at the new expiry and is stopped now.
    assert!(!far.cancel());
    assert_eq!(idle.runs.load(Ordering::SeqCst), 1);
}

/// Counts the drops of the structs that hold it.
struct CountsDrops(&'static AtomicUsize);

impl Drop for CountsDrops {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A boxed timer whose callback changes it through `Pin<&mut Self>`.
#[pin_data]
struct Boxed {
    #[pin]
    timer: HrTimer<Self>,
    runs: u32,
    ran: Sender<u32>,
    dropped: CountsDrops,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Boxed {
        mode: RelativeSoftMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Boxed {
    type Pointer<'a> = Pin<KBox<Self>>;

    fn run(this: Pin<&mut Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let this = this.project();
        *this.runs += 1;
        this.ran.send(*this.runs).unwrap();
        HrTimerRestart::NoRestart
    }
}

static BOXES_DROPPED: AtomicUsize = AtomicUsize::new(0);

fn boxed(ran: Sender<u32>) -> Pin<KBox<Boxed>> {
    KBox::pin_init(
        pin_init!(Boxed {
            timer <- HrTimer::new(),
            runs: 0,
            ran,
            dropped: CountsDrops(&BOXES_DROPPED),
        }),
        GFP_KERNEL,
    )
    .unwrap()
}

#[test]
fn a_boxed_timer_is_owned_by_its_handle() {
    let (ran, ran_rx) = channel();
    let before = BOXES_DROPPED.load(Ordering::SeqCst);
    let mut handle = boxed(ran.clone()).start(Delta::from_millis(1));
    assert_eq!(ran_rx.recv_timeout(PATIENCE), Ok(1));
    assert!(!handle.cancel());
    assert_eq!(BOXES_DROPPED.load(Ordering::SeqCst), before);
    // Dropping the handle frees the box.
    drop(handle);
    assert_eq!(BOXES_DROPPED.load(Ordering::SeqCst), before + 1);

    // A started timer is cancelled before its box is freed, and never fires.
    drop(boxed(ran).start(NEVER));
    assert_eq!(BOXES_DROPPED.load(Ordering::SeqCst), before + 2);
    assert!(ran_rx.try_recv().is_err());
}

/// Returns whether the timer of `this` is queued in its base, as the host's state says.
fn is_queued<T: HasHrTimer<T>>(this: &T) -> bool {
    // SAFETY: `this` is a valid `T`, so its timer is valid; the state is atomic.
    let state = unsafe { &(*T::c_timer_ptr(this)).state };
    state.load(Ordering::SeqCst) & bindings::HRTIMER_STATE_ENQUEUED != 0
}

/// A timer on the stack, called back through `Pin<&Self>`.
#[pin_data]
struct Stacked {
    #[pin]
    timer: HrTimer<Self>,
    fired: AtomicBool,
    ran: Mutex<Sender<()>>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Stacked {
        mode: AbsoluteMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Stacked {
    type Pointer<'a> = Pin<&'a Self>;

    fn run(this: Pin<&Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.fired.store(true, Ordering::SeqCst);
        this.ran.lock().unwrap().send(()).unwrap();
        HrTimerRestart::NoRestart
    }
}

#[test]
fn a_scoped_timer_through_a_shared_pin_is_stopped_when_the_scope_ends() {
    let (ran, ran_rx) = channel();
    stack_pin_init!(let stacked = pin_init!(Stacked {
        timer <- HrTimer::new(),
        fired: AtomicBool::new(false),
        ran: Mutex::new(ran),
    }));
    // Started for the scope, and cancelled at its end: it is stopped and never fired.
    let later = Instant::<Monotonic>::now() + NEVER;
    let queued = stacked
        .as_ref()
        .start_scoped(later, || is_queued(stacked.as_ref().get_ref()));
    assert!(queued);
    assert!(!is_queued(stacked.as_ref().get_ref()));
    assert!(ran_rx.try_recv().is_err());
    assert!(!stacked.fired.load(Ordering::SeqCst));
    // Expires within the scope.
    let soon = Instant::<Monotonic>::now() + Delta::from_millis(1);
    stacked
        .as_ref()
        .start_scoped(soon, || ran_rx.recv_timeout(PATIENCE))
        .unwrap();
    assert!(stacked.fired.load(Ordering::SeqCst));
}

/// A timer on the stack, called back through `Pin<&mut Self>`, which restarts itself.
#[pin_data]
struct StackedMut {
    #[pin]
    timer: HrTimer<Self>,
    runs: u32,
    done: Sender<()>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for StackedMut {
        mode: RelativeHardMode<RealTime>, field: self.timer
    }
}

impl HrTimerCallback for StackedMut {
    type Pointer<'a> = Pin<&'a mut Self>;

    fn run(this: Pin<&mut Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let this = this.project();
        *this.runs += 1;
        if *this.runs == 3 {
            this.done.send(()).unwrap();
            return HrTimerRestart::NoRestart;
        }
        ctx.forward(Instant::now(), Delta::from_millis(1));
        HrTimerRestart::Restart
    }
}

#[test]
fn a_scoped_timer_through_a_mutable_pin_changes_its_struct() {
    let (done, done_rx) = channel();
    stack_pin_init!(let stacked = pin_init!(StackedMut {
        timer <- HrTimer::new(),
        runs: 0,
        done,
    }));

    // A stopped timer owned exclusively may be forwarded directly. This one has never been
    // started, so its expiry is the clock's origin: far behind `now`.
    let now = Instant::<RealTime>::now();
    let interval = Delta::from_millis(1);
    let timer = stacked.as_mut().project().timer;
    assert!(timer.forward(now, interval) > 1);
    let timer = stacked.as_mut().project().timer;
    let ahead = timer.expires() - now;
    assert!(ahead > Delta::ZERO && ahead <= interval);
    let timer = stacked.as_mut().project().timer;
    assert_eq!(timer.forward(now, interval), 0);

    stacked
        .as_mut()
        .start_scoped(Delta::from_millis(1), || done_rx.recv_timeout(PATIENCE))
        .unwrap();
    assert_eq!(stacked.runs, 3);
}

/// A timer whose first callback starts it again (through a clone of its `Arc`) and returns
/// `Restart`; its second callback stops it.
#[pin_data]
struct Restarter {
    #[pin]
    timer: HrTimer<Self>,
    runs: AtomicU32,
    /// The handle of the start made by the first callback.
    again: Mutex<Option<ArcHrTimerHandle<Restarter>>>,
    /// Each run, with the expiry it left (or the time it ran) and what forwarding returned.
    seen: Mutex<Sender<(u32, Instant<Monotonic>, u64)>>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Restarter {
        mode: RelativeMode<Monotonic>, field: self.timer
    }
}

impl HrTimerCallback for Restarter {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, mut ctx: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        let runs = this.runs.fetch_add(1, Ordering::SeqCst) + 1;
        let seen = this.seen.lock().unwrap().clone();
        if runs > 1 {
            seen.send((runs, Instant::now(), 0)).unwrap();
            return HrTimerRestart::NoRestart;
        }
        // Expired as soon as started, so forwarding would move it, were it not queued.
        let handle = Arc::from(this).start(Delta::ZERO);
        // Started again, so queued: the forward a restarting callback makes is refused.
        let forwarded = ctx.forward_now(NEVER);
        *this.again.lock().unwrap() = Some(handle);
        seen.send((runs, this.timer.expires(), forwarded)).unwrap();
        HrTimerRestart::Restart
    }
}

#[test]
fn a_timer_started_from_its_callback_stays_where_that_start_put_it() {
    let (seen, seen_rx) = channel();
    let restarter = Arc::pin_init(
        pin_init!(Restarter {
            timer <- HrTimer::new(),
            runs: AtomicU32::new(0),
            again: Mutex::new(None),
            seen: Mutex::new(seen),
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let mut first = restarter.clone().start(Delta::from_millis(1));
    let (runs, expiry, forwarded) = seen_rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!((runs, forwarded), (1, 0));
    // `Restart` left it at the expiry of the start made in the callback, and it fired there,
    // once.
    let (runs, ran_at, _) = seen_rx.recv_timeout(PATIENCE).unwrap();
    assert_eq!(runs, 2);
    assert!(ran_at - expiry >= Delta::ZERO);
    assert!(!first.cancel());
    let mut again = restarter.again.lock().unwrap().take().unwrap();
    assert!(!again.cancel());
    assert!(seen_rx.recv_timeout(Duration::from_millis(100)).is_err());
    assert_eq!(restarter.runs.load(Ordering::SeqCst), 2);
}

/// A timer that reports its index when it fires.
#[pin_data]
struct Marker {
    #[pin]
    timer: HrTimer<Self>,
    index: usize,
    fired: Mutex<Sender<usize>>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for Marker {
        // The only timers of the soft realtime base: nothing else wakes its thread.
        mode: RelativeSoftMode<RealTime>, field: self.timer
    }
}

impl HrTimerCallback for Marker {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.fired.lock().unwrap().send(this.index).unwrap();
        HrTimerRestart::NoRestart
    }
}

#[test]
fn a_timer_that_expires_first_but_starts_later_rearms_its_base() {
    let (fired, fired_rx) = channel();
    let marker = |index| {
        let fired = Mutex::new(fired.clone());
        Arc::pin_init(
            pin_init!(Marker {
                timer <- HrTimer::new(),
                index,
                fired,
            }),
            GFP_KERNEL,
        )
        .unwrap()
    };
    // The base's thread sleeps until the first timer's expiry, an hour away; the second one must
    // wake it sooner.
    let mut late = marker(0).start(NEVER);
    let _early = marker(1).start(Delta::from_millis(1));
    assert_eq!(fired_rx.recv_timeout(PATIENCE), Ok(1));
    assert!(late.cancel());
    assert!(fired_rx.try_recv().is_err());
}

/// A timer that reports its index when it fires; with a gate, it then blocks its base until
/// released.
#[pin_data]
struct InOrder {
    #[pin]
    timer: HrTimer<Self>,
    index: usize,
    fired: Mutex<Sender<usize>>,
    gate: Option<Gate>,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for InOrder {
        mode: AbsoluteMode<BootTime>, field: self.timer
    }
}

impl HrTimerCallback for InOrder {
    type Pointer<'a> = Arc<Self>;

    fn run(this: ArcBorrow<'_, Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.fired.lock().unwrap().send(this.index).unwrap();
        if let Some(gate) = &this.gate {
            gate.pass();
        }
        HrTimerRestart::NoRestart
    }
}

#[test]
fn timers_of_one_base_fire_in_expiry_order() {
    let (fired, fired_rx) = channel();
    let in_order = |index, gate| {
        let fired = Mutex::new(fired.clone());
        Arc::pin_init(
            pin_init!(InOrder {
                timer <- HrTimer::new(),
                index,
                fired,
                gate,
            }),
            GFP_KERNEL,
        )
        .unwrap()
    };
    let (gate, entered_rx, release) = Gate::new();
    // The gate holds the base's thread while the others are started, so that all are queued
    // before any fires, whatever the machine's load.
    let _gate = in_order(0, Some(gate)).start(Instant::now());
    entered_rx.recv_timeout(PATIENCE).unwrap();
    let t0 = Instant::<BootTime>::now();
    let handles: Vec<_> = [3, 1, 2]
        .into_iter()
        .map(|index| in_order(index, None).start(t0 + Delta::from_millis(index as i64)))
        .collect();
    release.send(()).unwrap();
    let order: Vec<usize> = (0..4)
        .map(|_| fired_rx.recv_timeout(PATIENCE).unwrap())
        .collect();
    assert_eq!(order, [0, 1, 2, 3]);
    drop(handles);
}

static GATES_DROPPED_AT: AtomicUsize = AtomicUsize::new(0);

/// Records in `GATES_DROPPED_AT`, from `SEQUENCE`, when it was dropped.
struct RecordsDrop;

impl Drop for RecordsDrop {
    fn drop(&mut self) {
        GATES_DROPPED_AT.store(SEQUENCE.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// A boxed timer whose callback reports that it started and waits to be released.
#[pin_data]
struct BoxedGate {
    #[pin]
    timer: HrTimer<Self>,
    gate: Gate,
    returned_at: std::sync::Arc<AtomicUsize>,
    dropped: RecordsDrop,
}

impl_has_hr_timer! {
    impl HasHrTimer<Self> for BoxedGate {
        mode: RelativeHardMode<Tai>, field: self.timer
    }
}

impl HrTimerCallback for BoxedGate {
    type Pointer<'a> = Pin<KBox<Self>>;

    fn run(this: Pin<&mut Self>, _: HrTimerCallbackContext<'_, Self>) -> HrTimerRestart {
        this.gate.pass();
        this.returned_at
            .store(SEQUENCE.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
        HrTimerRestart::NoRestart
    }
}

#[test]
fn dropping_a_boxed_timer_handle_waits_for_its_callback_then_frees_the_box() {
    let (gate, entered_rx, release) = Gate::new();
    let returned_at = std::sync::Arc::new(AtomicUsize::new(0));
    let boxed_returned_at = returned_at.clone();
    let boxed = KBox::pin_init(
        pin_init!(BoxedGate {
            timer <- HrTimer::new(),
            gate,
            returned_at: boxed_returned_at,
            dropped: RecordsDrop,
        }),
        GFP_KERNEL,
    )
    .unwrap();
    let handle = boxed.start(Delta::from_millis(1));
    let callback_returned_at = || returned_at.load(Ordering::SeqCst);
    while_the_callback_runs(&entered_rx, release, callback_returned_at, || drop(handle));
    // Freed by the drop, after the callback returned.
    let dropped_at = GATES_DROPPED_AT.load(Ordering::SeqCst);
    assert!(dropped_at > returned_at.load(Ordering::SeqCst));
}
