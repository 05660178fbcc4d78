//! The kernel's view of PCI devices: `/sys/bus/pci`, IOMMU groups, modules and the command line.
//!
//! This is the mechanism both the backends (which device is bound to what, which IOMMU group it is
//! in, where its UIO node is) and the `drydock` command (listing, binding, checking) build on. It
//! holds no policy: it reads what the kernel shows and writes the files the kernel offers for
//! binding (`driver_override`, `unbind`, `drivers_probe`, `new_id`), and leaves decisions to its
//! callers.
//!
//! Every path is taken relative to a root directory ([`Sysfs::at`]), so tests lay out a fake tree
//! in a temporary directory (real files and symbolic links, as the kernel shows them) and run the
//! same code as on a real system ([`Sysfs::system`], rooted at `/`).

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::error::HostError;
use super::pci::parse_bdf;

/// `IORESOURCE_IO`: the resource is in I/O port space.
const IORESOURCE_IO: u64 = 0x100;
/// `IORESOURCE_MEM`: the resource is in memory space.
const IORESOURCE_MEM: u64 = 0x200;
/// `IORESOURCE_PREFETCH`: the memory is prefetchable.
const IORESOURCE_PREFETCH: u64 = 0x2000;
/// `IORESOURCE_MEM_64`: the BAR is a 64-bit one.
const IORESOURCE_MEM_64: u64 = 0x0010_0000;

/// The name VFIO gives the IOMMU groups it creates in no-IOMMU mode.
pub const NOIOMMU_GROUP_NAME: &str = "vfio-noiommu";

/// Returns the canonical form `DDDD:BB:DD.F` of a PCI address (`BB:DD.F` means domain 0).
pub fn canonical_address(text: &str) -> Result<String, HostError> {
    let (domain, bus, devfn) = parse_bdf(text).ok_or_else(|| HostError::BadAddress {
        text: text.to_owned(),
    })?;
    Ok(format!(
        "{domain:04x}:{bus:02x}:{:02x}.{}",
        devfn >> 3,
        devfn & 7
    ))
}

/// One resource of a PCI device (a line of its sysfs `resource` file).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource {
    /// The resource's index: 0 to 5 for the BARs, 6 for the expansion ROM, higher for bridge
    /// windows and SR-IOV BARs.
    pub index: usize,
    /// The first bus address.
    pub start: u64,
    /// The last bus address (inclusive).
    pub end: u64,
    /// The kernel's `IORESOURCE_*` flags.
    pub flags: u64,
}

impl Resource {
    /// The size in bytes (0 for an unused resource).
    pub fn size(&self) -> u64 {
        if self.end == 0 && self.start == 0 {
            0
        } else {
            self.end - self.start + 1
        }
    }

    /// Whether the resource is in I/O port space.
    pub fn is_io(&self) -> bool {
        self.flags & IORESOURCE_IO != 0
    }

    /// Whether the resource is in memory space.
    pub fn is_mem(&self) -> bool {
        self.flags & IORESOURCE_MEM != 0
    }

    /// Whether the memory is prefetchable.
    pub fn is_prefetchable(&self) -> bool {
        self.flags & IORESOURCE_PREFETCH != 0
    }

    /// Whether the BAR is a 64-bit one.
    pub fn is_64bit(&self) -> bool {
        self.flags & IORESOURCE_MEM_64 != 0
    }
}

/// What sysfs tells about one PCI device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PciDeviceInfo {
    /// The address, `DDDD:BB:DD.F`.
    pub address: String,
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Subsystem vendor ID.
    pub subsystem_vendor: u16,
    /// Subsystem device ID.
    pub subsystem_device: u16,
    /// The 24-bit class code.
    pub class: u32,
    /// Revision ID.
    pub revision: u8,
    /// The driver bound to the device, if any.
    pub driver: Option<String>,
    /// The `driver_override` setting, if any.
    pub driver_override: Option<String>,
    /// The device's IOMMU group, if the kernel put it in one (only with an IOMMU enabled).
    pub iommu_group: Option<u32>,
    /// The NUMA node, if the platform tells.
    pub numa_node: Option<u32>,
    /// The resources with a non-zero size.
    pub resources: Vec<Resource>,
}

