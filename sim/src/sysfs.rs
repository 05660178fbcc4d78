//! A fake system tree in a temporary directory, and a simulation of the kernel behind it.
//!
//! [`FakeSys`] lays out what the kernel shows, with real files and symbolic links: devices under
//! `sys/devices/pci0000:00`, linked from `sys/bus/pci/devices`, with `driver` and `iommu_group`
//! links; drivers under `sys/bus/pci/drivers` with their `bind`, `unbind`, `new_id` and
//! `remove_id` files; IOMMU groups, modules, block devices and network interfaces; and
//! `proc/self/mountinfo`, `proc/swaps`, `proc/cmdline` and processes' open files.
//!
//! A fake tree cannot react to writes by itself, so its [`Sysfs`] ([`FakeSys::sysfs`]) writes
//! through a [`SimulatedKernel`], which does what the kernel's PCI driver core does in answer
//! (pci-driver.c and the driver core's `bind`/`unbind`/`drivers_probe`), with the same errors, and
//! records every write so tests can also assert the exact sequence:
//!
//! - `driver_override`: stored; an empty write clears it, shown as `(null)`;
//! - a driver's `unbind`: the device loses its driver (`ENODEV` if that driver does not hold it);
//! - a driver's `bind`: `EBUSY` if the device has a driver, `ENODEV` if the driver does not
//!   match it (a `driver_override` naming another driver, or an ID in neither its static nor its
//!   dynamic table); a probe that fails (vfio-pci on a device without an IOMMU group, unless
//!   VFIO's no-IOMMU mode is on) gives `EINVAL`; otherwise the device is bound;
//! - `drivers_probe`: an unbound device is offered to the driver its override names, else to the
//!   drivers whose IDs match; a failed probe is silent, as in the kernel;
//! - `new_id`: the ID joins the driver's dynamic table and matching unbound devices are probed;
//! - loading a module registers its drivers, which then take the unbound devices they match.
//!
//! Binding a device to vfio-pci creates its group's `dev/vfio/<group>` node (a plain file) and
//! the last device leaving removes it; in no-IOMMU mode ([`FakeSys::set_vfio_noiommu_mode`]) a
//! device without a group gets a group of its own named `vfio-noiommu`, with the node
//! `dev/vfio/noiommu-<group>`, both gone when it leaves vfio-pci; uio_pci_generic gives the device
//! a `uio/uioN` entry and a `dev/uioN` node. vfio-pci also gives every device it takes a
//! `vfio-dev/vfioN` entry, as the kernel does since 6.1; on a kernel with VFIO's device cdev
//! ([`FakeSys::enable_vfio_cdev`]) the entry has a device number and the node
//! `dev/vfio/devices/vfioN` appears, except for no-IOMMU groups, whose devices get a numbered
//! `vfio-dev/noiommu-vfioN` and `dev/vfio/devices/noiommu-vfioN` on a kernel with the no-IOMMU
//! cdev too ([`FakeSys::enable_vfio_noiommu_cdev`]).

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use drydock_host::error::HostError;
use drydock_host::sysfs::kernel::{plain_write, Kernel};
use drydock_host::sysfs::{
    file_error, link_name, list_dir, read_optional, Sysfs, NOIOMMU_CDEV_PREFIX, NOIOMMU_GROUP_NAME,
    NOIOMMU_MODE_PARAMETER,
};

/// Drivers with no static ID table: they take a device only through `driver_override` or
/// `new_id`.
const OVERRIDE_ONLY: &[&str] = &["vfio-pci", "uio_pci_generic", "pci-stub"];

/// The directory of the fake devices, under the root.
const DEVICES: &str = "sys/devices/pci0000:00";

/// edu's `resource` file: BAR0 is 1 MiB of 32-bit memory, nothing else.
pub const EDU_RESOURCE: &str = "0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

/// An NVMe controller's: BAR0 is 16 KiB of 64-bit memory.
pub const NVME_RESOURCE: &str = "0x00000000febf0000 0x00000000febf3fff 0x0000000000140204\n\
    0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

/// pci-testdev's: BAR0 4 KiB of memory, BAR1 256 bytes of I/O ports.
pub const TESTDEV_RESOURCE: &str = "0x00000000feb00000 0x00000000feb00fff 0x0000000000040200\n\
    0x000000000000c000 0x000000000000c0ff 0x0000000000040101\n";

/// A NIC's: BAR0 128 KiB of memory.
pub const NIC_RESOURCE: &str = "0x00000000feb80000 0x00000000feb9ffff 0x0000000000040200\n";

