//! The NVMe driver as a process.
//!
//! ```text
//! nvme [--uio] [--trap-bars] [BDF...]
//! ```
//!
//! Drives every NVMe controller bound to vfio-pci (or the given devices) until SIGINT or SIGTERM;
//! its probe enables the controller, identifies it and its namespace, and logs what it found.

fn main() -> std::process::ExitCode {
    kernel::host::command_line::main(&drydock_nvme::__DRYDOCK_MODULE)
}
