//! The kernel's view of PCI devices: `/sys/bus/pci`, IOMMU groups, modules and the command line.
//!
//! This is the mechanism both the backends (which device is bound to what, which IOMMU group it is
//! in, where its UIO node is) and the `drydock` command (listing, binding, checking) build on. It
//! holds no policy: it reads what the kernel shows and writes the files the kernel offers for
//! binding (`driver_override`, `unbind`, `drivers_probe`, `new_id`), and leaves decisions to its
//! callers.
//!
//! Every path is taken relative to a root directory ([`Sysfs::at`]), so tests lay out a fake tree
//! in a temporary directory (real files and symbolic links, as the kernel shows them: the test
//! support crate `drydock-sim` makes them) and run the same code as on a real system
//! ([`Sysfs::system`], rooted at `/`). Writes and module loads go through a [`Kernel`]: the
//! running one, or on a fake tree a simulation of what the kernel does in answer.

pub mod kernel;

use std::fmt;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::error::HostError;
use super::pci_id::{canonical_address, PciIds};
pub use kernel::{Kernel, NoKernel, RunningKernel};

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
/// The prefix of the VFIO device cdev of a device in no-IOMMU mode: `noiommu-vfio0`.
pub const NOIOMMU_CDEV_PREFIX: &str = "noiommu-";
/// VFIO's switch for its no-IOMMU mode (`Y` or `N`), relative to the root; writable at run time.
pub const NOIOMMU_MODE_PARAMETER: &str = "sys/module/vfio/parameters/enable_unsafe_noiommu_mode";

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
    /// Returns the IDs drivers are matched by.
    pub fn ids(&self) -> PciIds {
        PciIds {
            vendor: self.vendor,
            device: self.device,
            subsystem_vendor: self.subsystem_vendor,
            subsystem_device: self.subsystem_device,
            class: self.class,
        }
    }

    /// Returns BAR `index` (0 to 5), if implemented.
    pub fn bar(&self, index: usize) -> Option<&Resource> {
        (index < 6)
            .then(|| self.resources.iter().find(|r| r.index == index))
            .flatten()
    }
}

/// Whether the calling process may open a node for reading and writing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// The node does not exist.
    Missing,
    /// It exists, but this process may not open it for reading and writing.
    Denied,
    /// It exists and may be opened.
    Granted,
}

impl Access {
    /// Probes `path` with `access(2)` for the process's real user.
    pub fn of(path: &Path) -> Self {
        if !path.exists() {
            return Access::Missing;
        }
        let mode = nix::unistd::AccessFlags::R_OK | nix::unistd::AccessFlags::W_OK;
        match nix::unistd::access(path, mode) {
            Ok(()) => Access::Granted,
            Err(_) => Access::Denied,
        }
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

/// Drivers whose devices leave an IOMMU group usable by VFIO: they let userspace or nobody do
/// the device's DMA (the kernel's `driver_managed_dma`): vfio-pci, pci-stub and the PCIe port
/// driver. vfio-pci's variant drivers (`mlx5_vfio_pci`...) count too, by name.
const DMA_SAFE_DRIVERS: &[&str] = &["vfio-pci", "pci-stub", "pcieport"];

/// Whether a device bound to `driver` leaves its IOMMU group usable by VFIO.
pub fn leaves_group_viable(driver: &str) -> bool {
    DMA_SAFE_DRIVERS.contains(&driver) || driver.contains("vfio")
}

/// The sysfs and procfs trees of a system, rooted at a directory, and the kernel that answers
/// writes to them.
#[derive(Clone)]
pub struct Sysfs {
    root: PathBuf,
    kernel: Arc<dyn Kernel>,
}

impl fmt::Debug for Sysfs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sysfs")
            .field("root", &self.root)
            .field("kernel", &self.kernel)
            .finish()
    }
}

impl Default for Sysfs {
    fn default() -> Self {
        Self::system()
    }
}

/// Reads a file as trimmed text, or `None` if it does not exist.
pub fn read_optional(path: &Path) -> Result<Option<String>, HostError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text.trim().to_owned())),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(file_error("reading", path, err)),
    }
}

/// Converts a failed file operation into the error that says what to do.
pub fn file_error(what: &str, path: &Path, err: io::Error) -> HostError {
    if err.kind() == io::ErrorKind::PermissionDenied {
        HostError::Permission {
            path: path.display().to_string(),
        }
    } else {
        HostError::os(format!("{what} {}", path.display()), err)
    }
}

/// Parses a sysfs hexadecimal attribute such as `0x1234`.
pub fn parse_hex(text: &str) -> Option<u64> {
    u64::from_str_radix(text.trim().trim_start_matches("0x"), 16).ok()
}

/// The name of the last component of the target of symbolic link `link`, if it is one.
pub fn link_name(link: &Path) -> Option<String> {
    let target = fs::read_link(link).ok()?;
    Some(target.file_name()?.to_string_lossy().into_owned())
}

