//! Vendor, device and class names from the system's `pci.ids` (the PCI ID repository's file that
//! `lspci` reads), with the PCI specification's base class names when it is absent.
//!
//! The format: `VVVV  vendor` lines, each followed by `\tDDDD  device` lines (and
//! `\t\tSSSS SSSS  subsystem` lines, not used here); then `C CC  class` lines, each followed by
//! `\tSS  subclass` and `\t\tPP  programming interface` lines. `#` starts a comment.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

/// Where distributions install `pci.ids`, most common first.
pub const LOCATIONS: &[&str] = &[
    "usr/share/misc/pci.ids",
    "usr/share/hwdata/pci.ids",
    "usr/share/pci.ids",
    "usr/local/share/pci.ids",
    "var/lib/pciutils/pci.ids",
];

/// The base class names of the PCI Code and ID Assignment specification, for when no `pci.ids`
/// is installed.
const BASE_CLASSES: &[(u8, &str)] = &[
    (0x00, "Unclassified device"),
    (0x01, "Mass storage controller"),
    (0x02, "Network controller"),
    (0x03, "Display controller"),
    (0x04, "Multimedia controller"),
    (0x05, "Memory controller"),
    (0x06, "Bridge"),
    (0x07, "Communication controller"),
    (0x08, "Generic system peripheral"),
    (0x09, "Input device controller"),
    (0x0a, "Docking station"),
    (0x0b, "Processor"),
    (0x0c, "Serial bus controller"),
    (0x0d, "Wireless controller"),
    (0x0e, "Intelligent controller"),
    (0x0f, "Satellite communications controller"),
    (0x10, "Encryption controller"),
    (0x11, "Signal processing controller"),
    (0x12, "Processing accelerators"),
    (0x13, "Non-Essential Instrumentation"),
    (0x40, "Coprocessor"),
    (0xff, "Unassigned class"),
];

/// A vendor and its devices.
#[derive(Debug, Default)]
struct Vendor {
    name: String,
    devices: HashMap<u16, String>,
}

/// A class and its subclasses and their programming interfaces.
#[derive(Debug, Default)]
struct Class {
    name: String,
    subclasses: HashMap<u8, (String, HashMap<u8, String>)>,
}

/// The names known for PCI IDs and classes.
#[derive(Debug, Default)]
pub struct PciIds {
    vendors: HashMap<u16, Vendor>,
    classes: HashMap<u8, Class>,
    /// The file the names come from, if any.
    source: Option<PathBuf>,
}

/// Splits `ID  name` into the hex ID and the name.
fn id_and_name<T: TryFrom<u32>>(text: &str) -> Option<(T, String)> {
    let (id, name) = text.split_once(char::is_whitespace)?;
    let id = u32::from_str_radix(id, 16).ok()?;
    Some((T::try_from(id).ok()?, name.trim().to_owned()))
}

impl PciIds {
    /// The names in `text`, a `pci.ids` file's content. Malformed lines are skipped.
    pub fn parse(text: &str) -> Self {
        let mut ids = Self::default();
        let mut vendor: Option<u16> = None;
        let mut class: Option<u8> = None;
        let mut subclass: Option<u8> = None;
        for line in text.lines() {
            if line.trim_start().starts_with('#') || line.trim().is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("C ") {
                vendor = None;
                subclass = None;
                class = id_and_name::<u8>(rest).map(|(id, name)| {
                    ids.classes.entry(id).or_default().name = name;
                    id
                });
            } else if let Some(rest) = line.strip_prefix("\t\t") {
                if let (Some(c), Some(s)) = (class, subclass) {
                    if let Some((id, name)) = id_and_name::<u8>(rest) {
                        if let Some(sub) = ids
                            .classes
                            .get_mut(&c)
                            .and_then(|c| c.subclasses.get_mut(&s))
                        {
                            sub.1.insert(id, name);
                        }
                    }
                }
                // Subsystem lines under a device are not used.
            } else if let Some(rest) = line.strip_prefix('\t') {
                if let Some(v) = vendor {
                    if let Some((id, name)) = id_and_name::<u16>(rest) {
                        ids.vendors.entry(v).or_default().devices.insert(id, name);
                    }
                } else if let Some(c) = class {
                    subclass = id_and_name::<u8>(rest).map(|(id, name)| {
                        if let Some(class) = ids.classes.get_mut(&c) {
                            class.subclasses.insert(id, (name, HashMap::new()));
                        }
                        id
                    });
                }
            } else {
                class = None;
                vendor = id_and_name::<u16>(line).map(|(id, name)| {
                    ids.vendors.entry(id).or_default().name = name;
                    id
                });
            }
        }
        ids
    }

