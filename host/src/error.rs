//! Errors of the host machinery, and how they reach the kernel API.
//!
//! Every failure of the host layer (a missing IOMMU, a device bound to the wrong driver, a
//! permission problem, a memory-lock limit...) is a [`HostError`] whose message says what to do.
//! At the `kernel` API boundary, where a driver expects an errno, it becomes the [`Errno`] that
//! best describes it, and the full message is logged, so nothing is lost: the driver sees
//! `-EPERM`, the person running it reads why and how to fix it.

use std::io;

use crate::errno::Errno;

/// The command that binds `address` (or `BDF` when none is known) to `driver`, as messages
/// spell it: the remedy of every error that a device bound to the wrong driver causes.
pub fn bind_command(address: Option<&str>, driver: &str) -> String {
    format!(
        "drydock bind {} --driver {driver}",
        address.unwrap_or("BDF")
    )
}

/// What to do about a file this process may not open.
fn permission_fix(path: &str) -> String {
    if path == "/dev/vfio/vfio" {
        "run as root, or let every user open VFIO's container, as the kernel's own default is \
         (`chmod 0666 /dev/vfio/vfio`)"
            .to_owned()
    } else if path.starts_with("/dev/vfio/") || path == crate::vfio::IOMMUFD_PATH {
        "run as root, or have root give your user the device's VFIO nodes (`drydock bind --user \
         $(id -un) BDF`)"
            .to_owned()
    } else if path.starts_with("/sys/") || path.starts_with("/run/") {
        "run as root (with sudo): binding devices changes the kernel's state".to_owned()
    } else {
        "run as root, or give your user access to it".to_owned()
    }
}

/// Who holds a device another process asked for, and what to do.
fn in_use_detail(holders: &[(u32, String)], nodes: &[String]) -> String {
    if holders.is_empty() {
        return format!(
            "another process has it open through {}, and this user cannot see which (`sudo fuser \
             -v {}` names it); VFIO lets one process drive a device at a time",
            nodes.join(" or "),
            nodes.join(" ")
        );
    }
    let pids: Vec<String> = holders
        .iter()
        .map(|(pid, command)| format!("PID {pid} ({command})"))
        .collect();
    let kill: Vec<String> = holders.iter().map(|(pid, _)| pid.to_string()).collect();
    format!(
        "held by {} through {}; VFIO lets one process drive a device at a time: stop that driver \
         (`kill {}`) or drive another device",
        pids.join(", "),
        nodes.join(" or "),
        kill.join(" ")
    )
}

