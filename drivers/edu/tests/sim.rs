//! The edu driver on the simulated bus.

use std::time::Duration;

use drydock_runner::driver_data::WithDriver;
use drydock_sim::pattern;
use drydock_sim::{
    models::{Edu, PciTestdev},
    SimBus, REMOVALS,
};
use edu::{EduDriver, MAX_TRANSFER};
use kernel::error::code::{EINVAL, ENODEV};
use kernel::pci::IrqType;

fn factorial_mod_2_32(n: u32) -> u32 {
    (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k))
}

#[test]
fn factorials_match_the_host_computation() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            assert!(matches!(edu.irq_type(), IrqType::Msi));
            for n in 0..=20 {
                assert_eq!(
                    edu.factorial(dev, n).unwrap(),
                    factorial_mod_2_32(n),
                    "{n}!"
                );
            }
            assert_eq!(edu.events().factorials, 21);
            assert_eq!(edu.events().interrupts, 21, "one interrupt per operation");
        })
        .unwrap();
    assert_eq!(device.model().interrupts_raised(), 21);
}

#[test]
fn dma_round_trips_random_patterns_at_many_sizes() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            let cases = [
                (0, 1),
                (0, 7),
                (5, 64),
                (100, 511),
                (0, 1024),
                (1, 2048),
                (0, MAX_TRANSFER),
                (4000, 95),
            ];
            for (i, (offset, len)) in cases.into_iter().enumerate() {
                let data = pattern(i as u64 + 1, len);
                edu.write_to_device(dev, offset, &data).unwrap();
                let mut back = vec![0u8; len];
                edu.read_from_device(dev, offset, &mut back).unwrap();
                assert_eq!(back, data, "offset {offset}, length {len}");
            }
            assert_eq!(edu.events().transfers, 2 * cases.len() as u64);
            assert_eq!(edu.events().interrupts, 2 * cases.len() as u64);
        })
        .unwrap();
    assert!(device.function().fatal_errors().is_empty());
    assert!(device.dma_faults().is_empty());
    assert_eq!(device.model().transfers(), 16);
}

#[test]
fn a_read_back_the_device_never_wrote_does_not_pass_for_its_data() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            for (offset, len) in [(0, 1), (17, 300), (0, MAX_TRANSFER)] {
                let data = pattern(len as u64, len);
                edu.write_to_device(dev, offset, &data).unwrap();
                device.model().drop_transfers_to_memory();
                let mut back = data.clone();
                edu.read_from_device(dev, offset, &mut back).unwrap();
                // The driver's buffer still held `data` from the write: not one byte of it may
                // come back when the device wrote nothing.
                let stale = back.iter().zip(&data).filter(|(a, b)| a == b).count();
                assert_eq!(stale, 0, "offset {offset}, length {len}");
            }
        })
        .unwrap();
}

#[test]
fn transfers_that_would_abort_qemu_are_refused_before_touching_the_device() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            let mut buf = vec![0u8; 4096];
            assert_eq!(edu.read_from_device(dev, 0, &mut buf), Err(EINVAL));
            assert_eq!(edu.write_to_device(dev, 0, &[]), Err(EINVAL));
            assert_eq!(edu.write_to_device(dev, 4095, &[1]), Err(EINVAL));
            assert_eq!(edu.write_to_device(dev, usize::MAX, &[1]), Err(EINVAL));
            edu.write_to_device(dev, 4094, &[1]).unwrap();
        })
        .unwrap();
    assert!(device.function().fatal_errors().is_empty());
    assert_eq!(device.model().transfers(), 1);
}

#[test]
fn intx_is_used_when_msi_is_missing() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::intx_only());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            assert!(matches!(edu.irq_type(), IrqType::Intx));
            for n in [3, 10, 13] {
                assert_eq!(edu.factorial(dev, n).unwrap(), factorial_mod_2_32(n));
            }
            let data = pattern(9, 300);
            edu.write_to_device(dev, 0, &data).unwrap();
            let mut back = vec![0; 300];
            edu.read_from_device(dev, 0, &mut back).unwrap();
            assert_eq!(back, data);
            assert_eq!(edu.events().interrupts, 5);
        })
        .unwrap();
    assert_eq!(
        device.model().irq_status(),
        0,
        "every cause was acknowledged"
    );
}

#[test]
fn a_slow_device_is_waited_for() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::with_delay(Duration::from_millis(30)));
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<EduDriver, _>(|dev, edu| {
            assert_eq!(edu.factorial(dev, 12).unwrap(), 479_001_600);
            edu.write_to_device(dev, 10, b"slow").unwrap();
            let mut back = [0u8; 4];
            edu.read_from_device(dev, 10, &mut back).unwrap();
            assert_eq!(&back, b"slow");
        })
        .unwrap();
}

#[test]
fn other_devices_of_the_class_are_declined() {
    let bus = SimBus::new();
    let edu = bus.add(4, Edu::new());
    let testdev = bus.add(5, PciTestdev::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    assert!(edu.is_bound());
    assert!(
        !testdev.is_bound(),
        "pci-testdev shares edu's class but is not edu"
    );
    assert_eq!(
        testdev.with_driver::<EduDriver, _>(|_, _| ()).unwrap_err(),
        ENODEV
    );
}

#[test]
fn unloading_frees_everything_and_a_reload_works() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    for round in 0..3 {
        let module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
        device
            .with_driver::<EduDriver, _>(|dev, edu| {
                assert_eq!(
                    edu.factorial(dev, round + 5).unwrap(),
                    factorial_mod_2_32(round + 5)
                );
            })
            .unwrap();
        drop(module);
        assert!(!device.is_bound());
        let pdev = bus.bus().device(device.name()).unwrap();
        assert_eq!(pdev.irq_type(), 0, "the vectors were freed");
        assert_eq!(pdev.dev.devres_count(), 0, "the devres list is empty");
        assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
    }
}

