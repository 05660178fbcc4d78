//! The commands on fake trees laid out like drydock's test guest, whose simulated kernel answers
//! binds and unbinds: what each prints, its exit status, and the state it leaves.

use std::io::Write;

use clap::Parser;
use drydock_cli::{run, Cli};
use drydock_sim::sysfs::FakeSys;

const EDU: &str = "0000:00:02.0";
const NVME0: &str = "0000:00:04.0";
const NIC: &str = "0000:00:06.0";
const SATA: &str = "0000:00:1f.2";
const SMBUS: &str = "0000:00:1f.3";

/// What one invocation did.
#[derive(Debug)]
struct Ran {
    code: u8,
    out: String,
    err: String,
}

/// Runs `drydock ARGS` on `fake`, as a fresh invocation (nothing carried over but the tree).
fn drydock(fake: &FakeSys, args: &[&str]) -> Ran {
    let cli = Cli::try_parse_from(std::iter::once("drydock").chain(args.iter().copied()))
        .unwrap_or_else(|e| panic!("{args:?}: {e}"));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = run(&cli.command, &fake.sysfs(), &mut out, &mut err);
    Ran {
        code,
        out: String::from_utf8(out).unwrap(),
        err: String::from_utf8(err).unwrap(),
    }
}

/// Like [`drydock`], expecting success and no standard error.
fn ok(fake: &FakeSys, args: &[&str]) -> String {
    let ran = drydock(fake, args);
    assert_eq!((ran.code, ran.err.as_str()), (0, ""), "{args:?}: {ran:?}");
    ran.out
}

/// Like [`drydock`], expecting one line on standard error and the exit status `code`.
fn refused(fake: &FakeSys, args: &[&str], code: u8) -> String {
    let ran = drydock(fake, args);
    assert_eq!(ran.code, code, "{args:?}: {ran:?}");
    assert_eq!(ran.err.lines().count(), 1, "{args:?}: {ran:?}");
    assert!(ran.err.starts_with("drydock: "), "{ran:?}");
    ran.err
}

fn driver(fake: &FakeSys, address: &str) -> Option<String> {
    fake.sysfs().driver(address)
}

/// The addresses in the first column of a table (header excluded).
fn addresses(table: &str) -> Vec<&str> {
    table
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

#[test]
fn list_shows_every_device_with_driver_group_and_viability() {
    let fake = FakeSys::guest("list");
    let out = ok(&fake, &["list"]);
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("BDF "), "{out}");
    assert!(lines[0].contains("DRIVER") && lines[0].contains("GROUP") && lines[0].contains("VFIO"));
    assert_eq!(
        addresses(&out),
        vec![
            EDU,
            "0000:00:03.0",
            NVME0,
            "0000:00:05.0",
            NIC,
            "0000:00:1f.0",
            SATA,
            SMBUS
        ]
    );
    let nic = lines.iter().find(|l| l.starts_with(NIC)).unwrap();
    let words: Vec<&str> = nic.split_whitespace().collect();
    assert_eq!(
        &words[..7],
        &[NIC, "8086:10d3", "020000", "e1000e", "6", "viable", "-"]
    );
    // Without pci.ids, the class name stands for the device's.
    assert!(nic.ends_with("Network controller"), "{nic}");
    // `status` is the dpdk-devbind word for it.
    assert_eq!(ok(&fake, &["status"]), out);
}

