//! The in-kernel proof on real devices: each driver `tests/kernel/drivers` lists, built in the Linux
//! 7.3 tree as a module by `tests/kernel/build`, runs in the kernel on its emulated device, and then the same
//! driver file runs through drydock on the same device in the same boot.
//!
//! For each driver, a [`Comparison`] says what both runs get and must show. The kernel run loads
//! the module with the parameters (`finit_module`, as `insmod`), checks that the driver bound the
//! device, unloads it and checks that it let go, and that the kernel logged no warning about the
//! driver or the device. The drydock run binds the device to vfio-pci and runs the driver's own
//! binary (built from the same file, next to this one) with the same parameters on it, until it
//! reports the device bound; then stops it with `SIGTERM`, which unloads the module, and checks it
//! exited cleanly. Each run must log the lines the comparison expects about the device, and the
//! two runs must log the same lines about it, in the same order: the messages the kernel logs at
//! `KERN_INFO` or more severe (a kernel built without debugging drops `dev_dbg!`), and those the
//! binary logs at info or more severe (its default).
//!
//! Linux's own samples that drive a PCI device are compared the same way: the sample's module from
//! the proof kernel's tree, and the same file built as a drydock process ([`drydock_tests`]'s
//! `upstream` module builds it for the guest). A sample that adds auxiliary devices is checked
//! there too: in the kernel, each must be bound by its driver, and the lines about them are
//! compared as well.
//!
//! These cases need the proof kernel ([`Feature::DriverModules`](drydock_guest::protocol::Feature)):
//! [`in_kernel_comparisons_cover_every_driver`] fails when the kernel has a driver module no
//! comparison here covers, so a new driver crate cannot go unchecked.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drydock_guest::layout::{self, Role};
use drydock_guest::protocol::{DRIVER_MODULES_DIR, SAMPLE_MODULES_DIR};

use super::{ensure, CaseResult};
use crate::kmsg::{KernelLog, Record, LEVEL_INFO, LEVEL_WARNING};
use crate::trouble;
use crate::{modules, sysfs};

/// How long a driver may take to probe, in the kernel or through drydock.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// One driver's in-kernel and drydock runs.
pub struct Comparison {
    /// The module: the driver crate's library name, which names its `.ko` in the tree, its
    /// `module!` and its PCI driver.
    pub module: &'static str,
    /// The directory of the module tree that holds the `.ko`: [`DRIVER_MODULES_DIR`] for
    /// drydock's drivers, [`SAMPLE_MODULES_DIR`] for Linux's samples.
    pub dir: &'static str,
    /// The driver file, for drydock's drivers (whose KUnit suites `cases::kunit` reads from it).
    pub source: Option<&'static str>,
    /// The driver's binary: the drydock build of the same file as a process (its package's
    /// binary, built for the guest next to the runner).
    pub binary: &'static str,
    /// The device the driver drives.
    pub role: Role,
    /// The module parameters both runs get, as `insmod` takes them.
    pub params: &'static [&'static str],
    /// The auxiliary devices the driver adds under the device, each with the auxiliary driver
    /// that must bind it (`modname.name`): what they log is compared too, as
    /// `<auxiliary device>: <message>`.
    pub auxiliary: &'static [(&'static str, &'static str)],
    /// The lines each run must log about the device, in this order, after the
    /// `<driver> <device>: ` prefix (or, for an auxiliary device, as above); `*` matches any text.
    pub expected: &'static [&'static str],
}

/// edu, with its self-test at probe: factorials, a DMA round trip, one interrupt per operation.
pub(super) const EDU: Comparison = Comparison {
    module: "edu",
    dir: DRIVER_MODULES_DIR,
    source: Some(include_str!("../../../../drivers/edu/src/edu.rs")),
    binary: "edu",
    role: Role::Edu,
    params: &["self_test=1"],
    auxiliary: &[],
    expected: &[
        "edu version 1.0 is alive",
        "interrupts by Msi",
        "self-test: 0! to 20! correct",
        "self-test: DMA round trip of 4095 bytes identical",
        "self-test: 23 interrupts for 23 operations",
    ],
};

/// pci-testdev: its configuration space, and the three tests' counts (QEMU's ioeventfds take the
/// eventfd tests' writes, in the kernel as through drydock).
const PCI_TESTDEV: Comparison = Comparison {
    module: "pci_testdev",
    dir: DRIVER_MODULES_DIR,
    source: Some(include_str!(
        "../../../../drivers/pci-testdev/src/pci_testdev.rs"
    )),
    binary: "pci-testdev",
    role: Role::PciTestdev,
    params: &[],
    auxiliary: &[],
    expected: &[
        "config space: 1b36:0005 rev * class 00ff00 pin 0",
        "test NoEventfd: offset *, data *, count 1",
        "test WildcardEventfd: offset *, data *, count 0",
        "test DatamatchEventfd: offset *, data *, count 0",
        "pci-testdev data-match count: 1",
    ],
};