/// What a fake PCI device looks like.
#[derive(Clone, Debug)]
pub struct FakeDevice<'a> {
    /// Its address, `DDDD:BB:DD.F`.
    pub address: &'a str,
    /// Vendor and device ID.
    pub ids: (u16, u16),
    /// The 24-bit class code.
    pub class: u32,
    /// The driver bound to it, if any (registered, with the device's ID, as a side effect).
    pub driver: Option<&'a str>,
    /// Its IOMMU group, if any.
    pub group: Option<u32>,
    /// The content of its `resource` file.
    pub resource: &'a str,
}

impl<'a> FakeDevice<'a> {
    /// QEMU's edu at `address` (1234:11e8, class 00ff00, [`EDU_RESOURCE`]), with no driver and
    /// no IOMMU group; struct update syntax changes the rest.
    ///
    /// ```
    /// use drydock_sim::sysfs::FakeDevice;
    ///
    /// let edu = FakeDevice { group: Some(2), ..FakeDevice::edu("0000:00:02.0") };
    /// assert_eq!(edu.ids, (0x1234, 0x11e8));
    /// ```
    pub fn edu(address: &'a str) -> Self {
        Self {
            address,
            ids: (0x1234, 0x11e8),
            class: 0x00ff00,
            driver: None,
            group: None,
            resource: EDU_RESOURCE,
        }
    }
}

/// A fake system tree in a temporary directory, deleted on drop.
#[derive(Debug)]
pub struct FakeSys {
    root: PathBuf,
    kernel: Arc<SimulatedKernel>,
}

