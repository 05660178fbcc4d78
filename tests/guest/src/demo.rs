//! `drydock-guest demo`: the edu driver of `drivers/edu`, as a process on the guest's real edu
//! behind the IOMMU, for a person to watch.
//!
//! It hands edu to vfio-pci, then runs the driver's own binary (`edu --demo`, built next to this
//! one), which probes the device, computes factorials and makes DMA round trips, checks them, and
//! unbinds; finally edu goes back to having no driver.

use std::process::Command;

use crate::{edu, sysfs};

/// Binds edu to vfio-pci and runs `edu --demo` on it.
pub fn run() -> Result<(), String> {
    let address = edu::address();
    let vendor = sysfs::read_hex(&address, "vendor")?;
    let device = sysfs::read_hex(&address, "device")?;
    println!(
        "edu is PCI device {address} ({vendor:04x}:{device:04x}), driver: {}",
        sysfs::driver(&address).as_deref().unwrap_or("none")
    );
    sysfs::bind(&address, "vfio-pci")?;
    let group = sysfs::iommu_group(&address)?.map_or("none".into(), |g| g.to_string());
    println!("handed to vfio-pci (IOMMU group {group}); starting the edu driver:");
    let driver = std::env::current_exe()
        .map_err(|e| format!("cannot find own binary: {e}"))?
        .with_file_name("edu");
    println!("$ {} --demo {address}", driver.display());
    // Its log records (standard error) and its results (standard output) in one ordered stream.
    let status = Command::new(&driver)
        .args(["--demo", &address])
        .stderr(std::io::stdout())
        .status()
        .map_err(|e| format!("cannot run {}: {e}", driver.display()))?;
    sysfs::give_back(&address)?;
    println!(
        "driver exited ({status}); {address} given back: driver {}",
        sysfs::driver(&address).as_deref().unwrap_or("none")
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("the edu driver failed ({status})"))
    }
}
