// `pci_device_table!` takes three arguments in 7.3, the table, its ID information type and the
// entries; the two-argument form of older kernels does not build there, nor here.
use kernel::pci;

kernel::pci_device_table!(
    PCI_TABLE,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

fn main() {}
