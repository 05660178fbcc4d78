//! The registry of guest test cases.
//!
//! A case is a plain function returning `Ok(())` or a failure message. It runs in its own
//! process inside the guest, as root, with the guest's devices in whatever state earlier cases
//! left them: a case that needs a device bound to a particular driver binds it itself.
//! Anything a case prints is kept and shown to the developer when it fails.
//!
//! To add a case, write the function in one of the modules below (or a new one) and add a
//! [`Case`] entry to [`CASES`]. The host picks it up without further changes: it asks the
//! runner binary for this list, and runs each case in every guest profile whose IOMMU mode the
//! case lists.
//!
//! A case that drives devices through drydock's VFIO backend (directly, or through a driver
//! process it starts) says so (`vfio: BOTH_INTERFACES`) and runs once per VFIO interface: as
//! itself over the group interface, and as `<name>_cdev` over the device cdev with iommufd, which
//! needs a kernel with it ([`Feature::VfioCdev`]). The case's process sets
//! `DRYDOCK_VFIO_INTERFACE` for itself and the processes it starts.
//!
//! The runner fails a case during which the kernel logs a message that reports trouble (an IOMMU
//! fault, a warning, a bug, an interrupt nobody handled, a VFIO error: [`crate::trouble`]),
//! unless the case provokes it on purpose and says so in `expected_kernel_messages`.

mod caesar;
mod cli;
mod crash_cycles;
mod debugfs;
mod driver_process;
mod drivers;
mod drydock_vfio;
pub(crate) mod edu_round_trips;
mod environment;
mod huge_pages;
mod in_kernel;
mod isolation;
mod kunit;
mod leaks;
mod misc_device;
mod msix_flood;
mod nulldisk;
mod nvme;
mod nvme_ublk;
mod nvme_ublk_bench;
mod processes;
mod rnull;
mod self_check;
mod shell;
mod state;
mod unprivileged;
mod vfio;

use std::time::Duration;

use drydock_guest::protocol::{CaseInfo, Feature, IommuMode};
use drydock_host::vfio::Interface;

pub use crash_cycles::{CYCLES_ENV as CRASH_CYCLES_ENV, SEED_ENV as CRASH_SEED_ENV};

/// A case's result: `Err` holds the failure message.
pub type CaseResult = Result<(), String>;

/// A guest test case.
pub struct Case {
    /// The case's name, unique, made of `[a-z0-9_]`.
    pub name: &'static str,
    /// The IOMMU modes (and so the guest profiles) under which the case runs.
    pub iommu: &'static [IommuMode],
    /// The kernel features the case needs: it runs only in profiles whose kernel offers them.
    pub needs: &'static [Feature],
    /// Whether the case drives devices through drydock's VFIO backend, and so runs once per VFIO
    /// interface the kernel offers ([`BOTH_INTERFACES`]).
    pub vfio: bool,
    /// Kernel messages the case provokes on purpose: text held by the records reporting trouble
    /// (see [`crate::trouble`]) that the case expects. Any other record reporting trouble while
    /// the case runs fails it.
    pub expected_kernel_messages: &'static [&'static str],
    /// How long the case may run before the runner kills it.
    pub timeout: Duration,
    /// The test itself.
    pub run: fn() -> CaseResult,
}

/// The suffix of the name of a case's run over VFIO's device cdev.
pub const CDEV_SUFFIX: &str = "_cdev";

impl Case {
    /// The case as the protocol describes it to the host.
    pub fn info(&self) -> CaseInfo {
        CaseInfo {
            name: self.name.to_owned(),
            timeout: self.timeout,
            iommu: self.iommu.to_vec(),
            needs: self.needs.to_vec(),
        }
    }

    /// The case's runs, as listed to the host: the case, and for one that drives devices through
    /// drydock's VFIO backend, its run over the device cdev, which needs a kernel with it.
    pub fn listed(&self) -> Vec<CaseInfo> {
        let mut runs = vec![self.info()];
        if self.vfio {
            let mut cdev = self.info();
            cdev.name.push_str(CDEV_SUFFIX);
            cdev.needs.push(Feature::VfioCdev);
            runs.push(cdev);
        }
        runs
    }
}