impl Drop for FakeSys {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// Numbers fake trees apart within a process.
static NEXT_TREE: AtomicU64 = AtomicU64::new(0);

/// `major:minor` of a block device.
pub type DevNumber = (u32, u32);

impl FakeSys {
    /// An empty tree (no devices, no drivers, no IOMMU groups) named after `name`.
    ///
    /// # Panics
    ///
    /// If the temporary directory cannot be written.
    pub fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "drydock-sysfs-{name}-{}-{}",
            std::process::id(),
            NEXT_TREE.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&root);
        for dir in [
            "sys/bus/pci/devices",
            "sys/bus/pci/drivers",
            "sys/kernel/iommu_groups",
            "sys/module",
            "sys/class/block",
            "sys/class/net",
            "proc/self",
            "dev",
            DEVICES,
        ] {
            fs::create_dir_all(root.join(dir)).expect("creating the fake tree");
        }
        // Symbolic links resolve to canonical paths; the root must be one too.
        let root = fs::canonicalize(&root).expect("creating the fake tree");
        fs::write(root.join("sys/bus/pci/drivers_probe"), "").expect("creating the fake tree");
        fs::write(root.join("proc/self/mountinfo"), "").expect("creating the fake tree");
        fs::write(
            root.join("proc/swaps"),
            "Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n",
        )
        .expect("creating the fake tree");
        Self {
            root,
            kernel: Arc::new(SimulatedKernel::default()),
        }
    }

    /// A tree laid out like drydock's test guest (`docs/testing.md`): edu (02.0, no driver),
    /// pci-testdev (03.0), two NVMe controllers (04.0, 05.0, `nvme`, namespaces `nvme0n1` and
    /// `nvme1n1`), the e1000e NIC (06.0, `e1000e`, interface `eth0` down), each alone in its
    /// IOMMU group, and the ICH9 LPC bridge, SATA and SMBus functions (1f.0, 1f.2, 1f.3, no
    /// driver) sharing group 8. vfio-pci and uio_pci_generic are loaded; the IOMMU translates.
    pub fn guest(name: &str) -> Self {
        let fake = Self::new(name);
        let devices = [
            (
                "0000:00:02.0",
                (0x1234, 0x11e8),
                0x00ff00,
                None,
                2,
                EDU_RESOURCE,
            ),
            (
                "0000:00:03.0",
                (0x1b36, 0x0005),
                0x00ff00,
                None,
                3,
                TESTDEV_RESOURCE,
            ),
            (
                "0000:00:04.0",
                (0x1b36, 0x0010),
                0x010802,
                Some("nvme"),
                4,
                NVME_RESOURCE,
            ),
            (
                "0000:00:05.0",
                (0x1b36, 0x0010),
                0x010802,
                Some("nvme"),
                5,
                NVME_RESOURCE,
            ),
            (
                "0000:00:06.0",
                (0x8086, 0x10d3),
                0x020000,
                Some("e1000e"),
                6,
                NIC_RESOURCE,
            ),
            ("0000:00:1f.0", (0x8086, 0x2918), 0x060100, None, 8, ""),
            ("0000:00:1f.2", (0x8086, 0x2922), 0x010601, None, 8, ""),
            ("0000:00:1f.3", (0x8086, 0x2930), 0x0c0500, None, 8, ""),
        ];
        for (address, ids, class, driver, group, resource) in devices {
            fake.add_device(&FakeDevice {
                address,
                ids,
                class,
                driver,
                group: Some(group),
                resource,
            });
            fake.set_group_type(group, "DMA");
        }
        fake.add_driver("vfio-pci", &[]);
        fake.add_driver("uio_pci_generic", &[]);
        fake.add_block_device("0000:00:04.0", None, "nvme0n1", (259, 0));
        fake.add_block_device("0000:00:05.0", None, "nvme1n1", (259, 1));
        fake.add_interface("0000:00:06.0", "eth0", false);
        fake.write_file("proc/cmdline", "console=ttyS0 intel_iommu=on\n");
        fake
    }

    /// The root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The tree, answered by its simulated kernel.
    pub fn sysfs(&self) -> Sysfs {
        Sysfs::with_kernel(&self.root, self.kernel.clone())
    }

    /// The writes performed so far through [`FakeSys::sysfs`], as (path relative to the root,
    /// value), in order.
    pub fn writes(&self) -> Vec<(String, String)> {
        self.kernel.lock().writes.clone()
    }

    /// Registers PCI driver `driver` (its module loaded) with a static ID table.
    pub fn add_driver(&self, driver: &str, ids: &[(u16, u16)]) {
        register_driver(&self.root, driver);
        let mut state = self.kernel.lock();
        let table = state.static_ids.entry(driver.to_owned()).or_default();
        for id in ids {
            if !table.contains(id) {
                table.push(*id);
            }
        }
    }

    /// Makes module `module` loadable: loading it registers `driver` with `ids`.
    pub fn add_loadable_module(&self, module: &str, driver: &str, ids: &[(u16, u16)]) {
        self.kernel
            .lock()
            .modules
            .insert(module.replace('-', "_"), (driver.to_owned(), ids.to_vec()));
    }

    /// Adds a PCI device, bound to its driver and in its group if it has them.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_device(&self, d: &FakeDevice<'_>) {
        let real = self.root.join(DEVICES).join(d.address);
        fs::create_dir_all(&real).expect("writing the fake tree");
        let modalias = format!(
            "pci:v{:08X}d{:08X}sv00001AF4sd00001100bc{:02X}sc{:02X}i{:02X}\n",
            d.ids.0,
            d.ids.1,
            d.class >> 16,
            (d.class >> 8) & 0xff,
            d.class & 0xff
        );
        let files = [
            ("vendor", format!("0x{:04x}\n", d.ids.0)),
            ("device", format!("0x{:04x}\n", d.ids.1)),
            ("subsystem_vendor", "0x1af4\n".to_owned()),
            ("subsystem_device", "0x1100\n".to_owned()),
            ("class", format!("0x{:06x}\n", d.class)),
            ("revision", "0x10\n".to_owned()),
            ("numa_node", "-1\n".to_owned()),
            ("driver_override", "(null)\n".to_owned()),
            ("modalias", modalias),
            ("resource", d.resource.to_owned()),
        ];
        for (name, content) in files {
            fs::write(real.join(name), content).expect("writing the fake tree");
        }
        symlink(
            format!("../../../devices/pci0000:00/{}", d.address),
            self.root.join("sys/bus/pci/devices").join(d.address),
        )
        .expect("writing the fake tree");
        if let Some(group) = d.group {
            join_group(&self.root, d.address, group);
        }
        if let Some(driver) = d.driver {
            let ids: &[(u16, u16)] = if OVERRIDE_ONLY.contains(&driver) {
                &[]
            } else {
                &[d.ids]
            };
            self.add_driver(driver, ids);
            let cdev = self.kernel.lock().vfio_cdev;
            attach(&self.root, d.address, driver, cdev);
        }
    }

    /// Makes the kernel one with VFIO's device cdev and iommufd (`CONFIG_VFIO_DEVICE_CDEV`,
    /// `CONFIG_IOMMUFD`): `dev/iommu` exists, and devices bound to vfio-pci from now on get a
    /// numbered `vfio-dev/vfioN` and the node `dev/vfio/devices/vfioN`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn enable_vfio_cdev(&self) {
        self.kernel.lock().vfio_cdev.iommu = true;
        self.write_file("dev/iommu", "");
    }

    /// Makes the kernel one with VFIO's device cdev for no-IOMMU devices too, as Linux 7.3 with
    /// `CONFIG_IOMMUFD_NOIOMMU` is: on top of [`FakeSys::enable_vfio_cdev`], a device vfio-pci
    /// takes in no-IOMMU mode gets a numbered `vfio-dev/noiommu-vfioN` and the node
    /// `dev/vfio/devices/noiommu-vfioN`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn enable_vfio_noiommu_cdev(&self) {
        self.enable_vfio_cdev();
        self.kernel.lock().vfio_cdev.noiommu = true;
    }

    /// Turns VFIO's no-IOMMU mode on or off (its module parameter).
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn set_vfio_noiommu_mode(&self, on: bool) {
        let parameter = self.root.join(NOIOMMU_MODE_PARAMETER);
        fs::create_dir_all(parameter.parent().expect("a parameter is in a directory"))
            .expect("writing the fake tree");
        fs::write(parameter, if on { "Y\n" } else { "N\n" }).expect("writing the fake tree");
    }

    /// Sets an IOMMU group's default domain type (`DMA`, `identity`...).
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn set_group_type(&self, group: u32, kind: &str) {
        let dir = self
            .root
            .join("sys/kernel/iommu_groups")
            .join(group.to_string());
        fs::create_dir_all(&dir).expect("writing the fake tree");
        fs::write(dir.join("type"), format!("{kind}\n")).expect("writing the fake tree");
    }

    /// Gives the PCI device at `address` a block device `name` (a disk, or a partition when
    /// `parent` names the disk), with its `major:minor`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_block_device(
        &self,
        address: &str,
        parent: Option<&str>,
        name: &str,
        dev: DevNumber,
    ) {
        let base = self.root.join(DEVICES).join(address);
        let dir = match parent {
            Some(parent) => block_dir(&self.root, parent).join(name),
            None => base.join("host0/block").join(name),
        };
        fs::create_dir_all(dir.join("holders")).expect("writing the fake tree");
        fs::write(dir.join("dev"), format!("{}:{}\n", dev.0, dev.1)).expect("writing");
        let relative = dir.strip_prefix(self.root.join("sys")).expect("under sys");
        symlink(
            Path::new("../..").join(relative),
            self.root.join("sys/class/block").join(name),
        )
        .expect("writing the fake tree");
    }

    /// Adds a virtual block device `holder` (`dm-0`, `md0`) built on block device `block`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_holder(&self, block: &str, holder: &str, dev: DevNumber) {
        let dir = self.root.join("sys/devices/virtual/block").join(holder);
        fs::create_dir_all(dir.join("holders")).expect("writing the fake tree");
        fs::write(dir.join("dev"), format!("{}:{}\n", dev.0, dev.1)).expect("writing");
        symlink(
            format!("../../devices/virtual/block/{holder}"),
            self.root.join("sys/class/block").join(holder),
        )
        .expect("writing the fake tree");
        symlink(
            &dir,
            block_dir(&self.root, block).join("holders").join(holder),
        )
        .expect("writing the fake tree");
    }

    /// Gives the PCI device at `address` a network interface, administratively up or down.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_interface(&self, address: &str, name: &str, up: bool) {
        let dir = self.root.join(DEVICES).join(address).join("net").join(name);
        fs::create_dir_all(&dir).expect("writing the fake tree");
        // IFF_UP is bit 0; 0x1002 is IFF_BROADCAST | IFF_MULTICAST.
        let flags = if up { 0x1003 } else { 0x1002 };
        fs::write(dir.join("flags"), format!("{flags:#x}\n")).expect("writing the fake tree");
        symlink(
            format!("../../devices/pci0000:00/{address}/net/{name}"),
            self.root.join("sys/class/net").join(name),
        )
        .expect("writing the fake tree");
    }

    /// Adds a line to `proc/self/mountinfo`: `source` (`/dev/nvme0n1p1`) with device number
    /// `dev` mounted at `mount_point`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_mount(&self, dev: DevNumber, source: &str, mount_point: &str, fstype: &str) {
        let path = self.root.join("proc/self/mountinfo");
        let mut text = fs::read_to_string(&path).expect("reading the fake tree");
        let id = 20 + text.lines().count();
        text.push_str(&format!(
            "{id} 1 {}:{} / {mount_point} rw,relatime shared:{id} - {fstype} {source} rw\n",
            dev.0, dev.1
        ));
        fs::write(path, text).expect("writing the fake tree");
    }

    /// Adds a swap area to `proc/swaps`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_swap(&self, path: &str) {
        let file = self.root.join("proc/swaps");
        let mut text = fs::read_to_string(&file).expect("reading the fake tree");
        text.push_str(&format!("{path}\t\tpartition\t1048572\t\t0\t\t-2\n"));
        fs::write(file, text).expect("writing the fake tree");
    }

    /// Adds process `pid` running `command` with file descriptor 3 open on `target`.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn add_open_file(&self, pid: u32, command: &str, target: &str) {
        let dir = self.root.join("proc").join(pid.to_string());
        fs::create_dir_all(dir.join("fd")).expect("writing the fake tree");
        fs::write(dir.join("comm"), format!("{command}\n")).expect("writing the fake tree");
        symlink(target, dir.join("fd/3")).expect("writing the fake tree");
    }

    /// Writes `relative` (under the root) with `content`, creating its directories.
    ///
    /// # Panics
    ///
    /// If the tree cannot be written.
    pub fn write_file(&self, relative: &str, content: &str) {
        let path = self.root.join(relative);
        fs::create_dir_all(path.parent().expect("a file in a directory"))
            .expect("writing the fake tree");
        fs::write(path, content).expect("writing the fake tree");
    }
}

