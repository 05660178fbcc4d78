//! Using the edu driver from your own program.
//!
//! ```text
//! cargo run -p drydock-examples --example edu                  # on a simulated edu
//! cargo run -p drydock-examples --example edu -- 0000:00:02.0  # on a real one, bound to vfio-pci
//! ```
//!
//! A drydock driver is a library as well as a process: its crate exports the driver's data type
//! with the methods the driver offers (`Edu::factorial`, `Edu::write_to_device`, ...), and a
//! program that loads the driver's module can call them on each bound device. This is how tests
//! and benchmarks use drivers, and how an application can embed one, SPDK style.

use std::process::ExitCode;

use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::VfioOptions;
use drydock_runner::driver_data::WithDriver;
use drydock_runner::runtime::{Backend, Devices, Options, Session};
use drydock_sim::{models, SimBus};
use edu::{Edu, EduDriver};
use kernel::device::Bound;
use kernel::pci;

fn main() -> ExitCode {
    // The driver logs through `dev_info!` and friends; the logger prints them on standard error.
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

/// What the example does with a bound edu: whatever the driver's methods offer.
fn exercise(dev: &pci::Device<Bound>, edu: &Edu<'_>) -> Result<(), String> {
    // Every method takes the device in its bound state: proof that the driver is still bound, as
    // the kernel's API demands for anything that touches the hardware.
    let result = edu.factorial(dev, 10).map_err(|e| format!("10!: {e:?}"))?;
    println!("10! = {result}, computed by the device");

    let message = b"hello, edu";
    edu.write_to_device(dev, 0, message)
        .map_err(|e| format!("DMA to the device: {e:?}"))?;
    let mut back = [0u8; 10];
    edu.read_from_device(dev, 0, &mut back)
        .map_err(|e| format!("DMA from the device: {e:?}"))?;
    println!(
        "sent {:?} by DMA and got back {:?}",
        String::from_utf8_lossy(message),
        String::from_utf8_lossy(&back)
    );

    // The driver refuses what the device cannot do, before touching it.
    let too_long = [0u8; edu::BUFFER_SIZE];
    let refused = edu.write_to_device(dev, 0, &too_long);
    println!("a transfer of the whole 4 KiB buffer: {refused:?} (QEMU 7.2 would abort)");

    println!("{:?}", edu.events());
    Ok(())
}

/// On a simulated edu: no device, no root, any machine.
fn on_simulated_device() -> Result<(), String> {
    let bus = SimBus::new();
    // QEMU's transfers take about 100 ms; the model can make the driver wait as long.
    let device = bus.add(
        4,
        models::Edu::with_delay(std::time::Duration::from_millis(10)),
    );
    // Loading the module registers the driver, which probes every matching device on the bus.
    let _module = bus
        .load(&edu::__DRYDOCK_MODULE)
        .map_err(|e| format!("loading the module: {e:?}"))?;
    device
        .with_driver::<EduDriver, _>(|dev, edu| exercise(dev, &edu))
        .map_err(|e| format!("no edu driver bound: {e:?}"))?
    // Dropping the module unbinds the driver and releases everything it had, in order.
}

/// On a real edu, bound to vfio-pci.
fn on_real_device(address: &str) -> Result<(), String> {
    let session =
        Session::load(&edu::__DRYDOCK_MODULE).map_err(|e| format!("loading the module: {e:?}"))?;
    session
        .open_devices(Options {
            backend: Backend::Vfio(VfioOptions::default()),
            devices: Devices::Addresses(vec![address.to_owned()]),
            sysfs: Sysfs::system(),
        })
        // The errors say what to do: bind the device, enable the IOMMU, raise the memlock limit...
        .map_err(|e| e.to_string())?;
    let device = session
        .bus()
        .device(address)
        .ok_or_else(|| format!("{address} is not on the bus"))?;
    drydock_runner::driver_data::with_driver_data::<EduDriver, _>(&device, |dev, edu| {
        exercise(dev, &edu)
    })
    .map_err(|e| format!("{address} has no edu driver bound (is it an edu?): {e:?}"))?
}
