//! Runs Linux 7.3's `samples/rust/rust_driver_faux.rs`, built unchanged as this crate's library:
//! loading the module creates a faux device, bound by the faux bus, which the module greets;
//! unloading it removes the device.

use drydock_host::faux::faux_device;
use drydock_runner::logger;
use drydock_sim::SimBus;

#[test]
fn the_sample_creates_and_greets_a_faux_device() {
    let log = logger::capture();
    // The module needs no device; it is loaded as any module is, into a bus.
    let bus = SimBus::new();
    let module = bus
        .load(&rust_driver_faux::__DRYDOCK_MODULE)
        .expect("the module loads");
    let device = faux_device("rust-faux-sample-device").expect("the sample's faux device exists");
    assert_eq!(device.dev.driver_name(), Some(c"faux_driver"));
    let lines = [
        "Initialising Rust Faux Device Sample",
        "faux_driver rust-faux-sample-device: Hello from faux device!",
    ];
    let records = log.records();
    let logged: Vec<_> = records
        .iter()
        .filter(|r| lines.contains(&r.message.as_str()))
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(logged, lines, "{records:?}");

    drop(module);
    assert!(faux_device("rust-faux-sample-device").is_none());
    assert_eq!(device.dev.driver_name(), None, "unbound when the module went");
}
