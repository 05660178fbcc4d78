//! A block device made through configfs: Linux's Rust null block driver (`rnull_mod`) in the
//! kernel, configured under `/sys/kernel/config/rnull`, and the same files built as a drydock
//! process, configured on the process's configfs mount and serving its disk through ublk. The same
//! shell scripts make a device, set its size, block size and rotational flag, power it on, read
//! the disk's queue from sysfs and read and write it with `dd` (`O_DIRECT`, so each block reaches
//! the driver's `queue_rq`), power it off and on, and remove it; both runs must print the same,
//! and the disk must go when the device is powered off or removed.
//!
//! The disk's name is the one difference the scripts are not shown: in the kernel it is the
//! device's (`nullb0`), through drydock ublk's (`ublkbN`, which the process logs).

use std::path::Path;
use std::time::Duration;

use super::driver_process::DriverProcess;
use super::{ensure, shell, CaseResult};
use crate::kmsg::KernelLog;
use crate::{modules, sysfs};

/// The module, and the drydock build's binary.
const MODULE: &str = "rnull_mod";
const BINARY: &str = "rnull";
/// Where the module is in the module tree.
const MODULE_PATH: &str = "kernel/drivers/block/rnull/rnull_mod.ko";
/// Where configfs is mounted for the in-kernel run, and where the drydock run mounts its tree
/// (`DRYDOCK_CONFIGFS`).
const KERNEL_CONFIGFS: &str = "/sys/kernel/config";
const DRYDOCK_CONFIGFS: &str = "/run/drydock-test/configfs";
/// The device the scripts make.
const DEVICE: &str = "nullb0";
/// How long a mount, a disk or its removal may take.
const PATIENCE: Duration = Duration::from_secs(30);

/// Makes the device and powers it on, in the subsystem's directory: its defaults, a size of 16 MiB,
/// 512-byte blocks, a rotational medium; then a change the driver refuses while it is powered.
const POWER_ON: &str = "\
cat features
mkdir nullb0
ls -1 nullb0
cat nullb0/power nullb0/size nullb0/blocksize nullb0/rotational nullb0/irqmode
echo 16 > nullb0/size
echo 512 > nullb0/blocksize
echo 1 > nullb0/rotational
echo 1 > nullb0/power
cat nullb0/power nullb0/size nullb0/blocksize nullb0/rotational
echo 32 > nullb0/size 2>/dev/null; echo \"status of a size change while powered: $?\"
";

/// What [`POWER_ON`] prints.
const POWERED_ON: &str = "\
blocksize,size,rotational,irqmode
blocksize
irqmode
power
rotational
size
0
4096
4096
0
0
1
16
512
1
status of a size change while powered: 1
";

/// Reads the disk's queue and uses it, with `$NAME` its name and `$DISK` its node: 16 MiB in
/// sectors, the block sizes, rotational, one hardware queue of 256 tags; writes, reads, and a read
/// of the last 4 KiB to the end of the disk.
const USE_DISK: &str = "\
set -o pipefail
cd /sys/block/$NAME
cat size queue/logical_block_size queue/physical_block_size queue/rotational
ls mq
cat mq/0/nr_tags
dd if=/dev/zero of=$DISK bs=4096 count=16 oflag=direct 2>&1 | grep records
dd if=$DISK of=/dev/null bs=512 count=64 iflag=direct 2>&1 | grep records
dd if=$DISK of=/dev/null bs=4096 skip=4095 iflag=direct 2>&1 | grep records
";

/// What [`USE_DISK`] prints.
const USED: &str = "\
32768
512
512
1
0
256
16+0 records in
16+0 records out
64+0 records in
64+0 records out
1+0 records in
1+0 records out
";

/// The in-kernel driver and its drydock build, driven by the same scripts.
pub fn in_kernel_rnull() -> CaseResult {
    let in_kernel = kernel_run()?;
    let drydock = drydock_run()?;
    println!("--- in the kernel ---\n{in_kernel}--- through drydock ---\n{drydock}");
    let expected = format!("{POWERED_ON}{USED}0\n{USED}");
    ensure!(
        in_kernel == expected,
        "in the kernel, the scripts printed\n{in_kernel}\nrather than\n{expected}"
    );
    ensure!(
        drydock == in_kernel,
        "through drydock, the scripts printed\n{drydock}\nrather than, as in the kernel,\n{in_kernel}"
    );
    Ok(())
}

