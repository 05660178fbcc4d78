//! Binding and giving back on fake trees whose simulated kernel answers the writes.

use std::fs;

use super::*;
use drydock_host::error::bind_command;
use drydock_sim::sysfs::{FakeDevice, FakeSys, EDU_RESOURCE};

const EDU: &str = "0000:00:02.0";
const NVME0: &str = "0000:00:04.0";
const NIC: &str = "0000:00:06.0";
const SATA: &str = "0000:00:1f.2";
const SMBUS: &str = "0000:00:1f.3";
const LPC: &str = "0000:00:1f.0";

const VFIO: UserspaceDriver = UserspaceDriver::VfioPci;
const UIO: UserspaceDriver = UserspaceDriver::UioPciGeneric;

fn plain() -> BindOptions {
    BindOptions::default()
}

#[test]
fn a_kernel_driver_is_remembered_across_processes_and_restored() {
    let fake = FakeSys::guest("restore");
    let sysfs = fake.sysfs();
    let done = bind(&sysfs, &["00:04.0"], VFIO, plain()).unwrap();
    assert_eq!(
        done,
        vec![(
            NVME0.to_owned(),
            BindOutcome::Bound {
                from: Some("nvme".into())
            }
        )]
    );
    assert_eq!(sysfs.driver(NVME0).as_deref(), Some("vfio-pci"));
    let info = sysfs.device(NVME0).unwrap();
    assert_eq!(info.driver_override.as_deref(), Some("vfio-pci"));
    assert!(fake.root().join("dev/vfio/4").exists());
    // The order of writes: override first, so nothing else can grab the device once unbound.
    let files: Vec<String> = fake.writes().into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        files,
        vec![
            "sys/bus/pci/devices/0000:00:04.0/driver_override",
            "sys/bus/pci/devices/0000:00:04.0/driver/unbind",
            "sys/bus/pci/drivers/vfio-pci/bind",
        ]
    );
    assert_eq!(
        remembered(&sysfs).unwrap(),
        vec![(NVME0.to_owned(), Some("nvme".to_owned()))]
    );

    // Another process: only the record on disk carries the original driver.
    let later = fake.sysfs();
    assert_eq!(
        unbind(&later, NVME0).unwrap(),
        UnbindOutcome::Restored(Some("nvme".into()))
    );
    assert_eq!(later.driver(NVME0).as_deref(), Some("nvme"));
    assert_eq!(later.device(NVME0).unwrap().driver_override, None);
    assert!(!fake.root().join("dev/vfio/4").exists());
    assert!(remembered(&later).unwrap().is_empty());
}

#[test]
fn a_device_without_a_driver_goes_back_to_none() {
    let fake = FakeSys::guest("edu");
    let sysfs = fake.sysfs();
    bind(&sysfs, &[EDU], UIO, plain()).unwrap();
    assert_eq!(sysfs.driver(EDU).as_deref(), Some("uio_pci_generic"));
    assert_eq!(sysfs.uio_nodes(EDU).unwrap(), vec!["uio0"]);
    assert_eq!(unbind(&sysfs, EDU).unwrap(), UnbindOutcome::Restored(None));
    assert_eq!(sysfs.driver(EDU), None);
    assert_eq!(sysfs.device(EDU).unwrap().driver_override, None);
}

#[test]
fn binding_to_the_current_driver_changes_nothing() {
    let fake = FakeSys::guest("already");
    let sysfs = fake.sysfs();
    bind(&sysfs, &[EDU], VFIO, plain()).unwrap();
    let writes = fake.writes().len();
    assert_eq!(
        bind(&sysfs, &[EDU], VFIO, plain()).unwrap(),
        vec![(EDU.to_owned(), BindOutcome::Already)]
    );
    assert_eq!(fake.writes().len(), writes);
}

#[test]
fn moving_between_userspace_drivers_keeps_the_kernel_driver() {
    let fake = FakeSys::guest("move");
    let sysfs = fake.sysfs();
    bind(&sysfs, &[NIC], VFIO, plain()).unwrap();
    bind(&sysfs, &[NIC], UIO, plain()).unwrap();
    assert_eq!(sysfs.driver(NIC).as_deref(), Some("uio_pci_generic"));
    // vfio-pci's group node went with the device.
    assert!(!fake.root().join("dev/vfio/6").exists());
    assert_eq!(
        unbind(&sysfs, NIC).unwrap(),
        UnbindOutcome::Restored(Some("e1000e".into()))
    );
    assert_eq!(sysfs.driver(NIC).as_deref(), Some("e1000e"));
}

