//! Configuration space of a simulated function.
//!
//! Holds the 256 (or 4096) bytes of a function's configuration space, built from its
//! [`Identity`] and BARs, and applies the write rules of real hardware: read-only identity and
//! status, BAR sizing (writing all ones reads back the size mask), and only the command bits a
//! function implements. An MSI capability is present when the model has MSI vectors, so a driver
//! walking the capability list sees what it would see on the device.

use drydock_host::function::{BarInfo, BarKind};
use drydock_host::pci_config as cfg;

/// The identity of a simulated function, as its config header reports it.
#[derive(Clone, Copy, Debug)]
pub struct Identity {
    /// Vendor ID.
    pub vendor: u16,
    /// Device ID.
    pub device: u16,
    /// Subsystem vendor ID.
    pub subsystem_vendor: u16,
    /// Subsystem ID.
    pub subsystem: u16,
    /// Revision ID.
    pub revision: u8,
    /// 24-bit class code.
    pub class: u32,
    /// Interrupt pin (0 for none, 1 for INTA).
    pub interrupt_pin: u8,
}

/// Offset of the MSI capability when present.
const MSI_CAP: usize = 0x40;

/// Emulated configuration space.
pub(super) struct ConfigSpace {
    bytes: Vec<u8>,
    bars: [Option<BarInfo>; 6],
}

impl ConfigSpace {
    /// Builds the config space of a function with `identity`, `bars` and `msi_vectors` MSI
    /// vectors; `extended` makes it 4096 bytes (PCI Express).
    pub(super) fn new(
        identity: Identity,
        bars: [Option<BarInfo>; 6],
        msi_vectors: u32,
        extended: bool,
    ) -> Self {
        let mut bytes = vec![0u8; if extended { 4096 } else { 256 }];
        let mut put = |offset: u16, value: &[u8]| {
            bytes[offset as usize..offset as usize + value.len()].copy_from_slice(value)
        };
        put(cfg::VENDOR_ID, &identity.vendor.to_le_bytes());
        put(cfg::DEVICE_ID, &identity.device.to_le_bytes());
        put(cfg::REVISION_ID, &[identity.revision]);
        put(cfg::CLASS_PROG, &identity.class.to_le_bytes()[..3]);
        put(
            cfg::SUBSYSTEM_VENDOR_ID,
            &identity.subsystem_vendor.to_le_bytes(),
        );
        put(cfg::SUBSYSTEM_ID, &identity.subsystem.to_le_bytes());
        put(cfg::INTERRUPT_PIN, &[identity.interrupt_pin]);
        for (index, bar) in bars.iter().enumerate() {
            if let Some(bar) = bar {
                let low = match bar.kind {
                    BarKind::Io => cfg::BAR_SPACE_IO,
                    BarKind::Mem32 => 0,
                    BarKind::Mem64 => cfg::BAR_MEM_TYPE_64,
                } | if bar.prefetchable {
                    cfg::BAR_MEM_PREFETCH
                } else {
                    0
                };
                put(cfg::BASE_ADDRESS_0 + 4 * index as u16, &low.to_le_bytes());
            }
        }
        if msi_vectors > 0 {
            put(cfg::STATUS, &cfg::STATUS_CAP_LIST.to_le_bytes());
            put(cfg::CAPABILITY_LIST, &[MSI_CAP as u8]);
            // MSI capability: ID, next = 0, control: 64-bit capable, log2(vectors) capable.
            let multiple = (msi_vectors.max(1).ilog2() as u16) << 1;
            put(MSI_CAP as u16, &[cfg::CAP_ID_MSI, 0]);
            put(MSI_CAP as u16 + 2, &(0x80 | multiple).to_le_bytes());
        }
        Self { bytes, bars }
    }

    /// The size of the space in bytes.
    pub(super) fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Reads `data.len()` bytes at `offset`; bytes beyond the space read as all ones.
    pub(super) fn read(&self, offset: u16, data: &mut [u8]) {
        for (i, byte) in data.iter_mut().enumerate() {
            *byte = self.bytes.get(offset as usize + i).copied().unwrap_or(0xff);
        }
    }

    /// Writes `data` at `offset`, keeping read-only fields and applying BAR sizing.
    pub(super) fn write(&mut self, offset: u16, data: &[u8]) {
        for (i, &byte) in data.iter().enumerate() {
            let at = offset as usize + i;
            if at >= self.bytes.len() {
                break;
            }
            self.write_byte(at, byte);
        }
    }

