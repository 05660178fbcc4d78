//! Cases that run the `drydock` command (package `drydock-cli`, built for the guest beside the
//! runner) as a user would, on the guest's real devices, and check what it prints, its exit
//! status and the bindings it leaves.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use drydock_guest::layout::{self, Role};

use super::driver_process::beside_me;
use super::{ensure, CaseResult};
use crate::sysfs;
use drydock_host::sysfs::Sysfs;

/// What one run of `drydock` did.
#[derive(Debug)]
pub(super) struct Ran {
    /// The exit status.
    pub(super) code: Option<i32>,
    /// Standard output.
    pub(super) out: String,
    /// Standard error.
    pub(super) err: String,
}

/// Runs `drydock ARGS` and prints what it did (shown if the case fails).
fn drydock(args: &[&str]) -> Result<Ran, String> {
    drydock_as(None, &beside_me("drydock")?, args)
}

/// Runs the `drydock` binary `exe` with ARGS as user and group `uid` (root if `None`), and
/// prints what it did.
pub(super) fn drydock_as(uid: Option<u32>, exe: &Path, args: &[&str]) -> Result<Ran, String> {
    let mut command = Command::new(exe);
    command.args(args);
    if let Some(uid) = uid {
        command.uid(uid).gid(uid);
    }
    let output = command
        .output()
        .map_err(|e| format!("cannot run {}: {e}", exe.display()))?;
    let ran = Ran {
        code: output.status.code(),
        out: String::from_utf8_lossy(&output.stdout).into_owned(),
        err: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    let who = uid.map_or(String::new(), |uid| format!("(as uid {uid}) "));
    println!("{who}$ drydock {}  (exit {:?})", args.join(" "), ran.code);
    print!("{}", ran.out);
    for line in ran.err.lines() {
        println!("stderr: {line}");
    }
    Ok(ran)
}

/// Runs `drydock ARGS`, expecting exit status 0 and nothing on standard error.
pub(super) fn succeeds(args: &[&str]) -> Result<String, String> {
    let ran = drydock(args)?;
    ensure!(
        ran.code == Some(0) && ran.err.is_empty(),
        "`drydock {}` failed: {ran:?}",
        args.join(" ")
    );
    Ok(ran.out)
}

/// Runs `drydock ARGS`, expecting exit status 1 and one line on standard error, returned.
fn refused(args: &[&str]) -> Result<String, String> {
    let ran = drydock(args)?;
    ensure!(
        ran.code == Some(1) && ran.err.lines().count() == 1 && ran.err.starts_with("drydock: "),
        "`drydock {}` should have been refused with one line: {ran:?}",
        args.join(" ")
    );
    Ok(ran.err)
}

/// The row of `address` in `drydock list`'s table, split into columns (the name excluded).
fn list_row(table: &str, address: &str) -> Result<Vec<String>, String> {
    let line = table
        .lines()
        .find(|l| l.starts_with(address))
        .ok_or_else(|| format!("`drydock list` has no row for {address}"))?;
    // BDF, IDS, CLASS, DRIVER (maybe `vfio-pci (was e1000e)`), GROUP, VFIO, CDEV, IN USE, NAME:
    // split on the two-space column gaps.
    Ok(line
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect())
}

/// The e1000e NIC, waited for until the kernel's driver holds it (its probe is asynchronous).
fn nic_on_e1000e() -> Result<String, String> {
    let nic = layout::device(Role::E1000e).address();
    sysfs::wait_for(Duration::from_secs(30), || {
        (sysfs::driver(&nic).as_deref() == Some("e1000e")).then_some(())
    })
    .ok_or_else(|| {
        format!(
            "{nic} is bound to {:?}, expected e1000e",
            sysfs::driver(&nic)
        )
    })?;
    Ok(nic)
}

/// The network interface of the device at `address`.
fn interface_of(address: &str) -> Result<String, String> {
    let dir = sysfs::device_dir(address).join("net");
    sysfs::wait_for(Duration::from_secs(30), || {
        std::fs::read_dir(&dir)
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .next()
    })
    .ok_or_else(|| format!("{address} has no network interface in {}", dir.display()))
}

/// Runs a busybox tool, failing with its output.
fn tool(program: &str, args: &[&str]) -> Result<(), String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("cannot run {program}: {e}"))?;
    ensure!(
        output.status.success(),
        "`{program} {}` failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Ok(())
}

