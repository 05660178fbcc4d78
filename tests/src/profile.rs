//! Guest profiles: which kernel a guest boots, with which modules and IOMMU setup.
//!
//! Every profile has the same devices (see [`drydock_guest::layout`]); profiles differ in the
//! kernel, the modules loaded at boot, the IOMMU mode, and the features the kernel offers to cases
//! that need them. A profile for another kernel is one more entry in [`PROFILES`] with its own
//! [`Profile::kernel`] function returning a [`GuestKernel`]; modules it has built in are skipped
//! automatically. The `kernel73` profiles boot the proof kernel (see [`proof_kernel`]): Linux 7.3
//! built by the project with drydock's drivers as modules.

use drydock_guest::protocol::{CaseInfo, Feature, IommuMode};

use crate::cache::Cache;
use crate::kernel::GuestKernel;
use crate::{debian, proof_kernel, Error, Result};

/// A way to boot a guest.
#[derive(Debug)]
pub struct Profile {
    /// The profile's name, as given to `--profile` and shown in test names.
    pub name: &'static str,
    /// One line saying what the profile is for.
    pub summary: &'static str,
    /// How the guest kernel uses the IOMMU.
    pub iommu: IommuMode,
    /// Provides the kernel, fetching or building it into the cache if needed.
    pub kernel: fn(&Cache) -> Result<GuestKernel>,
    /// The modules to load at boot, by name; dependencies are added automatically.
    pub modules: &'static [&'static str],
    /// What the kernel offers to the cases that need more than an IOMMU mode.
    pub features: &'static [Feature],
}

/// The modules every profile of a modular kernel loads: VFIO and UIO for drivers under test,
/// the kernel's own drivers for the test devices (for comparisons), virtio 9p for the
/// shares that carry the harness, and FUSE, on which driver processes mount their debugfs files.
pub const GUEST_MODULES: &[&str] = &[
    "vfio",
    "vfio_iommu_type1",
    "vfio_virqfd",
    "vfio-pci",
    "uio_pci_generic",
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "nvme",
    "e1000e",
    "fuse",
];

/// The modules of [`GUEST_MODULES`] the proof kernel has, and ublk's driver (`ublk_drv`), which
/// the cases that need [`Feature::Ublk`] and `drydock-vm nvme-bench --profile kernel73` use: it
/// builds them all in (so none is loaded, but each must be listed in its `modules.builtin`; a
/// proof kernel built with them as modules loads them), and it has no `vfio_virqfd`, which Linux
/// 6.2 merged into `vfio`.
pub const PROOF_KERNEL_MODULES: &[&str] = &[
    "vfio",
    "vfio_iommu_type1",
    "vfio-pci",
    "uio_pci_generic",
    "virtio_pci",
    "9pnet_virtio",
    "9p",
    "nvme",
    "e1000e",
    "ublk_drv",
];

/// Every profile, the default first.
pub const PROFILES: &[Profile] = &[
    Profile {
        name: "iommu",
        summary: "Debian's kernel with intel_iommu=on: VFIO with a translating IOMMU",
        iommu: IommuMode::Translated,
        kernel: debian::default_kernel,
        modules: GUEST_MODULES,
        features: &[],
    },
    Profile {
        name: "pt",
        summary: "Debian's kernel with intel_iommu=on iommu=pt: identity-mapped DMA, for UIO",
        iommu: IommuMode::Passthrough,
        kernel: debian::default_kernel,
        modules: GUEST_MODULES,
        features: &[],
    },
    Profile {
        name: "noiommu",
        summary: "Debian's kernel with intel_iommu=off: the IOMMU is present but unused",
        iommu: IommuMode::Off,
        kernel: debian::default_kernel,
        modules: GUEST_MODULES,
        features: &[],
    },
    Profile {
        name: "kernel73",
        summary: "the Linux 7.3 proof kernel with intel_iommu=on: drydock's drivers in the kernel \
                  and through VFIO on the same devices",
        iommu: IommuMode::Translated,
        kernel: proof_kernel::guest_kernel,
        modules: PROOF_KERNEL_MODULES,
        features: &[
            Feature::DriverModules,
            Feature::VfioNoIommu,
            Feature::VfioCdev,
            Feature::Ublk,
            Feature::Cuse,
        ],
    },
    Profile {
        name: "kernel73-noiommu",
        summary: "the Linux 7.3 proof kernel with intel_iommu=off: VFIO's no-IOMMU mode",
        iommu: IommuMode::Off,
        kernel: proof_kernel::guest_kernel,
        modules: PROOF_KERNEL_MODULES,
        features: &[
            Feature::DriverModules,
            Feature::VfioNoIommu,
            Feature::VfioCdev,
            Feature::Ublk,
            Feature::Cuse,
        ],
    },
];