/// drydock's NVMe driver on controller 0 (taken from the kernel's nvme driver for the runs):
/// what Identify reported, and how many interrupt vectors of which kind it got.
const NVME: Comparison = Comparison {
    module: "drydock_nvme",
    dir: DRIVER_MODULES_DIR,
    source: Some(include_str!("../../../../drivers/nvme/src/drydock_nvme.rs")),
    binary: "nvme",
    role: Role::Nvme {
        index: 0,
        serial: "drydock-nvme0",
    },
    params: &[],
    auxiliary: &[],
    expected: &[
        "QEMU NVMe Ctrl (drydock-nvme0, firmware *), NVMe *: namespace 1 of 131072 blocks of 512 \
         bytes, * I/O queues, 512 KiB transfers",
        "* interrupt vectors by MsiX",
    ],
};

/// Linux's `rust_driver_auxiliary` sample on pci-testdev: its PCI driver adds two auxiliary
/// devices, which its auxiliary driver binds and connects to their parent.
const RUST_DRIVER_AUXILIARY: Comparison = Comparison {
    module: "rust_driver_auxiliary",
    dir: SAMPLE_MODULES_DIR,
    source: None,
    binary: "rust_driver_auxiliary",
    role: Role::PciTestdev,
    params: &[],
    auxiliary: &[
        (
            "rust_driver_auxiliary.auxiliary.0",
            "rust_driver_auxiliary.rust_driver_auxiliary",
        ),
        (
            "rust_driver_auxiliary.auxiliary.1",
            "rust_driver_auxiliary.rust_driver_auxiliary",
        ),
    ],
    expected: &[
        "rust_driver_auxiliary.auxiliary.0: Probing auxiliary driver for auxiliary device with id=0",
        "Connect auxiliary 0 with parent: VendorID=*, DeviceID=0x5",
        "Connected to auxiliary device with index 0.",
        "rust_driver_auxiliary.auxiliary.1: Probing auxiliary driver for auxiliary device with id=1",
        "Connected to auxiliary device with index 1 (via Mutex).",
    ],
};

/// Every comparison: one per driver of the proof (`tests/kernel/drivers`), and the samples.
pub const COMPARISONS: &[&Comparison] = &[&EDU, &PCI_TESTDEV, &NVME, &RUST_DRIVER_AUXILIARY];

/// edu in the kernel and through drydock.
pub fn in_kernel_edu() -> CaseResult {
    compare(&EDU)
}

/// pci-testdev in the kernel and through drydock.
pub fn in_kernel_pci_testdev() -> CaseResult {
    compare(&PCI_TESTDEV)
}

/// The NVMe driver in the kernel and through drydock.
pub fn in_kernel_drydock_nvme() -> CaseResult {
    compare(&NVME)
}

/// Linux's auxiliary bus sample in the kernel and through drydock.
pub fn in_kernel_rust_driver_auxiliary() -> CaseResult {
    compare(&RUST_DRIVER_AUXILIARY)
}

/// Every driver module of the kernel's module tree has a comparison here, and every comparison a
/// module.
pub fn in_kernel_comparisons_cover_every_driver() -> CaseResult {
    let dir = modules::module_tree()?.join(DRIVER_MODULES_DIR);
    let mut built: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".ko").map(str::to_owned)
        })
        .collect();
    built.sort();
    println!("driver modules in {}: {}", dir.display(), built.join(", "));
    let compared: Vec<&str> = COMPARISONS
        .iter()
        .filter(|c| c.dir == DRIVER_MODULES_DIR)
        .map(|c| c.module)
        .collect();
    let uncovered: Vec<&String> = built
        .iter()
        .filter(|m| !compared.contains(&m.as_str()))
        .collect();
    ensure!(
        uncovered.is_empty(),
        "no in-kernel comparison for the driver module(s) {uncovered:?}: add a Comparison for each \
         to tests/guest/src/cases/in_kernel.rs, with its case in cases/mod.rs"
    );
    let missing: Vec<&&str> = compared
        .iter()
        .filter(|m| !built.iter().any(|b| b == **m))
        .collect();
    ensure!(
        missing.is_empty(),
        "the kernel has no module for the compared driver(s) {missing:?} in {}",
        dir.display()
    );
    Ok(())
}

