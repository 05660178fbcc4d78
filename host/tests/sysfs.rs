//! The kernel's view of devices, read from fake trees laid out as the kernel shows them.

use std::fs;

use drydock_host::error::HostError;
use drydock_host::pci_id::canonical_address;
use drydock_host::sysfs::*;
use drydock_sim::sysfs::{FakeDevice, FakeSys, NVME_RESOURCE, TESTDEV_RESOURCE};

fn guest_like() -> FakeSys {
    let fake = FakeSys::new("guest");
    fake.add_device(&FakeDevice {
        driver: Some("vfio-pci"),
        group: Some(2),
        ..FakeDevice::edu("0000:00:02.0")
    });
    fake.add_device(&FakeDevice {
        address: "0000:00:03.0",
        ids: (0x1b36, 0x0005),
        class: 0x00ff00,
        driver: None,
        group: Some(3),
        resource: TESTDEV_RESOURCE,
    });
    fake.add_device(&FakeDevice {
        address: "0000:00:04.0",
        ids: (0x1b36, 0x0010),
        class: 0x010802,
        driver: Some("nvme"),
        group: Some(3),
        resource: NVME_RESOURCE,
    });
    fake
}

#[test]
fn addresses_are_canonicalised() {
    assert_eq!(canonical_address("00:04.0").unwrap(), "0000:00:04.0");
    assert_eq!(canonical_address("0001:3A:1f.7").unwrap(), "0001:3a:1f.7");
    let err = canonical_address("00:04").unwrap_err();
    assert!(err.to_string().contains("DDDD:BB:DD.F"), "{err}");
}

#[test]
fn devices_are_listed_with_identity_driver_group_and_bars() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    let devices = sysfs.devices().unwrap();
    assert_eq!(devices.len(), 3);
    let edu = &devices[0];
    assert_eq!(edu.address, "0000:00:02.0");
    assert_eq!(
        (edu.vendor, edu.device, edu.class),
        (0x1234, 0x11e8, 0x00ff00)
    );
    assert_eq!(
        (edu.subsystem_vendor, edu.subsystem_device),
        (0x1af4, 0x1100)
    );
    assert_eq!(edu.revision, 0x10);
    assert_eq!(edu.driver.as_deref(), Some("vfio-pci"));
    assert_eq!(edu.driver_override, None);
    assert_eq!(edu.iommu_group, Some(2));
    assert_eq!(edu.numa_node, None);
    let bar0 = edu.bar(0).unwrap();
    assert_eq!((bar0.start, bar0.size()), (0xfea0_0000, 1 << 20));
    assert!(bar0.is_mem() && !bar0.is_64bit() && !bar0.is_prefetchable());
    assert!(edu.bar(1).is_none());

    let testdev = &devices[1];
    assert_eq!(testdev.driver, None);
    let bar1 = testdev.bar(1).unwrap();
    assert!(bar1.is_io());
    assert_eq!(bar1.size(), 256);

    let nvme = sysfs.device("00:04.0").unwrap();
    assert!(nvme.bar(0).unwrap().is_64bit());
    assert_eq!(nvme.driver.as_deref(), Some("nvme"));
}

#[test]
fn an_absent_device_is_named() {
    let fake = guest_like();
    let err = fake.sysfs().device("0000:00:1f.0").unwrap_err();
    assert!(matches!(err, HostError::NoDevice { ref bdf } if bdf == "0000:00:1f.0"));
    assert!(err.to_string().contains("drydock list"));
}

#[test]
fn group_members_and_blockers() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    assert!(sysfs.has_iommu_groups().unwrap());
    assert_eq!(
        sysfs.group_members(3).unwrap(),
        vec!["0000:00:03.0", "0000:00:04.0"]
    );
    assert_eq!(
        sysfs.group_blockers(3).unwrap(),
        vec![("0000:00:04.0".to_owned(), "nvme".to_owned())]
    );
    assert!(sysfs.group_blockers(2).unwrap().is_empty());
    assert!(sysfs.group_members(99).unwrap().is_empty());
}

#[test]
fn no_groups_without_an_iommu() {
    let fake = FakeSys::new("noiommu");
    assert!(!fake.sysfs().has_iommu_groups().unwrap());
}

