//! Cases that drive QEMU's NVMe controller 0 with drydock's NVMe driver (`drivers/nvme`) through
//! VFIO: bring-up and Identify, data integrity over 100,000 I/Os, the error paths (a read beyond
//! the namespace, a command that never completes), and a process killed with SIGKILL in the
//! middle of I/O followed by a restart. Controller 1 stays with the kernel's nvme driver; each
//! case gives controller 0 back to it at the end.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use drydock_guest::layout::{self, Role};
use drydock_nvme::{IoCommand, QueueConfig, Status};
use kernel::dma::Coherent;
use kernel::error::code::{ERANGE, ETIMEDOUT};
use kernel::io::Io as _;
use kernel::pci::IrqType;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;
use nvme_bench::drydock::Drydock;
use nvme_bench::integrity;

use super::{ensure, CaseResult};
use crate::sysfs;

/// The controller drydock drives.
pub(super) fn controller() -> String {
    layout::device(Role::Nvme {
        index: 0,
        serial: "drydock-nvme0",
    })
    .address()
}

fn kerr(e: kernel::error::Error) -> String {
    format!("{e:?}")
}

/// Binds the driver and checks what Identify reported, then writes and reads back one block on
/// a polled and on an interrupt-driven queue; once the driver lets go, the controller is back
/// with the driver it had.
pub fn nvme_driver_binds_and_identifies() -> CaseResult {
    let original = sysfs::driver(&controller());
    let device = Drydock::open(&controller())?;
    device.with(|dev, ctrl| {
        let info = ctrl.info();
        let ns = ctrl.namespace();
        println!(
            "{} serial {} firmware {}; namespace {}: {} blocks of {} bytes; {} I/O queues, {} KiB \
             transfers, {} {:?} vectors",
            info.model(),
            info.serial(),
            info.firmware(),
            ns.id,
            ns.blocks,
            ns.block_size(),
            ctrl.max_io_queues(),
            ctrl.max_transfer() / 1024,
            ctrl.irq_vectors(),
            ctrl.irq_type()
        );
        ensure!(info.model() == "QEMU NVMe Ctrl", "model {:?}", info.model());
        ensure!(
            info.serial() == "drydock-nvme0",
            "serial {:?}",
            info.serial()
        );
        ensure!(
            ns.blocks * ns.block_size() as u64 == 64 << 20,
            "namespace of {} bytes, expected 64 MiB",
            ns.blocks * ns.block_size() as u64
        );
        ensure!(ctrl.max_transfer() == 512 * 1024, "MDTS 7 gives 512 KiB");
        ensure!(matches!(ctrl.irq_type(), IrqType::MsiX), "MSI-X expected");
        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), 8192, GFP_KERNEL).map_err(kerr)?;
        let data: Vec<u8> = (0..4096u32).map(|i| (i * 7 + 3) as u8).collect();
        for interrupts in [false, true] {
            let queue = ctrl
                .create_io_queue(
                    dev,
                    QueueConfig {
                        interrupts,
                        ..QueueConfig::default()
                    },
                )
                .map_err(kerr)?;
            kernel::io::io_project!(&buffer, [panic: 0..4096]).copy_from_slice(&data);
            let write = IoCommand::Write {
                lba: 16,
                blocks: 8,
                buffer: &buffer,
                offset: 0,
            };
            queue.execute(dev, &write).map_err(kerr)?;
            let read = IoCommand::Read {
                lba: 16,
                blocks: 8,
                buffer: &buffer,
                offset: 4096,
            };
            queue.execute(dev, &read).map_err(kerr)?;
            let mut back = vec![0; 4096];
            kernel::io::io_project!(&buffer, [panic: 4096..8192]).copy_to_slice(&mut back);
            ensure!(
                back == data,
                "the block read back differs (interrupts: {interrupts})"
            );
            println!(
                "queue {} (interrupts: {interrupts}): {:?}",
                queue.id(),
                queue.stats()
            );
            ctrl.delete_io_queue(dev, &queue).map_err(kerr)?;
        }
        Ok(())
    })??;
    drop(device);
    let now = sysfs::driver(&controller());
    ensure!(
        now == original,
        "the controller is with {now:?} after the driver let go, not with {original:?}"
    );
    Ok(())
}

/// Writes patterns across the namespace, runs 100,000 random reads and writes at mixed sizes and
/// queue depths on a polled and an interrupt-driven queue, and reads everything back: no block
/// may differ from what was last written to it.
pub fn nvme_data_integrity() -> CaseResult {
    const IOS: u64 = 100_000;
    let device = Drydock::open(&controller())?;
    let start = Instant::now();
    let report = device.with(|dev, ctrl| {
        integrity::run(dev, ctrl, IOS, 0x5eed, &|done| {
            println!("{done} I/Os after {:.1} s", start.elapsed().as_secs_f64());
        })
    })??;
    println!("{report:#?}");
    ensure!(report.errors == 0, "{} I/Os failed", report.errors);
    ensure!(
        report.mismatches == 0,
        "{} blocks differ; first: {}",
        report.mismatches,
        report.first_mismatch.unwrap_or_default()
    );
    ensure!(report.ios > IOS, "only {} I/Os ran", report.ios);
    println!(
        "{} I/Os, {} MiB, {} blocks checked in {:.1} s",
        report.ios,
        report.bytes >> 20,
        report.blocks_checked,
        report.elapsed.as_secs_f64()
    );
    Ok(())
}

