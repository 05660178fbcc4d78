//! The edu driver as a process.
//!
//! ```text
//! edu [--uio] [--trap-bars] [--demo] [BDF...] [use_intx=1]
//! ```
//!
//! Drives every edu bound to vfio-pci (or the given devices) until SIGINT or SIGTERM. With
//! `--demo`, it instead shows what the driver does, on each edu it bound: factorials computed by
//! the device and checked against the host's arithmetic, and DMA round trips checked byte for
//! byte; then it unbinds and exits (status 0 when every check passed).

use std::process::ExitCode;

use drydock_host::error::bind_command;
use drydock_runner::command_line::{self, CommandLine};
use drydock_runner::driver_data::with_driver_data;
use drydock_runner::runtime::{self, Session};
use edu::{EduDriver, MAX_TRANSFER};

const FLAGS: &[command_line::ExtraFlag] = &[(
    "--demo",
    "compute factorials and DMA round trips on each edu, check them, and exit",
)];

fn main() -> ExitCode {
    let module = &edu::__DRYDOCK_MODULE;
    let program = command_line::program_name(module.info.name);
    let command = match command_line::parse(module, &program, std::env::args().skip(1), FLAGS) {
        Ok(command) => command,
        Err(exit) => return exit.report(),
    };
    if !command.has("--demo") {
        return runtime::run(module, command.options);
    }
    drydock_runner::logger::init();
    match demo(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("edu demo failed: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Binds edu devices, exercises each, unbinds.
fn demo(command: CommandLine) -> Result<(), String> {
    let driver = command.options.backend.driver();
    let session = Session::load(&edu::__DRYDOCK_MODULE).map_err(|e| format!("{e:?}"))?;
    session
        .open_devices(command.options)
        .map_err(|e| e.to_string())?;
    let bound = session.bus().bound_devices();
    if bound.is_empty() {
        return Err(format!(
            "no edu device is bound to {driver}; bind one with `{}` (`drydock list -d \
             1234:11e8` shows the edu devices)",
            bind_command(None, driver)
        ));
    }
    for device in &bound {
        let name = device.name().to_string_lossy().into_owned();
        with_driver_data::<EduDriver, _>(device, |dev, edu| -> Result<(), String> {
            println!("{name}: interrupts by {:?}", edu.irq_type());
            for n in [0u32, 1, 5, 10, 12, 13, 20] {
                let device_result = edu.factorial(dev, n).map_err(|e| format!("{n}!: {e:?}"))?;
                let cpu_result = (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k));
                let verdict = if device_result == cpu_result {
                    "ok"
                } else {
                    "MISMATCH"
                };
                println!(
                    "{name}: {n}! = {device_result} by the device, {cpu_result} by the CPU (mod 2^32): {verdict}"
                );
                if device_result != cpu_result {
                    return Err(format!("{n}! is wrong"));
                }
            }
            for len in [1usize, 64, 1000, MAX_TRANSFER] {
                let data: Vec<u8> = (0..len).map(|i| (i * 7 + len) as u8).collect();
                edu.write_to_device(dev, 0, &data)
                    .map_err(|e| format!("DMA to the device: {e:?}"))?;
                let mut back = vec![0u8; len];
                edu.read_from_device(dev, 0, &mut back)
                    .map_err(|e| format!("DMA from the device: {e:?}"))?;
                let verdict = if back == data {
                    "identical"
                } else {
                    "DIFFERENT"
                };
                println!("{name}: a {len}-byte block to the device and back by DMA: {verdict}");
                if back != data {
                    return Err(format!("the {len}-byte round trip differs"));
                }
            }
            let events = edu.events();
            println!(
                "{name}: {} interrupts handled: {} factorials, {} DMA transfers",
                events.interrupts, events.factorials, events.transfers
            );
            Ok(())
        })
        .map_err(|e| format!("{name}: {e:?}"))??;
    }
    session.stop();
    println!("unbound; done");
    Ok(())
}
