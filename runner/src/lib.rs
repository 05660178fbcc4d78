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

pub mod command_line;
pub mod driver_data;
pub mod logger;
pub mod runtime;