#[test]
fn a_device_in_use_is_refused_before_anything_changes() {
    let fake = FakeSys::guest("inuse");
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    fake.add_mount((259, 0), "/dev/nvme0n1", "/data", "ext4");
    let sysfs = fake.sysfs();
    let err = bind(&sysfs, &[EDU, NVME0, NIC], VFIO, plain()).unwrap_err();
    assert!(
        matches!(&err, BindError::DeviceInUse { bdf, uses } if bdf == NVME0 && uses.len() == 1),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("nvme0n1 is mounted at /data (`umount /data`)"),
        "{message}"
    );
    assert!(message.contains("--force"), "{message}");
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert!(remembered(&sysfs).unwrap().is_empty());
    assert_eq!(sysfs.driver(EDU), None);

    let err = bind(&sysfs, &[NIC], UIO, plain()).unwrap_err();
    assert!(
        err.to_string().contains("ip link set dev eth0 down"),
        "{err}"
    );

    let forced = BindOptions {
        force: true,
        group: false,
    };
    let plan = Plan::new(&sysfs, &[NIC], VFIO, forced).unwrap();
    assert_eq!(
        plan.steps[0].uses,
        vec![Use::InterfaceUp {
            interface: "eth0".into()
        }]
    );
    bind(&sysfs, &[NIC], VFIO, forced).unwrap();
    assert_eq!(sysfs.driver(NIC).as_deref(), Some("vfio-pci"));
}

#[test]
fn the_root_filesystem_is_called_out() {
    let fake = FakeSys::guest("rootfs");
    fake.add_mount((259, 1), "/dev/nvme1n1", "/", "ext4");
    let err = bind(&fake.sysfs(), &["00:05.0"], VFIO, plain()).unwrap_err();
    assert!(
        err.to_string().contains("holds the root filesystem"),
        "{err}"
    );
}

#[test]
fn group_members_follow_only_with_consent() {
    let fake = FakeSys::guest("group");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    let sysfs = fake.sysfs();
    sysfs.drivers_probe(SMBUS).unwrap();
    assert_eq!(sysfs.driver(SMBUS).as_deref(), Some("i801_smbus"));
    let before = fake.writes().len();

    let err = bind(&sysfs, &[SATA], VFIO, plain()).unwrap_err();
    assert!(
        matches!(&err, BindError::GroupMustFollow { group: 8, others, .. }
            if others == &[(SMBUS.to_owned(), "i801_smbus".to_owned())]),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("drydock bind --group 0000:00:1f.2"),
        "{message}"
    );
    assert!(message.contains("0000:00:1f.3 (i801_smbus)"), "{message}");
    assert_eq!(fake.writes().len(), before);

    // UIO has no groups to satisfy.
    let plan = Plan::new(&sysfs, &[SATA], UIO, plain()).unwrap();
    assert_eq!(plan.steps.len(), 1);

    // Forced: only the named device, with a note.
    let forced = BindOptions {
        force: true,
        group: false,
    };
    let plan = Plan::new(&sysfs, &[SATA], VFIO, forced).unwrap();
    assert_eq!(plan.steps.len(), 1);
    assert!(
        plan.notes[0].contains("0000:00:1f.3 (i801_smbus)"),
        "{:?}",
        plan.notes
    );

    // Naming both is consent enough.
    let plan = Plan::new(&sysfs, &[SATA, SMBUS], VFIO, plain()).unwrap();
    assert_eq!(plan.steps.len(), 2);

    let with_group = BindOptions {
        force: false,
        group: true,
    };
    let plan = Plan::new(&sysfs, &[SATA], VFIO, with_group).unwrap();
    assert_eq!(
        plan.steps
            .iter()
            .map(|s| (s.address.as_str(), &s.reason))
            .collect::<Vec<_>>(),
        vec![
            (SATA, &Reason::Named),
            (SMBUS, &Reason::GroupOf(SATA.to_owned()))
        ]
    );
    bind(&sysfs, &[SATA], VFIO, with_group).unwrap();
    assert_eq!(sysfs.driver(SATA).as_deref(), Some("vfio-pci"));
    assert_eq!(sysfs.driver(SMBUS).as_deref(), Some("vfio-pci"));
    // The bridge, without a driver, does not block and is left alone.
    assert_eq!(sysfs.driver(LPC), None);
    assert!(sysfs.group_blockers(8).unwrap().is_empty());

    assert_eq!(
        unbind(&sysfs, SMBUS).unwrap(),
        UnbindOutcome::Restored(Some("i801_smbus".into()))
    );
    assert_eq!(unbind(&sysfs, SATA).unwrap(), UnbindOutcome::Restored(None));
    assert_eq!(sysfs.driver(SMBUS).as_deref(), Some("i801_smbus"));
}