/// `drydock bind` hands edu and the e1000e NIC to vfio-pci (creating their group nodes; `list`
/// and `check` then show them ready for VFIO), and `drydock unbind`, a later invocation, gives
/// the NIC back to e1000e and edu back to no driver.
pub fn drydock_cli_binds_edu_and_e1000e_and_back() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    let nic = nic_on_e1000e()?;
    let out = succeeds(&["bind", &edu, "00:06.0"])?;
    ensure!(
        out.lines()
            .any(|l| l == format!("{nic}: e1000e -> vfio-pci")),
        "bind did not report the NIC leaving e1000e: {out}"
    );
    ensure!(
        out.lines()
            .last()
            .is_some_and(|l| l.starts_with("give back with: drydock unbind")),
        "bind did not say how to give the devices back: {out}"
    );
    for address in [&edu, &nic] {
        ensure!(
            sysfs::driver(address).as_deref() == Some("vfio-pci"),
            "{address} is bound to {:?} after `drydock bind`",
            sysfs::driver(address)
        );
        let group = sysfs::iommu_group(address)?.ok_or(format!("{address} has no group"))?;
        let node = format!("/dev/vfio/{group}");
        ensure!(Path::new(&node).exists(), "{node} is missing");
    }

    let table = succeeds(&["list"])?;
    let row = list_row(&table, &nic)?;
    let group = sysfs::iommu_group(&nic)?.unwrap_or_default().to_string();
    // The NIC's VFIO device cdev where the kernel has them (the proof kernel), `-` elsewhere.
    let cdev = Sysfs::system()
        .vfio_cdev(&nic)
        .unwrap_or_else(|| "-".to_owned());
    let expected = [
        nic.as_str(),
        "8086:10d3",
        "020000",
        "vfio-pci (was e1000e)",
        &group,
        "viable",
        &cdev,
    ];
    ensure!(
        row.len() > 7 && row[..7] == expected,
        "the NIC's row is {row:?}, expected {expected:?} and a name"
    );
    let only = succeeds(&["list", "--driver", "vfio-pci", "--class", "net"])?;
    ensure!(
        only.lines().skip(1).count() == 1 && only.contains(&nic),
        "`list --driver vfio-pci --class net` should show the NIC alone: {only}"
    );

    // Everything a driver process needs is in place for the NIC.
    let out = succeeds(&["check", &nic])?;
    ensure!(
        out.lines().last() == Some("ready: a driver can run here through vfio-pci"),
        "check did not find the NIC ready: {out}"
    );

    let out = succeeds(&["unbind", &nic, &edu])?;
    ensure!(
        out.lines().next() == Some(&format!("{nic}: vfio-pci -> e1000e")),
        "unbind did not give the NIC back to e1000e: {out}"
    );
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("e1000e"),
        "{nic} is bound to {:?} after `drydock unbind`",
        sysfs::driver(&nic)
    );
    ensure!(
        sysfs::driver(&edu).is_none(),
        "edu has no kernel driver, but is bound to {:?} after `drydock unbind`",
        sysfs::driver(&edu)
    );
    interface_of(&nic)?;
    let out = succeeds(&["unbind", &nic])?;
    ensure!(
        out.contains("left on e1000e"),
        "a second unbind should leave the NIC alone: {out}"
    );
    Ok(())
}

