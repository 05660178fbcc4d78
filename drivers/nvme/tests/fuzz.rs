//! Property tests: the NVMe driver meets the values a controller chooses, as a broken or hostile
//! one would choose them, on the simulated bus: CAP, Identify Controller and Identify Namespace
//! data, the active namespace list, the Number of Queues answer, and completion entries on the
//! admin and I/O queues (garbage, stale phases, wrong command or submission queue identifiers).
//!
//! Whatever they are: no panic, no DMA outside the driver's buffers (the simulated IOMMU records
//! none), no wait beyond the timeouts the test configures (never one computed from the
//! controller's values), errors returned where the values cannot be used (each property knows
//! which), and at unload the controller disabled and everything released. Each case probes a
//! controller of its own. Case counts, the long variant and the regression files:
//! `drydock_sim::fuzz`.

use std::time::{Duration, Instant};

use drydock_host::module::ModuleHandle;
use drydock_nvme::{Completion, Controller, IoCommand, NvmeDriver, QueueConfig, Status};
use drydock_runner::driver_data::WithDriver;
use drydock_sim::models::nvme::{admin, opcode, Fault, NvmeConfig, CAP};
use drydock_sim::models::Nvme;
use drydock_sim::{fuzz, SimBus, SimDevice};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::error::code::EBUSY;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;
use proptest::prelude::*;

/// A generous bound (the machine may be loaded) on what the model answers at once: waiting on a
/// timeout computed from the controller's values (CAP.TO: up to 128 s) or on the driver's own
/// admin timeout (30 s) exceeds it.
const PROMPT: Duration = Duration::from_secs(5);

/// The timeout of the I/O queues the cases create.
const IO_TIMEOUT: Duration = Duration::from_millis(50);

/// The I/O queue pairs whose doorbells the model's 16 KiB BAR0 holds with a 4-byte stride.
const DOORBELL_PAIRS: u32 = (0x4000 - 0x1000) / 8 - 1;

/// A simulated controller configured by the case, probed by the driver.
struct Rig {
    bus: SimBus,
    device: SimDevice<Nvme>,
    module: Option<ModuleHandle>,
    probe_took: Duration,
}

impl Rig {
    fn new(config: NvmeConfig) -> Self {
        let bus = SimBus::new();
        let device = bus.add(4, Nvme::with_config(config));
        let start = Instant::now();
        let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
        Self {
            probe_took: start.elapsed(),
            bus,
            device,
            module: Some(module),
        }
    }

    fn model(&self) -> &Nvme {
        self.device.model()
    }

    /// Runs `f` on the bound driver's data; `None` if the probe failed.
    fn with<R>(
        &self,
        f: impl for<'b> FnOnce(&'b pci::Device<Bound>, &'b Controller<'b>) -> R,
    ) -> Option<R> {
        self.device
            .with_driver::<NvmeDriver, _>(|dev, ctrl| f(dev, ctrl.get_ref()))
            .ok()
    }

    /// Unloads the driver and checks what every case leaves: a prompt probe and unload, no DMA
    /// fault, nothing the model reports fatal, the controller disabled, no interrupt vectors,
    /// resources or DMA memory.
    fn finish(mut self) -> Result<(), TestCaseError> {
        prop_assert!(self.probe_took < PROMPT, "probe took {:?}", self.probe_took);
        let start = Instant::now();
        drop(self.module.take());
        prop_assert!(
            start.elapsed() < PROMPT,
            "unload took {:?}",
            start.elapsed()
        );
        prop_assert_eq!(
            self.model().csts() & 1,
            0,
            "the controller was left enabled"
        );
        let faults = self.device.dma_faults();
        prop_assert!(faults.is_empty(), "DMA faults: {:x?}", faults);
        let fatal = self.device.function().fatal_errors();
        prop_assert!(fatal.is_empty(), "{:?}", fatal);
        let pdev = self.bus.bus().device(self.device.name()).unwrap();
        prop_assert_eq!(pdev.irq_type(), 0, "interrupt vectors left");
        prop_assert_eq!(pdev.dev.devres_count(), 0, "resources left");
        prop_assert_eq!(
            pdev.dev.dma_space().unwrap().stats().live_allocations,
            0,
            "DMA memory left"
        );
        Ok(())
    }
}