/// Lists the entry names of a directory, sorted; empty if it does not exist.
pub fn list_dir(dir: &Path) -> Result<Vec<String>, HostError> {
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
    /// The running system's trees (`/sys`, `/proc`, `/dev`, `/run`), answered by the running
    /// kernel.
    pub fn system() -> Self {
        Self::with_kernel("/", Arc::new(RunningKernel))
    }

    /// The trees under `root` (`root/sys/...`, `root/proc/...`) with nothing behind them: writes
    /// only change files and modules cannot be loaded ([`NoKernel`]). For reading a copied or
    /// fake layout.
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self::with_kernel(root, Arc::new(NoKernel))
    }

    /// The trees under `root`, answered by `kernel` (a simulation, on a fake tree).
    pub fn with_kernel(root: impl Into<PathBuf>, kernel: Arc<dyn Kernel>) -> Self {
        Self {
            root: root.into(),
            kernel,
        }
    }

    /// Returns the root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/<relative>`: where this tree keeps what the system keeps at `/<relative>`.
    pub fn path(&self, relative: &str) -> PathBuf {
        self.root.join(relative.trim_start_matches('/'))
    }

    /// The sysfs directory of the device at `address` (canonical form).
    pub fn device_dir(&self, address: &str) -> PathBuf {
        self.path("sys/bus/pci/devices").join(address)
    }

    /// The sysfs directory of PCI driver `driver`.
    pub fn driver_dir(&self, driver: &str) -> PathBuf {
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

    /// Whether VFIO's no-IOMMU mode is on (`CONFIG_VFIO_NOIOMMU`, with its module parameter
    /// `enable_unsafe_noiommu_mode` set): vfio-pci then takes devices that have no IOMMU group,
    /// into a no-IOMMU group of their own.
    pub fn vfio_noiommu_mode(&self) -> bool {
        fs::read_to_string(self.path(NOIOMMU_MODE_PARAMETER)).is_ok_and(|value| value.trim() == "Y")
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
    /// those bound to a driver that does DMA for the kernel, with that driver. The kernel's rule
    /// is that every device of a group must be bound to a VFIO driver, to a driver that does no
    /// DMA of its own ([`leaves_group_viable`]) or to none.
    pub fn group_blockers(&self, group: u32) -> Result<Vec<(String, String)>, HostError> {
        Ok(self
            .group_members(group)?
            .into_iter()
            .filter_map(|address| {
                let driver = self.driver(&address)?;
                (!leaves_group_viable(&driver)).then_some((address, driver))
            })
            .collect())
    }

    /// Returns the type of IOMMU group `group`'s default domain (`DMA`, `DMA-FQ`, `identity`...),
    /// if the kernel shows it.
    pub fn group_type(&self, group: u32) -> Result<Option<String>, HostError> {
        read_optional(&self.path(&format!("sys/kernel/iommu_groups/{group}/type")))
    }

    /// Returns the device's `modalias` (`pci:v00008086d000010D3...`), which names the modules
    /// whose drivers match it.
    pub fn modalias(&self, address: &str) -> Result<Option<String>, HostError> {
        read_optional(&self.device_dir(address).join("modalias"))
    }

    /// Returns the name (`vfio0`...) of the VFIO device cdev of the device at `address`
    /// (canonical form), if the kernel gave it one: its `vfio-dev/vfioN` entry with a device
    /// number. The kernel shows `vfio-dev/vfioN` for every device bound to a VFIO driver, but
    /// gives it a number (and `/dev/vfio/devices/vfioN`) only when built with
    /// `CONFIG_VFIO_DEVICE_CDEV`. A device VFIO took in no-IOMMU mode has the entry
    /// `noiommu-vfioN`, numbered when the kernel also has `CONFIG_IOMMUFD_NOIOMMU` (Linux 7.3).
    pub fn vfio_cdev(&self, address: &str) -> Option<String> {
        let dir = self.device_dir(address).join("vfio-dev");
        list_dir(&dir).ok()?.into_iter().find(|name| {
            let bare = name.strip_prefix(NOIOMMU_CDEV_PREFIX).unwrap_or(name);
            bare.starts_with("vfio") && dir.join(name).join("dev").exists()
        })
    }

    /// Returns the processes that have `node` (`/dev/vfio/7`) open, as (pid, command name), read
    /// from the links in `/proc/<pid>/fd`; processes this user may not inspect are not seen.
    pub fn openers(&self, node: &str) -> Vec<(u32, String)> {
        let proc_dir = self.path("proc");
        let Ok(entries) = list_dir(&proc_dir) else {
            return Vec::new();
        };
        let mut found: Vec<(u32, String)> = entries
            .into_iter()
            .filter_map(|pid| pid.parse::<u32>().ok())
            .filter(|pid| {
                let fd_dir = proc_dir.join(pid.to_string()).join("fd");
                list_dir(&fd_dir).unwrap_or_default().iter().any(|fd| {
                    fs::read_link(fd_dir.join(fd)).is_ok_and(|target| target == Path::new(node))
                })
            })
            .map(|pid| {
                let comm = read_optional(&proc_dir.join(pid.to_string()).join("comm"))
                    .ok()
                    .flatten()
                    .unwrap_or_else(|| "?".to_owned());
                (pid, comm)
            })
            .collect();
        found.sort();
        found
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

    /// Loads kernel module `module` (or the modules a `modalias` names) unless it is present.
    pub fn load_module(&self, module: &str) -> Result<(), HostError> {
        if self.module_present(module) {
            return Ok(());
        }
        log::debug!(target: "drydock::sysfs", "loading module {module}");
        self.kernel.load_module(self, module)
    }

    /// Reads the kernel command line.
    pub fn kernel_cmdline(&self) -> Result<KernelCmdline, HostError> {
        let path = self.path("proc/cmdline");
        let text = fs::read_to_string(&path).map_err(|err| file_error("reading", &path, err))?;
        Ok(KernelCmdline::parse(&text))
    }

    /// Writes `value` to a sysfs file, through the kernel that answers it.
    fn write(&self, path: &Path, value: &str) -> Result<(), HostError> {
        log::debug!(target: "drydock::sysfs", "writing `{value}` to {}", path.display());
        self.kernel.write(self, path, value)
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
