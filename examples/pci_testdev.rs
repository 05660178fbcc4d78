//! Using the pci-testdev driver from your own program.
//!
//! ```text
//! cargo run -p drydock-examples --example pci_testdev                  # on a simulated device
//! cargo run -p drydock-examples --example pci_testdev -- 0000:00:03.0  # on a real one (vfio-pci)
//! ```
//!
//! The driver's probe runs the device's three MMIO tests; this program reads their reports and
//! runs each test again, reading the test's name from the device.

use std::process::ExitCode;

use drydock_runner::driver_data::WithDriver;
use drydock_runner::runtime::{Devices, Options, Session};
use drydock_sim::{models, SimBus};
use pci_testdev::{Test, Testdev, TestdevDriver};

fn main() -> ExitCode {
    drydock_runner::logger::init();
    let result = match std::env::args().nth(1) {
        Some(address) => on_real_device(&address),
        None => on_simulated_device(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the probe's reports and runs every test again.
fn exercise(testdev: &Testdev<'_>) -> Result<(), String> {
    for report in testdev.reports() {
        println!("at probe: {report:?}");
    }
    for test in Test::ALL {
        let report = testdev.run(test).map_err(|e| format!("{test:?}: {e:?}"))?;
        let mut name = [0u8; 32];
        let len = testdev
            .test_name(&mut name)
            .map_err(|e| format!("{test:?}'s name: {e:?}"))?;
        println!(
            "{}: the device counted {} write(s); a correct device counts {}",
            String::from_utf8_lossy(&name[..len]),
            report.count_after_match,
            test.expected_counts().1
        );
    }
    Ok(())
}

fn on_simulated_device() -> Result<(), String> {
    let bus = SimBus::new();
    let device = bus.add(3, models::PciTestdev::new());
    let _module = bus
        .load(&pci_testdev::__DRYDOCK_MODULE)
        .map_err(|e| format!("loading the module: {e:?}"))?;
    device
        .with_driver::<TestdevDriver, _>(|_, testdev| exercise(&testdev))
        .map_err(|e| format!("no pci-testdev driver bound: {e:?}"))?
}

fn on_real_device(address: &str) -> Result<(), String> {
    let session = Session::load(&pci_testdev::__DRYDOCK_MODULE)
        .map_err(|e| format!("loading the module: {e:?}"))?;
    // The default options: VFIO, devices bound to vfio-pci; here just the one named.
    session
        .open_devices(Options {
            devices: Devices::Addresses(vec![address.to_owned()]),
            ..Options::default()
        })
        .map_err(|e| e.to_string())?;
    let device = session
        .bus()
        .device(address)
        .ok_or_else(|| format!("{address} is not on the bus"))?;
    drydock_runner::driver_data::with_driver_data::<TestdevDriver, _>(&device, |_, testdev| {
        exercise(&testdev)
    })
    .map_err(|e| format!("{address} has no pci-testdev driver bound: {e:?}"))?
}