/// Runs `c`'s driver in the kernel and through drydock, and compares what both logged.
fn compare(c: &Comparison) -> CaseResult {
    let address = layout::device(c.role).address();
    let prefix = format!("{} {address}: ", c.module);
    let in_kernel = kernel_run(c, c.params, &address)?;
    let drydock = drydock_run(c, c.params, &address)?;
    let show = |lines: &[String]| lines.join("\n");
    println!("--- {prefix}... in the kernel ---\n{}", show(&in_kernel));
    println!("--- {prefix}... through drydock ---\n{}", show(&drydock));
    for (run, lines) in [("in the kernel", &in_kernel), ("through drydock", &drydock)] {
        check_expected(c.expected, lines).map_err(|e| format!("{}, {run}: {e}", c.module))?;
    }
    ensure!(
        in_kernel == drydock,
        "{} logged different lines about {address} in the kernel and through drydock:\n\
         --- in the kernel ---\n{}\n--- through drydock ---\n{}",
        c.module,
        show(&in_kernel),
        show(&drydock)
    );
    println!(
        "both runs logged the same {} lines about {address}",
        in_kernel.len()
    );
    Ok(())
}

/// Loads `c`'s module with `params` on the device at `address`, unloads it, and returns what it
/// logged about the device.
pub(super) fn kernel_run(
    c: &Comparison,
    params: &[&str],
    address: &str,
) -> Result<Vec<String>, String> {
    let prefix = format!("{} {address}: ", c.module);
    let ko = modules::module_tree()?
        .join(c.dir)
        .join(format!("{}.ko", c.module));
    ensure!(
        !modules::is_loaded(c.module),
        "module {} is loaded already",
        c.module
    );
    sysfs::release(address)?;
    let mut log = KernelLog::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    read(&mut log)?;

    let loaded = modules::load(&ko, &params.join(" "));
    let bound = loaded.is_ok()
        && sysfs::wait_for(PROBE_TIMEOUT, || {
            let auxiliary_bound = c.auxiliary.iter().all(|(device, driver)| {
                sysfs::auxiliary_driver(device).as_deref() == Some(*driver)
            });
            (sysfs::driver(address).as_deref() == Some(c.module) && auxiliary_bound).then_some(())
        })
        .is_some();
    let unloaded = if loaded.is_ok() {
        modules::unload(c.module)
    } else {
        Ok(())
    };
    let records = read(&mut log)?;
    println!("--- kernel log of the in-kernel run ---");
    for record in &records {
        println!("{record}");
    }
    loaded?;
    ensure!(
        bound,
        "the in-kernel {} did not bind {address} (bound to {:?}) and its auxiliary devices \
         {:?}; its kernel log is above",
        c.module,
        sysfs::driver(address),
        c.auxiliary
    );
    unloaded?;
    ensure!(
        sysfs::driver(address).is_none(),
        "after unloading {}, {address} is bound to {:?}",
        c.module,
        sysfs::driver(address)
    );
    let trouble: Vec<String> = records
        .iter()
        .filter(|r| r.level <= LEVEL_WARNING && is_trouble_for(r, c.module, address))
        .map(ToString::to_string)
        .collect();
    ensure!(
        trouble.is_empty(),
        "the kernel reported trouble while {} ran:\n{}",
        c.module,
        trouble.join("\n")
    );
    Ok(records
        .iter()
        .filter(|r| r.level <= LEVEL_INFO)
        .filter_map(|r| about_the_devices(c, &prefix, &r.text))
        .collect())
}

/// The message of a log line about `c`'s device (after `prefix`, `<driver> <device>: `) or one
/// of its auxiliary devices (as `<auxiliary device>: <message>`); `None` for other lines.
fn about_the_devices(c: &Comparison, prefix: &str, line: &str) -> Option<String> {
    if let Some(message) = line.strip_prefix(prefix) {
        return Some(message.to_owned());
    }
    c.auxiliary.iter().find_map(|(device, driver)| {
        let message = line.strip_prefix(&format!("{driver} {device}: "))?;
        Some(format!("{device}: {message}"))
    })
}

/// Whether a severe record concerns the driver under test (it names the module or the device),
/// or reports trouble of any kind ([`trouble::is_trouble`]: a `WARN()`, a `BUG()`, an oops, a
/// Rust panic, an IOMMU fault, ...).
fn is_trouble_for(record: &Record, module: &str, address: &str) -> bool {
    let text = &record.text;
    text.contains(module) || text.contains(address) || trouble::is_trouble(record)
}

/// Reads the records logged since the last read.
fn read(log: &mut KernelLog) -> Result<Vec<Record>, String> {
    log.read_records()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))
}