fn buffer(dev: &pci::Device<Bound>, len: usize) -> Coherent<[u8]> {
    Coherent::<u8>::zeroed_slice(dev.as_ref(), len, GFP_KERNEL).unwrap()
}

fn read<'a>(buffer: &'a Coherent<[u8]>) -> IoCommand<'a> {
    IoCommand::Read {
        lba: 0,
        blocks: 1,
        buffer,
        offset: 0,
    }
}

fn queue_config(depth: u16, interrupts: bool) -> QueueConfig {
    QueueConfig {
        depth,
        interrupts,
        timeout: Delta::from_millis(IO_TIMEOUT.as_millis() as i64),
    }
}

/// Writes and reads back a block through a new polled queue, then deletes it.
fn io(dev: &pci::Device<Bound>, ctrl: &Controller<'_>) -> kernel::error::Result {
    let queue = ctrl.create_io_queue(dev, queue_config(4, false))?;
    let buf = buffer(dev, 8192);
    let write = IoCommand::Write {
        lba: 0,
        blocks: 1,
        buffer: &buf,
        offset: 0,
    };
    let result = queue
        .execute(dev, &write)
        .and_then(|_| queue.execute(dev, &read(&buf)));
    ctrl.delete_io_queue(dev, &queue)?;
    result.map(|_| ())
}

/// Bytes set into a 4096-byte page: mostly in `fields` (the ones the driver reads), anywhere
/// else too; values at the edges or anything.
fn patches(fields: Vec<usize>) -> impl Strategy<Value = Vec<(usize, u8)>> {
    let offset = prop_oneof![4 => proptest::sample::select(fields), 1 => 0usize..4096];
    let value = prop_oneof![any::<u8>(), Just(0), Just(0xff), 0u8..16];
    proptest::collection::vec((offset, value), 0..12)
}

/// CAP values: QEMU's with bits flipped, its fields the driver reads set to anything (the
/// doorbell stride mostly QEMU's), or anything.
fn cap() -> impl Strategy<Value = u64> {
    let fields = (
        prop_oneof![Just(0u64), Just(1), any::<u16>().prop_map(u64::from)],
        any::<u8>(),
        prop_oneof![8 => Just(0u64), 1 => 0u64..16],
        prop_oneof![Just(0xc1u64), any::<u8>().prop_map(u64::from)],
        prop_oneof![Just(0u64), 0u64..16],
    )
        .prop_map(|(mqes, to, dstrd, css, mpsmin)| {
            let cleared = CAP & !(0xffff | 0xff << 24 | 0xf << 32 | 0xff << 37 | 0xf << 48);
            cleared | mqes | u64::from(to) << 24 | dstrd << 32 | css << 37 | mpsmin << 48
        });
    let flipped = proptest::collection::vec(0u32..64, 1..4)
        .prop_map(|bits| bits.iter().fold(CAP, |cap, bit| cap ^ 1 << bit));
    prop_oneof![fields, flipped, any::<u64>()]
}

/// Whether Identify's queue entry sizes byte `sizes` (required in bits 3:0, maximum in 7:4)
/// admits entries of 2^`size` bytes.
fn admits(sizes: u8, size: u8) -> bool {
    sizes & 0xf <= size && size <= sizes >> 4
}

/// The driver's largest transfer for an MDTS of `mdts`: 4 KiB << MDTS, at most 8 MiB.
fn max_transfer(mdts: u8) -> usize {
    if mdts == 0 || mdts >= 11 {
        8 << 20
    } else {
        4096 << mdts
    }
}

