//! A driver for QEMU's pci-testdev that enables bus mastering and keeps nothing, for tests that
//! need a bound device (`#[path = "support/bare_testdev.rs"] mod bare;`).

use kernel::{device::Core, pci, prelude::*};

pub struct Driver;

kernel::pci_device_table!(
    TABLE,
    <Driver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

impl pci::Driver for Driver {
    type IdInfo = ();
    type Data<'bound> = ();
    const ID_TABLE: pci::IdTable<()> = &TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound ()>,
    ) -> impl PinInit<(), Error> + 'bound {
        pdev.set_master();
        Ok(())
    }
}

kernel::module_pci_driver! {
    type: Driver,
    name: "bare_testdev",
    license: "GPL",
}
