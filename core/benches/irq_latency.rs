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
//! sample is one full wake-up of a blocked thread. `docs/benchmarks.md` reports the ratio.

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use kernel::host::function::{IrqSource, IrqSourceKind};
use kernel::host::irq;

/// Writes the eventfd, then spins until `seen` reaches `n`; returns the elapsed time.
fn one_delivery(fd: &OwnedFd, seen: &AtomicU64, n: u64) -> Duration {
    let start = Instant::now();
    irq::signal_eventfd(fd.as_fd()).expect("eventfd write");
    while seen.load(Ordering::Acquire) < n {
        std::hint::spin_loop();
    }
    start.elapsed()
}

fn bare_blocking_read(c: &mut Criterion) {
    let fd = irq::eventfd().expect("eventfd");
    let reader_fd = fd.try_clone().expect("dup");
    let seen = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (reader_seen, reader_stop) = (seen.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut buf = [0u8; 8];
        loop {
            // SAFETY: reading 8 bytes into a live buffer.
            let n = unsafe { libc::read(reader_fd.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
            if n != 8 || reader_stop.load(Ordering::Acquire) {
                return;
            }
            reader_seen.fetch_add(1, Ordering::Release);
        }
    });
    let mut sent = 0;
    c.bench_function("irq_latency/bare_blocking_read", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    sent += 1;
                    one_delivery(&fd, &seen, sent)
                })
                .sum()
        })
    });
    stop.store(true, Ordering::Release);
    irq::signal_eventfd(fd.as_fd()).expect("eventfd write");
    reader.join().expect("reader thread");
}

/// The handler: publishes one more delivery.
unsafe fn count(dev_id: *mut kernel::ffi::c_void) -> u32 {
    // SAFETY: the benchmark passes a pointer to an `AtomicU64` that outlives the registration.
    unsafe { &*dev_id.cast::<AtomicU64>() }.fetch_add(1, Ordering::Release);
    irq::IRQ_HANDLED
}

fn dispatcher(c: &mut Criterion) {
    let fd = irq::eventfd().expect("eventfd");
    let line_fd = fd.try_clone().expect("dup");
    let line = irq::register_line(
        IrqSource {
            fd: line_fd,
            kind: IrqSourceKind::EventFd,
            unmask: None,
        },
        "bench".into(),
    )
    .expect("line");
    let seen = AtomicU64::new(0);
    let dev_id = core::ptr::from_ref(&seen).cast_mut().cast();
    // SAFETY: `seen` outlives the registration, freed below.
    unsafe { irq::request_irq(line, count, None, false, c"bench", dev_id) }.expect("request_irq");
    let mut sent = 0;
    c.bench_function("irq_latency/dispatcher", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    sent += 1;
                    one_delivery(&fd, &seen, sent)
                })
                .sum()
        })
    });
    irq::free_irq(line, dev_id);
    irq::unregister_line(line);
}

criterion_group!(benches, bare_blocking_read, dispatcher);
criterion_main!(benches);
