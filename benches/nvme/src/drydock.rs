//! drydock's NVMe driver in this process: handing a controller to vfio-pci and back, opening it
//! through VFIO, and running workloads on the driver's queues.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use drydock_admin::binding::{self, BindOptions, BindOutcome, UserspaceDriver};
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::{self, VfioOptions};
use drydock_nvme::{Completion, Controller, IoCommand, NvmeDriver, Queue, QueueConfig};
use drydock_runner::runtime::Session;
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::io::Io as _;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;

use crate::stats::{CpuSample, CpuTime, Latencies, Measurement};
use crate::workload::{Op, Rng, Workload, IO_SIZE};

/// A controller handed to vfio-pci by the host binding policy ([`binding::bind`], what `drydock
/// bind` does: it refuses a controller whose namespaces are in use, and records the driver the
/// controller had). Dropping it gives the controller back to that driver ([`binding::unbind`],
/// what `drydock unbind` does) if this binding took it; a controller that was on vfio-pci
/// already stays there.
pub struct VfioBinding {
    /// The devices this binding took from their drivers.
    taken: Vec<String>,
}

impl VfioBinding {
    /// Hands the controller at `address` to vfio-pci, unless it is bound to it already.
    pub fn take(address: &str) -> Result<Self, String> {
        let outcomes = binding::bind(
            &Sysfs::system(),
            &[address],
            UserspaceDriver::VfioPci,
            BindOptions::default(),
        )
        .map_err(|e| format!("handing {address} to vfio-pci: {e}"))?;
        let taken = outcomes
            .into_iter()
            .filter(|(_, outcome)| matches!(outcome, BindOutcome::Bound { .. }))
            .map(|(address, _)| address)
            .collect();
        Ok(Self { taken })
    }
}

impl Drop for VfioBinding {
    fn drop(&mut self) {
        for address in &self.taken {
            if let Err(e) = binding::unbind(&Sysfs::system(), address) {
                eprintln!("nvme-bench: giving {address} back to its driver: {e}");
            }
        }
    }
}

/// A controller driven by drydock's NVMe driver in this process: bound to vfio-pci, opened
/// through drydock's VFIO backend, with the driver module loaded on a bus of its own. Dropping
/// it unloads the driver (which disables the controller), closes the device, and then gives the
/// controller back to its driver if opening it took it from one ([`VfioBinding`]).
pub struct Drydock {
    address: String,
    // Declared before `_binding`, so that the device is closed before it is unbound (vfio-pci
    // waits for its users to let go).
    session: Session,
    _binding: VfioBinding,
}

impl Drydock {
    /// Hands the controller at `address` to vfio-pci ([`VfioBinding::take`]) and binds drydock's
    /// driver to it.
    pub fn open(address: &str) -> Result<Self, String> {
        let binding = VfioBinding::take(address)?;
        let device = vfio::open(address, &Sysfs::system(), VfioOptions::default())
            .map_err(|e| format!("opening {address} through VFIO: {e}"))?;
        let name = device.name().to_string_lossy().into_owned();
        let session = Session::start(&drydock_nvme::__DRYDOCK_MODULE, vec![device])
            .map_err(|e| format!("loading the driver: {e:?}"))?;
        if session.bound().is_empty() {
            return Err(format!(
                "the driver did not bind {name}; its probe error is in the log"
            ));
        }
        Ok(Self {
            address: name,
            session,
            _binding: binding,
        })
    }

    /// Runs `f` with the bound device and the driver's data.
    pub fn with<R>(
        &self,
        f: impl for<'b> FnOnce(&'b pci::Device<Bound>, &'b Controller<'b>) -> R,
    ) -> Result<R, String> {
        let device = self
            .session
            .bus()
            .device(&self.address)
            .ok_or("the device left the bus")?;
        drydock_runner::driver_data::with_driver_data::<NvmeDriver, _>(&device, |dev, ctrl| {
            f(dev, ctrl.get_ref())
        })
        .map_err(|e| format!("the driver is not bound: {e:?}"))
    }
}

/// Calls `progress` about twice a second while `work` runs, with the I/Os completed so far.
pub fn with_progress<R>(
    completed: &AtomicU64,
    progress: &(dyn Fn(u64) + Sync),
    work: impl FnOnce() -> R,
) -> R {
    let done = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|scope| {
        scope.spawn(|| {
            while !done.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_millis(500));
                progress(completed.load(Ordering::Relaxed));
            }
        });
        let result = work();
        done.store(true, Ordering::Relaxed);
        result
    })
}