/// `drydock bind` refuses a NIC whose interface is up and an NVMe controller whose namespace is
/// swap, changing nothing, and takes the NIC with `--force`.
pub fn drydock_cli_refuses_a_device_in_use() -> CaseResult {
    let nic = nic_on_e1000e()?;
    let interface = interface_of(&nic)?;
    tool("ip", &["link", "set", "dev", &interface, "up"])?;
    let row = list_row(&succeeds(&["list"])?, &nic)?;
    ensure!(
        row.get(7) == Some(&format!("{interface} up")),
        "`drydock list` should show {interface} up in the NIC's row: {row:?}"
    );
    let dry = drydock(&["bind", "--dry-run", "--force", &nic])?;
    ensure!(
        dry.code == Some(0)
            && dry
                .out
                .contains(&format!("would bind {nic}: e1000e -> vfio-pci"))
            && dry.out.ends_with("dry run: nothing changed\n")
            && dry.err.contains("would take"),
        "a forced dry run should say what it would do: {dry:?}"
    );
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("e1000e"),
        "a dry run moved {nic} to {:?}",
        sysfs::driver(&nic)
    );
    let err = refused(&["bind", &nic])?;
    ensure!(
        err.contains(&format!("network interface {interface} is up")) && err.contains("--force"),
        "the refusal does not name the interface and --force: {err}"
    );
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("e1000e"),
        "a refused bind moved {nic} to {:?}",
        sysfs::driver(&nic)
    );
    let ran = drydock(&["bind", "--force", &nic])?;
    ensure!(
        ran.code == Some(0) && ran.err.contains("anyway (--force)"),
        "a forced bind should take the NIC and say so: {ran:?}"
    );
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("vfio-pci"),
        "a forced bind left {nic} on {:?}",
        sysfs::driver(&nic)
    );
    succeeds(&["unbind", &nic])?;
    ensure!(
        sysfs::driver(&nic).as_deref() == Some("e1000e"),
        "{nic} is bound to {:?} after `drydock unbind`",
        sysfs::driver(&nic)
    );

    let nvme1 = layout::device(Role::Nvme {
        index: 1,
        serial: "drydock-nvme1",
    })
    .address();
    let disk = sysfs::wait_for(Duration::from_secs(30), || {
        let controller = std::fs::read_dir(sysfs::device_dir(&nvme1).join("nvme"))
            .ok()?
            .filter_map(Result::ok)
            .next()?
            .file_name();
        let disk = format!("/dev/{}n1", controller.to_string_lossy());
        Path::new(&disk).exists().then_some(disk)
    })
    .ok_or(format!("{nvme1} has no namespace block device"))?;
    tool("mkswap", &[&disk])?;
    tool("swapon", &[&disk])?;
    let refusal = refused(&["bind", &nvme1]);
    let swapoff = tool("swapoff", &[&disk]);
    let err = refusal?;
    swapoff?;
    ensure!(
        err.contains("is in use as swap"),
        "the refusal does not say the namespace is swap: {err}"
    );
    ensure!(
        sysfs::driver(&nvme1).as_deref() == Some("nvme"),
        "a refused bind moved {nvme1} to {:?}",
        sysfs::driver(&nvme1)
    );
    Ok(())
}

/// In a guest booted with the IOMMU off, `drydock check` reports the missing IOMMU with its fix
/// and exits 1, `drydock list` shows no groups, and `drydock bind` refuses vfio-pci in one line.
pub fn drydock_cli_check_reports_no_iommu() -> CaseResult {
    let ran = drydock(&["check"])?;
    ensure!(ran.code == Some(1), "check should fail: {ran:?}");
    // The report wraps long lines: compare its words.
    let words = ran.out.split_whitespace().collect::<Vec<_>>().join(" ");
    ensure!(
        words.contains(
            "PROBLEM IOMMU not enabled: the kernel command line turns the Intel IOMMU off \
             (`intel_iommu=off`)"
        ),
        "check does not report the IOMMU turned off by the command line: {}",
        ran.out
    );
    ensure!(
        words.contains("fix: remove `intel_iommu=off` from the kernel command line"),
        "check does not say how to turn the IOMMU on: {}",
        ran.out
    );
    ensure!(
        ran.out
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("not ready")),
        "check does not end with its verdict: {}",
        ran.out
    );

    let edu = layout::device(Role::Edu).address();
    let row = list_row(&succeeds(&["list"])?, &edu)?;
    ensure!(
        row.get(4..6) == Some(&["-".to_owned(), "no IOMMU".to_owned()][..]),
        "edu's row should show no group: {row:?}"
    );
    let before = sysfs::driver(&edu);
    let err = refused(&["bind", &edu])?;
    ensure!(
        err.contains("IOMMU"),
        "the refusal does not name the IOMMU: {err}"
    );
    ensure!(
        sysfs::driver(&edu) == before,
        "a refused bind moved edu from {before:?} to {:?}",
        sysfs::driver(&edu)
    );
    Ok(())
}
