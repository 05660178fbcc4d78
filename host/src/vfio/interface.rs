//! Which of VFIO's two interfaces reaches a device, and why.
//!
//! Linux offers a VFIO device two ways:
//!
//! - the **group** interface: `/dev/vfio/<group>` attached to a container (`/dev/vfio/vfio`),
//!   the device's file from `VFIO_GROUP_GET_DEVICE_FD`; every kernel with VFIO has it;
//! - the **device cdev** with **iommufd**: `/dev/vfio/devices/vfioN` opened directly, bound to an
//!   iommufd (`/dev/iommu`) and attached to an I/O address space (IOAS) there; kernels built with
//!   `CONFIG_VFIO_DEVICE_CDEV` and `CONFIG_IOMMUFD` (Linux 6.6 and later) have it.
//!
//! In VFIO's no-IOMMU mode the device's group is a `vfio-noiommu` one, and kernels that also
//! have `CONFIG_IOMMUFD_NOIOMMU` (Linux 7.3) give it a cdev, `/dev/vfio/devices/noiommu-vfioN`,
//! bound to an iommufd but attached to no IOAS: both ways its DMA goes to physical addresses,
//! with no isolation.
//!
//! Once the device's file is open, both are the same device file (regions, interrupts, reset);
//! they differ in how the file is obtained and in the ioctls that map DMA. drydock takes the
//! cdev when the kernel offers it for the device and this user may open both nodes, and the group
//! otherwise; [`INTERFACE_ENV`] (or a driver binary's `--vfio=group|cdev`) forces either.
//! [`Offer::of`] reads what the kernel offers, [`choose`] decides; both are plain functions of
//! the system's trees, so the decision is testable on a fake one.

use std::fmt;

use crate::error::HostError;
use crate::sysfs::{Access, Sysfs};

/// The environment variable that forces an interface: `group`, `cdev` or `auto` (the default).
pub const INTERFACE_ENV: &str = "DRYDOCK_VFIO_INTERFACE";

/// The iommufd node.
pub const IOMMUFD_PATH: &str = "/dev/iommu";

/// Where the kernel puts VFIO's device cdevs.
pub const CDEV_DIR: &str = "/dev/vfio/devices";

/// The node of the device cdev `name` (`vfio0`): `/dev/vfio/devices/vfio0`.
pub fn cdev_path(name: &str) -> String {
    format!("{CDEV_DIR}/{name}")
}

/// A VFIO interface.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Interface {
    /// The group and its container (`VFIO_IOMMU_MAP_DMA`).
    Group,
    /// The device cdev bound to an iommufd IOAS (`IOMMU_IOAS_MAP`).
    Cdev,
}

impl Interface {
    /// The interface's name, as [`INTERFACE_ENV`] and `--vfio=` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Interface::Group => "group",
            Interface::Cdev => "cdev",
        }
    }

    /// Parses a choice: `group`, `cdev`, or `auto` (no preference, `None`).
    pub fn parse_choice(text: &str) -> Option<Option<Interface>> {
        match text.trim() {
            "group" => Some(Some(Interface::Group)),
            "cdev" => Some(Some(Interface::Cdev)),
            "auto" | "" => Some(None),
            _ => None,
        }
    }

    /// The interface `options` ask for (`Some`), else the one [`INTERFACE_ENV`] asks for, else
    /// none (`Ok(None)`: drydock chooses). A value of the variable that names no interface is an
    /// error rather than silently ignored.
    pub fn requested(options: Option<Interface>) -> Result<Option<Interface>, HostError> {
        if options.is_some() {
            return Ok(options);
        }
        match std::env::var(INTERFACE_ENV) {
            Ok(text) => Interface::parse_choice(&text).ok_or(HostError::BadInterface { text }),
            Err(_) => Ok(None),
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Interface::Group => "the VFIO group",
            Interface::Cdev => "the VFIO device cdev with iommufd",
        })
    }
}

