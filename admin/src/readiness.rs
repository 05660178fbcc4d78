//! Whether a driver process can run here: the diagnosis behind `drydock check`.
//!
//! [`Facts::gather`] reads what readiness depends on (IOMMU groups and the firmware's IOMMU
//! table, the command line, interrupt remapping, the VFIO and UIO drivers and nodes, huge pages,
//! the process's memory-lock limit and capabilities, and the device named, if any); [`assess`]
//! turns the facts into [`Finding`]s, each problem with the exact command or setting that fixes
//! it. The split keeps the decisions testable for any situation, including ones a test machine
//! cannot be put in.

mod dma_need;
mod facts;

use std::fmt;

pub use dma_need::DmaNeed;
pub use drydock_host::sysfs::Access;
pub use facts::{DeviceFacts, Facts, HugePages, Process};

use drydock_host::dma::memory::memlock_verdict;
use drydock_host::error::{bind_command, HostError};
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::{choose, Interface, INTERFACE_ENV, IOMMUFD_PATH};

use crate::binding::UserspaceDriver;

/// How a finding bears on readiness.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// As needed.
    Ok,
    /// Worth knowing, but no obstacle.
    Note,
    /// An obstacle: a driver process would fail.
    Problem,
}

/// One thing checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What was checked (`IOMMU`, `memory lock`...).
    pub topic: &'static str,
    /// Its bearing.
    pub status: Status,
    /// What was found.
    pub found: String,
    /// What to do about it, if anything.
    pub fix: Option<String>,
}

/// A readiness report for one userspace driver (and one device).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The driver checked for.
    pub driver: UserspaceDriver,
    /// The device checked, canonical form.
    pub device: Option<String>,
    /// What was found, in checking order.
    pub findings: Vec<Finding>,
    /// For vfio-pci on a machine with no VFIO at all (no IOMMU, no vfio-pci driver, no
    /// container node): one paragraph that says so and what to do, which stands for the
    /// findings.
    pub no_vfio: Option<String>,
}

impl Report {
    /// Whether a driver process can run: no problem found.
    pub fn ready(&self) -> bool {
        self.findings.iter().all(|f| f.status != Status::Problem)
    }

    /// The problems found.
    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.status == Status::Problem)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Ok => "ok",
            Status::Note => "note",
            Status::Problem => "PROBLEM",
        })
    }
}

/// Checks the running system for `driver` (and the device at `address`), as the calling process,
/// for a driver process that locks `need` for DMA per device.
pub fn check(
    sysfs: &Sysfs,
    driver: UserspaceDriver,
    address: Option<&str>,
    need: DmaNeed,
) -> Result<Report, HostError> {
    let mut facts = Facts::gather(sysfs, driver, address, Process::current())?;
    facts.dma_need = need;
    Ok(assess(&facts, driver))
}

/// Collects findings.
struct Findings(Vec<Finding>);

impl Findings {
    fn push(&mut self, topic: &'static str, status: Status, found: String, fix: Option<String>) {
        self.0.push(Finding {
            topic,
            status,
            found,
            fix,
        });
    }

    fn ok(&mut self, topic: &'static str, found: String) {
        self.push(topic, Status::Ok, found, None);
    }

    fn note(&mut self, topic: &'static str, found: String, fix: String) {
        self.push(topic, Status::Note, found, Some(fix));
    }

    fn problem(&mut self, topic: &'static str, found: String, fix: String) {
        self.push(topic, Status::Problem, found, Some(fix));
    }
}

/// How a kernel parameter gets onto the command line for good.
const CMDLINE_HOWTO: &str = "on Debian and Ubuntu add it to GRUB_CMDLINE_LINUX in \
    /etc/default/grub, run `update-grub` and reboot";

