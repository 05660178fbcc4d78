//! The filters of `drydock list`: lspci's `-s` and `-d`, a class, a driver.
//!
//! `-s` and `-d` mean what they mean to `lspci` (pciutils' `pci_filter_parse_slot` and
//! `pci_filter_parse_id`), so a command line moves from one to the other unchanged:
//!
//! - `-s [[[[DOMAIN]:]BUS]:][DEV][.[FN]]`: any part left out, or `*`, matches every value; the
//!   domain, when left out, matches every domain (`04.0`, `00:04`, `.1`, `0000:00:1f.*`);
//! - `-d [VENDOR]:[DEVICE][:CLASS]`: hex IDs, any side left out or `*` matching every value
//!   (`1af4:`, `:1041`, `8086:10d3`, `::0108` for a base class and subclass). A lone `VENDOR`
//!   (`8086`), which lspci refuses, is taken as `8086:`.

use drydock_host::pci_id::parse_bdf;
use drydock_host::sysfs::PciDeviceInfo;

use crate::Failure;

/// Class names `--class` accepts, with the class code prefix each stands for.
pub(crate) const CLASS_NAMES: &[(&str, &str)] = &[
    ("net", "02"),
    ("storage", "01"),
    ("nvme", "0108"),
    ("display", "03"),
    ("bridge", "06"),
    ("serial-bus", "0c"),
    ("crypto", "10"),
    ("accel", "12"),
    ("other", "ff"),
];

/// Turns `--class` into a class-code prefix (lowercase hex).
pub(crate) fn class_prefix(text: &str) -> Result<String, Failure> {
    let lower = text.trim().to_ascii_lowercase();
    if let Some((_, prefix)) = CLASS_NAMES.iter().find(|(name, _)| *name == lower) {
        return Ok((*prefix).to_owned());
    }
    let hex = lower.trim_start_matches("0x");
    if !hex.is_empty() && hex.len() <= 6 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Ok(hex.to_owned());
    }
    let names: Vec<&str> = CLASS_NAMES.iter().map(|(n, _)| *n).collect();
    Err(Failure::usage(format!(
        "`{text}` is not a class: give a hex prefix of the class code (`02`, `0108`, `010802`) or \
         one of {}",
        names.join(", ")
    )))
}

/// One part of a filter: `None` matches every value.
type Part<T> = Option<T>;

/// Parses one part of a filter: empty or `*` is any value; otherwise hex, at most `max`.
fn part(text: &str, max: u32) -> Result<Part<u32>, ()> {
    if text.is_empty() || text == "*" {
        return Ok(None);
    }
    match u32::from_str_radix(text.trim_start_matches("0x"), 16) {
        Ok(value) if value <= max && !text.starts_with('+') => Ok(Some(value)),
        _ => Err(()),
    }
}

/// Whether `wanted` (if given) is `value`.
fn matches(wanted: Part<u32>, value: u32) -> bool {
    wanted.is_none_or(|w| w == value)
}

/// `lspci -s`: a device's place on the bus.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Slot {
    domain: Part<u32>,
    bus: Part<u32>,
    device: Part<u32>,
    function: Part<u32>,
}

impl Slot {
    /// Parses `[[[[DOMAIN]:]BUS]:][DEV][.[FN]]`, as `lspci -s` does.
    pub(crate) fn parse(text: &str) -> Result<Self, Failure> {
        let bad = |what: &str| {
            Failure::usage(format!(
                "`{text}` is not a slot: {what}; `-s` takes [[[[DOMAIN]:]BUS]:][DEV][.[FN]] in hex, \
                 as lspci does (`00:04.0`, `04.0`, `00:04`, `.1`), any part left out or `*` \
                 matching all"
            ))
        };
        let mut slot = Slot::default();
        let (head, tail) = match text.rsplit_once(':') {
            Some((head, tail)) => (Some(head), tail),
            None => (None, text),
        };
        if let Some(head) = head {
            let bus = match head.split_once(':') {
                Some((domain, bus)) => {
                    slot.domain = part(domain, 0x7fff_ffff).map_err(|()| bad("bad domain"))?;
                    bus
                }
                None => head,
            };
            slot.bus = part(bus, 0xff).map_err(|()| bad("bad bus number"))?;
        }
        let (device, function) = match tail.split_once('.') {
            Some((device, function)) => (device, Some(function)),
            None => (tail, None),
        };
        slot.device = part(device, 0x1f).map_err(|()| bad("bad device number"))?;
        if let Some(function) = function {
            slot.function = part(function, 7).map_err(|()| bad("bad function number"))?;
        }
        Ok(slot)
    }

