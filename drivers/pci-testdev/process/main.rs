//! The pci-testdev driver as a process.
//!
//! ```text
//! pci_testdev [--uio] [--trap-bars] [BDF...]
//! ```
//!
//! Drives every pci-testdev bound to vfio-pci (or the given devices) until SIGINT or SIGTERM; its
//! probe runs the device's tests and logs their counts.

fn main() -> std::process::ExitCode {
    drydock_runner::command_line::main(&pci_testdev::__DRYDOCK_MODULE)
}