#[test]
fn list_shows_the_vfio_device_cdev_where_the_kernel_gives_one() {
    let fake = FakeSys::guest("list-cdev");
    ok(&fake, &["bind", EDU]);
    // The CDEV cell of a device's row: the word at the header's column.
    let cdev = |table: &str, address: &str| -> String {
        let at = table.lines().next().unwrap().find("CDEV").unwrap();
        let line = table.lines().find(|l| l.starts_with(address)).unwrap();
        line[at..].split_whitespace().next().unwrap().to_owned()
    };
    // A kernel without the cdev: vfio-pci devices have none.
    let table = ok(&fake, &["list"]);
    assert_eq!(cdev(&table, EDU), "-");
    // With it, a device bound from then on gets one, shown by name and, in JSON, as its node.
    fake.enable_vfio_cdev();
    ok(&fake, &["bind", NIC]);
    let table = ok(&fake, &["list"]);
    // The kernel numbers every VFIO device; edu took vfio0 without a node.
    assert_eq!(cdev(&table, NIC), "vfio1");
    assert_eq!(cdev(&table, EDU), "-");
    let value: serde_json::Value = serde_json::from_str(&ok(&fake, &["list", "--json"])).unwrap();
    let cdev_of = |address: &str| {
        let devices = value.as_array().unwrap();
        devices.iter().find(|d| d["address"] == address).unwrap()["vfio_cdev"].clone()
    };
    assert_eq!(cdev_of(NIC), "/dev/vfio/devices/vfio1");
    assert_eq!(cdev_of(EDU), serde_json::Value::Null);
}

#[test]
fn list_filters_by_class_ids_slot_and_driver() {
    let fake = FakeSys::guest("filters");
    assert_eq!(
        addresses(&ok(&fake, &["list", "--class", "net"])),
        vec![NIC]
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "--class", "0108"])),
        vec![NVME0, "0000:00:05.0"]
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "-c", "01"])),
        vec![NVME0, "0000:00:05.0", SATA]
    );
    // -d as lspci takes it: vendor:device, either side optional.
    assert_eq!(
        addresses(&ok(&fake, &["list", "-d", "1b36:0010"])),
        vec![NVME0, "0000:00:05.0"]
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "-d", "1b36:"])),
        vec!["0000:00:03.0", NVME0, "0000:00:05.0"]
    );
    assert_eq!(addresses(&ok(&fake, &["list", "-d", ":10d3"])), vec![NIC]);
    assert_eq!(
        addresses(&ok(&fake, &["list", "--ids", "8086:", "--driver", "none"])),
        vec!["0000:00:1f.0", SATA, SMBUS]
    );
    // The old long spelling still works.
    assert_eq!(
        addresses(&ok(&fake, &["list", "--vendor", "1234"])),
        vec![EDU]
    );
    // -s as lspci takes it.
    assert_eq!(addresses(&ok(&fake, &["list", "-s", "1f.2"])), vec![SATA]);
    assert_eq!(
        addresses(&ok(&fake, &["list", "-s", "00:1f"])),
        vec!["0000:00:1f.0", SATA, SMBUS]
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "-s", "0000:00:04.0"])),
        vec![NVME0]
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "-s", "0001:00:04.0"])),
        Vec::<&str>::new()
    );
    assert_eq!(
        addresses(&ok(&fake, &["list", "--driver", "nvme"])),
        vec![NVME0, "0000:00:05.0"]
    );
    let err = refused(&fake, &["list", "--class", "disks"], 2);
    assert!(err.contains("net, storage, nvme"), "{err}");
    let err = refused(&fake, &["list", "-d", "intel"], 2);
    assert!(err.contains("8086:10d3"), "{err}");
    // -d no longer names a driver, and says so.
    let err = refused(&fake, &["list", "-d", "nvme"], 2);
    assert!(err.contains("`--driver nvme`"), "{err}");
    // Even a driver whose name looks like a vendor ID in hex.
    let err = refused(&fake, &["list", "-d", "e1000e"], 2);
    assert!(err.contains("`--driver e1000e`"), "{err}");
    let err = refused(&fake, &["list", "-s", "00:20.0"], 2);
    assert!(
        err.contains("bad device number") && err.contains("lspci"),
        "{err}"
    );
}

