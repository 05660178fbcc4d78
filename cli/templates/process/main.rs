//! The {{package}} driver as a process.
//!
//! ```text
//! {{package}} [--uio] [--trap-bars] [BDF...] [PARAMETER=VALUE...]
//! ```
//!
//! Drives every {{ids}} bound to vfio-pci (or the given devices) until SIGINT or SIGTERM.
//! `{{package}} --help` says more.

fn main() -> std::process::ExitCode {
    drydock_runner::command_line::main(&{{lib}}::__DRYDOCK_MODULE)
}