impl PciDeviceInfo {
    /// Returns BAR `index` (0 to 5), if implemented.
    pub fn bar(&self, index: usize) -> Option<&Resource> {
        (index < 6)
            .then(|| self.resources.iter().find(|r| r.index == index))
            .flatten()
    }
}

/// The options of the running kernel's command line (`/proc/cmdline`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelCmdline {
    params: Vec<(String, Option<String>)>,
}

impl KernelCmdline {
    /// Parses a command line: space-separated `name` or `name=value` words; double quotes group a
    /// value with spaces.
    pub fn parse(text: &str) -> Self {
        let mut params = Vec::new();
        let mut word = String::new();
        let mut quoted = false;
        for c in text.chars().chain(std::iter::once(' ')) {
            match c {
                '"' => quoted = !quoted,
                c if c.is_whitespace() && !quoted => {
                    if !word.is_empty() {
                        let param = match word.split_once('=') {
                            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                            None => (word.clone(), None),
                        };
                        params.push(param);
                        word.clear();
                    }
                }
                c => word.push(c),
            }
        }
        Self { params }
    }

    /// Returns the value of the last `name=value` option (the one the kernel obeys), `Some("")`
    /// for a bare `name`, or `None` if absent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_deref().unwrap_or(""))
    }

    /// Whether option `name` appears with `value` among its comma-separated values (for example
    /// `iommu=pt` or `intel_iommu=on,sm_on`).
    pub fn has(&self, name: &str, value: &str) -> bool {
        self.get(name)
            .is_some_and(|values| values.split(',').any(|v| v == value))
    }
}

/// The sysfs and procfs trees of a system, rooted at a directory.
#[derive(Clone, Debug)]
pub struct Sysfs {
    root: PathBuf,
}

impl Default for Sysfs {
    fn default() -> Self {
        Self::system()
    }
}

/// Reads a file as trimmed text, or `None` if it does not exist.
fn read_optional(path: &Path) -> Result<Option<String>, HostError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(file_error("reading", path, err)),
    }
}

/// Converts a failed file operation into the error that says what to do.
fn file_error(what: &str, path: &Path, err: io::Error) -> HostError {
    if err.kind() == io::ErrorKind::PermissionDenied {
        HostError::Permission {
            path: path.display().to_string(),
        }
    } else {
        HostError::os(format!("{what} {}", path.display()), err)
    }
}

