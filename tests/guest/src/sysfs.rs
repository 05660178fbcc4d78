//! PCI devices as sysfs shows them: identity, driver binding and IOMMU groups.
//!
//! Drivers, groups and binding come from the host and admin crates ([`drydock_host::sysfs`],
//! [`drydock_admin::binding`]), the code the `drydock` command and the backends use; this module
//! adapts them to the cases. Errors are strings that name the file involved, ready to be a case's
//! failure message.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

use drydock_admin::binding::{self, UserspaceDriver};
use drydock_admin::error::BindError;
use drydock_host::sysfs::Sysfs;

/// The sysfs directory of PCI device `address` (e.g. `0000:00:02.0`).
pub fn device_dir(address: &str) -> PathBuf {
    Sysfs::system().device_dir(address)
}

/// Reads a sysfs file, trimmed.
pub fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Reads a hexadecimal sysfs attribute of a PCI device, such as `vendor` (`0x1234`).
pub fn read_hex(address: &str, attribute: &str) -> Result<u32, String> {
    let path = device_dir(address).join(attribute);
    let text = read(&path)?;
    u32::from_str_radix(text.trim_start_matches("0x"), 16)
        .map_err(|_| format!("{} holds `{text}`, not a hex number", path.display()))
}

/// The driver bound to a PCI device, if any.
pub fn driver(address: &str) -> Option<String> {
    Sysfs::system().driver(address)
}

/// The driver bound to the auxiliary device `name` (`modname.name.id`), if any.
pub fn auxiliary_driver(name: &str) -> Option<String> {
    let link = Path::new("/sys/bus/auxiliary/devices")
        .join(name)
        .join("driver");
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// The IOMMU group of a PCI device, if it has one.
pub fn iommu_group(address: &str) -> Result<Option<u32>, String> {
    Ok(Sysfs::system().iommu_group(address))
}

/// The devices in IOMMU group `group`.
pub fn group_devices(group: u32) -> Result<Vec<String>, String> {
    Sysfs::system()
        .group_members(group)
        .map_err(|e| e.to_string())
}

/// The type of IOMMU group `group`'s default domain: `DMA`, `DMA-FQ`, `identity`, ...
pub fn group_type(group: u32) -> Result<String, String> {
    Sysfs::system()
        .group_type(group)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("IOMMU group {group} has no type file"))
}

/// Hands `address` to the userspace driver `driver_name` (vfio-pci or uio_pci_generic) as
/// `drydock bind` does ([`binding::bind_one`]: module, record of the original driver,
/// `driver_override`, unbind, bind). Returns the driver bound afterwards, which is not
/// `driver_name` if its probe refused the device (the device is then back where it was).
pub fn request_driver(address: &str, driver_name: &str) -> Result<Option<String>, String> {
    let userspace = UserspaceDriver::parse(driver_name).map_err(|e| e.to_string())?;
    match binding::bind_one(&Sysfs::system(), address, userspace) {
        Ok(_) | Err(BindError::BindRefused { .. }) => {}
        Err(err) => return Err(err.to_string()),
    }
    Ok(driver(address))
}

/// Unbinds `address` from its driver, if any, and clears its `driver_override`, so that any driver
/// whose ID table matches it may bind it next.
pub fn release(address: &str) -> Result<(), String> {
    let sysfs = Sysfs::system();
    if driver(address).is_some() {
        sysfs.unbind(address).map_err(|e| e.to_string())?;
    }
    sysfs
        .set_driver_override(address, None)
        .map_err(|e| e.to_string())
}

/// Binds `address` to `driver_name`, failing if the driver does not take it.
pub fn bind(address: &str, driver_name: &str) -> Result<(), String> {
    match request_driver(address, driver_name)? {
        Some(bound) if bound == driver_name => Ok(()),
        other => Err(format!(
            "{address} did not bind to {driver_name} (bound to: {}); the kernel log says why",
            other.as_deref().unwrap_or("nothing")
        )),
    }
}

/// Gives `address` back to the driver it had before [`bind`] or [`request_driver`] first took it
/// (as `drydock unbind` does: [`binding::unbind`]), clearing `driver_override`.
pub fn give_back(address: &str) -> Result<(), String> {
    binding::unbind(&Sysfs::system(), address)
        .map(drop)
        .map_err(|e| e.to_string())
}

/// Polls `condition` until it returns `Some` or `timeout` passes. Kernel drivers probe some
/// devices asynchronously, so their results appear a little after boot.
pub fn wait_for<T>(timeout: Duration, mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(value) = condition() {
            return Some(value);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        thread::sleep(Duration::from_millis(50));
    }
}
