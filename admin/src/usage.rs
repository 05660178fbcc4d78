//! What is using a PCI device: the reasons not to take it away from its driver.
//!
//! A device handed to a userspace driver vanishes from the kernel's view: its block devices,
//! network interfaces and open nodes go with it. [`uses`] finds, through sysfs and procfs, what
//! would break:
//!
//! - a block device of the device (a disk, a partition, an NVMe namespace), or one built on it
//!   (a device-mapper or MD device in its `holders`), that is mounted (`/proc/self/mountinfo`,
//!   matched by device number or by source) or used as swap (`/proc/swaps`); the root
//!   filesystem is called out as such;
//! - a network interface of the device that is administratively up (`IFF_UP` in its `flags`);
//! - a process that has the device's VFIO group node, VFIO device cdev or UIO node open (unbinding
//!   waits for it).
//!
//! The block devices and interfaces of a device are those whose sysfs directories lie below the
//! device's own (`/sys/devices/pci.../0000:00:04.0/...`), whatever the driver.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use drydock_host::error::HostError;
use drydock_host::sysfs::{link_name, list_dir, parse_hex, read_optional, Sysfs};
use drydock_host::vfio;

/// `IFF_UP`: the interface is administratively up.
const IFF_UP: u64 = 0x1;

/// One use of a device, with what ends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Use {
    /// A block device is mounted.
    Mounted {
        /// The device's own block device (`nvme0n1p1`).
        block: String,
        /// The block device that is mounted, if it is one built on `block` (`dm-0`).
        through: Option<String>,
        /// Where it is mounted.
        mount_point: String,
    },
    /// The root filesystem lives on the device.
    RootFilesystem {
        /// The device's own block device.
        block: String,
        /// The block device that is mounted at `/`, if it is one built on `block`.
        through: Option<String>,
    },
    /// A block device is used as swap.
    Swap {
        /// The device's own block device.
        block: String,
        /// The swap device as `/proc/swaps` names it.
        path: String,
    },
    /// A network interface is up.
    InterfaceUp {
        /// The interface's name.
        interface: String,
    },
    /// A process has one of the device's nodes open.
    Open {
        /// The node (`/dev/vfio/7`, `/dev/uio0`).
        node: String,
        /// The process ID.
        pid: u32,
        /// The process's command name.
        command: String,
    },
}

impl Use {
    /// Whether this use is the running system itself (the root filesystem).
    pub fn is_root_filesystem(&self) -> bool {
        matches!(self, Use::RootFilesystem { .. })
    }

    /// The kind of use, one word for scripts: `mounted`, `root-filesystem`, `swap`,
    /// `interface-up` or `open`.
    pub fn kind(&self) -> &'static str {
        match self {
            Use::Mounted { .. } => "mounted",
            Use::RootFilesystem { .. } => "root-filesystem",
            Use::Swap { .. } => "swap",
            Use::InterfaceUp { .. } => "interface-up",
            Use::Open { .. } => "open",
        }
    }

    /// A few words for a table: `eth0 up`, `/data mounted`, `root fs`, `swap nvme1n1p2`,
    /// `open by 4242 (edu)`. The [`Display`](fmt::Display) form says more, and how to end it.
    pub fn summary(&self) -> String {
        match self {
            Use::Mounted { mount_point, .. } => format!("{mount_point} mounted"),
            Use::RootFilesystem { .. } => "root fs".to_owned(),
            Use::Swap { block, .. } => format!("swap {block}"),
            Use::InterfaceUp { interface } => format!("{interface} up"),
            Use::Open { pid, command, .. } => format!("open by {pid} ({command})"),
        }
    }
}

/// `block`, or `block (through dm-0)`.
fn named(block: &str, through: &Option<String>) -> String {
    match through {
        Some(holder) => format!("{block} (through {holder})"),
        None => block.to_owned(),
    }
}

