//! Runs the driver-shaped code. The fake kernel records events in a global list, so these tests
//! serialize themselves with a lock.

use core::{
    pin::Pin,
    sync::atomic::{AtomicUsize, Ordering},
};
use std::sync::{Mutex, MutexGuard};

use kernel::{
    bindings, device,
    error::code::{EBUSY, EIO, ENOMEM},
    pci::{self, Driver},
    prelude::*,
};

use crate::{
    fake::take_events,
    irq_request::{Flags, Handler, IrqRequest, IrqReturn, Registration},
    rust_dma::DmaSampleDriver,
};

fn serialize() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    take_events();
    guard
}

#[test]
fn dma_sample_probe_and_remove() {
    let _guard = serialize();
    let pdev = pci::Device::new("pci-testdev", false);
    let driver: Pin<KBox<DmaSampleDriver>> =
        KBox::pin_init(DmaSampleDriver::probe(&pdev, None), GFP_KERNEL).unwrap();
    // `pdev.into()` took a reference.
    assert_eq!(pdev.refs.get(), 2);
    assert_eq!(driver.pdev_refs(), 2);
    let events = take_events();
    assert_eq!(events[0], "Probe DMA test driver.");
    assert_eq!(events[1], "coherent alloc pci-testdev x5");
    let sgt_address = events[2]
        .strip_prefix("sgt map ToDevice at ")
        .unwrap()
        .to_owned();
    assert_eq!(events.len(), 3);

    drop(driver);
    let events = take_events();
    assert_eq!(
        events,
        [
            // `PinnedDrop` of the driver (which also checks the DMA contents) ...
            "Unload DMA test driver.".to_owned(),
            "Entry[0]: DMA address: 0x1000".to_owned(),
            "Entry[1]: DMA address: 0x2000".to_owned(),
            // ... then the fields in declaration order: `ca`, then `sgt` (at the address it was
            // mapped at: it never moved).
            "coherent free".to_owned(),
            format!("sgt unmap at {sgt_address}"),
        ]
    );
    assert_eq!(pdev.refs.get(), 1);
}

#[test]
fn dma_sample_probe_fails_before_allocating() {
    let _guard = serialize();
    let pdev = pci::Device::new("pci-testdev", true);
    let r = KBox::pin_init(DmaSampleDriver::probe(&pdev, None), GFP_KERNEL);
    assert_eq!(r.err(), Some(EIO));
    // The `?` in the scope returned before anything was allocated or initialized.
    assert_eq!(take_events(), ["Probe DMA test driver."]);
    assert_eq!(pdev.refs.get(), 1);
}

#[test]
fn dma_sample_probe_fails_in_pinned_field() {
    let _guard = serialize();
    let pdev = pci::Device::new("pci-testdev sgt-fails", false);
    let r = KBox::pin_init(DmaSampleDriver::probe(&pdev, None), GFP_KERNEL);
    assert_eq!(r.err(), Some(ENOMEM));
    // `pdev` (the reference) and `ca` were initialized before `sgt` failed: both were dropped
    // exactly once, and the driver's `PinnedDrop` did not run.
    assert_eq!(
        take_events(),
        [
            "Probe DMA test driver.",
            "coherent alloc pci-testdev sgt-fails x5",
            "coherent free"
        ]
    );
    assert_eq!(pdev.refs.get(), 1);
}

/// Counts interrupts; records its drop.
struct Counter {
    hits: AtomicUsize,
}

impl Handler for Counter {
    fn handle(&self) -> IrqReturn {
        self.hits.fetch_add(1, Ordering::Relaxed);
        IrqReturn::Handled
    }
}

impl Drop for Counter {
    fn drop(&mut self) {
        crate::fake::event(format!(
            "counter dropped after {} hits",
            self.hits.load(Ordering::Relaxed)
        ));
    }
}

fn counter() -> impl PinInit<Counter, Error> {
    // `Counter` implements `Drop`, so it cannot be `#[pin_data]`; it does not need pinning.
    try_init!(Counter {
        hits: AtomicUsize::new(0),
    })
}

#[test]
fn irq_registration_hands_its_final_address_to_c() {
    let _guard = serialize();
    let dev = device::Device::<device::Bound>::new("irq-dev");
    // SAFETY: 7 is "valid" for the fake device.
    let request = unsafe { IrqRequest::new(&dev, 7) };
    // SAFETY: The registration is dropped at the end of the test.
    let init = unsafe { Registration::new(request, Flags::SHARED, c"test-irq", counter()) };
    let reg: Pin<KBox<Registration<'_, Counter>>> = KBox::pin_init(init, GFP_KERNEL).unwrap();
    assert_eq!(take_events(), ["request_irq 7"]);

    // The C side calls back with the cookie, which must be the registration's final address.
    assert_eq!(bindings::fire(7), Some(bindings::irqreturn::IRQ_HANDLED));
    assert_eq!(bindings::fire(7), Some(bindings::irqreturn::IRQ_HANDLED));
    assert_eq!(reg.handler().hits.load(Ordering::Relaxed), 2);

    // `free_irq` asserts that the cookie matches.
    drop(reg);
    assert_eq!(
        take_events(),
        ["free_irq 7", "counter dropped after 2 hits"]
    );
    assert_eq!(bindings::fire(7), None);
}

#[test]
fn irq_registration_failure_cleans_up_without_pinned_drop() {
    let _guard = serialize();
    let dev = device::Device::<device::Bound>::new("irq-dev");
    // SAFETY: See above.
    let first =
        unsafe { Registration::new(IrqRequest::new(&dev, 9), Flags::SHARED, c"a", counter()) };
    let first = KBox::pin_init(first, GFP_KERNEL).unwrap();
    take_events();

    // SAFETY: See above.
    let second =
        unsafe { Registration::new(IrqRequest::new(&dev, 9), Flags::SHARED, c"b", counter()) };
    let r = KBox::pin_init(second, GFP_KERNEL);
    assert_eq!(r.err(), Some(EBUSY));
    // The handler (initialized before the `_:` block failed) was dropped; `free_irq` (in the
    // `PinnedDrop`) was not called, so the first registration is still in place.
    assert_eq!(take_events(), ["counter dropped after 0 hits"]);
    assert_eq!(bindings::fire(9), Some(bindings::irqreturn::IRQ_HANDLED));
    assert_eq!(first.handler().hits.load(Ordering::Relaxed), 1);
    drop(first);
    assert_eq!(
        take_events(),
        ["free_irq 9", "counter dropped after 1 hits"]
    );
}

#[pin_data]
struct Config {
    id: u32,
    name: &'static str,
}

#[test]
fn try_init_wrapper_uses_the_kernel_error() {
    let _guard = serialize();
    fn config(id: u32) -> impl Init<Config, Error> {
        try_init!(Config {
            id: if id == 0 { Err(EIO)? } else { id },
            name: "cfg",
        })
    }
    let c: KBox<Config> = KBox::init(config(3), GFP_KERNEL).unwrap();
    assert_eq!((c.id, c.name), (3, "cfg"));
    assert_eq!(KBox::init(config(0), GFP_KERNEL).err(), Some(EIO));
}
