//! Interrupt delivery latency: an eventfd written, until the handler runs.
//!
//! Two variants, measured in the same run on the same machine:
//!
//! - `bare_blocking_read`: a thread blocked in `read()` on an eventfd, which publishes a sequence
//!   number when it wakes up: the fastest wake-up a process can get from an eventfd;
//! - `dispatcher`: the same eventfd as an interrupt line of `kernel::host::irq`, with a handler
//!   registered by `request_irq` that publishes the sequence number.
//!
//! In both, the measuring thread writes the eventfd and spins until the number appears, so each
//! sample is one full wake-up of a blocked thread. The two paths are measured interleaved
//! (`drydock_benches::interleaved`), so load from other processes on a shared machine hits both
//! alike.
//! `docs/benchmarks.md` reports the ratio.

use std::cell::RefCell;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use drydock_benches::interleaved;
use kernel::host::function::{IrqSource, IrqSourceKind};
use kernel::host::irq;

/// Writes the eventfd, then spins until `seen` reaches `n`.
fn one_delivery(fd: &OwnedFd, seen: &AtomicU64, n: u64) {
    irq::signal_eventfd(fd.as_fd()).expect("eventfd write");
    while seen.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
}

/// Both paths, set up once.
struct Paths {
    bare_fd: OwnedFd,
    bare_seen: Arc<AtomicU64>,
    bare_sent: u64,
    bare_stop: Arc<AtomicBool>,
    reader: Option<std::thread::JoinHandle<()>>,
    line_fd: OwnedFd,
    line: u32,
    line_seen: Box<AtomicU64>,
    line_sent: u64,
}

/// The handler: publishes one more delivery.
unsafe fn count(dev_id: *mut kernel::ffi::c_void) -> u32 {
    // SAFETY: `Paths` passes a pointer to a boxed `AtomicU64` that outlives the registration.
    unsafe { &*dev_id.cast::<AtomicU64>() }.fetch_add(1, Ordering::Release);
    irq::IRQ_HANDLED
}

impl Paths {
    fn new() -> Self {
        let bare_fd = irq::eventfd().expect("eventfd");
        let reader_fd = bare_fd.try_clone().expect("dup");
        let bare_seen = Arc::new(AtomicU64::new(0));
        let bare_stop = Arc::new(AtomicBool::new(false));
        let (seen, stop) = (bare_seen.clone(), bare_stop.clone());
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 8];
            loop {
                // SAFETY: reading 8 bytes into a live buffer.
                let n = unsafe { libc::read(reader_fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                if n != 8 || stop.load(Ordering::Acquire) {
                    return;
                }
                seen.fetch_add(1, Ordering::Release);
            }
        });
        let line_fd = irq::eventfd().expect("eventfd");
        let line = irq::register_line(
            IrqSource {
                fd: line_fd.try_clone().expect("dup"),
                kind: IrqSourceKind::EventFd,
                chip: Box::new(irq::SoftwareVector),
            },
            "bench".into(),
        )
        .expect("line");
        let line_seen = Box::new(AtomicU64::new(0));
        let dev_id = core::ptr::from_ref(&*line_seen).cast_mut().cast();
        // SAFETY: the boxed counter outlives the registration, freed in `drop`.
        unsafe { irq::request_irq(line, count, None, false, c"bench", dev_id) }
            .expect("request_irq");
        Self {
            bare_fd,
            bare_seen,
            bare_sent: 0,
            bare_stop,
            reader: Some(reader),
            line_fd,
            line,
            line_seen,
            line_sent: 0,
        }
    }

    fn bare(&mut self) {
        self.bare_sent += 1;
        one_delivery(&self.bare_fd, &self.bare_seen, self.bare_sent)
    }

    fn dispatched(&mut self) {
        self.line_sent += 1;
        one_delivery(&self.line_fd, &self.line_seen, self.line_sent)
    }
}

impl Drop for Paths {
    fn drop(&mut self) {
        let dev_id = core::ptr::from_ref(&*self.line_seen).cast_mut().cast();
        irq::free_irq(self.line, dev_id);
        irq::unregister_line(self.line);
        self.bare_stop.store(true, Ordering::Release);
        irq::signal_eventfd(self.bare_fd.as_fd()).expect("eventfd write");
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader thread");
        }
    }
}

fn latency(c: &mut Criterion) {
    let paths = RefCell::new(Paths::new());
    interleaved(
        c,
        "irq_latency",
        ("bare_blocking_read", || {
            paths.borrow_mut().bare();
        }),
        ("dispatcher", || {
            paths.borrow_mut().dispatched();
        }),
    );
}

criterion_group!(benches, latency);
criterion_main!(benches);
