//! Readiness decided from fake trees, and from facts no test machine can be put in.

use super::*;
use drydock_host::vfio::Interface;
use drydock_sim::sysfs::{FakeDevice, FakeSys};

const VFIO: UserspaceDriver = UserspaceDriver::VfioPci;
const UIO: UserspaceDriver = UserspaceDriver::UioPciGeneric;

/// A process with room to work: root-like, 2 MiB locked memory allowed.
fn root() -> Process {
    Process {
        memlock: Some(8 << 20),
        ipc_lock: true,
        sys_admin: true,
    }
}

/// The drydock guest with what a ready machine has besides: the container node, remapped
/// interrupts, free huge pages, the firmware's DMAR table.
fn ready_guest(name: &str) -> FakeSys {
    let fake = FakeSys::guest(name);
    fake.write_file("dev/vfio/vfio", "");
    fake.write_file(
        "proc/interrupts",
        "  0:  36  0  IR-IO-APIC  2-edge  timer\n",
    );
    fake.write_file(
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
        "64\n",
    );
    fake.write_file(
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "60\n",
    );
    fake.write_file("sys/firmware/acpi/tables/DMAR", "");
    fake
}

fn topics(report: &Report, status: Status) -> Vec<&'static str> {
    report
        .findings
        .iter()
        .filter(|f| f.status == status)
        .map(|f| f.topic)
        .collect()
}

fn problem<'a>(report: &'a Report, topic: &str) -> &'a Finding {
    report
        .problems()
        .find(|f| f.topic == topic)
        .unwrap_or_else(|| panic!("no {topic} problem in {report:#?}"))
}

#[test]
fn a_ready_machine_is_ready() {
    let fake = ready_guest("ready");
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    assert_eq!(facts.iommu_groups, 6);
    assert_eq!(facts.domain_types, vec!["DMA"]);
    assert_eq!(facts.interrupt_remapping, Some(true));
    assert_eq!(
        facts.huge_pages,
        HugePages {
            total: 64,
            free: 60
        }
    );
    let report = assess(&facts, VFIO);
    assert!(report.ready(), "{report:#?}");
    assert_eq!(report.no_vfio, None);
    assert_eq!(topics(&report, Status::Note), Vec::<&str>::new());
}

#[test]
fn a_device_on_its_kernel_driver_needs_binding() {
    let fake = ready_guest("device");
    let sysfs = fake.sysfs();
    let facts = Facts::gather(&sysfs, VFIO, Some("00:04.0"), root()).unwrap();
    let report = assess(&facts, VFIO);
    assert!(!report.ready());
    assert_eq!(report.device.as_deref(), Some("0000:00:04.0"));
    let device = problem(&report, "device");
    assert_eq!(
        device.fix.as_deref(),
        Some("run `drydock bind 0000:00:04.0 --driver vfio-pci`")
    );
    // Once bound, the device, its group and its node are ready.
    crate::binding::bind(&sysfs, &["00:04.0"], VFIO, Default::default()).unwrap();
    let facts = Facts::gather(&sysfs, VFIO, Some("00:04.0"), root()).unwrap();
    let report = assess(&facts, VFIO);
    assert!(report.ready(), "{report:#?}");
    assert!(topics(&report, Status::Ok).contains(&"group node"));
}

#[test]
fn a_device_in_use_says_so_in_its_fix() {
    let fake = ready_guest("inuse");
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    let facts = Facts::gather(&fake.sysfs(), VFIO, Some("0000:00:06.0"), root()).unwrap();
    let device = problem(&assess(&facts, VFIO), "device").clone();
    assert!(device.found.contains("eth0 is up"), "{device:?}");
    assert!(device.fix.unwrap().starts_with("stop using it"));
}