/// The real directory of block device `name` (found through `sys/class/block`).
fn block_dir(root: &Path, name: &str) -> PathBuf {
    fs::canonicalize(root.join("sys/class/block").join(name))
        .unwrap_or_else(|_| panic!("no block device {name} in the fake tree"))
}

/// Creates the directory and files of a registered driver and its module.
fn register_driver(root: &Path, driver: &str) {
    let dir = root.join("sys/bus/pci/drivers").join(driver);
    fs::create_dir_all(&dir).expect("writing the fake tree");
    for file in ["bind", "unbind", "new_id", "remove_id"] {
        let path = dir.join(file);
        if !path.exists() {
            fs::write(path, "").expect("writing the fake tree");
        }
    }
    fs::create_dir_all(root.join("sys/module").join(driver.replace('-', "_")))
        .expect("writing the fake tree");
}

/// Puts the device at `address` in IOMMU group `group` (created if needed), linked both ways.
fn join_group(root: &Path, address: &str, group: u32) {
    let group_dir = root.join("sys/kernel/iommu_groups").join(group.to_string());
    fs::create_dir_all(group_dir.join("devices")).expect("writing the fake tree");
    symlink(
        format!("../../../kernel/iommu_groups/{group}"),
        root.join(DEVICES).join(address).join("iommu_group"),
    )
    .expect("writing the fake tree");
    symlink(
        format!("../../../../devices/pci0000:00/{address}"),
        group_dir.join("devices").join(address),
    )
    .expect("writing the fake tree");
}

