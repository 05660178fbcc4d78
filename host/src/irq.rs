//! Interrupt lines and handler dispatch: the userspace `request_irq()`.
//!
//! Each allocated interrupt vector becomes a *line* with an IRQ number, as in the kernel, and the
//! mirror's `kernel::irq` registers handlers on lines by number. A vector reaches the process as a
//! file descriptor ([`IrqSource`]): an eventfd that VFIO (or the simulated bus) signals, or a UIO
//! device node.
//!
//! # Dispatch
//!
//! A line with handlers has one dispatcher thread, blocked in `read()` on the line's eventfd. When
//! the vector fires, the thread runs every handler of the line (`IrqReturn::WakeThread` from a
//! threaded handler wakes that handler's worker thread, which runs `handle_threaded`), then
//! unmasks the line if it is level triggered (INTx). A blocking read per line is the fastest
//! wake-up a process can get from an eventfd (`benches/irq_latency.rs` measures the dispatcher
//! against a bare blocking read, and one thread in `epoll_wait()` for every line against it too:
//! 1.76 times as slow); one thread per vector is what a driver with a few vectors needs.
//!
//! To stop a dispatcher (when the last handler is freed), the line sets a stop flag and writes to
//! the eventfd itself; UIO nodes cannot be written, so their dispatchers wait in `poll()` on the
//! node and a second eventfd.
//!
//! # Semantics kept from the kernel
//!
//! - [`free_irq`] returns only after a running hard handler has finished and the threaded handler
//!   of the freed registration has run what was queued for it and stopped; after it returns, the
//!   handler is never called again. With a line's last handler, its vector is disconnected
//!   ([`IrqChip::connect`]): the device's interrupts no longer reach the process, as the kernel
//!   shuts a vector down. [`request_irq`] starts it up again, discarding what arrived meanwhile.
//! - [`synchronize_irq`] waits for running handlers of the line, hard and threaded, to finish.
//! - [`disable_irq`] and [`enable_irq`] mask and unmask a line, nesting: an interrupt that
//!   arrives while it is disabled is delivered when it is enabled again. VFIO can mask only INTx
//!   (for MSI and MSI-X, Linux answers `ENOTTY`), so the line keeps an MSI pending itself. As in
//!   the kernel, `enable_irq` may be called from a handler; `disable_irq`, `synchronize_irq` and
//!   `free_irq` wait for the line's handlers and so must not be.
//! - Handlers of one line never run concurrently with each other.
//!
//! # Counts
//!
//! A line counts the interrupts that reach it and the runs of its handlers ([`line_stats`]).
//! Every signal of an eventfd is one interrupt, though the dispatcher may read several at once
//! and run the handlers once for them, so the interrupt count is the one the kernel keeps for the
//! vector behind the eventfd (VFIO's `vfio-msi[N](BDF)` line in `/proc/interrupts`); the line's
//! own writes to its eventfd, which wake the dispatcher, are not counted.
//!
//! # A line nobody handles
//!
//! A device can keep interrupting when no handler recognises its interrupts: a level-triggered
//! INTx held asserted is unmasked after every delivery and fires again at once, which would keep
//! a dispatcher busy forever. As the kernel's `note_interrupt()` does, a line counts its
//! interrupts from the first unhandled one (every handler returned [`IRQ_NONE`]; a threaded
//! handler's verdict counts at the next interrupt) in windows of 100,000; when more than 99,900
//! of a window were unhandled, the line is reported (`irq N: nobody cared`, its handlers, then
//! `Disabling IRQ #N`, at error level) and disabled as by one more [`disable_irq`]: a
//! level-triggered vector stays masked, and later interrupts stay pending. An unhandled interrupt
//! more than 100 ms after the previous one starts the unhandled count again, so occasional
//! stray interrupts never add up. The line is enabled again only by a request that starts it up
//! afresh, or by a shared one (as in the kernel); its driver's own `disable_irq`/`enable_irq`
//! pairs leave it disabled. Unlike the kernel, which polls a shared disabled line's handlers
//! every 100 ms (and with `irqpoll`, every line), nothing polls it here: the message has no
//! `irqpoll` advice, since no such option exists.
//!
//! # A handler that panics
//!
//! A panic in a handler is caught by its thread. Neither half of its registration is called again
//! (whatever it was doing is unfinished), a level-triggered vector stays masked (the handler may
//! not have acknowledged the device), and the [fault hook](set_fault_hook) is called: a driver
//! process sets one that stops it as if it had received `SIGTERM`, so the driver is unbound and
//! the device released, and the process exits with status 70 (`EX_SOFTWARE`).

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::error::HostError;
use super::function::{IrqChip, IrqSource, IrqSourceKind};
use crate::errno::Errno;
use core::ffi::{c_void, CStr};

/// The value a handler returns: the kernel's `irqreturn_t`.
pub type IrqReturnRaw = u32;
/// The interrupt was not from this device.
pub const IRQ_NONE: IrqReturnRaw = 0;
/// The interrupt was handled.
pub const IRQ_HANDLED: IrqReturnRaw = 1;
/// The hard handler asks for the threaded handler to run.
pub const IRQ_WAKE_THREAD: IrqReturnRaw = 2;

/// A handler as registered: called with the registration's `dev_id`.
pub type HandlerFn = unsafe fn(dev_id: *mut c_void) -> IrqReturnRaw;

/// The chip of a vector with no device behind it, raised only from software ([`trigger`], or a
/// write to its eventfd): tests and benchmarks make lines of these.
pub struct SoftwareVector;

impl IrqChip for SoftwareVector {
    fn connect(&self, _fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
        Ok(())
    }
}

/// The first IRQ number handed out (0 is never a valid interrupt).
const FIRST_IRQ: u32 = 1;

/// A `dev_id` pointer, sent to the dispatcher and worker threads.
#[derive(Clone, Copy, PartialEq, Eq)]
struct DevId(*mut c_void);

// SAFETY: `request_irq`'s contract makes the caller guarantee that `dev_id` may be used from the
// interrupt threads (the handler types are `Sync`) until `free_irq` returns.
unsafe impl Send for DevId {}

impl DevId {
    /// Returns the pointer. A method, so closures capture the whole `Send` wrapper.
    fn get(self) -> *mut c_void {
        self.0
    }
}

/// The worker that runs a threaded handler.
struct Worker {
    state: Mutex<WorkerState>,
    /// Signalled when work is queued or the worker is told to stop.
    wake: Condvar,
    /// Signalled when the worker has finished the work queued so far.
    idle: Condvar,
}

#[derive(Default)]
struct WorkerState {
    /// The hard handler asked for a run that has not started yet.
    pending: bool,
    /// The threaded handler is running.
    running: bool,
    stop: bool,
}

