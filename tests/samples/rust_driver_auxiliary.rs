//! Drives Linux 7.3's `samples/rust/rust_driver_auxiliary.rs`, built unchanged as this crate's
//! library, on a simulated pci-testdev: its PCI driver adds two auxiliary devices under the
//! device, and its auxiliary driver, registered by the same module after the PCI driver, binds
//! both and connects to the parent through each device's registration data.

use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, SimBus};

#[test]
fn the_sample_probes_and_connects_both_auxiliary_devices() {
    let log = logger::capture();
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let pci = device.name().to_owned();
    let module = bus
        .load(&rust_driver_auxiliary::__DRYDOCK_MODULE)
        .expect("the module loads");
    assert!(device.is_bound(), "the sample bound pci-testdev");

    // The devices are `modname.name.id`, bound to the auxiliary driver `modname.name` (the
    // sample names its driver after the module).
    let driver = "rust_driver_auxiliary.rust_driver_auxiliary";
    let devices: Vec<_> = bus
        .bus()
        .auxiliary_devices()
        .iter()
        .map(|d| {
            let name = d.dev.name().to_str().unwrap().to_owned();
            let bound = d.dev.driver_name().map(|n| n.to_str().unwrap().to_owned());
            let parent = d.dev.parent().map(|p| p.name().to_str().unwrap().to_owned());
            (name, bound, parent)
        })
        .collect();
    let expected = |id: u32| {
        (
            format!("rust_driver_auxiliary.auxiliary.{id}"),
            Some(driver.to_owned()),
            Some(pci.clone()),
        )
    };
    assert_eq!(devices, [expected(0), expected(1)]);

    // What the sample logs, in order, with the kernel's prefixes (driver name, device name): the
    // probe of each device, then its connection to the parent, through the covariant accessor
    // for device 0 and through the closure accessor (a `Mutex` inside) for device 1.
    let probing = |id| {
        format!(
            "{driver} rust_driver_auxiliary.auxiliary.{id}: \
             Probing auxiliary driver for auxiliary device with id={id}"
        )
    };
    let parent = format!("rust_driver_auxiliary {pci}");
    let lines = [
        probing(0),
        format!("{parent}: Connect auxiliary 0 with parent: VendorID=REDHAT, DeviceID=0x5"),
        format!("{parent}: Connected to auxiliary device with index 0."),
        probing(1),
        format!("{parent}: Connected to auxiliary device with index 1 (via Mutex)."),
    ];
    let records = log.records();
    let logged: Vec<_> = records
        .iter()
        .filter(|r| lines.contains(&r.message))
        .map(|r| r.message.clone())
        .collect();
    assert_eq!(logged, lines, "{records:?}");

    drop(module);
    assert!(!device.is_bound());
    assert!(bus.bus().auxiliary_devices().is_empty(), "the devices went with the parent's data");
    let panics: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.message.contains("panicked"))
        .collect();
    assert!(panics.is_empty(), "{panics:?}");
}