#[test]
fn a_bridge_with_a_driver_is_never_pulled_in() {
    let fake = FakeSys::guest("bridge");
    fake.add_driver("lpc_ich", &[(0x8086, 0x2918)]);
    let sysfs = fake.sysfs();
    sysfs.drivers_probe(LPC).unwrap();
    let with_group = BindOptions {
        force: false,
        group: true,
    };
    let err = bind(&sysfs, &[SATA], VFIO, with_group).unwrap_err();
    assert!(
        matches!(&err, BindError::BridgeInGroup { bridge, .. } if bridge == LPC),
        "{err:?}"
    );
    assert_eq!(sysfs.driver(SATA), None);
}

#[test]
fn vfio_pci_needs_an_iommu() {
    let fake = FakeSys::new("noiommu");
    fake.add_device(&FakeDevice::edu(EDU));
    fake.add_driver("vfio-pci", &[]);
    fake.add_driver("uio_pci_generic", &[]);
    let sysfs = fake.sysfs();
    let err = bind(&sysfs, &[EDU], VFIO, plain()).unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::NoIommu)),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("drydock bind BDF --driver uio_pci_generic"),
        "{err}"
    );
    assert!(fake.writes().is_empty());
    bind(&sysfs, &[EDU], UIO, plain()).unwrap();
    assert_eq!(sysfs.driver(EDU).as_deref(), Some("uio_pci_generic"));
}

#[test]
fn vfio_pci_takes_a_device_without_a_group_in_noiommu_mode() {
    let fake = FakeSys::new("noiommu-mode");
    fake.add_device(&FakeDevice::edu(EDU));
    fake.add_driver("vfio-pci", &[]);
    fake.set_vfio_noiommu_mode(true);
    let sysfs = fake.sysfs();
    bind(&sysfs, &[EDU], VFIO, plain()).unwrap();
    assert_eq!(sysfs.driver(EDU).as_deref(), Some("vfio-pci"));
    let group = sysfs.iommu_group(EDU).expect("vfio-pci made a group");
    assert!(sysfs.is_noiommu_group(group));
    let node = fake.root().join(format!("dev/vfio/noiommu-{group}"));
    assert!(node.exists());
    // Given back, edu leaves vfio-pci and VFIO frees the group.
    unbind(&sysfs, EDU).unwrap();
    assert_eq!(sysfs.driver(EDU), None);
    assert_eq!(sysfs.iommu_group(EDU), None);
    assert!(!node.exists());
    assert!(!sysfs.has_iommu_groups().unwrap());
}

#[test]
fn a_refused_probe_puts_the_device_back() {
    // An IOMMU is on, but one device is outside it: the plan refuses, and bind_one (without the
    // plan) meets the kernel's refusal and undoes its changes.
    let fake = FakeSys::guest("refused");
    fake.add_device(&FakeDevice {
        address: "0000:00:07.0",
        ids: (0x8086, 0x10d3),
        class: 0x020000,
        driver: Some("e1000e"),
        group: None,
        resource: EDU_RESOURCE,
    });
    let sysfs = fake.sysfs();
    let err = bind(&sysfs, &["00:07.0"], VFIO, plain()).unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::NoGroup { .. })),
        "{err:?}"
    );
    let err = bind_one(&sysfs, "0000:00:07.0", VFIO).unwrap_err();
    assert!(
        matches!(&err, BindError::BindRefused { now: Some(d), .. } if d == "e1000e"),
        "{err:?}"
    );
    assert!(err.to_string().contains("dmesg"), "{err}");
    assert_eq!(sysfs.driver("0000:00:07.0").as_deref(), Some("e1000e"));
    assert_eq!(sysfs.device("0000:00:07.0").unwrap().driver_override, None);
    assert!(remembered(&sysfs).unwrap().is_empty());
}