/// A failure of the host machinery, with the remedy in its message.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// No PCI device has this address.
    #[error("no PCI device {bdf}: `drydock list` shows the devices of this machine")]
    NoDevice {
        /// The address asked for.
        bdf: String,
    },

    /// A PCI address could not be parsed.
    #[error(
        "`{text}` is not a PCI address: write it as DDDD:BB:DD.F (for example 0000:00:04.0), as \
         `drydock list` shows it"
    )]
    BadAddress {
        /// The text given.
        text: String,
    },

    /// The device is not bound to the driver the backend needs.
    #[error(
        "PCI device {bdf} is bound to {}, not {wanted}: run `{}`",
        current.as_deref().unwrap_or("no driver"),
        bind_command(Some(bdf), wanted)
    )]
    WrongDriver {
        /// The device's address.
        bdf: String,
        /// The driver it is bound to, if any.
        current: Option<String>,
        /// The driver the backend needs (`vfio-pci` or `uio_pci_generic`).
        wanted: &'static str,
    },

    /// The kernel has no IOMMU groups, so VFIO with an IOMMU cannot work.
    #[error(
        "no IOMMU is enabled (/sys/kernel/iommu_groups is empty), and vfio-pci needs one: enable \
         VT-d/AMD-Vi in the firmware and boot with `intel_iommu=on` (Intel) or `amd_iommu=on` \
         (AMD); without an IOMMU, use VFIO's no-IOMMU mode (`vfio.enable_unsafe_noiommu_mode=1` \
         before binding the device to vfio-pci) or UIO (`{}`), both without DMA isolation; \
         `drydock check` tells more",
        bind_command(None, "uio_pci_generic")
    )]
    NoIommu,

    /// A VFIO group made in no-IOMMU mode cannot be used as asked.
    #[error("VFIO no-IOMMU group {group}: {reason}")]
    NoIommuGroup {
        /// The group's number.
        group: u32,
        /// What is wrong, and what to do.
        reason: &'static str,
    },

    /// The IOMMU is enabled but does not cover this device.
    #[error(
        "PCI device {bdf} is in no IOMMU group although the IOMMU is enabled (the firmware leaves \
         it outside the IOMMU), so vfio-pci cannot take it: use UIO, without DMA isolation (`{}`)",
        bind_command(Some(bdf), "uio_pci_generic")
    )]
    NoGroup {
        /// The device's address.
        bdf: String,
    },

    /// The kernel does not provide VFIO.
    #[error(
        "VFIO is not available ({path} is missing): run `modprobe vfio-pci` as root, or use a \
         kernel built with CONFIG_VFIO_PCI"
    )]
    NoVfio {
        /// The missing device node.
        path: String,
    },

    /// VFIO's device cdev was asked for, and the kernel cannot give it for this device.
    #[error(
        "cannot reach {bdf} through VFIO's device cdev, as {} or --vfio=cdev asks: {why}; ask \
         for the group interface (`{}=group`) or let drydock choose (`auto`)",
        crate::vfio::INTERFACE_ENV,
        crate::vfio::INTERFACE_ENV
    )]
    NoVfioCdev {
        /// The device's address.
        bdf: String,
        /// What is missing.
        why: &'static str,
    },

    /// The VFIO interface asked for in the environment is not one.
    #[error(
        "{}=`{text}` names no VFIO interface: write `group`, `cdev` or `auto`",
        crate::vfio::INTERFACE_ENV
    )]
    BadInterface {
        /// The variable's value.
        text: String,
    },

    /// A device node or sysfs file could not be opened for lack of permission.
    #[error("permission denied opening {path}: {}", permission_fix(path))]
    Permission {
        /// The file that could not be opened.
        path: String,
    },

    /// A VFIO node of a device (its group node, its device cdev, `/dev/iommu`) that this user may
    /// not open: the device was not handed to the user.
    #[error(
        "permission denied opening {path}, which driving {bdf} needs: run `drydock bind --user \
         {user} {bdf}` as root to give user {user} the device's VFIO nodes, or run the driver as \
         root"
    )]
    NodePermission {
        /// The device's address.
        bdf: String,
        /// The node that could not be opened.
        path: String,
        /// The user the process runs as, by name (or number).
        user: String,
    },

    /// A user or group name that the system's databases do not know.
    #[error("no {kind} `{name}` on this system: name one that `getent {kind_db}` lists, or give \
             its number", kind_db = if *kind == "user" { "passwd" } else { "group" })]
    NoSuchUser {
        /// `user` or `group`.
        kind: &'static str,
        /// The name given.
        name: String,
    },

    /// The IOMMU group holds other devices that are not bound to `vfio-pci`.
    #[error(
        "IOMMU group {group} is not viable: every device in it must be bound to vfio-pci or to no \
         driver, but {}; give them to vfio-pci too (`drydock bind --group` with this device), or \
         move the device to another slot",
        others.iter().map(|(bdf, driver)| format!("{bdf} is bound to {driver}")).collect::<Vec<_>>().join(", ")
    )]
    GroupNotViable {
        /// The group number.
        group: u32,
        /// The other devices of the group and their drivers.
        others: Vec<(String, String)>,
    },

    /// A kernel module could not be loaded.
    #[error(
        "cannot load kernel module {module}: {reason}; run `modprobe {module}` as root to see \
         why (a kernel booted with `nomodule`, or built without it, cannot)"
    )]
    ModuleLoad {
        /// The module (or modalias) asked for.
        module: String,
        /// What went wrong.
        reason: String,
    },

    /// Another process (or this one) holds the device: VFIO lets one open it at a time.
    #[error("PCI device {bdf} is in use: {}", in_use_detail(holders, nodes))]
    DeviceInUse {
        /// The device's address.
        bdf: String,
        /// The processes found holding its VFIO nodes, as (pid, command name); empty if none
        /// could be seen (another user's processes are hidden from an unprivileged one).
        holders: Vec<(u32, String)>,
        /// The nodes whose openers were looked for (its group node, its group's device cdevs).
        nodes: Vec<String>,
    },

    /// Locking DMA memory would exceed `RLIMIT_MEMLOCK`.
    #[error(
        "cannot lock {needed} bytes of DMA memory: RLIMIT_MEMLOCK allows {limit} bytes; raise it \
         with `ulimit -l unlimited` (as root), `LimitMEMLOCK=infinity` in a systemd unit, or a \
         `memlock` line in /etc/security/limits.conf"
    )]
    MemlockTooLow {
        /// Bytes that would be locked in total.
        needed: u64,
        /// The current limit in bytes.
        limit: u64,
    },

    /// DMA memory in huge pages was required, and none could be had.
    #[error(
        "DRYDOCK_DMA_PAGES=huge asks for DMA memory in 2 MiB huge pages, and none could be mapped \
         ({free} of {total} free): reserve some with `echo 64 > /proc/sys/vm/nr_hugepages` as \
         root (`hugepages=64` on the kernel command line for good), or unset DRYDOCK_DMA_PAGES \
         to fall back to 4 KiB pages"
    )]
    NoHugePages {
        /// Huge pages reserved.
        total: u64,
        /// Huge pages free when the mapping was tried.
        free: u64,
    },

    /// The page policy asked for in the environment is not one.
    #[error("DRYDOCK_DMA_PAGES=`{text}` names no page policy: write `auto`, `huge` or `base`")]
    BadDmaPages {
        /// The variable's value.
        text: String,
    },

    /// No bus address below the device's DMA mask is free.
    #[error(
        "no free bus address range of {size} bytes below the DMA mask {mask:#x} (IOMMU aperture \
         exhausted or too small)"
    )]
    IovaExhausted {
        /// The size asked for.
        size: u64,
        /// The device's DMA mask.
        mask: u64,
    },

    /// Physical addresses are hidden from the process (UIO DMA needs them).
    #[error(
        "cannot read physical addresses from /proc/self/pagemap: the kernel hides them from \
         processes without CAP_SYS_ADMIN; run the driver as root (DMA without an IOMMU needs \
         physical addresses), or use VFIO, which needs none"
    )]
    NoPhysicalAddresses,

    /// No memory was found at physical addresses under the device's DMA mask (UIO DMA).
    #[error(
        "no memory below the DMA mask {mask:#x} was found: without an IOMMU the bus address is the \
         physical address; reserve huge pages at boot (`hugepages=N`) so they come from low \
         memory, or use VFIO, whose IOVAs are chosen under the mask"
    )]
    PhysicalAboveMask {
        /// The device's DMA mask.
        mask: u64,
    },

    /// The device does not support what was asked (an IRQ type, a reset, a BAR...).
    #[error("{device}: {what} is not supported by this device")]
    Unsupported {
        /// The device's address.
        device: String,
        /// What was asked for.
        what: String,
    },

    /// A system call failed.
    #[error("{context}: {source}")]
    Os {
        /// What was being done.
        context: String,
        /// The error the kernel returned.
        #[source]
        source: io::Error,
    },
}

