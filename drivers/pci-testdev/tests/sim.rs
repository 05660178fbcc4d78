//! The pci-testdev driver on the simulated bus.

use std::sync::Arc;

use drydock_host::function::{BarInfo, IrqKind};
use drydock_runner::driver_data::WithDriver;
use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, DeviceModel, Identity, SimBus, SimContext};
use pci_testdev::{Test, TestdevDriver};

#[test]
fn probe_runs_every_test_and_counts_match() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    let reports = device
        .with_driver::<TestdevDriver, _>(|_, data| *data.reports())
        .unwrap();
    for (report, test) in reports.iter().zip(Test::ALL) {
        assert_eq!(report.test, test);
        assert_eq!(report.offset, 2048 + test as u32);
        assert_eq!(
            report.data,
            if test == Test::WildcardEventfd {
                0xce
            } else {
                0xfa
            }
        );
        assert_eq!(
            (report.count_after_mismatch, report.count_after_match),
            test.expected_counts()
        );
    }
    // The wildcard eventfd took both of its test's writes, the data-match one the matching one.
    assert_eq!(device.model().eventfd_signals(), 3);
}

#[test]
fn tests_can_be_run_again_and_name_themselves() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<TestdevDriver, _>(|_, data| {
            for test in Test::ALL {
                let report = data.run(test).unwrap();
                assert_eq!(
                    (report.count_after_mismatch, report.count_after_match),
                    test.expected_counts()
                );
                let mut name = [0u8; 64];
                let len = data.test_name(&mut name).unwrap();
                let expected = [
                    "mmio-no-eventfd",
                    "mmio-wildcard-eventfd",
                    "mmio-datamatch-eventfd",
                ];
                assert_eq!(&name[..len], expected[test as usize].as_bytes());
            }
            // A name longer than the buffer is reported, not truncated.
            let mut short = [0u8; 4];
            assert_eq!(data.test_name(&mut short), Err(kernel::error::code::ENOSPC));
        })
        .unwrap();
    // The data-match test ran last: its eventfd took the matching write, the device counted none.
    assert_eq!(device.model().count(), Some(0));
    assert_eq!(device.model().eventfd_signals(), 6);
}

#[test]
fn unbinding_deselects_the_test() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    assert_eq!(
        device.model().current_test(),
        Some(2),
        "probe ran the datamatch test last"
    );
    drop(module);
    assert!(!device.is_bound());
    assert_eq!(device.model().current_test(), None);
}

#[test]
fn hot_removal_unbinds_the_driver() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    device.unplug();
    assert_eq!(device.model().current_test(), None);
    assert_eq!(
        device
            .with_driver::<TestdevDriver, _>(|_, _| ())
            .unwrap_err(),
        kernel::error::code::ENODEV
    );
}

#[test]
fn a_device_plugged_after_loading_is_probed() {
    let bus = SimBus::new();
    let _module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    let device = bus.add(7, PciTestdev::new());
    assert!(device.is_bound());
}

/// A pci-testdev that reports `0x1000`, the first offset past BAR0, as its tests' offset.
struct OffsetPastBar0(Arc<PciTestdev>);

impl DeviceModel for OffsetPastBar0 {
    fn identity(&self) -> Identity {
        self.0.identity()
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        self.0.bars()
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        self.0.irq_count(kind)
    }

    fn read(&self, ctx: &SimContext, bar: u32, offset: usize, width: usize) -> u64 {
        match (bar, offset, width) {
            // The `OFFSET` register.
            (0, 0x4, 4) => 0x1000,
            _ => self.0.read(ctx, bar, offset, width),
        }
    }

    fn write(&self, ctx: &SimContext, bar: u32, offset: usize, width: usize, value: u64) {
        self.0.write(ctx, bar, offset, width, value)
    }
}

#[test]
fn an_offset_outside_bar0_fails_the_probe_with_einval_not_a_panic() {
    let log = logger::capture();
    let bus = SimBus::new();
    let device = bus.add(3, Arc::new(OffsetPastBar0(PciTestdev::new())));
    let _module = bus.load(&pci_testdev::__DRYDOCK_MODULE).unwrap();
    assert!(!device.is_bound());
    // The runtime-checked write refused the offset; the probe failed with its error.
    assert!(
        log.contains("test NoEventfd failed: EINVAL"),
        "{:?}",
        log.records()
    );
    let name = device.name();
    assert!(log.contains(&format!(
        "pci_testdev {name}: probe with driver pci_testdev failed with error -22"
    )));
    assert!(!log.contains(&format!("probe of {name} panicked")));
    // Only the test selection reached the device; no write at any offset was counted.
    assert_eq!(device.model().0.current_test(), Some(0));
    assert_eq!(device.model().0.count(), Some(0));
}