/// Gives the device at `address` a no-IOMMU group of its own, as vfio-pci does in no-IOMMU mode:
/// the lowest free group number, named `vfio-noiommu`.
fn add_noiommu_group(root: &Path, address: &str) {
    let used = list_dir(&root.join("sys/kernel/iommu_groups")).unwrap_or_default();
    let group = (0u32..)
        .find(|n| !used.contains(&n.to_string()))
        .expect("a free group number");
    join_group(root, address, group);
    fs::write(
        root.join("sys/kernel/iommu_groups")
            .join(group.to_string())
            .join("name"),
        format!("{}\n", NOIOMMU_GROUP_NAME),
    )
    .expect("writing the fake tree");
}

/// The `dev/vfio` node of IOMMU group `group` (a number): `noiommu-<group>` for a no-IOMMU group.
fn vfio_node(root: &Path, group: &str) -> PathBuf {
    let name = read_optional(
        &root
            .join("sys/kernel/iommu_groups")
            .join(group)
            .join("name"),
    );
    let noiommu = matches!(name, Ok(Some(n)) if n == NOIOMMU_GROUP_NAME);
    root.join("dev/vfio").join(if noiommu {
        format!("noiommu-{group}")
    } else {
        group.to_owned()
    })
}

/// Gives the device at `address`, just bound to vfio-pci, its `vfio-dev/vfioN` entry (the lowest
/// free N), linked from `sys/class/vfio-dev`; with `cdev`, a device number and the node
/// `dev/vfio/devices/vfioN`, unless the device is in a no-IOMMU group.
fn add_vfio_device(root: &Path, address: &str, cdev: VfioCdevs, noiommu: bool) {
    let class = root.join("sys/class/vfio-dev");
    let used = list_dir(&class).unwrap_or_default();
    let prefix = if noiommu && cdev.noiommu {
        NOIOMMU_CDEV_PREFIX
    } else {
        ""
    };
    let (index, name) = (0..)
        .map(|n| (n, format!("{prefix}vfio{n}")))
        .find(|(_, name)| !used.contains(name))
        .expect("a free VFIO device number");
    let dir = root
        .join(DEVICES)
        .join(address)
        .join("vfio-dev")
        .join(&name);
    fs::create_dir_all(&dir).expect("writing the fake tree");
    fs::create_dir_all(&class).expect("writing the fake tree");
    symlink(
        format!("../../devices/pci0000:00/{address}/vfio-dev/{name}"),
        class.join(&name),
    )
    .expect("writing the fake tree");
    if cdev.iommu && (!noiommu || cdev.noiommu) {
        fs::write(dir.join("dev"), format!("237:{index}\n")).expect("writing the fake tree");
        fs::create_dir_all(root.join("dev/vfio/devices")).expect("writing the fake tree");
        fs::write(root.join("dev/vfio/devices").join(&name), "").expect("writing the fake tree");
    }
}

