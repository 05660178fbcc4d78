//! Handing a device's VFIO nodes to a user, so that its driver runs without root, and taking
//! them back.
//!
//! A driver reaches a device bound to vfio-pci through nodes that belong to root: its IOMMU
//! group's node `/dev/vfio/<group>` (the group interface), or its device cdev
//! `/dev/vfio/devices/vfioN` with `/dev/iommu` (the cdev interface, where the kernel offers it).
//! VFIO's container `/dev/vfio/vfio` is open to every user already (the kernel makes it 0666).
//! [`hand_over`] gives the user (and, if named, the group) of an [`Owner`] every one of those
//! nodes that the device has, so that the driver may use either interface, and records what each
//! node was, one file per device under `run/drydock/owners/` (`/run` is emptied at boot, and the
//! nodes are made afresh then). [`give_back`] restores them.
//!
//! `/dev/iommu` is one node for every device: its original state is the one recorded when it was
//! first handed over (the record of a device handed later copies it), and it is restored only
//! with the last device that had it handed over. The group node and the cdev vanish when the
//! device leaves vfio-pci, and the kernel makes them afresh, root's, when it comes back.
//!
//! The pages a driver maps for DMA are charged to `RLIMIT_MEMLOCK` (the process's through the
//! group interface, the user's through iommufd), which a bind cannot raise: `drydock check` run
//! as the user says whether it is enough.

use std::fmt;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;

use drydock_host::error::HostError;
use drydock_host::sysfs::{file_error, list_dir, read_optional, Sysfs};
use drydock_host::user::{group_name, lookup_group, lookup_user, user_name};
use drydock_host::vfio::{cdev_path, group_node, IOMMUFD_PATH};

use crate::error::BindError;

/// Where the records live, under the tree's root.
const RECORDS: &str = "run/drydock/owners";

/// Who a device's nodes are handed to: `NAME`, `NAME:GROUP` or `:GROUP`, as `chown` takes it
/// (names or numbers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    /// The user, as (uid, name as given).
    pub user: Option<(u32, String)>,
    /// The group, as (gid, name as given).
    pub group: Option<(u32, String)>,
}

impl Owner {
    /// Parses `NAME`, `NAME:GROUP` or `:GROUP`, looking the names up.
    pub fn parse(text: &str) -> Result<Self, HostError> {
        let (user, group) = match text.split_once(':') {
            Some((user, group)) => (user, Some(group)),
            None => (text, None),
        };
        let user = match user.trim() {
            "" => None,
            name => Some((lookup_user(name)?.0, name.to_owned())),
        };
        let group = match group.map(str::trim) {
            None | Some("") => None,
            Some(name) => Some((lookup_group(name)?, name.to_owned())),
        };
        if user.is_none() && group.is_none() {
            return Err(HostError::NoSuchUser {
                kind: "user",
                name: text.to_owned(),
            });
        }
        Ok(Self { user, group })
    }

    /// What a node becomes when handed over from `before`: the owner's user and group where
    /// given, read and write for each of them.
    fn apply(&self, before: NodeMode) -> NodeMode {
        let mut after = before;
        if let Some((uid, _)) = self.user {
            after.uid = uid;
            after.mode |= 0o600;
        }
        if let Some((gid, _)) = self.group {
            after.gid = gid;
            after.mode |= 0o060;
        }
        after
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.user, &self.group) {
            (Some((_, user)), Some((_, group))) => write!(f, "user {user} and group {group}"),
            (Some((_, user)), None) => write!(f, "user {user}"),
            (None, Some((_, group))) => write!(f, "group {group}"),
            (None, None) => f.write_str("nobody"),
        }
    }
}

/// A node's owner, group and permission bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeMode {
    /// The owner.
    pub uid: u32,
    /// The group.
    pub gid: u32,
    /// The permission bits (`0o600`).
    pub mode: u32,
}

impl NodeMode {
    /// Reads the node at `path`.
    fn of(path: &std::path::Path) -> Result<Self, HostError> {
        let meta = fs::metadata(path).map_err(|err| file_error("reading", path, err))?;
        Ok(Self {
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode() & 0o7777,
        })
    }