    /// Whether the device at `address` (`DDDD:BB:DD.F`) is in this slot.
    pub(crate) fn matches(&self, address: &str) -> bool {
        let Some((domain, bus, devfn)) = parse_bdf(address) else {
            return false;
        };
        matches(self.domain, u32::from(domain))
            && matches(self.bus, u32::from(bus))
            && matches(self.device, u32::from(devfn >> 3))
            && matches(self.function, u32::from(devfn & 7))
    }
}

/// `lspci -d`: a device's IDs and class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Ids {
    vendor: Part<u32>,
    device: Part<u32>,
    /// Base class and subclass, the upper 16 bits of the class code.
    class: Part<u32>,
}

impl Ids {
    /// Parses `[VENDOR]:[DEVICE][:CLASS]` (or a lone `VENDOR`), as `lspci -d` does.
    pub(crate) fn parse(text: &str) -> Result<Self, Failure> {
        let bad = |what: &str| {
            let mut message = format!(
                "`{text}` is not a vendor and device: {what}; `-d` takes [VENDOR]:[DEVICE] in \
                 hex, as lspci does (`8086:10d3`, `1af4:`, `:1041`), as `drydock list` shows them"
            );
            // A driver name may look like hex (`e1000e`): any word that fails as IDs gets it.
            if !text.contains(':') && !text.trim().is_empty() {
                message += &format!("; devices bound to a driver are `--driver {text}`");
            }
            Failure::usage(message)
        };
        let mut parts = text.split(':');
        let vendor = parts.next().unwrap_or_default();
        let ids = Ids {
            vendor: part(vendor, 0xffff).map_err(|()| bad("bad vendor ID"))?,
            device: part(parts.next().unwrap_or_default(), 0xffff)
                .map_err(|()| bad("bad device ID"))?,
            class: part(parts.next().unwrap_or_default(), 0xffff)
                .map_err(|()| bad("bad class (4 hex digits: base class and subclass)"))?,
        };
        if parts.next().is_some() {
            return Err(bad("too many parts"));
        }
        if text.trim().is_empty() {
            return Err(bad("nothing given"));
        }
        Ok(ids)
    }

    /// The vendor ID, if given.
    pub(crate) fn vendor(&self) -> Option<u32> {
        self.vendor
    }

    /// The device ID, if given.
    pub(crate) fn device(&self) -> Option<u32> {
        self.device
    }

    /// The base class and subclass, if given.
    pub(crate) fn class(&self) -> Option<u32> {
        self.class
    }

    /// Whether `info`'s IDs and class match.
    pub(crate) fn matches(&self, info: &PciDeviceInfo) -> bool {
        matches(self.vendor, u32::from(info.vendor))
            && matches(self.device, u32::from(info.device))
            && matches(self.class, info.class >> 8)
    }
}