/// Why no IOMMU is enabled, and the fix.
fn missing_iommu(facts: &Facts) -> (String, String) {
    for (parameter, vendor) in [
        ("intel_iommu", "Intel "),
        ("amd_iommu", "AMD "),
        ("iommu", ""),
    ] {
        if facts.cmdline.has(parameter, "off") {
            return (
                format!("the kernel command line turns the {vendor}IOMMU off (`{parameter}=off`)"),
                format!(
                    "remove `{parameter}=off` from the kernel command line and boot with \
                     `intel_iommu=on` (Intel) or `amd_iommu=on` (AMD); {CMDLINE_HOWTO}"
                ),
            );
        }
    }
    match facts.firmware_iommu.as_deref() {
        Some("IVRS") => (
            "the firmware describes an AMD IOMMU (ACPI IVRS table), but the kernel did not \
             enable it"
                .to_owned(),
            format!(
                "boot with `amd_iommu=on` ({CMDLINE_HOWTO}); the kernel must be built with \
                 CONFIG_AMD_IOMMU"
            ),
        ),
        Some(table) => (
            format!(
                "the firmware describes an IOMMU (ACPI {table} table), but the kernel did not \
                 enable it"
            ),
            format!("boot with `intel_iommu=on`; {CMDLINE_HOWTO}"),
        ),
        None => (
            "the firmware describes none (it has no ACPI DMAR or IVRS table)".to_owned(),
            "enable VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, then boot with \
             `intel_iommu=on` (Intel); in a virtual machine, give it a virtual IOMMU (QEMU: \
             `-machine q35,kernel-irqchip=split -device intel-iommu,intremap=on`)"
                .to_owned(),
        ),
    }
}

/// The fix for a driver that is not loaded.
fn load_fix(facts: &Facts, module: &str) -> String {
    if facts.modules_disabled {
        format!(
            "the kernel forbids loading modules (`nomodule` on its command line, or \
             /proc/sys/kernel/modules_disabled): boot without that, then `modprobe {module}`, or \
             use a kernel with {module} built in"
        )
    } else {
        format!("run `modprobe {module}` as root (`drydock bind` does it when needed)")
    }
}

/// The fix for a node the process (running as `user`) may not open, for the device at `address`
/// if one was named.
fn access_fix(node: &str, user: &str, address: Option<&str>) -> String {
    if node == "/dev/vfio/vfio" {
        "let every user open it, as is the kernel's default: `chmod 0666 /dev/vfio/vfio` (as \
         root), or run the driver as root"
            .to_owned()
    } else if node.starts_with("/dev/vfio/") || node == IOMMUFD_PATH {
        format!(
            "as root, run `drydock bind --user {user} {}` to give {user} the device's VFIO \
             nodes, or run the driver as root",
            address.unwrap_or("BDF")
        )
    } else {
        format!(
            "run the driver as root, or give your user the node: `chown {user} {node}` until the \
             next boot"
        )
    }
}