/// A read beyond the namespace gets the controller's LBA Out of Range; a command the controller
/// is never told about (placed without a doorbell) times out after the queue's timeout, is taken
/// back (its submission queue deleted and created again), and the queue goes on working.
pub fn nvme_error_paths() -> CaseResult {
    let device = Drydock::open(&controller())?;
    device.with(|dev, ctrl| {
        let blocks = ctrl.namespace().blocks;
        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), 8192, GFP_KERNEL).map_err(kerr)?;
        for interrupts in [false, true] {
            let queue = ctrl
                .create_io_queue(
                    dev,
                    QueueConfig {
                        depth: 8,
                        interrupts,
                        timeout: Delta::from_millis(1000),
                    },
                )
                .map_err(kerr)?;
            let beyond = IoCommand::Read {
                lba: blocks - 1,
                blocks: 2,
                buffer: &buffer,
                offset: 0,
            };
            let tag = queue.submit(dev, &beyond).map_err(kerr)?;
            let completion = queue.wait_for(dev, tag).map_err(kerr)?;
            println!("read beyond the namespace: {}", completion.status);
            ensure!(
                completion.status == Status::Device(0x4080),
                "expected LBA Out of Range with DNR, got {}",
                completion.status
            );
            ensure!(completion.to_result() == Err(ERANGE), "not ERANGE");

            let silent = IoCommand::Read {
                lba: 0,
                blocks: 1,
                buffer: &buffer,
                offset: 0,
            };
            let start = Instant::now();
            let tag = queue.queue(dev, &silent).map_err(kerr)?;
            let completion = queue.wait_for(dev, tag).map_err(kerr)?;
            let waited = start.elapsed();
            println!(
                "a command without its doorbell: {} after {} ms",
                completion.status,
                waited.as_millis()
            );
            ensure!(
                completion.to_result() == Err(ETIMEDOUT),
                "expected a timeout"
            );
            ensure!(
                waited >= Duration::from_millis(1000) && waited < Duration::from_secs(10),
                "timed out after {waited:?}, expected about 1 s"
            );
            // Before reporting the timeout, the driver took the command back: it deleted the
            // submission queue and created it again, empty. The next doorbell announces only the
            // next command, and the queue works.
            let ok = IoCommand::Read {
                lba: 1,
                blocks: 1,
                buffer: &buffer,
                offset: 4096,
            };
            queue.execute(dev, &ok).map_err(kerr)?;
            let stats = queue.stats();
            println!("queue {} (interrupts: {interrupts}): {stats:?}", queue.id());
            ensure!(
                stats.timeouts == 1 && stats.recoveries == 1 && stats.late == 0,
                "{stats:?}"
            );
            ensure!(stats.spurious == 0, "{stats:?}");
            ctrl.delete_io_queue(dev, &queue).map_err(kerr)?;
        }
        Ok(())
    })?
}

/// Kills a process in the middle of I/O through the driver (32 writes in flight) with SIGKILL,
/// then binds the driver again in this process and checks data integrity.
pub fn nvme_sigkill_then_restart() -> CaseResult {
    let bench = std::env::current_exe()
        .map_err(|e| e.to_string())?
        .with_file_name("nvme-bench");
    let mut child = Command::new(&bench)
        .args(["hammer", &controller()])
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", bench.display()))?;
    let stdout = child.stdout.take().ok_or("no standard output")?;
    let mut lines = BufReader::new(stdout).lines();
    let mut hammering = 0;
    // Let it run a few progress reports (two a second).
    while hammering < 4 {
        match lines.next() {
            Some(Ok(line)) if line.starts_with("hammering") => {
                hammering += 1;
                println!("child: {line}");
            }
            Some(Ok(_)) => {}
            _ => {
                let status = child.wait().map_err(|e| e.to_string())?;
                return Err(format!("the child ended before running I/O: {status}"));
            }
        }
    }
    // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's.
    let killed = unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    ensure!(killed == 0, "kill failed");
    let status = child.wait().map_err(|e| e.to_string())?;
    println!("child: {status}");
    ensure!(
        std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL),
        "the child was not killed by SIGKILL: {status}"
    );

    let start = Instant::now();
    let device = Drydock::open(&controller())?;
    println!(
        "the driver bound again in {} ms",
        start.elapsed().as_millis()
    );
    let report = device.with(|dev, ctrl| integrity::run(dev, ctrl, 5000, 0xdead, &|_| {}))??;
    println!("{report:#?}");
    ensure!(
        report.errors == 0 && report.mismatches == 0,
        "after the restart: {} errors, {} mismatches ({})",
        report.errors,
        report.mismatches,
        report.first_mismatch.unwrap_or_default()
    );
    // The killed process took the controller from the kernel's driver and could not give it
    // back; this one found it on vfio-pci, so its `Drydock` leaves it there. As `drydock unbind`
    // would:
    drop(device);
    give_back_to_nvme()
}

/// Gives controller 0 back to the kernel's nvme driver, as `drydock unbind` would, after driver
/// processes that could not (killed ones) took it, and checks that nvme has it.
pub(super) fn give_back_to_nvme() -> CaseResult {
    sysfs::give_back(&controller())?;
    let driver = sysfs::driver(&controller());
    ensure!(
        driver.as_deref() == Some("nvme"),
        "the controller went back to {driver:?}, not nvme"
    );
    Ok(())
}