/// Links the device at `address` and `driver` both ways, and creates the nodes the driver gives
/// userspace (with `cdev`, vfio-pci's device cdev too).
fn attach(root: &Path, address: &str, driver: &str, cdev: VfioCdevs) {
    let real = root.join(DEVICES).join(address);
    symlink(
        format!("../../../bus/pci/drivers/{driver}"),
        real.join("driver"),
    )
    .expect("writing the fake tree");
    symlink(
        format!("../../../../devices/pci0000:00/{address}"),
        root.join("sys/bus/pci/drivers").join(driver).join(address),
    )
    .expect("writing the fake tree");
    match driver {
        "vfio-pci" => {
            if let Some(group) = link_name(&real.join("iommu_group")) {
                fs::create_dir_all(root.join("dev/vfio")).expect("writing the fake tree");
                let node = vfio_node(root, &group);
                fs::write(&node, "").expect("writing the fake tree");
                let noiommu = node.file_name().is_some_and(|n| n != group.as_str());
                add_vfio_device(root, address, cdev, noiommu);
            }
        }
        "uio_pci_generic" => {
            let used: Vec<String> = list_dir(&root.join("sys/class/uio")).unwrap_or_default();
            let name = (0..)
                .map(|n| format!("uio{n}"))
                .find(|n| !used.contains(n))
                .expect("a free UIO number");
            fs::create_dir_all(real.join("uio").join(&name)).expect("writing the fake tree");
            fs::create_dir_all(root.join("sys/class/uio").join(&name))
                .expect("writing the fake tree");
            fs::write(root.join("dev").join(&name), "").expect("writing the fake tree");
        }
        _ => {}
    }
}

/// Undoes [`attach`].
fn detach(root: &Path, address: &str, driver: &str) {
    let real = root.join(DEVICES).join(address);
    let _ = fs::remove_file(real.join("driver"));
    let _ = fs::remove_file(root.join("sys/bus/pci/drivers").join(driver).join(address));
    match driver {
        "vfio-pci" => {
            for name in list_dir(&real.join("vfio-dev")).unwrap_or_default() {
                let _ = fs::remove_file(root.join("sys/class/vfio-dev").join(&name));
                let _ = fs::remove_file(root.join("dev/vfio/devices").join(&name));
            }
            let _ = fs::remove_dir_all(real.join("vfio-dev"));
            if let Some(group) = link_name(&real.join("iommu_group")) {
                let members = list_dir(
                    &root
                        .join("sys/kernel/iommu_groups")
                        .join(&group)
                        .join("devices"),
                )
                .unwrap_or_default();
                let still_used = members.iter().any(|m| {
                    link_name(&root.join(DEVICES).join(m).join("driver")).as_deref()
                        == Some("vfio-pci")
                });
                if !still_used {
                    let node = vfio_node(root, &group);
                    let _ = fs::remove_file(&node);
                    // VFIO frees the no-IOMMU group it made for the device.
                    if node.file_name().is_some_and(|n| n != group.as_str()) {
                        let _ = fs::remove_file(real.join("iommu_group"));
                        let _ =
                            fs::remove_dir_all(root.join("sys/kernel/iommu_groups").join(&group));
                    }
                }
            }
        }
        "uio_pci_generic" => {
            for name in list_dir(&real.join("uio")).unwrap_or_default() {
                let _ = fs::remove_dir_all(root.join("sys/class/uio").join(&name));
                let _ = fs::remove_file(root.join("dev").join(&name));
            }
            let _ = fs::remove_dir_all(real.join("uio"));
        }
        _ => {}
    }
}