/// Loads the module, runs the scripts in its configfs directory, unloads it.
fn kernel_run() -> Result<String, String> {
    ensure!(
        !modules::is_loaded(MODULE),
        "module {MODULE} is loaded already"
    );
    shell::mount_once("configfs", KERNEL_CONFIGFS)?;
    let mut log = KernelLog::from_now()?;
    modules::load(&modules::module_tree()?.join(MODULE_PATH), "")?;
    let subsystem = Path::new(KERNEL_CONFIGFS).join("rnull");
    // The in-kernel disk has the device's name.
    let output = scripts(&subsystem, &mut || {
        let name = DEVICE.to_owned();
        appears(&name).map(|()| name)
    });
    let unloaded = modules::unload(MODULE);
    let records = log.show_new(Some("kernel log of the in-kernel run"))?;
    let output = output?;
    unloaded?;
    ensure!(
        records
            .iter()
            .any(|r| r.text.ends_with("Rust null_blk loaded")),
        "the in-kernel driver did not log that it loaded"
    );
    ensure!(
        !subsystem.exists(),
        "{} is still there after unloading",
        subsystem.display()
    );
    Ok(output)
}

/// Runs the driver as a drydock process with its configfs tree at [`DRYDOCK_CONFIGFS`], runs the
/// scripts there, stops the process.
fn drydock_run() -> Result<String, String> {
    println!("$ DRYDOCK_CONFIGFS={DRYDOCK_CONFIGFS} {BINARY}");
    let mut process = DriverProcess::start(
        BINARY,
        &[],
        &[
            ("DRYDOCK_CONFIGFS", DRYDOCK_CONFIGFS),
            ("DRYDOCK_LOG", "info"),
        ],
    )?;
    let subsystem = Path::new(DRYDOCK_CONFIGFS).join("rnull");
    let mounted = sysfs::wait_for(PATIENCE, || {
        subsystem.join("features").exists().then_some(())
    });
    let output = match mounted {
        // ublk names the disk, and the process logs which name it got.
        Some(()) => scripts(&subsystem, &mut || {
            let line = process.wait_for_line(&format!("{DEVICE}: served as /dev/"))?;
            let name = line
                .rsplit_once("/dev/")
                .map(|(_, name)| name.trim().to_owned())
                .ok_or_else(|| format!("no disk name in `{line}`"))?;
            appears(&name).map(|()| name)
        }),
        None => Err(format!(
            "{} did not appear within {PATIENCE:?}",
            subsystem.display()
        )),
    };
    let stopped = process.stop_with(libc::SIGTERM);
    let output = output?;
    let log = stopped?;
    ensure!(
        log.iter()
            .any(|line| line.ends_with("Rust null_blk loaded")),
        "the drydock run did not log that the driver loaded"
    );
    ensure!(
        !subsystem.exists(),
        "{} is still there after the process stopped",
        subsystem.display()
    );
    Ok(output)
}

/// Runs the scripts in the subsystem's directory `subsystem`: the device made and powered on, its
/// disk used, powered off (the disk goes), on again (a disk again, used again), and removed (the
/// disk goes). `disk` waits for the disk of the device just powered on and returns its name.
fn scripts(
    subsystem: &Path,
    disk: &mut dyn FnMut() -> Result<String, String>,
) -> Result<String, String> {
    let mut output = shell::run(subsystem, POWER_ON, &[])?;
    let name = disk()?;
    output += &use_disk(subsystem, &name)?;
    output += &shell::run(subsystem, "echo 0 > nullb0/power && cat nullb0/power", &[])?;
    goes(&name)?;
    shell::run(subsystem, "echo 1 > nullb0/power", &[])?;
    let name = disk()?;
    output += &use_disk(subsystem, &name)?;
    shell::run(subsystem, "rmdir nullb0", &[])?;
    goes(&name)?;
    Ok(output)
}

/// Runs [`USE_DISK`] on the disk `name`.
fn use_disk(subsystem: &Path, name: &str) -> Result<String, String> {
    let node = format!("/dev/{name}");
    shell::run(subsystem, USE_DISK, &[("NAME", name), ("DISK", &node)])
}

/// Waits for the disk `name` and its node.
pub(super) fn appears(name: &str) -> CaseResult {
    let there =
        || Path::new("/sys/block").join(name).exists() && Path::new("/dev").join(name).exists();
    let appeared = sysfs::wait_for(PATIENCE, || there().then_some(()));
    ensure!(
        appeared.is_some(),
        "the disk {name} did not appear within {PATIENCE:?}"
    );
    Ok(())
}

/// Waits for the disk `name` to go.
pub(super) fn goes(name: &str) -> CaseResult {
    let block = Path::new("/sys/block").join(name);
    let gone = sysfs::wait_for(PATIENCE, || (!block.exists()).then_some(()));
    ensure!(
        gone.is_some(),
        "the disk {name} is still there {PATIENCE:?} after it was removed"
    );
    Ok(())
}