    /// The names of the first `pci.ids` found under `root` (`/` on a running system) in
    /// [`LOCATIONS`], or of `file` if given; none if there is none. An unreadable `file` is an
    /// error that says so.
    pub fn load(root: &Path, file: Option<&Path>) -> Result<Self, String> {
        let path = match file {
            Some(file) => Some(file.to_path_buf()),
            None => LOCATIONS.iter().map(|l| root.join(l)).find(|p| p.is_file()),
        };
        let Some(path) = path else {
            return Ok(Self::default());
        };
        let bytes = fs::read(&path).map_err(|e| {
            format!(
                "cannot read the PCI ID names in {}: {e}; give another file with --pci-ids, or \
                 install pciutils (or hwdata) for the system's",
                path.display()
            )
        })?;
        let mut ids = Self::parse(&String::from_utf8_lossy(&bytes));
        ids.source = Some(path);
        Ok(ids)
    }

    /// The file the names come from, if any.
    pub fn source(&self) -> Option<&Path> {
        self.source.as_deref()
    }

    /// The vendor's name.
    pub fn vendor(&self, vendor: u16) -> Option<&str> {
        self.vendors.get(&vendor).map(|v| v.name.as_str())
    }

    /// The device's name.
    pub fn device(&self, vendor: u16, device: u16) -> Option<&str> {
        self.vendors
            .get(&vendor)?
            .devices
            .get(&device)
            .map(String::as_str)
    }

    /// The most precise name of a 24-bit class code: programming interface, else subclass, else
    /// base class (from the specification's list when `pci.ids` lacks it).
    pub fn class(&self, code: u32) -> Option<String> {
        let (base, sub, interface) = ((code >> 16) as u8, (code >> 8) as u8, code as u8);
        if let Some(class) = self.classes.get(&base) {
            return Some(match class.subclasses.get(&sub) {
                Some((sub_name, interfaces)) => match interfaces.get(&interface) {
                    Some(name) => format!("{sub_name} ({name})"),
                    None => sub_name.clone(),
                },
                None => class.name.clone(),
            });
        }
        BASE_CLASSES
            .iter()
            .find(|(c, _)| *c == base)
            .map(|(_, name)| (*name).to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A few lines in the format of pci.ids, written for these tests.
    const SAMPLE: &str = "\
# a comment
1234  Example Vendor
\t11e8  Teaching Device
\t11e9  Other Device
\t\t1af4 1100  A subsystem
8086  Big Chips Inc.
\t10d3  Gigabit Network Connection
# classes
C 01  Mass storage controller
\t08  Non-Volatile memory controller
\t\t02  NVM Express
C 02  Network controller
\t00  Ethernet controller
";

    #[test]
    fn vendors_devices_and_classes_are_found() {
        let ids = PciIds::parse(SAMPLE);
        assert_eq!(ids.vendor(0x1234), Some("Example Vendor"));
        assert_eq!(ids.device(0x1234, 0x11e8), Some("Teaching Device"));
        assert_eq!(ids.device(0x1234, 0x11e9), Some("Other Device"));
        assert_eq!(
            ids.device(0x8086, 0x10d3),
            Some("Gigabit Network Connection")
        );
        assert_eq!(ids.vendor(0x1b36), None);
        assert_eq!(ids.device(0x1234, 0x0001), None);
        assert_eq!(
            ids.class(0x010802).as_deref(),
            Some("Non-Volatile memory controller (NVM Express)")
        );
        assert_eq!(ids.class(0x020000).as_deref(), Some("Ethernet controller"));
        assert_eq!(ids.class(0x020800).as_deref(), Some("Network controller"));
        // Not in the file: the specification's base class.
        assert_eq!(ids.class(0x060100).as_deref(), Some("Bridge"));
        assert_eq!(ids.class(0x7f0000), None);
    }

    #[test]
    fn without_a_file_only_base_classes_are_known() {
        let root = std::env::temp_dir().join(format!("drydock-pci-ids-{}", std::process::id()));
        let ids = PciIds::load(&root, None).unwrap();
        assert_eq!(ids.source(), None);
        assert_eq!(ids.vendor(0x8086), None);
        assert_eq!(
            ids.class(0x0c0500).as_deref(),
            Some("Serial bus controller")
        );
        let err = PciIds::load(&root, Some(&root.join("missing.ids"))).unwrap_err();
        assert!(err.contains("--pci-ids"), "{err}");
    }
}
