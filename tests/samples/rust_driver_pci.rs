//! Drives Linux 7.3's `samples/rust/rust_driver_pci.rs`, built unchanged as this crate's library,
//! on a simulated pci-testdev.

use kernel::host::logger;
use kernel::host::sim::{models::PciTestdev, SimBus};

#[test]
fn the_sample_drives_pci_testdev() {
    let log = logger::capture();
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let module = bus.load(&rust_driver_pci::__DRYDOCK_MODULE).expect("the module loads");
    assert!(device.is_bound(), "the sample bound pci-testdev");
    // The sample selected test 0 (no-eventfd), wrote its data byte at its offset, and logged the
    // count the device reported, then read configuration space.
    assert!(log.contains("pci-testdev data-match count: 1"), "{:?}", log.records());
    assert!(log.contains("pci-testdev config space read16 vendor ID: 1b36"));
    assert!(log.contains("pci-testdev config space read8 rev ID: 0"));
    assert_eq!(device.model().count(), Some(1));
    drop(module);
    assert!(!device.is_bound());
    // `unbind` selected the test again, which resets its count.
    assert_eq!(device.model().current_test(), Some(0));
    assert_eq!(device.model().count(), Some(0));
}