/// A case as a plan names it: the case, and the VFIO interface its run is forced onto (`None`
/// for a case that does not drive devices through drydock's VFIO backend).
pub struct Planned {
    /// The name in the plan (the case's, or its cdev run's).
    pub name: String,
    /// The case.
    pub case: &'static Case,
    /// The interface of the run.
    pub interface: Option<Interface>,
}

/// Fails the current case with a formatted message unless `condition` holds.
macro_rules! ensure {
    ($condition:expr, $($message:tt)+) => {
        if !$condition {
            return Err(format!($($message)+));
        }
    };
}
pub(crate) use ensure;
pub use leaks::{run as load_cycles, Driver};

const ANY: &[IommuMode] = &IommuMode::ALL;
const WITH_GROUPS: &[IommuMode] = &[IommuMode::Translated, IommuMode::Passthrough];
const TRANSLATED: &[IommuMode] = &[IommuMode::Translated];
const PASSTHROUGH: &[IommuMode] = &[IommuMode::Passthrough];
const OFF: &[IommuMode] = &[IommuMode::Off];

/// For cases any kernel can run.
const ANY_KERNEL: &[Feature] = &[];
/// For cases that load drydock's drivers as kernel modules: the proof kernel.
const DRIVER_MODULES: &[Feature] = &[Feature::DriverModules];
/// For cases that serve a disk through ublk: the proof kernel.
const UBLK: &[Feature] = &[Feature::Ublk];
/// For cases that serve a misc device through CUSE: the proof kernel.
const CUSE: &[Feature] = &[Feature::Cuse];
/// For cases that use VFIO's no-IOMMU mode: the proof kernel.
const VFIO_NOIOMMU: &[Feature] = &[Feature::VfioNoIommu];

/// For cases that drive devices through drydock's VFIO backend: they run over the group interface
/// and, on kernels with VFIO's device cdev, a second time over the cdev as `<name>_cdev`.
const BOTH_INTERFACES: bool = true;
/// For the other cases.
const ONE_INTERFACE: bool = false;

/// For cases that expect no kernel message reporting trouble: most.
const NONE_EXPECTED: &[&str] = &[];

/// The IOMMU's report of a DMA fault of edu (at 00:02.0) at any address, for the case that makes
/// edu write outside its mappings on purpose: `DMAR: DRHD: handling fault status reg 2`, then
/// `DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x... [fault reason 0x05] PTE
/// Write access is not set` (7.3 names the device `[0000:00:02.0]`).
const EDU_DMA_FAULT: &[&str] = &[
    "DMAR: DRHD: handling fault status reg",
    "00:02.0] fault addr ",
];
/// The IOMMU's report of edu's write to address 0: an MSI the device sends while the kernel has
/// shut its vector down (an MSI is a DMA write, to the address of the message, which the
/// kernel zeroes when it deactivates the vector).
const EDU_MSI_TO_ADDRESS_0: &[&str] = &[
    "DMAR: DRHD: handling fault status reg",
    "00:02.0] fault addr 0x0 [",
];

