// The good twin of `compile-fail/pci_device_table_without_info_type.rs`.
use kernel::pci;

kernel::pci_device_table!(
    PCI_TABLE,
    u32,
    [
        (pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), 5),
        (pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x10), 16),
    ]
);

fn main() {
    let table: pci::IdTable<u32> = &PCI_TABLE;
    // SAFETY: the table holds two entries and the zeroed sentinel after them.
    let ids = unsafe { core::slice::from_raw_parts(table.as_ptr(), 3) };
    let devices: Vec<u32> = ids.iter().map(|id| id.device).collect();
    assert_eq!(devices, [0x5, 0x10, 0]);
}
