//! The `use_intx` module parameter, in its own test binary because parameters are process-wide.

use drydock_runner::driver_data::WithDriver;
use drydock_sim::{models::Edu, SimBus};
use edu::EduDriver;
use kernel::pci::IrqType;

#[test]
fn use_intx_makes_an_msi_capable_edu_signal_by_intx() {
    edu::__DRYDOCK_MODULE.set_param("use_intx=1").unwrap();
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            assert!(matches!(edu.irq_type(), IrqType::Intx));
            for n in 0..10 {
                edu.factorial(dev, n).unwrap();
            }
            assert_eq!(edu.events().interrupts, 10);
        })
        .unwrap();
    assert_eq!(device.model().interrupts_raised(), 10);
}

#[test]
fn a_malformed_use_intx_value_is_refused_with_the_accepted_forms() {
    let error = edu::__DRYDOCK_MODULE
        .set_param("use_intx=maybe")
        .unwrap_err();
    assert!(error.contains("use_intx"), "{error}");
    assert!(error.contains("y/n, 1/0"), "{error}");
}
