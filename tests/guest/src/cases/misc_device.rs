//! A misc device used by another process: Linux's `rust_misc_device` sample in the kernel, its node
//! `/dev/rust-misc-device`, and the same file built as a drydock process, whose node the process
//! serves through CUSE. `misc-device-client` drives each node as the sample's own C program does,
//! then writes the device's buffer and reads it back; both runs must print the same, and the device
//! must log the same lines about itself (`misc rust-misc-device: ...`), in the same order.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use drydock_guest::protocol::SAMPLE_MODULES_DIR;

use super::driver_process::{beside_me, DriverProcess};
use super::in_kernel::logged_message;
use super::{ensure, shell, CaseResult};
use crate::kmsg::{KernelLog, LEVEL_INFO};
use crate::{modules, sysfs};

/// The sample's module and binary.
const MODULE: &str = "rust_misc_device";
/// Its device node.
const NODE: &str = "/dev/rust-misc-device";
/// How the device's own log lines start, in the kernel and through drydock: the class of a device
/// without a driver, and its name.
const PREFIX: &str = "misc rust-misc-device: ";
/// How long the node may take to appear, and to go.
const NODE_TIMEOUT: Duration = Duration::from_secs(30);

/// Lines the client must print in both runs (among others, compared between the runs).
const EXPECTED: &[&str] = &[
    "open: ok",
    "hello: 0",
    "get: 0 value=0",
    "set 1: 0",
    "get: 0 value=1",
    "unknown command: -1 ENOTTY",
    "second open: ok",
    "second get: 0 value=0",
];

/// The sample in the kernel and through drydock, driven by the same client.
pub fn in_kernel_rust_misc_device() -> CaseResult {
    let (in_kernel, kernel_lines) = kernel_run()?;
    let (drydock, drydock_lines) = drydock_run()?;
    println!("--- the client, in the kernel ---\n{in_kernel}--- through drydock ---\n{drydock}");
    let show = |lines: &[String]| lines.join("\n");
    println!(
        "--- {PREFIX}... in the kernel ---\n{}\n--- through drydock ---\n{}",
        show(&kernel_lines),
        show(&drydock_lines)
    );
    for line in EXPECTED {
        ensure!(
            in_kernel.lines().any(|l| l == *line),
            "in the kernel, the client did not print `{line}`"
        );
    }
    ensure!(
        drydock == in_kernel,
        "through drydock, the client printed\n{drydock}\nrather than, as in the kernel,\n{in_kernel}"
    );
    ensure!(
        kernel_lines
            .iter()
            .any(|l| l == "Opening Rust Misc Device Sample"),
        "the in-kernel device logged no open"
    );
    ensure!(
        drydock_lines == kernel_lines,
        "the device logged different lines in the kernel and through drydock (above)"
    );
    Ok(())
}

/// Loads the sample's module, runs the client on its node, unloads it; returns what the client
/// printed and what the device logged.
fn kernel_run() -> Result<(String, Vec<String>), String> {
    ensure!(
        !modules::is_loaded(MODULE),
        "module {MODULE} is loaded already"
    );
    let mut log = KernelLog::from_now()?;
    let ko = modules::module_tree()?
        .join(SAMPLE_MODULES_DIR)
        .join(format!("{MODULE}.ko"));
    modules::load(&ko, "")?;
    let output = node_appears(NODE).and_then(|()| client());
    let unloaded = modules::unload(MODULE);
    let records = log.show_new(Some("kernel log of the in-kernel run"))?;
    let output = output?;
    unloaded?;
    node_goes(NODE)?;
    let lines = records
        .iter()
        .filter(|r| r.level <= LEVEL_INFO)
        .filter_map(|r| r.text.strip_prefix(PREFIX).map(str::to_owned))
        .collect();
    Ok((output, lines))
}

/// Runs the sample as a drydock process, runs the client on the node it serves through CUSE,
/// stops the process; returns what the client printed and what the device logged.
fn drydock_run() -> Result<(String, Vec<String>), String> {
    ensure!(
        !Path::new(NODE).exists(),
        "{NODE} exists before the process runs"
    );
    println!("$ {MODULE}");
    let process = DriverProcess::start(MODULE, &[], &[("DRYDOCK_LOG", "info")])?;
    let output = node_appears(NODE).and_then(|()| client());
    let stopped = process.stop_with(libc::SIGTERM);
    let output = output?;
    let log = stopped?;
    node_goes(NODE)?;
    let lines = log
        .iter()
        .filter_map(|line| logged_message(line))
        .filter_map(|message| message.strip_prefix(PREFIX).map(str::to_owned))
        .collect();
    Ok((output, lines))
}

/// Waits for the device node `node`.
pub(super) fn node_appears(node: &str) -> CaseResult {
    let appeared = sysfs::wait_for(NODE_TIMEOUT, || Path::new(node).exists().then_some(()));
    ensure!(
        appeared.is_some(),
        "{node} did not appear within {NODE_TIMEOUT:?}"
    );
    Ok(())
}

/// Waits for the device node `node` to go.
pub(super) fn node_goes(node: &str) -> CaseResult {
    let gone = sysfs::wait_for(NODE_TIMEOUT, || (!Path::new(node).exists()).then_some(()));
    ensure!(
        gone.is_some(),
        "{node} is still there {NODE_TIMEOUT:?} after the device went"
    );
    Ok(())
}

/// Runs `misc-device-client` (built next to this binary) on the node; returns what it printed.
fn client() -> Result<String, String> {
    shell::output_of(Command::new(beside_me("misc-device-client")?).arg(NODE))
}