    /// Gives the node at `path` this owner, group and mode.
    fn set(self, path: &std::path::Path) -> Result<(), HostError> {
        let failed = |err: io::Error| {
            HostError::os(
                format!(
                    "giving {} to {self} (only root may, as `drydock bind` runs)",
                    path.display()
                ),
                err,
            )
        };
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid)).map_err(failed)?;
        fs::set_permissions(path, fs::Permissions::from_mode(self.mode)).map_err(failed)
    }

    /// The record line of `node` in this state.
    fn line(self, node: &str) -> String {
        format!("{node} {} {} {:o}\n", self.uid, self.gid, self.mode)
    }

    /// Parses a record line into (node, state).
    fn parse_line(line: &str) -> Option<(String, Self)> {
        let mut words = line.split_whitespace();
        let node = words.next()?.to_owned();
        let uid = words.next()?.parse().ok()?;
        let gid = words.next()?.parse().ok()?;
        let mode = u32::from_str_radix(words.next()?, 8).ok()?;
        Some((node, Self { uid, gid, mode }))
    }
}

impl fmt::Display for NodeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{} {:04o}",
            user_name(self.uid),
            group_name(self.gid),
            self.mode
        )
    }
}

/// What was done to one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeChange {
    /// The node, as `/dev/...`.
    pub node: String,
    /// Its state before.
    pub before: NodeMode,
    /// Its state after.
    pub after: NodeMode,
}

impl fmt::Display for NodeChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} -> {}", self.node, self.before, self.after)
    }
}

/// The VFIO nodes through which a driver reaches the device at `address` (canonical form, bound
/// to vfio-pci): its group node, and its device cdev with `/dev/iommu` where the kernel offers
/// them.
pub fn nodes(sysfs: &Sysfs, address: &str) -> Result<Vec<String>, BindError> {
    let group = sysfs.iommu_group(address).ok_or(HostError::NoGroup {
        bdf: address.to_owned(),
    })?;
    if sysfs.is_noiommu_group(group) {
        return Err(BindError::NoIommuOwner {
            bdf: address.to_owned(),
        });
    }
    let mut nodes = vec![group_node(sysfs, group)];
    if let Some(cdev) = sysfs.vfio_cdev(address) {
        if sysfs.path(IOMMUFD_PATH).exists() {
            nodes.push(cdev_path(&cdev));
            nodes.push(IOMMUFD_PATH.to_owned());
        }
    }
    Ok(nodes)
}

/// The ownership records of one system.
struct Records {
    dir: PathBuf,
}

impl Records {
    fn of(sysfs: &Sysfs) -> Self {
        Self {
            dir: sysfs.path(RECORDS),
        }
    }

    /// The record of the device at `address`: each node handed over and its original state.
    fn get(&self, address: &str) -> Result<Vec<(String, NodeMode)>, HostError> {
        let path = self.dir.join(address);
        Ok(read_optional(&path)?
            .unwrap_or_default()
            .lines()
            .filter_map(NodeMode::parse_line)
            .collect())
    }

    /// Every device with a record, sorted.
    fn addresses(&self) -> Result<Vec<String>, HostError> {
        Ok(list_dir(&self.dir)?
            .into_iter()
            .filter(|name| !name.starts_with('.'))
            .collect())
    }

    /// The original state of `node` in the record of any device but `address`.
    fn original_elsewhere(&self, address: &str, node: &str) -> Result<Option<NodeMode>, HostError> {
        for other in self.addresses()? {
            if other == address {
                continue;
            }
            if let Some((_, mode)) = self.get(&other)?.into_iter().find(|(n, _)| n == node) {
                return Ok(Some(mode));
            }
        }
        Ok(None)
    }

    fn put(&self, address: &str, entries: &[(String, NodeMode)]) -> Result<(), HostError> {
        fs::create_dir_all(&self.dir).map_err(|err| file_error("creating", &self.dir, err))?;
        let text: String = entries.iter().map(|(node, mode)| mode.line(node)).collect();
        // Written aside and renamed, so a reader never sees half a record.
        let path = self.dir.join(address);
        let partial = self.dir.join(format!(".{address}.partial"));
        fs::write(&partial, text).map_err(|err| file_error("writing", &partial, err))?;
        fs::rename(&partial, &path).map_err(|err| file_error("writing", &path, err))
    }

