//! The drivers' own binaries (`drivers/*/process/main.rs`), run as the processes a user starts:
//! each binds its device, serves until SIGINT or SIGTERM, unloads and exits with status 0, and a
//! second process started on the same device binds it again; two run side by side on their own
//! devices, and one started on a device another holds is refused, naming the holder.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::driver_process::{DriverProcess, PATIENCE};
use super::{ensure, CaseResult};
use crate::kmsg::KernelLog;
use crate::sysfs;
use drydock_guest::layout::{self, Role};
use drydock_host::error::HostError;
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::{self, VfioOptions};

/// Runs the driver binary `name` on `role`'s device twice: stopped by SIGTERM, then by SIGINT.
/// The second run binding the device proves the first released it.
fn serve_and_stop(name: &str, role: Role) -> CaseResult {
    let address = layout::device(role).address();
    let original = sysfs::driver(&address);
    sysfs::bind(&address, "vfio-pci")?;
    for signal in [libc::SIGTERM, libc::SIGINT] {
        println!("$ {name} {address}, then signal {signal}");
        let mut driver = DriverProcess::start(name, &[&address], &[])?;
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
    let mut driver = DriverProcess::start("edu", &[], &[])?;
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

/// The processes holding the device at `address` through VFIO.
fn holders_of(address: &str) -> Result<Vec<(u32, String)>, String> {
    let group = sysfs::iommu_group(address)?.ok_or(format!("{address} has no IOMMU group"))?;
    Ok(vfio::holders(&Sysfs::system(), group))
}

/// A device a driver process holds is refused to another process, naming the holder: this
/// process's `vfio::open` fails with `DeviceInUse` naming the `edu` process's PID, and a second
/// `edu` process on the same device exits with status 1, its log naming that PID; the first
/// serves on and stops cleanly.
pub fn drydock_vfio_device_in_use_names_the_pid() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    sysfs::bind(&edu, "vfio-pci")?;
    println!("$ edu {edu}");
    let mut holder = DriverProcess::start("edu", &[&edu], &[])?;
    holder.wait_for_line(&format!("{edu}: bound to"))?;
    let pid = holder.pid();
    let refused = match vfio::open(&edu, &Sysfs::system(), VfioOptions::default()) {
        Ok(_) => Err(format!("{edu} opened while the edu process {pid} holds it")),
        Err(error) => {
            println!("this process: {error}");
            match &error {
                HostError::DeviceInUse { holders, .. }
                    if holders.contains(&(pid, "edu".to_owned())) =>
                {
                    Ok(())
                }
                _ => Err(format!(
                    "expected DeviceInUse naming PID {pid}, got {error:?}"
                )),
            }
        }
    };
    println!("$ edu {edu} (a second one)");
    let second = DriverProcess::start("edu", &[&edu], &[])?;
    let (status, log) = second.wait_exit()?;
    let named = log
        .iter()
        .any(|line| line.contains("is in use") && line.contains(&format!("PID {pid} (edu)")));
    holder.stop_with(libc::SIGTERM)?;
    refused?;
    ensure!(
        status.code() == Some(1),
        "the second edu process ended with {status}, not status 1"
    );
    ensure!(
        named,
        "the second edu process's log does not name PID {pid}"
    );
    Ok(())
}

/// Two driver processes drive their own devices at the same time: `nvme` on NVMe controller 1
/// (reset, Identify, queues: DMA in its domain) and, while it serves, `edu self_test=1` on edu
/// (factorials, a DMA round trip, interrupts in its own); each device is held by its own
/// driver's PID, both serve together, and both stop cleanly.
pub fn two_driver_processes_at_once() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    let nvme = layout::device(Role::Nvme {
        index: 1,
        serial: "drydock-nvme1",
    })
    .address();
    for address in [&edu, &nvme] {
        sysfs::bind(address, "vfio-pci")?;
    }
    println!("$ nvme {nvme} &");
    let mut first = DriverProcess::start("nvme", &[&nvme], &[])?;
    first.wait_for_line(&format!("{nvme}: bound to"))?;
    println!("$ edu self_test=1 {edu} &");
    let mut second = DriverProcess::start("edu", &["self_test=1", &edu], &[])?;
    second.wait_for_line("self-test: DMA round trip of 4095 bytes identical")?;
    second.wait_for_line(&format!("{edu}: bound to"))?;
    let held = (holders_of(&nvme)?, holders_of(&edu)?);
    println!("{nvme} held by {:?}, {edu} by {:?}", held.0, held.1);
    let both_alive = (first.try_wait(), second.try_wait());
    let (first_pid, second_pid) = (first.pid(), second.pid());
    second.stop_with(libc::SIGTERM)?;
    first.stop_with(libc::SIGTERM)?;
    ensure!(
        matches!(both_alive, (Ok(None), Ok(None))),
        "the two drivers were not both running: {both_alive:?}"
    );
    ensure!(
        held == (
            vec![(first_pid, "nvme".to_owned())],
            vec![(second_pid, "edu".to_owned())]
        ),
        "each device is not held by its own driver alone: {held:?}"
    );
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
    let mut driver = DriverProcess::start("edu", &[&address], &[])?;
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
            driver.kill();
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
    let mut second = DriverProcess::start("edu", &[&address], &[])?;
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
