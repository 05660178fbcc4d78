//! `drydock list`: every PCI device with its identity, driver, IOMMU group, VFIO device cdev and
//! what uses it.

use std::io::Write;

use drydock_admin::binding;
use drydock_admin::usage::{self, Use};
use drydock_host::error::HostError;
use drydock_host::sysfs::{PciDeviceInfo, Sysfs};
use drydock_host::vfio;
use serde::Serialize;

use crate::args::ListArgs;
use crate::filters::{class_prefix, driver_matches, Ids, Slot};
use crate::output::line;
use crate::pci_ids::PciIds;
use crate::Failure;

/// A device as listed, also the JSON object `--json` prints.
#[derive(Debug, Serialize)]
pub(crate) struct Listed {
    /// `DDDD:BB:DD.F`.
    pub(crate) address: String,
    /// Vendor ID, 4 hex digits.
    pub(crate) vendor: String,
    /// Device ID, 4 hex digits.
    pub(crate) device: String,
    /// The vendor's name, from pci.ids.
    pub(crate) vendor_name: Option<String>,
    /// The device's name, from pci.ids.
    pub(crate) device_name: Option<String>,
    /// Class code, 6 hex digits.
    pub(crate) class: String,
    /// The class's name.
    pub(crate) class_name: Option<String>,
    /// The bound driver.
    pub(crate) driver: Option<String>,
    /// The `driver_override` setting.
    pub(crate) driver_override: Option<String>,
    /// Whether drydock took the device from a driver and has not given it back.
    pub(crate) taken_by_drydock: bool,
    /// The driver it had then (`null`: none).
    pub(crate) original_driver: Option<String>,
    /// The IOMMU group.
    pub(crate) iommu_group: Option<u32>,
    /// Whether the group is usable through VFIO once this device is bound to vfio-pci: no other
    /// member keeps a kernel driver (`null` without a group).
    pub(crate) group_viable: Option<bool>,
    /// The other members that keep kernel drivers.
    pub(crate) group_blockers: Vec<Blocker>,
    /// The device's VFIO device cdev (`/dev/vfio/devices/vfio0`), if it is bound to vfio-pci on a
    /// kernel that gives cdevs.
    pub(crate) vfio_cdev: Option<String>,
    /// What uses the device: a mounted filesystem, swap, an interface that is up, an open node.
    pub(crate) in_use: Vec<InUse>,
}

/// A use of a device, as `--json` shows it.
#[derive(Debug, Serialize)]
pub(crate) struct InUse {
    /// One word: `mounted`, `root-filesystem`, `swap`, `interface-up`, `open`.
    pub(crate) kind: &'static str,
    /// A few words, as the table shows them.
    pub(crate) summary: String,
    /// The whole story, with the command that ends the use.
    pub(crate) detail: String,
}

impl From<&Use> for InUse {
    fn from(used: &Use) -> Self {
        Self {
            kind: used.kind(),
            summary: used.summary(),
            detail: used.to_string(),
        }
    }
}

/// A group member that keeps a group from VFIO.
#[derive(Debug, Serialize)]
pub(crate) struct Blocker {
    /// Its address.
    pub(crate) address: String,
    /// Its driver.
    pub(crate) driver: String,
}

/// The devices `args` select, described.
pub(crate) fn listed(
    sysfs: &Sysfs,
    args: &ListArgs,
    names: &PciIds,
) -> Result<Vec<Listed>, Failure> {
    let class = args.class.as_deref().map(class_prefix).transpose()?;
    let slot = args.slot.as_deref().map(Slot::parse).transpose()?;
    let ids = args.ids.as_deref().map(Ids::parse).transpose()?;
    let records = binding::remembered(sysfs)?;
    let mut listed = Vec::new();
    for info in sysfs.devices()? {
        let keep = class
            .as_ref()
            .is_none_or(|prefix| format!("{:06x}", info.class).starts_with(prefix.as_str()))
            && slot.is_none_or(|slot| slot.matches(&info.address))
            && ids.is_none_or(|ids| ids.matches(&info))
            && args
                .driver
                .as_deref()
                .is_none_or(|wanted| driver_matches(wanted, info.driver.as_deref()));
        if keep {
            let record = records.iter().find(|(a, _)| *a == info.address);
            listed.push(describe(
                sysfs,
                info,
                names,
                record.map(|(_, o)| o.clone()),
            )?);
        }
    }
    Ok(listed)
}