#[test]
fn a_group_that_is_not_viable_asks_for_the_group() {
    let fake = ready_guest("group");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    let sysfs = fake.sysfs();
    sysfs.drivers_probe("0000:00:1f.3").unwrap();
    let facts = Facts::gather(&sysfs, VFIO, Some("0000:00:1f.2"), root()).unwrap();
    let group = problem(&assess(&facts, VFIO), "IOMMU group").clone();
    assert!(
        group.found.contains("0000:00:1f.3 (i801_smbus)"),
        "{group:?}"
    );
    assert_eq!(
        group.fix.as_deref(),
        Some("run `drydock bind --group 0000:00:1f.2`")
    );
}

#[test]
fn an_iommu_turned_off_on_the_command_line_is_named() {
    let fake = FakeSys::new("off");
    fake.write_file("proc/cmdline", "console=ttyS0 intel_iommu=off\n");
    fake.write_file("sys/firmware/acpi/tables/DMAR", "");
    fake.add_driver("vfio-pci", &[]);
    fake.write_file("dev/vfio/vfio", "");
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    let report = assess(&facts, VFIO);
    let iommu = problem(&report, "IOMMU");
    assert!(iommu.found.contains("`intel_iommu=off`"), "{iommu:?}");
    assert!(iommu.fix.as_deref().unwrap().contains("intel_iommu=on"));
    // VFIO is there, only the IOMMU is missing: findings, not the paragraph.
    assert_eq!(report.no_vfio, None);
}

#[test]
fn firmware_tables_tell_what_to_do() {
    let fake = FakeSys::new("dmar");
    fake.write_file("proc/cmdline", "quiet\n");
    fake.write_file("sys/firmware/acpi/tables/DMAR", "");
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    let fix = problem(&assess(&facts, VFIO), "IOMMU").fix.clone().unwrap();
    assert!(fix.starts_with("boot with `intel_iommu=on`"), "{fix}");
}

#[test]
fn a_machine_without_vfio_gets_one_paragraph() {
    // Like a small cloud VM: no IOMMU in the firmware, no VFIO, modules forbidden.
    let fake = FakeSys::new("novfio");
    fake.write_file("proc/cmdline", "console=ttyS0 quiet nomodule\n");
    fake.write_file("proc/interrupts", "  0:  36  0  IO-APIC  2-edge  timer\n");
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    assert!(facts.modules_disabled);
    let report = assess(&facts, VFIO);
    assert!(!report.ready());
    let paragraph = report.no_vfio.clone().unwrap();
    assert!(
        paragraph.starts_with("This machine has no VFIO"),
        "{paragraph}"
    );
    assert!(
        paragraph.contains("no ACPI DMAR or IVRS table"),
        "{paragraph}"
    );
    assert!(paragraph.contains("`nomodule`"), "{paragraph}");
    assert!(
        paragraph.contains("drydock check --driver uio_pci_generic"),
        "{paragraph}"
    );
    assert!(!paragraph.contains('\n'));
    let fix = problem(&report, "vfio-pci").fix.clone().unwrap();
    assert!(fix.contains("forbids loading modules"), "{fix}");
}

#[test]
fn interrupt_remapping_is_needed_or_knowingly_waived() {
    let fake = ready_guest("ir");
    fake.write_file("proc/interrupts", "  0:  36  0  IO-APIC  2-edge  timer\n");
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    let report = assess(&facts, VFIO);
    if cfg!(target_arch = "x86_64") {
        let ir = problem(&report, "interrupt remapping");
        assert!(ir
            .fix
            .as_deref()
            .unwrap()
            .contains("allow_unsafe_interrupts=1"));
    }
    fake.write_file(
        "sys/module/vfio_iommu_type1/parameters/allow_unsafe_interrupts",
        "Y\n",
    );
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    let report = assess(&facts, VFIO);
    assert!(report.ready(), "{report:#?}");
    assert_eq!(topics(&report, Status::Note), vec!["interrupt remapping"]);
}

