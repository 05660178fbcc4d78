//! The drivers' own binaries (`drivers/*/process/main.rs`), run as the processes a user starts:
//! each binds its device, serves until SIGINT or SIGTERM, unloads and exits with status 0, and a
//! second process started on the same device binds it again.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::{ensure, CaseResult};
use crate::kmsg::KernelLog;
use crate::sysfs;
use drydock_guest::layout::{self, Role};
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::{self, VfioOptions};

/// How long a driver may take from start to `bound to` (an NVMe reset and Identify under TCG
/// take about a second), and from the signal to its exit.
const PATIENCE: Duration = Duration::from_secs(60);

/// A driver process whose standard error (its log) is read line by line on a thread.
struct DriverProcess {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl DriverProcess {
    /// Starts the binary `name`, built next to this one, with `args` (the devices, if any).
    fn start(name: &str, args: &[&str]) -> Result<Self, String> {
        let binary = std::env::current_exe()
            .map_err(|e| format!("cannot find own binary: {e}"))?
            .with_file_name(name);
        let mut child = Command::new(&binary)
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no pipe from the driver")?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
        })
    }

    /// Reads the log until a line contains `text`.
    fn wait_for_line(&mut self, text: &str) -> Result<(), String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    println!("  | {line}");
                    let found = line.contains(text);
                    self.log.push(line);
                    if found {
                        return Ok(());
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let status = self.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!(
                        "no log line containing {text:?} within {PATIENCE:?} (the driver ended: {status})"
                    ));
                }
            }
        }
    }

    /// Sends `signal`, waits for the exit, and checks it was clean: status 0 after the runtime
    /// logged the signal and unloaded. Returns the whole log.
    fn stop_with(mut self, signal: libc::c_int) -> Result<Vec<String>, String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not yet
        // reaped, so it cannot name another process.
        let sent = unsafe { libc::kill(pid, signal) };
        ensure!(sent == 0, "kill({pid}, {signal}) failed");
        self.wait_for_line(&format!("signal {signal} received, unloading"))?;
        self.exits_cleanly(&format!("signal {signal}"))
    }

    /// Waits for the exit (after `why`), and checks that the status is 0. Returns the whole log.
    fn exits_cleanly(mut self, why: &str) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                return Err(format!(
                    "the driver did not exit within {PATIENCE:?} of {why}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Whatever the driver logged while unloading.
        for line in self.lines.try_iter() {
            println!("  | {line}");
            self.log.push(line);
        }
        ensure!(
            status.success(),
            "the driver exited with {status} after {why}; its log:\n{}",
            self.log.join("\n")
        );
        Ok(self.log)
    }
}

/// Runs the driver binary `name` on `role`'s device twice: stopped by SIGTERM, then by SIGINT.
/// The second run binding the device proves the first released it.
fn serve_and_stop(name: &str, role: Role) -> CaseResult {
    let address = layout::device(role).address();
    let original = sysfs::driver(&address);
    sysfs::bind(&address, "vfio-pci")?;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        println!("$ {name} {address}, then signal {signal}");
        let mut driver = DriverProcess::start(name, &[&address])?;
        driver.wait_for_line(&format!("{address}: bound to"))?;
        driver.stop_with(signal)?;
        ensure!(
            sysfs::driver(&address).as_deref() == Some("vfio-pci"),
            "{address} left vfio-pci when the driver exited"
        );
    }
    // Back to the driver it had (the kernel's nvme for the NVMe controller), as `drydock unbind`
    // does: sysfs::bind takes only the userspace drivers.
    if original.as_deref() != Some("vfio-pci") {
        sysfs::give_back(&address)?;
        ensure!(
            sysfs::driver(&address) == original,
            "{address} went back to {:?}, not {original:?}",
            sysfs::driver(&address)
        );
    }
    Ok(())
}

/// `edu BDF` serves until a signal, exits 0, and can be started again.
pub fn edu_process_stops_on_signals() -> CaseResult {
    serve_and_stop("edu", Role::Edu)
}

/// `pci-testdev BDF` serves until a signal, exits 0, and can be started again.
pub fn pci_testdev_process_stops_on_signals() -> CaseResult {
    serve_and_stop("pci-testdev", Role::PciTestdev)
}

/// `nvme BDF` resets and identifies the controller, serves until a signal, exits 0, and can be
/// started again; the controller goes back to the kernel's nvme driver afterwards.
pub fn nvme_process_stops_on_signals() -> CaseResult {
    serve_and_stop(
        "nvme",
        Role::Nvme {
            index: 0,
            serial: "drydock-nvme0",
        },
    )
}