#[test]
fn list_shows_what_uses_each_device() {
    let fake = FakeSys::guest("inuse-list");
    let table = ok(&fake, &["list"]);
    assert!(table.lines().next().unwrap().contains("IN USE"), "{table}");
    let row = |table: &str, address: &str| {
        table
            .lines()
            .find(|l| l.starts_with(address))
            .unwrap()
            .to_owned()
    };
    // Nothing uses the guest's devices: the column says `-`.
    let words: Vec<String> = row(&table, NIC)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(words[6], "-", "{table}");
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    fake.add_block_device(NVME0, Some("nvme0n1"), "nvme0n1p1", (259, 7));
    fake.add_mount((259, 7), "/dev/nvme0n1p1", "/data", "xfs");
    let table = ok(&fake, &["list"]);
    assert!(row(&table, NIC).contains("  eth0 up  "), "{table}");
    assert!(row(&table, NVME0).contains("  /data mounted  "), "{table}");
    let value: serde_json::Value = serde_json::from_str(&ok(&fake, &["list", "--json"])).unwrap();
    let nvme = value
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == NVME0)
        .unwrap();
    assert_eq!(nvme["in_use"][0]["kind"], "mounted");
    assert_eq!(nvme["in_use"][0]["summary"], "/data mounted");
    assert_eq!(
        nvme["in_use"][0]["detail"],
        "nvme0n1p1 is mounted at /data (`umount /data`)"
    );
    let edu = value
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["address"] == EDU)
        .unwrap();
    assert_eq!(edu["in_use"], serde_json::json!([]));
}

