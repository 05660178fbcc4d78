//! Who holds a VFIO device another process asked for.
//!
//! VFIO gives a device to one process at a time: a group's node opens once (a second `open`
//! fails with `EBUSY`), and a device cdev binds once (`VFIO_DEVICE_BIND_IOMMUFD` fails with
//! `EINVAL` while the device is open through another cdev file, `EBUSY` while its group is open,
//! `EPERM` while another process's iommufd has a device of the group).
//! The two exclude each other too: the kernel refuses a group while any of its devices' cdevs is
//! bound, and a cdev while its group is open. So whoever holds a device has its group's node or a
//! device cdev of its group open, and `/proc/<pid>/fd` shows which process ([`Sysfs::openers`]).

use crate::error::HostError;
use crate::sysfs::Sysfs;

use super::group::group_node;
use super::interface::cdev_path;

/// The nodes through which a process holds a device of IOMMU group `group`: the group's node and
/// the device cdevs of the group's members.
fn nodes(sysfs: &Sysfs, group: u32) -> Vec<String> {
    let members = sysfs.group_members(group).unwrap_or_default();
    let cdevs = members
        .iter()
        .filter_map(|member| sysfs.vfio_cdev(member))
        .map(|name| cdev_path(&name));
    std::iter::once(group_node(sysfs, group))
        .chain(cdevs)
        .collect()
}

/// The processes holding a device of IOMMU group `group` (its group's node, or a device cdev of
/// the group), as (pid, command name), sorted; processes this user may not inspect are not seen.
pub fn holders(sysfs: &Sysfs, group: u32) -> Vec<(u32, String)> {
    let mut holders: Vec<(u32, String)> = nodes(sysfs, group)
        .iter()
        .flat_map(|node| sysfs.openers(node))
        .collect();
    holders.sort();
    holders.dedup();
    holders
}

/// The error for the device at `address` in IOMMU group `group`, which VFIO refused as in use (or
/// which is in use, for a diagnosis): the processes holding it, found through their open files.
pub fn in_use(sysfs: &Sysfs, address: &str, group: u32) -> HostError {
    HostError::DeviceInUse {
        bdf: address.to_owned(),
        holders: holders(sysfs, group),
        nodes: nodes(sysfs, group),
    }
}
