//! The caesar misc device as a process.
//!
//! ```text
//! caesar
//! ```
//!
//! Serves `/dev/caesar` through CUSE (`DRYDOCK_CUSE=off`: inside the process only) until SIGINT
//! or SIGTERM.

fn main() -> std::process::ExitCode {
    drydock_runner::command_line::main(&caesar::__DRYDOCK_MODULE)
}