/// Turns facts into findings for `driver`.
pub fn assess(facts: &Facts, driver: UserspaceDriver) -> Report {
    let mut f = Findings(Vec::new());
    let vfio = driver == UserspaceDriver::VfioPci;

    // The IOMMU.
    let translating = facts
        .domain_types
        .iter()
        .any(|t| t == "DMA" || t == "DMA-FQ");
    if facts.iommu_groups > 0 {
        let domains = if facts.domain_types.is_empty() {
            String::new()
        } else {
            format!(", default domains {}", facts.domain_types.join(", "))
        };
        let found = format!("enabled: {} IOMMU groups{domains}", facts.iommu_groups);
        if !vfio && translating {
            f.problem(
                "IOMMU",
                format!(
                    "{found}: it translates DMA, so a device driven through UIO, which \
                         programs physical addresses, faults"
                ),
                format!(
                    "boot with `iommu=pt` as well ({CMDLINE_HOWTO}), or use vfio-pci, which works \
                     with the IOMMU"
                ),
            );
        } else {
            f.ok("IOMMU", found);
        }
    } else if vfio {
        let (found, fix) = missing_iommu(facts);
        f.problem("IOMMU", format!("not enabled: {found}"), fix);
    } else {
        f.ok("IOMMU", "not enabled (UIO does not use it)".to_owned());
    }

    // Interrupt remapping.
    if vfio {
        match facts.interrupt_remapping {
            Some(true) => f.ok("interrupt remapping", "enabled".to_owned()),
            Some(false) if facts.unsafe_interrupts => f.note(
                "interrupt remapping",
                "off, accepted by vfio_iommu_type1 allow_unsafe_interrupts=1".to_owned(),
                "a device can then raise interrupts it was not given; enable remapping in the \
                 firmware (with VT-d/AMD-Vi) to close that"
                    .to_owned(),
            ),
            Some(false) if cfg!(target_arch = "x86_64") => f.problem(
                "interrupt remapping",
                "off: VFIO refuses to attach a device's group without it".to_owned(),
                "enable it in the firmware with VT-d/AMD-Vi and do not boot with `intremap=off`; \
                 or, accepting that a device may forge interrupts, `modprobe vfio_iommu_type1 \
                 allow_unsafe_interrupts=1`"
                    .to_owned(),
            ),
            _ => f.note(
                "interrupt remapping",
                "not told by /proc/interrupts on this system".to_owned(),
                "nothing to do unless VFIO refuses to attach a group".to_owned(),
            ),
        }
    }

    // The driver and its nodes.
    if vfio {
        if facts.vfio_pci {
            f.ok("vfio-pci", "the driver is loaded".to_owned());
        } else {
            f.problem(
                "vfio-pci",
                "the driver is not loaded".to_owned(),
                load_fix(facts, "vfio-pci"),
            );
        }
        // Without the container, drivers still reach devices through their cdevs and iommufd.
        let cdev_only = facts.iommufd == Access::Granted;
        match facts.container {
            Access::Granted => f.ok("/dev/vfio/vfio", "present, open to this user".to_owned()),
            Access::Denied if cdev_only => f.note(
                "/dev/vfio/vfio",
                "present, but this user may not open it: drivers reach devices through their \
                 device cdevs with iommufd only"
                    .to_owned(),
                access_fix("/dev/vfio/vfio", &facts.user, None),
            ),
            Access::Denied => f.problem(
                "/dev/vfio/vfio",
                "present, but this user may not open it".to_owned(),
                access_fix("/dev/vfio/vfio", &facts.user, None),
            ),
            Access::Missing if cdev_only => f.ok(
                "/dev/vfio/vfio",
                "absent (a kernel without VFIO's group interface): drivers reach devices through \
                 their device cdevs with iommufd"
                    .to_owned(),
            ),
            Access::Missing => f.problem(
                "/dev/vfio/vfio",
                "missing: VFIO is not loaded".to_owned(),
                load_fix(facts, "vfio-pci"),
            ),
        }
        match facts.iommufd {
            Access::Granted => f.ok(
                "/dev/iommu",
                "present, open to this user: drivers use VFIO's device cdev with iommufd for \
                 devices that have one"
                    .to_owned(),
            ),
            Access::Denied => f.note(
                "/dev/iommu",
                "present, but this user may not open it: drivers use the group interface"
                    .to_owned(),
                access_fix(IOMMUFD_PATH, &facts.user, None),
            ),
            Access::Missing => f.ok(
                "/dev/iommu",
                "absent (a kernel without CONFIG_IOMMUFD): drivers use the group interface"
                    .to_owned(),
            ),
        }
        if let Err(text) = &facts.requested {
            f.problem(
                "VFIO interface",
                text.clone(),
                format!("set {INTERFACE_ENV} to `group`, `cdev` or `auto`, or unset it"),
            );
        }
        if facts.device.is_none() {
            for (node, access) in &facts.group_nodes {
                if *access == Access::Denied {
                    f.problem(
                        "/dev/vfio",
                        format!("{node}: this user may not open it"),
                        access_fix(node, &facts.user, None),
                    );
                }
            }
        }
    } else if facts.uio_pci_generic {
        f.ok("uio_pci_generic", "the driver is loaded".to_owned());
    } else {
        f.problem(
            "uio_pci_generic",
            "the driver is not loaded".to_owned(),
            load_fix(facts, "uio_pci_generic"),
        );
    }

    // Memory.
    let need = facts.dma_need;
    let needed = need.bytes;
    let what = match need.driver {
        Some(driver) => format!(
            "the {} KiB {driver} locks for DMA per device",
            needed / 1024
        ),
        None => format!(
            "the {} KiB of one DMA chunk, the least a driver locks per device (`--for DRIVER` \
             checks for what one of drydock's drivers locks: {})",
            needed / 1024,
            DmaNeed::known().collect::<Vec<_>>().join(", ")
        ),
    };
    let process = facts.process;
    match memlock_verdict(0, needed, process.memlock, process.ipc_lock) {
        Ok(()) => f.ok(
            "memory lock",
            match (process.ipc_lock, process.memlock) {
                (true, _) => "no limit (CAP_IPC_LOCK)".to_owned(),
                (false, None) => "RLIMIT_MEMLOCK is unlimited".to_owned(),
                (false, Some(limit)) => {
                    format!("RLIMIT_MEMLOCK is {} KiB, enough for {what}", limit / 1024)
                }
            },
        ),
        Err(err) => f.problem(
            "memory lock",
            format!(
                "RLIMIT_MEMLOCK is {} KiB, below {what}",
                process.memlock.unwrap_or(0) / 1024
            ),
            err.to_string(),
        ),
    }
    let pages = facts.huge_pages;
    let reserve = "reserve some: `echo 64 > /proc/sys/vm/nr_hugepages` (as root; \
                   `vm.nr_hugepages = 64` in /etc/sysctl.d/ for good, or `hugepages=64` on the \
                   kernel command line)";
    match (pages.free > 0, vfio) {
        (true, _) => f.ok(
            "huge pages",
            format!("{} of {} 2 MiB pages free", pages.free, pages.total),
        ),
        (false, true) => f.note(
            "huge pages",
            format!(
                "none free ({} reserved): DMA memory comes in 4 KiB pages, each an IOMMU entry",
                pages.total
            ),
            reserve.to_owned(),
        ),
        (false, false) => f.problem(
            "huge pages",
            format!(
                "none free ({} reserved): without an IOMMU, a DMA buffer over 4 KiB must be one \
                 physically contiguous 2 MiB page",
                pages.total
            ),
            reserve.to_owned(),
        ),
    }
    if !vfio && !process.sys_admin {
        f.problem(
            "physical addresses",
            "this process lacks CAP_SYS_ADMIN, so the kernel hides physical addresses, which \
             UIO DMA programs"
                .to_owned(),
            "run the driver as root".to_owned(),
        );
    }
    if vfio {
        if facts.uio_pci_generic {
            f.ok(
                "UIO",
                "uio_pci_generic is loaded: a fallback without DMA isolation".to_owned(),
            );
        } else {
            f.ok(
                "UIO",
                "uio_pci_generic is not loaded (only needed without an IOMMU)".to_owned(),
            );
        }
    }

    // The device.
    if let Some(device) = &facts.device {
        let requested = facts.requested.clone().unwrap_or(None);
        assess_device(&mut f, device, driver, requested, &facts.user);
    }

    let no_vfio =
        (vfio && facts.iommu_groups == 0 && !facts.vfio_pci && facts.container == Access::Missing)
            .then(|| no_vfio_paragraph(facts));
    Report {
        driver,
        device: facts.device.as_ref().map(|d| d.info.address.clone()),
        findings: f.0,
        no_vfio,
    }
}

