//! Errors of the bind policy.
//!
//! Binding a device refuses what would leave the machine worse off: a device in use, an IOMMU group
//! that vfio-pci could not use afterwards, a bridge. Each refusal is a [`BindError`] whose message
//! says what to do; the failures of the mechanism underneath are the host's [`HostError`]s.

use drydock_host::error::{bind_command, HostError};

use crate::usage::Use;

/// `uses` as one clause: each use with the command that ends it.
fn list_uses(uses: &[Use]) -> String {
    uses.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// `others` as `0000:00:1f.2 (ahci), ...`.
fn list_drivers(others: &[(String, String)]) -> String {
    others
        .iter()
        .map(|(address, driver)| format!("{address} ({driver})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A bind or unbind that was refused or failed, with the remedy in its message.
#[derive(Debug, thiserror::Error)]
pub enum BindError {
    /// Binding a device to vfio-pci would leave its IOMMU group unusable: other members are bound
    /// to kernel drivers, and no consent was given to take them too.
    #[error(
        "PCI device {bdf} shares IOMMU group {group} with {}, which keep their kernel drivers: \
         vfio-pci can use the group only when all its devices are bound to vfio-pci or to no \
         driver; run `drydock bind --group {bdf}` to bind them too, or name them in the same \
         command",
        list_drivers(others)
    )]
    GroupMustFollow {
        /// The device asked for.
        bdf: String,
        /// Its IOMMU group.
        group: u32,
        /// The other members that would have to follow, with their drivers.
        others: Vec<(String, String)>,
    },

    /// An IOMMU group to be bound whole holds a bridge with a kernel driver.
    #[error(
        "IOMMU group {group} holds bridge {bridge}, bound to {driver}: drydock does not hand \
         bridges to vfio-pci (the system may depend on them); the group cannot be used through \
         VFIO as it is (try the device in another slot, or UIO: `{}`)",
        bind_command(None, "uio_pci_generic")
    )]
    BridgeInGroup {
        /// The group.
        group: u32,
        /// The bridge's address.
        bridge: String,
        /// Its driver.
        driver: String,
    },

    /// The device is in use, and taking it from its driver would break what uses it.
    #[error(
        "PCI device {bdf} is in use: {}; stop using it first, or pass --force to take it anyway",
        list_uses(uses)
    )]
    DeviceInUse {
        /// The device's address.
        bdf: String,
        /// What uses it.
        uses: Vec<Use>,
    },

    /// A driver name that drydock does not bind devices to.
    #[error(
        "unknown driver `{name}`: drydock binds devices to vfio-pci (the default) or \
         uio_pci_generic; `drydock unbind BDF` gives a device back to its kernel driver"
    )]
    UnknownDriver {
        /// The name given.
        name: String,
    },

    /// The kernel did not bind a device to a driver.
    #[error(
        "the kernel did not bind {bdf} to {driver}: {reason}; `dmesg | tail` says why; {bdf} is \
         now {}",
        now.as_deref().map_or("without a driver".to_owned(), |d| format!("bound to {d}"))
    )]
    BindRefused {
        /// The device's address.
        bdf: String,
        /// The driver that did not take it.
        driver: String,
        /// What the kernel answered.
        reason: String,
        /// The driver the device has now.
        now: Option<String>,
    },

    /// A device in VFIO's no-IOMMU mode was to be handed to a user: the kernel lets only
    /// processes with `CAP_SYS_RAWIO` use it, whoever owns its node.
    #[error(
        "{bdf} is in VFIO's no-IOMMU mode, which the kernel lets only processes with \
         CAP_SYS_RAWIO use (its DMA reaches all memory): run its driver as root, without --user"
    )]
    NoIommuOwner {
        /// The device's address.
        bdf: String,
    },

    /// A device bound to UIO was to be handed to a user: UIO's DMA needs physical addresses,
    /// which the kernel shows to `CAP_SYS_ADMIN` only.
    #[error(
        "--user hands over VFIO's nodes: a driver through {driver} needs physical addresses, \
         which the kernel hides from users without CAP_SYS_ADMIN, so it runs as root; bind to \
         vfio-pci for a driver without root"
    )]
    UserNeedsVfio {
        /// The driver asked for.
        driver: String,
    },

    /// The mechanism failed: sysfs, a module load, a permission.
    #[error(transparent)]
    Host(#[from] HostError),
}
