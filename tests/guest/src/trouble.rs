//! Which kernel log records report trouble, and which of those a case does not expect.
//!
//! The runner reads the records logged while each case ran and fails a case that otherwise
//! passed if one of them reports trouble that the case does not declare
//! (`Case::expected_kernel_messages`): an IOMMU fault, a warning or bug report of the kernel, an
//! interrupt nobody handled, or an error of VFIO. Records are judged by their level and their
//! text: the kernel logs its own bug reports (`WARN()`, `BUG()`, an oops, a Rust panic) at
//! `KERN_WARNING` or more severe, and its IOMMU faults and VFIO errors at `KERN_ERR` or
//! `KERN_WARNING`, while the IOMMU and VFIO report ordinary events (a domain attached, a device
//! opened, a device request relayed) at `KERN_NOTICE` and below.

use crate::kmsg::{Record, LEVEL_WARNING};

/// What in a record at [`LEVEL_WARNING`] or more severe reports trouble.
pub const TROUBLE: &[&str] = &[
    // The Intel IOMMU's fault reports: `DMAR: DRHD: handling fault status reg 2`, then
    // `DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0x... [fault reason ...]`.
    "DMAR",
    // `WARN()`: `WARNING: CPU: 0 PID: 1 at file:line function`; lockdep's reports too.
    "WARNING:",
    // `BUG()` (`kernel BUG at ...`), `BUG: unable to handle page fault`, `BUG: sleeping function
    // called from invalid context`, KASAN's and the slab allocator's reports.
    "BUG",
    // An oops: `Oops: 0000 [#1] SMP`.
    "Oops",
    // A Rust panic in the kernel: `rust_kernel: panicked at ...`.
    "panicked",
    // An interrupt line no handler claimed: `irq 11: nobody cared (try booting with the
    // "irqpoll" option)`, followed by `Disabling IRQ #11`.
    "nobody cared",
    "Disabling IRQ",
    // VFIO's errors and warnings: `vfio-pci 0000:00:02.0: ...`, `vfio_iommu_type1: ...`,
    // `VFIO - ...`.
    "vfio",
    "VFIO",
];

/// Ends of warnings that report an ordinary event in words that hold a [`TROUBLE`] marker.
///
/// Linux 7.3's PCI core (not 6.1's) warns around a function reset of a device whose driver has no
/// `reset_prepare` handler (`pci_dev_save_and_disable()`, `pci_dev_restore()`), as vfio-pci has
/// none: `vfio-pci 0000:00:05.0: resetting`, then `...: reset done`, each time a process resets
/// a device it opened through VFIO (`VFIO_DEVICE_RESET`), as drydock does at open.
pub const ORDINARY: &[&str] = &[": resetting", ": reset done"];

/// Whether `record` reports trouble: it is at [`LEVEL_WARNING`] or more severe, its text holds
/// one of [`TROUBLE`], and it does not end as one of [`ORDINARY`] does.
pub fn is_trouble(record: &Record) -> bool {
    let text = record.text.trim_end();
    record.level <= LEVEL_WARNING
        && TROUBLE.iter().any(|marker| text.contains(marker))
        && !ORDINARY.iter().any(|end| text.ends_with(end))
}

/// The records among `records` that report trouble and contain none of `expected`.
pub fn unexpected<'a>(records: &'a [Record], expected: &[&str]) -> Vec<&'a Record> {
    records
        .iter()
        .filter(|record| is_trouble(record))
        .filter(|record| !expected.iter().any(|text| record.text.contains(text)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(level: u8, text: &str) -> Record {
        Record {
            level,
            micros: Some(0),
            text: text.into(),
        }
    }

    #[test]
    fn kernel_reports_of_trouble_are_trouble() {
        for (level, text) in [
            (3, "DMAR: DRHD: handling fault status reg 2"),
            (
                3,
                "DMAR: [DMA Write NO_PASID] Request device [00:02.0] fault addr 0xffff000 \
                 [fault reason 0x05] PTE Write access is not set",
            ),
            (
                4,
                "WARNING: CPU: 0 PID: 1 at drivers/vfio/vfio_main.c:1 f+0x0/0x10",
            ),
            (
                1,
                "BUG: kernel NULL pointer dereference, address: 0000000000000000",
            ),
            (2, "kernel BUG at mm/slub.c:100!"),
            (4, "Oops: 0000 [#1] PREEMPT SMP NOPTI"),
            (0, "rust_kernel: panicked at drivers/edu.rs:1:1:"),
            (
                0,
                "irq 11: nobody cared (try booting with the \"irqpoll\" option)",
            ),
            (0, "Disabling IRQ #11"),
            (3, "vfio-pci 0000:00:02.0: Failed to setup INTx: -22"),
            (4, "vfio_iommu_type1: dma_unmap failed"),
        ] {
            assert!(is_trouble(&record(level, text)), "<{level}>{text}");
        }
    }

    #[test]
    fn ordinary_events_are_not_trouble() {
        for (level, text) in [
            // IOMMU and VFIO news at notice and info level.
            (6, "DMAR: IOMMU enabled"),
            (6, "VFIO - User Level meta-driver version: 0.3"),
            (
                5,
                "vfio-pci 0000:00:02.0: Relaying device request to user (#0)",
            ),
            // Trouble markers in news of other kinds.
            (6, "edu 0000:00:02.0: DEBUG build"),
            // A device reset through VFIO, which Linux 7.3 announces at warning level.
            (4, "vfio-pci 0000:00:05.0: resetting"),
            (4, "vfio-pci 0000:00:05.0: reset done"),
            // A warning that reports none of the trouble the runner looks for.
            (4, "e1000e 0000:00:06.0 eth0: NIC Link is Down"),
        ] {
            assert!(!is_trouble(&record(level, text)), "<{level}>{text}");
        }
    }

    #[test]
    fn declared_messages_are_expected() {
        let records = [
            record(3, "DMAR: DRHD: handling fault status reg 2"),
            record(4, "WARNING: CPU: 0 PID: 1 at x.c:1 f+0x0/0x10"),
            record(6, "edu 0000:00:02.0: alive"),
        ];
        let texts = |records: Vec<&Record>| -> Vec<String> {
            records.iter().map(|r| r.text.clone()).collect()
        };
        assert_eq!(
            texts(unexpected(&records, &[])),
            [records[0].text.clone(), records[1].text.clone()]
        );
        assert_eq!(
            texts(unexpected(&records, &["DMAR: DRHD: handling fault"])),
            [records[1].text.clone()]
        );
        assert!(unexpected(&records, &["DMAR", "WARNING: CPU"]).is_empty());
    }
}