fn describe(
    sysfs: &Sysfs,
    info: PciDeviceInfo,
    names: &PciIds,
    original: Option<Option<String>>,
) -> Result<Listed, HostError> {
    let blockers: Vec<Blocker> = match info.iommu_group {
        Some(group) => sysfs
            .group_blockers(group)?
            .into_iter()
            .filter(|(address, _)| *address != info.address)
            .map(|(address, driver)| Blocker { address, driver })
            .collect(),
        None => Vec::new(),
    };
    let in_use = usage::uses(sysfs, &info.address)?
        .iter()
        .map(InUse::from)
        .collect();
    Ok(Listed {
        in_use,
        vfio_cdev: sysfs
            .vfio_cdev(&info.address)
            .map(|name| vfio::cdev_path(&name)),
        vendor: format!("{:04x}", info.vendor),
        device: format!("{:04x}", info.device),
        vendor_name: names.vendor(info.vendor).map(str::to_owned),
        device_name: names.device(info.vendor, info.device).map(str::to_owned),
        class: format!("{:06x}", info.class),
        class_name: names.class(info.class),
        group_viable: info.iommu_group.map(|_| blockers.is_empty()),
        group_blockers: blockers,
        taken_by_drydock: original.is_some(),
        original_driver: original.flatten(),
        driver: info.driver,
        driver_override: info.driver_override,
        iommu_group: info.iommu_group,
        address: info.address,
    })
}

/// The name column: vendor and device names, else the class's, with what is known.
fn name_of(device: &Listed) -> String {
    match (&device.vendor_name, &device.device_name) {
        (Some(vendor), Some(name)) => format!("{vendor} {name}"),
        (Some(vendor), None) => format!(
            "{vendor}, {}",
            device.class_name.as_deref().unwrap_or("unknown device")
        ),
        (None, _) => device
            .class_name
            .clone()
            .unwrap_or_else(|| "unknown class".to_owned()),
    }
}

/// The in-use column: what uses the device, in a few words, or `-`.
fn in_use(device: &Listed) -> String {
    if device.in_use.is_empty() {
        return "-".to_owned();
    }
    device
        .in_use
        .iter()
        .map(|u| u.summary.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Prints the table (or JSON) of `devices`.
pub(crate) fn print(out: &mut dyn Write, devices: &[Listed], json: bool) -> Result<(), Failure> {
    if json {
        let text = serde_json::to_string_pretty(devices)
            .map_err(|e| Failure::failed(format!("cannot encode the list as JSON: {e}")))?;
        line(out, &text);
        return Ok(());
    }
    let rows: Vec<[String; 8]> = devices
        .iter()
        .map(|d| {
            let driver = match (&d.driver, d.taken_by_drydock) {
                (Some(driver), true) => format!(
                    "{driver} (was {})",
                    d.original_driver.as_deref().unwrap_or("none")
                ),
                (Some(driver), false) => driver.clone(),
                (None, _) => "-".to_owned(),
            };
            let vfio = match (d.group_viable, d.group_blockers.first()) {
                (None, _) => "no IOMMU".to_owned(),
                (Some(true), _) => "viable".to_owned(),
                (Some(false), Some(first)) if d.group_blockers.len() == 1 => {
                    format!("needs {} ({})", first.address, first.driver)
                }
                (Some(false), _) => format!("needs {} more", d.group_blockers.len()),
            };
            [
                d.address.clone(),
                format!("{}:{}", d.vendor, d.device),
                d.class.clone(),
                driver,
                d.iommu_group.map_or("-".to_owned(), |g| g.to_string()),
                vfio,
                d.vfio_cdev
                    .as_deref()
                    .and_then(|node| node.rsplit('/').next())
                    .unwrap_or("-")
                    .to_owned(),
                in_use(d),
            ]
        })
        .collect();
    let header = [
        "BDF", "IDS", "CLASS", "DRIVER", "GROUP", "VFIO", "CDEV", "IN USE",
    ];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let format_row = |cells: &[&str], name: &str| {
        let mut text = String::new();
        for (cell, width) in cells.iter().zip(widths) {
            text.push_str(&format!("{cell:<width$}  "));
        }
        text.push_str(name);
        text
    };
    line(out, &format_row(&header, "NAME"));
    for (row, device) in rows.iter().zip(devices) {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(out, &format_row(&cells, &name_of(device)));
    }
    Ok(())
}
