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
/// The walk stops at a malformed pointer (below 0x40, unaligned, or revisited), so a device that
/// returns garbage cannot make it loop.
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
        found.push((id, u16::from(pointer)));
        pointer = config[pointer as usize + 1] & !0x3;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