    fn forget(&self, address: &str) -> Result<(), HostError> {
        let path = self.dir.join(address);
        match fs::remove_file(&path) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => {
                Err(file_error("removing", &path, err))
            }
            _ => Ok(()),
        }
    }
}

/// Hands the VFIO nodes of the device at `address` (canonical form, bound to vfio-pci) to
/// `owner`, recording what they were; see the module documentation. Returns what changed.
pub fn hand_over(
    sysfs: &Sysfs,
    address: &str,
    owner: &Owner,
) -> Result<Vec<NodeChange>, BindError> {
    let records = Records::of(sysfs);
    let mut record = records.get(address)?;
    let mut changes = Vec::new();
    for node in nodes(sysfs, address)? {
        let path = sysfs.path(&node);
        let before = NodeMode::of(&path)?;
        if !record.iter().any(|(n, _)| *n == node) {
            let original = records
                .original_elsewhere(address, &node)?
                .unwrap_or(before);
            record.push((node.clone(), original));
        }
        // Recorded before anything changes, so an interrupted bind can still be given back.
        records.put(address, &record)?;
        let after = owner.apply(before);
        if after != before {
            after.set(&path)?;
        }
        changes.push(NodeChange {
            node,
            before,
            after,
        });
    }
    Ok(changes)
}

/// Gives the VFIO nodes of the device at `address` back to what they were before
/// [`hand_over`], and forgets the record. A node shared with another device still handed over
/// (`/dev/iommu`) stays as it is, and a node that is gone (the device left vfio-pci) needs
/// nothing. Returns what changed; nothing for a device never handed over.
pub fn give_back(sysfs: &Sysfs, address: &str) -> Result<Vec<NodeChange>, BindError> {
    let records = Records::of(sysfs);
    let mut changes = Vec::new();
    for (node, original) in records.get(address)? {
        let path = sysfs.path(&node);
        if !path.exists() || records.original_elsewhere(address, &node)?.is_some() {
            continue;
        }
        let before = NodeMode::of(&path)?;
        if before != original {
            original.set(&path)?;
            changes.push(NodeChange {
                node,
                before,
                after: original,
            });
        }
    }
    records.forget(address)?;
    Ok(changes)
}

