//! Handing devices to a userspace driver (vfio-pci, uio_pci_generic) and giving them back.
//!
//! This is the policy over [`Sysfs`]'s mechanism, shared by the `drydock` command, the tests and
//! anything else that binds devices:
//!
//! - [`Plan::new`] decides, before anything changes, which devices a bind takes: it refuses a
//!   device in use ([`usage`]) unless forced, refuses vfio-pci without an IOMMU, and when other
//!   members of the device's IOMMU group are bound to kernel drivers (so the group would not be
//!   usable through VFIO) it either refuses, naming them, or with consent (`group`) takes them
//!   too;
//! - [`bind_one`] binds one device: it loads the driver's module if needed, records the device's
//!   current driver ([`record`], kept across processes), sets `driver_override` (so only the
//!   userspace driver may take the device, even after a rescan), unbinds it and binds it through
//!   the driver's `bind` file. A device the kernel refuses is put back where it was;
//! - [`unbind`] gives a device back to the driver it had before drydock took it, and clears the
//!   override; without a record, it lets the kernel choose, as a fresh probe would;
//! - [`owner`] hands a bound device's VFIO nodes to a user, so its driver runs without root
//!   (`drydock bind --user`), and gives them back before [`unbind`].

pub mod owner;
pub mod record;

use std::fmt;

use drydock_host::error::HostError;
use drydock_host::pci_id::canonical_address;
use drydock_host::sysfs::{Access, Sysfs};
use drydock_host::uio::UIO_DRIVER;
use drydock_host::vfio::VFIO_DRIVER;
use record::Records;

use crate::error::BindError;
use crate::usage::{self, Use};

/// A driver through which drydock reaches devices from userspace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UserspaceDriver {
    /// `vfio-pci`: the device behind the IOMMU.
    VfioPci,
    /// `uio_pci_generic`: no DMA isolation, INTx only.
    UioPciGeneric,
}

impl UserspaceDriver {
    /// Every userspace driver, the default first.
    pub const ALL: [Self; 2] = [Self::VfioPci, Self::UioPciGeneric];

    /// The driver's name in sysfs, which is also its module's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::VfioPci => VFIO_DRIVER,
            Self::UioPciGeneric => UIO_DRIVER,
        }
    }

    /// The driver called `name`; `-` and `_` are interchangeable, as for modules.
    pub fn parse(name: &str) -> Result<Self, BindError> {
        let wanted = name.trim().replace('_', "-");
        Self::ALL
            .into_iter()
            .find(|d| d.name().replace('_', "-") == wanted)
            .ok_or_else(|| BindError::UnknownDriver {
                name: name.to_owned(),
            })
    }

    /// Whether `driver` (a sysfs driver name) is one of these.
    pub fn is_userspace(driver: &str) -> bool {
        Self::parse(driver).is_ok()
    }
}

impl fmt::Display for UserspaceDriver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a bind may do beyond the devices named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindOptions {
    /// Take devices that are in use, and leave an IOMMU group unusable rather than refuse.
    pub force: bool,
    /// Also bind the other members of an IOMMU group that keep it from being usable by VFIO.
    pub group: bool,
}

/// Why a device is in a [`Plan`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reason {
    /// It was named.
    Named,
    /// It shares an IOMMU group with the named device at this address.
    GroupOf(String),
}

/// One device a bind takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The device's address.
    pub address: String,
    /// The driver it has now.
    pub driver: Option<String>,
    /// Why it is bound.
    pub reason: Reason,
    /// What uses it (only with [`BindOptions::force`]; otherwise a use refuses the plan).
    pub uses: Vec<Use>,
}

/// The devices a bind takes, decided before anything changes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The driver they go to.
    pub driver: UserspaceDriver,
    /// The devices, named ones first, each followed by the group members it brings.
    pub steps: Vec<Step>,
    /// What the caller should know (a group left unusable under `force`).
    pub notes: Vec<String>,
}

/// Whether a class code is a bridge's (base class 0x06).
fn is_bridge(class: u32) -> bool {
    class >> 16 == 0x06
}

