//! Which VFIO interface reaches a device, decided from fake trees laid out as kernels with and
//! without VFIO's device cdev show them.

use drydock_host::error::HostError;
use drydock_host::sysfs::Access;
use drydock_host::vfio::{choose, in_use, Interface, Offer, VfioFunction, VfioOptions};
use drydock_sim::sysfs::{FakeDevice, FakeSys};

const EDU: &str = "0000:00:02.0";

/// A tree with edu bound to vfio-pci in group 2, on a kernel with the device cdev or without.
fn edu_on_vfio(name: &str, cdev: bool) -> FakeSys {
    let fake = FakeSys::new(name);
    if cdev {
        fake.enable_vfio_cdev();
    }
    fake.add_device(&FakeDevice {
        driver: Some("vfio-pci"),
        group: Some(2),
        ..FakeDevice::edu(EDU)
    });
    fake
}

#[test]
fn a_kernel_with_the_cdev_and_iommufd_gets_the_cdev() {
    let fake = edu_on_vfio("cdev", true);
    let sysfs = fake.sysfs();
    assert_eq!(sysfs.vfio_cdev(EDU).as_deref(), Some("vfio0"));
    let offer = Offer::of(&sysfs, EDU, Some(2));
    assert_eq!(
        offer,
        Offer {
            cdev: Some(("/dev/vfio/devices/vfio0".to_owned(), Access::Granted)),
            iommufd: Access::Granted,
            noiommu: false,
        }
    );
    let choice = choose(EDU, None, &offer).unwrap();
    assert_eq!(choice.interface, Interface::Cdev);
    assert_eq!(choice.reason, "the kernel offers it");
    assert_eq!(
        choose(EDU, Some(Interface::Group), &offer)
            .unwrap()
            .interface,
        Interface::Group
    );
}

#[test]
fn a_kernel_without_the_cdev_gets_the_group() {
    // The kernel shows vfio-dev/vfioN for every VFIO device, but numbers it only with the cdev.
    let fake = edu_on_vfio("nocdev", false);
    let sysfs = fake.sysfs();
    assert!(sysfs.device_dir(EDU).join("vfio-dev/vfio0").is_dir());
    assert_eq!(sysfs.vfio_cdev(EDU), None);
    let offer = Offer::of(&sysfs, EDU, Some(2));
    let choice = choose(EDU, None, &offer).unwrap();
    assert_eq!(
        (choice.interface, choice.reason),
        (Interface::Group, "the kernel offers no device cdev")
    );
    // Forcing the cdev says what the kernel lacks, before anything is opened.
    let err = VfioFunction::open(
        EDU,
        &sysfs,
        VfioOptions {
            interface: Some(Interface::Cdev),
            ..VfioOptions::default()
        },
    )
    .err()
    .expect("a cdev the kernel lacks");
    assert!(
        matches!(err, HostError::NoVfioCdev { ref bdf, .. } if bdf == EDU),
        "{err}"
    );
    assert!(err.to_string().contains("CONFIG_VFIO_DEVICE_CDEV"), "{err}");
}

#[test]
fn without_dev_iommu_the_group_is_taken() {
    let fake = edu_on_vfio("noiommufd", true);
    std::fs::remove_file(fake.root().join("dev/iommu")).unwrap();
    let sysfs = fake.sysfs();
    let offer = Offer::of(&sysfs, EDU, Some(2));
    assert_eq!(offer.iommufd, Access::Missing);
    assert_eq!(
        choose(EDU, None, &offer).unwrap().reason,
        "the kernel offers no iommufd"
    );
    let err = choose(EDU, Some(Interface::Cdev), &offer).unwrap_err();
    assert!(err.to_string().contains("/dev/iommu is missing"), "{err}");
}

/// A tree in VFIO's no-IOMMU mode with edu just bound to vfio-pci, which makes it a no-IOMMU
/// group; on a kernel with the device cdev, and with the no-IOMMU cdev too if `noiommu_cdev`.
fn edu_without_iommu(name: &str, noiommu_cdev: bool) -> FakeSys {
    let fake = FakeSys::new(name);
    if noiommu_cdev {
        fake.enable_vfio_noiommu_cdev();
    } else {
        fake.enable_vfio_cdev();
    }
    fake.set_vfio_noiommu_mode(true);
    fake.add_driver("vfio-pci", &[]);
    fake.add_device(&FakeDevice::edu(EDU));
    let sysfs = fake.sysfs();
    sysfs.set_driver_override(EDU, Some("vfio-pci")).unwrap();
    sysfs.bind(EDU, "vfio-pci").unwrap();
    fake
}

