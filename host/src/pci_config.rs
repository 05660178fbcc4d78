//! PCI configuration space layout: register offsets and bits the host machinery uses.
//!
//! From the PCI Local Bus and PCI Express specifications (`include/uapi/linux/pci_regs.h` names
//! them the same way).

/// Vendor ID (16 bits).
pub const VENDOR_ID: u16 = 0x00;
/// Device ID (16 bits).
pub const DEVICE_ID: u16 = 0x02;
/// Command register (16 bits).
pub const COMMAND: u16 = 0x04;
/// Status register (16 bits).
pub const STATUS: u16 = 0x06;
/// Revision ID (8 bits).
pub const REVISION_ID: u16 = 0x08;
/// Class code: programming interface, subclass, base class (24 bits from here).
pub const CLASS_PROG: u16 = 0x09;
/// First base address register.
pub const BASE_ADDRESS_0: u16 = 0x10;
/// Subsystem vendor ID (16 bits).
pub const SUBSYSTEM_VENDOR_ID: u16 = 0x2c;
/// Subsystem ID (16 bits).
pub const SUBSYSTEM_ID: u16 = 0x2e;
/// Capabilities pointer (8 bits).
pub const CAPABILITY_LIST: u16 = 0x34;
/// Interrupt line (8 bits).
pub const INTERRUPT_LINE: u16 = 0x3c;
/// Interrupt pin (8 bits; 0 = none, 1..=4 = INTA..INTD).
pub const INTERRUPT_PIN: u16 = 0x3d;

/// Command: respond to I/O space accesses.
pub const COMMAND_IO: u16 = 0x1;
/// Command: respond to memory space accesses.
pub const COMMAND_MEMORY: u16 = 0x2;
/// Command: the function may master the bus (DMA and MSI writes).
pub const COMMAND_MASTER: u16 = 0x4;
/// Command: the function must not assert INTx.
pub const COMMAND_INTX_DISABLE: u16 = 0x400;

/// Status: the function implements a capability list.
pub const STATUS_CAP_LIST: u16 = 0x10;

/// Capability ID of MSI.
pub const CAP_ID_MSI: u8 = 0x05;
/// Capability ID of MSI-X.
pub const CAP_ID_MSIX: u8 = 0x11;

/// BAR low bit: the BAR decodes I/O space.
pub const BAR_SPACE_IO: u32 = 0x1;
/// BAR memory type field (bits 2:1): 64-bit when equal to [`BAR_MEM_TYPE_64`].
pub const BAR_MEM_TYPE_MASK: u32 = 0x6;
/// BAR memory type: 64-bit.
pub const BAR_MEM_TYPE_64: u32 = 0x4;
/// BAR: prefetchable memory.
pub const BAR_MEM_PREFETCH: u32 = 0x8;

