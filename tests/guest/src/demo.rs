//! `drydock-guest demo`: edu through VFIO, step by step, for a person to watch.

use std::time::Instant;

use crate::{edu, sysfs};

/// Binds edu to vfio-pci, maps its BAR0 and exercises its registers, printing each step.
pub fn run() -> Result<(), String> {
    let address = edu::address();
    let vendor = sysfs::read_hex(&address, "vendor")?;
    let device = sysfs::read_hex(&address, "device")?;
    println!("edu is PCI device {address} ({vendor:04x}:{device:04x})");
    println!(
        "  driver before: {}",
        sysfs::driver(&address).as_deref().unwrap_or("none")
    );

    let (vfio, bar, group) = edu::open()?;
    println!("  bound to vfio-pci; IOMMU group {group}, opened /dev/vfio/{group}");
    println!(
        "  VFIO device: {} regions, {} interrupt types; BAR0 mapped, {} KiB",
        vfio.num_regions,
        vfio.num_irqs,
        bar.len() / 1024
    );

    let id = bar.read32(edu::REG_ID);
    println!(
        "identification register (0x00): {id:#010x} -> edu version {}.{}",
        id >> 24,
        (id >> 16) & 0xff
    );
    if id != edu::EDU_ID {
        return Err(format!("expected identification {:#010x}", edu::EDU_ID));
    }

    let value = 0x1234_5678;
    bar.write32(edu::REG_LIVENESS, value);
    let read = bar.read32(edu::REG_LIVENESS);
    println!(
        "liveness register (0x04): wrote {value:#010x}, read back {read:#010x} (its bitwise NOT)"
    );
    if read != !value {
        return Err(format!("expected {:#010x}", !value));
    }

    for n in [5, 10, 12] {
        let start = Instant::now();
        let result = edu::factorial(&bar, n)?;
        let expected = (1..=n).fold(1u32, u32::wrapping_mul);
        if result != expected {
            return Err(format!(
                "{n}! should be {expected}, the device said {result}"
            ));
        }
        println!(
            "factorial register (0x08): {n}! = {result}, computed by the device in {:.1} ms",
            start.elapsed().as_secs_f64() * 1000.0
        );
    }
    Ok(())
}
