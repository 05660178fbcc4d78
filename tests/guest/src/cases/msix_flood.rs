//! An MSI-X flood during NVMe I/O on the real (emulated) controller: while two interrupt-driven
//! queues write and read back blocks, the test fires every vector of the controller's over and
//! over through VFIO (`VFIO_DEVICE_SET_IRQS` with `DATA_NONE | ACTION_TRIGGER`, which signals the
//! vectors' eventfds as the device's messages do), so the driver's handlers run far more often
//! than the controller completes anything, on the admin queue's vector too.
//!
//! Asserted: every I/O completes, once, with success and the data it wrote; no error, timeout,
//! late or spurious completion, no recovery; each queue counts no more interrupts that found
//! completions than its vector delivered; every vector delivered each round of the flood, and no
//! more than the flood and the controller's own messages (the guest kernel's count for
//! `vfio-msix[N](BDF)`, which the flood does not pass through) together; the admin queue still
//! works, with nothing spurious.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

use drydock_host::function::IrqKind;
use drydock_nvme::{IoCommand, NvmeDriver, Queue, QueueConfig};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::io::Io as _;
use kernel::pci::{self, IrqType};
use kernel::prelude::GFP_KERNEL;

use super::drivers::{only_device, with_driver};
use super::{ensure, CaseResult};
use crate::interrupts::host_interrupts;
use crate::sysfs;
use drydock_sim::pattern;

/// Rounds of the flood: each fires every vector once and waits until each has been delivered.
const ROUNDS: u64 = 2000;
/// How long the flood may take.
const PATIENCE: Duration = Duration::from_secs(240);

/// The name VFIO gives the host interrupt of MSI-X vector `vector` of the device at `address`.
fn vfio_msix(vector: u32, address: &str) -> String {
    format!("vfio-msix[{vector}]({address})")
}

/// Floods NVMe controller 0's vectors while two of its queues do I/O; gives the controller back
/// to its driver afterwards.
pub fn nvme_msix_flood_during_io() -> CaseResult {
    let address = super::nvme::controller();
    sysfs::bind(&address, "vfio-pci")?;
    let result = flood(&address);
    let back = sysfs::give_back(&address);
    result?;
    back
}

/// Writes and reads back blocks on `queue` (at LBAs of its own, from `first`) until `flooding`
/// is clear and at least 20 rounds ran; returns how many rounds ran.
fn io_until(
    dev: &pci::Device<Bound>,
    queue: &Queue,
    first: u64,
    flooding: &AtomicBool,
) -> Result<u64, String> {
    let kerr = |e: kernel::error::Error| format!("{e:?}");
    let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), 8192, GFP_KERNEL).map_err(kerr)?;
    let mut n = 0;
    while flooding.load(SeqCst) || n < 20 {
        let lba = first + n % 64;
        let data = pattern(lba + n, 512);
        kernel::io::io_project!(&buffer, [panic: 0..512]).copy_from_slice(&data);
        let write = IoCommand::Write {
            lba,
            blocks: 1,
            buffer: &buffer,
            offset: 0,
        };
        let read = IoCommand::Read {
            lba,
            blocks: 1,
            buffer: &buffer,
            offset: 4096,
        };
        queue.execute(dev, &write).map_err(kerr)?;
        queue.execute(dev, &read).map_err(kerr)?;
        let mut back = vec![0; 512];
        kernel::io::io_project!(&buffer, [panic: 4096..4608]).copy_to_slice(&mut back);
        ensure!(back == data, "LBA {lba}: the block read back differs");
        n += 1;
    }
    Ok(n)
}

