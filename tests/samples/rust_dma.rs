//! Drives Linux 7.3's `samples/rust/rust_dma.rs`, built unchanged as this crate's library, on a
//! simulated pci-testdev.

use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, SimBus};

#[test]
fn the_sample_maps_and_checks_its_dma_memory() {
    let log = logger::capture();
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let module = bus.load(&rust_dma::__DRYDOCK_MODULE).expect("the module loads");
    assert!(device.is_bound(), "the sample bound pci-testdev");
    assert!(log.contains("Probe DMA test driver."), "{:?}", log.records());
    let pdev = bus.bus().device(device.name()).unwrap();
    let stats = pdev.dev.dma_space().unwrap().stats();
    assert_eq!(stats.live_allocations, 1, "the coherent array");
    drop(module);
    // Unloading ran the sample's `PinnedDrop`: it read back every element it wrote (an
    // `assert_eq!`, which would have panicked) and listed its scatter-gather entries.
    assert!(log.contains("Unload DMA test driver."));
    assert!(log.contains("Entry[0]: DMA address: 0x"));
    let panics: Vec<_> = log.records().into_iter().filter(|r| r.message.contains("panicked")).collect();
    assert!(panics.is_empty(), "{panics:?}");
    assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
}
