//! What readiness depends on, read from a system's trees and from the calling process.

use std::path::Path;

pub use drydock_host::dma::huge::HugePages;
use drydock_host::dma::memory::{self, CAP_IPC_LOCK, CAP_SYS_ADMIN};
use drydock_host::error::HostError;
use drydock_host::pci_id::canonical_address;
use drydock_host::sysfs::{list_dir, read_optional, Access, KernelCmdline, PciDeviceInfo, Sysfs};
use drydock_host::user::current_user;
use drydock_host::vfio::{self, Interface, Offer, IOMMUFD_PATH};

use super::DmaNeed;
use crate::binding::UserspaceDriver;
use crate::usage::{self, Use};

/// What the calling process is allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Process {
    /// The soft `RLIMIT_MEMLOCK` in bytes, `None` if unlimited.
    pub memlock: Option<u64>,
    /// Whether it has `CAP_IPC_LOCK` (no memory lock limit applies).
    pub ipc_lock: bool,
    /// Whether it has `CAP_SYS_ADMIN` (it may read physical addresses, which UIO DMA needs).
    pub sys_admin: bool,
}

impl Process {
    /// The calling process.
    pub fn current() -> Self {
        Self {
            memlock: memory::memlock_limit(),
            ipc_lock: memory::has_capability(CAP_IPC_LOCK),
            sys_admin: memory::has_capability(CAP_SYS_ADMIN),
        }
    }
}

/// What the device named to `check` looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceFacts {
    /// What sysfs shows.
    pub info: PciDeviceInfo,
    /// The other members of its IOMMU group that keep the group from VFIO, with their drivers.
    pub blockers: Vec<(String, String)>,
    /// Its group's default domain type (`DMA`, `identity`...).
    pub group_type: Option<String>,
    /// Its VFIO group node, `/dev/vfio/<group>`.
    pub group_node: Access,
    /// What the kernel offers to reach it through VFIO (its device cdev, `/dev/iommu`), when it
    /// is bound to vfio-pci.
    pub vfio: Option<Offer>,
    /// The processes holding it through VFIO (a driver running), as (pid, command name).
    pub holders: Vec<(u32, String)>,
    /// Its UIO nodes, `/dev/uioN`, with their access.
    pub uio_nodes: Vec<(String, Access)>,
    /// What uses it.
    pub uses: Vec<Use>,
}

/// Everything a readiness report is decided from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// The number of IOMMU groups (0: no IOMMU enabled).
    pub iommu_groups: usize,
    /// The distinct default domain types of the groups.
    pub domain_types: Vec<String>,
    /// The ACPI table that describes an IOMMU to the kernel (`DMAR` for Intel VT-d, `IVRS` for
    /// AMD-Vi), if the firmware has one.
    pub firmware_iommu: Option<String>,
    /// The kernel command line.
    pub cmdline: KernelCmdline,
    /// Whether interrupts go through a remapping unit (`IR-` interrupt chips in
    /// `/proc/interrupts`); `None` if that cannot be told.
    pub interrupt_remapping: Option<bool>,
    /// Whether vfio_iommu_type1 accepts platforms without interrupt remapping.
    pub unsafe_interrupts: bool,
    /// Whether the kernel forbids loading modules (`nomodule`, `modules_disabled`).
    pub modules_disabled: bool,
    /// Whether the vfio-pci driver is registered.
    pub vfio_pci: bool,
    /// The VFIO container node, `/dev/vfio/vfio`.
    pub container: Access,
    /// The VFIO group nodes that exist, with their access.
    pub group_nodes: Vec<(String, Access)>,
    /// The iommufd node, `/dev/iommu`, which VFIO's device cdevs need.
    pub iommufd: Access,
    /// The VFIO interface `DRYDOCK_VFIO_INTERFACE` asks for (`Ok(None)`: none), or its value
    /// if it names none.
    pub requested: Result<Option<Interface>, String>,
    /// Whether the uio_pci_generic driver is registered.
    pub uio_pci_generic: bool,
    /// The 2 MiB huge pages.
    pub huge_pages: HugePages,
    /// The process's limits.
    pub process: Process,
    /// What the driver that will run locks for DMA per device, which the memory lock limit must
    /// cover ([`DmaNeed::ANY`] unless the caller names the driver).
    pub dma_need: DmaNeed,
    /// The user the process runs as, by name (or number), whom the fixes name.
    pub user: String,
    /// The device named, if any.
    pub device: Option<DeviceFacts>,
}

/// Whether `/proc/interrupts` shows interrupt chips behind a remapping unit.
fn remapping_in(interrupts: &str) -> bool {
    interrupts
        .split_whitespace()
        .any(|word| word.starts_with("IR-"))
}

/// Reads a number from a file, 0 if absent or unreadable.
fn read_number(path: &Path) -> u64 {
    read_optional(path)
        .ok()
        .flatten()
        .and_then(|text| text.parse().ok())
        .unwrap_or(0)
}

