//! Leaks over repeated driver lifetimes in one process: the edu and NVMe drivers loaded, their
//! device opened, I/O done, and everything stopped again, cycle after cycle, while the process's
//! file descriptors, threads, locked and pinned memory and resident set are watched, and so are
//! the DMA mappings VFIO counts in each cycle's container.
//!
//! A module is loaded into a bus of its own each time ([`Session::start`]), so one process can
//! load and unload a driver as often as the kernel's `insmod` and `rmmod` can; what a cycle
//! leaves behind adds up here. What is measured, after every cycle:
//!
//! - file descriptors (`/proc/self/fd`) and threads (`/proc/self/task`): those before the first
//!   cycle, exactly;
//! - locked memory (`VmLck`, what type1 charges for its mappings) and pinned memory (`VmPin`,
//!   what iommufd charges): those before the first cycle, exactly;
//! - while the driver runs, after its I/O: locked plus pinned memory exactly what `drydock check
//!   --for PROGRAM` holds `RLIMIT_MEMLOCK` against ([`DmaNeed`]);
//! - the resident set (`VmRSS`): under [`RSS_GROWTH_LIMIT`] more after cycle 200 (or the last)
//!   than after the first cycle (which allocates what the process keeps: the logger, lazily
//!   built tables), and over every [`RSS_WINDOW`] cycles after that;
//! - over the group interface, the mappings VFIO's type1 backend still allows in the container
//!   (`dma_avail` of `VFIO_IOMMU_GET_INFO`'s DMA_AVAIL capability), read while the driver runs
//!   after its I/O: the same in every cycle, and below the backend's limit (the driver did map
//!   something). The container goes with the cycle's last device, so this catches mappings
//!   leaked within a driver's lifetime; those of earlier cycles show as locked memory or file
//!   descriptors. iommufd keeps no such count; over the cdev, pinned memory stands for it.

use std::sync::Arc;
use std::time::Instant;

use drydock_admin::readiness::DmaNeed;
use drydock_host::module::ModuleDescriptor;
use drydock_host::pci::RawPciDevice;
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::{VfioFunction, VfioOptions};
use drydock_nvme::{IoCommand, NvmeDriver, QueueConfig};
use drydock_runner::runtime::Session;
use edu::EduDriver;
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::io::Io as _;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;

use super::drivers::with_driver;
use super::{ensure, CaseResult};
use crate::{edu as edu_device, sysfs};
use drydock_sim::pattern;

/// The cycles each case runs in CI: 200 took 97 s (edu) and 128 s (NVMe) on a loaded machine,
/// so CI runs half, in about a minute each; the long variant runs any number (docs/testing.md).
pub const CYCLES: u32 = 100;
/// The resident set is compared every this many cycles (and after the last).
const RSS_WINDOW: u32 = 200;
/// The most the resident set may grow over a window: from the end of the first cycle to the end
/// of cycle 200, then over each 200 cycles more.
const RSS_GROWTH_LIMIT: u64 = 1 << 20;

/// What a process holds, from `/proc/self`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Held {
    /// Open file descriptors.
    fds: usize,
    /// Threads.
    threads: usize,
    /// Locked memory (`VmLck`), bytes.
    locked: u64,
    /// Pinned memory (`VmPin`), bytes.
    pinned: u64,
}

/// What a process holds now, and its resident set in bytes.
fn measure() -> Result<(Held, u64), String> {
    let count = |dir: &str| {
        std::fs::read_dir(dir)
            .map(|entries| entries.count())
            .map_err(|e| format!("cannot list {dir}: {e}"))
    };
    let pid = std::process::id();
    let held = Held {
        fds: count("/proc/self/fd")?,
        threads: count("/proc/self/task")?,
        locked: super::state::memory(pid, "VmLck")?,
        pinned: super::state::memory(pid, "VmPin")?,
    };
    Ok((held, super::state::memory(pid, "VmRSS")?))
}