impl Plan {
    /// Decides which devices binding `addresses` to `driver` takes; see the module
    /// documentation. Nothing is changed.
    pub fn new(
        sysfs: &Sysfs,
        addresses: &[impl AsRef<str>],
        driver: UserspaceDriver,
        options: BindOptions,
    ) -> Result<Plan, BindError> {
        let mut named: Vec<String> = Vec::new();
        for address in addresses {
            let address = canonical_address(address.as_ref())?;
            sysfs.device(&address)?;
            if !named.contains(&address) {
                named.push(address);
            }
        }
        let mut plan = Plan {
            driver,
            steps: Vec::new(),
            notes: Vec::new(),
        };
        for address in &named {
            plan.add(sysfs, address, Reason::Named, options)?;
            if driver != UserspaceDriver::VfioPci {
                continue;
            }
            let Some(group) = sysfs.iommu_group(address) else {
                // In VFIO's no-IOMMU mode, vfio-pci gives the device a group of its own.
                if sysfs.vfio_noiommu_mode() {
                    continue;
                }
                return Err(if sysfs.has_iommu_groups()? {
                    HostError::NoGroup {
                        bdf: address.clone(),
                    }
                } else {
                    HostError::NoIommu
                }
                .into());
            };
            let others: Vec<(String, String)> = sysfs
                .group_blockers(group)?
                .into_iter()
                .filter(|(other, _)| !named.contains(other) && !plan.has(other))
                .collect();
            if others.is_empty() {
                continue;
            }
            if options.group {
                for (other, other_driver) in &others {
                    if is_bridge(sysfs.device(other)?.class) {
                        return Err(BindError::BridgeInGroup {
                            group,
                            bridge: other.clone(),
                            driver: other_driver.clone(),
                        });
                    }
                    plan.add(sysfs, other, Reason::GroupOf(address.clone()), options)?;
                }
            } else if options.force {
                plan.notes.push(format!(
                    "IOMMU group {group} of {address} stays unusable through VFIO while {} keep \
                     their drivers",
                    others
                        .iter()
                        .map(|(a, d)| format!("{a} ({d})"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            } else {
                return Err(BindError::GroupMustFollow {
                    bdf: address.clone(),
                    group,
                    others,
                });
            }
        }
        Ok(plan)
    }

    /// Whether the plan takes the device at `address`.
    fn has(&self, address: &str) -> bool {
        self.steps.iter().any(|s| s.address == address)
    }

    /// Adds a step for `address`, refusing a device in use unless forced.
    fn add(
        &mut self,
        sysfs: &Sysfs,
        address: &str,
        reason: Reason,
        options: BindOptions,
    ) -> Result<(), BindError> {
        let driver = sysfs.driver(address);
        let uses = if driver.as_deref() == Some(self.driver.name()) {
            Vec::new()
        } else {
            may_change(sysfs, address)?;
            usage::uses(sysfs, address)?
        };
        if !uses.is_empty() && !options.force {
            return Err(BindError::DeviceInUse {
                bdf: address.to_owned(),
                uses,
            });
        }
        self.steps.push(Step {
            address: address.to_owned(),
            driver,
            reason,
            uses,
        });
        Ok(())
    }
}

/// Fails with [`HostError::Permission`] if this process may not change the device's binding
/// (it may not write its `driver_override`), before anything is changed.
fn may_change(sysfs: &Sysfs, address: &str) -> Result<(), HostError> {
    let file = sysfs.device_dir(address).join("driver_override");
    if Access::of(&file) == Access::Denied {
        return Err(HostError::Permission {
            path: file.display().to_string(),
        });
    }
    Ok(())
}

/// What [`bind_one`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindOutcome {
    /// The device was bound to the driver already.
    Already,
    /// The device left `from` (`None`: it had no driver) for the userspace driver.
    Bound {
        /// Its driver before.
        from: Option<String>,
    },
}

/// Binds the device at `address` (canonical form) to `driver`, without the checks of
/// [`Plan::new`]; see the module documentation.
pub fn bind_one(
    sysfs: &Sysfs,
    address: &str,
    driver: UserspaceDriver,
) -> Result<BindOutcome, BindError> {
    let wanted = driver.name();
    let current = sysfs.driver(address);
    if current.as_deref() == Some(wanted) {
        return Ok(BindOutcome::Already);
    }
    if !sysfs.driver_registered(wanted) {
        sysfs.load_module(wanted)?;
        if !sysfs.driver_registered(wanted) {
            return Err(HostError::ModuleLoad {
                module: wanted.to_owned(),
                reason: format!("it loaded, but no PCI driver {wanted} appeared"),
            }
            .into());
        }
    }
    let records = Records::of(sysfs);
    let recorded = records.remember(address, current.as_deref())?;
    let attempt = (|| {
        sysfs.set_driver_override(address, Some(wanted))?;
        sysfs.unbind(address)?;
        sysfs.bind(address, wanted)
    })();
    if sysfs.driver(address).as_deref() == Some(wanted) {
        return Ok(BindOutcome::Bound { from: current });
    }
    // Put the device back where it was, and say why it did not bind.
    let restored = if sysfs.driver(address) == current {
        sysfs
            .set_driver_override(address, None)
            .map_err(BindError::from)
    } else {
        give_to(sysfs, address, current.as_deref())
    };
    if recorded {
        records.forget(address)?;
    }
    let reason = match attempt {
        Ok(()) => "its probe did not take it".to_owned(),
        Err(HostError::Os { source, .. }) => source.to_string(),
        Err(other) => return Err(other.into()),
    };
    Err(BindError::BindRefused {
        bdf: address.to_owned(),
        driver: wanted.to_owned(),
        reason,
        now: match restored {
            Ok(()) => current,
            Err(_) => sysfs.driver(address),
        },
    })
}

/// Binds the devices at `addresses` to `driver`: [`Plan::new`], then [`bind_one`] for each
/// step. Returns each device's address and outcome.
pub fn bind(
    sysfs: &Sysfs,
    addresses: &[impl AsRef<str>],
    driver: UserspaceDriver,
    options: BindOptions,
) -> Result<Vec<(String, BindOutcome)>, BindError> {
    let plan = Plan::new(sysfs, addresses, driver, options)?;
    plan.steps
        .iter()
        .map(|step| {
            Ok((
                step.address.clone(),
                bind_one(sysfs, &step.address, driver)?,
            ))
        })
        .collect()
}

/// Unbinds the device, clears its override and binds it to `target` (`None`: no driver),
/// loading the target's module if needed.
fn give_to(sysfs: &Sysfs, address: &str, target: Option<&str>) -> Result<(), BindError> {
    sysfs.unbind(address)?;
    sysfs.set_driver_override(address, None)?;
    let Some(target) = target else {
        return Ok(());
    };
    if !sysfs.driver_registered(target) {
        // The driver's module is named after it, or found through the device's modalias.
        let by_name = sysfs.load_module(target);
        if !sysfs.driver_registered(target) {
            let alias = sysfs.modalias(address)?;
            match alias {
                Some(alias) => sysfs.load_module(&alias)?,
                None => by_name?,
            }
        }
    }
    // Loading the module may have bound the device already.
    if sysfs.driver(address).is_none() {
        sysfs.bind(address, target)?;
    }
    match sysfs.driver(address) {
        Some(bound) if bound == target => Ok(()),
        bound => Err(BindError::BindRefused {
            bdf: address.to_owned(),
            driver: target.to_owned(),
            reason: "its probe did not take it".to_owned(),
            now: bound,
        }),
    }
}

/// What [`unbind`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnbindOutcome {
    /// The device went back to the driver it had before drydock bound it (`None`: it had none,
    /// and has none now).
    Restored(Option<String>),
    /// No driver was recorded for it: it was offered to the kernel's drivers, and this one took
    /// it (`None`: none did).
    Reprobed(Option<String>),
    /// It is bound to a kernel driver drydock did not replace, and was left alone.
    NotOurs(String),
}

/// Gives the device at `address` back to the driver it had before drydock bound it; see the
/// module documentation.
pub fn unbind(sysfs: &Sysfs, address: &str) -> Result<UnbindOutcome, BindError> {
    let address = canonical_address(address)?;
    let info = sysfs.device(&address)?;
    let records = Records::of(sysfs);
    match records.get(&address)? {
        Some(original) => {
            if info.driver != original || info.driver_override.is_some() {
                may_change(sysfs, &address)?;
                give_to(sysfs, &address, original.as_deref())?;
            }
            records.forget(&address)?;
            Ok(UnbindOutcome::Restored(original))
        }
        None => match info.driver {
            Some(kernel) if !UserspaceDriver::is_userspace(&kernel) => {
                Ok(UnbindOutcome::NotOurs(kernel))
            }
            _ => {
                may_change(sysfs, &address)?;
                give_to(sysfs, &address, None)?;
                sysfs.drivers_probe(&address)?;
                if sysfs.driver(&address).is_none() {
                    // As a hotplug event would: load whatever module claims the device. A device
                    // no module claims (edu) stays without a driver, which is no error.
                    if let Some(alias) = sysfs.modalias(&address)? {
                        if sysfs.load_module(&alias).is_ok() {
                            sysfs.drivers_probe(&address)?;
                        }
                    }
                }
                Ok(UnbindOutcome::Reprobed(sysfs.driver(&address)))
            }
        },
    }
}

/// The devices drydock took from a driver and has not given back, as (address, original
/// driver).
pub fn remembered(sysfs: &Sysfs) -> Result<Vec<(String, Option<String>)>, HostError> {
    Records::of(sysfs).all()
}

#[cfg(test)]
mod tests;