/// Walks the capability list in `config` (at least the first 256 bytes of configuration space)
/// and returns `(id, offset)` of each capability, in list order.
///
/// As the kernel's `pci_find_capability()` walks it: a pointer's low two bits are ignored, and
/// the walk stops at a pointer below 0x40 or a capability ID of 0xff (what a device that is gone
/// reads). It stops at a revisited capability too, so a device that returns garbage cannot make it
/// loop: the 48 places a capability can be are walked at most once each, where the kernel walks
/// at most 48 steps.
pub fn capabilities(config: &[u8]) -> Vec<(u8, u16)> {
    let mut found = Vec::new();
    if config.len() < 0x40 {
        return found;
    }
    let status = u16::from_le_bytes([config[STATUS as usize], config[STATUS as usize + 1]]);
    if status & STATUS_CAP_LIST == 0 {
        return found;
    }
    let mut pointer = config[CAPABILITY_LIST as usize] & !0x3;
    let mut seen = [false; 256];
    while pointer >= 0x40 && (pointer as usize) + 1 < config.len() && !seen[pointer as usize] {
        seen[pointer as usize] = true;
        let id = config[pointer as usize];
        if id == 0xff {
            break;
        }
        found.push((id, u16::from(pointer)));
        pointer = config[pointer as usize + 1] & !0x3;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn capability_walk_follows_the_list_and_survives_loops() {
        let mut config = [0u8; 256];
        config[STATUS as usize] = STATUS_CAP_LIST as u8;
        config[CAPABILITY_LIST as usize] = 0x40;
        config[0x40] = CAP_ID_MSI;
        config[0x41] = 0x60;
        config[0x60] = CAP_ID_MSIX;
        config[0x61] = 0x40; // loops back
        assert_eq!(
            capabilities(&config),
            vec![(CAP_ID_MSI, 0x40), (CAP_ID_MSIX, 0x60)]
        );
        config[STATUS as usize] = 0;
        assert!(capabilities(&config).is_empty());
    }

    #[test]
    fn a_device_that_is_gone_has_no_capabilities() {
        assert!(capabilities(&[0xff; 256]).is_empty());
    }

    /// The kernel's `pci_find_capability()` on a type 0 or 1 header: at most 48 steps from the
    /// capabilities pointer, ending at a pointer below 0x40 or an ID of 0xff.
    fn kernel_find_capability(config: &[u8; 256], id: u8) -> Option<u16> {
        let status = u16::from_le_bytes([config[STATUS as usize], config[STATUS as usize + 1]]);
        if status & STATUS_CAP_LIST == 0 {
            return None;
        }
        let mut pos = config[CAPABILITY_LIST as usize];
        for _ in 0..48 {
            if pos < 0x40 {
                return None;
            }
            pos &= !3;
            match config[pos as usize] {
                0xff => return None,
                found if found == id => return Some(u16::from(pos)),
                _ => pos = config[pos as usize + 1],
            }
        }
        None
    }

    /// A configuration space with a capability list built from `links` (`(offset, id, next)`,
    /// where `next` picks another link's offset, making loops, or is a raw pointer), laid over
    /// arbitrary bytes.
    fn chained() -> impl Strategy<Value = [u8; 256]> {
        let offset = (0x10u8..0x40).prop_map(|quarter| quarter * 4);
        let id = prop_oneof![Just(CAP_ID_MSI), Just(CAP_ID_MSIX), Just(0xff), any::<u8>()];
        let next = prop_oneof![
            (0usize..16).prop_map(Err),
            any::<u8>().prop_map(Ok),
            Just(Ok(0)),
        ];
        (
            proptest::array::uniform32(any::<[u8; 8]>()),
            proptest::collection::vec((offset, id, next), 1..16),
            any::<bool>(),
        )
            .prop_map(|(noise, links, listed)| {
                let mut config = [0u8; 256];
                config.copy_from_slice(noise.as_flattened());
                config[STATUS as usize] |= if listed { STATUS_CAP_LIST as u8 } else { 0 };
                config[CAPABILITY_LIST as usize] = links[0].0;
                for &(at, id, next) in &links {
                    config[at as usize] = id;
                    config[at as usize + 1] = next.unwrap_or_else(|i| links[i % links.len()].0);
                }
                config
            })
    }

    proptest! {
        #![proptest_config(drydock_sim::fuzz::config(3000))]

        /// Whatever a device's configuration space holds, the walk ends, finds each capability
        /// where the kernel's walk finds it, and lists only places a capability can be: aligned,
        /// from 0x40 on, each once.
        #[test]
        fn the_capability_walk_finds_what_the_kernels_finds(
            config in prop_oneof![chained(), any::<[u8; 256]>()]
        ) {
            let found = capabilities(&config);
            prop_assert!(found.len() <= 48);
            for (i, &(id, offset)) in found.iter().enumerate() {
                prop_assert!((0x40..=0xfc).contains(&offset) && offset % 4 == 0);
                prop_assert!(id != 0xff);
                prop_assert!(found[..i].iter().all(|&(_, seen)| seen != offset));
            }
            for id in 0..=u8::MAX {
                let first = found.iter().find(|&&(cap, _)| cap == id).map(|&(_, at)| at);
                prop_assert_eq!(first, kernel_find_capability(&config, id), "ID {:#x}", id);
            }
            // Bytes beyond the first 256 (PCI Express's extended space) change nothing.
            let mut extended = config.to_vec();
            extended.resize(4096, 0xa5);
            prop_assert_eq!(capabilities(&extended), found);
        }

        /// A space shorter than the header's 256 bytes ends the walk at its end.
        #[test]
        fn a_short_space_ends_the_walk(config in proptest::collection::vec(any::<u8>(), 0..256)) {
            for &(_, offset) in &capabilities(&config) {
                prop_assert!(usize::from(offset) + 1 < config.len());
            }
        }
    }
}