/// The default timeout: generous, because the guest is emulated (TCG) on a busy machine.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// Every case the host runs in its guests, in run order.
pub const CASES: &[Case] = &[
    Case {
        name: "pci_devices_present",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::pci_devices_present,
    },
    Case {
        name: "kernel_drivers_bind_nvme_and_e1000e",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::kernel_drivers_bind_nvme_and_e1000e,
    },
    Case {
        name: "each_device_has_its_own_iommu_group",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::each_device_has_its_own_iommu_group,
    },
    Case {
        name: "iommu_domains_translate",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::iommu_domains_translate,
    },
    Case {
        name: "iommu_domains_are_identity",
        iommu: PASSTHROUGH,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::iommu_domains_are_identity,
    },
    Case {
        name: "no_iommu_groups",
        iommu: OFF,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: environment::no_iommu_groups,
    },
    Case {
        name: "vfio_container_opens",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: vfio::vfio_container_opens,
    },
    Case {
        name: "vfio_pci_bind_creates_group_node",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: vfio::vfio_pci_bind_creates_group_node,
    },
    Case {
        name: "vfio_edu_bar0_registers",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: vfio::vfio_edu_bar0_registers,
    },
    Case {
        name: "vfio_pci_refuses_device_without_iommu",
        iommu: OFF,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        // vfio-pci's refusal is what it asserts: the driver core logs the failed probe (6.1:
        // `vfio-pci: probe of 0000:00:02.0 failed with error -22`; 7.3: `vfio-pci 0000:00:02.0:
        // probe with driver vfio-pci failed with error -22`).
        expected_kernel_messages: &["failed with error -22"],
        timeout: DEFAULT_TIMEOUT,
        run: vfio::vfio_pci_refuses_device_without_iommu,
    },
    Case {
        name: "drydock_vfio_edu_bar_mmap",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_edu_bar_mmap,
    },
    Case {
        name: "drydock_vfio_edu_bar_fallback",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_edu_bar_fallback,
    },
    Case {
        name: "drydock_vfio_io_bar_fallback",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_io_bar_fallback,
    },
    Case {
        name: "drydock_vfio_config_space",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_config_space,
    },
    Case {
        name: "drydock_vfio_edu_msi",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_edu_msi,
    },
    Case {
        name: "drydock_vfio_edu_intx",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_edu_intx,
    },
    Case {
        name: "drydock_vfio_irq_masking",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        // It has edu send an MSI while the vector is shut down, to see that it is not delivered:
        // the IOMMU blocks the message's write to address 0 and reports it (in passthrough mode
        // too: VFIO gives the device a translating domain of its own).
        expected_kernel_messages: EDU_MSI_TO_ADDRESS_0,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_irq_masking,
    },
    Case {
        name: "drydock_vfio_edu_dma_round_trip",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_edu_dma_round_trip,
    },
    Case {
        name: "drydock_vfio_dma_pool_one_map",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_dma_pool_one_map,
    },
    Case {
        name: "drydock_vfio_iova_ranges",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_iova_ranges,
    },
    Case {
        name: "drydock_vfio_reset",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_reset,
    },
    Case {
        name: "drydock_vfio_wrong_driver",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_wrong_driver,
    },
    Case {
        name: "drydock_vfio_group_not_viable",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_group_not_viable,
    },
    Case {
        name: "drydock_vfio_no_iommu",
        iommu: OFF,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_no_iommu,
    },
    Case {
        name: "drydock_vfio_noiommu_edu",
        iommu: OFF,
        needs: VFIO_NOIOMMU,
        vfio: BOTH_INTERFACES,
        // VFIO warns when it makes a no-IOMMU group (binding edu) and when a process opens a
        // device through one; the case asserts the second.
        expected_kernel_messages: &[
            // `... for vfio-noiommu group on device`, and on kernels with the device cdev
            // `... for vfio-noiommu cdev` too.
            "Adding kernel taint for vfio-noiommu",
            "vfio-noiommu device opened by user",
        ],
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_noiommu_edu,
    },
    Case {
        name: "drydock_vfio_domain_per_device",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_domain_per_device,
    },
    Case {
        name: "drydock_vfio_interface_is_chosen",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_vfio_interface_is_chosen,
    },
    Case {
        name: "drydock_vfio_device_in_use_names_the_pid",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::drydock_vfio_device_in_use_names_the_pid,
    },
    Case {
        name: "two_driver_processes_at_once",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(180),
        run: processes::two_driver_processes_at_once,
    },
    Case {
        name: "drydock_uio_edu_registers_and_intx",
        iommu: PASSTHROUGH,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_uio_edu_registers_and_intx,
    },
    Case {
        name: "drydock_uio_edu_dma_round_trip",
        iommu: PASSTHROUGH,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drydock_vfio::drydock_uio_edu_dma_round_trip,
    },
    Case {
        name: "drydock_cli_binds_edu_and_e1000e_and_back",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: cli::drydock_cli_binds_edu_and_e1000e_and_back,
    },
    Case {
        name: "drydock_cli_refuses_a_device_in_use",
        iommu: WITH_GROUPS,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: cli::drydock_cli_refuses_a_device_in_use,
    },
    Case {
        name: "drydock_cli_check_reports_no_iommu",
        iommu: OFF,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: cli::drydock_cli_check_reports_no_iommu,
    },
    Case {
        name: "readme_demo",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: crate::demo::run,
    },
    Case {
        name: "edu_driver_state_from_a_shell",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(120),
        run: state::edu_driver_state_from_a_shell,
    },
    Case {
        name: "edu_driver_factorials_msi",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_factorials_msi,
    },
    Case {
        name: "edu_driver_dma_round_trips",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_dma_round_trips,
    },
    Case {
        name: "edu_driver_intx",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_intx,
    },
    Case {
        name: "edu_driver_trapped_bars",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_trapped_bars,
    },
    Case {
        name: "edu_driver_uio",
        iommu: PASSTHROUGH,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_uio,
    },
    Case {
        name: "edu_driver_soak",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(600),
        run: drivers::edu_driver_soak,
    },
    Case {
        name: "edu_driver_load_cycles",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(600),
        run: leaks::edu_driver_load_cycles,
    },
    Case {
        name: "nvme_driver_load_cycles",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(600),
        run: leaks::nvme_driver_load_cycles,
    },
    Case {
        name: "nvme_msix_flood_during_io",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(600),
        run: msix_flood::nvme_msix_flood_during_io,
    },
    Case {
        name: "edu_driver_restarts_after_sigkill",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(180),
        run: drivers::edu_driver_restarts_after_sigkill,
    },
    Case {
        name: "edu_crash_cycles",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(900),
        run: crash_cycles::edu_crash_cycles,
    },
    Case {
        name: "edu_stray_dma_is_blocked_by_the_iommu",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        // It makes edu write outside every mapping: the IOMMU's fault report is what it asserts.
        expected_kernel_messages: EDU_DMA_FAULT,
        timeout: DEFAULT_TIMEOUT,
        run: isolation::edu_stray_dma_is_blocked_by_the_iommu,
    },
    Case {
        name: "edu_stray_dma_read_is_blocked_by_the_iommu",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        // It makes edu read outside every mapping: the IOMMU's fault report is what it asserts.
        expected_kernel_messages: EDU_DMA_FAULT,
        timeout: DEFAULT_TIMEOUT,
        run: isolation::edu_stray_dma_read_is_blocked_by_the_iommu,
    },
    Case {
        name: "edu_dma_into_a_freed_dedicated_mapping_is_blocked",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        // It makes edu write to a freed, unmapped buffer: the fault report is what it asserts.
        expected_kernel_messages: EDU_DMA_FAULT,
        timeout: DEFAULT_TIMEOUT,
        run: isolation::edu_dma_into_a_freed_dedicated_mapping_is_blocked,
    },
    Case {
        name: "edu_dma_above_the_mask_is_clamped",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        // It makes edu write above its mask, to the alias of an unmapped page: the fault report
        // at the page is what it asserts.
        expected_kernel_messages: EDU_DMA_FAULT,
        timeout: DEFAULT_TIMEOUT,
        run: isolation::edu_dma_above_the_mask_is_clamped,
    },
    Case {
        name: "pci_testdev_driver_vfio",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::pci_testdev_driver_vfio,
    },
    Case {
        name: "edu_process_stops_on_signals",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::edu_process_stops_on_signals,
    },
    Case {
        name: "removing_a_device_releases_it_from_its_driver_process",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::removing_a_device_releases_it_from_its_driver_process,
    },
    Case {
        name: "edu_process_opens_only_what_it_matches",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::edu_process_opens_only_what_it_matches,
    },
    Case {
        name: "edu_dma_chunk_in_a_huge_page",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: huge_pages::edu_dma_chunk_in_a_huge_page,
    },
    Case {
        name: "edu_driver_runs_without_root",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: unprivileged::edu_driver_runs_without_root,
    },
    Case {
        name: "pci_testdev_process_stops_on_signals",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::pci_testdev_process_stops_on_signals,
    },
    Case {
        name: "nvme_process_stops_on_signals",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: processes::nvme_process_stops_on_signals,
    },
    Case {
        name: "nvme_driver_binds_and_identifies",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: nvme::nvme_driver_binds_and_identifies,
    },
    Case {
        name: "nvme_error_paths",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: nvme::nvme_error_paths,
    },
    Case {
        name: "nvme_sigkill_then_restart",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(300),
        run: nvme::nvme_sigkill_then_restart,
    },
    Case {
        name: "nvme_crash_cycles",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(900),
        run: crash_cycles::nvme_crash_cycles,
    },
    Case {
        name: "nvme_data_integrity",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(1200),
        run: nvme::nvme_data_integrity,
    },
    Case {
        name: "nvme_ublk_disk_survives_sigkill",
        iommu: TRANSLATED,
        needs: UBLK,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(600),
        run: nvme_ublk::nvme_ublk_disk_survives_sigkill,
    },
    Case {
        name: "caesar_served_through_cuse",
        iommu: TRANSLATED,
        needs: CUSE,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: caesar::caesar_served_through_cuse,
    },
    Case {
        name: "nulldisk_served_through_ublk",
        iommu: TRANSLATED,
        needs: UBLK,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(180),
        run: nulldisk::nulldisk_served_through_ublk,
    },
    Case {
        name: "nvme_bench_ublk_moves_data",
        iommu: TRANSLATED,
        needs: UBLK,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(300),
        run: nvme_ublk_bench::nvme_bench_ublk_moves_data,
    },
    Case {
        name: "in_kernel_comparisons_cover_every_driver",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: in_kernel::in_kernel_comparisons_cover_every_driver,
    },
    Case {
        name: "in_kernel_edu",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: in_kernel::in_kernel_edu,
    },
    Case {
        name: "edu_round_trips_in_both_worlds",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: edu_round_trips::edu_round_trips_in_both_worlds,
    },
    Case {
        name: "in_kernel_pci_testdev",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: in_kernel::in_kernel_pci_testdev,
    },
    Case {
        name: "in_kernel_drydock_nvme",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: in_kernel::in_kernel_drydock_nvme,
    },
    Case {
        name: "in_kernel_rust_driver_auxiliary",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: BOTH_INTERFACES,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: in_kernel::in_kernel_rust_driver_auxiliary,
    },
    Case {
        name: "in_kernel_rust_debugfs_scoped",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: debugfs::in_kernel_rust_debugfs_scoped,
    },
    Case {
        name: "in_kernel_rust_misc_device",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: misc_device::in_kernel_rust_misc_device,
    },
    Case {
        name: "in_kernel_rnull",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(180),
        run: rnull::in_kernel_rnull,
    },
    Case {
        name: "kunit_suites_pass_in_the_kernel",
        iommu: TRANSLATED,
        needs: DRIVER_MODULES,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: kunit::kunit_suites_pass_in_the_kernel,
    },
];

