//! The NVMe driver as a process.
//!
//! ```text
//! nvme [--uio] [--trap-bars] [BDF...]
//! ```
//!
//! Drives every NVMe controller bound to vfio-pci (or the given devices) until SIGINT or SIGTERM:
//! its probe resets and enables each controller, identifies it and its first namespace, and logs
//! what it found. Block I/O goes through the driver's in-process interface (`benches/nvme` and the
//! guest tests use it); this process only holds the controllers.

fn main() -> std::process::ExitCode {
    drydock_runner::command_line::main(&drydock_nvme::__DRYDOCK_MODULE)
}