    fn write_byte(&mut self, at: usize, byte: u8) {
        let command = cfg::COMMAND as usize;
        let bars = cfg::BASE_ADDRESS_0 as usize..cfg::BASE_ADDRESS_0 as usize + 24;
        if at == command {
            let writable = (cfg::COMMAND_IO | cfg::COMMAND_MEMORY | cfg::COMMAND_MASTER) as u8;
            self.bytes[at] = byte & writable;
        } else if at == command + 1 {
            self.bytes[at] = byte & (cfg::COMMAND_INTX_DISABLE >> 8) as u8;
        } else if at == cfg::INTERRUPT_LINE as usize {
            self.bytes[at] = byte;
        } else if bars.contains(&at) {
            self.write_bar_byte(at, byte);
        } else if (MSI_CAP + 2..MSI_CAP + 14).contains(&at)
            && self.bytes[MSI_CAP] == cfg::CAP_ID_MSI
        {
            // The MSI capability's control, address and data are programmed by the backend.
            self.bytes[at] = byte;
        }
        // Everything else (identity, status, capability pointers) is read-only.
    }

    fn write_bar_byte(&mut self, at: usize, byte: u8) {
        let rel = at - cfg::BASE_ADDRESS_0 as usize;
        let (index, byte_index) = (rel / 4, rel % 4);
        // The upper half of a 64-bit BAR belongs to the BAR below it.
        let (owner, high) = match self.bars[index] {
            None if index > 0
                && matches!(self.bars[index - 1], Some(b) if b.kind == BarKind::Mem64) =>
            {
                (index - 1, true)
            }
            Some(_) => (index, false),
            None => return,
        };
        let Some(bar) = self.bars[owner] else { return };
        let size_mask = !(bar.size - 1);
        let flags_mask: u64 = if bar.kind == BarKind::Io { 0x3 } else { 0xf };
        let shift = (byte_index + if high { 4 } else { 0 }) * 8;
        let writable = (size_mask & !flags_mask) >> shift & 0xff;
        self.bytes[at] = (self.bytes[at] & !(writable as u8)) | (byte & writable as u8);
    }

    /// The current command register.
    pub(super) fn command(&self) -> u16 {
        u16::from_le_bytes([
            self.bytes[cfg::COMMAND as usize],
            self.bytes[cfg::COMMAND as usize + 1],
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edu_like() -> ConfigSpace {
        let identity = Identity {
            vendor: 0x1234,
            device: 0x11e8,
            subsystem_vendor: 0x1af4,
            subsystem: 0x1100,
            revision: 0x10,
            class: 0x00ff00,
            interrupt_pin: 1,
        };
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: 1 << 20,
            start: 0,
            kind: BarKind::Mem32,
            prefetchable: false,
        });
        bars[2] = Some(BarInfo {
            size: 1 << 30,
            start: 0,
            kind: BarKind::Mem64,
            prefetchable: true,
        });
        ConfigSpace::new(identity, bars, 1, false)
    }

    fn read32(c: &ConfigSpace, offset: u16) -> u32 {
        let mut v = [0; 4];
        c.read(offset, &mut v);
        u32::from_le_bytes(v)
    }

    #[test]
    fn identity_is_read_only() {
        let mut c = edu_like();
        assert_eq!(read32(&c, 0), 0x11e8_1234);
        c.write(0, &[0, 0, 0, 0]);
        assert_eq!(read32(&c, 0), 0x11e8_1234);
        assert_eq!(read32(&c, 8), 0x00ff_0010);
    }

    #[test]
    fn bars_report_their_size_when_sized() {
        let mut c = edu_like();
        c.write(0x10, &u32::MAX.to_le_bytes());
        assert_eq!(read32(&c, 0x10), 0xfff0_0000);
        // 64-bit prefetchable BAR2/3 of 1 GiB.
        c.write(0x18, &u32::MAX.to_le_bytes());
        c.write(0x1c, &u32::MAX.to_le_bytes());
        assert_eq!(read32(&c, 0x18), 0xc000_000c);
        assert_eq!(read32(&c, 0x1c), 0xffff_ffff);
        // An unimplemented BAR stays zero.
        c.write(0x24, &u32::MAX.to_le_bytes());
        assert_eq!(read32(&c, 0x24), 0);
    }

    #[test]
    fn only_implemented_command_bits_stick() {
        let mut c = edu_like();
        c.write(cfg::COMMAND, &0xffffu16.to_le_bytes());
        assert_eq!(
            c.command(),
            cfg::COMMAND_IO | cfg::COMMAND_MEMORY | cfg::COMMAND_MASTER | cfg::COMMAND_INTX_DISABLE
        );
    }

    #[test]
    fn msi_capability_is_listed() {
        let c = edu_like();
        let mut bytes = [0u8; 256];
        c.read(0, &mut bytes);
        assert_eq!(cfg::capabilities(&bytes), vec![(cfg::CAP_ID_MSI, 0x40)]);
    }
}