/// The profile used when none is named.
pub fn default_profile() -> &'static Profile {
    &PROFILES[0]
}

/// The profile called `name`.
pub fn profile(name: &str) -> Result<&'static Profile> {
    PROFILES.iter().find(|p| p.name == name).ok_or_else(|| {
        let names: Vec<_> = PROFILES.iter().map(|p| p.name).collect();
        Error::new(format!(
            "no guest profile `{name}`; the profiles are: {}",
            names.join(", ")
        ))
    })
}

impl Profile {
    /// Whether `case` runs in this profile: under its IOMMU mode, with every feature it needs.
    pub fn runs(&self, case: &CaseInfo) -> bool {
        case.runs_in(self.iommu, self.features)
    }

    /// The guest's memory in MiB.
    ///
    /// Where bus addresses are physical addresses (no IOMMU, or an identity domain), a device
    /// with a narrow DMA mask reaches only low memory: QEMU's edu, the first 256 MiB. A process
    /// cannot ask Linux for low pages, and Linux hands out its highest free pages first (the 7.3
    /// proof kernel gave 64 pages in a row from the top of 1 GiB), so those guests have 256 MiB
    /// and every page is under the mask; on a larger machine drydock says what to do instead
    /// (`HostError::PhysicalAboveMask`). Translated guests have 1 GiB.
    pub fn memory_mib(&self) -> u32 {
        match self.iommu {
            IommuMode::Translated => 1024,
            IommuMode::Passthrough | IommuMode::Off => 256,
        }
    }

    /// The kernel command-line arguments that select this profile's IOMMU mode.
    pub fn iommu_cmdline(&self) -> &'static [&'static str] {
        match self.iommu {
            IommuMode::Translated => &["intel_iommu=on"],
            IommuMode::Passthrough => &["intel_iommu=on", "iommu=pt"],
            // The emulated IOMMU stays in the machine, as on a host whose kernel does not use
            // it. Saying so explicitly matters: Debian's kernel enables the Intel IOMMU by
            // default (only integrated graphics are left out), so merely omitting
            // intel_iommu=on still gives IOMMU groups.
            IommuMode::Off => &["intel_iommu=off"],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_are_found_by_name() {
        assert_eq!(profile("pt").unwrap().iommu, IommuMode::Passthrough);
        let err = profile("kvm").unwrap_err().to_string();
        assert_eq!(
            err,
            "no guest profile `kvm`; the profiles are: iommu, pt, noiommu, kernel73, \
             kernel73-noiommu"
        );
        assert_eq!(default_profile().name, "iommu");
    }

    #[test]
    fn every_iommu_mode_has_a_profile() {
        for mode in IommuMode::ALL {
            assert!(PROFILES.iter().any(|p| p.iommu == mode), "{mode}");
        }
    }

    #[test]
    fn every_feature_has_a_profile() {
        for feature in Feature::ALL {
            assert!(
                PROFILES.iter().any(|p| p.features.contains(&feature)),
                "{feature}"
            );
        }
    }

    #[test]
    fn each_profile_says_whether_the_iommu_is_on() {
        for p in PROFILES {
            let expected = match p.iommu {
                IommuMode::Off => "intel_iommu=off",
                _ => "intel_iommu=on",
            };
            assert_eq!(p.iommu_cmdline()[0], expected, "{}", p.name);
        }
    }
}
