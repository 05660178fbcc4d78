//! A running driver's state from a shell: the edu driver's binary runs its self-test on the real
//! edu through VFIO (21 factorials and 2 DMA transfers, each ending with an MSI), then, while it
//! runs, `cat` reads what the runner publishes in the process's debugfs tree
//! (`/run/drydock/debugfs/edu.PID/drydock/`), and the figures are checked against the guest
//! kernel's (`/proc/interrupts`, `/proc/PID/status`) and the driver's own.

use std::path::Path;
use std::process::Command;

use drydock_host::vfio::Interface;
use drydock_sim::state::{find, tables, Row};

use super::driver_process::{DriverProcess, PATIENCE};
use super::{ensure, shell, CaseResult};
use crate::interrupts::{host_interrupts, vfio_msi};
use crate::{edu as edu_device, sysfs};

/// What the self-test's line with the driver's own interrupt count begins with, after the
/// device's prefix: `self-test: N interrupts for M operations`.
const SELF_TEST_COUNT: &str = "self-test: ";
/// What only that line has.
const COUNT_LINE: &str = " interrupts for ";

/// The size of a DMA pool chunk: the IOMMU mapping edu's one buffer is carved from.
const CHUNK_SIZE: u64 = drydock_host::dma::pool::CHUNK_SIZE as u64;

/// The edu driver's binary, run as a user runs it; its state read with `cat` while it runs.
pub fn edu_driver_state_from_a_shell() -> CaseResult {
    let address = edu_device::address();
    sysfs::bind(&address, "vfio-pci")?;
    println!("$ edu self_test=1 {address}");
    let mut process = DriverProcess::start(
        "edu",
        &["self_test=1", &address],
        &[("DRYDOCK_LOG", "info")],
    )?;
    // The self-test runs in the probe, which returns before the runtime says it bound.
    let counted = driver_count(&process.wait_for_line(COUNT_LINE)?, &address)?;
    process.wait_for_line(&format!("{address}: bound to edu"))?;
    let state = Path::new("/run/drydock/debugfs")
        .join(format!("edu.{}", process.pid()))
        .join("drydock");
    let checked = check_running(&state, process.pid(), &address, counted);
    let stopped = process.stop_with(libc::SIGTERM);
    checked?;
    stopped?;
    ensure!(
        !state.exists(),
        "{} is still there after the driver stopped",
        state.display()
    );
    Ok(())
}