/// Opens the device at `address` (bound to vfio-pci) through drydock's VFIO backend and loads
/// `module` over it, which must bind it; returns the device's VFIO function too, for what a test
/// asks VFIO directly.
pub(super) fn start(
    module: &'static ModuleDescriptor,
    address: &str,
) -> Result<(Arc<VfioFunction>, Session), String> {
    let function = Arc::new(
        VfioFunction::open(address, &Sysfs::system(), VfioOptions::default())
            .map_err(|e| format!("opening {address}: {e}"))?,
    );
    let device = RawPciDevice::create(address, function.clone()).map_err(|e| e.to_string())?;
    let session = Session::start(module, vec![device])
        .map_err(|e| format!("loading {}: {e:?}", module.info.name))?;
    ensure!(
        !session.bound().is_empty(),
        "{} did not bind {address}: its probe failed (see the log above)",
        module.info.name
    );
    Ok((function, session))
}

/// One cycle's I/O on the bound device, given the session.
type Io = fn(&Session) -> CaseResult;

/// Runs `cycles` cycles of `module` on the device at `address` (bound to vfio-pci): open the
/// device, load the module over it, run `io`, read the container's `dma_avail`, stop. Checks
/// what the module's documentation lists.
fn cycles(
    module: &'static ModuleDescriptor,
    program: &str,
    address: &str,
    cycles: u32,
    io: Io,
) -> CaseResult {
    let need = DmaNeed::of(program).ok_or_else(|| format!("drydock knows no need of {program}"))?;
    let (baseline, _) = measure()?;
    println!("before the first cycle: {baseline:?}");
    let began = Instant::now();
    // The first cycle's `dma_avail`, and the resident set at the last checkpoint.
    let mut first: Option<(Option<u32>, u32, u64)> = None;
    for cycle in 1..=cycles {
        let (function, session) =
            start(module, address).map_err(|e| format!("cycle {cycle}: {e}"))?;
        io(&session).map_err(|e| format!("cycle {cycle}: {e}"))?;
        let dma_avail = match function.group() {
            Some(group) => {
                group
                    .container()
                    .iommu_info()
                    .map_err(|e| format!("cycle {cycle}: {e}"))?
                    .dma_avail
            }
            None => None,
        };
        let (running, _) = measure()?;
        // Type1 charges its mappings as locked memory, iommufd as pinned memory.
        ensure!(
            running.locked + running.pinned == need.bytes,
            "cycle {cycle}: {running:?} while the driver ran; `drydock check --for {program}` \
             expects {} bytes locked or pinned",
            need.bytes
        );
        // The session holds the device's last references once this one goes.
        drop(function);
        session.stop();
        let (held, rss) = measure()?;
        ensure!(
            held == baseline,
            "after cycle {cycle}: {held:?}, before the first: {baseline:?}"
        );
        match &mut first {
            None => {
                println!(
                    "cycle 1: while the driver ran, after its I/O: {running:?}, dma_avail \
                     {dma_avail:?}; after it stopped: resident {rss} bytes"
                );
                if let Some(avail) = dma_avail {
                    ensure!(
                        avail < u32::from(u16::MAX),
                        "dma_avail {avail} while the driver ran: nothing mapped?"
                    );
                }
                first = Some((dma_avail, 1, rss));
            }
            Some((first_avail, since, since_rss)) => {
                ensure!(
                    dma_avail == *first_avail,
                    "cycle {cycle}: dma_avail {dma_avail:?} while the driver ran, {first_avail:?} \
                     in the first cycle"
                );
                if cycle % RSS_WINDOW == 0 || cycle == cycles {
                    let growth = rss.saturating_sub(*since_rss);
                    println!(
                        "after cycle {cycle}: resident {rss} bytes ({growth} more than after \
                         cycle {since}); {held:?}"
                    );
                    ensure!(
                        growth < RSS_GROWTH_LIMIT,
                        "the resident set grew by {growth} bytes from cycle {since} to {cycle}"
                    );
                    (*since, *since_rss) = (cycle, rss);
                }
            }
        }
    }
    println!(
        "{cycles} cycles of {} in {:.1} s",
        module.info.name,
        began.elapsed().as_secs_f64()
    );
    Ok(())
}

