//! Cases that check the guest is the machine the harness promises: the devices, their IOMMU
//! groups and domains, and the kernel's own drivers.

use std::fs;
use std::path::Path;
use std::time::Duration;

use drydock_guest::layout::{self, PciFunction, Role, DEVICES, NVME_BACKING_BYTES};

use super::{ensure, CaseResult};
use crate::sysfs;

/// Every device of the layout is at its address with the expected vendor, device and class.
pub fn pci_devices_present() -> CaseResult {
    let mut problems = Vec::new();
    for device in DEVICES {
        let address = device.address();
        if !sysfs::device_dir(&address).exists() {
            problems.push(format!("{}: no PCI device at {address}", device.name()));
            continue;
        }
        let vendor = sysfs::read_hex(&address, "vendor")?;
        let id = sysfs::read_hex(&address, "device")?;
        let class = sysfs::read_hex(&address, "class")?;
        println!(
            "{address} {:12} {vendor:04x}:{id:04x} class {class:06x}",
            device.name()
        );
        let (want_vendor, want_id) = (u32::from(device.vendor), u32::from(device.device));
        if (vendor, id) != (want_vendor, want_id) {
            problems.push(format!(
                "{} at {address} is {vendor:04x}:{id:04x}, expected {want_vendor:04x}:{want_id:04x}",
                device.name()
            ));
        }
        if class != device.class {
            problems.push(format!(
                "{} at {address} has class {class:06x}, expected {:06x}",
                device.name(),
                device.class
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// The kernel's nvme driver binds both NVMe controllers, each exposing a 64 MiB namespace with
/// the serial number the host gave it, and e1000e binds the NIC.
pub fn kernel_drivers_bind_nvme_and_e1000e() -> CaseResult {
    let nic = layout::device(Role::E1000e).address();
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("e1000e"),
        "{nic} is bound to {:?}, expected e1000e",
        sysfs::driver(&nic)
    );
    for device in DEVICES {
        let Role::Nvme { serial, .. } = device.role else {
            continue;
        };
        check_nvme(device, serial)?;
    }
    Ok(())
}

fn check_nvme(device: &PciFunction, serial: &str) -> CaseResult {
    let address = device.address();
    // The nvme driver probes asynchronously; give it time to finish under emulation.
    let controller = sysfs::wait_for(Duration::from_secs(30), || {
        let dir = sysfs::device_dir(&address).join("nvme");
        let name = fs::read_dir(dir).ok()?.next()?.ok()?.file_name();
        let name = name.to_string_lossy().into_owned();
        let namespace = Path::new("/sys/block").join(format!("{name}n1"));
        namespace.exists().then_some(name)
    })
    .ok_or_else(|| format!("{address}: no NVMe controller with namespace 1 after 30 s"))?;
    ensure!(
        sysfs::driver(&address).as_deref() == Some("nvme"),
        "{address} is bound to {:?}, expected nvme",
        sysfs::driver(&address)
    );
    let found_serial = sysfs::read(
        &Path::new("/sys/class/nvme")
            .join(&controller)
            .join("serial"),
    )?;
    ensure!(
        found_serial == serial,
        "{address} ({controller}) has serial `{found_serial}`, expected `{serial}`"
    );
    let sectors: u64 = sysfs::read(&Path::new("/sys/block").join(format!("{controller}n1/size")))?
        .parse()
        .map_err(|e| format!("{controller}n1/size: {e}"))?;
    ensure!(
        sectors * 512 == NVME_BACKING_BYTES,
        "{controller}n1 has {sectors} sectors of 512 bytes, expected {} bytes",
        NVME_BACKING_BYTES
    );
    println!("{address} {controller}: serial {found_serial}, {sectors} sectors, driver nvme");
    Ok(())
}

/// Each device is alone in its IOMMU group.
pub fn each_device_has_its_own_iommu_group() -> CaseResult {
    let mut problems = Vec::new();
    for device in DEVICES {
        let address = device.address();
        let Some(group) = sysfs::iommu_group(&address)? else {
            problems.push(format!("{} at {address} has no IOMMU group", device.name()));
            continue;
        };
        let members = sysfs::group_devices(group)?;
        println!(
            "{address} {:12} group {group}: {}",
            device.name(),
            members.join(" ")
        );
        if members != [address.clone()] {
            problems.push(format!(
                "{} at {address} shares IOMMU group {group} with: {}",
                device.name(),
                members.join(" ")
            ));
        }
    }
    ensure!(problems.is_empty(), "{}", problems.join("\n"));
    Ok(())
}

/// Checks that every device's group has one of `allowed` as its default domain type.
fn group_types_are(allowed: &[&str]) -> CaseResult {
    for device in DEVICES {
        let address = device.address();
        let group =
            sysfs::iommu_group(&address)?.ok_or_else(|| format!("{address} has no IOMMU group"))?;
        let kind = sysfs::group_type(group)?;
        println!("{address} {:12} group {group}: {kind}", device.name());
        ensure!(
            allowed.contains(&kind.as_str()),
            "{} at {address}: IOMMU group {group} has a `{kind}` default domain, expected one of {allowed:?}",
            device.name()
        );
    }
    Ok(())
}

/// With `intel_iommu=on`, default domains translate DMA (strict or lazy flushing).
pub fn iommu_domains_translate() -> CaseResult {
    group_types_are(&["DMA", "DMA-FQ"])
}

/// With `iommu=pt`, default domains are identity maps.
pub fn iommu_domains_are_identity() -> CaseResult {
    group_types_are(&["identity"])
}

/// With `intel_iommu=off`, the kernel creates no IOMMU groups at all.
pub fn no_iommu_groups() -> CaseResult {
    let groups: Vec<String> = match fs::read_dir("/sys/kernel/iommu_groups") {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(format!("cannot list /sys/kernel/iommu_groups: {e}")),
    };
    ensure!(
        groups.is_empty(),
        "IOMMU groups exist with intel_iommu=off: {}",
        groups.join(" ")
    );
    for device in DEVICES {
        let address = device.address();
        ensure!(
            sysfs::iommu_group(&address)?.is_none(),
            "{address} has an IOMMU group with intel_iommu=off"
        );
    }
    Ok(())
}
