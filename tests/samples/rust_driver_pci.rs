//! Drives Linux 7.3's `samples/rust/rust_driver_pci.rs`, built unchanged as this crate's library,
//! on a simulated pci-testdev.

use drydock_host::function::PciFunction;
use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, SimBus};

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
    // Through a `register!` array in config space, it read BAR 0's register, as the function
    // holds it.
    let mut bar0 = [0; 4];
    device.function().config_read(0x10, &mut bar0).unwrap();
    let read32 = format!(
        "pci-testdev config space read32 BAR 0: {:x}",
        u32::from_le_bytes(bar0)
    );
    assert!(
        log.records().iter().any(|r| r.message.ends_with(&read32)),
        "no {read32:?} in {:?}",
        log.records()
    );
    assert_eq!(device.model().count(), Some(1));
    drop(module);
    assert!(!device.is_bound());
    // `unbind` selected the test again, which resets its count.
    assert_eq!(device.model().current_test(), Some(0));
    assert_eq!(device.model().count(), Some(0));
}