#[test]
fn a_noiommu_group_without_its_cdev_is_driven_through_the_group() {
    // Linux 6.6 to 7.2: the device cdev, but none for a no-IOMMU device.
    let fake = edu_without_iommu("noiommu-nocdev", false);
    let sysfs = fake.sysfs();
    assert!(sysfs.device_dir(EDU).join("vfio-dev/vfio0").is_dir());
    let group = sysfs.iommu_group(EDU).expect("a no-IOMMU group");
    let offer = Offer::of(&sysfs, EDU, Some(group));
    assert!(offer.noiommu);
    assert_eq!(offer.cdev, None);
    let choice = choose(EDU, None, &offer).unwrap();
    assert_eq!(
        (choice.interface, choice.reason),
        (
            Interface::Group,
            "no-IOMMU mode, no isolation; the kernel offers no no-IOMMU cdev"
        )
    );
    let err = choose(EDU, Some(Interface::Cdev), &offer).unwrap_err();
    assert!(err.to_string().contains("CONFIG_IOMMUFD_NOIOMMU"), "{err}");
}

#[test]
fn a_noiommu_device_with_its_cdev_is_driven_through_the_cdev() {
    // Linux 7.3 with CONFIG_IOMMUFD_NOIOMMU: vfio-dev/noiommu-vfioN, numbered.
    let fake = edu_without_iommu("noiommu-cdev", true);
    let sysfs = fake.sysfs();
    assert_eq!(sysfs.vfio_cdev(EDU).as_deref(), Some("noiommu-vfio0"));
    assert!(fake.root().join("dev/vfio/devices/noiommu-vfio0").exists());
    let group = sysfs.iommu_group(EDU).expect("a no-IOMMU group");
    let offer = Offer::of(&sysfs, EDU, Some(group));
    assert!(offer.noiommu);
    assert_eq!(
        offer.cdev,
        Some((
            "/dev/vfio/devices/noiommu-vfio0".to_owned(),
            Access::Granted
        ))
    );
    let choice = choose(EDU, None, &offer).unwrap();
    assert_eq!(
        (choice.interface, choice.reason),
        (
            Interface::Cdev,
            "no-IOMMU mode, no isolation; the kernel offers the no-IOMMU cdev"
        )
    );
    assert_eq!(
        choose(EDU, Some(Interface::Group), &offer)
            .unwrap()
            .interface,
        Interface::Group
    );
    // Unbinding takes the no-IOMMU cdev away with the group.
    sysfs.unbind(EDU).unwrap();
    assert_eq!(sysfs.vfio_cdev(EDU), None);
    assert!(!fake.root().join("dev/vfio/devices/noiommu-vfio0").exists());
}

#[test]
fn unbinding_takes_the_cdev_away() {
    let fake = edu_on_vfio("unbind", true);
    let sysfs = fake.sysfs();
    assert!(fake.root().join("dev/vfio/devices/vfio0").exists());
    sysfs.unbind(EDU).unwrap();
    assert_eq!(sysfs.vfio_cdev(EDU), None);
    assert!(!fake.root().join("dev/vfio/devices/vfio0").exists());
    assert!(!sysfs.device_dir(EDU).join("vfio-dev").exists());
}

#[test]
fn the_holders_of_a_device_are_found_through_their_open_files() {
    let fake = edu_on_vfio("holders", true);
    // A driver holding edu's cdev, another the group node of nothing of ours, a third edu's
    // group node (which the kernel would not allow beside the cdev, but which names a holder).
    fake.add_open_file(4242, "edu", "/dev/vfio/devices/vfio0");
    fake.add_open_file(17, "nvme", "/dev/vfio/5");
    fake.add_open_file(311, "qemu", "/dev/vfio/2");
    let sysfs = fake.sysfs();
    assert_eq!(
        sysfs.openers("/dev/vfio/devices/vfio0"),
        vec![(4242, "edu".to_owned())]
    );
    match in_use(&sysfs, EDU, 2) {
        HostError::DeviceInUse {
            bdf,
            holders,
            nodes,
        } => {
            assert_eq!(bdf, EDU);
            assert_eq!(
                holders,
                vec![(311, "qemu".to_owned()), (4242, "edu".to_owned())]
            );
            assert_eq!(nodes, vec!["/dev/vfio/2", "/dev/vfio/devices/vfio0"]);
        }
        other => panic!("{other}"),
    }
    let message = in_use(&sysfs, EDU, 2).to_string();
    assert!(
        message.contains("PID 311 (qemu), PID 4242 (edu)"),
        "{message}"
    );
    assert!(message.contains("`kill 311 4242`"), "{message}");
    // Nobody holds the group of the NVMe controller's neighbour: the error still names the nodes.
    let message = in_use(&sysfs, "0000:00:03.0", 3).to_string();
    assert!(message.contains("sudo fuser -v /dev/vfio/3"), "{message}");
}