impl Worker {
    /// Waits until no threaded handler run is queued or running.
    fn wait_idle(&self) {
        let mut state = lock(&self.state);
        while (state.pending || state.running) && !state.stop {
            state = self.idle.wait(state).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// One handler registered on a line.
struct Action {
    name: &'static CStr,
    dev_id: DevId,
    handler: HandlerFn,
    worker: Option<(Arc<Worker>, JoinHandle<()>)>,
    /// The hard or the threaded handler panicked: neither is called again. Shared with the
    /// worker, which sets it for the threaded one.
    faulted: Arc<AtomicBool>,
    /// The threaded handler, for the report of a line nobody handles.
    thread_fn: Option<HandlerFn>,
}

/// The mutable part of a line, locked while its handlers run.
struct LineState {
    actions: Vec<Action>,
    dispatcher: Option<JoinHandle<()>>,
    /// Whether the vector's interrupts reach `source.fd` ([`IrqChip::connect`]). Backends enable
    /// vectors connected; the line disconnects its vector when its last handler is freed.
    connected: bool,
    /// The detection of interrupts nobody handles.
    unhandled: Unhandled,
}

/// How many interrupts a window of the unhandled-interrupt detection counts.
const UNHANDLED_WINDOW: u32 = 100_000;
/// More unhandled interrupts than this in a window disable the line.
const UNHANDLED_LIMIT: u32 = 99_900;
/// An unhandled interrupt this long after the previous one starts the unhandled count again.
const UNHANDLED_GAP: Duration = Duration::from_millis(100);
/// Set in [`Unhandled::threads_handled_last`] while a threaded handler's verdict is awaited.
const SPURIOUS_DEFERRED: u32 = 1 << 31;

/// The kernel's detection of a line nobody handles (`irq_desc`'s `irq_count`,
/// `irqs_unhandled`, `last_unhandled` and `threads_handled_last`): see the module's
/// documentation.
#[derive(Default)]
struct Unhandled {
    /// Interrupts counted in the current window, which begins with an unhandled one.
    count: u32,
    /// Unhandled interrupts in the current window.
    unhandled: u32,
    /// When the last unhandled interrupt arrived.
    last: Option<Instant>,
    /// [`Line::threads_handled`] when the last verdict of a threaded handler was taken, with
    /// [`SPURIOUS_DEFERRED`].
    threads_handled_last: u32,
}

/// Whether a line is disabled, apart from `LineState` so that [`enable_irq`] can be called from a
/// handler, as the kernel allows.
#[derive(Default)]
struct MaskState {
    /// How many [`disable_irq`] calls are not yet undone by [`enable_irq`], plus one while the
    /// line is disabled as one nobody handles.
    depth: u32,
    /// An interrupt arrived while the line was disabled; [`enable_irq`] delivers it.
    pending: bool,
    /// The line was disabled as one nobody handles (the kernel's `IRQS_SPURIOUS_DISABLED`).
    spurious: bool,
}

/// An interrupt line: one vector of one device.
struct Line {
    irq: u32,
    name: String,
    source: IrqSource,
    stop_event: OwnedFd,
    stop: AtomicBool,
    /// Serialises [`request_irq`] and [`free_irq`] on the line (the kernel's `request_mutex`), so
    /// a dispatcher is started and stopped by one caller at a time. Never taken by the
    /// dispatcher, and always taken before `state`.
    control: Mutex<()>,
    state: Mutex<LineState>,
    /// Taken after `state` when both are held, never while waiting for anything.
    mask: Mutex<MaskState>,
    /// How many times the line's handlers were run.
    delivered: AtomicU64,
    /// How many interrupts reached the line: each signal of its eventfd is one, though several
    /// may be read at once (and run the handlers once).
    interrupts: AtomicU64,
    /// Signals the line wrote to its own eventfd to wake its dispatcher ([`wake`]) and has not
    /// read back yet: they are taken out of what the reads return, so they do not pass for
    /// interrupts.
    own_signals: AtomicU64,
    /// Runs of threaded handlers that returned [`IRQ_HANDLED`] (the kernel's
    /// `threads_handled`).
    threads_handled: AtomicU32,
}

impl Line {
    /// Of `signals` read from the line's eventfd, the ones that are interrupts: those the line
    /// wrote itself are taken out.
    fn interrupts_among(&self, signals: u64) -> u64 {
        let own = self
            .own_signals
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |own| {
                Some(own - own.min(signals))
            })
            .unwrap_or_else(|own| own);
        signals - own.min(signals)
    }
}

/// The table of lines, indexed by `irq - FIRST_IRQ`.
static LINES: RwLock<Vec<Option<Arc<Line>>>> = RwLock::new(Vec::new());

fn line(irq: u32) -> Result<Arc<Line>, Errno> {
    let lines = LINES.read().unwrap_or_else(|e| e.into_inner());
    irq.checked_sub(FIRST_IRQ)
        .and_then(|index| lines.get(index as usize))
        .and_then(Clone::clone)
        .ok_or(Errno::EINVAL)
}

/// Creates a line for `source` and returns its IRQ number. `name` identifies it in logs
/// (for example `0000:00:04.0 MSI 0`).
pub fn register_line(source: IrqSource, name: String) -> Result<u32, HostError> {
    let stop_event = eventfd()?;
    let mut lines = LINES.write().unwrap_or_else(|e| e.into_inner());
    let index = match lines.iter().position(Option::is_none) {
        Some(index) => index,
        None => {
            lines.push(None);
            lines.len() - 1
        }
    };
    let irq = FIRST_IRQ + index as u32;
    lines[index] = Some(Arc::new(Line {
        irq,
        name,
        source,
        stop_event,
        stop: AtomicBool::new(false),
        control: Mutex::new(()),
        state: Mutex::new(LineState {
            actions: Vec::new(),
            dispatcher: None,
            connected: true,
            unhandled: Unhandled::default(),
        }),
        mask: Mutex::new(MaskState::default()),
        delivered: AtomicU64::new(0),
        interrupts: AtomicU64::new(0),
        own_signals: AtomicU64::new(0),
        threads_handled: AtomicU32::new(0),
    }));
    Ok(irq)
}

/// Removes a line created by [`register_line`]. Handlers still registered are freed first, with
/// a warning: a driver must free its handlers before its vectors.
pub fn unregister_line(irq: u32) {
    let Ok(line) = line(irq) else { return };
    let leftover: Vec<(DevId, &CStr)> = lock(&line.state)
        .actions
        .iter()
        .map(|a| (a.dev_id, a.name))
        .collect();
    for (dev_id, name) in leftover {
        log::warn!(
            target: "drydock",
            "{}: IRQ {irq} freed while handler {} is still registered",
            line.name,
            name.to_string_lossy()
        );
        free_irq(irq, dev_id.get());
    }
    let mut lines = LINES.write().unwrap_or_else(|e| e.into_inner());
    lines[(irq - FIRST_IRQ) as usize] = None;
}

/// Returns how many times line `irq` has fired and had its handlers run.
pub fn delivered(irq: u32) -> u64 {
    line(irq).map_or(0, |line| line.delivered.load(Ordering::Relaxed))
}

/// What a line has seen: the counts `/proc/interrupts` shows for a kernel's interrupt line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LineStats {
    /// The line's name, such as `0000:00:04.0 MsiX 0`.
    pub name: String,
    /// Interrupts that reached the line while it had handlers (also while it was disabled),
    /// as the kernel counts a vector's interrupts.
    pub interrupts: u64,
    /// Times the handlers ran: fewer than `interrupts` when several arrived before the
    /// dispatcher woke up (an eventfd counts them, and one read takes them all) or while the
    /// line was disabled.
    pub runs: u64,
    /// The names of the handlers registered on the line, in registration order.
    pub handlers: Vec<String>,
}

/// Returns what line `irq` has seen; `EINVAL` for an unknown line. Waits for a hard handler
/// that is running, so it must not be called from one.
pub fn line_stats(irq: u32) -> Result<LineStats, Errno> {
    let line = line(irq)?;
    let handlers = lock(&line.state)
        .actions
        .iter()
        .map(|action| action.name.to_string_lossy().into_owned())
        .collect();
    Ok(LineStats {
        name: line.name.clone(),
        interrupts: line.interrupts.load(Ordering::Relaxed),
        runs: line.delivered.load(Ordering::Relaxed),
        handlers,
    })
}

/// Registers `handler` (and, for a threaded registration, `thread_fn`) on line `irq`
/// (`request_threaded_irq()`); `dev_id` identifies the registration and is passed to both, and
/// `name` names it in diagnostics.
///
/// The first handler of a line starts it up, as the kernel's `irq_startup()` does: the vector is
/// connected again if an earlier [`free_irq`] disconnected it, interrupts that arrived while the
/// line had no handler are discarded, a level-triggered vector is unmasked (it fires again if
/// its cause is still there), and the line is enabled ([`enable_irq`] depth 0), its count of
/// unhandled interrupts cleared. A shared handler added to a line disabled as one nobody handles
/// enables it again, as the kernel's `__setup_irq()` does.
///
/// Fails with `EINVAL` for an unknown line and `EBUSY` if the line has handlers and either side
/// did not ask for sharing (`IRQF_SHARED`), as the kernel does.
///
/// # Safety
///
/// `dev_id` must stay valid for the handlers until [`free_irq`] with the same `dev_id` returns,
/// and the handlers must be safe to call on it from another thread.
pub unsafe fn request_irq(
    irq: u32,
    handler: HandlerFn,
    thread_fn: Option<HandlerFn>,
    shared: bool,
    name: &'static CStr,
    dev_id: *mut c_void,
) -> Result<(), Errno> {
    let line = line(irq)?;
    let _control = lock(&line.control);
    let mut state = lock(&line.state);
    if !state.actions.is_empty() && !shared {
        return Err(Errno::EBUSY);
    }
    let dev_id = DevId(dev_id);
    let faulted = Arc::new(AtomicBool::new(false));
    let worker = match thread_fn {
        Some(thread_fn) => Some(spawn_worker(&line, thread_fn, dev_id, faulted.clone())?),
        None => None,
    };
    if state.dispatcher.is_none() {
        if let Err(err) = start_up(&line, &mut state) {
            if let Some(worker) = worker {
                stop_worker(worker);
            }
            return Err(err);
        }
    } else {
        let mut mask = lock(&line.mask);
        if mask.spurious {
            mask.spurious = false;
            enable(&line, mask);
        }
    }
    log::debug!(target: "drydock", "{}: IRQ {irq}: handler {} registered", line.name, name.to_string_lossy());
    state.actions.push(Action {
        name,
        dev_id,
        handler,
        worker,
        faulted,
        thread_fn,
    });
    Ok(())
}

/// Starts a line's first handler up: see [`request_irq`]. Called with the line's control lock
/// held and no dispatcher running.
fn start_up(line: &Arc<Line>, state: &mut LineState) -> Result<(), Errno> {
    discard_pending(line.source.fd.as_fd(), line.source.kind)?;
    // A wake-up written for the previous dispatcher (an `enable_irq` racing the last `free_irq`)
    // must not pass for an interrupt either.
    discard_pending(line.stop_event.as_fd(), IrqSourceKind::EventFd)?;
    // Whatever the line wrote to its eventfd was discarded with the rest.
    line.own_signals.store(0, Ordering::Release);
    if !state.connected {
        line.source.chip.connect(Some(line.source.fd.as_fd()))?;
        state.connected = true;
    }
    unmask(line);
    *lock(&line.mask) = MaskState::default();
    state.unhandled = Unhandled::default();
    line.stop.store(false, Ordering::Release);
    let dispatcher_line = line.clone();
    let thread = std::thread::Builder::new()
        .name(format!("irq/{}", line.irq))
        .spawn(move || dispatch(&dispatcher_line))
        .map_err(|err| HostError::os("spawning an interrupt thread", err))?;
    state.dispatcher = Some(thread);
    Ok(())
}

/// Removes the handler registered with `dev_id` from line `irq` (`free_irq()`), waiting for it to
/// finish if it is running. With its last handler the line shuts down: its dispatcher stops and
/// its vector is disconnected, so the device's interrupts no longer reach the process.
pub fn free_irq(irq: u32, dev_id: *mut c_void) {
    let Ok(line) = line(irq) else {
        log::warn!(target: "drydock", "free_irq: no IRQ {irq}");
        return;
    };
    let _control = lock(&line.control);
    let (action, dispatcher) = {
        // Taking the state lock waits for a running hard handler.
        let mut state = lock(&line.state);
        let Some(index) = state.actions.iter().position(|a| a.dev_id == DevId(dev_id)) else {
            log::warn!(target: "drydock", "free_irq: IRQ {irq} has no such handler");
            return;
        };
        let action = state.actions.remove(index);
        let dispatcher = if state.actions.is_empty() {
            state.dispatcher.take()
        } else {
            None
        };
        (action, dispatcher)
    };
    if let Some(worker) = action.worker {
        stop_worker(worker);
    }
    if let Some(thread) = dispatcher {
        line.stop.store(true, Ordering::Release);
        wake(&line);
        let _ = thread.join();
        // A vector that can be turned off is, as the kernel's `irq_shutdown()` does; one that
        // cannot is still harmless: nothing reads its events until the next `request_irq`, which
        // discards them.
        match line.source.chip.connect(None) {
            Ok(()) => lock(&line.state).connected = false,
            Err(err) => {
                log::warn!(target: "drydock", "{}: disconnecting the vector: {err}", line.name);
            }
        }
    }
}

/// Waits until no handler of line `irq` is running (`synchronize_irq()`): neither a hard handler
/// nor a threaded handler woken before the call.
pub fn synchronize_irq(irq: u32) {
    if let Ok(line) = line(irq) {
        let workers: Vec<Arc<Worker>> = lock(&line.state)
            .actions
            .iter()
            .filter_map(|action| action.worker.as_ref().map(|(worker, _)| worker.clone()))
            .collect();
        workers.iter().for_each(|worker| worker.wait_idle());
    }
}

/// Disables line `irq` (`disable_irq()`) and waits for its running handlers, as
/// [`synchronize_irq`] does. Calls nest: the line is enabled again when every `disable_irq` has
/// been matched by an [`enable_irq`].
///
/// An interrupt that arrives while the line is disabled is kept pending, as a masked PCI vector
/// keeps it: a level-triggered vector (INTx) stays masked at the device, and an edge-triggered
/// one (MSI, MSI-X, which VFIO cannot mask) is remembered by the line. [`enable_irq`] delivers
/// it. Fails with `EINVAL` for an unknown line.
pub fn disable_irq(irq: u32) -> Result<(), Errno> {
    let line = line(irq)?;
    lock(&line.mask).depth += 1;
    // A dispatch that saw the line enabled holds `state` until its handlers return.
    synchronize_irq(irq);
    Ok(())
}

/// Undoes one [`disable_irq`] of line `irq` (`enable_irq()`); when the last is undone, an
/// interrupt that arrived meanwhile is delivered. It may be called from a handler. Fails with
/// `EINVAL` for an unknown line; an `enable_irq` without a `disable_irq` is ignored with a
/// warning, as the kernel warns of an unbalanced enable.
pub fn enable_irq(irq: u32) -> Result<(), Errno> {
    let line = line(irq)?;
    enable(&line, lock(&line.mask));
    Ok(())
}

/// Undoes one disable of `line`, whose `mask` the caller locked.
fn enable(line: &Line, mut mask: std::sync::MutexGuard<'_, MaskState>) {
    if mask.depth == 0 {
        log::warn!(target: "drydock", "{}: unbalanced enable for IRQ {}", line.name, line.irq);
        return;
    }
    mask.depth -= 1;
    if mask.depth == 0 && mask.pending {
        mask.pending = false;
        drop(mask);
        // The dispatcher runs the handlers for what arrived while the line was disabled.
        wake(line);
    }
}

/// Raises line `irq` from software, as if the device had fired it.
///
/// Used by the simulated bus and by tests; a backend's real vectors are raised by the kernel.
pub fn trigger(irq: u32) -> Result<(), Errno> {
    let line = line(irq)?;
    signal_eventfd(line.source.fd.as_fd()).map_err(Errno::from)
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts the worker of a threaded handler; `faulted` is its action's, set if it panics.
fn spawn_worker(
    line: &Arc<Line>,
    thread_fn: HandlerFn,
    dev_id: DevId,
    faulted: Arc<AtomicBool>,
) -> Result<(Arc<Worker>, JoinHandle<()>), Errno> {
    let worker = Arc::new(Worker {
        state: Mutex::new(WorkerState::default()),
        wake: Condvar::new(),
        idle: Condvar::new(),
    });
    let (w, l) = (worker.clone(), line.clone());
    let thread = std::thread::Builder::new()
        .name(format!("irq/{}-t", line.irq))
        .spawn(move || loop {
            let mut state = lock(&w.state);
            while !state.pending && !state.stop {
                state = w.wake.wait(state).unwrap_or_else(|e| e.into_inner());
            }
            if state.stop {
                w.idle.notify_all();
                return;
            }
            state.pending = false;
            let skip = faulted.load(Ordering::Acquire);
            state.running = !skip;
            drop(state);
            if !skip {
                // SAFETY: `request_irq`'s contract keeps `dev_id` valid until `free_irq` returns,
                // and `free_irq` joins this thread before returning.
                let ran = catch_unwind(AssertUnwindSafe(|| unsafe { thread_fn(dev_id.get()) }));
                if let Ok(ret) = ran {
                    if ret == IRQ_HANDLED {
                        l.threads_handled.fetch_add(1, Ordering::Relaxed);
                    }
                    unmask(&l);
                } else {
                    // Neither half runs again, and the device may still assert its level
                    // interrupt: the vector stays masked.
                    faulted.store(true, Ordering::Release);
                    handler_panicked(&l, "threaded handler");
                }
            }
            lock(&w.state).running = false;
            w.idle.notify_all();
        })
        .map_err(|err| Errno::from(HostError::os("spawning an interrupt thread", err)))?;
    Ok((worker, thread))
}

/// Stops a worker and waits for its thread: a threaded handler already woken runs first, as the
/// kernel's `free_irq()` waits for the irq thread to finish its work.
fn stop_worker((worker, thread): (Arc<Worker>, JoinHandle<()>)) {
    worker.wait_idle();
    lock(&worker.state).stop = true;
    worker.wake.notify_one();
    let _ = thread.join();
}

/// What is called after a handler panicked, if anything (see [`set_fault_hook`]).
static FAULT_HOOK: Mutex<Option<fn()>> = Mutex::new(None);

/// Sets the function called, on the interrupt thread, after a driver's handler panicked (or, with
/// `None`, clears it).
///
/// A driver process sets one that stops it as a stop signal would, so the driver is unbound and
/// the device released; without one (a driver driven as a library, or in tests) the panic is only
/// logged, and the handler never called again.
pub fn set_fault_hook(hook: Option<fn()>) {
    *lock(&FAULT_HOOK) = hook;
}

/// Reports a handler of `line` that panicked: it is never called again, and the fault hook runs.
fn handler_panicked(line: &Line, which: &str) {
    log::error!(
        target: "drydock",
        "{}: IRQ {}: the driver's {which} panicked; it will not be called again",
        line.name,
        line.irq
    );
    let hook = *lock(&FAULT_HOOK);
    if let Some(hook) = hook {
        hook();
    }
}

/// The dispatcher thread of a line.
fn dispatch(line: &Line) {
    loop {
        match wait(line) {
            Ok(arrived) => line.interrupts.fetch_add(arrived, Ordering::Relaxed),
            Err(err) => {
                log::error!(target: "drydock", "{}: interrupt wait failed, line stopped: {err}", line.name);
                return;
            }
        };
        if line.stop.load(Ordering::Acquire) {
            return;
        }
        let mut state = lock(&line.state);
        {
            // Checked under `state`: a `disable_irq` that raises the depth after this check waits
            // for these handlers in `synchronize_irq`, so none runs after it returns.
            let mut mask = lock(&line.mask);
            if mask.depth > 0 {
                // Disabled: remember the interrupt, and leave a level-triggered vector masked.
                mask.pending = true;
                continue;
            }
        }
        line.delivered.fetch_add(1, Ordering::Relaxed);
        // The handlers' answers, or-ed together as the kernel's `__handle_irq_event_percpu()`
        // does.
        let mut action_ret = IRQ_NONE;
        let mut woke_thread = false;
        // A handler of the line panicked, now or before, perhaps before acknowledging its device.
        let mut faulted = false;
        for action in &state.actions {
            if action.faulted.load(Ordering::Acquire) {
                faulted = true;
                continue;
            }
            let (handler, dev_id) = (action.handler, action.dev_id);
            // SAFETY: `request_irq`'s contract keeps `dev_id` valid until `free_irq` returns, and
            // `free_irq` removes the action under `state`'s lock, which we hold.
            let ret = match catch_unwind(AssertUnwindSafe(|| unsafe { handler(dev_id.get()) })) {
                Ok(ret) => ret,
                Err(_) => {
                    action.faulted.store(true, Ordering::Release);
                    handler_panicked(line, "interrupt handler");
                    faulted = true;
                    continue;
                }
            };
            action_ret |= ret;
            if ret == IRQ_WAKE_THREAD {
                if let Some((worker, _)) = &action.worker {
                    lock(&worker.state).pending = true;
                    worker.wake.notify_one();
                    woke_thread = true;
                }
            }
        }
        if action_ret == IRQ_NONE {
            log::debug!(target: "drydock", "{}: interrupt not handled by any handler", line.name);
        }
        let disabled = note_interrupt(line, &mut state, action_ret, Instant::now());
        drop(state);
        // A level-triggered line stays masked until its threaded handler has run, for good once
        // one of its handlers has panicked (unmasking would deliver an interrupt nobody
        // acknowledges again and again), and while it is disabled as one nobody handles.
        if !woke_thread && !faulted && !disabled {
            unmask(line);
        }
    }
}

/// Counts an interrupt of `line` whose handlers answered `action_ret` at `now` (the kernel's
/// `note_interrupt()`, see the module's documentation); returns whether it disabled the line.
fn note_interrupt(
    line: &Line,
    state: &mut LineState,
    mut action_ret: IrqReturnRaw,
    now: Instant,
) -> bool {
    let detection = &mut state.unhandled;
    if action_ret & IRQ_WAKE_THREAD != 0 {
        if action_ret == IRQ_WAKE_THREAD {
            // Only threaded handlers may have handled it: their verdict is known at the next
            // interrupt, so this one counts as handled if they handled anything since the last.
            if detection.threads_handled_last & SPURIOUS_DEFERRED == 0 {
                detection.threads_handled_last |= SPURIOUS_DEFERRED;
                return false;
            }
            let handled = line.threads_handled.load(Ordering::Relaxed) | SPURIOUS_DEFERRED;
            if handled != detection.threads_handled_last {
                action_ret = IRQ_HANDLED;
                detection.threads_handled_last = handled;
            } else {
                action_ret = IRQ_NONE;
            }
        } else {
            // A hard handler handled it.
            detection.threads_handled_last &= !SPURIOUS_DEFERRED;
        }
    }
    if action_ret == IRQ_NONE {
        detection.unhandled = match detection.last {
            Some(last) if now.duration_since(last) <= UNHANDLED_GAP => detection.unhandled + 1,
            _ => 1,
        };
        detection.last = Some(now);
    }
    if detection.unhandled == 0 {
        return false;
    }
    detection.count += 1;
    if detection.count < UNHANDLED_WINDOW {
        return false;
    }
    let stuck = detection.unhandled > UNHANDLED_LIMIT;
    detection.count = 0;
    detection.unhandled = 0;
    if stuck {
        log::error!(
            target: "drydock",
            "irq {}: nobody cared ({}: more than {UNHANDLED_LIMIT} of the last \
             {UNHANDLED_WINDOW} interrupts unhandled)",
            line.irq,
            line.name
        );
        log::error!(target: "drydock", "handlers:");
        for action in &state.actions {
            let threaded = action
                .thread_fn
                .map(|thread_fn| format!(" threaded [<{:p}>]", thread_fn as *const ()))
                .unwrap_or_default();
            log::error!(
                target: "drydock",
                "[<{:p}>] {}{threaded}",
                action.handler as *const (),
                action.name.to_string_lossy()
            );
        }
        log::error!(target: "drydock", "Disabling IRQ #{}", line.irq);
        let mut mask = lock(&line.mask);
        mask.depth += 1;
        mask.spurious = true;
        // Nobody acknowledged this interrupt, and a level-triggered vector stays masked with it:
        // enabling the line delivers it again, as unmasking a still-asserted level would.
        mask.pending = true;
    }
    stuck
}

fn unmask(line: &Line) {
    if let Err(err) = line.source.chip.unmask() {
        log::error!(target: "drydock", "{}: unmasking failed: {err}", line.name);
    }
}

/// Consumes the events signalled so far on `fd`, an interrupt source of `kind` or an eventfd,
/// without blocking.
fn discard_pending(fd: BorrowedFd<'_>, kind: IrqSourceKind) -> Result<(), HostError> {
    let width = match kind {
        IrqSourceKind::EventFd => 8,
        IrqSourceKind::Uio => 4,
    };
    let mut fds = [libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    }];
    // SAFETY: `fds` is a valid array of one `pollfd`; a zero timeout never blocks.
    let ready = unsafe { libc::poll(fds.as_mut_ptr(), 1, 0) };
    if ready < 0 {
        return Err(HostError::last_os("polling an interrupt source"));
    }
    if fds[0].revents & libc::POLLIN != 0 {
        read_counter(fd, width)?;
    }
    Ok(())
}

/// Blocks until the line's source fires (or a stop is requested), consuming the event; returns
/// how many interrupts arrived.
fn wait(line: &Line) -> Result<u64, HostError> {
    match line.source.kind {
        IrqSourceKind::EventFd => {
            let signals = read_counter(line.source.fd.as_fd(), 8)?;
            Ok(line.interrupts_among(signals))
        }
        IrqSourceKind::Uio => {
            let mut fds = [
                libc::pollfd {
                    fd: line.source.fd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: line.stop_event.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            loop {
                // SAFETY: `fds` is a valid array of two `pollfd`s.
                let ret = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
                if ret >= 0 {
                    break;
                }
                let err = std::io::Error::last_os_error();
                if err.kind() != std::io::ErrorKind::Interrupted {
                    return Err(HostError::os("poll on a UIO device", err));
                }
            }
            if fds[1].revents != 0 {
                return read_counter(line.stop_event.as_fd(), 8).map(|_| 0);
            }
            // The node's counter is the device's total; but UIO masks the pin when it fires, so
            // each read is one interrupt.
            read_counter(line.source.fd.as_fd(), 4).map(|_| 1)
        }
    }
}

/// Wakes a line's dispatcher so it sees the stop flag.
fn wake(line: &Line) {
    let fd = match line.source.kind {
        IrqSourceKind::EventFd => {
            // Counted before the write, so the read that returns it never counts it.
            line.own_signals.fetch_add(1, Ordering::AcqRel);
            line.source.fd.as_fd()
        }
        IrqSourceKind::Uio => line.stop_event.as_fd(),
    };
    if let Err(err) = signal_eventfd(fd) {
        if line.source.kind == IrqSourceKind::EventFd {
            line.own_signals.fetch_sub(1, Ordering::AcqRel);
        }
        log::error!(target: "drydock", "{}: waking the interrupt thread failed: {err}", line.name);
    }
}

/// Reads the `width`-byte (8 or 4) counter of an eventfd or UIO node, retrying on `EINTR`;
/// returns its value.
fn read_counter(fd: std::os::fd::BorrowedFd<'_>, width: usize) -> Result<u64, HostError> {
    let mut buf = [0u8; 8];
    loop {
        // SAFETY: `buf` has room for `width` (at most 8) bytes.
        let ret = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), width) };
        if ret == width as isize {
            return Ok(match width {
                8 => u64::from_ne_bytes(buf),
                _ => u64::from(u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]])),
            });
        }
        let err = std::io::Error::last_os_error();
        if ret < 0 && err.kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        return Err(HostError::os("reading an interrupt counter", err));
    }
}