/// What the simulation remembers beyond the files: ID tables, loadable modules, the writes.
#[derive(Debug, Default)]
struct State {
    /// Each registered driver's static IDs.
    static_ids: BTreeMap<String, Vec<(u16, u16)>>,
    /// Each driver's dynamic IDs (`new_id`).
    dynamic_ids: BTreeMap<String, Vec<(u16, u16)>>,
    /// Loadable modules (name with `_`): the driver each registers, with its IDs.
    modules: BTreeMap<String, (String, Vec<(u16, u16)>)>,
    /// Every write, as (path relative to the root, value).
    writes: Vec<(String, String)>,
    /// Which VFIO device cdevs the kernel has.
    vfio_cdev: VfioCdevs,
}

/// Which VFIO device cdevs a fake kernel gives the devices vfio-pci takes.
#[derive(Clone, Copy, Debug, Default)]
struct VfioCdevs {
    /// Whether the kernel has VFIO's device cdev (`CONFIG_VFIO_DEVICE_CDEV`).
    iommu: bool,
    /// Whether devices in no-IOMMU mode get one too, `noiommu-vfioN` (`CONFIG_IOMMUFD_NOIOMMU`).
    noiommu: bool,
}

/// The kernel's answers to writes on a [`FakeSys`] tree; see the module documentation.
#[derive(Debug, Default)]
pub struct SimulatedKernel {
    state: Mutex<State>,
}

/// A write's failure as the kernel reports it: the errno, with the file named.
fn errno(file: &Path, value: &str, code: i32) -> HostError {
    file_error(
        &format!("writing `{value}` to"),
        file,
        io::Error::from_raw_os_error(code),
    )
}

impl SimulatedKernel {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The device's vendor and device ID and its override.
    fn identity(sysfs: &Sysfs, address: &str) -> Option<((u16, u16), Option<String>)> {
        let info = sysfs.device(address).ok()?;
        Some(((info.vendor, info.device), info.driver_override))
    }

    /// The kernel's `pci_match_device()`: an override decides alone; otherwise the ID tables.
    fn matches(state: &State, sysfs: &Sysfs, driver: &str, address: &str) -> bool {
        let Some((id, driver_override)) = Self::identity(sysfs, address) else {
            return false;
        };
        match driver_override {
            Some(o) => o == driver,
            None => [&state.static_ids, &state.dynamic_ids]
                .iter()
                .any(|table| table.get(driver).is_some_and(|ids| ids.contains(&id))),
        }
    }

    /// The driver's probe: vfio-pci refuses a device without an IOMMU group, unless VFIO's
    /// no-IOMMU mode is on, when it makes the device a no-IOMMU group.
    fn probe(state: &State, sysfs: &Sysfs, driver: &str, address: &str) -> Result<(), i32> {
        if driver == "vfio-pci" && sysfs.iommu_group(address).is_none() {
            if !sysfs.vfio_noiommu_mode() {
                return Err(libc::EINVAL);
            }
            add_noiommu_group(sysfs.root(), address);
        }
        attach(sysfs.root(), address, driver, state.vfio_cdev);
        Ok(())
    }

    /// Offers an unbound device to every registered driver that matches it, in name order, as
    /// `drivers_probe` and a driver's registration do; failures are silent.
    fn probe_any(state: &State, sysfs: &Sysfs, address: &str, only: Option<&str>) {
        if sysfs.driver(address).is_some() {
            return;
        }
        let drivers = list_dir(&sysfs.path("sys/bus/pci/drivers")).unwrap_or_default();
        for driver in drivers {
            if only.is_some_and(|only| only != driver) {
                continue;
            }
            if Self::matches(state, sysfs, &driver, address)
                && Self::probe(state, sysfs, &driver, address).is_ok()
            {
                return;
            }
        }
    }

    /// Every device address of the tree.
    fn addresses(sysfs: &Sysfs) -> Vec<String> {
        sysfs.addresses().unwrap_or_default()
    }