impl HostError {
    /// Wraps an operating-system error with what was being done.
    pub fn os(context: impl Into<String>, source: io::Error) -> Self {
        HostError::Os {
            context: context.into(),
            source,
        }
    }

    /// Wraps the calling thread's last `errno` with what was being done.
    pub fn last_os(context: impl Into<String>) -> Self {
        Self::os(context, io::Error::last_os_error())
    }

    /// Returns the errno that describes this error at the kernel API boundary.
    pub fn errno(&self) -> Errno {
        match self {
            HostError::NoDevice { .. } => Errno::ENODEV,
            HostError::BadAddress { .. } => Errno::EINVAL,
            HostError::WrongDriver { .. } => Errno::EBUSY,
            HostError::NoIommu | HostError::NoGroup { .. } | HostError::NoVfio { .. } => {
                Errno::ENODEV
            }
            HostError::ModuleLoad { .. } => Errno::ENODEV,
            HostError::Permission { .. } | HostError::NodePermission { .. } => Errno::EACCES,
            HostError::NoSuchUser { .. } => Errno::EINVAL,
            HostError::NoVfioCdev { .. } => Errno::ENODEV,
            HostError::BadInterface { .. } | HostError::BadDmaPages { .. } => Errno::EINVAL,
            HostError::GroupNotViable { .. } | HostError::DeviceInUse { .. } => Errno::EBUSY,
            HostError::MemlockTooLow { .. }
            | HostError::NoHugePages { .. }
            | HostError::IovaExhausted { .. }
            | HostError::PhysicalAboveMask { .. } => Errno::ENOMEM,
            HostError::NoPhysicalAddresses | HostError::NoIommuGroup { .. } => Errno::EPERM,
            HostError::Unsupported { .. } => Errno::EOPNOTSUPP,
            HostError::Os { source, .. } => Errno::from_io(source),
        }
    }
}