fn assess_device(
    f: &mut Findings,
    device: &DeviceFacts,
    driver: UserspaceDriver,
    requested: Option<Interface>,
    user: &str,
) {
    let address = &device.info.address;
    let vfio = driver == UserspaceDriver::VfioPci;
    match device.info.driver.as_deref() {
        Some(bound) if bound == driver.name() => {
            f.ok("device", format!("{address} is bound to {bound}"));
        }
        current => {
            let mut found = format!(
                "{address} is bound to {}, not {driver}",
                current.unwrap_or("no driver")
            );
            let mut fix = format!("run `{}`", bind_command(Some(address), driver.name()));
            if !device.uses.is_empty() {
                let uses: Vec<String> = device.uses.iter().map(ToString::to_string).collect();
                found.push_str(&format!(", and in use: {}", uses.join("; ")));
                fix = format!("stop using it, then {fix}");
            }
            f.problem("device", found, fix);
        }
    }
    if vfio {
        if let Some(group) = device.info.iommu_group {
            if device.blockers.is_empty() {
                f.ok("IOMMU group", format!("{group}: viable"));
            } else {
                let others: Vec<String> = device
                    .blockers
                    .iter()
                    .map(|(a, d)| format!("{a} ({d})"))
                    .collect();
                f.problem(
                    "IOMMU group",
                    format!(
                        "{group}: not viable, {} keep kernel drivers",
                        others.join(", ")
                    ),
                    format!("run `drydock bind --group {address}`"),
                );
            }
            let interface = match &device.vfio {
                Some(offer) => match choose(address, requested, offer) {
                    Ok(choice) => {
                        f.ok(
                            "interface",
                            format!("{} ({})", choice.interface, choice.reason),
                        );
                        Some(choice.interface)
                    }
                    Err(err) => {
                        f.problem(
                            "interface",
                            err.to_string(),
                            format!("unset {INTERFACE_ENV}, or set it to `group`"),
                        );
                        None
                    }
                },
                None => Some(Interface::Group),
            };
            if interface == Some(Interface::Cdev) {
                assess_cdev(f, device, user);
            } else {
                assess_group_node(f, device, driver, group, user);
            }
            if !device.holders.is_empty() {
                let holders: Vec<String> = device
                    .holders
                    .iter()
                    .map(|(pid, command)| format!("PID {pid} ({command})"))
                    .collect();
                let pids: Vec<String> = device.holders.iter().map(|(p, _)| p.to_string()).collect();
                f.problem(
                    "in use",
                    format!("{address} is held by {}", holders.join(", ")),
                    format!(
                        "VFIO gives a device to one process at a time: stop that driver (`kill \
                         {}`) before starting another",
                        pids.join(" ")
                    ),
                );
            }
        }
    } else {
        for (node, access) in &device.uio_nodes {
            if *access == Access::Denied {
                f.problem(
                    "UIO node",
                    format!("{node}: this user may not open it"),
                    access_fix(node, user, Some(address)),
                );
            }
        }
    }
}

