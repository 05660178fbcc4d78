//! drydock's runner: a driver module as a process, and a bound driver within reach of tests.
//!
//! The crates below this one are the driver API (`kernel`) and the C side it calls
//! (`drydock-host`); a driver file sees only the first. This crate makes a driver a program: its
//! [`command_line`] (the devices to drive and the module's parameters, as `insmod` takes them),
//! the [`runtime`] that opens the devices, loads the module into a bus of them and serves until a
//! stop signal, and the [`logger`] that prints what the driver logs. [`driver_data`] reaches the
//! data of a bound driver, for tests, examples and benchmarks that drive a driver in-process.
//!
//! A driver binary is one line:
//!
//! ```ignore
//! fn main() -> std::process::ExitCode {
//!     drydock_runner::command_line::main(&my_driver::__DRYDOCK_MODULE)
//! }
//! ```
//!
//! # Start here
//!
//! - To run a driver as a process: the line above, in a binary package beside the driver's crate
//!   (`drivers/edu/process`); [`command_line`] documents its arguments, [`runtime`] what it does
//!   from start to signal, and the exit statuses.
//! - To test a driver: load its module on a simulated bus (`drydock_sim::SimBus`) and reach the
//!   bound driver's data with [`driver_data::WithDriver::with_driver`], as
//!   `drivers/edu/tests/sim.rs` does.
//! - To drive a device in-process (a demo, a benchmark): [`runtime::Session`] loads the module
//!   on devices you open, as `edu --demo` does (`drivers/edu/process/main.rs`).
//! - To see more of what a driver logs: `RUST_LOG=debug` ([`logger`]).

pub mod command_line;
pub mod driver_data;
pub mod logger;
pub mod runtime;
