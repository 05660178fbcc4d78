//! The PCI vendors the kernel names: a driver's ID table can match a vendor by ID only through
//! one of these `kernel::pci::Vendor` constants (the kernel gives drivers no way to make a
//! `Vendor` of another ID).
//!
//! The names are Linux 7.3's, read when drydock is built from the mirror's list (the lines
//! `NAME = bindings::PCI_VENDOR_ID_NAME,` of `kernel/src/pci/id.rs`) and the host's values of
//! those C constants (`host/src/bindings.rs`), so they never drift from what the driver file will
//! build against.

/// The mirror's vendor list.
const MIRROR: &str = include_str!("../../../kernel/src/pci/id.rs");

/// The host's C constants.
const BINDINGS: &str = include_str!("../../../host/src/bindings.rs");

/// The name of the `kernel::pci::Vendor` constant for `id` (`REDHAT` for 0x1b36), if the kernel
/// names one; the first one listed when several share the ID.
pub(crate) fn name(id: u16) -> Option<&'static str> {
    named()
        .find(|(_, value)| *value == id)
        .map(|(name, _)| name)
}

/// Every named vendor, in the mirror's order: the constant's name and its ID.
fn named() -> impl Iterator<Item = (&'static str, u16)> {
    MIRROR.lines().filter_map(|line| {
        let (name, constant) = line
            .trim()
            .trim_end_matches(',')
            .split_once(" = bindings::")?;
        if !constant.starts_with("PCI_VENDOR_ID_") {
            return None;
        }
        Some((name, value(constant)?))
    })
}

/// The value of the host's C constant `constant` (`pub const NAME: u32 = 0x1b36;`).
fn value(constant: &str) -> Option<u16> {
    let prefix = format!("pub const {constant}: u32 = ");
    BINDINGS.lines().find_map(|line| {
        let hex = line.strip_prefix(&prefix)?.strip_suffix(';')?;
        u16::from_str_radix(hex.trim_start_matches("0x"), 16).ok()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kernels_names_are_found_by_id() {
        assert_eq!(name(0x1b36), Some("REDHAT"));
        assert_eq!(name(0x1af4), Some("REDHAT_QUMRANET"));
        assert_eq!(name(0x8086), Some("INTEL"));
        // QEMU's edu vendor has no name in the kernel.
        assert_eq!(name(0x1234), None);
    }

    #[test]
    fn every_listed_vendor_has_its_value() {
        // Linux 7.3 names 280 vendors; a name without a value would silently go unmatched.
        let listed = MIRROR.matches(" = bindings::PCI_VENDOR_ID_").count();
        assert_eq!(named().count(), listed);
        assert!(listed >= 280, "{listed}");
    }
}