#[test]
fn noiommu_groups_are_told_by_their_name() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    // guest_like's edu is in group 2, a group of the IOMMU, whose name file is absent.
    assert!(!sysfs.is_noiommu_group(2));
    fs::write(
        fake.root().join("sys/kernel/iommu_groups/2/name"),
        "vfio-noiommu\n",
    )
    .unwrap();
    assert!(sysfs.is_noiommu_group(2));
    assert!(!sysfs.is_noiommu_group(99));
}

#[test]
fn vfio_noiommu_mode_is_its_module_parameter() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    assert!(!sysfs.vfio_noiommu_mode());
    fake.set_vfio_noiommu_mode(false);
    assert!(!sysfs.vfio_noiommu_mode());
    fake.set_vfio_noiommu_mode(true);
    assert!(sysfs.vfio_noiommu_mode());
    assert_eq!(
        fs::read_to_string(fake.root().join(NOIOMMU_MODE_PARAMETER)).unwrap(),
        "Y\n"
    );
}

#[test]
fn binding_files_are_written_and_answered_like_the_kernel() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    let nvme_dir = sysfs.device_dir("0000:00:04.0");
    sysfs.unbind("0000:00:04.0").unwrap();
    assert_eq!(sysfs.driver("0000:00:04.0"), None);
    sysfs
        .set_driver_override("0000:00:04.0", Some("vfio-pci"))
        .unwrap();
    assert_eq!(
        fs::read_to_string(nvme_dir.join("driver_override")).unwrap(),
        "vfio-pci\n"
    );
    assert_eq!(
        sysfs
            .device("0000:00:04.0")
            .unwrap()
            .driver_override
            .as_deref(),
        Some("vfio-pci")
    );
    // The override lets vfio-pci, and only it, take the device.
    let err = sysfs.bind("0000:00:04.0", "nvme").unwrap_err();
    assert!(err.to_string().contains("No such device"), "{err}");
    sysfs.drivers_probe("0000:00:04.0").unwrap();
    assert_eq!(sysfs.driver("0000:00:04.0").as_deref(), Some("vfio-pci"));
    assert!(fake.root().join("dev/vfio/3").exists());
    // A bound device refuses a second driver.
    let err = sysfs.bind("0000:00:04.0", "vfio-pci").unwrap_err();
    assert!(err.to_string().contains("busy"), "{err}");
    // A dynamic ID lets vfio-pci take pci-testdev without an override.
    sysfs.new_id("vfio-pci", 0x1b36, 0x0005).unwrap();
    assert_eq!(sysfs.driver("0000:00:03.0").as_deref(), Some("vfio-pci"));
    sysfs.remove_id("vfio-pci", 0x1b36, 0x0005).unwrap();
    sysfs.set_driver_override("0000:00:04.0", None).unwrap();
    assert_eq!(sysfs.device("0000:00:04.0").unwrap().driver_override, None);
    sysfs.unbind("0000:00:04.0").unwrap();
    sysfs.bind("0000:00:04.0", "nvme").unwrap();
    assert_eq!(sysfs.driver("0000:00:04.0").as_deref(), Some("nvme"));
    // Unbinding a device without a driver writes nothing.
    sysfs.unbind("0000:00:03.0").unwrap();
    let before = fake.writes().len();
    sysfs.unbind("0000:00:03.0").unwrap();
    assert_eq!(fake.writes().len(), before);
    let writes = fake.writes();
    assert_eq!(
        writes.first().unwrap(),
        &(
            "sys/bus/pci/devices/0000:00:04.0/driver/unbind".to_owned(),
            "0000:00:04.0".to_owned()
        )
    );
    assert_eq!(
        writes[2],
        (
            "sys/bus/pci/drivers/nvme/bind".to_owned(),
            "0000:00:04.0".to_owned()
        )
    );
    assert_eq!(
        writes[9],
        (
            "sys/bus/pci/drivers/nvme/bind".to_owned(),
            "0000:00:04.0".to_owned()
        )
    );
    assert_eq!(
        writes
            .iter()
            .filter(|(file, _)| file.ends_with("unbind"))
            .count(),
        3,
        "{writes:?}"
    );
}

#[test]
fn vfio_pci_refuses_a_device_without_an_iommu_group() {
    let fake = FakeSys::new("nogroup");
    fake.add_device(&FakeDevice::edu("0000:00:02.0"));
    fake.add_driver("vfio-pci", &[]);
    let sysfs = fake.sysfs();
    sysfs
        .set_driver_override("0000:00:02.0", Some("vfio-pci"))
        .unwrap();
    let err = sysfs.bind("0000:00:02.0", "vfio-pci").unwrap_err();
    assert!(err.to_string().contains("Invalid argument"), "{err}");
    // drivers_probe hides the probe's failure, as the kernel does.
    sysfs.drivers_probe("0000:00:02.0").unwrap();
    assert_eq!(sysfs.driver("0000:00:02.0"), None);
}