#[test]
fn a_low_memory_lock_limit_is_a_problem_with_its_fix() {
    let fake = ready_guest("memlock");
    let user = Process {
        memlock: Some(64 << 10),
        ipc_lock: false,
        sys_admin: false,
    };
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, user).unwrap();
    let memlock = problem(&assess(&facts, VFIO), "memory lock").clone();
    assert!(memlock.found.contains("64 KiB"), "{memlock:?}");
    assert!(memlock.fix.unwrap().contains("ulimit -l"));
    let enough = Process {
        memlock: Some(16 << 20),
        ..user
    };
    let facts = Facts::gather(&fake.sysfs(), VFIO, None, enough).unwrap();
    assert!(assess(&facts, VFIO).ready());
}

#[test]
fn the_memory_lock_limit_is_held_against_the_named_drivers_need() {
    let fake = ready_guest("memlock-need");
    let user = Process {
        memlock: Some(3 << 20),
        ipc_lock: false,
        sys_admin: false,
    };
    let mut facts = Facts::gather(&fake.sysfs(), VFIO, None, user).unwrap();
    assert_eq!(facts.dma_need, DmaNeed::ANY);
    let memory = |report: &Report| {
        let finding = report
            .findings
            .iter()
            .find(|f| f.topic == "memory lock")
            .unwrap();
        (finding.status, finding.found.clone())
    };
    assert_eq!(
        memory(&assess(&facts, VFIO)),
        (
            Status::Ok,
            "RLIMIT_MEMLOCK is 3072 KiB, enough for the 2048 KiB of one DMA chunk, the least a \
             driver locks per device (`--for DRIVER` checks for what one of drydock's drivers \
             locks: edu, nvme)"
                .to_owned()
        )
    );
    facts.dma_need = DmaNeed {
        driver: Some("big"),
        bytes: 4 << 20,
    };
    let report = assess(&facts, VFIO);
    assert_eq!(
        memory(&report),
        (
            Status::Problem,
            "RLIMIT_MEMLOCK is 3072 KiB, below the 4096 KiB big locks for DMA per device"
                .to_owned()
        )
    );
    assert!(problem(&report, "memory lock")
        .fix
        .as_deref()
        .unwrap()
        .contains("ulimit -l"));
    facts.dma_need = DmaNeed::of("nvme").unwrap();
    assert_eq!(
        memory(&assess(&facts, VFIO)).1,
        format!(
            "RLIMIT_MEMLOCK is 3072 KiB, enough for the {} KiB nvme locks for DMA per device",
            DmaNeed::of("nvme").unwrap().bytes / 1024
        )
    );
}

#[test]
fn nodes_the_user_may_not_open_are_problems() {
    let fake = ready_guest("access");
    let mut facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    facts.container = Access::Denied;
    facts.group_nodes = vec![("/dev/vfio/7".into(), Access::Denied)];
    facts.user = "alice".into();
    let report = assess(&facts, VFIO);
    assert!(problem(&report, "/dev/vfio/vfio")
        .fix
        .as_deref()
        .unwrap()
        .contains("chmod 0666 /dev/vfio/vfio"));
    let group = problem(&report, "/dev/vfio");
    assert!(group.found.contains("/dev/vfio/7"));
    assert!(
        group
            .fix
            .as_deref()
            .unwrap()
            .contains("`drydock bind --user alice BDF`"),
        "{group:?}"
    );
}