/// The devices whose nodes are handed over, sorted.
pub fn handed_over(sysfs: &Sysfs) -> Result<Vec<String>, HostError> {
    Records::of(sysfs).addresses()
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_sim::sysfs::FakeSys;

    const EDU: &str = "0000:00:02.0";
    const NIC: &str = "0000:00:06.0";

    fn mode_of(fake: &FakeSys, node: &str) -> NodeMode {
        NodeMode::of(&fake.root().join(node.trim_start_matches('/'))).unwrap()
    }

    /// This process's own user and group (those of a directory it made), the only ones a test
    /// not run as root may give.
    fn ids(fake: &FakeSys) -> (u32, u32) {
        let meta = fs::metadata(fake.root()).unwrap();
        (meta.uid(), meta.gid())
    }

    fn me(fake: &FakeSys) -> Owner {
        let (uid, gid) = ids(fake);
        Owner::parse(&format!("{uid}:{gid}")).unwrap()
    }

    fn bound(fake: &FakeSys, addresses: &[&str]) {
        let sysfs = fake.sysfs();
        crate::binding::bind(&sysfs, addresses, super::super::UserspaceDriver::VfioPci, {
            super::super::BindOptions {
                group: true,
                ..Default::default()
            }
        })
        .unwrap();
    }

    /// Sets every node of the device at `address` to root's default, 0600.
    fn restrict(fake: &FakeSys, address: &str) {
        for node in nodes(&fake.sysfs(), address).unwrap() {
            let path = fake.root().join(node.trim_start_matches('/'));
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        }
    }

    #[test]
    fn owners_parse_as_chown_takes_them() {
        let root = Owner::parse("root").unwrap();
        assert_eq!(root.user, Some((0, "root".to_owned())));
        assert_eq!(root.group, None);
        assert_eq!(root.to_string(), "user root");
        let both = Owner::parse("0:0").unwrap();
        assert_eq!(both.group, Some((0, "0".to_owned())));
        assert_eq!(Owner::parse(":0").unwrap().to_string(), "group 0");
        assert!(Owner::parse(":").is_err());
        assert!(Owner::parse("no-such-user-here").is_err());
    }

    #[test]
    fn the_group_node_alone_without_the_cdev() {
        let fake = FakeSys::guest("owner-group");
        bound(&fake, &[EDU]);
        assert_eq!(nodes(&fake.sysfs(), EDU).unwrap(), vec!["/dev/vfio/2"]);
    }

    #[test]
    fn nodes_are_handed_over_and_given_back() {
        let fake = FakeSys::guest("owner");
        fake.enable_vfio_cdev();
        bound(&fake, &[EDU, NIC]);
        let sysfs = fake.sysfs();
        let edu_nodes = nodes(&sysfs, EDU).unwrap();
        assert_eq!(
            edu_nodes,
            vec!["/dev/vfio/2", "/dev/vfio/devices/vfio0", "/dev/iommu"]
        );
        restrict(&fake, EDU);
        restrict(&fake, NIC);
        let owner = me(&fake);
        let changes = hand_over(&sysfs, EDU, &owner).unwrap();
        assert_eq!(
            changes.iter().map(|c| c.node.as_str()).collect::<Vec<_>>(),
            edu_nodes
        );
        for node in &edu_nodes {
            let now = mode_of(&fake, node);
            assert_eq!(now.mode, 0o660, "{node}");
            assert_eq!((now.uid, now.gid), ids(&fake));
        }
        // The second device's /dev/iommu record is root's original, not the handed-over state.
        fs::set_permissions(
            fake.root().join("dev/iommu"),
            fs::Permissions::from_mode(0o666),
        )
        .unwrap();
        hand_over(&sysfs, NIC, &owner).unwrap();
        // Handing over again keeps the first record.
        hand_over(&sysfs, EDU, &owner).unwrap();
        assert_eq!(handed_over(&sysfs).unwrap(), vec![EDU, NIC]);
        // /dev/iommu stays handed over while the NIC has it.
        let back = give_back(&sysfs, EDU).unwrap();
        let back_nodes: Vec<_> = back.iter().map(|c| c.node.as_str()).collect();
        assert_eq!(back_nodes, vec!["/dev/vfio/2", "/dev/vfio/devices/vfio0"]);
        assert_eq!(mode_of(&fake, "/dev/vfio/2").mode, 0o600);
        assert_eq!(mode_of(&fake, "/dev/iommu").mode, 0o666);
        let back = give_back(&sysfs, NIC).unwrap();
        assert!(back.iter().any(|c| c.node == "/dev/iommu"), "{back:?}");
        assert_eq!(mode_of(&fake, "/dev/iommu").mode, 0o600);
        assert_eq!(handed_over(&sysfs).unwrap(), Vec::<String>::new());
        // Nothing recorded, nothing to give back.
        assert_eq!(give_back(&sysfs, EDU).unwrap(), Vec::new());
    }

    #[test]
    fn a_node_gone_with_the_device_needs_nothing() {
        let fake = FakeSys::guest("owner-gone");
        bound(&fake, &[EDU]);
        let sysfs = fake.sysfs();
        restrict(&fake, EDU);
        hand_over(&sysfs, EDU, &me(&fake)).unwrap();
        sysfs.unbind(EDU).unwrap();
        assert!(!fake.root().join("dev/vfio/2").exists());
        assert_eq!(give_back(&sysfs, EDU).unwrap(), Vec::new());
        assert_eq!(handed_over(&sysfs).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn a_no_iommu_device_is_not_handed_over() {
        let fake = FakeSys::new("owner-noiommu");
        fake.add_device(&drydock_sim::sysfs::FakeDevice::edu(EDU));
        fake.add_driver("vfio-pci", &[]);
        fake.set_vfio_noiommu_mode(true);
        bound(&fake, &[EDU]);
        let err = hand_over(&fake.sysfs(), EDU, &me(&fake)).unwrap_err();
        assert!(matches!(err, BindError::NoIommuOwner { .. }), "{err:?}");
        assert!(err.to_string().contains("CAP_SYS_RAWIO"), "{err}");
    }
}
