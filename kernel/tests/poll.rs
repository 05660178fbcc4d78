//! Tests of `kernel::io::poll` against a trapped device whose status turns ready after a while.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use drydock_host::mmio::{TrappedIo, TrappedRegion};
use kernel::error::code::{EINVAL, ETIMEDOUT};
use kernel::io::poll::{read_poll_timeout, read_poll_timeout_atomic};
use kernel::io::{Io, Mmio, MmioRaw, Region};
use kernel::time::{Delta, Instant, Monotonic};

/// A device whose status register (offset 0) reads 1 from the `ready_after`-th read on.
struct SlowDevice {
    reads: AtomicU32,
    ready_after: u32,
}

impl TrappedIo for SlowDevice {
    fn read(&self, _offset: usize, _width: usize) -> u64 {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        u64::from(n >= self.ready_after)
    }

    fn write(&self, _offset: usize, _width: usize, _value: u64) {}
}

fn device(ready_after: u32) -> (Arc<SlowDevice>, TrappedRegion) {
    let device = Arc::new(SlowDevice {
        reads: AtomicU32::new(0),
        ready_after,
    });
    let region = TrappedRegion::new(device.clone(), 0x10).unwrap();
    (device, region)
}

fn mmio(region: &TrappedRegion) -> Mmio<'_, Region<0x10>> {
    let raw = MmioRaw::new_region(region.addr(), region.len()).unwrap();
    // SAFETY: `region` is live for the view's lifetime, which borrows it.
    unsafe { Mmio::from_raw(raw) }
}

#[test]
fn polling_returns_the_accepted_value() {
    let (dev, region) = device(3);
    let io = mmio(&region);
    let status = read_poll_timeout(
        || io.try_read32(0),
        |s: &u32| *s == 1,
        Delta::from_micros(50),
        Delta::from_secs(5),
    );
    assert_eq!(status, Ok(1));
    assert_eq!(dev.reads.load(Ordering::SeqCst), 3);
}

#[test]
fn polling_times_out() {
    let (dev, region) = device(u32::MAX);
    let io = mmio(&region);
    let start = Instant::<Monotonic>::now();
    let status = read_poll_timeout(
        || io.try_read32(0),
        |s: &u32| *s == 1,
        Delta::from_micros(200),
        Delta::from_millis(5),
    );
    assert_eq!(status, Err(ETIMEDOUT));
    assert!(start.elapsed() >= Delta::from_millis(5));
    assert!(dev.reads.load(Ordering::SeqCst) >= 2);
}

#[test]
fn polling_stops_at_the_first_error() {
    let (dev, region) = device(1);
    let io = mmio(&region);
    let status = read_poll_timeout(
        || io.try_read32(0x10),
        |_: &u32| true,
        Delta::ZERO,
        Delta::from_secs(5),
    );
    assert_eq!(status, Err(EINVAL));
    assert_eq!(dev.reads.load(Ordering::SeqCst), 0);
}

#[test]
fn atomic_polling_counts_its_tries() {
    let (dev, region) = device(4);
    let io = mmio(&region);
    let ready = |tries| {
        read_poll_timeout_atomic(
            || io.try_read32(0),
            |s: &u32| *s == 1,
            Delta::from_micros(1),
            tries,
        )
    };
    assert_eq!(ready(3), Err(ETIMEDOUT));
    assert_eq!(dev.reads.load(Ordering::SeqCst), 3);
    assert_eq!(ready(1), Ok(1));
    assert_eq!(dev.reads.load(Ordering::SeqCst), 4);
    assert_eq!(ready(0), Err(ETIMEDOUT));
    assert_eq!(
        dev.reads.load(Ordering::SeqCst),
        4,
        "no try with a retry count of 0"
    );
}