#[test]
fn list_names_devices_from_pci_ids() {
    let fake = FakeSys::guest("names");
    fake.write_file(
        "usr/share/hwdata/pci.ids",
        "8086  Chips Corp.\n\t10d3  Gigabit Network Connection\nC 02  Network controller\n\t00  Ethernet controller\n",
    );
    let out = ok(&fake, &["list", "--class", "net"]);
    assert!(
        out.lines()
            .nth(1)
            .unwrap()
            .ends_with("Chips Corp. Gigabit Network Connection"),
        "{out}"
    );
    let json = ok(&fake, &["list", "--class", "net", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value[0]["device_name"], "Gigabit Network Connection");
    assert_eq!(value[0]["class_name"], "Ethernet controller");
    // An explicit file that is not there says what to do.
    let err = refused(&fake, &["list", "--pci-ids", "/nonexistent/pci.ids"], 1);
    assert!(err.contains("--pci-ids"), "{err}");
}

#[test]
fn list_json_carries_what_scripts_need() {
    let fake = FakeSys::guest("json");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    fake.sysfs().drivers_probe(SMBUS).unwrap();
    ok(&fake, &["bind", NIC]);
    let value: serde_json::Value = serde_json::from_str(&ok(&fake, &["list", "--json"])).unwrap();
    let devices = value.as_array().unwrap();
    assert_eq!(devices.len(), 8);
    let nic = devices.iter().find(|d| d["address"] == NIC).unwrap();
    assert_eq!(nic["vendor"], "8086");
    assert_eq!(nic["device"], "10d3");
    assert_eq!(nic["class"], "020000");
    assert_eq!(nic["driver"], "vfio-pci");
    assert_eq!(nic["driver_override"], "vfio-pci");
    assert_eq!(nic["taken_by_drydock"], true);
    assert_eq!(nic["original_driver"], "e1000e");
    assert_eq!(nic["iommu_group"], 6);
    assert_eq!(nic["group_viable"], true);
    let sata = devices.iter().find(|d| d["address"] == SATA).unwrap();
    assert_eq!(sata["group_viable"], false);
    assert_eq!(sata["group_blockers"][0]["address"], SMBUS);
    assert_eq!(sata["group_blockers"][0]["driver"], "i801_smbus");
    let table = ok(&fake, &["list"]);
    let nic_row = table.lines().find(|l| l.starts_with(NIC)).unwrap();
    assert!(nic_row.contains("vfio-pci (was e1000e)"), "{nic_row}");
    let sata_row = table.lines().find(|l| l.starts_with(SATA)).unwrap();
    assert!(
        sata_row.contains("needs 0000:00:1f.3 (i801_smbus)"),
        "{sata_row}"
    );
}

#[test]
fn bind_then_unbind_in_separate_invocations_restores_the_kernel_driver() {
    let fake = FakeSys::guest("roundtrip");
    let out = ok(&fake, &["bind", "00:06.0", "0000:00:02.0"]);
    assert_eq!(
        out,
        "0000:00:06.0: e1000e -> vfio-pci\n\
         0000:00:02.0: no driver -> vfio-pci\n\
         give back with: drydock unbind 0000:00:06.0 0000:00:02.0\n"
    );
    assert_eq!(driver(&fake, NIC).as_deref(), Some("vfio-pci"));
    assert_eq!(driver(&fake, EDU).as_deref(), Some("vfio-pci"));
    assert_eq!(
        ok(&fake, &["bind", NIC]),
        "0000:00:06.0: already bound to vfio-pci\n"
    );
    // dpdk-devbind's `-b DRIVER` spelling.
    assert_eq!(
        ok(&fake, &["bind", "-b", "uio_pci_generic", NIC]),
        "0000:00:06.0: vfio-pci -> uio_pci_generic\ngive back with: drydock unbind 0000:00:06.0\n"
    );
    assert_eq!(
        ok(&fake, &["unbind", NIC, EDU]),
        "0000:00:06.0: uio_pci_generic -> e1000e\n\
         0000:00:02.0: vfio-pci -> no driver (it had none before)\n"
    );
    assert_eq!(driver(&fake, NIC).as_deref(), Some("e1000e"));
    assert_eq!(driver(&fake, EDU), None);
    assert_eq!(
        ok(&fake, &["unbind", NIC]),
        "0000:00:06.0: left on e1000e, its kernel driver (drydock did not take it)\n"
    );
    assert_eq!(
        ok(&fake, &["unbind", "--all"]),
        "nothing to give back: drydock holds no device\n"
    );
}

#[test]
fn bind_user_hands_the_vfio_nodes_over_and_unbind_takes_them_back() {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let fake = FakeSys::guest("user");
    fake.enable_vfio_cdev();
    // As the kernel makes them: root's, 0600 (this test gives them to its own user, the only
    // one a test not run as root may give them to).
    let meta = std::fs::metadata(fake.root()).unwrap();
    let me = drydock_host::user::user_name(meta.uid());
    let mine = format!("{me}:{}", drydock_host::user::group_name(meta.gid()));
    let restrict = |node: &str| {
        let path = fake.root().join(node);
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    };
    restrict("dev/iommu");
    assert_eq!(
        ok(&fake, &["bind", "-n", "--user", &me, EDU]),
        format!(
            "would bind {EDU}: no driver -> vfio-pci\n\
             would give user {me} the VFIO nodes of {EDU}\n\
             dry run: nothing changed\n"
        )
    );
    ok(&fake, &["bind", EDU]);
    restrict("dev/vfio/2");
    restrict("dev/vfio/devices/vfio0");
    let out = ok(&fake, &["bind", "--user", &me, EDU]);
    assert_eq!(
        out,
        format!(
            "{EDU}: already bound to vfio-pci\n\
             {EDU}: /dev/vfio/2 {mine} 0600 -> {mine} 0600\n\
             {EDU}: /dev/vfio/devices/vfio0 {mine} 0600 -> {mine} 0600\n\
             {EDU}: /dev/iommu {mine} 0600 -> {mine} 0600\n\
             give back with: drydock unbind {EDU}\n"
        )
    );
    // With a group, the group may read and write too; unbind gives back what the nodes were.
    let out = ok(&fake, &["bind", "--user", &mine, EDU]);
    assert!(
        out.contains(&format!("{EDU}: /dev/iommu {mine} 0600 -> {mine} 0660\n")),
        "{out}"
    );
    assert_eq!(
        ok(&fake, &["unbind", "--all"]),
        format!(
            "{EDU}: /dev/vfio/2 {mine} 0660 -> {mine} 0600\n\
             {EDU}: /dev/vfio/devices/vfio0 {mine} 0660 -> {mine} 0600\n\
             {EDU}: /dev/iommu {mine} 0660 -> {mine} 0600\n\
             {EDU}: vfio-pci -> no driver (it had none before)\n"
        )
    );
    let mode = std::fs::metadata(fake.root().join("dev/iommu"))
        .unwrap()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // UIO's DMA needs root whoever owns its node; a user unknown to the system is refused.
    let err = refused(
        &fake,
        &["bind", "-b", "uio_pci_generic", "--user", &me, EDU],
        1,
    );
    assert!(err.contains("CAP_SYS_ADMIN"), "{err}");
    let err = refused(&fake, &["bind", "--user", "no-such-user-here", EDU], 1);
    assert!(err.contains("no user `no-such-user-here`"), "{err}");
}

#[test]
fn unbind_all_and_group_give_back_what_drydock_holds() {
    let fake = FakeSys::guest("all");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    fake.sysfs().drivers_probe(SMBUS).unwrap();
    ok(&fake, &["bind", NVME0, NIC]);
    let out = ok(&fake, &["bind", "--group", SATA]);
    assert_eq!(
        out,
        "0000:00:1f.2: no driver -> vfio-pci\n\
         0000:00:1f.3: i801_smbus -> vfio-pci (IOMMU group of 0000:00:1f.2)\n\
         give back with: drydock unbind 0000:00:1f.2 0000:00:1f.3\n"
    );
    let out = ok(&fake, &["unbind", "--group", SATA]);
    assert_eq!(
        out,
        "0000:00:1f.2: vfio-pci -> no driver (it had none before)\n\
         0000:00:1f.3: vfio-pci -> i801_smbus\n"
    );
    let out = ok(&fake, &["unbind", "--all"]);
    assert_eq!(
        out,
        "0000:00:04.0: vfio-pci -> nvme\n0000:00:06.0: vfio-pci -> e1000e\n"
    );
    assert_eq!(driver(&fake, NVME0).as_deref(), Some("nvme"));
}

#[test]
fn bind_refuses_a_device_in_use_unless_forced() {
    let fake = FakeSys::guest("inuse");
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    let err = refused(&fake, &["bind", NIC], 1);
    assert_eq!(
        err,
        "drydock: PCI device 0000:00:06.0 is in use: network interface eth0 is up (`ip link set \
         dev eth0 down`); stop using it first, or pass --force to take it anyway\n"
    );
    assert_eq!(driver(&fake, NIC).as_deref(), Some("e1000e"));
    let ran = drydock(&fake, &["bind", "--force", NIC]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.out.lines().next(),
        Some("0000:00:06.0: e1000e -> vfio-pci")
    );
    assert_eq!(
        ran.err,
        "drydock: taking 0000:00:06.0 anyway (--force): network interface eth0 is up (`ip link \
         set dev eth0 down`)\n"
    );

    fake.add_block_device(NVME0, Some("nvme0n1"), "nvme0n1p1", (259, 7));
    fake.add_mount((259, 7), "/dev/nvme0n1p1", "/var/lib/data", "xfs");
    let err = refused(&fake, &["bind", NVME0], 1);
    assert!(
        err.contains("nvme0n1p1 is mounted at /var/lib/data (`umount /var/lib/data`)"),
        "{err}"
    );
}

#[test]
fn bind_asks_before_taking_the_rest_of_a_group() {
    let fake = FakeSys::guest("group");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    fake.sysfs().drivers_probe(SMBUS).unwrap();
    let err = refused(&fake, &["bind", SATA], 1);
    assert!(
        err.contains("shares IOMMU group 8 with 0000:00:1f.3 (i801_smbus)"),
        "{err}"
    );
    assert!(err.contains("drydock bind --group 0000:00:1f.2"), "{err}");
    assert_eq!(driver(&fake, SATA), None);
    // Forced: the named device alone, and a note that the group stays unusable.
    let ran = drydock(&fake, &["bind", "--force", SATA]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert!(
        ran.err.starts_with("drydock: note: IOMMU group 8"),
        "{ran:?}"
    );
    assert_eq!(driver(&fake, SMBUS).as_deref(), Some("i801_smbus"));
}

#[test]
fn bad_input_is_one_line_and_a_status() {
    let fake = FakeSys::guest("input");
    let err = refused(&fake, &["bind", "00:04"], 2);
    assert!(err.contains("DDDD:BB:DD.F"), "{err}");
    let err = refused(&fake, &["bind", "0000:00:09.0"], 1);
    assert!(err.contains("no PCI device 0000:00:09.0"), "{err}");
    let err = refused(&fake, &["bind", "--driver", "ixgbe", EDU], 2);
    assert!(err.contains("unknown driver `ixgbe`"), "{err}");
    let err = refused(&fake, &["unbind", "0000:01:00.0"], 1);
    assert!(err.contains("drydock list"), "{err}");
    let err = refused(&fake, &["check", "--driver", "igb_uio"], 2);
    assert!(err.contains("uio_pci_generic"), "{err}");
    let err = refused(&fake, &["check", "04.0"], 2);
    assert!(err.contains("not a PCI address"), "{err}");
    // A refusal changes nothing.
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
}

#[test]
fn check_reports_findings_with_fixes_and_its_verdict_in_the_status() {
    let fake = FakeSys::guest("check");
    fake.write_file("dev/vfio/vfio", "");
    fake.write_file("proc/interrupts", " 0: 36 0 IR-IO-APIC 2-edge timer\n");
    fake.write_file(
        "sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages",
        "8\n",
    );
    fake.write_file(
        "sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages",
        "4\n",
    );
    // Whatever this test process's limits, report them as they are: only the device matters
    // below, so compare the device lines.
    let ran = drydock(&fake, &["check", NVME0]);
    let device = ran
        .out
        .lines()
        .skip_while(|l| !l.contains("  device  "))
        .take(2)
        .collect::<Vec<_>>()
        .join("\n");
    assert!(device.contains("PROBLEM  device"), "{}", ran.out);
    assert!(
        device.contains("0000:00:04.0 is bound to nvme, not vfio-pci"),
        "{}",
        ran.out
    );
    assert!(
        ran.out
            .contains("fix: run `drydock bind 0000:00:04.0 --driver vfio-pci`"),
        "{}",
        ran.out
    );
    assert_eq!(ran.code, 1);
    assert!(ran.out.lines().last().unwrap().starts_with("not ready: "));
    ok(&fake, &["bind", NVME0]);
    let ran = drydock(&fake, &["check", NVME0]);
    assert!(ran.out.contains("ok       device"), "{}", ran.out);
    assert!(
        ran.out
            .lines()
            .any(|l| l.contains("IOMMU group") && l.ends_with("4: viable")),
        "{}",
        ran.out
    );
    assert!(
        ran.out
            .contains("ok       huge pages           4 of 8 2 MiB pages free"),
        "{}",
        ran.out
    );
    // Ready exactly when no problem is listed.
    let problems = ran.out.lines().filter(|l| l.contains("PROBLEM")).count();
    assert_eq!(ran.code == 0, problems == 0, "{}", ran.out);
    if problems == 0 {
        assert_eq!(
            ran.out.lines().last(),
            Some("ready: a driver can run here through vfio-pci")
        );
    }
}

#[test]
fn check_says_in_one_paragraph_when_there_is_no_vfio() {
    let fake = FakeSys::new("novfio");
    fake.write_file("proc/cmdline", "console=ttyS0\n");
    let ran = drydock(&fake, &["check"]);
    assert_eq!(ran.code, 1);
    assert!(
        ran.out.starts_with("This machine has no VFIO"),
        "{}",
        ran.out
    );
    assert!(!ran.out.contains("\n\n"));
    assert!(!ran.out.contains("PROBLEM"), "{}", ran.out);
}

#[test]
fn bind_dry_run_says_what_it_would_do_and_changes_nothing() {
    let fake = FakeSys::guest("dryrun");
    fake.add_driver("i801_smbus", &[(0x8086, 0x2930)]);
    fake.sysfs().drivers_probe(SMBUS).unwrap();
    ok(&fake, &["bind", EDU]);
    let writes = fake.writes();
    let before: Vec<(String, Option<String>)> = fake
        .sysfs()
        .addresses()
        .unwrap()
        .into_iter()
        .map(|a| {
            let d = driver(&fake, &a);
            (a, d)
        })
        .collect();
    let records = std::fs::read_dir(fake.root().join("run/drydock/original-drivers"))
        .unwrap()
        .count();
    let out = ok(&fake, &["bind", "--dry-run", "--group", NIC, EDU, SATA]);
    assert_eq!(
        out,
        "would bind 0000:00:06.0: e1000e -> vfio-pci\n\
         0000:00:02.0: already bound to vfio-pci\n\
         would bind 0000:00:1f.2: no driver -> vfio-pci\n\
         would bind 0000:00:1f.3: i801_smbus -> vfio-pci (IOMMU group of 0000:00:1f.2)\n\
         dry run: nothing changed\n"
    );
    // A refusal is the same refusal.
    fake.write_file(
        "sys/devices/pci0000:00/0000:00:06.0/net/eth0/flags",
        "0x1003\n",
    );
    let err = refused(&fake, &["bind", "-n", NIC], 1);
    assert!(err.contains("eth0 is up"), "{err}");
    let ran = drydock(&fake, &["bind", "-n", "--force", NIC]);
    assert_eq!(ran.code, 0, "{ran:?}");
    assert_eq!(
        ran.err,
        "drydock: would take 0000:00:06.0 anyway (--force): network interface eth0 is up (`ip \
         link set dev eth0 down`)\n"
    );
    // Nothing was written, no driver moved, no record was made.
    assert_eq!(fake.writes(), writes);
    let after: Vec<(String, Option<String>)> = before
        .iter()
        .map(|(a, _)| (a.clone(), driver(&fake, a)))
        .collect();
    assert_eq!(after, before);
    assert_eq!(
        std::fs::read_dir(fake.root().join("run/drydock/original-drivers"))
            .unwrap()
            .count(),
        records
    );
}

#[test]
fn bind_dry_run_names_the_module_it_would_load() {
    let fake = FakeSys::new("dryrun-module");
    fake.add_device(&drydock_sim::sysfs::FakeDevice::edu(EDU));
    fake.add_loadable_module("uio_pci_generic", "uio_pci_generic", &[]);
    let out = ok(&fake, &["bind", "-n", "-b", "uio_pci_generic", EDU]);
    assert_eq!(
        out,
        "would load module uio_pci_generic\n\
         would bind 0000:00:02.0: no driver -> uio_pci_generic\n\
         dry run: nothing changed\n"
    );
    assert!(fake.writes().is_empty(), "{:?}", fake.writes());
    assert!(!fake.sysfs().driver_registered("uio_pci_generic"));
}

#[test]
fn check_json_carries_the_report() {
    let fake = FakeSys::guest("checkjson");
    fake.write_file("dev/vfio/vfio", "");
    fake.write_file("proc/interrupts", " 0: 36 0 IR-IO-APIC 2-edge timer\n");
    let ran = drydock(&fake, &["check", "--json", NVME0]);
    let value: serde_json::Value = serde_json::from_str(&ran.out).unwrap();
    assert_eq!(value["driver"], "vfio-pci");
    assert_eq!(value["device"], NVME0);
    assert_eq!(value["ready"], false);
    assert_eq!(value["no_vfio"], serde_json::Value::Null);
    let findings = value["findings"].as_array().unwrap();
    let device = findings.iter().find(|f| f["topic"] == "device").unwrap();
    assert_eq!(device["status"], "problem");
    assert_eq!(
        device["found"],
        "0000:00:04.0 is bound to nvme, not vfio-pci"
    );
    assert!(device["fix"]
        .as_str()
        .unwrap()
        .contains("drydock bind 0000:00:04.0"));
    let iommu = findings.iter().find(|f| f["topic"] == "IOMMU").unwrap();
    assert_eq!(iommu["status"], "ok");
    assert_eq!(iommu["fix"], serde_json::Value::Null);
    // Every finding has the four fields, and the verdict is the exit status's.
    for finding in findings {
        let keys: Vec<&String> = finding.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["fix", "found", "status", "topic"], "{finding}");
    }
    assert_eq!(ran.code, 1);
    // The text says the same.
    let text = drydock(&fake, &["check", NVME0]);
    let problems = text.out.lines().filter(|l| l.contains("PROBLEM")).count();
    assert_eq!(
        problems,
        findings.iter().filter(|f| f["status"] == "problem").count()
    );
    // Without VFIO: the paragraph, and the findings it stands for.
    let bare = FakeSys::new("checkjson-novfio");
    bare.write_file("proc/cmdline", "console=ttyS0\n");
    let ran = drydock(&bare, &["check", "--json"]);
    let value: serde_json::Value = serde_json::from_str(&ran.out).unwrap();
    assert!(value["no_vfio"]
        .as_str()
        .unwrap()
        .starts_with("This machine has no VFIO"));
    assert_eq!(value["ready"], false);
    assert_eq!(value["device"], serde_json::Value::Null);
    assert_eq!(ran.code, 1);
}

#[test]
fn completions_and_manual_pages_come_from_the_command_line_definition() {
    let fake = FakeSys::new("generate");
    for (shell, marker) in [
        ("bash", "complete -F _drydock"),
        ("zsh", "#compdef drydock"),
        ("fish", "complete -c drydock"),
        ("elvish", "edit:completion:arg-completer[drydock]"),
        ("powershell", "Register-ArgumentCompleter"),
    ] {
        let script = ok(&fake, &["completions", shell]);
        assert!(script.contains(marker), "{shell}: {script}");
        for word in ["list", "bind", "unbind", "check", "dry-run", "slot"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let page = ok(&fake, &["man"]);
    assert!(page.starts_with(".ie \\n(.g .ds Aq"), "{page}");
    assert!(page.contains(".TH drydock 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for name in ["list", "bind", "unbind", "check", "completions", "man"] {
        let entry = format!("drydock\\-{name}(1)");
        assert!(page.contains(&entry), "the page lacks {entry}");
    }
    let bind = ok(&fake, &["man", "bind"]);
    assert!(bind.contains(".TH drydock-bind 1"), "{bind}");
    assert!(bind.contains("dry\\-run"), "{bind}");
    let err = refused(&fake, &["man", "frob"], 2);
    assert!(err.contains("list, bind, unbind, check"), "{err}");
}

#[test]
fn output_to_a_closed_reader_is_dropped_quietly() {
    /// A reader that went away.
    struct Closed;
    impl Write for Closed {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let fake = FakeSys::guest("pipe");
    let cli = Cli::try_parse_from(["drydock", "list"]).unwrap();
    let mut err = Vec::new();
    assert_eq!(run(&cli.command, &fake.sysfs(), &mut Closed, &mut err), 0);
    assert!(err.is_empty());
}
