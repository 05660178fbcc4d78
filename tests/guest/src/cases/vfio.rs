//! Cases that check VFIO works in the guest, end to end, independently of drydock's own VFIO
//! layer.

use std::fs;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use super::{ensure, CaseResult};
use crate::vfio::{Container, VFIO_TYPE1V2_IOMMU};
use crate::{edu, sysfs};

/// Whether `path` is a character device.
fn is_char_device(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.file_type().is_char_device())
}

/// `/dev/vfio/vfio` exists, speaks VFIO API version 0 and offers the type1v2 IOMMU backend.
pub fn vfio_container_opens() -> CaseResult {
    let path = Path::new("/dev/vfio/vfio");
    ensure!(
        is_char_device(path),
        "{} is not a character device",
        path.display()
    );
    let container = Container::open()?;
    ensure!(
        container.has_extension(VFIO_TYPE1V2_IOMMU)?,
        "the VFIO container does not offer the type1v2 IOMMU backend"
    );
    println!("/dev/vfio/vfio: API version 0, type1v2 available");
    Ok(())
}

/// Binding edu to vfio-pci creates the character device of its IOMMU group.
pub fn vfio_pci_bind_creates_group_node() -> CaseResult {
    let address = edu::address();
    sysfs::bind(&address, "vfio-pci")?;
    let group =
        sysfs::iommu_group(&address)?.ok_or_else(|| format!("{address} has no IOMMU group"))?;
    let node = format!("/dev/vfio/{group}");
    ensure!(
        is_char_device(Path::new(&node)),
        "{address} is bound to vfio-pci, but {node} is not a character device"
    );
    println!("{address} bound to vfio-pci; IOMMU group {group} at {node}");
    Ok(())
}

/// Through VFIO, edu's BAR0 shows the identification register and a working liveness
/// register, and the device computes a factorial.
pub fn vfio_edu_bar0_registers() -> CaseResult {
    let (device, bar, group) = edu::open()?;
    println!(
        "edu via /dev/vfio/{group}: {} regions, {} irq types, BAR0 {} bytes",
        device.num_regions,
        device.num_irqs,
        bar.len()
    );
    ensure!(
        bar.len() == 1 << 20,
        "BAR0 is {} bytes, expected 1 MiB",
        bar.len()
    );
    let id = bar.read32(edu::REG_ID);
    ensure!(
        id == edu::EDU_ID,
        "identification register reads {id:#010x}, expected {:#010x}",
        edu::EDU_ID
    );
    for value in [0x1234_5678, 0] {
        bar.write32(edu::REG_LIVENESS, value);
        let read = bar.read32(edu::REG_LIVENESS);
        ensure!(
            read == !value,
            "liveness register: wrote {value:#010x}, read {read:#010x}, expected {:#010x}",
            !value
        );
    }
    let result = edu::factorial(&bar, 10)?;
    ensure!(result == 3_628_800, "edu computed 10! = {result}");
    println!("id {id:#010x}, liveness ok, 10! = {result}");
    Ok(())
}

/// Without an IOMMU, vfio-pci refuses edu and no group device appears: the situation drydock
/// must diagnose.
pub fn vfio_pci_refuses_device_without_iommu() -> CaseResult {
    let address = edu::address();
    let bound = sysfs::request_driver(&address, "vfio-pci")?;
    ensure!(
        bound.is_none(),
        "{address} bound to {bound:?} without an IOMMU; expected vfio-pci to refuse it"
    );
    let nodes: Vec<String> = fs::read_dir("/dev/vfio")
        .map_err(|e| format!("cannot list /dev/vfio: {e}"))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    ensure!(
        nodes == ["vfio"],
        "/dev/vfio holds {nodes:?}, expected only `vfio`"
    );
    println!("{address}: vfio-pci refused the device; /dev/vfio holds only `vfio`");
    Ok(())
}