/// Runs `workload` on the controller: one queue pair per queue of the workload (polled, or
/// interrupt driven if `interrupts`), one thread each, and deletes the queues afterwards.
/// `progress` is called about twice a second with the I/Os completed so far.
pub fn run(
    dev: &pci::Device<Bound>,
    ctrl: &Controller<'_>,
    workload: &Workload,
    interrupts: bool,
    label: &str,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<Measurement, String> {
    let config = QueueConfig {
        depth: u16::try_from(workload.depth + 1).map_err(|_| "queue depth too large")?,
        interrupts,
        timeout: Delta::from_secs(30),
    };
    let mut queues = Vec::new();
    for _ in 0..workload.queues {
        queues.push(
            ctrl.create_io_queue(dev, config)
                .map_err(|e| format!("creating a queue: {e:?}"))?,
        );
    }
    let completed = AtomicU64::new(0);
    let start = Instant::now();
    let measure_from = start + workload.warmup;
    let until = measure_from + workload.duration;
    let outcome = with_progress(&completed, progress, || {
        std::thread::scope(|scope| {
            let threads: Vec<_> = queues
                .iter()
                .enumerate()
                .map(|(i, queue)| {
                    let completed = &completed;
                    scope.spawn(move || {
                        queue_loop(
                            dev,
                            queue,
                            workload,
                            i as u64 + 1,
                            completed,
                            measure_from,
                            until,
                        )
                    })
                })
                .collect();
            sleep_until(measure_from);
            let cpu_start = CpuSample::now();
            sleep_until(until);
            let cpu = CpuTime::since(cpu_start);
            let mut latencies = Latencies::default();
            let mut errors = 0;
            for thread in threads {
                let (l, e) = thread.join().map_err(|_| "a worker panicked")??;
                latencies.merge(l);
                errors += e;
            }
            Ok::<_, String>((latencies, errors, cpu))
        })
    });
    for queue in &queues {
        let _ = ctrl.delete_io_queue(dev, queue);
    }
    let (latencies, errors, cpu) = outcome?;
    Ok(Measurement::new(
        label,
        *workload,
        latencies,
        errors,
        workload.duration,
        cpu,
    ))
}

fn sleep_until(when: Instant) {
    let now = Instant::now();
    if when > now {
        std::thread::sleep(when - now);
    }
}

/// Keeps `workload.depth` I/Os in flight on `queue`, each on its own 4 KiB of a DMA buffer,
/// until `until`; records the latencies of I/Os completed between `measure_from` and `until`.
/// Returns them with the number of failed I/Os.
fn queue_loop(
    dev: &pci::Device<Bound>,
    queue: &Queue,
    workload: &Workload,
    seed: u64,
    completed: &AtomicU64,
    measure_from: Instant,
    until: Instant,
) -> Result<(Latencies, u64), String> {
    let blocks = (IO_SIZE / queue.namespace().block_size()) as u32;
    let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), workload.depth * IO_SIZE, GFP_KERNEL)
        .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
    kernel::io::io_project!(&buffer, [panic: ..]).copy_from_slice(&vec![0xa5; buffer.len()]);
    let mut rng = Rng::new(seed);
    let slots = workload.slots();
    let mut started = vec![Instant::now(); queue.capacity() + 1];
    let mut slot_of = vec![0usize; queue.capacity() + 1];
    let mut latencies = Latencies::with_capacity(1 << 20);
    let mut errors = 0;
    let mut submit = |slot: usize, started: &mut [Instant], slot_of: &mut [usize]| {
        let lba = rng.below(slots) * u64::from(blocks);
        let command = match workload.op {
            Op::Read => IoCommand::Read {
                lba,
                blocks,
                buffer: &buffer,
                offset: slot * IO_SIZE,
            },
            Op::Write => IoCommand::Write {
                lba,
                blocks,
                buffer: &buffer,
                offset: slot * IO_SIZE,
            },
        };
        let tag = queue
            .queue(dev, &command)
            .map_err(|e| format!("submitting: {e:?}"))?;
        let cid = tag.index();
        started[cid] = Instant::now();
        slot_of[cid] = slot;
        Ok::<_, String>(())
    };
    for slot in 0..workload.depth {
        submit(slot, &mut started, &mut slot_of)?;
    }
    queue.commit(dev).map_err(|e| format!("{e:?}"))?;
    let mut in_flight = workload.depth;
    let mut out = [Completion::default(); 64];
    let mut idle_since = Instant::now();
    while in_flight > 0 {
        let n = queue
            .wait(dev, &mut out, Delta::from_secs(1))
            .map_err(|e| format!("waiting: {e:?}"))?;
        let now = Instant::now();
        if n == 0 {
            if now - idle_since > Duration::from_secs(10) {
                return Err(format!(
                    "no completion for 10 s with {in_flight} I/Os in flight"
                ));
            }
            continue;
        }
        idle_since = now;
        // All of the batch first: its command identifiers are free again, and resubmitting
        // reuses them.
        for completion in &out[..n] {
            in_flight -= 1;
            let cid = completion.tag.index();
            if completion.to_result().is_err() {
                errors += 1;
            } else if now >= measure_from && now <= until {
                latencies.record(now - started[cid]);
                completed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if now < until {
            let mut slots = [0usize; 64];
            for (slot, completion) in slots.iter_mut().zip(&out[..n]) {
                *slot = slot_of[completion.tag.index()];
            }
            for &slot in &slots[..n] {
                submit(slot, &mut started, &mut slot_of)?;
                in_flight += 1;
            }
        }
        queue.commit(dev).map_err(|e| format!("{e:?}"))?;
    }
    Ok((latencies, errors))
}