/// A completion entry's command identifier: the command's, the command's slot with another
/// generation, or any.
#[derive(Clone, Copy, Debug)]
enum Cid {
    Command,
    OtherGeneration(u16),
    Any(u16),
}

/// An entry a controller writes into a completion queue, relative to the command in flight.
#[derive(Clone, Copy, Debug)]
struct Garbage {
    cid: Cid,
    /// The submission queue identifier: the command's queue's, or this one.
    sq: Option<u16>,
    status: u16,
    result: u32,
    dword1: u32,
    sq_head: u16,
    /// Written with the phase tag of the previous lap: not a new entry.
    stale: bool,
}

fn garbage() -> impl Strategy<Value = Garbage> {
    let cid = prop_oneof![
        Just(Cid::Command),
        (1u16..16).prop_map(Cid::OtherGeneration),
        any::<u16>().prop_map(Cid::Any),
    ];
    let status = prop_oneof![
        Just(0u16),
        Just(0x0281),
        any::<u16>().prop_map(|s| s & 0x7fff)
    ];
    (
        cid,
        prop_oneof![2 => Just(None), 1 => any::<u16>().prop_map(Some)],
        status,
        any::<u32>(),
        any::<u32>(),
        any::<u16>(),
        proptest::bool::weighted(0.25),
    )
        .prop_map(
            |(cid, sq, status, result, dword1, sq_head, stale)| Garbage {
                cid,
                sq,
                status,
                result,
                dword1,
                sq_head,
                stale,
            },
        )
}

impl Garbage {
    /// The entry for the command `cid` in flight on submission queue `qid`, and whether the
    /// driver must take it for that command's completion (when it is not stale).
    fn entry(&self, cid: u16, qid: u16) -> ([u32; 4], bool) {
        let written = match self.cid {
            Cid::Command => cid,
            Cid::OtherGeneration(generation) => cid ^ generation << 12,
            Cid::Any(any) => any,
        };
        let sq = self.sq.unwrap_or(qid);
        let entry = [
            self.result,
            self.dword1,
            u32::from(self.sq_head) | u32::from(sq) << 16,
            u32::from(written) | u32::from(self.status) << 17,
        ];
        (entry, written == cid && sq == qid)
    }
}

/// Posts `garbage` into completion queue `cqid` for the command `cid` of submission queue
/// `qid`, as new entries unless stale; returns the first that completes the command (its status
/// and result) and how many new entries the driver must ignore. Entries that find the queue full
/// are not posted; `consume` lets the driver read the queue after each entry.
fn post(
    model: &Nvme,
    ctx: &drydock_sim::SimContext,
    (cqid, qid, cid): (u16, u16, u16),
    garbage: &[Garbage],
    mut consume: impl FnMut(),
) -> (Option<(u16, u32)>, u64) {
    let mut completes = None;
    let mut ignored = 0;
    for g in garbage {
        let Some(phase) = model.cq_phase(cqid) else {
            break;
        };
        let (entry, matches) = g.entry(cid, qid);
        if !model.post_raw(ctx, cqid, entry, Some(phase != g.stale)) {
            continue;
        }
        if !g.stale {
            if matches && completes.is_none() {
                completes = Some((g.status, g.result));
            } else {
                ignored += 1;
            }
        }
        consume();
    }
    (completes, ignored)
}

