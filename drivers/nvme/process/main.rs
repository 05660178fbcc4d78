//! The NVMe driver as a process.
//!
//! ```text
//! nvme [--uio] [--trap-bars] [--ublk] [BDF...]
//! ```
//!
//! Drives every NVMe controller bound to vfio-pci (or the given devices) until SIGINT or SIGTERM:
//! its probe resets and enables each controller, identifies it and its first namespace, and logs
//! what it found. Without `--ublk`, block I/O goes through the driver's in-process interface
//! (`benches/nvme` and the guest tests use it), and this process only holds the controllers. With
//! `--ublk`, each namespace is a disk of the kernel, `/dev/ublkbN`, served by the driver's queues
//! (see `ublk.rs`); a restarted process takes back the disk a killed one left.

use std::process::ExitCode;

use drydock_runner::command_line;

mod ublk;

/// The binary's own flags.
const FLAGS: &[command_line::ExtraFlag] = &[(
    "--ublk",
    "serve each namespace as a ublk disk, /dev/ublkbN (taking back one a killed process left)",
)];

fn main() -> ExitCode {
    let module = &drydock_nvme::__DRYDOCK_MODULE;
    let program = command_line::program_name(module.info.name);
    let command = match command_line::parse(module, &program, std::env::args().skip(1), FLAGS) {
        Ok(command) => command,
        Err(exit) => return exit.report(),
    };
    if command.has("--ublk") {
        ublk::run(command.options)
    } else {
        drydock_runner::runtime::run(module, command.options)
    }
}
