//! The disk of docs/devices.md, `drivers/nulldisk`, as its binary serves it through ublk: with the
//! page's parameters (`capacity_mib=64 block_size=4096`) and with the defaults and requests ended
//! in `complete` (`deferred=1`), the disk appears with the size, block sizes, hardware queue and
//! tags the driver asked for, `dd` with `O_DIRECT` (each block a request to `queue_rq`) reads and
//! writes it to its last block, a read past the end gets nothing, and `SIGTERM` removes the disk.
//!
//! The driver is not a module of the proof kernel (`tests/kernel/drivers` lists the PCI drivers
//! the proof compares), so the results are compared with the page's, not with an in-kernel run.

use std::path::Path;

use super::driver_process::DriverProcess;
use super::misc_device::node_goes;
use super::rnull::{appears, goes};
use super::{ensure, shell, CaseResult};

/// Reads the disk's queue and uses it, with `$NAME` its name, `$DISK` its node, `$BS` its block
/// size and `$BLOCKS` its size in blocks: the size in sectors, the block sizes, rotational, the
/// hardware queues and the first's tags; 16 blocks written, 256 read, the last block read, and a
/// read past the end.
const USE_DISK: &str = "\
set -o pipefail
cd /sys/block/$NAME
cat size queue/logical_block_size queue/physical_block_size queue/rotational
ls mq
cat mq/0/nr_tags
dd if=/dev/zero of=$DISK bs=$BS count=16 oflag=direct 2>&1 | grep records
dd if=$DISK of=/dev/null bs=$BS count=256 iflag=direct 2>&1 | grep records
dd if=$DISK of=/dev/null bs=$BS skip=$((BLOCKS - 1)) iflag=direct 2>&1 | grep records
dd if=$DISK of=/dev/null bs=$BS skip=$BLOCKS iflag=direct 2>&1 | grep records
";

/// One run of the binary: its parameters, and the disk's size in MiB and block size they give.
struct Run {
    params: &'static [&'static str],
    capacity_mib: u64,
    block_size: u64,
}

/// The page's run, and the defaults with requests ended in `complete`.
const RUNS: &[Run] = &[
    Run {
        params: &["capacity_mib=64", "block_size=4096"],
        capacity_mib: 64,
        block_size: 4096,
    },
    Run {
        params: &["deferred=1"],
        capacity_mib: 16,
        block_size: 512,
    },
];

/// `nulldisk`, with the page's parameters and with `deferred=1`.
pub fn nulldisk_served_through_ublk() -> CaseResult {
    for run in RUNS {
        serve(run)?;
    }
    Ok(())
}

/// Starts the binary with the run's parameters, uses its disk, and stops it with `SIGTERM`.
fn serve(run: &Run) -> CaseResult {
    println!("$ nulldisk {}", run.params.join(" "));
    let mut process = DriverProcess::start("nulldisk", run.params, &[("DRYDOCK_LOG", "info")])?;
    let used = disk_name(&mut process).and_then(|name| {
        appears(&name)?;
        use_disk(run, &name).map(|output| (name, output))
    });
    let (name, output) = match used {
        Ok(used) => used,
        Err(err) => {
            process.kill();
            return Err(err);
        }
    };
    let log = process.stop_with(libc::SIGTERM)?;
    goes(&name)?;
    node_goes(&format!("/dev/{name}"))?;
    let sizes = format!(
        "nulldisk0: {} MiB in {}-byte blocks",
        run.capacity_mib, run.block_size
    );
    ensure!(
        log.iter().any(|line| line.ends_with(&sizes)),
        "the driver did not log `{sizes}`"
    );
    println!("--- /dev/{name} ---\n{output}");
    let expected = expected(run);
    ensure!(
        output == expected,
        "on /dev/{name}, the script printed\n{output}\nrather than\n{expected}"
    );
    Ok(())
}

/// The disk's name, which ublk chose and the process logs.
fn disk_name(process: &mut DriverProcess) -> Result<String, String> {
    let line = process.wait_for_line("nulldisk0: served as /dev/")?;
    line.rsplit_once("/dev/")
        .map(|(_, name)| name.trim().to_owned())
        .ok_or_else(|| format!("no disk name in `{line}`"))
}

/// Runs [`USE_DISK`] on the disk `name`.
fn use_disk(run: &Run, name: &str) -> Result<String, String> {
    let node = format!("/dev/{name}");
    let blocks = (run.capacity_mib << 20) / run.block_size;
    let (bs, blocks) = (run.block_size.to_string(), blocks.to_string());
    let env = [
        ("NAME", name),
        ("DISK", node.as_str()),
        ("BS", bs.as_str()),
        ("BLOCKS", blocks.as_str()),
    ];
    shell::run(Path::new("/"), USE_DISK, &env)
}

/// What [`USE_DISK`] prints on the run's disk: the driver's sizes, not rotational, one hardware
/// queue of 64 tags, every block read and written, nothing past the end.
fn expected(run: &Run) -> String {
    let sectors = run.capacity_mib << 11;
    let size = run.block_size;
    format!(
        "{sectors}\n{size}\n{size}\n0\n0\n64\n\
         16+0 records in\n16+0 records out\n\
         256+0 records in\n256+0 records out\n\
         1+0 records in\n1+0 records out\n\
         0+0 records in\n0+0 records out\n"
    )
}