/// The edu driver's I/O of a cycle: a factorial (one MSI) and a DMA round trip of 64 bytes.
fn edu_io(session: &Session) -> CaseResult {
    with_driver::<EduDriver, _>(session, |dev, edu| {
        let result = edu.factorial(dev, 10).map_err(|e| format!("10!: {e:?}"))?;
        ensure!(result == 3_628_800, "10! = {result}");
        let data = pattern(u64::from(result), 64);
        edu.write_to_device(dev, 0, &data)
            .map_err(|e| format!("DMA to edu: {e:?}"))?;
        let mut back = [0u8; 64];
        edu.read_from_device(dev, 0, &mut back)
            .map_err(|e| format!("DMA from edu: {e:?}"))?;
        ensure!(back[..] == data[..], "the round trip changed the data");
        Ok(())
    })?
}

/// The NVMe driver's I/O of a cycle: on a new interrupt-driven queue, a 4 KiB write read back.
fn nvme_io(session: &Session) -> CaseResult {
    with_driver::<NvmeDriver, _>(session, |dev, ctrl| nvme_round_trip(dev, ctrl.get_ref()))?
}

/// Writes a block of a pattern and reads it back through a queue created and deleted for it.
fn nvme_round_trip(dev: &pci::Device<Bound>, ctrl: &drydock_nvme::Controller<'_>) -> CaseResult {
    let kerr = |e: kernel::error::Error| format!("{e:?}");
    let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), 8192, GFP_KERNEL).map_err(kerr)?;
    let data = pattern(0x1eaf, 4096);
    kernel::io::io_project!(&buffer, [panic: 0..4096]).copy_from_slice(&data);
    let queue = ctrl
        .create_io_queue(
            dev,
            QueueConfig {
                interrupts: true,
                ..QueueConfig::default()
            },
        )
        .map_err(kerr)?;
    let io = |command: IoCommand<'_>| queue.execute(dev, &command).map_err(kerr);
    let written = io(IoCommand::Write {
        lba: 64,
        blocks: 8,
        buffer: &buffer,
        offset: 0,
    })
    .and_then(|_| {
        io(IoCommand::Read {
            lba: 64,
            blocks: 8,
            buffer: &buffer,
            offset: 4096,
        })
    });
    let deleted = ctrl.delete_io_queue(dev, &queue).map_err(kerr);
    written?;
    deleted?;
    let mut back = vec![0; 4096];
    kernel::io::io_project!(&buffer, [panic: 4096..8192]).copy_to_slice(&mut back);
    ensure!(
        back == data,
        "the block read back differs from the one written"
    );
    Ok(())
}

/// Which driver [`run`] cycles.
#[derive(Clone, Copy, Debug)]
pub enum Driver {
    /// The edu driver, on edu.
    Edu,
    /// The NVMe driver, on NVMe controller 0 (taken from the kernel's nvme driver and given back).
    Nvme,
}

/// Runs `count` cycles of `driver` on its device; binds the device to vfio-pci first and, for
/// NVMe, gives the controller back to its driver afterwards.
pub fn run(driver: Driver, count: u32) -> CaseResult {
    match driver {
        Driver::Edu => {
            let address = edu_device::address();
            sysfs::bind(&address, "vfio-pci")?;
            cycles(&edu::__DRYDOCK_MODULE, "edu", &address, count, edu_io)
        }
        Driver::Nvme => {
            let address = super::nvme::controller();
            sysfs::bind(&address, "vfio-pci")?;
            let result = cycles(
                &drydock_nvme::__DRYDOCK_MODULE,
                "nvme",
                &address,
                count,
                nvme_io,
            );
            let back = sysfs::give_back(&address);
            result?;
            back
        }
    }
}

/// [`CYCLES`] load, open, I/O and stop cycles of the edu driver on edu.
pub fn edu_driver_load_cycles() -> CaseResult {
    run(Driver::Edu, CYCLES)
}

/// [`CYCLES`] load, open, I/O and stop cycles of the NVMe driver on controller 0.
pub fn nvme_driver_load_cycles() -> CaseResult {
    run(Driver::Nvme, CYCLES)
}