/// Reads the state files in `state` of the running driver `pid` with `cat` and checks them
/// against the kernel's figures and the driver's own `counted` interrupts.
fn check_running(state: &Path, pid: u32, address: &str, counted: u64) -> CaseResult {
    let mounted = sysfs::wait_for(PATIENCE, || state.join("dma").exists().then_some(()));
    ensure!(mounted.is_some(), "{} did not appear", state.display());

    let devices = cat(&state.join("devices"))?;
    let interrupts = cat(&state.join("interrupts"))?;
    let dma = cat(&state.join("dma"))?;
    let host = host_interrupts(&vfio_msi(0, address))?;
    let (locked, pinned) = (memory(pid, "VmLck")?, memory(pid, "VmPin")?);
    println!(
        "the driver counted {counted} interrupts; /proc/interrupts has {host} for {}; \
         the kernel has {locked} bytes locked and {pinned} pinned for the process",
        vfio_msi(0, address)
    );
    // The run's interface (the case's process sets it for the driver's): over the cdev, iommufd
    // counts the pages it pins as the process's pinned memory (`VmPin`); through the group, type1
    // counts them as its locked memory (`VmLck`).
    let interface = Interface::requested(None).map_err(|e| e.to_string())?;
    let (backend, held_by_kernel, what) = match interface {
        Some(Interface::Cdev) => ("vfio-cdev", pinned, "pinned (VmPin)"),
        _ => ("vfio", locked, "locked (VmLck)"),
    };

    let row = one_row(&devices, "devices", address)?;
    ensure!(
        (&*row["IDS"], &*row["BACKEND"], &*row["DRIVER"]) == ("1234:11e8", backend, "edu"),
        "devices shows {row:?}"
    );
    ensure!(
        (&*row["IRQ"], &*row["VECTORS"]) == ("MSI", "1"),
        "devices shows {row:?}"
    );

    let row = one_row(&interrupts, "interrupts", address)?;
    let shown = number(&row, "INTERRUPTS")?;
    ensure!(
        shown == host && shown == counted,
        "interrupts shows {shown} for edu's MSI; /proc/interrupts has {host}, the driver counted \
         {counted}"
    );
    ensure!(
        number(&row, "RUNS")? == counted,
        "interrupts shows {} runs of the handler for {counted} interrupts",
        row["RUNS"]
    );
    ensure!(
        (&*row["TYPE"], &*row["VECTOR"], &*row["HANDLERS"]) == ("MSI", "0", "edu"),
        "interrupts shows {row:?}"
    );

    let row = one_row(&dma, "dma", address)?;
    ensure!(
        number(&row, "COHERENT")? == 1
            && number(&row, "COHERENT_BYTES")? == edu::BUFFER_SIZE as u64
            && number(&row, "STREAMING")? == 0,
        "dma shows {row:?}: the driver holds one buffer of {} bytes, and no streaming mapping",
        edu::BUFFER_SIZE
    );
    let spaces = tables(&dma);
    let space = spaces
        .get(1)
        .and_then(|spaces| find(spaces, "SPACE", &row["SPACE"]))
        .ok_or_else(|| format!("dma has no line for the space of {address}:\n{dma}"))?;
    ensure!(
        &*space["BACKEND"] == backend
            && number(space, "MAPPINGS")? == 1
            && number(space, "MAPPED_BYTES")? == CHUNK_SIZE,
        "dma shows the space {space:?}: one chunk of {CHUNK_SIZE} bytes holds the buffer"
    );
    // VFIO pins what it maps for the process.
    ensure!(
        held_by_kernel == CHUNK_SIZE,
        "dma shows {CHUNK_SIZE} bytes mapped, the kernel has {held_by_kernel} bytes {what} for \
         the process"
    );
    Ok(())
}

/// The count in the driver's `edu BDF: self-test: N interrupts for M operations` line.
fn driver_count(line: &str, address: &str) -> Result<u64, String> {
    let prefix = format!("edu {address}: {SELF_TEST_COUNT}");
    line.find(&prefix)
        .and_then(|start| {
            line[start + prefix.len()..]
                .strip_suffix(" operations")?
                .split_once(COUNT_LINE)?
                .0
                .parse()
                .ok()
        })
        .ok_or_else(|| format!("no interrupt count in the driver's line {line:?}"))
}

/// What `cat FILE` prints, shown as a shell shows it.
fn cat(file: &Path) -> Result<String, String> {
    let text = shell::output_of(Command::new("cat").arg(file))?;
    println!("$ cat {}\n{text}", file.display());
    Ok(text)
}

/// The one row of the first table of `text` (the file `name`) about the device at `address`.
fn one_row(text: &str, name: &str, address: &str) -> Result<Row, String> {
    let tables = tables(text);
    let rows: Vec<&Row> = tables
        .first()
        .map(|rows| rows.iter().filter(|row| row["DEVICE"] == address).collect())
        .unwrap_or_default();
    match rows[..] {
        [row] => Ok(row.clone()),
        _ => Err(format!(
            "{name} has {} lines for {address}:\n{text}",
            rows.len()
        )),
    }
}

/// A cell of `row` as a number.
fn number(row: &Row, column: &str) -> Result<u64, String> {
    row.get(column)
        .and_then(|cell| cell.parse().ok())
        .ok_or_else(|| format!("no number in {column} of {row:?}"))
}

/// The memory figure `field` (`VmLck`, `VmPin`) of `/proc/PID/status`, in bytes.
pub(super) fn memory(pid: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no {field} in /proc/{pid}/status"))
}
