//! PCI devices as sysfs shows them: identity, driver binding and IOMMU groups.
//!
//! Errors are strings that name the file involved, ready to be a case's failure message.

use std::fs;
use std::path::{Path, PathBuf};
use std::thread;
use std::time::{Duration, Instant};

/// The sysfs directory of PCI device `address` (e.g. `0000:00:02.0`).
pub fn device_dir(address: &str) -> PathBuf {
    Path::new("/sys/bus/pci/devices").join(address)
}

/// Reads a sysfs file, trimmed.
pub fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Writes `value` to a sysfs file.
pub fn write(path: &Path, value: &str) -> Result<(), String> {
    fs::write(path, value).map_err(|e| format!("cannot write `{value}` to {}: {e}", path.display()))
}

/// Reads a hexadecimal sysfs attribute of a PCI device, such as `vendor` (`0x1234`).
pub fn read_hex(address: &str, attribute: &str) -> Result<u32, String> {
    let path = device_dir(address).join(attribute);
    let text = read(&path)?;
    u32::from_str_radix(text.trim_start_matches("0x"), 16)
        .map_err(|_| format!("{} holds `{text}`, not a hex number", path.display()))
}

/// The name of the last component a symlink points to, if the link exists.
fn link_name(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// The driver bound to a PCI device, if any.
pub fn driver(address: &str) -> Option<String> {
    link_name(&device_dir(address).join("driver"))
}

/// The IOMMU group of a PCI device, if it has one.
pub fn iommu_group(address: &str) -> Result<Option<u32>, String> {
    let link = device_dir(address).join("iommu_group");
    match link_name(&link) {
        None => Ok(None),
        Some(name) => name
            .parse()
            .map(Some)
            .map_err(|_| format!("{} points to `{name}`, not a group number", link.display())),
    }
}

/// The devices in IOMMU group `group`.
pub fn group_devices(group: u32) -> Result<Vec<String>, String> {
    let dir = PathBuf::from(format!("/sys/kernel/iommu_groups/{group}/devices"));
    let mut devices: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    devices.sort();
    Ok(devices)
}

/// The type of IOMMU group `group`'s default domain: `DMA`, `DMA-FQ`, `identity`, ...
pub fn group_type(group: u32) -> Result<String, String> {
    read(Path::new(&format!("/sys/kernel/iommu_groups/{group}/type")))
}

/// Asks the kernel to bind `address` to `driver_name`: unbinds the current driver (if another
/// one), sets `driver_override` and triggers a probe. Returns the driver bound afterwards, which
/// is not `driver_name` if its probe refused the device.
pub fn request_driver(address: &str, driver_name: &str) -> Result<Option<String>, String> {
    let dir = device_dir(address);
    match driver(address) {
        Some(current) if current == driver_name => return Ok(Some(current)),
        Some(_) => write(&dir.join("driver/unbind"), address)?,
        None => {}
    }
    write(&dir.join("driver_override"), driver_name)?;
    write(Path::new("/sys/bus/pci/drivers_probe"), address)?;
    Ok(driver(address))
}

/// Unbinds `address` from its driver, if any, and clears its `driver_override`, so that any driver
/// whose ID table matches it may bind it next.
pub fn release(address: &str) -> Result<(), String> {
    let dir = device_dir(address);
    if driver(address).is_some() {
        write(&dir.join("driver/unbind"), address)?;
    }
    // A lone newline clears the override.
    write(&dir.join("driver_override"), "\n")
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