impl Facts {
    /// Reads the facts of the system `sysfs` describes, for `driver` and the device at
    /// `address`, as `process` sees them.
    pub fn gather(
        sysfs: &Sysfs,
        driver: UserspaceDriver,
        address: Option<&str>,
        process: Process,
    ) -> Result<Self, HostError> {
        let device = match address {
            Some(address) => Some(Self::device(sysfs, driver, &canonical_address(address)?)?),
            None => None,
        };
        let groups = list_dir(&sysfs.path("sys/kernel/iommu_groups"))?;
        let mut domain_types = Vec::new();
        for group in &groups {
            if let Some(kind) = group
                .parse()
                .ok()
                .and_then(|g| sysfs.group_type(g).ok().flatten())
            {
                if !domain_types.contains(&kind) {
                    domain_types.push(kind);
                }
            }
        }
        let tables = sysfs.path("sys/firmware/acpi/tables");
        let firmware_iommu = ["DMAR", "IVRS"]
            .into_iter()
            .find(|table| tables.join(table).exists())
            .map(str::to_owned);
        let interrupt_remapping = read_optional(&sysfs.path("proc/interrupts"))
            .ok()
            .flatten()
            .map(|text| remapping_in(&text));
        let unsafe_interrupts = read_optional(
            &sysfs.path("sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts"),
        )?
        .is_some_and(|value| value == "Y" || value == "1");
        let cmdline = sysfs.kernel_cmdline().unwrap_or_default();
        let modules_disabled = cmdline.get("nomodule").is_some()
            || read_number(&sysfs.path("proc/sys/kernel/modules_disabled")) == 1;
        let vfio_dir = sysfs.path("dev/vfio");
        let group_nodes = list_dir(&vfio_dir)?
            .into_iter()
            .filter(|name| name != "vfio" && name != "devices")
            .map(|name| {
                let access = Access::of(&vfio_dir.join(&name));
                (format!("/dev/vfio/{name}"), access)
            })
            .collect();
        Ok(Self {
            iommu_groups: groups.len(),
            domain_types,
            firmware_iommu,
            cmdline,
            interrupt_remapping,
            unsafe_interrupts,
            modules_disabled,
            vfio_pci: sysfs.driver_registered(UserspaceDriver::VfioPci.name()),
            container: Access::of(&vfio_dir.join("vfio")),
            group_nodes,
            iommufd: Access::of(&sysfs.path(IOMMUFD_PATH)),
            requested: Interface::requested(None).map_err(|err| err.to_string()),
            uio_pci_generic: sysfs.driver_registered(UserspaceDriver::UioPciGeneric.name()),
            huge_pages: HugePages::read(sysfs.root()),
            process,
            dma_need: DmaNeed::ANY,
            user: current_user(),
            device,
        })
    }

    fn device(
        sysfs: &Sysfs,
        driver: UserspaceDriver,
        address: &str,
    ) -> Result<DeviceFacts, HostError> {
        let info = sysfs.device(address)?;
        let (blockers, group_type, group_node) = match info.iommu_group {
            Some(group) => (
                sysfs
                    .group_blockers(group)?
                    .into_iter()
                    .filter(|(other, _)| other != address)
                    .collect(),
                sysfs.group_type(group)?,
                Access::of(&sysfs.path(&format!("dev/vfio/{group}"))),
            ),
            None => (Vec::new(), None, Access::Missing),
        };
        let uio_nodes = sysfs
            .uio_nodes(address)?
            .into_iter()
            .map(|name| {
                let access = Access::of(&sysfs.path("dev").join(&name));
                (format!("/dev/{name}"), access)
            })
            .collect();
        let uses = if info.driver.as_deref() == Some(driver.name()) {
            Vec::new()
        } else {
            usage::uses(sysfs, address)?
        };
        let on_vfio = info.driver.as_deref() == Some(vfio::VFIO_DRIVER);
        let (offer, holders) = match info.iommu_group.filter(|_| on_vfio) {
            Some(group) => (
                Some(Offer::of(sysfs, address, Some(group))),
                vfio::holders(sysfs, group),
            ),
            None => (None, Vec::new()),
        };
        Ok(DeviceFacts {
            info,
            blockers,
            group_type,
            group_node,
            vfio: offer,
            holders,
            uio_nodes,
            uses,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remapped_interrupt_chips_are_recognised() {
        let with = "           CPU0       CPU1\n  0:         36          0   IO-APIC   2-edge      timer\n 24:          0          0  IR-PCI-MSIX-0000:00:04.0    0-edge      nvme0q0\n";
        assert!(remapping_in(with));
        let without = "  0:         36          0   IO-APIC   2-edge      timer\n 24:  0  0  PCI-MSI 65536-edge nvme0q0\n";
        assert!(!remapping_in(without));
    }
}