impl fmt::Display for Use {
    /// The use and the command that ends it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Use::Mounted {
                block,
                through,
                mount_point,
            } => write!(
                f,
                "{} is mounted at {mount_point} (`umount {}`)",
                named(block, through),
                shell_word(mount_point)
            ),
            Use::RootFilesystem { block, through } => write!(
                f,
                "{} holds the root filesystem (the running system cannot give it up)",
                named(block, through)
            ),
            Use::Swap { block, path } => {
                write!(f, "{block} is in use as swap (`swapoff {path}`)")
            }
            Use::InterfaceUp { interface } => write!(
                f,
                "network interface {interface} is up (`ip link set dev {interface} down`)"
            ),
            Use::Open { node, pid, command } => write!(
                f,
                "{node} is open in process {pid} ({command}; stop it, or `kill {pid}`)"
            ),
        }
    }
}

/// `word` as one shell word: quoted when it holds anything but safe characters.
fn shell_word(word: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c);
    if !word.is_empty() && word.chars().all(safe) {
        word.to_owned()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// A block device of the PCI device, or built on one.
#[derive(Debug)]
struct Block {
    /// The PCI device's own block device this one is, or is built on.
    own: String,
    /// This block device's name.
    name: String,
    /// Its `major:minor`.
    dev: Option<String>,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug)]
struct Mount {
    /// `major:minor` of the mounted filesystem.
    dev: String,
    /// Where it is mounted.
    mount_point: String,
    /// The mount source (`/dev/nvme0n1p1`).
    source: String,
}

