//! VFIO groups: the unit of isolation the IOMMU gives, and how devices are opened.
//!
//! The IOMMU can only tell apart the devices of different IOMMU groups, so VFIO hands out whole
//! groups: `/dev/vfio/<N>` is usable only while every device in group N is bound to a VFIO driver
//! or to none (the group is *viable*), and a group may be open in one process at a time. A process
//! opens each group once ([`Group::open`] shares it between the devices of the group) and attaches
//! it to a [`Container`] of its own: each group is its own DMA domain.
//!
//! A group VFIO made in no-IOMMU mode (named `vfio-noiommu` in sysfs) is opened the same way, from
//! `/dev/vfio/noiommu-<N>`, into a no-IOMMU container (see [`super::container`]).

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex, Weak};

use vfio_bindings::bindings::vfio as sys;

use super::container::{ioctl_error, open_node, Container, IommuType};
use super::holders::in_use;
use super::ioctl;
use crate::error::HostError;
use crate::sysfs::Sysfs;

/// The node of IOMMU group `group`: `/dev/vfio/<group>`, or `/dev/vfio/noiommu-<group>` for a
/// group VFIO made in no-IOMMU mode.
pub fn group_node(sysfs: &Sysfs, group: u32) -> String {
    if sysfs.is_noiommu_group(group) {
        format!("/dev/vfio/noiommu-{group}")
    } else {
        format!("/dev/vfio/{group}")
    }
}

/// The groups this process has open, by number.
static GROUPS: Mutex<Vec<(u32, Weak<Group>)>> = Mutex::new(Vec::new());

/// An open VFIO group attached to a container of its own.
///
/// # Invariants
///
/// `fd` is `Some` (an open group attached to `container`) until the group is dropped.
pub struct Group {
    number: u32,
    fd: Option<OwnedFd>,
    container: Arc<Container>,
}

impl Group {
    /// Opens IOMMU group `number` (or returns it if this process has it open), checks that it is
    /// viable, and attaches it to a new container, its own, so that its devices' DMA domain holds
    /// their mappings only. `sysfs` tells whether the group is a no-IOMMU one, names the devices
    /// that keep a group from being viable, and the processes that hold a group that is in use
    /// (`address` names the device asked for, for that error).
    pub fn open(number: u32, sysfs: &Sysfs, address: &str) -> Result<Arc<Group>, HostError> {
        let mut groups = GROUPS.lock().unwrap_or_else(|e| e.into_inner());
        groups.retain(|(_, group)| group.strong_count() > 0);
        if let Some(group) = groups
            .iter()
            .find(|(n, _)| *n == number)
            .and_then(|(_, group)| group.upgrade())
        {
            return Ok(group);
        }
        let iommu = if sysfs.is_noiommu_group(number) {
            IommuType::NoIommu
        } else {
            IommuType::Type1v2
        };
        let path = group_node(sysfs, number);
        let fd = match open_node(&path) {
            // Open in another process, or a device of the group is through its cdev.
            Err(HostError::Os { source, .. }) if source.raw_os_error() == Some(libc::EBUSY) => {
                return Err(in_use(sysfs, address, number))
            }
            other => other?,
        };
        let mut status = sys::vfio_group_status {
            argsz: size_of::<sys::vfio_group_status>() as u32,
            flags: 0,
        };
        // SAFETY: `fd` is a VFIO group and `status` a valid argument.
        unsafe { ioctl::group_get_status(fd.as_raw_fd(), &mut status) }
            .map_err(|e| ioctl_error(format!("VFIO_GROUP_GET_STATUS on {path}"), e))?;
        if status.flags & sys::VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(HostError::GroupNotViable {
                group: number,
                others: sysfs.group_blockers(number)?,
            });
        }
        let container = Arc::new(Container::open(iommu)?);
        container.attach(&fd, number)?;
        // INVARIANT: the group is open and attached.
        let group = Arc::new(Group {
            number,
            fd: Some(fd),
            container,
        });
        groups.push((number, Arc::downgrade(&group)));
        Ok(group)
    }

    /// Returns the group's number.
    pub fn number(&self) -> u32 {
        self.number
    }

    /// Returns the container the group is attached to.
    pub fn container(&self) -> &Arc<Container> {
        &self.container
    }

    /// Opens the device at `address` (canonical form) in this group.
    pub fn device_fd(&self, address: &str) -> Result<OwnedFd, HostError> {
        let name = CString::new(address).map_err(|_| HostError::BadAddress {
            text: address.to_owned(),
        })?;
        let group = self.fd.as_ref().expect("an open group has its fd");
        // SAFETY: `group` is a VFIO group and `name` a NUL-terminated string.
        let fd = unsafe { ioctl::group_get_device_fd(group.as_raw_fd(), name.as_ptr()) }.map_err(
            |e| {
                ioctl_error(
                    format!(
                        "VFIO_GROUP_GET_DEVICE_FD for {address} in group {}",
                        self.number
                    ),
                    e,
                )
            },
        )?;
        // SAFETY: the ioctl returned a new file descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(fd) = self.fd.take() {
            self.container.detach(fd);
        }
    }
}
