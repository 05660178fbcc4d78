//! The drivers' own binaries (`drivers/*/process/main.rs`), run as the processes a user starts:
//! each binds its device, serves until SIGINT or SIGTERM, unloads and exits with status 0, and a
//! second process started on the same device binds it again.

use super::driver_process::DriverProcess;
use super::{ensure, CaseResult};
use crate::sysfs;
use drydock_guest::layout::{self, Role};
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
