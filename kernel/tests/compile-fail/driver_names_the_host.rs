// A driver file sees the kernel's API and nothing else: drydock's host machinery (the runtime, the
// backends, the simulated bus) is not part of `kernel`, so naming it fails here as it fails in a
// Linux 7.3 tree. The driver's binary, a separate package, is what reaches the runner.
use kernel::host::runtime as _;
use kernel::{device::Core, pci, prelude::*};

struct Driver;

kernel::pci_device_table!(
    PCI_TABLE,
    <Driver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

impl pci::Driver for Driver {
    type IdInfo = ();
    type Data<'bound> = ();
    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        _pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        Ok(())
    }
}

kernel::module_pci_driver! {
    type: Driver,
    name: "names_the_host",
    license: "GPL v2",
}

fn main() {}