/// The device cdev of a device reached through it.
fn assess_cdev(f: &mut Findings, device: &DeviceFacts, user: &str) {
    let Some((node, access)) = device.vfio.as_ref().and_then(|offer| offer.cdev.as_ref()) else {
        return;
    };
    match access {
        Access::Granted => f.ok("cdev node", format!("{node}, open to this user")),
        Access::Denied => f.problem(
            "cdev node",
            format!("{node}: this user may not open it"),
            access_fix(node, user, Some(&device.info.address)),
        ),
        Access::Missing => f.problem(
            "cdev node",
            format!("{node} is missing although sysfs numbers the device cdev"),
            "check that devtmpfs is mounted on /dev and udev is running".to_owned(),
        ),
    }
}

/// The group node of a device reached through its group.
fn assess_group_node(
    f: &mut Findings,
    device: &DeviceFacts,
    driver: UserspaceDriver,
    group: u32,
    user: &str,
) {
    let node = format!("/dev/vfio/{group}");
    match device.group_node {
        Access::Granted => f.ok("group node", format!("{node}, open to this user")),
        Access::Denied => f.problem(
            "group node",
            format!("{node}: this user may not open it"),
            access_fix(&node, user, Some(&device.info.address)),
        ),
        // Missing while not bound to vfio-pci is the device problem above.
        Access::Missing if device.info.driver.as_deref() == Some(driver.name()) => f.problem(
            "group node",
            format!("{node} is missing although the device is bound to vfio-pci"),
            "check that devtmpfs is mounted on /dev and udev is running".to_owned(),
        ),
        Access::Missing => {}
    }
}

/// The paragraph for a machine without VFIO.
fn no_vfio_paragraph(facts: &Facts) -> String {
    let (why, fix) = missing_iommu(facts);
    let modules = if facts.modules_disabled {
        ", and the kernel forbids loading modules (`nomodule`)"
    } else {
        ""
    };
    let uio = if facts.uio_pci_generic {
        "uio_pci_generic is loaded"
    } else {
        "uio_pci_generic is not loaded either"
    };
    format!(
        "This machine has no VFIO, so drivers cannot reach PCI devices through vfio-pci here. No \
         IOMMU is enabled: {why}. The vfio-pci driver is not loaded{modules}. To use VFIO, {fix}; \
         then run `modprobe vfio-pci` and `drydock check` again. Without an IOMMU, UIO reaches \
         devices with no DMA isolation ({uio}; `drydock check --driver uio_pci_generic` checks \
         that path). Drivers also run, with no device at all, on drydock's simulated PCI bus."
    )
}

#[cfg(test)]
mod tests;
