//! A running driver's state from a shell: the edu driver's binary runs its self-test on the real
//! edu through VFIO (21 factorials and 2 DMA transfers, each ending with an MSI), then, while it
//! runs, `cat` reads what the runner publishes in the process's debugfs tree
//! (`/run/drydock/debugfs/edu.PID/drydock/`), and the figures are checked against the guest
//! kernel's (`/proc/interrupts`, `/proc/PID/status`) and the driver's own.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drydock_sim::state::{find, tables, Row};

use super::{ensure, CaseResult};
use crate::interrupts::{host_interrupts, vfio_msi};
use crate::{edu as edu_device, sysfs};

/// How long the driver may take to probe (its self-test included) and mount its tree.
const START_TIMEOUT: Duration = Duration::from_secs(45);

/// The self-test's line with the driver's own interrupt count, after the device's prefix.
const SELF_TEST_COUNT: &str = "self-test: ";

/// The size of a DMA pool chunk: the IOMMU mapping edu's one buffer is carved from.
const CHUNK_SIZE: u64 = 2 << 20;

/// The edu driver's binary, run as a user runs it; its state read with `cat` while it runs.
pub fn edu_driver_state_from_a_shell() -> CaseResult {
    let address = edu_device::address();
    sysfs::bind(&address, "vfio-pci")?;
    let binary = std::env::current_exe()
        .map_err(|e| format!("cannot find own binary: {e}"))?
        .with_file_name("edu");
    println!("$ {} self_test=1 {address}", binary.display());
    let mut child = Command::new(&binary)
        .args(["self_test=1", &address])
        .env("DRYDOCK_LOG", "info")
        .env_remove("DRYDOCK_DEBUGFS")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    let checked = check_running(&mut child, &address);
    // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not yet waited
    // for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for {}: {e}", binary.display()))?;
    let (mount, log) = checked?;
    println!("--- the driver's log ({status}) ---\n{}", log.join("\n"));
    ensure!(
        status.success(),
        "the driver did not stop cleanly after SIGTERM ({status})"
    );
    ensure!(
        !mount.join("drydock").exists(),
        "{} is still there after the driver stopped",
        mount.display()
    );
    Ok(())
}

/// Waits for the driver to bind and mount its tree, then reads and checks its state; returns
/// the mount's directory and what the driver logged until then.
fn check_running(child: &mut Child, address: &str) -> Result<(PathBuf, Vec<String>), String> {
    let stderr = child.stderr.take().ok_or("no standard error")?;
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    // The runtime logs `<device>: bound to edu` once the probe, and its self-test, returned.
    let mut log = Vec::new();
    let deadline = Instant::now() + START_TIMEOUT;
    let bound = format!("{address}: bound to edu");
    while !log.iter().any(|line: &String| line.ends_with(&bound)) {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => log.push(line),
            Err(_) => {
                return Err(format!(
                    "the driver did not bind {address} within {START_TIMEOUT:?}; it logged\n{}",
                    log.join("\n")
                ))
            }
        }
    }
    let counted = driver_count(&log, address)?;
    let mount = Path::new("/run/drydock/debugfs").join(format!("edu.{}", child.id()));
    let state = mount.join("drydock");
    let mounted = sysfs::wait_for(START_TIMEOUT, || state.join("dma").exists().then_some(()));
    ensure!(
        mounted.is_some(),
        "{} did not appear; the driver logged\n{}",
        state.display(),
        log.join("\n")
    );

    let devices = cat(&state.join("devices"))?;
    let interrupts = cat(&state.join("interrupts"))?;
    let dma = cat(&state.join("dma"))?;
    let host = host_interrupts(&vfio_msi(0, address))?;
    let locked = locked_bytes(child.id())?;
    println!(
        "the driver counted {counted} interrupts; /proc/interrupts has {host} for {}; \
         the kernel has {locked} bytes locked for the process",
        vfio_msi(0, address)
    );

    let row = one_row(&devices, "devices", address)?;
    ensure!(
        (&*row["IDS"], &*row["BACKEND"], &*row["DRIVER"]) == ("1234:11e8", "vfio", "edu"),
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
        &*space["BACKEND"] == "vfio"
            && number(space, "MAPPINGS")? == 1
            && number(space, "MAPPED_BYTES")? == CHUNK_SIZE,
        "dma shows the space {space:?}: one chunk of {CHUNK_SIZE} bytes holds the buffer"
    );
    // VFIO pins what it maps and accounts it as the process's locked memory.
    ensure!(
        locked == CHUNK_SIZE,
        "dma shows {CHUNK_SIZE} bytes mapped, the kernel has {locked} bytes locked for the process"
    );
    Ok((mount, log))
}

/// The count in the driver's `self-test: N interrupts for M operations` line.
fn driver_count(log: &[String], address: &str) -> Result<u64, String> {
    let prefix = format!("edu {address}: {SELF_TEST_COUNT}");
    log.iter()
        .find_map(|line| {
            let rest = &line[line.find(&prefix)? + prefix.len()..];
            rest.strip_suffix(" operations")?
                .split_once(" interrupts for ")?
                .0
                .parse()
                .ok()
        })
        .ok_or_else(|| {
            format!(
                "the driver did not log its interrupt count:\n{}",
                log.join("\n")
            )
        })
}

/// What `cat FILE` prints.
fn cat(file: &Path) -> Result<String, String> {
    let output = Command::new("cat")
        .arg(file)
        .output()
        .map_err(|e| format!("cannot run cat: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("$ cat {}\n{text}", file.display());
    ensure!(
        output.status.success(),
        "cat {} failed ({}): {}",
        file.display(),
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
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

/// The process's locked memory in bytes (`VmLck` of `/proc/PID/status`).
fn locked_bytes(pid: u32) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmLck:"))
        .and_then(|value| value.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .ok_or_else(|| format!("no VmLck in /proc/{pid}/status"))
}