fn flood(address: &str) -> CaseResult {
    let kerr = |e: kernel::error::Error| format!("{e:?}");
    let (function, session) = super::leaks::start(&drydock_nvme::__DRYDOCK_MODULE, address)?;
    let device = only_device(&session)?;
    with_driver::<NvmeDriver, _>(&session, |dev, ctrl| -> CaseResult {
        let ctrl = ctrl.get_ref();
        ensure!(matches!(ctrl.irq_type(), IrqType::MsiX), "MSI-X expected");
        let vectors = ctrl.irq_vectors() as u32;
        ensure!(
            vectors >= 3,
            "{vectors} vectors: two queues need one each besides the admin queue's"
        );
        let config = QueueConfig {
            interrupts: true,
            ..QueueConfig::default()
        };
        let queues = [
            ctrl.create_io_queue(dev, config).map_err(kerr)?,
            ctrl.create_io_queue(dev, config).map_err(kerr)?,
        ];
        let lines = (0..vectors)
            .map(|v| {
                device
                    .irq_vector(v)
                    .map_err(|e| format!("vector {v}: {e:?}"))
            })
            .collect::<Result<Vec<u32>, String>>()?;
        let delivered = || -> Vec<u64> {
            lines
                .iter()
                .map(|&line| drydock_host::irq::delivered(line))
                .collect()
        };
        let by_device = || -> Result<Vec<u64>, String> {
            (0..vectors)
                .map(|v| host_interrupts(&vfio_msix(v, address)))
                .collect()
        };
        let (before, device_before) = (delivered(), by_device()?);
        let flooding = AtomicBool::new(true);
        let start = Instant::now();
        let (rounds, ios) = std::thread::scope(|scope| -> Result<(u64, Vec<u64>), String> {
            let workers: Vec<_> = queues
                .iter()
                .enumerate()
                .map(|(i, queue)| {
                    let flooding = &flooding;
                    scope.spawn(move || io_until(dev, queue, 128 * i as u64, flooding))
                })
                .collect();
            let mut rounds = 0;
            let fired = (|| -> CaseResult {
                while rounds < ROUNDS && start.elapsed() < PATIENCE {
                    rounds += 1;
                    function
                        .device()
                        .fire_irqs(IrqKind::MsiX, 0, vectors)
                        .map_err(|e| e.to_string())?;
                    // Each message on its own: two that reach an eventfd before the interrupt
                    // thread reads it are delivered as one.
                    while delivered()
                        .iter()
                        .zip(&before)
                        .any(|(now, was)| now - was < rounds)
                        && start.elapsed() < PATIENCE
                    {
                        std::thread::yield_now();
                    }
                }
                Ok(())
            })();
            flooding.store(false, SeqCst);
            let ios = workers
                .into_iter()
                .map(|worker| {
                    worker
                        .join()
                        .map_err(|_| "an I/O thread panicked".to_owned())?
                })
                .collect::<Result<Vec<u64>, String>>()?;
            fired?;
            Ok((rounds, ios))
        })?;
        let (after, device_after) = (delivered(), by_device()?);
        println!(
            "{rounds} rounds of {vectors} vectors in {:.1} s, {ios:?} write-read rounds per queue",
            start.elapsed().as_secs_f64()
        );
        ensure!(
            rounds == ROUNDS,
            "{rounds} of {ROUNDS} rounds in {PATIENCE:?}"
        );
        for v in 0..vectors as usize {
            let got = after[v] - before[v];
            let sent = device_after[v] - device_before[v];
            println!("vector {v}: {got} delivered, {sent} messages from the controller");
            ensure!(
                got >= ROUNDS,
                "vector {v}: {got} delivered, fewer than the {ROUNDS} rounds"
            );
            ensure!(
                got <= ROUNDS + sent,
                "vector {v}: {got} delivered, more than {ROUNDS} fired and {sent} sent"
            );
        }
        for (queue, ios) in queues.iter().zip(&ios) {
            let stats = queue.stats();
            println!("queue {}: {stats:?}", queue.id());
            ensure!(
                (stats.submitted, stats.completed) == (2 * ios, 2 * ios),
                "queue {}: {} submitted, {} completed, {} expected",
                queue.id(),
                stats.submitted,
                stats.completed,
                2 * ios
            );
            ensure!(
                (
                    stats.errors,
                    stats.timeouts,
                    stats.late,
                    stats.recoveries,
                    stats.spurious
                ) == (0, 0, 0, 0, 0),
                "queue {}: {stats:?}",
                queue.id()
            );
            let vector = usize::from(queue.id());
            let sent = device_after[vector] - device_before[vector];
            ensure!(
                sent > 0,
                "queue {}: the controller sent no interrupt on its vector",
                queue.id()
            );
            ensure!(
                stats.interrupts > 0 && stats.interrupts <= after[vector] - before[vector],
                "queue {}: {} interrupts found completions, {} delivered",
                queue.id(),
                stats.interrupts,
                after[vector] - before[vector]
            );
        }
        for queue in &queues {
            ctrl.delete_io_queue(dev, queue).map_err(kerr)?;
        }
        let admin = ctrl.admin_stats();
        ensure!(
            (admin.errors, admin.timeouts, admin.spurious) == (0, 0, 0),
            "admin queue: {admin:?}"
        );
        Ok(())
    })??;
    drop(function);
    session.stop();
    Ok(())
}