#[test]
fn an_operation_waiting_on_a_removed_device_fails_soon_and_unloading_follows() {
    for (how, remove) in REMOVALS {
        let bus = SimBus::new();
        // The factorial would complete after 3 s; the driver's own timeout is 5 s.
        let device = bus.add(4, Edu::with_delay(Duration::from_secs(3)));
        let module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
        let (started, on_start) = std::sync::mpsc::channel();
        let (result, removed_at, unloaded_at) = std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                device
                    .with_driver::<EduDriver, _>(|dev, edu| {
                        started.send(()).unwrap();
                        edu.factorial(dev, 10)
                    })
                    .unwrap()
            });
            on_start.recv().unwrap();
            std::thread::sleep(Duration::from_millis(20));
            remove(device.function());
            let removed_at = std::time::Instant::now();
            // Unloading waits for the operation, which holds the device.
            drop(module);
            (
                waiter.join().unwrap(),
                removed_at,
                std::time::Instant::now(),
            )
        });
        assert_eq!(result, Err(ENODEV), "{how}");
        let took = unloaded_at - removed_at;
        // About 100 ms (one presence check); generous, as the machine may be loaded, but well
        // below the 5 s the operation would wait for its interrupt.
        assert!(
            took < Duration::from_secs(2),
            "{how}: unloaded {took:?} after the removal"
        );
        assert!(!device.is_bound());
        assert!(device.dma_faults().is_empty());
    }
}

#[test]
fn probe_stops_waiting_for_a_running_computation_when_the_device_goes() {
    let log = drydock_runner::logger::capture();
    let bus = SimBus::new();
    let device = bus.add(4, Edu::with_delay(Duration::from_secs(3)));
    // A killed driver left a factorial running, which probe waits for (5 s at most).
    let ctx = device.function().context();
    drydock_sim::DeviceModel::write(&**device.model(), &ctx, 0, 8, 4, 10);
    let loaded = std::thread::scope(|scope| {
        let loading = scope.spawn(|| {
            let start = std::time::Instant::now();
            let module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
            (module, start.elapsed())
        });
        std::thread::sleep(Duration::from_millis(100));
        device.function().surprise_remove();
        loading.join().unwrap()
    });
    assert!(!device.is_bound());
    assert!(
        loaded.1 < Duration::from_secs(2),
        "probe gave up after {:?}",
        loaded.1
    );
    let prefix = format!("edu {}: ", device.name());
    let lines: Vec<String> = log
        .records()
        .into_iter()
        .filter_map(|record| record.message.strip_prefix(&prefix).map(str::to_owned))
        .collect();
    assert_eq!(lines, ["the device is gone (it reads all ones)"]);
}

/// The IRQ number of the interrupt vector of the device `name` on `bus`.
fn irq_line(bus: &SimBus, name: &str) -> u32 {
    bus.bus().device(name).unwrap().irq_vector(0).unwrap()
}

#[test]
fn a_device_holding_intx_asserted_for_nothing_has_its_line_disabled() {
    let log = drydock_runner::logger::capture();
    let bus = SimBus::new();
    let device = bus.add(4, Edu::intx_only());
    let module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    let line = irq_line(&bus, device.name());
    // Asserted with no cause in the interrupt status register: the driver's handler claims
    // nothing, and every unmask after a delivery delivers it again.
    device.function().context().set_intx(true);
    let disabling = format!("Disabling IRQ #{line}");
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while !log.contains(&disabling) {
        assert!(
            std::time::Instant::now() < deadline,
            "not disabled after {} interrupts",
            drydock_host::irq::delivered(line)
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let delivered = drydock_host::irq::delivered(line);
    // 100,000 unless the machine stalled the interrupt thread for more than 100 ms between two
    // of them, which starts the count again (a later window then disables the line).
    assert!(
        delivered > 0 && delivered.is_multiple_of(100_000),
        "{delivered}"
    );
    let messages: Vec<String> = log
        .records()
        .into_iter()
        .map(|record| record.message)
        .skip_while(|message| !message.starts_with(&format!("irq {line}: nobody cared")))
        .take(3)
        .collect();
    assert_eq!(messages.len(), 3, "{messages:?}");
    assert_eq!(messages[1], "handlers:");
    assert!(messages[2].ends_with("] edu"), "{messages:?}");
    // The vector stays masked: no thread spins on it.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(drydock_host::irq::delivered(line), delivered);
    device
        .with_driver::<EduDriver, _>(|_, edu| assert_eq!(edu.events().interrupts, 0))
        .unwrap();
    let start = std::time::Instant::now();
    drop(module);
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    assert!(!device.is_bound());
}

#[test]
fn an_interrupt_from_a_device_that_reads_all_ones_is_not_claimed() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    let line = irq_line(&bus, device.name());
    let ctx = device.function().context();
    device.function().switch_off_memory_decoding();
    // The function still signals (it masters the bus); its interrupt status reads all ones.
    let before = device.model().interrupts_raised();
    // The second delivery starts once the handler has returned from the first.
    for delivered in 1..=2 {
        ctx.raise_msi(0);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while drydock_host::irq::delivered(line) < delivered {
            assert!(
                std::time::Instant::now() < deadline,
                "not delivered in 10 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    device
        .with_driver::<EduDriver, _>(|_, edu| {
            assert_eq!(edu.events(), edu::Events::default(), "nothing was counted");
        })
        .unwrap();
    assert_eq!(device.model().interrupts_raised(), before);
}