    fn answer(
        &self,
        state: &mut State,
        sysfs: &Sysfs,
        file: &Path,
        value: &str,
    ) -> Result<(), HostError> {
        let canonical_dir = file
            .parent()
            .and_then(|dir| fs::canonicalize(dir).ok())
            .ok_or_else(|| errno(file, value, libc::ENOENT))?;
        let root =
            fs::canonicalize(sysfs.root()).map_err(|e| file_error("reading", sysfs.root(), e))?;
        let dir = canonical_dir
            .strip_prefix(&root)
            .map_err(|_| errno(file, value, libc::ENOENT))?
            .to_path_buf();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let address = value.trim();
        let drivers = Path::new("sys/bus/pci/drivers");
        match name {
            "driver_override" if dir.starts_with(DEVICES) => {
                let stored = if address.is_empty() {
                    "(null)"
                } else {
                    address
                };
                plain_write(file, &format!("{stored}\n"))
            }
            "unbind" if dir.parent() == Some(drivers) => {
                let driver = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if sysfs.driver(address).as_deref() != Some(driver) {
                    return Err(errno(file, value, libc::ENODEV));
                }
                detach(sysfs.root(), address, driver);
                Ok(())
            }
            "bind" if dir.parent() == Some(drivers) => {
                let driver = dir.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if Self::identity(sysfs, address).is_none() {
                    return Err(errno(file, value, libc::ENODEV));
                }
                if sysfs.driver(address).is_some() {
                    return Err(errno(file, value, libc::EBUSY));
                }
                if !Self::matches(state, sysfs, driver, address) {
                    return Err(errno(file, value, libc::ENODEV));
                }
                Self::probe(state, sysfs, driver, address).map_err(|code| errno(file, value, code))
            }
            "new_id" | "remove_id" if dir.parent() == Some(drivers) => {
                let driver = dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("")
                    .to_owned();
                let mut words = address.split_whitespace();
                let id = (|| {
                    let vendor = u16::from_str_radix(words.next()?, 16).ok()?;
                    let device = u16::from_str_radix(words.next()?, 16).ok()?;
                    Some((vendor, device))
                })()
                .ok_or_else(|| errno(file, value, libc::EINVAL))?;
                let table = state.dynamic_ids.entry(driver.clone()).or_default();
                if name == "remove_id" {
                    let before = table.len();
                    table.retain(|x| *x != id);
                    if table.len() == before {
                        return Err(errno(file, value, libc::ENODEV));
                    }
                    return Ok(());
                }
                if table.contains(&id) {
                    return Err(errno(file, value, libc::EEXIST));
                }
                table.push(id);
                for device in Self::addresses(sysfs) {
                    Self::probe_any(state, sysfs, &device, Some(&driver));
                }
                Ok(())
            }
            "drivers_probe" if dir == Path::new("sys/bus/pci") => {
                if Self::identity(sysfs, address).is_none() {
                    return Err(errno(file, value, libc::ENODEV));
                }
                Self::probe_any(state, sysfs, address, None);
                Ok(())
            }
            _ => plain_write(file, value),
        }
    }
}

impl Kernel for SimulatedKernel {
    fn write(&self, sysfs: &Sysfs, file: &Path, value: &str) -> Result<(), HostError> {
        let mut state = self.lock();
        let relative = file
            .strip_prefix(sysfs.root())
            .unwrap_or(file)
            .display()
            .to_string();
        state.writes.push((relative, value.to_owned()));
        self.answer(&mut state, sysfs, file, value)
    }

    fn load_module(&self, sysfs: &Sysfs, name: &str) -> Result<(), HostError> {
        let mut state = self.lock();
        let wanted = match parse_modalias(name) {
            Some(id) => state
                .modules
                .iter()
                .find(|(_, (_, ids))| ids.contains(&id))
                .map(|(module, _)| module.clone()),
            None => Some(name.replace('-', "_")),
        };
        let spec =
            wanted.and_then(|module| Some((module.clone(), state.modules.get(&module)?.clone())));
        let Some((module, (driver, ids))) = spec else {
            return Err(HostError::ModuleLoad {
                module: name.to_owned(),
                reason: format!("modprobe: FATAL: Module {name} not found"),
            });
        };
        register_driver(sysfs.root(), &driver);
        fs::create_dir_all(sysfs.path("sys/module").join(module))
            .map_err(|e| file_error("creating", sysfs.root(), e))?;
        state
            .static_ids
            .entry(driver.clone())
            .or_default()
            .extend(ids);
        for device in Self::addresses(sysfs) {
            Self::probe_any(&state, sysfs, &device, Some(&driver));
        }
        Ok(())
    }
}

/// The vendor and device ID of a PCI `modalias` (`pci:v00008086d000010D3sv...`).
fn parse_modalias(text: &str) -> Option<(u16, u16)> {
    let rest = text.strip_prefix("pci:v")?;
    let vendor = u32::from_str_radix(rest.get(..8)?, 16).ok()?;
    let rest = rest.get(8..)?.strip_prefix('d')?;
    let device = u32::from_str_radix(rest.get(..8)?, 16).ok()?;
    Some((u16::try_from(vendor).ok()?, u16::try_from(device).ok()?))
}

/// Reads `path` as trimmed text (for tests' assertions), empty if absent.
pub fn read(path: &Path) -> String {
    read_optional(path).ok().flatten().unwrap_or_default()
}