/// Whether a device bound to `driver` (`None`: no driver) passes `--driver wanted`; `-` and `_`
/// are interchangeable, and `none` selects devices without a driver.
pub(crate) fn driver_matches(wanted: &str, driver: Option<&str>) -> bool {
    match driver {
        Some(driver) => driver.replace('_', "-") == wanted.replace('_', "-"),
        None => wanted == "none",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_filters_take_names_and_hex_prefixes() {
        assert_eq!(class_prefix("net").unwrap(), "02");
        assert_eq!(class_prefix("NVMe").unwrap(), "0108");
        assert_eq!(class_prefix("0x0108").unwrap(), "0108");
        assert_eq!(class_prefix("010802").unwrap(), "010802");
        let err = class_prefix("disks").unwrap_err();
        assert!(err.message.contains("storage"), "{}", err.message);
        assert!(class_prefix("0108021").is_err());
    }

    #[test]
    fn slots_are_read_as_lspci_reads_them() {
        let slot = |text: &str| Slot::parse(text).unwrap();
        let any = Slot::default();
        assert_eq!(slot(""), any);
        assert_eq!(slot("*:*.*"), any);
        assert_eq!(
            slot("0001:02:1f.7"),
            Slot {
                domain: Some(1),
                bus: Some(2),
                device: Some(0x1f),
                function: Some(7)
            }
        );
        // One colon: bus and device, any domain.
        assert_eq!(
            slot("00:04"),
            Slot {
                bus: Some(0),
                device: Some(4),
                ..any
            }
        );
        // No colon: device and function.
        assert_eq!(
            slot("04.0"),
            Slot {
                device: Some(4),
                function: Some(0),
                ..any
            }
        );
        assert_eq!(
            slot(".1"),
            Slot {
                function: Some(1),
                ..any
            }
        );
        assert_eq!(
            slot("::4"),
            Slot {
                device: Some(4),
                ..any
            }
        );
        for bad in ["00:20.0", "100:00.0", "04.8", "zz", "00:04.0.1", "1:2:3:4"] {
            let err = Slot::parse(bad).unwrap_err();
            assert_eq!(err.code, 2);
            assert!(err.message.contains("lspci"), "{bad}: {}", err.message);
        }
        assert!(slot("00:04.0").matches("0000:00:04.0"));
        assert!(slot("00:04.0").matches("0001:00:04.0"), "any domain");
        assert!(!slot("0000:00:04.0").matches("0001:00:04.0"));
        assert!(slot("04").matches("0000:00:04.3"));
        assert!(!slot("01:04.0").matches("0000:00:04.0"));
        assert!(slot("01:04.0").matches("0000:01:04.0"));
        assert!(!slot("04.1").matches("0000:00:04.0"));
        assert!(slot("1f.*").matches("0000:00:1f.3"));
    }

    #[test]
    fn ids_are_read_as_lspci_reads_them() {
        let info = |vendor, device, class| PciDeviceInfo {
            address: "0000:00:04.0".into(),
            vendor,
            device,
            subsystem_vendor: 0,
            subsystem_device: 0,
            class,
            revision: 0,
            driver: None,
            driver_override: None,
            iommu_group: None,
            numa_node: None,
            resources: Vec::new(),
        };
        let virtio = info(0x1af4, 0x1041, 0x020000);
        let nvme = info(0x1b36, 0x0010, 0x010802);
        let ids = |text: &str| Ids::parse(text).unwrap();
        assert!(ids("1af4:1041").matches(&virtio));
        assert!(ids("1AF4:").matches(&virtio));
        assert!(ids(":1041").matches(&virtio));
        assert!(ids("*:1041").matches(&virtio));
        assert!(ids("1af4").matches(&virtio));
        assert!(!ids(":1041").matches(&nvme));
        assert!(!ids("1af4:1042").matches(&virtio));
        assert!(ids("::0108").matches(&nvme));
        assert!(!ids("::0108").matches(&virtio));
        assert!(ids(":").matches(&nvme));
        for bad in ["intel", "8086:10d3x", "10000:", ":1:2:3", "", "1:2:10000"] {
            let err = Ids::parse(bad).unwrap_err();
            assert_eq!(err.code, 2);
            assert!(err.message.contains("lspci"), "{bad}: {}", err.message);
        }
        // The old meaning of -d, a driver, is pointed at its new spelling.
        for driver in ["nvme", "e1000e", "ixgbe"] {
            let err = Ids::parse(driver).unwrap_err();
            let hint = format!("`--driver {driver}`");
            assert!(err.message.contains(&hint), "{}", err.message);
        }
        // IDs that are wrong as IDs are not taken for a driver.
        for ids in ["8086:10d3x", "", "1:2:10000"] {
            let err = Ids::parse(ids).unwrap_err();
            assert!(!err.message.contains("--driver"), "{}", err.message);
        }
    }

    #[test]
    fn drivers_match_by_name_with_dashes_or_underscores() {
        assert!(driver_matches("uio-pci-generic", Some("uio_pci_generic")));
        assert!(driver_matches("none", None));
        assert!(!driver_matches("nvme", None));
        assert!(!driver_matches("nvme", Some("e1000e")));
    }
}
