//! `drydock-guest`: the test runner inside drydock's QEMU guests.
//!
//! It is a static binary that the guest runs straight from the host's cargo target directory
//! over 9p. Subcommands:
//!
//! - `list`: print every test case as a protocol line (runs on the host, too);
//! - `run <run-dir>`: run the cases named in `<run-dir>/plan`, each in its own child process,
//!   and write their results into the run directory (see `drydock_guest::protocol`);
//! - `case <name>`: run one case in this process (what `run` starts for each case);
//! - `demo`: drive the edu device through VFIO and show what happens;
//! - `edu-bench OUT ...`: time the edu driver file's round trips in the kernel and through
//!   drydock, and write the comparison to `OUT` ([`edu_bench`]);
//! - `cycles edu|nvme <count>`: the long variant of `edu_driver_load_cycles` and
//!   `nvme_driver_load_cycles`, with `<count>` cycles (docs/testing.md);
//! - `crash-cycles <edu|nvme> <cycles> [<seed>]`: run the case `<driver>_crash_cycles` with that
//!   many kill and restart cycles, from that seed (the long variant, and a failing run repeated).

mod cases;
mod demo;
mod edu;
mod edu_bench;
mod interrupts;
mod kmsg;
mod modules;
mod runner;
mod stray_dma;
mod sysfs;
mod trouble;
mod vfio;

use std::path::Path;
use std::process::ExitCode;

const USAGE: &str = "usage: drydock-guest list | run <run-dir> | case <name> | demo | \
edu-bench OUT ... | cycles edu|nvme <count> | crash-cycles <edu|nvme> <cycles> [<seed>]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["list"] => {
            for info in cases::listed() {
                println!("{info}");
            }
            ExitCode::SUCCESS
        }
        ["run", dir] => match runner::run_plan(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("drydock-guest: {e}");
                ExitCode::from(2)
            }
        },
        ["case", name] => run_case(name),
        ["crash-cycles", driver @ ("edu" | "nvme"), cycles, seed @ ..] if seed.len() <= 1 => {
            // Before any thread starts: nothing reads the environment concurrently.
            std::env::set_var(cases::CRASH_CYCLES_ENV, cycles);
            if let [seed] = seed {
                std::env::set_var(cases::CRASH_SEED_ENV, seed);
            }
            run_case(&format!("{driver}_crash_cycles"))
        }
        ["demo"] => match demo::run() {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("demo failed: {e}");
                ExitCode::FAILURE
            }
        },
        ["edu-bench", rest @ ..] => match edu_bench::run(rest) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("edu-bench failed: {e}");
                ExitCode::FAILURE
            }
        },
        ["cycles", driver, count] => {
            let driver = match *driver {
                "edu" => cases::Driver::Edu,
                "nvme" => cases::Driver::Nvme,
                _ => {
                    eprintln!("{USAGE}");
                    return ExitCode::from(2);
                }
            };
            let Ok(count) = count.parse() else {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            };
            drydock_runner::logger::init();
            match cases::load_cycles(driver, count) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("{e}");
                    ExitCode::FAILURE
                }
            }
        }
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Runs the case called `name` in this process, drivers' log records going to standard error.
/// A run of a case that drives devices through drydock's VFIO backend forces its VFIO interface
/// (`DRYDOCK_VFIO_INTERFACE`, for this process and the driver processes it starts).
fn run_case(name: &str) -> ExitCode {
    let Some(planned) = cases::find(name) else {
        eprintln!("drydock-guest: no case named `{name}`");
        return ExitCode::from(2);
    };
    if let Some(interface) = planned.interface {
        // Before any thread starts: nothing reads the environment concurrently.
        std::env::set_var(drydock_host::vfio::INTERFACE_ENV, interface.name());
    }
    drydock_runner::logger::init();
    match (planned.case.run)() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("{message}");
            ExitCode::FAILURE
        }
    }
}