/// Reads an eventfd's counter, which resets it; blocks while it is 0.
pub fn read_eventfd(fd: BorrowedFd<'_>) -> Result<(), HostError> {
    read_counter(fd, 8).map(|_| ())
}

/// Adds one to an eventfd's counter.
pub fn signal_eventfd(fd: std::os::fd::BorrowedFd<'_>) -> Result<(), HostError> {
    let one = 1u64.to_ne_bytes();
    // SAFETY: writing 8 bytes from a valid buffer.
    let ret = unsafe { libc::write(fd.as_raw_fd(), one.as_ptr().cast(), 8) };
    if ret == 8 {
        Ok(())
    } else {
        Err(HostError::last_os("signalling an eventfd"))
    }
}

/// Creates a blocking, close-on-exec eventfd.
pub fn eventfd() -> Result<OwnedFd, HostError> {
    // SAFETY: `eventfd` has no memory-safety preconditions.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
    if fd < 0 {
        return Err(HostError::last_os("creating an eventfd"));
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eventfd_line(name: &str) -> u32 {
        let source = IrqSource {
            fd: eventfd().unwrap(),
            kind: IrqSourceKind::EventFd,
            chip: Box::new(SoftwareVector),
        };
        register_line(source, name.into()).unwrap()
    }

    /// Waits until `cond` holds, failing the test after 10 s.
    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not reached in 10 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    unsafe fn count(dev_id: *mut c_void) -> IrqReturnRaw {
        // SAFETY: the tests pass a pointer to a live `AtomicU32`.
        unsafe { &*dev_id.cast::<AtomicU32>() }.fetch_add(1, Ordering::SeqCst);
        IRQ_HANDLED
    }

    unsafe fn wake_thread(_dev_id: *mut c_void) -> IrqReturnRaw {
        IRQ_WAKE_THREAD
    }

    #[test]
    fn each_trigger_runs_the_handler() {
        let irq = eventfd_line("test line");
        let counter = AtomicU32::new(0);
        let dev_id = core::ptr::from_ref(&counter).cast_mut().cast();
        // SAFETY: `counter` outlives the registration, freed below.
        unsafe { request_irq(irq, count, None, false, c"test", dev_id) }.unwrap();
        for expected in 1..=5 {
            trigger(irq).unwrap();
            wait_for(|| counter.load(Ordering::SeqCst) == expected);
        }
        free_irq(irq, dev_id);
        // After `free_irq` the handler is never called again.
        trigger(irq).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), 5);
        assert_eq!(delivered(irq), 5);
        unregister_line(irq);
    }

    #[test]
    fn threaded_handlers_run_on_their_worker() {
        let irq = eventfd_line("threaded");
        let counter = AtomicU32::new(0);
        let dev_id = core::ptr::from_ref(&counter).cast_mut().cast();
        // SAFETY: `counter` outlives the registration.
        unsafe { request_irq(irq, wake_thread, Some(count), false, c"test", dev_id) }.unwrap();
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 1);
        synchronize_irq(irq);
        // Its verdict is counted for the unhandled-interrupt detection.
        let threads_handled = &line(irq).unwrap().threads_handled;
        assert_eq!(threads_handled.load(Ordering::Relaxed), 1);
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    #[test]
    fn a_second_handler_needs_sharing() {
        let irq = eventfd_line("shared");
        let (a, b) = (AtomicU32::new(0), AtomicU32::new(0));
        let (ida, idb) = (
            core::ptr::from_ref(&a).cast_mut().cast(),
            core::ptr::from_ref(&b).cast_mut().cast(),
        );
        // SAFETY: the counters outlive their registrations.
        unsafe {
            request_irq(irq, count, None, false, c"test", ida).unwrap();
            assert_eq!(
                request_irq(irq, count, None, false, c"test", idb),
                Err(Errno::EBUSY)
            );
        }
        free_irq(irq, ida);
        // SAFETY: as above.
        unsafe {
            request_irq(irq, count, None, true, c"test", ida).unwrap();
            request_irq(irq, count, None, true, c"test", idb).unwrap();
        }
        trigger(irq).unwrap();
        wait_for(|| a.load(Ordering::SeqCst) == 1 && b.load(Ordering::SeqCst) == 1);
        free_irq(irq, ida);
        free_irq(irq, idb);
        unregister_line(irq);
    }

    #[test]
    fn free_irq_waits_for_a_running_handler() {
        static ENTERED: AtomicBool = AtomicBool::new(false);
        static FINISHED: AtomicBool = AtomicBool::new(false);
        unsafe fn slow(_: *mut c_void) -> IrqReturnRaw {
            ENTERED.store(true, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            FINISHED.store(true, Ordering::SeqCst);
            IRQ_HANDLED
        }
        let irq = eventfd_line("slow");
        let dev_id = core::ptr::dangling_mut::<u8>().cast();
        // SAFETY: the handler does not dereference `dev_id`.
        unsafe { request_irq(irq, slow, None, false, c"test", dev_id) }.unwrap();
        trigger(irq).unwrap();
        wait_for(|| ENTERED.load(Ordering::SeqCst));
        free_irq(irq, dev_id);
        assert!(
            FINISHED.load(Ordering::SeqCst),
            "free_irq returned before the handler finished"
        );
        unregister_line(irq);
    }

    /// A chip that records what the line asks of it.
    struct Recorder(Arc<Mutex<Vec<&'static str>>>);

    impl IrqChip for Recorder {
        fn unmask(&self) -> Result<(), HostError> {
            lock(&self.0).push("unmask");
            Ok(())
        }

        fn connect(&self, fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
            lock(&self.0).push(if fd.is_some() {
                "connect"
            } else {
                "disconnect"
            });
            Ok(())
        }
    }

    fn recorded_line(name: &str) -> (u32, Arc<Mutex<Vec<&'static str>>>) {
        let calls = Arc::new(Mutex::new(Vec::new()));
        let source = IrqSource {
            fd: eventfd().unwrap(),
            kind: IrqSourceKind::EventFd,
            chip: Box::new(Recorder(calls.clone())),
        };
        (register_line(source, name.into()).unwrap(), calls)
    }

    fn counter_id(counter: &AtomicU32) -> *mut c_void {
        core::ptr::from_ref(counter).cast_mut().cast()
    }

    #[test]
    fn the_last_free_disconnects_the_vector_and_a_request_starts_it_afresh() {
        let (irq, calls) = recorded_line("startup");
        let counter = AtomicU32::new(0);
        let dev_id = counter_id(&counter);
        // An interrupt from before any handler is stale: the first request discards it.
        trigger(irq).unwrap();
        // SAFETY: `counter` outlives the registrations, freed below.
        unsafe { request_irq(irq, count, None, false, c"test", dev_id) }.unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        // Connected by the backend already, the vector is only unmasked.
        assert_eq!(*lock(&calls), ["unmask"]);
        free_irq(irq, dev_id);
        assert_eq!(*lock(&calls), ["unmask", "disconnect"]);
        // Raised while disconnected (as by a software trigger), then requested again: connected,
        // the stale event discarded, and only new interrupts run the handler.
        trigger(irq).unwrap();
        // SAFETY: as above.
        unsafe { request_irq(irq, count, None, false, c"test", dev_id) }.unwrap();
        assert_eq!(*lock(&calls), ["unmask", "disconnect", "connect", "unmask"]);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), 0);
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 1);
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    #[test]
    fn a_disabled_line_delivers_what_arrived_when_enabled() {
        let (irq, calls) = recorded_line("masked");
        let counter = AtomicU32::new(0);
        let dev_id = counter_id(&counter);
        // SAFETY: `counter` outlives the registration, freed below.
        unsafe { request_irq(irq, count, None, false, c"test", dev_id) }.unwrap();
        disable_irq(irq).unwrap();
        disable_irq(irq).unwrap();
        trigger(irq).unwrap();
        trigger(irq).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), 0, "ran while disabled");
        // A disabled level-triggered vector is left masked: nothing but the request's unmask.
        assert_eq!(*lock(&calls), ["unmask"]);
        enable_irq(irq).unwrap();
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(
            counter.load(Ordering::SeqCst),
            0,
            "ran with one disable left"
        );
        enable_irq(irq).unwrap();
        // What arrived while disabled is delivered once, as a pending vector fires once.
        wait_for(|| counter.load(Ordering::SeqCst) == 1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(counter.load(Ordering::SeqCst), 1);
        assert_eq!(delivered(irq), 1);
        // An unbalanced enable changes nothing.
        enable_irq(irq).unwrap();
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 2);
        free_irq(irq, dev_id);
        assert_eq!(disable_irq(irq + 1000), Err(Errno::EINVAL));
        unregister_line(irq);
    }

    #[test]
    fn a_handler_that_panics_is_never_called_again_and_its_line_stays_masked() {
        static CALLS: AtomicU32 = AtomicU32::new(0);
        unsafe fn panics(_: *mut c_void) -> IrqReturnRaw {
            CALLS.fetch_add(1, Ordering::SeqCst);
            panic!("a driver bug before acknowledging the device");
        }
        let (irq, calls) = recorded_line("panics");
        let counter = AtomicU32::new(0);
        let (bad, good) = (core::ptr::dangling_mut::<u8>().cast(), counter_id(&counter));
        // SAFETY: `panics` does not dereference its `dev_id`; `counter` outlives its registration.
        unsafe {
            request_irq(irq, panics, None, true, c"bad", bad).unwrap();
            request_irq(irq, count, None, true, c"good", good).unwrap();
        }
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 1);
        trigger(irq).unwrap();
        // The line goes on serving its other handler.
        wait_for(|| counter.load(Ordering::SeqCst) == 2);
        assert_eq!(CALLS.load(Ordering::SeqCst), 1);
        // Only the request's unmask: unmasking after the panic would deliver an interrupt nobody
        // acknowledged again and again.
        assert_eq!(*lock(&calls), ["unmask"]);
        free_irq(irq, bad);
        free_irq(irq, good);
        unregister_line(irq);
    }

    #[test]
    fn a_panicking_threaded_handler_stops_both_halves() {
        static HARD: AtomicU32 = AtomicU32::new(0);
        static THREADED: AtomicU32 = AtomicU32::new(0);
        unsafe fn hard(_: *mut c_void) -> IrqReturnRaw {
            HARD.fetch_add(1, Ordering::SeqCst);
            IRQ_WAKE_THREAD
        }
        unsafe fn panics(_: *mut c_void) -> IrqReturnRaw {
            THREADED.fetch_add(1, Ordering::SeqCst);
            panic!("a driver bug in a threaded handler");
        }
        let (irq, calls) = recorded_line("threaded panic");
        let dev_id = core::ptr::dangling_mut::<u8>().cast();
        // SAFETY: neither handler dereferences `dev_id`.
        unsafe { request_irq(irq, hard, Some(panics), false, c"test", dev_id) }.unwrap();
        trigger(irq).unwrap();
        wait_for(|| THREADED.load(Ordering::SeqCst) == 1);
        synchronize_irq(irq);
        trigger(irq).unwrap();
        wait_for(|| delivered(irq) == 2);
        synchronize_irq(irq);
        assert_eq!(
            (HARD.load(Ordering::SeqCst), THREADED.load(Ordering::SeqCst)),
            (1, 1),
            "a half of the faulted registration ran again"
        );
        assert_eq!(*lock(&calls), ["unmask"], "the vector was unmasked");
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    #[test]
    fn a_handler_may_enable_its_own_line() {
        static LINE: AtomicU32 = AtomicU32::new(0);
        static CALLS: AtomicU32 = AtomicU32::new(0);
        unsafe fn enables(_: *mut c_void) -> IrqReturnRaw {
            CALLS.fetch_add(1, Ordering::SeqCst);
            // Unbalanced here, so only a warning; what matters is that it returns.
            enable_irq(LINE.load(Ordering::SeqCst)).unwrap();
            IRQ_HANDLED
        }
        let irq = eventfd_line("enable from a handler");
        LINE.store(irq, Ordering::SeqCst);
        let dev_id = core::ptr::dangling_mut::<u8>().cast();
        // SAFETY: the handler does not dereference `dev_id`.
        unsafe { request_irq(irq, enables, None, false, c"test", dev_id) }.unwrap();
        for expected in 1..=2 {
            trigger(irq).unwrap();
            wait_for(|| CALLS.load(Ordering::SeqCst) == expected);
        }
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    #[test]
    fn free_irq_lets_queued_threaded_work_run_and_waits_for_it() {
        static STARTED: AtomicU32 = AtomicU32::new(0);
        static FINISHED: AtomicU32 = AtomicU32::new(0);
        unsafe fn slow_thread(_: *mut c_void) -> IrqReturnRaw {
            STARTED.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(50));
            FINISHED.fetch_add(1, Ordering::SeqCst);
            IRQ_HANDLED
        }
        let (irq, calls) = recorded_line("threaded work");
        let dev_id = core::ptr::dangling_mut::<u8>().cast();
        // SAFETY: neither handler dereferences `dev_id`.
        unsafe { request_irq(irq, wake_thread, Some(slow_thread), false, c"test", dev_id) }
            .unwrap();
        trigger(irq).unwrap();
        wait_for(|| STARTED.load(Ordering::SeqCst) == 1);
        synchronize_irq(irq);
        assert_eq!(
            FINISHED.load(Ordering::SeqCst),
            1,
            "synchronize_irq did not wait"
        );
        // The threaded handler unmasks the level-triggered vector, not the dispatcher.
        assert_eq!(*lock(&calls), ["unmask", "unmask"]);
        // A second run queued while the first is still running.
        trigger(irq).unwrap();
        wait_for(|| STARTED.load(Ordering::SeqCst) == 2);
        trigger(irq).unwrap();
        wait_for(|| delivered(irq) == 3);
        free_irq(irq, dev_id);
        assert_eq!(
            (
                STARTED.load(Ordering::SeqCst),
                FINISHED.load(Ordering::SeqCst)
            ),
            (3, 3),
            "free_irq returned before the queued threaded handler ran"
        );
        unregister_line(irq);
    }

    #[test]
    fn synchronize_irq_waits_for_the_threaded_handler_it_woke() {
        static WOKE: AtomicBool = AtomicBool::new(false);
        static FINISHED: AtomicBool = AtomicBool::new(false);
        unsafe fn hard(_: *mut c_void) -> IrqReturnRaw {
            WOKE.store(true, Ordering::SeqCst);
            IRQ_WAKE_THREAD
        }
        unsafe fn slow_thread(_: *mut c_void) -> IrqReturnRaw {
            std::thread::sleep(Duration::from_millis(100));
            FINISHED.store(true, Ordering::SeqCst);
            IRQ_HANDLED
        }
        let irq = eventfd_line("synchronize");
        let dev_id = core::ptr::dangling_mut::<u8>().cast();
        // SAFETY: the handlers do not dereference `dev_id`.
        unsafe { request_irq(irq, hard, Some(slow_thread), false, c"test", dev_id) }.unwrap();
        trigger(irq).unwrap();
        // The hard handler ran, so its request for the threaded one is recorded.
        wait_for(|| WOKE.load(Ordering::SeqCst));
        synchronize_irq(irq);
        assert!(
            FINISHED.load(Ordering::SeqCst),
            "synchronize_irq returned before the threaded handler finished"
        );
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    /// Feeds `answers` to the unhandled-interrupt detection of line `irq`, one interrupt every
    /// `spacing` from now; returns the interrupt (counted from 1) that disabled the line.
    fn note(
        irq: u32,
        answers: impl IntoIterator<Item = IrqReturnRaw>,
        spacing: Duration,
    ) -> Option<usize> {
        let line = line(irq).unwrap();
        let mut state = lock(&line.state);
        let mut now = Instant::now();
        for (i, ret) in answers.into_iter().enumerate() {
            if note_interrupt(&line, &mut state, ret, now) {
                return Some(i + 1);
            }
            now += spacing;
        }
        None
    }

    /// `n` answers: [`IRQ_HANDLED`] for every `every`th interrupt (counted from 1), else
    /// [`IRQ_NONE`].
    fn handled_every(every: usize, n: usize) -> impl Iterator<Item = IrqReturnRaw> {
        (1..=n).map(move |i| {
            if i % every == 0 {
                IRQ_HANDLED
            } else {
                IRQ_NONE
            }
        })
    }

    fn spurious_disabled(irq: u32) -> (u32, bool) {
        let line = line(irq).unwrap();
        let mask = lock(&line.mask);
        (mask.depth, mask.spurious)
    }

    const MICROSECOND: Duration = Duration::from_micros(1);

    #[test]
    fn more_than_99900_unhandled_of_100000_disable_the_line() {
        let irq = eventfd_line("nobody cares");
        assert_eq!(note(irq, [IRQ_NONE; 100_000], MICROSECOND), Some(100_000));
        assert_eq!(spurious_disabled(irq), (1, true));
        unregister_line(irq);

        // 99 handled, 99,901 unhandled.
        let irq = eventfd_line("99 handled");
        assert_eq!(
            note(irq, handled_every(1001, 100_000), MICROSECOND),
            Some(100_000)
        );
        unregister_line(irq);

        // 100 handled of every 100,000: 99,900 unhandled is not more than 99,900.
        let irq = eventfd_line("100 handled");
        assert_eq!(note(irq, handled_every(1000, 300_000), MICROSECOND), None);
        assert_eq!(spurious_disabled(irq), (0, false));
        unregister_line(irq);

        // The window begins with the first unhandled interrupt.
        let irq = eventfd_line("handled first");
        let answers = [IRQ_HANDLED; 50].into_iter().chain([IRQ_NONE; 100_000]);
        assert_eq!(note(irq, answers, MICROSECOND), Some(100_050));
        unregister_line(irq);
    }

    #[test]
    fn unhandled_interrupts_further_apart_than_100_ms_never_add_up() {
        let irq = eventfd_line("sparse");
        let apart = UNHANDLED_GAP + MICROSECOND;
        assert_eq!(note(irq, [IRQ_NONE; 200_000], apart), None);
        unregister_line(irq);
        let irq = eventfd_line("100 ms apart");
        assert_eq!(note(irq, [IRQ_NONE; 100_000], UNHANDLED_GAP), Some(100_000));
        unregister_line(irq);
    }

    #[test]
    fn a_threaded_handlers_verdict_counts_at_the_next_interrupt() {
        // Woken threads that never handle anything: the first wake-up is not judged yet.
        let irq = eventfd_line("threads never handle");
        let answers = [IRQ_WAKE_THREAD; 100_001];
        assert_eq!(note(irq, answers, MICROSECOND), Some(100_001));
        unregister_line(irq);

        let irq = eventfd_line("threads handle");
        let line = line(irq).unwrap();
        let mut state = lock(&line.state);
        let mut now = Instant::now();
        // Unhandled interrupts begin a window; then each wake-up is judged by the threaded
        // handlers' work since the previous one.
        assert!(!note_interrupt(&line, &mut state, IRQ_NONE, now));
        for _ in 0..200_000 {
            line.threads_handled.fetch_add(1, Ordering::Relaxed);
            now += MICROSECOND;
            assert!(!note_interrupt(&line, &mut state, IRQ_WAKE_THREAD, now));
        }
        // A hard handler that handled it besides waking a thread: handled.
        for _ in 0..200_000 {
            now += MICROSECOND;
            let ret = IRQ_HANDLED | IRQ_WAKE_THREAD;
            assert!(!note_interrupt(&line, &mut state, ret, now));
        }
        assert_eq!(state.unhandled.unhandled, 0);
        drop(state);
        unregister_line(irq);
    }

    #[test]
    fn a_request_that_starts_a_line_up_clears_its_unhandled_state() {
        let irq = eventfd_line("started afresh");
        note(irq, [IRQ_NONE; 100_000], MICROSECOND).unwrap();
        assert_eq!(note(irq, [IRQ_NONE; 5], MICROSECOND), None);
        assert_eq!(lock(&line(irq).unwrap().state).unhandled.count, 5);
        let counter = AtomicU32::new(0);
        let dev_id = counter_id(&counter);
        // SAFETY: `counter` outlives the registration, freed below.
        unsafe { request_irq(irq, count, None, false, c"test", dev_id) }.unwrap();
        assert_eq!(spurious_disabled(irq), (0, false));
        assert_eq!(lock(&line(irq).unwrap().state).unhandled.count, 0);
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 1);
        free_irq(irq, dev_id);
        unregister_line(irq);
    }

    /// A device that holds its level-triggered interrupt asserted until a handler acknowledges
    /// it: every unmask of its vector fires it again.
    struct HeldLevel {
        asserted: AtomicBool,
        /// Calls of the handler that ignores it, and of the one that acknowledges it.
        ignored: AtomicU32,
        acknowledged: AtomicU32,
    }

    /// The vector of a [`HeldLevel`] device.
    struct HeldLevelChip {
        device: Arc<HeldLevel>,
        fd: OwnedFd,
        unmasks: Arc<AtomicU32>,
    }

    impl IrqChip for HeldLevelChip {
        fn unmask(&self) -> Result<(), HostError> {
            self.unmasks.fetch_add(1, Ordering::SeqCst);
            if self.device.asserted.load(Ordering::SeqCst) {
                signal_eventfd(self.fd.as_fd())?;
            }
            Ok(())
        }

        fn connect(&self, _fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
            Ok(())
        }
    }

    unsafe fn ignores(dev_id: *mut c_void) -> IrqReturnRaw {
        // SAFETY: the test passes a pointer to a live `HeldLevel`.
        let device = unsafe { &*dev_id.cast::<HeldLevel>() };
        device.ignored.fetch_add(1, Ordering::SeqCst);
        IRQ_NONE
    }

    unsafe fn acknowledges(dev_id: *mut c_void) -> IrqReturnRaw {
        // SAFETY: the test passes a pointer to a live `Arc<HeldLevel>`.
        let device = unsafe { &*dev_id.cast::<Arc<HeldLevel>>() };
        device.acknowledged.fetch_add(1, Ordering::SeqCst);
        device.asserted.store(false, Ordering::SeqCst);
        IRQ_HANDLED
    }

    #[test]
    fn a_level_interrupt_nobody_handles_is_disabled_and_stays_masked() {
        let device = Arc::new(HeldLevel {
            asserted: AtomicBool::new(true),
            ignored: AtomicU32::new(0),
            acknowledged: AtomicU32::new(0),
        });
        let unmasks = Arc::new(AtomicU32::new(0));
        let fd = eventfd().unwrap();
        let chip = HeldLevelChip {
            device: device.clone(),
            fd: fd.try_clone().unwrap(),
            unmasks: unmasks.clone(),
        };
        let source = IrqSource {
            fd,
            kind: IrqSourceKind::EventFd,
            chip: Box::new(chip),
        };
        let irq = register_line(source, "held level".into()).unwrap();
        let dev_id = Arc::as_ptr(&device).cast_mut().cast();
        let ignored = || device.ignored.load(Ordering::SeqCst);
        // SAFETY: `device` outlives the registrations, freed below.
        unsafe { request_irq(irq, ignores, None, true, c"ignores", dev_id) }.unwrap();
        // The request's unmask fires it, and every delivery's unmask again.
        let deadline = Instant::now() + Duration::from_secs(120);
        while spurious_disabled(irq) != (1, true) {
            assert!(
                Instant::now() < deadline,
                "not disabled after {} interrupts",
                ignored()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        let calls = ignored();
        // 100,000 unless the machine stalled the thread for more than 100 ms between two of
        // them, which starts the count again, and a later window disables it.
        assert!(
            calls > 0 && calls.is_multiple_of(UNHANDLED_WINDOW),
            "{calls}"
        );
        // Every delivery but the last was unmasked, and the request's unmask.
        assert_eq!(unmasks.load(Ordering::SeqCst), calls);
        assert_eq!(delivered(irq), u64::from(calls));
        let quiet = || {
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(
                (ignored(), unmasks.load(Ordering::SeqCst), delivered(irq)),
                (calls, calls, u64::from(calls)),
                "the line is not masked"
            );
        };
        quiet();
        // The driver's own disable and enable leave it disabled.
        disable_irq(irq).unwrap();
        enable_irq(irq).unwrap();
        quiet();
        // A shared handler added enables it: the unacknowledged interrupt is delivered again,
        // and acknowledged.
        let other = core::ptr::from_ref(&device).cast_mut().cast();
        // SAFETY: `device` outlives the registration, freed below.
        unsafe { request_irq(irq, acknowledges, None, true, c"acknowledges", other) }.unwrap();
        wait_for(|| device.acknowledged.load(Ordering::SeqCst) == 1);
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(ignored(), calls + 1);
        assert_eq!(device.acknowledged.load(Ordering::SeqCst), 1);
        assert_eq!(spurious_disabled(irq), (0, false));
        free_irq(irq, dev_id);
        free_irq(irq, other);
        unregister_line(irq);
    }

    #[test]
    fn every_interrupt_is_counted_though_one_run_may_serve_several() {
        static ENTERED: AtomicBool = AtomicBool::new(false);
        static RELEASE: AtomicBool = AtomicBool::new(false);
        unsafe fn blocks_once(dev_id: *mut c_void) -> IrqReturnRaw {
            if !ENTERED.swap(true, Ordering::SeqCst) {
                while !RELEASE.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            // SAFETY: `dev_id` is the test's counter.
            unsafe { count(dev_id) }
        }
        let irq = eventfd_line("0000:00:04.0 Msi 0");
        let counter = AtomicU32::new(0);
        let dev_id = core::ptr::from_ref(&counter).cast_mut().cast();
        // SAFETY: `counter` outlives the registration, freed below.
        unsafe { request_irq(irq, blocks_once, None, false, c"counted", dev_id) }.unwrap();
        trigger(irq).unwrap();
        wait_for(|| ENTERED.load(Ordering::SeqCst));
        // Four more arrive while the handler runs: one read takes them all, one run serves them.
        for _ in 0..4 {
            trigger(irq).unwrap();
        }
        RELEASE.store(true, Ordering::SeqCst);
        wait_for(|| counter.load(Ordering::SeqCst) == 2);
        let stats = line_stats(irq).unwrap();
        assert_eq!(stats.name, "0000:00:04.0 Msi 0");
        assert_eq!((stats.interrupts, stats.runs), (5, 2));
        assert_eq!(stats.handlers, ["counted"]);
        // Two arrive while the line is disabled: counted as they arrive, handled once at the
        // enable, whose own wake-up of the dispatcher is no interrupt.
        disable_irq(irq).unwrap();
        trigger(irq).unwrap();
        trigger(irq).unwrap();
        wait_for(|| line_stats(irq).unwrap().interrupts == 7);
        enable_irq(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 3);
        synchronize_irq(irq);
        let stats = line_stats(irq).unwrap();
        assert_eq!((stats.interrupts, stats.runs), (7, 3));
        // Nor is the wake-up that stops the dispatcher, nor what it left for the next start.
        free_irq(irq, dev_id);
        let stats = line_stats(irq).unwrap();
        assert_eq!((stats.interrupts, stats.runs), (7, 3));
        assert!(stats.handlers.is_empty());
        // SAFETY: as above.
        unsafe { request_irq(irq, count, None, false, c"again", dev_id) }.unwrap();
        trigger(irq).unwrap();
        wait_for(|| counter.load(Ordering::SeqCst) == 4);
        assert_eq!(line_stats(irq).unwrap().interrupts, 8);
        free_irq(irq, dev_id);
        unregister_line(irq);
        assert_eq!(line_stats(irq), Err(Errno::EINVAL));
    }

    #[test]
    fn unknown_lines_are_refused() {
        // SAFETY: the call fails before the handler could be registered.
        let err =
            unsafe { request_irq(u32::MAX, count, None, false, c"test", core::ptr::null_mut()) };
        assert_eq!(err, Err(Errno::EINVAL));
    }
}