#[test]
fn modules_load_through_the_kernel_and_take_their_devices() {
    let fake = FakeSys::guest("modules");
    let sysfs = fake.sysfs();
    sysfs.unbind("0000:00:06.0").unwrap();
    fs::remove_dir_all(fake.root().join("sys/bus/pci/drivers/e1000e")).unwrap();
    fs::remove_dir_all(fake.root().join("sys/module/e1000e")).unwrap();
    fake.add_loadable_module("e1000e", "e1000e", &[(0x8086, 0x10d3)]);
    assert!(!sysfs.module_present("e1000e"));
    // By the device's modalias, as `modprobe $(cat modalias)` does.
    let alias = sysfs.modalias("0000:00:06.0").unwrap().unwrap();
    assert!(alias.starts_with("pci:v00008086d000010D3"), "{alias}");
    sysfs.load_module(&alias).unwrap();
    assert!(sysfs.module_present("e1000e"));
    assert_eq!(sysfs.driver("0000:00:06.0").as_deref(), Some("e1000e"));
    let err = sysfs.load_module("no_such_module").unwrap_err();
    assert!(err.to_string().contains("no_such_module"), "{err}");
    // Without a kernel behind the tree, loading says so.
    let err = Sysfs::at(fake.root()).load_module("ixgbe").unwrap_err();
    assert!(err.to_string().contains("no kernel behind it"), "{err}");
}

#[test]
fn group_type_and_viability_rules() {
    let fake = FakeSys::guest("viability");
    let sysfs = fake.sysfs();
    assert_eq!(sysfs.group_type(2).unwrap().as_deref(), Some("DMA"));
    assert_eq!(sysfs.group_type(99).unwrap(), None);
    assert!(leaves_group_viable("vfio-pci"));
    assert!(leaves_group_viable("pcieport"));
    assert!(leaves_group_viable("mlx5_vfio_pci"));
    assert!(!leaves_group_viable("uio_pci_generic"));
    assert!(sysfs.group_blockers(8).unwrap().is_empty());
    assert_eq!(
        sysfs.group_blockers(6).unwrap(),
        vec![("0000:00:06.0".to_owned(), "e1000e".to_owned())]
    );
}

#[test]
fn modules_and_drivers_are_found() {
    let fake = guest_like();
    let sysfs = fake.sysfs();
    assert!(sysfs.driver_registered("vfio-pci"));
    assert!(sysfs.module_present("vfio-pci"));
    assert!(sysfs.driver_dir("vfio-pci").join("bind").exists());
    assert!(sysfs.module_present("vfio_pci"));
    assert!(!sysfs.module_present("uio_pci_generic"));
    assert!(!sysfs.driver_registered("uio_pci_generic"));
}

#[test]
fn the_command_line_is_parsed_like_the_kernel_does() {
    let fake = guest_like();
    fs::write(
        fake.root().join("proc/cmdline"),
        "BOOT_IMAGE=/vmlinuz ro quiet intel_iommu=on,sm_on iommu=pt dyndbg=\"file x +p\"\n",
    )
    .unwrap();
    let cmdline = fake.sysfs().kernel_cmdline().unwrap();
    assert!(cmdline.has("intel_iommu", "on"));
    assert!(cmdline.has("intel_iommu", "sm_on"));
    assert!(cmdline.has("iommu", "pt"));
    assert_eq!(cmdline.get("quiet"), Some(""));
    assert_eq!(cmdline.get("dyndbg"), Some("file x +p"));
    assert_eq!(cmdline.get("amd_iommu"), None);
    let later_wins = KernelCmdline::parse("iommu=pt iommu=nopt");
    assert_eq!(later_wins.get("iommu"), Some("nopt"));
}

#[test]
fn resource_lines_parse_with_flags() {
    let resources = parse_resources(TESTDEV_RESOURCE);
    assert_eq!(resources.len(), 2);
    assert_eq!(resources[1].index, 1);
    assert_eq!(resources[1].start, 0xc000);
    assert!(resources[1].is_io() && !resources[1].is_mem());
}
