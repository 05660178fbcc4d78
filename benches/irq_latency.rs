//! Interrupt delivery latency: an eventfd written, until the handler runs.
//!
//! Three variants, measured in the same run on the same machine:
//!
//! - `bare_blocking_read`: a thread blocked in `read()` on an eventfd, which publishes a sequence
//!   number when it wakes up: the fastest wake-up a process can get from an eventfd;
//! - `dispatcher`: the same eventfd as an interrupt line of `drydock_host::irq`, with a handler
//!   registered by `request_irq` that publishes the sequence number (drydock's design: a thread
//!   per line, blocked in `read()`);
//! - `epoll_then_read`: a thread blocked in `epoll_wait()` on a set holding the eventfd, which
//!   then reads it: the other design, one thread serving every line.
//!
//! In each, the measuring thread writes the eventfd and spins until the number appears, so each
//! sample is one full wake-up of a blocked thread. Each design is measured interleaved with the
//! bare read (`drydock_benches::interleaved`), so load from other processes on a shared machine
//! hits both alike.
//! `docs/benchmarks.md` reports the ratios.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use drydock_benches::interleaved;
use drydock_host::function::{IrqSource, IrqSourceKind};
use drydock_host::irq;

/// Writes the eventfd, then spins until `seen` reaches `n`.
fn one_delivery(fd: &OwnedFd, seen: &AtomicU64, n: u64) {
    irq::signal_eventfd(fd.as_fd()).expect("eventfd write");
    while seen.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
}

/// A thread that waits on an eventfd and publishes each wake-up: the baselines.
struct Waiter {
    fd: OwnedFd,
    seen: Arc<AtomicU64>,
    sent: u64,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// How a [`Waiter`] waits.
#[derive(Clone, Copy)]
enum Wait {
    /// Blocked in `read()` on the eventfd (what the dispatcher does).
    Read,
    /// Blocked in `epoll_wait()` on an epoll set holding the eventfd, then `read()`: the design
    /// that serves every line from one thread.
    Epoll,
}

impl Waiter {
    fn spawn(wait: Wait) -> Self {
        let fd = irq::eventfd().expect("eventfd");
        let thread_fd = fd.try_clone().expect("dup");
        let seen = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_seen, thread_stop) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let epoll = matches!(wait, Wait::Epoll).then(|| epoll_on(&thread_fd));
            let mut buf = [0u8; 8];
            loop {
                if let Some(epoll) = &epoll {
                    let mut event = libc::epoll_event { events: 0, u64: 0 };
                    // SAFETY: one event fits in `event`; the epoll descriptor is open.
                    if unsafe { libc::epoll_wait(epoll.as_raw_fd(), &mut event, 1, -1) } != 1 {
                        return;
                    }
                }
                // SAFETY: reading 8 bytes into a live buffer.
                let n = unsafe { libc::read(thread_fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n != 8 || thread_stop.load(Ordering::Acquire) {
                    return;
                }
                thread_seen.fetch_add(1, Ordering::Release);
            }
        });
        Self {
            fd,
            seen,
            sent: 0,
            stop,
            thread: Some(thread),
        }
    }

    fn deliver(&mut self) {
        self.sent += 1;
        one_delivery(&self.fd, &self.seen, self.sent)
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        irq::signal_eventfd(self.fd.as_fd()).expect("eventfd write");
        if let Some(thread) = self.thread.take() {
            thread.join().expect("waiter thread");
        }
    }
}

/// An epoll set watching `fd` for input.
fn epoll_on(fd: &OwnedFd) -> OwnedFd {
    // SAFETY: `epoll_create1` has no memory-safety preconditions.
    let epoll = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
    assert!(epoll >= 0, "epoll_create1");
    // SAFETY: `epoll` is a new descriptor that nothing else owns.
    let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
    let mut event = libc::epoll_event {
        events: libc::EPOLLIN as u32,
        u64: 0,
    };
    // SAFETY: both descriptors are open and `event` is a valid `epoll_event`.
    let added = unsafe {
        libc::epoll_ctl(
            epoll.as_raw_fd(),
            libc::EPOLL_CTL_ADD,
            fd.as_raw_fd(),
            &mut event,
        )
    };
    assert_eq!(added, 0, "epoll_ctl");
    epoll
}

/// drydock's path: a line of `host::irq` with a handler that publishes each delivery.
struct Dispatched {
    fd: OwnedFd,
    line: u32,
    seen: Box<AtomicU64>,
    sent: u64,
}

/// The handler: publishes one more delivery.
unsafe fn count(dev_id: *mut kernel::ffi::c_void) -> u32 {
    // SAFETY: `Dispatched` passes a pointer to a boxed `AtomicU64` that outlives the
    // registration.
    unsafe { &*dev_id.cast::<AtomicU64>() }.fetch_add(1, Ordering::Release);
    irq::IRQ_HANDLED
}

impl Dispatched {
    fn new() -> Self {
        let fd = irq::eventfd().expect("eventfd");
        let line = irq::register_line(
            IrqSource {
                fd: fd.try_clone().expect("dup"),
                kind: IrqSourceKind::EventFd,
                chip: Box::new(irq::SoftwareVector),
            },
            "bench".into(),
        )
        .expect("line");
        let seen = Box::new(AtomicU64::new(0));
        let dev_id = core::ptr::from_ref(&*seen).cast_mut().cast();
        // SAFETY: the boxed counter outlives the registration, freed in `drop`.
        unsafe { irq::request_irq(line, count, None, false, c"bench", dev_id) }
            .expect("request_irq");
        Self {
            fd,
            line,
            seen,
            sent: 0,
        }
    }

    fn deliver(&mut self) {
        self.sent += 1;
        one_delivery(&self.fd, &self.seen, self.sent)
    }
}

impl Drop for Dispatched {
    fn drop(&mut self) {
        let dev_id = core::ptr::from_ref(&*self.seen).cast_mut().cast();
        irq::free_irq(self.line, dev_id);
        irq::unregister_line(self.line);
    }
}

fn latency(c: &mut Criterion) {
    let bare = RefCell::new(Waiter::spawn(Wait::Read));
    let dispatched = RefCell::new(Dispatched::new());
    interleaved(
        c,
        "irq_latency",
        ("bare_blocking_read", || bare.borrow_mut().deliver()),
        ("dispatcher", || dispatched.borrow_mut().deliver()),
    );
    let epoll = RefCell::new(Waiter::spawn(Wait::Epoll));
    interleaved(
        c,
        "irq_latency_epoll",
        ("bare_blocking_read", || bare.borrow_mut().deliver()),
        ("epoll_then_read", || epoll.borrow_mut().deliver()),
    );
}

criterion_group!(benches, latency);
criterion_main!(benches);