#[test]
fn the_userspace_driver_module_is_loaded_when_needed() {
    let fake = FakeSys::guest("modprobe");
    fs::remove_dir_all(fake.root().join("sys/bus/pci/drivers/vfio-pci")).unwrap();
    fs::remove_dir_all(fake.root().join("sys/module/vfio_pci")).unwrap();
    let sysfs = fake.sysfs();
    let err = bind(&sysfs, &[EDU], VFIO, plain()).unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::ModuleLoad { .. })),
        "{err:?}"
    );
    assert!(err.to_string().contains("modprobe vfio-pci"), "{err}");
    assert!(remembered(&sysfs).unwrap().is_empty());
    fake.add_loadable_module("vfio-pci", "vfio-pci", &[]);
    bind(&sysfs, &[EDU], VFIO, plain()).unwrap();
    assert!(sysfs.module_present("vfio_pci"));
    assert_eq!(sysfs.driver(EDU).as_deref(), Some("vfio-pci"));
}

#[test]
fn the_original_module_is_loaded_again_to_give_a_device_back() {
    let fake = FakeSys::guest("reload");
    let sysfs = fake.sysfs();
    bind(&sysfs, &[NIC], VFIO, plain()).unwrap();
    // Someone unloads e1000e meanwhile.
    fs::remove_dir_all(fake.root().join("sys/bus/pci/drivers/e1000e")).unwrap();
    fs::remove_dir_all(fake.root().join("sys/module/e1000e")).unwrap();
    fake.add_loadable_module("e1000e", "e1000e", &[(0x8086, 0x10d3)]);
    assert_eq!(
        unbind(&sysfs, NIC).unwrap(),
        UnbindOutcome::Restored(Some("e1000e".into()))
    );
    assert_eq!(sysfs.driver(NIC).as_deref(), Some("e1000e"));
}

#[test]
fn without_a_record_the_kernel_chooses() {
    let fake = FakeSys::guest("norecord");
    let sysfs = fake.sysfs();
    // Bound by hand (or by another tool): no record.
    sysfs.set_driver_override(NIC, Some("vfio-pci")).unwrap();
    sysfs.unbind(NIC).unwrap();
    sysfs.bind(NIC, "vfio-pci").unwrap();
    assert_eq!(
        unbind(&sysfs, NIC).unwrap(),
        UnbindOutcome::Reprobed(Some("e1000e".into()))
    );
    assert_eq!(sysfs.device(NIC).unwrap().driver_override, None);
    // edu has no kernel driver: it stays without one.
    sysfs.set_driver_override(EDU, Some("vfio-pci")).unwrap();
    sysfs.drivers_probe(EDU).unwrap();
    assert_eq!(unbind(&sysfs, EDU).unwrap(), UnbindOutcome::Reprobed(None));
    // A device on its kernel driver is left alone.
    assert_eq!(
        unbind(&sysfs, NVME0).unwrap(),
        UnbindOutcome::NotOurs("nvme".into())
    );
    assert_eq!(sysfs.driver(NVME0).as_deref(), Some("nvme"));
}

#[test]
fn bad_input_is_named() {
    let fake = FakeSys::guest("input");
    let sysfs = fake.sysfs();
    let err = bind(&sysfs, &["04.0"], VFIO, plain()).unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::BadAddress { .. })),
        "{err:?}"
    );
    let err = bind(&sysfs, &["0000:00:09.0"], VFIO, plain()).unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::NoDevice { .. })),
        "{err:?}"
    );
    let err = unbind(&sysfs, "0000:00:09.0").unwrap_err();
    assert!(
        matches!(err, BindError::Host(HostError::NoDevice { .. })),
        "{err:?}"
    );
    assert_eq!(UserspaceDriver::parse("vfio_pci").unwrap(), VFIO);
    assert_eq!(UserspaceDriver::parse("uio-pci-generic").unwrap(), UIO);
    let err = UserspaceDriver::parse("igb_uio").unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown driver `igb_uio`: drydock binds devices to vfio-pci (the default) or \
         uio_pci_generic; `drydock unbind BDF` gives a device back to its kernel driver"
    );
    assert_eq!(
        bind_command(Some(NIC), "vfio-pci"),
        "drydock bind 0000:00:06.0 --driver vfio-pci"
    );
}