/// Cases that check the runner and the harness: they fail, panic, hang, die or make the kernel
/// report trouble on purpose. They are not listed to the host; the runner's own tests and the
/// host's harness tests (`tests/tests/harness.rs`) name them in plans.
pub const SELF_CHECKS: &[Case] = &[
    Case {
        name: "self_check_pass",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::pass,
    },
    Case {
        name: "self_check_fail",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::fail,
    },
    Case {
        name: "self_check_panic",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::panic,
    },
    Case {
        name: "self_check_hang",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: Duration::from_secs(1),
        run: self_check::hang,
    },
    Case {
        name: "self_check_sigkill",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::sigkill,
    },
    Case {
        name: "self_check_kernel_warning",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::kernel_warning,
    },
    Case {
        name: "self_check_expected_kernel_warning",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: &[self_check::WARNING],
        timeout: DEFAULT_TIMEOUT,
        run: self_check::kernel_warning,
    },
    // The stray-DMA case, whose DMAR fault is real, without declaring the fault.
    Case {
        name: "self_check_undeclared_dma_fault",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: isolation::edu_stray_dma_is_blocked_by_the_iommu,
    },
    Case {
        name: "self_check_freeze_runner",
        iommu: ANY,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: self_check::freeze_runner,
    },
];

/// Processes that listed cases start and control (a driver to kill, for example). They are not
/// listed to the host.
pub const CHILDREN: &[Case] = &[
    Case {
        name: "edu_driver_dma_child",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: drivers::edu_driver_dma_child,
    },
    Case {
        name: "edu_crash_child",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: crash_cycles::edu_crash_child,
    },
    Case {
        name: "nvme_crash_child",
        iommu: TRANSLATED,
        needs: ANY_KERNEL,
        vfio: ONE_INTERFACE,
        expected_kernel_messages: NONE_EXPECTED,
        timeout: DEFAULT_TIMEOUT,
        run: crash_cycles::nvme_crash_child,
    },
];

