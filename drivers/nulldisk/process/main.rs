//! The nulldisk block driver as a process.
//!
//! ```text
//! nulldisk [capacity_mib=N] [block_size=N] [deferred=1]
//! ```
//!
//! Serves the disk `nulldisk0` through ublk, as `/dev/ublkbN` (the process logs which), until
//! SIGINT or SIGTERM.

fn main() -> std::process::ExitCode {
    drydock_runner::command_line::main(&nulldisk::__DRYDOCK_MODULE)
}