/// Undoes the octal escapes mountinfo uses for spaces, tabs, newlines and backslashes.
fn unescape(field: &str) -> String {
    let mut out = String::new();
    let mut rest = field;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let code = rest
            .get(i + 1..i + 4)
            .and_then(|o| u8::from_str_radix(o, 8).ok());
        match code {
            Some(byte) => {
                out.push(char::from(byte));
                rest = &rest[i + 4..];
            }
            None => {
                out.push('\\');
                rest = &rest[i + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses `/proc/self/mountinfo`.
fn parse_mountinfo(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let source = after.split(' ').nth(1)?;
            Some(Mount {
                dev: (*fields.get(2)?).to_owned(),
                mount_point: unescape(fields.get(4)?),
                source: unescape(source),
            })
        })
        .collect()
}

/// The real sysfs directory of `link` (a `sys/bus/pci/devices` or `sys/class` entry).
fn real_dir(link: &Path) -> Option<PathBuf> {
    fs::canonicalize(link).ok()
}

/// The entries of `sys/class/<class>` whose directories lie below `device`.
fn class_members(sysfs: &Sysfs, class: &str, device: &Path) -> Result<Vec<String>, HostError> {
    let dir = sysfs.path(&format!("sys/class/{class}"));
    Ok(list_dir(&dir)?
        .into_iter()
        .filter(|name| real_dir(&dir.join(name)).is_some_and(|real| real.starts_with(device)))
        .collect())
}

/// The block devices of the device and those built on them (holders, recursively).
fn blocks(sysfs: &Sysfs, device: &Path) -> Result<Vec<Block>, HostError> {
    let class = sysfs.path("sys/class/block");
    let mut found = Vec::new();
    for own in class_members(sysfs, "block", device)? {
        let mut pending = vec![own.clone()];
        while let Some(name) = pending.pop() {
            if found.iter().any(|b: &Block| b.own == own && b.name == name) {
                continue;
            }
            let dir = class.join(&name);
            for holder in list_dir(&dir.join("holders"))? {
                let holder = link_name(&dir.join("holders").join(&holder)).unwrap_or(holder);
                pending.push(holder);
            }
            found.push(Block {
                own: own.clone(),
                dev: read_optional(&dir.join("dev"))?,
                name,
            });
        }
    }
    Ok(found)
}

/// Returns what uses the PCI device at `address` (canonical form); empty if nothing does.
pub fn uses(sysfs: &Sysfs, address: &str) -> Result<Vec<Use>, HostError> {
    let Some(device) = real_dir(&sysfs.device_dir(address)) else {
        return Err(HostError::NoDevice {
            bdf: address.to_owned(),
        });
    };
    let mut found = Vec::new();

    let blocks = blocks(sysfs, &device)?;
    if !blocks.is_empty() {
        let mountinfo = read_optional(&sysfs.path("proc/self/mountinfo"))?.unwrap_or_default();
        let mounts = parse_mountinfo(&mountinfo);
        for block in &blocks {
            let through = (block.name != block.own).then(|| block.name.clone());
            let node = format!("/dev/{}", block.name);
            for mount in mounts
                .iter()
                .filter(|m| block.dev.as_deref() == Some(m.dev.as_str()) || m.source == node)
            {
                let used = if mount.mount_point == "/" {
                    Use::RootFilesystem {
                        block: block.own.clone(),
                        through: through.clone(),
                    }
                } else {
                    Use::Mounted {
                        block: block.own.clone(),
                        through: through.clone(),
                        mount_point: mount.mount_point.clone(),
                    }
                };
                if !found.contains(&used) {
                    found.push(used);
                }
            }
        }
        let swaps = read_optional(&sysfs.path("proc/swaps"))?.unwrap_or_default();
        for path in swaps
            .lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next())
        {
            let path = unescape(path);
            if let Some(block) = blocks.iter().find(|b| path == format!("/dev/{}", b.name)) {
                found.push(Use::Swap {
                    block: block.own.clone(),
                    path,
                });
            }
        }
    }

    let net = sysfs.path("sys/class/net");
    for interface in class_members(sysfs, "net", &device)? {
        let flags = read_optional(&net.join(&interface).join("flags"))?
            .and_then(|text| parse_hex(&text))
            .unwrap_or(0);
        if flags & IFF_UP != 0 {
            found.push(Use::InterfaceUp { interface });
        }
    }

    let mut nodes = Vec::new();
    if let Some(group) = sysfs.iommu_group(address) {
        if sysfs.driver(address).as_deref() == Some("vfio-pci") {
            nodes.push(format!("/dev/vfio/{group}"));
            nodes.extend(sysfs.vfio_cdev(address).map(|name| vfio::cdev_path(&name)));
        }
    }
    for uio in sysfs.uio_nodes(address)? {
        nodes.push(format!("/dev/{uio}"));
    }
    for node in nodes {
        for (pid, command) in sysfs.openers(&node) {
            found.push(Use::Open {
                node: node.clone(),
                pid,
                command,
            });
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_sim::sysfs::FakeSys;

    #[test]
    fn an_idle_device_has_no_uses() {
        let fake = FakeSys::guest("idle");
        let sysfs = fake.sysfs();
        for address in sysfs.addresses().unwrap() {
            assert_eq!(uses(&sysfs, &address).unwrap(), vec![], "{address}");
        }
    }

    #[test]
    fn mounted_partitions_and_holders_are_found_by_number_and_by_source() {
        let fake = FakeSys::guest("mounted");
        fake.add_block_device("0000:00:04.0", Some("nvme0n1"), "nvme0n1p1", (259, 2));
        fake.add_block_device("0000:00:04.0", Some("nvme0n1"), "nvme0n1p2", (259, 3));
        fake.add_holder("nvme0n1p2", "dm-0", (254, 0));
        fake.add_mount((259, 2), "/dev/nvme0n1p1", "/mnt/my\\040data", "ext4");
        // btrfs shows an anonymous device number: the source names the device.
        fake.add_mount((0, 45), "/dev/dm-0", "/home", "btrfs");
        // Another controller's namespace is mounted: not this device's business.
        fake.add_mount((259, 1), "/dev/nvme1n1", "/srv", "xfs");
        let found = uses(&fake.sysfs(), "0000:00:04.0").unwrap();
        assert_eq!(
            found,
            vec![
                Use::Mounted {
                    block: "nvme0n1p1".into(),
                    through: None,
                    mount_point: "/mnt/my data".into()
                },
                Use::Mounted {
                    block: "nvme0n1p2".into(),
                    through: Some("dm-0".into()),
                    mount_point: "/home".into()
                },
            ]
        );
        assert_eq!(
            found[0].to_string(),
            "nvme0n1p1 is mounted at /mnt/my data (`umount '/mnt/my data'`)"
        );
        assert_eq!(found[0].summary(), "/mnt/my data mounted");
        assert_eq!(found[1].kind(), "mounted");
    }

    #[test]
    fn the_root_filesystem_and_swap_are_named() {
        let fake = FakeSys::guest("root");
        fake.add_block_device("0000:00:05.0", Some("nvme1n1"), "nvme1n1p1", (259, 4));
        fake.add_block_device("0000:00:05.0", Some("nvme1n1"), "nvme1n1p2", (259, 5));
        fake.add_mount((259, 4), "/dev/nvme1n1p1", "/", "ext4");
        fake.add_swap("/dev/nvme1n1p2");
        let found = uses(&fake.sysfs(), "0000:00:05.0").unwrap();
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].is_root_filesystem());
        assert_eq!(
            found[1],
            Use::Swap {
                block: "nvme1n1p2".into(),
                path: "/dev/nvme1n1p2".into()
            }
        );
        assert!(found[1].to_string().contains("swapoff /dev/nvme1n1p2"));
        let summaries: Vec<String> = found.iter().map(Use::summary).collect();
        assert_eq!(summaries, ["root fs", "swap nvme1n1p2"]);
        assert_eq!(found[0].kind(), "root-filesystem");
    }

    #[test]
    fn an_interface_counts_only_when_up() {
        let fake = FakeSys::guest("net");
        assert_eq!(uses(&fake.sysfs(), "0000:00:06.0").unwrap(), vec![]);
        fake.write_file(
            "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
            "0x1003\n",
        );
        let found = uses(&fake.sysfs(), "0000:00:06.0").unwrap();
        assert_eq!(
            found,
            vec![Use::InterfaceUp {
                interface: "eth0".into()
            }]
        );
        assert!(found[0].to_string().contains("ip link set dev eth0 down"));
        assert_eq!(found[0].summary(), "eth0 up");
        assert_eq!(found[0].kind(), "interface-up");
    }

    #[test]
    fn an_open_group_node_is_a_use() {
        let fake = FakeSys::guest("open");
        let sysfs = fake.sysfs();
        sysfs
            .set_driver_override("0000:00:02.0", Some("vfio-pci"))
            .unwrap();
        sysfs.drivers_probe("0000:00:02.0").unwrap();
        fake.add_open_file(4242, "edu", "/dev/vfio/2");
        fake.add_open_file(4243, "other", "/dev/vfio/3");
        assert_eq!(
            uses(&sysfs, "0000:00:02.0").unwrap(),
            vec![Use::Open {
                node: "/dev/vfio/2".into(),
                pid: 4242,
                command: "edu".into()
            }]
        );
        let found = uses(&sysfs, "0000:00:02.0").unwrap();
        assert_eq!(
            (found[0].kind(), found[0].summary().as_str()),
            ("open", "open by 4242 (edu)")
        );
    }

    #[test]
    fn an_open_device_cdev_is_a_use() {
        let fake = FakeSys::guest("open-cdev");
        fake.enable_vfio_cdev();
        let sysfs = fake.sysfs();
        sysfs
            .set_driver_override("0000:00:02.0", Some("vfio-pci"))
            .unwrap();
        sysfs.drivers_probe("0000:00:02.0").unwrap();
        fake.add_open_file(4242, "edu", "/dev/vfio/devices/vfio0");
        assert_eq!(
            uses(&sysfs, "0000:00:02.0").unwrap(),
            vec![Use::Open {
                node: "/dev/vfio/devices/vfio0".into(),
                pid: 4242,
                command: "edu".into()
            }]
        );
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b\\134c"), "/a b\\c");
        assert_eq!(unescape("/plain"), "/plain");
        assert_eq!(unescape("/odd\\x"), "/odd\\x");
    }
}
