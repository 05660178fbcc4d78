//! The {{package}} driver on drydock's simulated bus, with the device model of `tests/model`.
//!
//! `cargo test` runs these on any machine: no device, no root, no VFIO.

mod model;

use {{lib}}::{{Type}}Driver;

use drydock_runner::driver_data::WithDriver;
use drydock_sim::SimBus;
use kernel::pci::IrqType;
use model::Model;

#[test]
fn probe_binds_the_device_and_enables_its_interrupt() {
    let bus = SimBus::new();
    let device = bus.add(4, Model::new());
    let _module = bus.load(&{{lib}}::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    assert!(device.model().interrupts_enabled());
}

#[test]
fn each_ping_is_one_interrupt_by_msi() {
    let bus = SimBus::new();
    let device = bus.add(4, Model::new());
    let _module = bus.load(&{{lib}}::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<{{Type}}Driver, _>(|dev, driver| {
            assert!(matches!(driver.irq_type(), IrqType::Msi));
            for _ in 0..3 {
                driver.ping(dev).unwrap();
            }
            assert_eq!(driver.interrupts(), 3);
        })
        .unwrap();
    assert_eq!(device.model().doorbells(), 3);
}

#[test]
fn without_msi_the_driver_takes_intx() {
    let bus = SimBus::new();
    let device = bus.add(4, Model::intx_only());
    let _module = bus.load(&{{lib}}::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<{{Type}}Driver, _>(|dev, driver| {
            assert!(matches!(driver.irq_type(), IrqType::Intx));
            driver.ping(dev).unwrap();
            assert_eq!(driver.interrupts(), 1);
        })
        .unwrap();
}

#[test]
fn unbinding_turns_the_interrupt_off() {
    let bus = SimBus::new();
    let device = bus.add(4, Model::new());
    let module = bus.load(&{{lib}}::__DRYDOCK_MODULE).unwrap();
    drop(module);
    assert!(!device.is_bound());
    assert!(!device.model().interrupts_enabled());
}

#[test]
fn a_device_with_other_ids_is_left_alone() {
    let bus = SimBus::new();
    let other = bus.add(5, Model::with_ids({{vendor}}, {{device}} ^ 1, true));
    let _module = bus.load(&{{lib}}::__DRYDOCK_MODULE).unwrap();
    assert!(!other.is_bound());
}