/// Parses a sysfs hexadecimal attribute such as `0x1234`.
fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The name of the last component of the target of symbolic link `link`, if it is one.
fn link_name(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Lists the entry names of a directory, sorted; empty if it does not exist.
fn list_dir(dir: &Path) -> Result<Vec<String>, HostError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(file_error("listing", dir, err)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    Ok(names)
}

/// Parses the content of a sysfs `resource` file.
pub fn parse_resources(text: &str) -> Vec<Resource> {
    text.lines()
        .enumerate()
        .filter_map(|(index, line)| {
            let mut fields = line.split_whitespace().map(parse_hex);
            let (start, end, flags) = (fields.next()??, fields.next()??, fields.next()??);
            let resource = Resource {
                index,
                start,
                end,
                flags,
            };
            (resource.size() > 0).then_some(resource)
        })
        .collect()
}

impl Sysfs {
    /// The running system's trees (`/sys`, `/proc`).
    pub fn system() -> Self {
        Self::at("/")
    }

    /// The trees under `root` (`root/sys/...`, `root/proc/...`), for tests on a fake layout.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// Returns the root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/<relative>`.
    fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative)
    }

    /// The sysfs directory of the device at `address` (canonical form).
    pub fn device_dir(&self, address: &str) -> PathBuf {
        self.path("sys/bus/pci/devices").join(address)
    }

    /// The sysfs directory of PCI driver `driver`.
    fn driver_dir(&self, driver: &str) -> PathBuf {
        self.path("sys/bus/pci/drivers").join(driver)
    }

    /// Returns the addresses of every PCI device, sorted.
    pub fn addresses(&self) -> Result<Vec<String>, HostError> {
        list_dir(&self.path("sys/bus/pci/devices"))
    }

    /// Describes every PCI device, sorted by address.
    pub fn devices(&self) -> Result<Vec<PciDeviceInfo>, HostError> {
        self.addresses()?
            .iter()
            .map(|address| self.device(address))
            .collect()
    }

    /// Describes the device at `address` (any form [`canonical_address`] accepts).
    pub fn device(&self, address: &str) -> Result<PciDeviceInfo, HostError> {
        let address = canonical_address(address)?;
        let dir = self.device_dir(&address);
        if !dir.exists() {
            return Err(HostError::NoDevice { bdf: address });
        }
        let hex = |name: &str| -> Result<u64, HostError> {
            let path = dir.join(name);
            let text = read_optional(&path)?.unwrap_or_default();
            parse_hex(&text).ok_or_else(|| {
                HostError::os(
                    format!(
                        "{} holds `{text}`, not a hexadecimal number",
                        path.display()
                    ),
                    io::Error::from(io::ErrorKind::InvalidData),
                )
            })
        };
        let resources = read_optional(&dir.join("resource"))?
            .map(|text| parse_resources(&text))
            .unwrap_or_default();
        let driver_override = read_optional(&dir.join("driver_override"))?
            .filter(|value| !value.is_empty() && value != "(null)");
        let numa_node = read_optional(&dir.join("numa_node"))?
            .and_then(|text| text.parse::<i64>().ok())
            .and_then(|node| u32::try_from(node).ok());
        Ok(PciDeviceInfo {
            vendor: hex("vendor")? as u16,
            device: hex("device")? as u16,
            subsystem_vendor: hex("subsystem_vendor")? as u16,
            subsystem_device: hex("subsystem_device")? as u16,
            class: hex("class")? as u32,
            revision: hex("revision")? as u8,
            driver: self.driver(&address),
            driver_override,
            iommu_group: self.iommu_group(&address),
            numa_node,
            resources,
            address,
        })
    }

    /// Returns the driver bound to the device at `address` (canonical form), if any.
    pub fn driver(&self, address: &str) -> Option<String> {
        link_name(&self.device_dir(address).join("driver"))
    }

    /// Returns the IOMMU group of the device at `address` (canonical form), if any.
    pub fn iommu_group(&self, address: &str) -> Option<u32> {
        link_name(&self.device_dir(address).join("iommu_group"))?
            .parse()
            .ok()
    }

    /// Whether IOMMU group `group` is one VFIO made for a device without an IOMMU (no-IOMMU mode,
    /// `vfio.enable_unsafe_noiommu_mode=1`): VFIO names those groups `vfio-noiommu`.
    pub fn is_noiommu_group(&self, group: u32) -> bool {
        fs::read_to_string(self.path(&format!("sys/kernel/iommu_groups/{group}/name")))
            .is_ok_and(|name| name.trim() == NOIOMMU_GROUP_NAME)
    }

    /// Whether the kernel has IOMMU groups at all (an IOMMU is enabled and drives some device).
    pub fn has_iommu_groups(&self) -> Result<bool, HostError> {
        Ok(!list_dir(&self.path("sys/kernel/iommu_groups"))?.is_empty())
    }

    /// Returns the addresses of the devices in IOMMU group `group`, sorted.
    pub fn group_members(&self, group: u32) -> Result<Vec<String>, HostError> {
        list_dir(&self.path(&format!("sys/kernel/iommu_groups/{group}/devices")))
    }

    /// Returns the members of IOMMU group `group` that keep it from being usable through VFIO:
    /// those bound to a driver other than `vfio-pci`, with that driver. The kernel's rule is that
    /// every device of a group must be bound to a VFIO driver or to none (bridges excepted, which
    /// this layer reports as well: its callers decide).
    pub fn group_blockers(&self, group: u32) -> Result<Vec<(String, String)>, HostError> {
        Ok(self
            .group_members(group)?
            .into_iter()
            .filter_map(|address| {
                let driver = self.driver(&address)?;
                (driver != "vfio-pci").then_some((address, driver))
            })
            .collect())
    }

    /// Returns the UIO device names (`uio0`...) of the device at `address` (canonical form).
    pub fn uio_nodes(&self, address: &str) -> Result<Vec<String>, HostError> {
        list_dir(&self.device_dir(address).join("uio"))
    }

    /// Whether PCI driver `driver` is registered (its module is loaded or built in).
    pub fn driver_registered(&self, driver: &str) -> bool {
        self.driver_dir(driver).is_dir()
    }

    /// Whether kernel module `module` is present (loaded, or built in with parameters):
    /// `/sys/module/<module>`, with `-` spelled `_` as the kernel does.
    pub fn module_present(&self, module: &str) -> bool {
        self.path("sys/module")
            .join(module.replace('-', "_"))
            .is_dir()
    }

    /// Reads the kernel command line.
    pub fn kernel_cmdline(&self) -> Result<KernelCmdline, HostError> {
        let path = self.path("proc/cmdline");
        let text = fs::read_to_string(&path).map_err(|err| file_error("reading", &path, err))?;
        Ok(KernelCmdline::parse(&text))
    }

    /// Writes `value` to a sysfs file.
    fn write(&self, path: &Path, value: &str) -> Result<(), HostError> {
        fs::write(path, value)
            .map_err(|err| file_error(&format!("writing `{value}` to"), path, err))
    }

    /// Sets (or, with `None`, clears) the device's `driver_override`: only that driver may bind
    /// it from now on.
    pub fn set_driver_override(
        &self,
        address: &str,
        driver: Option<&str>,
    ) -> Result<(), HostError> {
        // The kernel clears the override on an empty write (a newline, as `echo` sends).
        self.write(
            &self.device_dir(address).join("driver_override"),
            driver.unwrap_or("\n"),
        )
    }

    /// Unbinds the device from its driver, if it has one.
    pub fn unbind(&self, address: &str) -> Result<(), HostError> {
        if self.driver(address).is_none() {
            return Ok(());
        }
        self.write(&self.device_dir(address).join("driver/unbind"), address)
    }

    /// Binds the (unbound) device to `driver` through the driver's `bind` file.
    pub fn bind(&self, address: &str, driver: &str) -> Result<(), HostError> {
        self.write(&self.driver_dir(driver).join("bind"), address)
    }

    /// Asks the kernel to probe the device with every driver that may take it
    /// (`/sys/bus/pci/drivers_probe`).
    pub fn drivers_probe(&self, address: &str) -> Result<(), HostError> {
        self.write(&self.path("sys/bus/pci/drivers_probe"), address)
    }

    /// Adds `vendor:device` to the dynamic ID table of `driver` (`new_id`); the driver then binds
    /// every unbound device with those IDs.
    pub fn new_id(&self, driver: &str, vendor: u16, device: u16) -> Result<(), HostError> {
        self.write(
            &self.driver_dir(driver).join("new_id"),
            &format!("{vendor:04x} {device:04x}"),
        )
    }

    /// Removes `vendor:device` from the dynamic ID table of `driver` (`remove_id`).
    pub fn remove_id(&self, driver: &str, vendor: u16, device: u16) -> Result<(), HostError> {
        self.write(
            &self.driver_dir(driver).join("remove_id"),
            &format!("{vendor:04x} {device:04x}"),
        )
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// A fake system tree in a temporary directory, laid out as the kernel lays out sysfs:
    /// devices under `/sys/devices/pci0000:00`, linked from `/sys/bus/pci/devices`, with
    /// `driver` and `iommu_group` links.
    pub(crate) struct FakeSys {
        pub(crate) root: PathBuf,
    }

    impl Drop for FakeSys {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.root);
        }
    }

    /// What a fake device looks like.
    pub(crate) struct FakeDevice<'a> {
        pub(crate) address: &'a str,
        pub(crate) ids: (u16, u16),
        pub(crate) class: u32,
        pub(crate) driver: Option<&'a str>,
        pub(crate) group: Option<u32>,
        pub(crate) resource: &'a str,
    }

    impl FakeSys {
        pub(crate) fn new(name: &str) -> Self {
            let root = std::env::temp_dir().join(format!(
                "drydock-sysfs-{name}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&root);
            for dir in [
                "sys/bus/pci/devices",
                "sys/bus/pci/drivers",
                "sys/kernel/iommu_groups",
                "sys/module",
                "proc",
            ] {
                fs::create_dir_all(root.join(dir)).unwrap();
            }
            fs::write(root.join("sys/bus/pci/drivers_probe"), "").unwrap();
            Self { root }
        }

        pub(crate) fn sysfs(&self) -> Sysfs {
            Sysfs::at(&self.root)
        }

        pub(crate) fn add_driver(&self, driver: &str) {
            let dir = self.root.join("sys/bus/pci/drivers").join(driver);
            fs::create_dir_all(&dir).unwrap();
            for file in ["bind", "unbind", "new_id", "remove_id"] {
                fs::write(dir.join(file), "").unwrap();
            }
            let module = driver.replace('-', "_");
            fs::create_dir_all(self.root.join("sys/module").join(module)).unwrap();
        }

        pub(crate) fn add_device(&self, d: &FakeDevice<'_>) {
            let real = self.root.join("sys/devices/pci0000:00").join(d.address);
            fs::create_dir_all(&real).unwrap();
            let files = [
                ("vendor", format!("0x{:04x}\n", d.ids.0)),
                ("device", format!("0x{:04x}\n", d.ids.1)),
                ("subsystem_vendor", "0x1af4\n".to_owned()),
                ("subsystem_device", "0x1100\n".to_owned()),
                ("class", format!("0x{:06x}\n", d.class)),
                ("revision", "0x10\n".to_owned()),
                ("numa_node", "-1\n".to_owned()),
                ("driver_override", "(null)\n".to_owned()),
                ("resource", d.resource.to_owned()),
            ];
            for (name, content) in files {
                fs::write(real.join(name), content).unwrap();
            }
            symlink(
                format!("../../../devices/pci0000:00/{}", d.address),
                self.root.join("sys/bus/pci/devices").join(d.address),
            )
            .unwrap();
            if let Some(driver) = d.driver {
                self.add_driver(driver);
                symlink(
                    format!("../../../bus/pci/drivers/{driver}"),
                    real.join("driver"),
                )
                .unwrap();
                symlink(
                    format!("../../../../devices/pci0000:00/{}", d.address),
                    self.root
                        .join("sys/bus/pci/drivers")
                        .join(driver)
                        .join(d.address),
                )
                .unwrap();
            }
            if let Some(group) = d.group {
                let group_dir = self
                    .root
                    .join("sys/kernel/iommu_groups")
                    .join(group.to_string());
                fs::create_dir_all(group_dir.join("devices")).unwrap();
                symlink(
                    format!("../../../kernel/iommu_groups/{group}"),
                    real.join("iommu_group"),
                )
                .unwrap();
                symlink(
                    format!("../../../../devices/pci0000:00/{}", d.address),
                    group_dir.join("devices").join(d.address),
                )
                .unwrap();
            }
        }
    }

    /// edu's `resource` file: BAR0 is 1 MiB of 32-bit memory, nothing else.
    pub(crate) const EDU_RESOURCE: &str =
        "0x00000000fea00000 0x00000000feafffff 0x0000000000040200\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

    /// The NVMe controller's: BAR0 is 16 KiB of 64-bit memory.
    const NVME_RESOURCE: &str = "0x00000000febf0000 0x00000000febf3fff 0x0000000000140204\n\
        0x0000000000000000 0x0000000000000000 0x0000000000000000\n";

    /// pci-testdev's: BAR0 4 KiB of memory, BAR1 256 bytes of I/O ports.
    const TESTDEV_RESOURCE: &str = "0x00000000feb00000 0x00000000feb00fff 0x0000000000040200\n\
        0x000000000000c000 0x000000000000c0ff 0x0000000000040101\n";

    fn guest_like() -> FakeSys {
        let fake = FakeSys::new("guest");
        fake.add_device(&FakeDevice {
            address: "0000:00:02.0",
            ids: (0x1234, 0x11e8),
            class: 0x00ff00,
            driver: Some("vfio-pci"),
            group: Some(2),
            resource: EDU_RESOURCE,
        });
        fake.add_device(&FakeDevice {
            address: "0000:00:03.0",
            ids: (0x1b36, 0x0005),
            class: 0x00ff00,
            driver: None,
            group: Some(3),
            resource: TESTDEV_RESOURCE,
        });
        fake.add_device(&FakeDevice {
            address: "0000:00:04.0",
            ids: (0x1b36, 0x0010),
            class: 0x010802,
            driver: Some("nvme"),
            group: Some(3),
            resource: NVME_RESOURCE,
        });
        fake
    }

    #[test]
    fn addresses_are_canonicalised() {
        assert_eq!(canonical_address("00:04.0").unwrap(), "0000:00:04.0");
        assert_eq!(canonical_address("0001:3A:1f.7").unwrap(), "0001:3a:1f.7");
        let err = canonical_address("00:04").unwrap_err();
        assert!(err.to_string().contains("DDDD:BB:DD.F"), "{err}");
    }

    #[test]
    fn devices_are_listed_with_identity_driver_group_and_bars() {
        let fake = guest_like();
        let sysfs = fake.sysfs();
        let devices = sysfs.devices().unwrap();
        assert_eq!(devices.len(), 3);
        let edu = &devices[0];
        assert_eq!(edu.address, "0000:00:02.0");
        assert_eq!(
            (edu.vendor, edu.device, edu.class),
            (0x1234, 0x11e8, 0x00ff00)
        );
        assert_eq!(
            (edu.subsystem_vendor, edu.subsystem_device),
            (0x1af4, 0x1100)
        );
        assert_eq!(edu.revision, 0x10);
        assert_eq!(edu.driver.as_deref(), Some("vfio-pci"));
        assert_eq!(edu.driver_override, None);
        assert_eq!(edu.iommu_group, Some(2));
        assert_eq!(edu.numa_node, None);
        let bar0 = edu.bar(0).unwrap();
        assert_eq!((bar0.start, bar0.size()), (0xfea0_0000, 1 << 20));
        assert!(bar0.is_mem() && !bar0.is_64bit() && !bar0.is_prefetchable());
        assert!(edu.bar(1).is_none());

        let testdev = &devices[1];
        assert_eq!(testdev.driver, None);
        let bar1 = testdev.bar(1).unwrap();
        assert!(bar1.is_io());
        assert_eq!(bar1.size(), 256);

        let nvme = sysfs.device("00:04.0").unwrap();
        assert!(nvme.bar(0).unwrap().is_64bit());
        assert_eq!(nvme.driver.as_deref(), Some("nvme"));
    }

    #[test]
    fn an_absent_device_is_named() {
        let fake = guest_like();
        let err = fake.sysfs().device("0000:00:1f.0").unwrap_err();
        assert!(matches!(err, HostError::NoDevice { ref bdf } if bdf == "0000:00:1f.0"));
        assert!(err.to_string().contains("drydock list"));
    }

    #[test]
    fn group_members_and_blockers() {
        let fake = guest_like();
        let sysfs = fake.sysfs();
        assert!(sysfs.has_iommu_groups().unwrap());
        assert_eq!(
            sysfs.group_members(3).unwrap(),
            vec!["0000:00:03.0", "0000:00:04.0"]
        );
        assert_eq!(
            sysfs.group_blockers(3).unwrap(),
            vec![("0000:00:04.0".to_owned(), "nvme".to_owned())]
        );
        assert!(sysfs.group_blockers(2).unwrap().is_empty());
        assert!(sysfs.group_members(99).unwrap().is_empty());
    }

    #[test]
    fn no_groups_without_an_iommu() {
        let fake = FakeSys::new("noiommu");
        assert!(!fake.sysfs().has_iommu_groups().unwrap());
    }

    #[test]
    fn noiommu_groups_are_told_by_their_name() {
        let fake = guest_like();
        let sysfs = fake.sysfs();
        // guest_like's edu is in group 2, a group of the IOMMU, whose name file is absent.
        assert!(!sysfs.is_noiommu_group(2));
        fs::write(
            fake.root.join("sys/kernel/iommu_groups/2/name"),
            "vfio-noiommu\n",
        )
        .unwrap();
        assert!(sysfs.is_noiommu_group(2));
        assert!(!sysfs.is_noiommu_group(99));
    }

    #[test]
    fn binding_writes_the_kernel_files() {
        let fake = guest_like();
        let sysfs = fake.sysfs();
        let nvme_dir = sysfs.device_dir("0000:00:04.0");
        sysfs.unbind("0000:00:04.0").unwrap();
        let unbind = fake.root.join("sys/bus/pci/drivers/nvme/unbind");
        assert_eq!(fs::read_to_string(unbind).unwrap(), "0000:00:04.0");
        sysfs
            .set_driver_override("0000:00:04.0", Some("vfio-pci"))
            .unwrap();
        assert_eq!(
            fs::read_to_string(nvme_dir.join("driver_override")).unwrap(),
            "vfio-pci"
        );
        sysfs.drivers_probe("0000:00:04.0").unwrap();
        assert_eq!(
            fs::read_to_string(fake.root.join("sys/bus/pci/drivers_probe")).unwrap(),
            "0000:00:04.0"
        );
        sysfs.new_id("vfio-pci", 0x1b36, 0x0010).unwrap();
        assert_eq!(
            fs::read_to_string(fake.root.join("sys/bus/pci/drivers/vfio-pci/new_id")).unwrap(),
            "1b36 0010"
        );
        sysfs.bind("0000:00:03.0", "vfio-pci").unwrap();
        sysfs.set_driver_override("0000:00:04.0", None).unwrap();
        assert_eq!(
            fs::read_to_string(nvme_dir.join("driver_override")).unwrap(),
            "\n"
        );
        // Unbinding a device without a driver does nothing.
        sysfs.unbind("0000:00:03.0").unwrap();
    }

    #[test]
    fn modules_and_drivers_are_found() {
        let fake = guest_like();
        let sysfs = fake.sysfs();
        assert!(sysfs.driver_registered("vfio-pci"));
        assert!(sysfs.module_present("vfio-pci"));
        assert!(sysfs.module_present("vfio_pci"));
        assert!(!sysfs.module_present("uio_pci_generic"));
        assert!(!sysfs.driver_registered("uio_pci_generic"));
    }

    #[test]
    fn the_command_line_is_parsed_like_the_kernel_does() {
        let fake = guest_like();
        fs::write(
            fake.root.join("proc/cmdline"),
            "BOOT_IMAGE=/vmlinuz ro quiet intel_iommu=on,sm_on iommu=pt dyndbg=\"file x +p\"\n",
        )
        .unwrap();
        let cmdline = fake.sysfs().kernel_cmdline().unwrap();
        assert!(cmdline.has("intel_iommu", "on"));
        assert!(cmdline.has("intel_iommu", "sm_on"));
        assert!(cmdline.has("iommu", "pt"));
        assert_eq!(cmdline.get("quiet"), Some(""));
        assert_eq!(cmdline.get("dyndbg"), Some("file x +p"));
        assert_eq!(cmdline.get("amd_iommu"), None);
        let later_wins = KernelCmdline::parse("iommu=pt iommu=nopt");
        assert_eq!(later_wins.get("iommu"), Some("nopt"));
    }

    #[test]
    fn resource_lines_parse_with_flags() {
        let resources = parse_resources(TESTDEV_RESOURCE);
        assert_eq!(resources.len(), 2);
        assert_eq!(resources[1].index, 1);
        assert_eq!(resources[1].start, 0xc000);
        assert!(resources[1].is_io() && !resources[1].is_mem());
    }
}