/// What the kernel offers to reach one device bound to vfio-pci.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Offer {
    /// The device cdev's node (`/dev/vfio/devices/vfio0`) and whether this user may open it, if
    /// the kernel gave the device one.
    pub cdev: Option<(String, Access)>,
    /// `/dev/iommu`.
    pub iommufd: Access,
    /// Whether the device is in a group VFIO made in no-IOMMU mode.
    pub noiommu: bool,
}

impl Offer {
    /// Reads what the system `sysfs` describes offers for the device at `address` (canonical
    /// form) in IOMMU group `group`.
    pub fn of(sysfs: &Sysfs, address: &str, group: Option<u32>) -> Self {
        let cdev = sysfs.vfio_cdev(address).map(|name| {
            let node = cdev_path(&name);
            let access = Access::of(&sysfs.path(&node));
            (node, access)
        });
        Self {
            cdev,
            iommufd: Access::of(&sysfs.path(IOMMUFD_PATH)),
            noiommu: group.is_some_and(|group| sysfs.is_noiommu_group(group)),
        }
    }
}

/// The interface chosen for a device, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    /// The interface.
    pub interface: Interface,
    /// Why, for the log.
    pub reason: &'static str,
}

/// Chooses the interface for the device at `address` given what the kernel `offer`s and what was
/// `requested` ([`Interface::requested`]).
///
/// Without a request, the cdev is taken when the device has one, `/dev/iommu` exists, and this
/// user may open both; the group otherwise. A device in no-IOMMU mode takes its no-IOMMU cdev
/// (`noiommu-vfioN`) the same way, and its no-IOMMU group otherwise. A request for the cdev that
/// the kernel cannot serve is an error saying what is missing; a node this user may not open is
/// left to the open, whose error names it.
pub fn choose(
    address: &str,
    requested: Option<Interface>,
    offer: &Offer,
) -> Result<Choice, HostError> {
    let cdev_missing = if offer.noiommu && offer.cdev.is_none() {
        Some(
            "the kernel gave the no-IOMMU device no cdev (vfio-dev/noiommu-vfioN has no device \
             number: the kernel lacks CONFIG_VFIO_DEVICE_CDEV or CONFIG_IOMMUFD_NOIOMMU)",
        )
    } else if offer.cdev.is_none() {
        Some(
            "the kernel gave the device no cdev (/sys/bus/pci/devices/<BDF>/vfio-dev/vfioN has no \
             device number: the kernel lacks CONFIG_VFIO_DEVICE_CDEV)",
        )
    } else if offer.iommufd == Access::Missing {
        Some("/dev/iommu is missing (the kernel lacks CONFIG_IOMMUFD, or run `modprobe iommufd`)")
    } else {
        None
    };
    let choice = |interface, reason| Ok(Choice { interface, reason });
    match (requested, cdev_missing) {
        (Some(Interface::Group), _) => choice(Interface::Group, "as asked"),
        (Some(Interface::Cdev), Some(why)) => Err(HostError::NoVfioCdev {
            bdf: address.to_owned(),
            why,
        }),
        (Some(Interface::Cdev), None) => choice(Interface::Cdev, "as asked"),
        (None, Some(_)) if offer.noiommu && offer.cdev.is_none() => choice(
            Interface::Group,
            "no-IOMMU mode, no isolation; the kernel offers no no-IOMMU cdev",
        ),
        (None, Some(_)) if offer.cdev.is_none() => {
            choice(Interface::Group, "the kernel offers no device cdev")
        }
        (None, Some(_)) => choice(Interface::Group, "the kernel offers no iommufd"),
        (None, None) => {
            let cdev_denied = offer
                .cdev
                .as_ref()
                .is_some_and(|(_, a)| *a != Access::Granted);
            if offer.iommufd != Access::Granted {
                choice(Interface::Group, "this user may not open /dev/iommu")
            } else if cdev_denied {
                choice(Interface::Group, "this user may not open the device cdev")
            } else if offer.noiommu {
                choice(
                    Interface::Cdev,
                    "no-IOMMU mode, no isolation; the kernel offers the no-IOMMU cdev",
                )
            } else {
                choice(Interface::Cdev, "the kernel offers it")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EDU: &str = "0000:00:02.0";

    fn offer(cdev: Option<Access>, iommufd: Access) -> Offer {
        Offer {
            cdev: cdev.map(|access| ("/dev/vfio/devices/vfio0".to_owned(), access)),
            iommufd,
            noiommu: false,
        }
    }

    fn chosen(requested: Option<Interface>, offer: &Offer) -> Interface {
        choose(EDU, requested, offer).unwrap().interface
    }

    #[test]
    fn the_cdev_is_taken_when_offered_and_open_to_this_user() {
        let full = offer(Some(Access::Granted), Access::Granted);
        assert_eq!(chosen(None, &full), Interface::Cdev);
        assert_eq!(chosen(Some(Interface::Group), &full), Interface::Group);
        assert_eq!(chosen(Some(Interface::Cdev), &full), Interface::Cdev);
    }

    #[test]
    fn the_group_is_taken_when_the_cdev_is_not_usable() {
        for (offer, reason) in [
            (
                offer(None, Access::Granted),
                "the kernel offers no device cdev",
            ),
            (
                offer(Some(Access::Granted), Access::Missing),
                "the kernel offers no iommufd",
            ),
            (
                offer(Some(Access::Granted), Access::Denied),
                "this user may not open /dev/iommu",
            ),
            (
                offer(Some(Access::Denied), Access::Granted),
                "this user may not open the device cdev",
            ),
            (
                Offer {
                    noiommu: true,
                    ..offer(None, Access::Granted)
                },
                "no-IOMMU mode, no isolation; the kernel offers no no-IOMMU cdev",
            ),
        ] {
            let choice = choose(EDU, None, &offer).unwrap();
            assert_eq!(choice.interface, Interface::Group, "{offer:?}");
            assert_eq!(choice.reason, reason);
        }
    }

    #[test]
    fn a_no_iommu_device_takes_its_cdev_when_the_kernel_offers_one() {
        let noiommu = |cdev| Offer {
            noiommu: true,
            ..offer(cdev, Access::Granted)
        };
        let offered = noiommu(Some(Access::Granted));
        let choice = choose(EDU, None, &offered).unwrap();
        assert_eq!(choice.interface, Interface::Cdev);
        assert!(choice.reason.contains("no isolation"), "{}", choice.reason);
        assert_eq!(chosen(Some(Interface::Group), &offered), Interface::Group);
        let err = choose(EDU, Some(Interface::Cdev), &noiommu(None)).unwrap_err();
        assert!(err.to_string().contains("CONFIG_IOMMUFD_NOIOMMU"), "{err}");
    }

    #[test]
    fn a_forced_cdev_the_kernel_cannot_serve_says_what_is_missing() {
        let err = choose(EDU, Some(Interface::Cdev), &offer(None, Access::Granted)).unwrap_err();
        assert!(err.to_string().contains("CONFIG_VFIO_DEVICE_CDEV"), "{err}");
        assert!(err.to_string().contains(EDU), "{err}");
        let err = choose(
            EDU,
            Some(Interface::Cdev),
            &offer(Some(Access::Granted), Access::Missing),
        )
        .unwrap_err();
        assert!(err.to_string().contains("CONFIG_IOMMUFD"), "{err}");
        // A node this user may not open is the open's to report, naming the node.
        let denied = offer(Some(Access::Denied), Access::Denied);
        assert_eq!(chosen(Some(Interface::Cdev), &denied), Interface::Cdev);
    }

    #[test]
    fn choices_parse_as_documented() {
        assert_eq!(
            Interface::parse_choice("group"),
            Some(Some(Interface::Group))
        );
        assert_eq!(
            Interface::parse_choice("cdev\n"),
            Some(Some(Interface::Cdev))
        );
        assert_eq!(Interface::parse_choice("auto"), Some(None));
        assert_eq!(Interface::parse_choice("iommufd"), None);
        assert_eq!(Interface::Cdev.name(), "cdev");
        // Options win over the environment without reading it.
        assert_eq!(
            Interface::requested(Some(Interface::Group)).unwrap(),
            Some(Interface::Group)
        );
    }
}