/// Every case listed to the host.
pub fn listed() -> Vec<CaseInfo> {
    CASES.iter().flat_map(Case::listed).collect()
}

/// The case (listed, self-check or child) or cdev run called `name`.
pub fn find(name: &str) -> Option<Planned> {
    let all = || CASES.iter().chain(SELF_CHECKS).chain(CHILDREN);
    let (case, interface) = match all().find(|c| c.name == name) {
        Some(case) => (case, case.vfio.then_some(Interface::Group)),
        None => {
            let base = name.strip_suffix(CDEV_SUFFIX)?;
            (
                all().find(|c| c.name == base && c.vfio)?,
                Some(Interface::Cdev),
            )
        }
    };
    Some(Planned {
        name: name.to_owned(),
        case,
        interface,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_guest::protocol::is_valid_case_name;
    use std::collections::HashSet;

    #[test]
    fn names_are_valid_and_unique() {
        let mut seen = HashSet::new();
        for case in CASES.iter().chain(SELF_CHECKS).chain(CHILDREN) {
            assert!(is_valid_case_name(case.name), "{}", case.name);
            assert!(seen.insert(case.name), "{} twice", case.name);
            assert!(!case.iommu.is_empty(), "{} runs nowhere", case.name);
        }
    }

    #[test]
    fn every_iommu_mode_runs_some_case() {
        for mode in IommuMode::ALL {
            assert!(CASES.iter().any(|c| c.iommu.contains(&mode)), "{mode}");
        }
    }

    #[test]
    fn listed_cases_round_trip_through_the_protocol() {
        for info in listed() {
            let line = info.to_string();
            assert_eq!(line.parse::<CaseInfo>().unwrap(), info);
        }
    }

    #[test]
    fn vfio_cases_run_over_both_interfaces() {
        let names: Vec<String> = listed().into_iter().map(|info| info.name).collect();
        let run = |name: &str| find(name).map(|planned| (planned.case.name, planned.interface));
        assert_eq!(
            run("drydock_vfio_edu_msi"),
            Some(("drydock_vfio_edu_msi", Some(Interface::Group)))
        );
        assert_eq!(
            run("drydock_vfio_edu_msi_cdev"),
            Some(("drydock_vfio_edu_msi", Some(Interface::Cdev)))
        );
        assert!(names.iter().any(|n| n == "drydock_vfio_edu_msi_cdev"));
        // A case without drydock's VFIO has no cdev run and forces nothing.
        assert_eq!(
            run("pci_devices_present"),
            Some(("pci_devices_present", None))
        );
        assert_eq!(run("pci_devices_present_cdev"), None);
        assert!(!names.iter().any(|n| n == "pci_devices_present_cdev"));
        let cdev = listed()
            .into_iter()
            .find(|info| info.name == "edu_stray_dma_is_blocked_by_the_iommu_cdev")
            .expect("the stray-DMA case over the cdev");
        assert!(cdev.needs.contains(&Feature::VfioCdev));
        assert!(!cdev.runs_in(IommuMode::Translated, &[]));
        assert!(cdev.runs_in(IommuMode::Translated, &[Feature::VfioCdev]));
        // Every listed name is unique.
        let unique: HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    /// docs/testing.md lists every case with what it asserts; a new case without a row fails.
    #[test]
    fn every_case_is_documented() {
        let guide = include_str!("../../../../docs/testing.md");
        for case in CASES {
            let row = format!("| `{}` |", case.name);
            assert!(
                guide.contains(&row),
                "docs/testing.md has no row for the case {}",
                case.name
            );
        }
    }
}