/// Binds the device at `address` to vfio-pci, runs `c`'s driver binary with `params` on it until
/// it reports the device bound, stops it, and returns what it logged about the device.
pub(super) fn drydock_run(
    c: &Comparison,
    params: &[&str],
    address: &str,
) -> Result<Vec<String>, String> {
    let prefix = format!("{} {address}: ", c.module);
    sysfs::bind(address, "vfio-pci")?;
    let binary = std::env::current_exe()
        .map_err(|e| format!("cannot find own binary: {e}"))?
        .with_file_name(c.binary);
    let mut command = Command::new(&binary);
    command
        .args(params)
        .arg(address)
        .env("DRYDOCK_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut words = vec![binary.display().to_string()];
    words.extend(params.iter().map(|p| p.to_string()));
    words.push(address.to_owned());
    let shown = words.join(" ");
    println!("$ {shown}");
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", binary.display()))?;
    // The runtime logs `<device>: bound to <driver>` once the probe has returned.
    let bound_line = format!("{address}: bound to {}", c.module);
    let (lines_tx, lines) = mpsc::channel();
    let stderr = child.stderr.take().ok_or("no standard error")?;
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = lines_tx.send(line.clone());
            all.push(line);
        }
        all
    });
    let deadline = Instant::now() + PROBE_TIMEOUT;
    let bound = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if line.ends_with(&bound_line) => break true,
            Ok(_) => {}
            // The binary exited, or did not bind in time.
            Err(_) => break false,
        }
    };
    // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not yet waited
    // for.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let status = child
        .wait()
        .map_err(|e| format!("cannot wait for {}: {e}", binary.display()))?;
    let log = reader.join().unwrap_or_default();
    println!(
        "--- the drydock run's log ({status}) ---\n{}",
        log.join("\n")
    );
    ensure!(
        bound,
        "`{shown}` did not bind {address} within {PROBE_TIMEOUT:?}; its log is above"
    );
    // Exit status 0: stopped by the signal, the module unloaded.
    ensure!(
        status.success(),
        "`{shown}` did not stop cleanly after SIGTERM ({status}); its log is above"
    );
    Ok(log
        .iter()
        .filter_map(|line| logged_message(line))
        .filter_map(|message| about_the_devices(c, &prefix, message))
        .collect())
}

/// The message of one line of the binary's log, `LEVEL target: message`, if it was logged at info
/// or more severe.
pub(super) fn logged_message(line: &str) -> Option<&str> {
    let (level, rest) = line.split_once(' ')?;
    if !["ERROR", "WARN", "INFO"].contains(&level) {
        return None;
    }
    Some(rest.trim_start().split_once(": ")?.1)
}

/// Checks that `lines` holds a line matching each of `expected`, in that order.
pub(super) fn check_expected(expected: &[&str], lines: &[String]) -> CaseResult {
    let mut rest = lines.iter();
    for pattern in expected {
        ensure!(
            rest.any(|line| matches(pattern, line)),
            "no line like `{pattern}` (in order after the lines before it)"
        );
    }
    Ok(())
}

/// Whether `line` matches `pattern`, in which `*` stands for any text.
fn matches(pattern: &str, line: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = line.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_whole_lines_with_wildcards() {
        assert!(matches(
            "edu version 1.0 is alive",
            "edu version 1.0 is alive"
        ));
        assert!(!matches("edu version 1.0", "edu version 1.0 is alive"));
        assert!(matches(
            "test NoEventfd: offset *, data *, count 1",
            "test NoEventfd: offset 0x100, data 0xfa, count 1"
        ));
        assert!(!matches(
            "test NoEventfd: offset *, data *, count 1",
            "test NoEventfd: offset 0x100, data 0xfa, count 11"
        ));
        assert!(matches("a*b*c", "abc"));
        assert!(!matches("ab*b", "ab"));
    }

    #[test]
    fn expected_lines_must_come_in_order() {
        let lines: Vec<String> = ["a 1", "b 2", "c 3"].map(String::from).to_vec();
        assert!(check_expected(&["a *", "c *"], &lines).is_ok());
        assert!(check_expected(&["c *", "a *"], &lines).is_err());
        assert!(check_expected(&["d"], &lines).is_err());
    }

    #[test]
    fn log_lines_give_their_message_at_info_or_above() {
        assert_eq!(
            logged_message("INFO  edu: edu 0000:00:02.0: interrupts by Msi"),
            Some("edu 0000:00:02.0: interrupts by Msi")
        );
        assert_eq!(logged_message("WARN  drydock: x: y"), Some("x: y"));
        assert_eq!(logged_message("DEBUG drydock: 0000:00:02.0 BAR0"), None);
        assert_eq!(logged_message("    0x0,"), None);
    }

    #[test]
    fn every_comparison_has_a_listed_case() {
        for comparison in COMPARISONS {
            let name = format!("in_kernel_{}", comparison.module);
            assert!(super::super::CASES.iter().any(|c| c.name == name), "{name}");
        }
    }
}