#[test]
fn a_device_the_user_was_not_given_names_the_bind_that_gives_it() {
    // The cdev kernel: a user without /dev/iommu and the group node, as a user is after a plain
    // `drydock bind`, is told the one command that hands both over.
    let fake = cdev_guest("not-given");
    let mut facts = Facts::gather(&fake.sysfs(), VFIO, Some("00:04.0"), root()).unwrap();
    facts.user = "alice".into();
    facts.iommufd = Access::Denied;
    let device = facts.device.as_mut().unwrap();
    device.group_node = Access::Denied;
    let offer = device.vfio.as_mut().unwrap();
    offer.iommufd = Access::Denied;
    offer.cdev.as_mut().unwrap().1 = Access::Denied;
    let report = assess(&facts, VFIO);
    let fix = "as root, run `drydock bind --user alice 0000:00:04.0` to give alice the device's \
               VFIO nodes, or run the driver as root";
    assert_eq!(problem(&report, "group node").fix.as_deref(), Some(fix));
    assert_eq!(
        finding(&report, "interface").found,
        "the VFIO group (this user may not open /dev/iommu)"
    );
    assert!(finding(&report, "/dev/iommu")
        .fix
        .as_deref()
        .unwrap()
        .contains("drydock bind --user alice"));
    // Given /dev/iommu but not the cdev, the group still.
    let offer = facts.device.as_mut().unwrap().vfio.as_mut().unwrap();
    offer.iommufd = Access::Granted;
    offer.cdev.as_mut().unwrap().1 = Access::Denied;
    let report = assess(&facts, VFIO);
    assert_eq!(
        finding(&report, "interface").found,
        "the VFIO group (this user may not open the device cdev)"
    );
}

#[test]
fn uio_needs_no_iommu_translation_huge_pages_and_physical_addresses() {
    let fake = ready_guest("uio");
    let sysfs = fake.sysfs();
    let facts = Facts::gather(&sysfs, UIO, None, root()).unwrap();
    let report = assess(&facts, UIO);
    let iommu = problem(&report, "IOMMU");
    assert!(iommu.fix.as_deref().unwrap().contains("iommu=pt"));
    for group in [2, 3, 4, 5, 6, 8] {
        fake.set_group_type(group, "identity");
    }
    let facts = Facts::gather(&sysfs, UIO, None, root()).unwrap();
    assert!(assess(&facts, UIO).ready(), "{:#?}", assess(&facts, UIO));

    let mut facts = Facts::gather(&sysfs, UIO, Some("00:02.0"), root()).unwrap();
    facts.huge_pages = HugePages { total: 0, free: 0 };
    facts.process.sys_admin = false;
    let report = assess(&facts, UIO);
    assert!(problem(&report, "huge pages")
        .fix
        .as_deref()
        .unwrap()
        .contains("nr_hugepages"));
    assert!(problem(&report, "physical addresses").fix.is_some());
    assert_eq!(
        problem(&report, "device").fix.as_deref(),
        Some("run `drydock bind 0000:00:02.0 --driver uio_pci_generic`")
    );
}

#[test]
fn uio_without_an_iommu_is_fine() {
    let fake = FakeSys::new("uio-plain");
    fake.add_device(&FakeDevice {
        driver: Some("uio_pci_generic"),
        ..FakeDevice::edu("0000:00:02.0")
    });
    fake.write_file(
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "8\n",
    );
    let facts = Facts::gather(&fake.sysfs(), UIO, Some("0000:00:02.0"), root()).unwrap();
    assert_eq!(facts.device.as_ref().unwrap().uio_nodes.len(), 1);
    let report = assess(&facts, UIO);
    assert!(report.ready(), "{report:#?}");
}

#[test]
fn an_absent_device_is_an_error() {
    let fake = ready_guest("absent");
    let err = Facts::gather(&fake.sysfs(), VFIO, Some("0000:00:09.0"), root()).unwrap_err();
    assert!(err.to_string().contains("drydock list"), "{err}");
    let err = Facts::gather(&fake.sysfs(), VFIO, Some("nonsense"), root()).unwrap_err();
    assert!(err.to_string().contains("DDDD:BB:DD.F"), "{err}");
}

/// The ready guest on a kernel with VFIO's device cdev and iommufd, NVMe controller 0 on
/// vfio-pci.
fn cdev_guest(name: &str) -> FakeSys {
    let fake = ready_guest(name);
    fake.enable_vfio_cdev();
    crate::binding::bind(&fake.sysfs(), &["00:04.0"], VFIO, Default::default()).unwrap();
    fake
}

fn finding<'a>(report: &'a Report, topic: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.topic == topic)
        .unwrap_or_else(|| panic!("no {topic} finding in {report:#?}"))
}