/// `edu` without an address drives every device bound to vfio-pci that its ID table matches, and
/// only those. With edu, pci-testdev and NVMe controller 1 bound to vfio-pci: edu's table matches
/// pci-testdev too (both are of class "other", and edu matches by class, as QEMU's vendor has no
/// kernel constant), so edu opens it, its probe declines it, and it is closed again; the NVMe
/// controller is never opened. While edu serves, this process opens both through VFIO, which it
/// could not if edu held their groups.
pub fn edu_process_opens_only_what_it_matches() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    let testdev = layout::device(Role::PciTestdev).address();
    let nvme = layout::device(Role::Nvme {
        index: 1,
        serial: "drydock-nvme1",
    })
    .address();
    for address in [&edu, &testdev, &nvme] {
        sysfs::bind(address, "vfio-pci")?;
    }
    println!("$ edu (no address), with {edu}, {testdev} and {nvme} bound to vfio-pci");
    let mut driver = DriverProcess::start("edu", &[])?;
    driver.wait_for_line(&format!("{edu}: bound to"))?;
    let opened: Result<(), String> = [&testdev, &nvme].into_iter().try_for_each(|address| {
        vfio::open(address, &Sysfs::system(), VfioOptions::default())
            .map(drop)
            .map_err(|e| format!("{address} is held while edu runs: {e}"))
    });
    let log = driver.stop_with(libc::SIGTERM)?;
    opened?;
    println!("{testdev} and {nvme} opened by another process while edu served {edu}");
    let closed = format!("{testdev}: the driver declined it; closed");
    ensure!(
        log.iter().any(|line| line.contains(&closed)),
        "edu's log does not say it closed {testdev}"
    );
    // (At debug level, which `DRYDOCK_LOG` may ask for, the runtime names what it leaves closed.)
    let touched: Vec<_> = log
        .iter()
        .filter(|line| line.contains(&nvme) && !line.starts_with("DEBUG"))
        .collect();
    ensure!(touched.is_empty(), "edu's log mentions {nvme}: {touched:?}");
    sysfs::give_back(&testdev)?;
    sysfs::give_back(&nvme)?;
    Ok(())
}

/// How long the kernel's removal of a device may take while its driver process runs: the kernel
/// asks the process for the device (VFIO's device request interrupt), and the process unbinds
/// its driver and closes the device.
const REMOVAL_LIMIT: Duration = Duration::from_secs(5);

/// `edu BDF` serves edu; edu is removed through sysfs (`echo 1 > .../remove`) meanwhile. The
/// kernel asks the process for the device (vfio-pci logs that it relays the request), the
/// process unbinds its driver (`remove` runs) and closes the device, so the removal returns
/// within 5 s; with no device left, the process unloads its module and exits with status 0.
/// After a rescan, edu is back, and a second process binds it and stops cleanly.
pub fn removing_a_device_releases_it_from_its_driver_process() -> CaseResult {
    let address = layout::device(Role::Edu).address();
    sysfs::bind(&address, "vfio-pci")?;
    let mut kernel_log = KernelLog::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    kernel_log
        .read_new()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    println!("$ edu {address}, then echo 1 > {address}/remove");
    let mut driver = DriverProcess::start("edu", &[&address])?;
    driver.wait_for_line(&format!("{address}: bound to"))?;
    let remove = sysfs::device_dir(&address).join("remove");
    let (removed, removal) = mpsc::channel();
    let start = Instant::now();
    std::thread::spawn(move || {
        let _ = removed.send(std::fs::write(&remove, "1").map(|()| start.elapsed()));
    });
    let took = match removal.recv_timeout(REMOVAL_LIMIT) {
        Ok(result) => result.map_err(|e| format!("writing {address}/remove: {e}"))?,
        Err(_) => {
            // The kernel waits for the process: end it, so the removal completes and the
            // machine is left usable.
            let _ = driver.child.kill();
            let _ = driver.child.wait();
            let _ = removal.recv_timeout(PATIENCE);
            let _ = rescan(&address);
            return Err(format!(
                "removing {address} did not return within {REMOVAL_LIMIT:?} while its driver \
                 process ran"
            ));
        }
    };
    println!("the removal returned after {took:?}");
    for line in [
        format!("{address}: the kernel asks for the device back; unbinding edu and closing it"),
        format!("{address}: released to the kernel"),
        "edu: the kernel took back every device; unloading".to_owned(),
    ] {
        driver.wait_for_line(&line)?;
    }
    driver.exits_cleanly("the removal")?;
    let kernel = kernel_log
        .read_new()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    print!("{kernel}");
    ensure!(
        kernel.contains("Relaying device request to user"),
        "vfio-pci did not log that it relayed the device request"
    );
    ensure!(
        !sysfs::device_dir(&address).exists(),
        "{address} is still in sysfs after its removal"
    );
    rescan(&address)?;
    sysfs::bind(&address, "vfio-pci")?;
    println!("$ edu {address} (a second process, on the rescanned device)");
    let mut second = DriverProcess::start("edu", &[&address])?;
    second.wait_for_line(&format!("{address}: bound to"))?;
    second.stop_with(libc::SIGTERM)?;
    Ok(())
}

/// Rescans the PCI bus and waits for `address` to be back.
fn rescan(address: &str) -> CaseResult {
    std::fs::write("/sys/bus/pci/rescan", "1").map_err(|e| format!("rescanning: {e}"))?;
    let dir = sysfs::device_dir(address);
    sysfs::wait_for(PATIENCE, || dir.exists().then_some(()))
        .ok_or_else(|| format!("{address} did not come back after a rescan"))
}
