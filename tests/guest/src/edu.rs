//! QEMU's `edu` device through VFIO: just what the end-to-end proof and the demo need.
//!
//! Register map (BAR0, 32-bit registers) from QEMU's `hw/misc/edu.c`; see
//! `docs/testing.md` and the project's QEMU device notes.

use std::time::{Duration, Instant};

use drydock_guest::layout::{self, Role};

use crate::sysfs;
use crate::vfio::{Bar, Device};

/// Identification: `0xRRrr00ED`, major and minor version.
pub const REG_ID: usize = 0x00;
/// Liveness check: reads back the bitwise NOT of the last value written.
pub const REG_LIVENESS: usize = 0x04;
/// Factorial: write n, read n! (mod 2^32) once the status bit clears.
pub const REG_FACTORIAL: usize = 0x08;
/// Status: bit 0 is set while a factorial is being computed.
pub const REG_STATUS: usize = 0x20;
const STATUS_COMPUTING: u32 = 0x01;

/// The identification value of QEMU 7.2's edu: version 1.0.
pub const EDU_ID: u32 = 0x0100_00ed;

/// edu's DMA mask: QEMU's edu keeps the low 28 bits of a DMA address (`edu_clamp_addr`), and
/// its drivers set this mask.
pub const DMA_MASK: u64 = (1 << 28) - 1;

/// The edu device's PCI address.
pub fn address() -> String {
    layout::device(Role::Edu).address()
}

/// Binds edu to vfio-pci and opens it through VFIO. Returns the device (which keeps the group
/// and container open), its BAR0 mapping and its IOMMU group.
pub fn open() -> Result<(Device, Bar, u32), String> {
    let address = address();
    sysfs::bind(&address, "vfio-pci")?;
    let group = sysfs::iommu_group(&address)?
        .ok_or_else(|| format!("{address} is bound to vfio-pci but has no IOMMU group"))?;
    let device = Device::open(&address, group)?;
    let bar = device.map_bar(0)?;
    Ok((device, bar, group))
}

/// Computes `n!` on the device, waiting up to a second for it.
pub fn factorial(bar: &Bar, n: u32) -> Result<u32, String> {
    bar.write32(REG_FACTORIAL, n);
    let start = Instant::now();
    while bar.read32(REG_STATUS) & STATUS_COMPUTING != 0 {
        if start.elapsed() > Duration::from_secs(1) {
            return Err(format!("edu still computing {n}! after 1 s"));
        }
        std::thread::yield_now();
    }
    Ok(bar.read32(REG_FACTORIAL))
}