impl From<HostError> for Errno {
    /// Converts at the kernel API boundary: logs the full message, returns the errno.
    fn from(err: HostError) -> Errno {
        log::error!(target: "drydock", "{err}");
        err.errno()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_say_what_to_do() {
        let err = HostError::WrongDriver {
            bdf: "0000:00:04.0".into(),
            current: Some("nvme".into()),
            wanted: "vfio-pci",
        };
        assert_eq!(
            err.to_string(),
            "PCI device 0000:00:04.0 is bound to nvme, not vfio-pci: run \
             `drydock bind 0000:00:04.0 --driver vfio-pci`"
        );
        let err = HostError::GroupNotViable {
            group: 7,
            others: vec![("0000:00:05.0".into(), "e1000e".into())],
        };
        assert!(err.to_string().contains("0000:00:05.0 is bound to e1000e"));
        let err = HostError::DeviceInUse {
            bdf: "0000:00:02.0".into(),
            holders: vec![(4242, "edu".into())],
            nodes: vec!["/dev/vfio/devices/vfio0".into(), "/dev/vfio/2".into()],
        };
        assert_eq!(
            err.to_string(),
            "PCI device 0000:00:02.0 is in use: held by PID 4242 (edu) through \
             /dev/vfio/devices/vfio0 or /dev/vfio/2; VFIO lets one process drive a device at a \
             time: stop that driver (`kill 4242`) or drive another device"
        );
        let err = HostError::DeviceInUse {
            bdf: "0000:00:02.0".into(),
            holders: Vec::new(),
            nodes: vec!["/dev/vfio/2".into()],
        };
        assert!(
            err.to_string().contains("`sudo fuser -v /dev/vfio/2`"),
            "{err}"
        );
        let err = HostError::NodePermission {
            bdf: "0000:00:02.0".into(),
            path: "/dev/vfio/devices/vfio0".into(),
            user: "nobody".into(),
        };
        assert_eq!(
            err.to_string(),
            "permission denied opening /dev/vfio/devices/vfio0, which driving 0000:00:02.0 needs: \
             run `drydock bind --user nobody 0000:00:02.0` as root to give user nobody the \
             device's VFIO nodes, or run the driver as root"
        );
        let err = HostError::MemlockTooLow {
            needed: 4 << 20,
            limit: 64 << 10,
        };
        assert!(err.to_string().contains("ulimit -l"));
    }

    #[test]
    fn each_error_maps_to_an_errno() {
        assert_eq!(HostError::NoIommu.errno(), Errno::ENODEV);
        let os = HostError::os("open /dev/vfio/vfio", io::Error::from_raw_os_error(13));
        assert_eq!(os.errno(), Errno::EACCES);
        assert_eq!(
            Errno::from(HostError::Permission {
                path: "/dev/vfio/7".into()
            }),
            Errno::EACCES
        );
    }
}
