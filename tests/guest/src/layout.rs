//! The PCI layout of every drydock guest.
//!
//! The host places each device at a fixed slot on the q35 root bus (`pcie.0`) with an explicit
//! `addr=`, so guest tests can name devices by address. Every device sits directly on the root
//! bus as a single-function device, which gives each one its own IOMMU group. Slots below 0x10
//! hold the devices under test; the 9p shares that carry the harness live from 0x10 on.
//! `docs/testing.md` shows the same map as a table.

/// What a device is for, and what the host needs to know to create it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// QEMU's `edu` teaching device.
    Edu,
    /// QEMU's `pci-testdev`.
    PciTestdev,
    /// An NVMe controller backed by a scratch file; `index` tells the controllers apart.
    Nvme {
        /// 0 or 1.
        index: u8,
        /// The controller's serial number, as reported by Identify Controller.
        serial: &'static str,
    },
    /// An Intel 82574L NIC (`e1000e`), not connected to any network.
    E1000e,
    /// The virtio-9p device sharing the host's root directory read-only (mount tag
    /// [`HOST_ROOT_TAG`]).
    HostRootShare,
    /// The virtio-9p device sharing the run directory read-write (mount tag [`RUN_DIR_TAG`]).
    RunDirShare,
}

/// The 9p mount tag of the host's root directory.
pub const HOST_ROOT_TAG: &str = "hostroot";
/// Where the guest mounts the host's root directory.
pub const HOST_ROOT_MOUNT: &str = "/host";
/// The 9p mount tag of the run directory (mounted at [`crate::protocol::GUEST_MOUNT`]).
pub const RUN_DIR_TAG: &str = "drydock";

/// One PCI function of the guest and the identity it must show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PciFunction {
    /// The device number on bus 0 (function 0 always).
    pub slot: u8,
    /// What the device is.
    pub role: Role,
    /// Expected PCI vendor ID.
    pub vendor: u16,
    /// Expected PCI device ID.
    pub device: u16,
    /// Expected class code: base class, subclass and programming interface (`0xBBSSPP`).
    pub class: u32,
}

impl PciFunction {
    /// The device's address as sysfs spells it, e.g. `0000:00:02.0`.
    pub fn address(&self) -> String {
        format!("0000:00:{:02x}.0", self.slot)
    }

    /// A short human-readable name, e.g. `nvme1`.
    pub fn name(&self) -> String {
        match self.role {
            Role::Edu => "edu".into(),
            Role::PciTestdev => "pci-testdev".into(),
            Role::Nvme { index, .. } => format!("nvme{index}"),
            Role::E1000e => "e1000e".into(),
            Role::HostRootShare => "9p-hostroot".into(),
            Role::RunDirShare => "9p-rundir".into(),
        }
    }
}

/// Every PCI function the host adds to a guest, in slot order.
pub const DEVICES: &[PciFunction] = &[
    PciFunction {
        slot: 0x02,
        role: Role::Edu,
        vendor: 0x1234,
        device: 0x11e8,
        class: 0x00ff00,
    },
    PciFunction {
        slot: 0x03,
        role: Role::PciTestdev,
        vendor: 0x1b36,
        device: 0x0005,
        class: 0x00ff00,
    },
    PciFunction {
        slot: 0x04,
        role: Role::Nvme {
            index: 0,
            serial: "drydock-nvme0",
        },
        vendor: 0x1b36,
        device: 0x0010,
        class: 0x010802,
    },
    PciFunction {
        slot: 0x05,
        role: Role::Nvme {
            index: 1,
            serial: "drydock-nvme1",
        },
        vendor: 0x1b36,
        device: 0x0010,
        class: 0x010802,
    },
    PciFunction {
        slot: 0x06,
        role: Role::E1000e,
        vendor: 0x8086,
        device: 0x10d3,
        class: 0x020000,
    },
    PciFunction {
        slot: 0x10,
        role: Role::HostRootShare,
        vendor: 0x1af4,
        device: 0x1009,
        class: 0x000200,
    },
    PciFunction {
        slot: 0x11,
        role: Role::RunDirShare,
        vendor: 0x1af4,
        device: 0x1009,
        class: 0x000200,
    },
];

/// The device with the given role.
///
/// # Panics
///
/// If [`DEVICES`] has no such device, which is a bug in this table.
pub fn device(role: Role) -> &'static PciFunction {
    DEVICES
        .iter()
        .find(|d| d.role == role)
        .unwrap_or_else(|| panic!("no {role:?} in the guest layout"))
}

/// The size of each NVMe controller's backing file, in bytes.
pub const NVME_BACKING_BYTES: u64 = 64 << 20;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn slots_are_unique_and_sorted() {
        let slots: Vec<u8> = DEVICES.iter().map(|d| d.slot).collect();
        let mut sorted = slots.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(slots, sorted);
        // 0x00 is the host bridge and 0x1f the ICH9 functions on q35.
        assert!(slots.iter().all(|&s| s != 0 && s < 0x1f));
    }

    #[test]
    fn names_are_unique() {
        let names: HashSet<String> = DEVICES.iter().map(|d| d.name()).collect();
        assert_eq!(names.len(), DEVICES.len());
    }

    #[test]
    fn addresses_use_sysfs_spelling() {
        assert_eq!(device(Role::Edu).address(), "0000:00:02.0");
        assert_eq!(device(Role::RunDirShare).address(), "0000:00:11.0");
    }
}
