//! The UIO backend on fake trees: a device bound to uio_pci_generic, with config space and BAR0 as
//! plain files.

use drydock_host::error::HostError;
use drydock_host::function::{BarKind, IrqKind, PciFunction};
use drydock_host::pci_config as cfg;
use drydock_host::uio::{UioFunction, UIO_DRIVER};
use drydock_sim::sysfs::{FakeDevice, FakeSys, EDU_RESOURCE};

/// A fake edu bound to uio_pci_generic, with config space and BAR0 as plain files.
fn fake_uio_edu() -> FakeSys {
    let fake = FakeSys::new("uio");
    fake.add_device(&FakeDevice {
        driver: Some(UIO_DRIVER),
        ..FakeDevice::edu("0000:00:02.0")
    });
    let dir = fake.sysfs().device_dir("0000:00:02.0");
    let mut config = vec![0u8; 256];
    config[..4].copy_from_slice(&[0x34, 0x12, 0xe8, 0x11]);
    config[4..6].copy_from_slice(&(cfg::COMMAND_MEMORY | cfg::COMMAND_INTX_DISABLE).to_le_bytes());
    config[cfg::INTERRUPT_PIN as usize] = 1;
    std::fs::write(dir.join("config"), &config).unwrap();
    std::fs::write(dir.join("resource0"), vec![0u8; 1 << 20]).unwrap();
    std::fs::create_dir_all(dir.join("uio/uio0")).unwrap();
    fake
}

#[test]
fn a_fake_uio_device_opens_with_config_bars_and_intx() {
    let fake = fake_uio_edu();
    let function = UioFunction::open("00:02.0", &fake.sysfs()).unwrap();
    assert_eq!(function.config_size(), 256);
    let mut id = [0u8; 4];
    function.config_read(0, &mut id).unwrap();
    assert_eq!(id, [0x34, 0x12, 0xe8, 0x11]);
    let bar0 = function.bar(0).unwrap();
    assert_eq!(
        (bar0.size, bar0.start, bar0.kind),
        (1 << 20, 0xfea0_0000, BarKind::Mem32)
    );
    assert_eq!(function.bar(1), None);
    assert_eq!(function.irq_count(IrqKind::Intx), 1);
    assert_eq!(function.irq_count(IrqKind::Msi), 0);
    // BAR0 is mapped from `resource0`.
    let bar = function.map_bar(0).unwrap();
    assert_eq!(bar.len, 1 << 20);
    // SAFETY: an aligned offset inside the live mapping.
    unsafe {
        drydock_host::mmio::write(
            core::ptr::with_exposed_provenance_mut::<u32>(bar.addr + 4),
            7,
        )
    };
    let bytes = std::fs::read(fake.sysfs().device_dir("0000:00:02.0").join("resource0")).unwrap();
    assert_eq!(&bytes[4..8], &7u32.to_le_bytes());
    // Enabling the vector lets INTx assert; disconnecting it disables INTx, and the unmask action
    // clears INTx Disable again, each leaving the other bits of the command register.
    let command = || {
        let mut command = [0u8; 2];
        function.config_read(cfg::COMMAND, &mut command).unwrap();
        u16::from_le_bytes(command)
    };
    fake.write_file("dev/uio0", "");
    let sources = function.enable_irqs(IrqKind::Intx, 1).unwrap();
    assert_eq!(command(), cfg::COMMAND_MEMORY);
    sources[0].chip.connect(None).unwrap();
    assert_eq!(command(), cfg::COMMAND_MEMORY | cfg::COMMAND_INTX_DISABLE);
    sources[0].chip.unmask().unwrap();
    assert_eq!(command(), cfg::COMMAND_MEMORY);
    assert!(matches!(
        function.reset(),
        Err(HostError::Unsupported { .. })
    ));
}

#[test]
fn a_device_on_another_driver_is_refused() {
    let fake = FakeSys::new("uio-wrong");
    fake.add_device(&FakeDevice {
        address: "0000:00:06.0",
        ids: (0x8086, 0x10d3),
        class: 0x020000,
        driver: Some("e1000e"),
        group: None,
        resource: EDU_RESOURCE,
    });
    let err = UioFunction::open("0000:00:06.0", &fake.sysfs())
        .err()
        .unwrap();
    assert_eq!(
        err.to_string(),
        "PCI device 0000:00:06.0 is bound to e1000e, not uio_pci_generic: run \
         `drydock bind 0000:00:06.0 --driver uio_pci_generic`"
    );
}
