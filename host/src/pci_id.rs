//! How a PCI function is named: its address, and the IDs drivers' tables match.
//!
//! A leaf of the host crate: the PCI core, sysfs and the command line of a driver process all
//! parse addresses and match IDs, and none of them needs the others for it.

use crate::bindings;
use crate::error::HostError;

/// Parses a PCI address `DDDD:BB:DD.F` (or `BB:DD.F`, domain 0) into `(domain, bus, devfn)`.
pub fn parse_bdf(text: &str) -> Option<(u16, u8, u8)> {
    let (domain, rest) = match text.matches(':').count() {
        2 => {
            let (domain, rest) = text.split_once(':')?;
            (u16::from_str_radix(domain, 16).ok()?, rest)
        }
        1 => (0, text),
        _ => return None,
    };
    let (bus, rest) = rest.split_once(':')?;
    let (slot, func) = rest.split_once('.')?;
    let (bus, slot, func) = (
        u8::from_str_radix(bus, 16).ok()?,
        u8::from_str_radix(slot, 16).ok()?,
        func.parse::<u8>().ok()?,
    );
    (slot < 32 && func < 8 && bus_text_ok(text)).then_some((domain, bus, slot << 3 | func))
}

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

/// Every character of an address is a hex digit, `:` or `.`.
fn bus_text_ok(text: &str) -> bool {
    text.chars()
        .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
}

/// The IDs of a PCI function that drivers' ID tables are matched against, read from its config
/// space (or from sysfs before it is opened).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PciIds {
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
}

impl PciIds {
    /// Whether the table entry `id` matches these IDs (`pci_match_one_device()`).
    pub fn matches(&self, id: &bindings::pci_device_id) -> bool {
        let any = |want: u32, have: u16| want == bindings::PCI_ANY_ID || want == u32::from(have);
        any(id.vendor, self.vendor)
            && any(id.device, self.device)
            && any(id.subvendor, self.subsystem_vendor)
            && any(id.subdevice, self.subsystem_device)
            && (id.class ^ self.class) & id.class_mask == 0
    }

    /// Finds the first entry of the zero-terminated table `table` that matches these IDs
    /// (`pci_match_id()`).
    ///
    /// # Safety
    ///
    /// `table` must point to an array of `pci_device_id` ending with an all-zero entry.
    pub unsafe fn match_table(
        &self,
        table: *const bindings::pci_device_id,
    ) -> Option<*const bindings::pci_device_id> {
        let mut entry = table;
        loop {
            // SAFETY: the table is zero-terminated (safety requirement) and we stop at the end.
            let id = unsafe { &*entry };
            if id.vendor == 0 && id.subvendor == 0 && id.class_mask == 0 {
                return None;
            }
            if self.matches(id) {
                return Some(entry);
            }
            // SAFETY: this entry was not the terminator, so the next one exists.
            entry = unsafe { entry.add(1) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_strictly() {
        assert_eq!(parse_bdf("0000:00:04.0"), Some((0, 0, 0x20)));
        assert_eq!(parse_bdf("00:1f.3"), Some((0, 0, 0xfb)));
        assert_eq!(parse_bdf("0001:3a:00.7"), Some((1, 0x3a, 7)));
        for bad in [
            "",
            "0000:00:04",
            "00:20.0",
            "00:04.8",
            "0000:00:04.0.1",
            "zz:00.0",
            "00:04.0 ",
        ] {
            assert_eq!(parse_bdf(bad), None, "{bad:?}");
        }
    }
}