proptest! {
    #![proptest_config(fuzz::config(400))]

    /// Whatever CAP says, probe either binds a controller it can drive (I/O then works) or
    /// refuses it: no more than one queue entry (MQES 0), pages other than 4 KiB (MPSMIN), no NVM
    /// command set, or admin doorbells beyond BAR0 (a doorbell stride of 16 KiB and more).
    #[test]
    fn any_cap(cap in cap()) {
        let rig = Rig::new(NvmeConfig { cap, ..NvmeConfig::default() });
        let (mqes, dstrd) = (cap & 0xffff, (cap >> 32) & 0xf);
        let usable =
            mqes >= 1 && (cap >> 48) & 0xf == 0 && (cap >> 37) & 1 == 1 && dstrd <= 11;
        prop_assert_eq!(rig.device.is_bound(), usable, "CAP {:#018x}", cap);
        if let Some(result) = rig.with(|dev, ctrl| {
            prop_assert_eq!(ctrl.max_queue_entries(), (mqes as u32 + 1).min(4096));
            // BAR0 holds the doorbells of an I/O queue pair after the admin queue's up to a
            // stride of 2 KiB (DSTRD 9).
            let expected = if dstrd <= 9 { Ok(()) } else { Err(EBUSY) };
            prop_assert_eq!(io(dev, ctrl), expected);
            Ok(())
        }) {
            result?;
        }
        rig.finish()?;
    }

    /// Whatever Identify Controller says, probe binds exactly when its queue entry sizes admit
    /// the driver's (64 and 16 bytes), with the transfer limit MDTS allows and the optional
    /// commands OACS names; its text fields never make the driver fail.
    #[test]
    fn any_identify_controller(
        patch in patches(
            [4, 23, 24, 63, 64, 71, 77, 80, 83, 256, 257, 512, 513, 516, 519, 525].to_vec()
        )
    ) {
        let rig = Rig::new(NvmeConfig {
            identify_controller_patch: patch,
            ..NvmeConfig::default()
        });
        let data = rig.model().identify_data(1, 0).unwrap();
        let usable = admits(data[512], 6) && admits(data[513], 4);
        prop_assert_eq!(
            rig.device.is_bound(),
            usable,
            "SQES {:#x} CQES {:#x}",
            data[512],
            data[513]
        );
        if let Some(result) = rig.with(|dev, ctrl| {
            let info = ctrl.info();
            prop_assert!(info.serial().len() <= 20 && info.model().len() <= 40);
            prop_assert!(info.firmware().len() <= 8);
            prop_assert_eq!(info.oacs, u16::from_le_bytes([data[256], data[257]]));
            prop_assert_eq!(ctrl.max_transfer(), max_transfer(data[77]));
            // The model supports Doorbell Buffer Config whatever OACS says; the driver uses it
            // only if OACS does.
            let shadow = ctrl.enable_shadow_doorbells(dev);
            prop_assert_eq!(shadow.is_ok(), info.oacs & 1 << 8 != 0);
            prop_assert_eq!(io(dev, ctrl), Ok(()));
            Ok(())
        }) {
            result?;
        }
        rig.finish()?;
    }

    /// Whatever Identify Namespace says, probe binds exactly when the format in use is listed,
    /// without metadata, with blocks of 512 bytes to 4 KiB, and the namespace has blocks.
    #[test]
    fn any_identify_namespace(
        patch in patches([0, 1, 7, 25, 26, 128, 130, 132, 134, 156, 158, 188, 190].to_vec())
    ) {
        let rig = Rig::new(NvmeConfig {
            identify_namespace_patch: patch,
            ..NvmeConfig::default()
        });
        let data = rig.model().identify_data(0, 1).unwrap();
        let blocks = u64::from_le_bytes(data[0..8].try_into().unwrap());
        let format = data[26] & 0xf;
        let descriptor = 128 + 4 * usize::from(format);
        let metadata = u16::from_le_bytes([data[descriptor], data[descriptor + 1]]);
        let shift = data[descriptor + 2];
        let usable =
            format <= data[25] && metadata == 0 && (9..=12).contains(&shift) && blocks != 0;
        prop_assert_eq!(rig.device.is_bound(), usable);
        if let Some(result) = rig.with(|dev, ctrl| {
            let namespace = ctrl.namespace();
            prop_assert_eq!((namespace.id, namespace.blocks), (1, blocks));
            prop_assert_eq!(namespace.block_shift, shift);
            prop_assert_eq!(io(dev, ctrl), Ok(()));
            Ok(())
        }) {
            result?;
        }
        rig.finish()?;
    }

    /// Whatever the active namespace list says, probe binds exactly when it names the
    /// namespace the controller has (1): others have no blocks, or are invalid.
    #[test]
    fn any_active_namespace_list(patch in patches((0..8).collect())) {
        let rig = Rig::new(NvmeConfig {
            active_namespace_list_patch: patch,
            ..NvmeConfig::default()
        });
        let data = rig.model().identify_data(2, 0).unwrap();
        let first = u32::from_le_bytes(data[0..4].try_into().unwrap());
        prop_assert_eq!(rig.device.is_bound(), first == 1, "first namespace {}", first);
        rig.finish()?;
    }

    /// Whatever Number of Queues answers, the driver offers the queue pairs it names (the lower
    /// of the two counts, 1-based), no more than BAR0 has doorbells for, refuses one more with
    /// `EBUSY`, and has one vector per queue up to nine.
    #[test]
    fn any_number_of_queues(
        answer in prop_oneof![
            (0u32..6, 0u32..6).prop_map(|(sqs, cqs)| sqs | cqs << 16),
            Just(u32::MAX),
            Just(0xffff),
            Just(0xffff_0000),
            any::<u32>(),
        ]
    ) {
        let rig = Rig::new(NvmeConfig {
            number_of_queues_answer: Some(answer),
            ..NvmeConfig::default()
        });
        let expected = ((answer & 0xffff).min(answer >> 16) + 1).min(DOORBELL_PAIRS);
        rig.with(|dev, ctrl| {
            prop_assert_eq!(u32::from(ctrl.max_io_queues()), expected);
            prop_assert_eq!(ctrl.irq_vectors() as u32, (expected + 1).min(9));
            // The model offers 64 queue pairs whatever it answers: up to three are created.
            let queues = (0..expected.min(3))
                .map(|_| ctrl.create_io_queue(dev, queue_config(4, true)))
                .collect::<Result<Vec<_>, _>>();
            prop_assert!(queues.is_ok(), "{:?}", queues.err());
            if expected <= 3 {
                let another = ctrl.create_io_queue(dev, queue_config(4, true));
                prop_assert_eq!(another.err(), Some(EBUSY));
            }
            Ok(())
        })
        .expect("bound")?;
        rig.finish()?;
    }

    /// Whatever a controller writes into an I/O completion queue while a command is in flight,
    /// the command completes exactly once: with the first new entry that names its submission
    /// queue and its command identifier (generation included), else with the controller's real
    /// completion, else as timed out within the queue's timeout; every other new entry is
    /// counted as spurious and changes nothing, and the queue goes on working.
    #[test]
    fn any_io_completion_entries(
        depth in 2u16..17,
        interrupts in any::<bool>(),
        garbage in proptest::collection::vec(garbage(), 0..24),
        released in proptest::bool::weighted(0.9),
    ) {
        let rig = Rig::new(NvmeConfig::default());
        let ctx = rig.device.function().context();
        rig.with(|dev, ctrl| {
            let queue = ctrl.create_io_queue(dev, queue_config(depth, interrupts)).unwrap();
            let qid = queue.id();
            let buf = buffer(dev, 4096);
            rig.model().inject(false, opcode::READ, Fault::Stall);
            let tag = queue.submit(dev, &read(&buf)).unwrap();
            let mut reaped: Vec<Completion> = Vec::new();
            let (completes, ignored) = post(rig.model(), &ctx, (qid, qid, tag.cid()), &garbage, || {
                let mut out = [Completion::default(); 4];
                let n = queue.reap(dev, &mut out).unwrap();
                reaped.extend_from_slice(&out[..n]);
            });
            if released {
                rig.model().release_stalled(&ctx);
            }
            let start = Instant::now();
            let completion = match reaped.iter().find(|c| c.tag == tag) {
                Some(&completion) => completion,
                None => queue.wait_for(dev, tag).unwrap(),
            };
            prop_assert!(start.elapsed() < IO_TIMEOUT + PROMPT, "waited {:?}", start.elapsed());
            let expected = match completes {
                Some((status, result)) => (Status::Device(status), result),
                None if released => (Status::SUCCESS, 0),
                None => (Status::TimedOut, 0),
            };
            prop_assert_eq!((completion.status, completion.result), expected);
            prop_assert!(reaped.iter().filter(|c| c.tag == tag).count() <= 1);
            // Every new entry is read (by the interrupt handler, on an interrupt-driven queue)
            // and ignored but the one that completed the command; the controller's real
            // completion of a command that garbage completed first is ignored too. Waited for
            // before the next command, which an entry still unread could pass for.
            let late = u64::from(completes.is_some() && released);
            let deadline = Instant::now() + PROMPT;
            while queue.stats().spurious < ignored + late && Instant::now() < deadline {
                queue.reap(dev, &mut [Completion::default(); 4]).unwrap();
                std::thread::yield_now();
            }
            let stats = queue.stats();
            prop_assert_eq!(stats.spurious, ignored + late);
            prop_assert_eq!(stats.timeouts, u64::from(completes.is_none() && !released));
            prop_assert_eq!(stats.completed, u64::from(completes.is_some() || released));
            // The queue goes on working.
            queue.execute(dev, &read(&buf)).unwrap();
            prop_assert_eq!(queue.stats().spurious, ignored + late);
            ctrl.delete_io_queue(dev, &queue).unwrap();
            Ok(())
        })
        .expect("bound")?;
        rig.finish()?;
    }

    /// Whatever a controller writes into the admin completion queue while an admin command is
    /// in flight (Create I/O Completion Queue, stalled until the entries are written): a new
    /// entry naming the command ends it with its status, which fails the queue's creation if it
    /// is an error; other entries change nothing, and the creation succeeds.
    #[test]
    fn any_admin_completion_entries(garbage in proptest::collection::vec(garbage(), 0..24)) {
        let rig = Rig::new(NvmeConfig::default());
        let ctx = rig.device.function().context();
        rig.with(|dev, ctrl| {
            rig.model().inject(true, admin::CREATE_CQ, Fault::Stall);
            let start = Instant::now();
            let (created, (completes, ignored)) = std::thread::scope(|scope| {
                let poster = scope.spawn(|| {
                    let stalled = loop {
                        if let Some(&(0, cid)) = rig.model().stalled().first() {
                            break cid;
                        }
                        assert!(start.elapsed() < PROMPT, "the command never arrived");
                        std::thread::yield_now();
                    };
                    let posted = post(rig.model(), &ctx, (0, 0, stalled), &garbage, || {});
                    rig.model().release_stalled(&ctx);
                    posted
                });
                let created = ctrl.create_io_queue(dev, queue_config(4, false));
                (created, poster.join().unwrap())
            });
            prop_assert!(start.elapsed() < PROMPT, "took {:?}", start.elapsed());
            match completes {
                None => prop_assert!(created.is_ok(), "{:?}", created.err()),
                // An error (Status Code Type or Status Code set; CRD, More and DNR alone are not
                // one).
                Some((status, _)) if status & 0x7ff != 0 => prop_assert!(created.is_err()),
                // A success the controller did not mean: the creation goes on with a queue the
                // controller may not have, and whichever way it ends is fine.
                Some(_) => {}
            }
            let stats = ctrl.admin_stats();
            prop_assert!(stats.spurious <= ignored + 1, "{} of {}", stats.spurious, ignored);
            prop_assert_eq!(stats.timeouts, 0);
            Ok(())
        })
        .expect("bound")?;
        rig.finish()?;
    }
}