#[test]
fn a_device_with_a_cdev_is_checked_through_it() {
    let fake = cdev_guest("cdev");
    let facts = Facts::gather(&fake.sysfs(), VFIO, Some("00:04.0"), root()).unwrap();
    assert_eq!(facts.iommufd, Access::Granted);
    let report = assess(&facts, VFIO);
    assert!(report.ready(), "{report:#?}");
    assert_eq!(
        finding(&report, "interface").found,
        "the VFIO device cdev with iommufd (the kernel offers it)"
    );
    assert_eq!(
        finding(&report, "cdev node").found,
        "/dev/vfio/devices/vfio0, open to this user"
    );
    assert!(finding(&report, "/dev/iommu")
        .found
        .starts_with("present, open to this user"));
    assert!(!topics(&report, Status::Ok).contains(&"group node"));
    // Without the cdev kernel, the same device goes through its group.
    let fake = ready_guest("group-only");
    let sysfs = fake.sysfs();
    crate::binding::bind(&sysfs, &["00:04.0"], VFIO, Default::default()).unwrap();
    let report = assess(
        &Facts::gather(&sysfs, VFIO, Some("00:04.0"), root()).unwrap(),
        VFIO,
    );
    assert_eq!(
        finding(&report, "interface").found,
        "the VFIO group (the kernel offers no device cdev)"
    );
    assert_eq!(finding(&report, "/dev/iommu").status, Status::Ok);
    assert!(topics(&report, Status::Ok).contains(&"group node"));
}

#[test]
fn a_device_held_by_a_driver_names_its_pid() {
    let fake = cdev_guest("held");
    fake.add_open_file(4242, "nvme", "/dev/vfio/devices/vfio0");
    let facts = Facts::gather(&fake.sysfs(), VFIO, Some("00:04.0"), root()).unwrap();
    assert_eq!(
        facts.device.as_ref().unwrap().holders,
        vec![(4242, "nvme".to_owned())]
    );
    let held = problem(&assess(&facts, VFIO), "in use").clone();
    assert_eq!(held.found, "0000:00:04.0 is held by PID 4242 (nvme)");
    assert!(held.fix.unwrap().contains("`kill 4242`"));
}

#[test]
fn the_interface_asked_for_is_checked() {
    let fake = ready_guest("asked");
    let sysfs = fake.sysfs();
    crate::binding::bind(&sysfs, &["00:04.0"], VFIO, Default::default()).unwrap();
    let mut facts = Facts::gather(&sysfs, VFIO, Some("00:04.0"), root()).unwrap();
    facts.requested = Ok(Some(Interface::Cdev));
    let interface = problem(&assess(&facts, VFIO), "interface").clone();
    assert!(
        interface.found.contains("CONFIG_VFIO_DEVICE_CDEV"),
        "{interface:?}"
    );
    facts.requested = Err("DRYDOCK_VFIO_INTERFACE=`iommufd` names no VFIO interface".to_owned());
    let bad = problem(&assess(&facts, VFIO), "VFIO interface").clone();
    assert!(bad.fix.unwrap().contains("`group`, `cdev` or `auto`"));
}

#[test]
fn iommufd_stands_in_for_a_container_the_user_may_not_open() {
    let fake = cdev_guest("iommufd");
    let mut facts = Facts::gather(&fake.sysfs(), VFIO, None, root()).unwrap();
    facts.container = Access::Denied;
    let report = assess(&facts, VFIO);
    assert!(report.ready(), "{report:#?}");
    assert_eq!(topics(&report, Status::Note), vec!["/dev/vfio/vfio"]);
    // Without iommufd either, nothing reaches the devices.
    facts.iommufd = Access::Denied;
    let report = assess(&facts, VFIO);
    assert!(problem(&report, "/dev/vfio/vfio").fix.is_some());
    assert_eq!(finding(&report, "/dev/iommu").status, Status::Note);
}
