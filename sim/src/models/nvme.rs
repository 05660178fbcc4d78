//! QEMU's NVMe controller (`-device nvme`, 1b36:0010), as QEMU 7.2 implements it.
//!
//! The model answers what a driver sees of QEMU 7.2's controller (`qemu-devices.md` §2 in the
//! project references):
//!
//! - **BAR0**, 16 KiB, 64-bit: CAP `0x004018200f0107ff` (MQES 2047, CQR, TO 7.5 s, DSTRD 0, CSS
//!   0xC1, MPSMIN 4 KiB, MPSMAX 64 KiB), VS 1.4, INTMS/INTMC, CC, CSTS, AQA, ASQ, ACQ; doorbells
//!   from 0x1000 with a 4-byte stride (SQ y tail at `0x1000 + 8y`, CQ y head at `0x1000 + 8y + 4`;
//!   with a configured CAP, the stride its DSTRD gives); doorbells read 0; the MSI-X table and
//!   PBA (0x2000, 0x3000) read 0 here and are never touched by drivers. Registers take 4- and
//!   8-byte aligned accesses; smaller or misaligned ones read 0 and are dropped.
//! - **CC/CSTS**: CC.EN 0→1 validates the admin queue (ASQ/ACQ page aligned, AQA sizes non-zero,
//!   CSS and MPS supported) and sets CSTS.RDY, or sets CSTS.CFS if they are invalid; CC.EN 1→0
//!   deletes every queue, forgets the shadow doorbells and clears CSTS (RDY and CFS), keeping
//!   AQA/ASQ/ACQ; the model records whether the admin queues' memory was still the driver's
//!   then ([`Nvme::admin_queues_allocated_at_disable`]). A shutdown notification (CC.SHN)
//!   completes at once (CSTS.SHST = 2). Both CC.EN transitions take effect at once, as in QEMU,
//!   unless [`NvmeConfig::ready_delay`] or [`NvmeConfig::reset_delay`] makes them take time,
//!   as a real controller's do: CSTS.RDY then changes that long after CC.EN did (a reset
//!   deletes the queues at once), and CC.EN set while CSTS.RDY is still 1 is reported as
//!   fatal (the specification leaves it undefined).
//! - **Admin commands**: Identify (CNS 0 namespace, 1 controller, 2 active namespace list),
//!   Set/Get Features (Number of Queues, answered with the configured queue pairs whatever is
//!   asked (QEMU's default 64: 63/63), refused with Command Sequence Error once a queue was
//!   created; Volatile Write Cache), Create/Delete I/O CQ/SQ with
//!   QEMU's statuses and checks in QEMU's order, Abort (never aborts), Doorbell Buffer Config
//!   (shadow doorbells and event indexes). Admin commands must use PRPs.
//! - **I/O commands** on namespace 1 (512- or 4096-byte LBAs, in memory): Read, Write, Flush,
//!   Write Zeroes; MDTS 7 (512 KiB) unless configured otherwise, LBA range checks,
//!   PRP1/PRP2/PRP lists (chained) with QEMU's validation (only PRP1 may carry an offset: Invalid
//!   PRP Offset otherwise).
//! - **Configuration space**: 4096 bytes, as a PCI Express endpoint's.
//! - **Completions** are written with phase tags through the simulated IOMMU; a CQ that is full
//!   holds its completions until the driver frees entries. MSI-X (65 vectors) signals the CQ's
//!   vector; without MSI-X, INTx is asserted while an interrupt-enabled CQ has unconsumed entries
//!   and its vector is not masked by INTMS.
//! - **Failures**: a DMA fault while fetching a submission entry or posting a completion sets
//!   CSTS.CFS and stops the queue; a fault on data gives Data Transfer Error.
//!
//! Differences from QEMU, all on paths a driver cannot observe in timing only: commands are
//! processed synchronously inside the doorbell write that announces them (QEMU schedules a
//! bottom half on its main loop), and completions of one doorbell write share one interrupt.
//! Admin and I/O opcodes outside the lists above complete with Invalid Opcode; SGLs are refused
//! with Invalid Field.
//!
//! For tests, the model can misbehave on request ([`Nvme::inject`], [`Nvme::inject_after`],
//! [`Nvme::post_raw`],
//! [`Nvme::set_fatal`], [`NvmeConfig`]'s `never_ready`, `cap`, the patches of Identify data and
//! `number_of_queues_answer`): complete the next matching command with a chosen status (and no
//! data transfer), hold it forever or until released, write arbitrary completion entries, fail
//! the controller, never become ready, or report whatever capabilities, Identify data and
//! queue counts a test chooses.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{DeviceModel, Identity, SimContext};
use drydock_host::function::{BarInfo, BarKind, IrqKind};

/// Controller Capabilities of QEMU 7.2's controller.
pub const CAP: u64 = 0x0040_1820_0f01_07ff;
/// Version 1.4.
const VERSION: u32 = 0x0001_0400;
/// I/O queue pairs QEMU offers by default (`max_ioqpairs`), [`NvmeConfig::io_queue_pairs`]'s
/// default.
pub const MAX_IO_QUEUE_PAIRS: u16 = 64;
/// MSI-X vectors QEMU offers by default (`msix_qsize`).
pub const MSIX_VECTORS: u32 = 65;
/// Maximum Data Transfer Size of QEMU's controller, as a power of two of the minimum page size:
/// [`NvmeConfig::mdts`]'s default.
pub const MDTS: u8 = 7;

const REG_CAP: usize = 0x00;
const REG_VS: usize = 0x08;
const REG_INTMS: usize = 0x0c;
const REG_INTMC: usize = 0x10;
const REG_CC: usize = 0x14;
const REG_CSTS: usize = 0x1c;
const REG_AQA: usize = 0x24;
const REG_ASQ: usize = 0x28;
const REG_ACQ: usize = 0x30;
const DOORBELLS: usize = 0x1000;
/// End of the doorbell range (QEMU's register region is 8 KiB).
const DOORBELLS_END: usize = 0x2000;
const BAR_SIZE: u64 = 0x4000;

const CC_EN: u32 = 1;
const CSTS_RDY: u32 = 1;
const CSTS_CFS: u32 = 1 << 1;
const CSTS_SHST_COMPLETE: u32 = 2 << 2;

/// Status codes (Status Code Type << 8 | Status Code), as the completion's status field holds them
/// (without the phase bit).
pub mod status {
    /// Successful completion.
    pub const SUCCESS: u16 = 0x0000;
    /// Invalid Command Opcode.
    pub const INVALID_OPCODE: u16 = 0x0001;
    /// Invalid Field in Command.
    pub const INVALID_FIELD: u16 = 0x0002;
    /// Data Transfer Error.
    pub const DATA_TRANSFER_ERROR: u16 = 0x0004;
    /// Invalid Namespace or Format.
    pub const INVALID_NSID: u16 = 0x000b;
    /// Command Sequence Error.
    pub const COMMAND_SEQUENCE_ERROR: u16 = 0x000c;
    /// PRP Offset Invalid.
    pub const INVALID_PRP_OFFSET: u16 = 0x0013;
    /// LBA Out of Range.
    pub const LBA_OUT_OF_RANGE: u16 = 0x0080;
    /// Completion Queue Invalid.
    pub const INVALID_CQID: u16 = 0x0100;
    /// Invalid Queue Identifier.
    pub const INVALID_QID: u16 = 0x0101;
    /// Invalid Queue Size.
    pub const INVALID_QUEUE_SIZE: u16 = 0x0102;
    /// Invalid Interrupt Vector.
    pub const INVALID_IRQ_VECTOR: u16 = 0x0108;
    /// Invalid Queue Deletion.
    pub const INVALID_QUEUE_DELETION: u16 = 0x010c;
    /// Unrecovered Read Error (a media error).
    pub const UNRECOVERED_READ_ERROR: u16 = 0x0281;
    /// Do Not Retry.
    pub const DNR: u16 = 0x4000;
}

use status::*;

/// Admin opcodes the model implements.
/// Admin opcodes.
pub mod admin {
    /// Delete I/O Submission Queue.
    pub const DELETE_SQ: u8 = 0x00;
    /// Create I/O Submission Queue.
    pub const CREATE_SQ: u8 = 0x01;
    /// Delete I/O Completion Queue.
    pub const DELETE_CQ: u8 = 0x04;
    /// Create I/O Completion Queue.
    pub const CREATE_CQ: u8 = 0x05;
    /// Identify.
    pub const IDENTIFY: u8 = 0x06;
    /// Abort.
    pub const ABORT: u8 = 0x08;
    /// Set Features.
    pub const SET_FEATURES: u8 = 0x09;
    /// Get Features.
    pub const GET_FEATURES: u8 = 0x0a;
    /// Doorbell Buffer Config.
    pub const DOORBELL_BUFFER_CONFIG: u8 = 0x7c;
}

/// I/O opcodes.
pub mod opcode {
    /// Flush.
    pub const FLUSH: u8 = 0x00;
    /// Write.
    pub const WRITE: u8 = 0x01;
    /// Read.
    pub const READ: u8 = 0x02;
    /// Write Zeroes.
    pub const WRITE_ZEROES: u8 = 0x08;
}

const FEATURE_VOLATILE_WRITE_CACHE: u8 = 0x06;
const FEATURE_NUMBER_OF_QUEUES: u8 = 0x07;
const NSID_BROADCAST: u32 = 0xffff_ffff;
/// Number of namespaces the controller reports (QEMU's `NVME_MAX_NAMESPACES`).
const NN: u32 = 256;

/// A submission queue.
struct Sq {
    base: u64,
    size: u32,
    head: u32,
    tail: u32,
    cqid: u16,
}

/// A completion queue.
struct Cq {
    base: u64,
    size: u32,
    head: u32,
    tail: u32,
    phase: bool,
    irq_enabled: bool,
    vector: u16,
    /// Completions waiting for room in the queue.
    pending: VecDeque<[u32; 4]>,
}

impl Cq {
    fn full(&self) -> bool {
        (self.tail + 1) % self.size == self.head
    }
}

/// What the next matching command does instead of executing normally.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// It completes with this status (SCT << 8 | SC, plus [`status::DNR`] if wanted) and does
    /// nothing else.
    Status(u16),
    /// It is fetched but neither executed nor completed until [`Nvme::release_stalled`] does
    /// both, late (a read then writes its buffer). Deleting its submission queue or disabling
    /// the controller first drops it, as a controller drops the commands it aborts.
    Stall,
}

/// A fault armed for a command with an opcode on an I/O queue (or the admin queue).
struct Armed {
    admin: bool,
    opcode: u8,
    /// Matching commands to let through first.
    skip: u32,
    fault: Fault,
}

/// The admin queue registers (AQA, ASQ, ACQ), as the controller takes them when enabled.
#[derive(Clone, Copy)]
struct AdminQueues {
    aqa: u32,
    asq: u64,
    acq: u64,
}

impl AdminQueues {
    /// The entries of the admin submission and completion queues.
    fn sizes(&self) -> (u32, u32) {
        ((self.aqa & 0xfff) + 1, ((self.aqa >> 16) & 0xfff) + 1)
    }
}

/// A CC.EN transition the controller has not finished, and when it will have.
#[derive(Clone, Copy)]
enum Transition {
    /// Becoming ready (CC.EN 0→1) with the admin queues the registers gave then.
    Ready(Instant, AdminQueues),
    /// Finishing a reset (CC.EN 1→0): CSTS.RDY still 1.
    Reset(Instant),
}

/// A command held by [`Fault::Stall`].
struct Stalled {
    sqid: u16,
    command: Command,
}

/// Shadow doorbell buffers set up by Doorbell Buffer Config.
#[derive(Clone, Copy)]
struct Dbbuf {
    doorbells: u64,
    event_indexes: u64,
}

struct State {
    cc: u32,
    csts: u32,
    aqa: u32,
    asq: u64,
    acq: u64,
    intms: u32,
    sqs: Vec<Option<Sq>>,
    cqs: Vec<Option<Cq>>,
    dbbuf: Option<Dbbuf>,
    queues_created: bool,
    volatile_write_cache: bool,
    storage: Vec<u8>,
    armed: Vec<Armed>,
    stalled: Vec<Stalled>,
    /// The INTx level last set.
    intx: bool,
    /// Every value written to CC, for tests.
    cc_writes: Vec<u32>,
    /// For each CC.EN 1→0, whether the admin queues' memory was still allocated, for tests.
    admin_allocated_at_disable: Vec<bool>,
    /// A CC.EN transition in progress.
    transition: Option<Transition>,
}

/// Build options of a simulated controller.
#[derive(Clone, Debug)]
pub struct NvmeConfig {
    /// Namespace 1's size in logical blocks.
    pub blocks: u64,
    /// log2 of the logical block size: 9 (512 bytes, LBA format 0) or 12 (4096, format 4).
    pub lba_shift: u8,
    /// Whether MSI-X is present; without it only INTx remains (QEMU's model has no MSI).
    pub msix: bool,
    /// The serial number.
    pub serial: String,
    /// Overrides CAP (to present a misbehaving controller).
    pub cap: u64,
    /// Bytes patched into Identify Controller data, as `(offset, value)`.
    pub identify_controller_patch: Vec<(usize, u8)>,
    /// Bytes patched into Identify Namespace data, as `(offset, value)`.
    pub identify_namespace_patch: Vec<(usize, u8)>,
    /// Bytes patched into the active namespace list (Identify CNS 2, which lists namespace 1),
    /// as `(offset, value)`.
    pub active_namespace_list_patch: Vec<(usize, u8)>,
    /// What Set and Get Features Number of Queues answer (0-based SQ count in bits 15:0, CQ
    /// count in bits 31:16) instead of `io_queue_pairs`, to present a controller that misstates
    /// what it allocated.
    pub number_of_queues_answer: Option<u32>,
    /// Maximum Data Transfer Size (Identify Controller byte 77, enforced on reads and writes):
    /// a power of two of 4 KiB, 0 for no limit.
    pub mdts: u8,
    /// I/O queue pairs (QEMU's `max_ioqpairs`): what Number of Queues answers, and the highest
    /// queue identifier. Their doorbells must fit below 0x2000 (at most 511).
    pub io_queue_pairs: u16,
    /// Whether the controller never sets CSTS.RDY when enabled, as one stuck in its start-up.
    pub never_ready: bool,
    /// How long after CC.EN 0→1 the controller becomes ready (CSTS.RDY 0 until then): none in
    /// QEMU.
    pub ready_delay: Duration,
    /// How long after CC.EN 1→0 the controller finishes its reset (CSTS.RDY 1 until then, the
    /// queues gone at once): none in QEMU.
    pub reset_delay: Duration,
}

impl Default for NvmeConfig {
    fn default() -> Self {
        Self {
            blocks: 8192,
            lba_shift: 9,
            msix: true,
            serial: "drydock-sim".into(),
            cap: CAP,
            identify_controller_patch: Vec::new(),
            identify_namespace_patch: Vec::new(),
            active_namespace_list_patch: Vec::new(),
            number_of_queues_answer: None,
            mdts: MDTS,
            io_queue_pairs: MAX_IO_QUEUE_PAIRS,
            never_ready: false,
            ready_delay: Duration::ZERO,
            reset_delay: Duration::ZERO,
        }
    }
}

/// Counters of what the controller did.
#[derive(Default)]
struct Stats {
    sq_doorbell_writes: AtomicU64,
    cq_doorbell_writes: AtomicU64,
    commands: AtomicU64,
    interrupts: AtomicU64,
}

/// The NVMe controller model.
pub struct Nvme {
    config: NvmeConfig,
    state: Mutex<State>,
    stats: Stats,
}

/// The page size: CC.MPS 0, the only one the model accepts below MPSMAX that drivers use.
const PAGE: u64 = 4096;

impl Nvme {
    /// Creates a controller with a namespace of `blocks` 512-byte blocks.
    pub fn new(blocks: u64) -> Arc<Self> {
        Self::with_config(NvmeConfig {
            blocks,
            ..NvmeConfig::default()
        })
    }

    /// Creates a controller as `config` describes.
    ///
    /// # Panics
    ///
    /// Panics if `config.lba_shift` is neither 9 nor 12, or if the doorbells of
    /// `config.io_queue_pairs` do not fit in the doorbell range.
    pub fn with_config(config: NvmeConfig) -> Arc<Self> {
        assert!(
            matches!(config.lba_shift, 9 | 12),
            "QEMU offers 512- and 4096-byte LBA formats"
        );
        let queues = usize::from(config.io_queue_pairs) + 1;
        assert!(
            config.io_queue_pairs > 0 && DOORBELLS + 8 * queues <= DOORBELLS_END,
            "the doorbells of {} queue pairs do not fit",
            config.io_queue_pairs
        );
        let bytes = (config.blocks << config.lba_shift) as usize;
        Arc::new(Self {
            state: Mutex::new(State {
                cc: 0,
                csts: 0,
                aqa: 0,
                asq: 0,
                acq: 0,
                intms: 0,
                sqs: (0..queues).map(|_| None).collect(),
                cqs: (0..queues).map(|_| None).collect(),
                dbbuf: None,
                queues_created: false,
                volatile_write_cache: true,
                storage: vec![0; bytes],
                armed: Vec::new(),
                stalled: Vec::new(),
                intx: false,
                cc_writes: Vec::new(),
                admin_allocated_at_disable: Vec::new(),
                transition: None,
            }),
            config,
            stats: Stats::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn lba_size(&self) -> u64 {
        1 << self.config.lba_shift
    }

    /// Arms `fault` for the next command with `opcode` on an I/O queue (`admin == false`) or on
    /// the admin queue. Faults fire in the order they were armed.
    pub fn inject(&self, admin: bool, opcode: u8, fault: Fault) {
        self.inject_after(admin, opcode, 0, fault);
    }

    /// As [`Nvme::inject`], for the command after the next `skip` with `opcode`, which run as
    /// usual (to fail probe's third Identify, say). The first fault armed for an opcode counts
    /// its commands; later ones wait until it fired.
    pub fn inject_after(&self, admin: bool, opcode: u8, skip: u32, fault: Fault) {
        self.lock().armed.push(Armed {
            admin,
            opcode,
            skip,
            fault,
        });
    }

    /// The submission queue and command identifier of each stalled command, oldest first.
    pub fn stalled(&self) -> Vec<(u16, u16)> {
        self.lock()
            .stalled
            .iter()
            .map(|stalled| (stalled.sqid, stalled.command.cid()))
            .collect()
    }

    /// Executes and completes every stalled command, late; returns how many there were.
    pub fn release_stalled(&self, ctx: &SimContext) -> usize {
        let mut state = self.lock();
        let stalled = std::mem::take(&mut state.stalled);
        let count = stalled.len();
        let mut touched = Vec::new();
        for Stalled { sqid, command } in stalled {
            if let Some(cqid) = state.sqs[usize::from(sqid)].as_ref().map(|sq| sq.cqid) {
                let (status, result) = self.run(ctx, &mut state, sqid, &command);
                self.complete(ctx, &mut state, sqid, command.cid(), status, result);
                touched.push(cqid);
            }
        }
        for cqid in touched {
            self.notify(ctx, &mut state, cqid);
        }
        count
    }

    /// Writes `entry` into completion queue `cqid` at the controller's tail as a completion
    /// would be written, with its phase bit replaced by the current phase if `phase` is `None`,
    /// or by `phase`. With the current phase the tail advances and the CQ's interrupt fires; with
    /// the other one the entry is stale and the controller's state does not change. Returns
    /// `false` if the queue does not exist or is full.
    pub fn post_raw(
        &self,
        ctx: &SimContext,
        cqid: u16,
        mut entry: [u32; 4],
        phase: Option<bool>,
    ) -> bool {
        let mut state = self.lock();
        let Some(cq) = state
            .cqs
            .get_mut(usize::from(cqid))
            .and_then(Option::as_mut)
        else {
            return false;
        };
        if cq.full() {
            return false;
        }
        let current = cq.phase;
        let phase = phase.unwrap_or(current);
        entry[3] = (entry[3] & !(1 << 16)) | u32::from(phase) << 16;
        let addr = cq.base + u64::from(cq.tail) * 16;
        if !ctx.dma_write(addr, &entry_bytes(&entry)) {
            state.csts |= CSTS_CFS;
            return true;
        }
        if phase == current {
            advance_cq_tail(cq);
            self.notify(ctx, &mut state, cqid);
        }
        true
    }

    /// The phase tag the controller writes into completion queue `cqid` now, if it exists: an
    /// entry with the other one is stale.
    pub fn cq_phase(&self, cqid: u16) -> Option<bool> {
        self.lock()
            .cqs
            .get(usize::from(cqid))?
            .as_ref()
            .map(|cq| cq.phase)
    }

    /// Sets CSTS.CFS, as the controller does on a fatal error.
    pub fn set_fatal(&self) {
        self.lock().csts |= CSTS_CFS;
    }

    /// Reads `count` bytes of the namespace at byte `offset`.
    pub fn read_storage(&self, offset: usize, count: usize) -> Vec<u8> {
        self.lock().storage[offset..offset + count].to_vec()
    }

    /// Writes `data` into the namespace at byte `offset`.
    pub fn write_storage(&self, offset: usize, data: &[u8]) {
        self.lock().storage[offset..offset + data.len()].copy_from_slice(data);
    }

    /// Every value written to CC so far.
    pub fn cc_writes(&self) -> Vec<u32> {
        self.lock().cc_writes.clone()
    }

    /// For each time the controller was disabled (CC.EN 1→0) so far, whether the memory of its
    /// admin queues (at ASQ and ACQ, of AQA's sizes) was still DMA memory the driver had
    /// allocated: `false` means the driver freed memory the enabled controller was given.
    pub fn admin_queues_allocated_at_disable(&self) -> Vec<bool> {
        self.lock().admin_allocated_at_disable.clone()
    }

    /// CSTS as the driver reads it.
    pub fn csts(&self) -> u32 {
        let mut state = self.lock();
        Self::settle(&mut state);
        state.csts
    }

    /// The number of I/O submission queues that exist.
    pub fn io_queues(&self) -> usize {
        self.lock().sqs.iter().skip(1).flatten().count()
    }

    /// Whether shadow doorbells are configured.
    pub fn shadow_doorbells(&self) -> bool {
        self.lock().dbbuf.is_some()
    }

    /// MMIO writes to submission queue tail doorbells so far.
    pub fn sq_doorbell_writes(&self) -> u64 {
        self.stats.sq_doorbell_writes.load(Ordering::Relaxed)
    }

    /// MMIO writes to completion queue head doorbells so far.
    pub fn cq_doorbell_writes(&self) -> u64 {
        self.stats.cq_doorbell_writes.load(Ordering::Relaxed)
    }

    /// Commands completed so far (admin and I/O).
    pub fn commands(&self) -> u64 {
        self.stats.commands.load(Ordering::Relaxed)
    }

    /// Interrupts signalled so far (MSI-X messages and INTx assertions).
    pub fn interrupts_raised(&self) -> u64 {
        self.stats.interrupts.load(Ordering::Relaxed)
    }

    /// Handles a write to CC.
    fn write_cc(&self, ctx: &SimContext, state: &mut State, value: u32) {
        state.cc_writes.push(value);
        let was_enabled = state.cc & CC_EN != 0;
        let enable = value & CC_EN != 0;
        if enable && !was_enabled {
            if state.csts & CSTS_RDY != 0 {
                ctx.report_fatal(
                    "NVMe: CC.EN set while CSTS.RDY is 1, before the reset finished".to_owned(),
                );
            }
            state.cc = value;
            state.csts = 0;
            state.transition = None;
            if self.config.never_ready {
                log::debug!(target: "drydock", "simulated NVMe: enabled, never to be ready");
            } else if self.config.ready_delay.is_zero() {
                Self::start(state, state.admin_queues());
            } else {
                let at = Instant::now() + self.config.ready_delay;
                state.transition = Some(Transition::Ready(at, state.admin_queues()));
            }
        } else if !enable && was_enabled {
            let (asqs, acqs) = state.admin_queues().sizes();
            let allocated = ctx.dma_allocated(state.asq, asqs as usize * 64)
                && ctx.dma_allocated(state.acq, acqs as usize * 16);
            state.admin_allocated_at_disable.push(allocated);
            let was_ready = state.csts & CSTS_RDY != 0;
            Self::reset(state);
            state.transition = None;
            if was_ready && !self.config.reset_delay.is_zero() {
                state.csts = CSTS_RDY;
                state.transition =
                    Some(Transition::Reset(Instant::now() + self.config.reset_delay));
            }
            state.cc = value;
            self.update_intx(ctx, state);
        } else {
            let shutdown = (value >> 14) & 3 != 0;
            let was_shutdown = (state.cc >> 14) & 3 != 0;
            if shutdown && !was_shutdown {
                state.csts = (state.csts & !(3 << 2)) | CSTS_SHST_COMPLETE;
            } else if !shutdown && was_shutdown {
                state.csts &= !(3 << 2);
            }
            state.cc = value;
        }
    }

    /// Finishes a CC.EN transition whose time has come.
    fn settle(state: &mut State) {
        match state.transition {
            Some(Transition::Ready(at, admin)) if Instant::now() >= at => {
                state.transition = None;
                Self::start(state, admin);
            }
            Some(Transition::Reset(at)) if Instant::now() >= at => {
                state.transition = None;
                state.csts &= !CSTS_RDY;
            }
            _ => {}
        }
    }

    /// Becomes ready with the admin queues `admin` (QEMU's `nvme_start_ctrl`), or fails
    /// (CSTS.CFS) if they are invalid.
    fn start(state: &mut State, admin: AdminQueues) {
        if !Self::admin_queue_valid(&admin, state.cc) {
            log::warn!(target: "drydock", "simulated NVMe: invalid admin queue setup, CSTS.CFS");
            state.csts = CSTS_CFS;
            return;
        }
        let (asqs, acqs) = admin.sizes();
        state.cqs[0] = Some(Cq {
            base: admin.acq,
            size: acqs,
            head: 0,
            tail: 0,
            phase: true,
            irq_enabled: true,
            vector: 0,
            pending: VecDeque::new(),
        });
        state.sqs[0] = Some(Sq {
            base: admin.asq,
            size: asqs,
            head: 0,
            tail: 0,
            cqid: 0,
        });
        state.csts = CSTS_RDY;
    }

    /// Whether the admin queue registers allow enabling, as QEMU's `nvme_start_ctrl` checks.
    fn admin_queue_valid(state: &AdminQueues, cc: u32) -> bool {
        let css = (cc >> 4) & 7;
        let mps = (cc >> 7) & 0xf;
        let cap_css = ((CAP >> 37) & 0xff) as u32;
        state.asq & (PAGE - 1) == 0
            && state.acq & (PAGE - 1) == 0
            && state.asq != 0
            && state.acq != 0
            && cap_css & (1 << css) != 0
            && mps == 0
            && state.aqa & 0xfff != 0
            && (state.aqa >> 16) & 0xfff != 0
    }

    /// CC.EN 1→0: every queue is deleted, shadow doorbells forgotten, CSTS cleared.
    fn reset(state: &mut State) {
        state.sqs.iter_mut().for_each(|sq| *sq = None);
        state.cqs.iter_mut().for_each(|cq| *cq = None);
        state.dbbuf = None;
        state.queues_created = false;
        state.stalled.clear();
        state.csts = 0;
    }

    /// The doorbell stride CAP.DSTRD gives (4 bytes in QEMU's CAP).
    fn doorbell_stride(&self) -> usize {
        4 << ((self.config.cap >> 32) & 0xf)
    }

    fn write_doorbell(&self, ctx: &SimContext, state: &mut State, offset: usize, value: u32) {
        let (rel, stride) = (offset - DOORBELLS, self.doorbell_stride());
        if state.csts & CSTS_RDY == 0 || !rel.is_multiple_of(stride) {
            return;
        }
        let qid = rel / stride / 2;
        if (rel / stride).is_multiple_of(2) {
            self.stats
                .sq_doorbell_writes
                .fetch_add(1, Ordering::Relaxed);
            let Some(sq) = state.sqs.get_mut(qid).and_then(Option::as_mut) else {
                log::debug!(target: "drydock", "simulated NVMe: doorbell of missing SQ {qid}");
                return;
            };
            if value >= sq.size {
                log::debug!(target: "drydock", "simulated NVMe: SQ {qid} tail {value} out of range");
                return;
            }
            sq.tail = value;
            if qid == 0 {
                if let Some(dbbuf) = state.dbbuf {
                    ctx.dma_write(dbbuf.doorbells, &value.to_le_bytes());
                }
            }
            self.process_sq(ctx, state, qid as u16);
        } else {
            self.stats
                .cq_doorbell_writes
                .fetch_add(1, Ordering::Relaxed);
            let Some(cq) = state.cqs.get_mut(qid).and_then(Option::as_mut) else {
                log::debug!(target: "drydock", "simulated NVMe: doorbell of missing CQ {qid}");
                return;
            };
            if value >= cq.size {
                log::debug!(target: "drydock", "simulated NVMe: CQ {qid} head {value} out of range");
                return;
            }
            cq.head = value;
            if qid == 0 {
                if let Some(dbbuf) = state.dbbuf {
                    ctx.dma_write(dbbuf.doorbells + 4, &value.to_le_bytes());
                }
            }
            if self.post_pending(ctx, state, qid as u16) {
                // Completions that waited for room are signalled as new ones are (QEMU's
                // `nvme_post_cqes` asserts the interrupt after posting them).
                self.notify(ctx, state, qid as u16);
            }
            self.update_intx(ctx, state);
        }
    }

    /// Reads a shadow doorbell (`cq` selects the CQ head's) of queue `qid`, if configured.
    fn shadow_doorbell(ctx: &SimContext, state: &State, qid: u16, cq: bool) -> Option<u32> {
        let dbbuf = state.dbbuf?;
        if qid == 0 {
            return None;
        }
        let mut value = [0; 4];
        let addr = dbbuf.doorbells + u64::from(qid) * 8 + if cq { 4 } else { 0 };
        ctx.dma_read(addr, &mut value)
            .then(|| u32::from_le_bytes(value))
    }

    /// Writes an event index (`cq` selects the CQ head's) of queue `qid`, if configured.
    fn write_event_index(ctx: &SimContext, state: &State, qid: u16, cq: bool, value: u32) {
        if let Some(dbbuf) = state.dbbuf {
            if qid != 0 {
                let addr = dbbuf.event_indexes + u64::from(qid) * 8 + if cq { 4 } else { 0 };
                ctx.dma_write(addr, &value.to_le_bytes());
            }
        }
    }

    /// Fetches and executes the commands of SQ `sqid` up to its tail.
    fn process_sq(&self, ctx: &SimContext, state: &mut State, sqid: u16) {
        let Some(cqid) = state.sqs[usize::from(sqid)].as_ref().map(|sq| sq.cqid) else {
            return;
        };
        self.refresh_sq_tail(ctx, state, sqid);
        while let Some(sq) = state.sqs[usize::from(sqid)].as_mut() {
            if sq.head == sq.tail || state.csts & CSTS_CFS != 0 {
                break;
            }
            let addr = sq.base + u64::from(sq.head) * 64;
            let mut bytes = [0u8; 64];
            if !ctx.dma_read(addr, &mut bytes) {
                log::warn!(target: "drydock", "simulated NVMe: SQ {sqid} entry fetch faulted, CSTS.CFS");
                state.csts |= CSTS_CFS;
                break;
            }
            sq.head = (sq.head + 1) % sq.size;
            let command = Command::from_bytes(&bytes);
            if let Some((status, result)) = self.execute(ctx, state, sqid, &command) {
                self.complete(ctx, state, sqid, command.cid(), status, result);
            }
            // Shadow doorbells: publish how far the queue was read, then look for more.
            let tail = state.sqs[usize::from(sqid)]
                .as_ref()
                .map_or(0, |sq| sq.tail);
            Self::write_event_index(ctx, state, sqid, false, tail);
            self.refresh_sq_tail(ctx, state, sqid);
        }
        self.notify(ctx, state, cqid);
    }

    /// Takes SQ `sqid`'s tail from its shadow doorbell, if configured and valid.
    fn refresh_sq_tail(&self, ctx: &SimContext, state: &mut State, sqid: u16) {
        if let Some(tail) = Self::shadow_doorbell(ctx, state, sqid, false) {
            if let Some(sq) = state.sqs[usize::from(sqid)].as_mut() {
                if tail < sq.size {
                    sq.tail = tail;
                }
            }
        }
    }

    /// Queues the completion of command `cid` of SQ `sqid` on its CQ and posts what fits.
    fn complete(
        &self,
        ctx: &SimContext,
        state: &mut State,
        sqid: u16,
        cid: u16,
        status: u16,
        result: u32,
    ) {
        let Some(sq) = state.sqs[usize::from(sqid)].as_ref() else {
            return;
        };
        let (cqid, sq_head) = (sq.cqid, sq.head);
        let Some(cq) = state.cqs[usize::from(cqid)].as_mut() else {
            return;
        };
        self.stats.commands.fetch_add(1, Ordering::Relaxed);
        cq.pending.push_back([
            result,
            0,
            sq_head | u32::from(sqid) << 16,
            u32::from(cid) | u32::from(status) << 17,
        ]);
        // Signalled by the caller, once for every command the doorbell announced.
        let _ = self.post_pending(ctx, state, cqid);
    }

    /// Writes the pending completions of CQ `cqid` that fit; returns whether it wrote any.
    fn post_pending(&self, ctx: &SimContext, state: &mut State, cqid: u16) -> bool {
        if state.dbbuf.is_some() && cqid != 0 {
            let head = state.cqs[usize::from(cqid)].as_ref().map(|cq| cq.head);
            if let Some(head) = head {
                Self::write_event_index(ctx, state, cqid, true, head);
            }
            if let Some(head) = Self::shadow_doorbell(ctx, state, cqid, true) {
                if let Some(cq) = state.cqs[usize::from(cqid)].as_mut() {
                    if head < cq.size {
                        cq.head = head;
                    }
                }
            }
        }
        let Some(cq) = state.cqs[usize::from(cqid)].as_mut() else {
            return false;
        };
        let mut posted = false;
        while !cq.full() {
            let Some(mut entry) = cq.pending.pop_front() else {
                break;
            };
            entry[3] |= u32::from(cq.phase) << 16;
            let addr = cq.base + u64::from(cq.tail) * 16;
            if !ctx.dma_write(addr, &entry_bytes(&entry)) {
                log::warn!(target: "drydock", "simulated NVMe: CQ {cqid} post faulted, CSTS.CFS");
                state.csts |= CSTS_CFS;
                return posted;
            }
            advance_cq_tail(cq);
            posted = true;
        }
        posted
    }

    /// Signals CQ `cqid`'s interrupt if it has unconsumed entries.
    fn notify(&self, ctx: &SimContext, state: &mut State, cqid: u16) {
        let Some(cq) = state.cqs[usize::from(cqid)].as_ref() else {
            return;
        };
        if cq.head == cq.tail || !cq.irq_enabled {
            return;
        }
        if ctx.msi_enabled() {
            self.stats.interrupts.fetch_add(1, Ordering::Relaxed);
            ctx.raise_msi(u32::from(cq.vector));
        } else {
            self.update_intx(ctx, state);
        }
    }

    /// Sets INTx from the interrupt-enabled CQs with entries, under INTMS (no MSI-X only).
    fn update_intx(&self, ctx: &SimContext, state: &mut State) {
        if ctx.msi_enabled() {
            return;
        }
        let pending = state
            .cqs
            .iter()
            .flatten()
            .filter(|cq| cq.irq_enabled && cq.head != cq.tail && cq.vector < 32)
            .fold(0u32, |bits, cq| bits | 1 << cq.vector);
        let asserted = pending & !state.intms != 0;
        if asserted && !state.intx {
            self.stats.interrupts.fetch_add(1, Ordering::Relaxed);
        }
        state.intx = asserted;
        ctx.set_intx(asserted);
    }

    /// The Number of Queues result: the configured answer, or the queues offered.
    fn number_of_queues(&self, state: &State) -> u32 {
        self.config
            .number_of_queues_answer
            .unwrap_or_else(|| state.number_of_queues())
    }

    /// Executes a command; `None` if it does not complete now.
    fn execute(
        &self,
        ctx: &SimContext,
        state: &mut State,
        sqid: u16,
        command: &Command,
    ) -> Option<(u16, u32)> {
        let admin = sqid == 0;
        if let Some(index) = state
            .armed
            .iter()
            .position(|a| a.admin == admin && a.opcode == command.opcode())
        {
            if state.armed[index].skip > 0 {
                state.armed[index].skip -= 1;
                return Some(self.run(ctx, state, sqid, command));
            }
            match state.armed.remove(index).fault {
                Fault::Status(status) => return Some((status, 0)),
                Fault::Stall => {
                    state.stalled.push(Stalled {
                        sqid,
                        command: command.clone(),
                    });
                    return None;
                }
            }
        }
        Some(self.run(ctx, state, sqid, command))
    }

    /// Executes a command of SQ `sqid` (the admin queue's if 0): its status and result.
    fn run(&self, ctx: &SimContext, state: &mut State, sqid: u16, command: &Command) -> (u16, u32) {
        if sqid == 0 {
            self.admin_command(ctx, state, command)
        } else {
            (self.io_command(ctx, state, command), 0)
        }
    }

    fn admin_command(&self, ctx: &SimContext, state: &mut State, c: &Command) -> (u16, u32) {
        if c.psdt() != 0 {
            return (INVALID_FIELD | DNR, 0);
        }
        match c.opcode() {
            admin::IDENTIFY => (self.identify(ctx, c), 0),
            admin::CREATE_CQ => (Self::create_cq(state, c), 0),
            admin::CREATE_SQ => (Self::create_sq(state, c), 0),
            admin::DELETE_SQ => (Self::delete_sq(state, c), 0),
            admin::DELETE_CQ => (self.delete_cq(ctx, state, c), 0),
            admin::SET_FEATURES => self.set_features(state, c),
            admin::GET_FEATURES => self.get_features(state, c),
            // QEMU never aborts: bit 0 of the result says "not aborted".
            admin::ABORT => (SUCCESS, 1),
            admin::DOORBELL_BUFFER_CONFIG => (Self::doorbell_buffer_config(ctx, state, c), 0),
            _ => (INVALID_OPCODE | DNR, 0),
        }
    }

    fn identify(&self, ctx: &SimContext, c: &Command) -> u16 {
        match self.identify_data(c.dw(10) & 0xff, c.nsid()) {
            Ok(data) => self.transfer_to_host(ctx, c, &data),
            Err(status) => status,
        }
    }

    /// The 4096 bytes Identify answers for CNS `cns` (0: namespace `nsid`, 1: the controller,
    /// 2: the active namespaces after `nsid`), configured patches applied, or its error status.
    pub fn identify_data(&self, cns: u32, nsid: u32) -> Result<Vec<u8>, u16> {
        let mut data = vec![0u8; 4096];
        match cns {
            0 => {
                if nsid == 0 || nsid > NN {
                    return Err(INVALID_NSID | DNR);
                }
                if nsid == 1 {
                    self.identify_namespace(&mut data);
                }
            }
            1 => self.identify_controller(&mut data),
            2 => {
                if nsid >= NSID_BROADCAST - 1 {
                    return Err(INVALID_NSID | DNR);
                }
                if nsid < 1 {
                    data[..4].copy_from_slice(&1u32.to_le_bytes());
                }
                for &(offset, value) in &self.config.active_namespace_list_patch {
                    data[offset] = value;
                }
            }
            _ => return Err(INVALID_FIELD | DNR),
        }
        Ok(data)
    }

    fn identify_controller(&self, data: &mut [u8]) {
        let put = |data: &mut [u8], offset: usize, bytes: &[u8]| {
            data[offset..offset + bytes.len()].copy_from_slice(bytes)
        };
        let padded = |text: &str, len: usize| {
            let mut field = vec![b' '; len];
            let n = text.len().min(len);
            field[..n].copy_from_slice(&text.as_bytes()[..n]);
            field
        };
        put(data, 0, &0x1b36u16.to_le_bytes());
        put(data, 2, &0x1af4u16.to_le_bytes());
        put(data, 4, &padded(&self.config.serial, 20));
        put(data, 24, &padded("QEMU NVMe Ctrl", 40));
        put(data, 64, &padded("7.2.22", 8));
        data[72] = 6; // RAB
        put(data, 73, &[0x00, 0x54, 0x52]); // IEEE OUI
        data[77] = self.config.mdts;
        put(data, 80, &VERSION.to_le_bytes());
        put(data, 256, &0x010au16.to_le_bytes()); // OACS: format, NS management, DBBC
        data[258] = 3; // ACL
        data[259] = 3; // AERL
        data[512] = 0x66; // SQES
        data[513] = 0x44; // CQES
        put(data, 516, &NN.to_le_bytes());
        put(data, 520, &0x015du16.to_le_bytes()); // ONCS
        data[525] = 0x07; // VWC
        put(data, 536, &1u32.to_le_bytes()); // SGLS
        let nqn = format!("nqn.2019-08.org.qemu:{}", self.config.serial);
        put(data, 768, nqn.as_bytes());
        for &(offset, value) in &self.config.identify_controller_patch {
            data[offset] = value;
        }
    }

    fn identify_namespace(&self, data: &mut [u8]) {
        let blocks = self.config.blocks.to_le_bytes();
        data[0..8].copy_from_slice(&blocks); // NSZE
        data[8..16].copy_from_slice(&blocks); // NCAP
        data[16..24].copy_from_slice(&blocks); // NUSE
        data[25] = 7; // NLBAF: 8 formats
        data[26] = if self.config.lba_shift == 12 { 4 } else { 0 }; // FLBAS
        data[27] = 0x3; // MC
        data[33] = 1; // DLFEAT: deallocated blocks read as zeros
        for (index, (shift, metadata)) in [9u8, 12]
            .into_iter()
            .flat_map(|shift| [0u16, 8, 16, 64].map(|ms| (shift, ms)))
            .enumerate()
        {
            let at = 128 + 4 * index;
            data[at..at + 2].copy_from_slice(&metadata.to_le_bytes());
            data[at + 2] = shift;
        }
        for &(offset, value) in &self.config.identify_namespace_patch {
            data[offset] = value;
        }
    }

    fn create_cq(state: &mut State, c: &Command) -> u16 {
        let cqid = (c.dw(10) & 0xffff) as u16;
        let qsize = c.dw(10) >> 16;
        let flags = c.dw(11);
        let vector = (flags >> 16) as u16;
        let base = c.prp1();
        if cqid == 0 || !state.has_queue_id(cqid) || state.cqs[usize::from(cqid)].is_some() {
            return INVALID_QID | DNR;
        }
        if qsize == 0 || qsize > (CAP & 0xffff) as u32 {
            return INVALID_QUEUE_SIZE | DNR;
        }
        if base & (PAGE - 1) != 0 {
            return INVALID_PRP_OFFSET | DNR;
        }
        if u32::from(vector) >= MSIX_VECTORS {
            return INVALID_IRQ_VECTOR | DNR;
        }
        if flags & 1 == 0 {
            return INVALID_FIELD | DNR;
        }
        state.cqs[usize::from(cqid)] = Some(Cq {
            base,
            size: qsize + 1,
            head: 0,
            tail: 0,
            phase: true,
            irq_enabled: flags & 2 != 0,
            vector,
            pending: VecDeque::new(),
        });
        state.queues_created = true;
        SUCCESS
    }

    fn create_sq(state: &mut State, c: &Command) -> u16 {
        let sqid = (c.dw(10) & 0xffff) as u16;
        let qsize = c.dw(10) >> 16;
        let flags = c.dw(11);
        let cqid = (flags >> 16) as u16;
        let base = c.prp1();
        if cqid == 0 || !state.has_queue_id(cqid) || state.cqs[usize::from(cqid)].is_none() {
            return INVALID_CQID | DNR;
        }
        if sqid == 0 || !state.has_queue_id(sqid) || state.sqs[usize::from(sqid)].is_some() {
            return INVALID_QID | DNR;
        }
        if qsize == 0 || qsize > (CAP & 0xffff) as u32 {
            return INVALID_QUEUE_SIZE | DNR;
        }
        if base & (PAGE - 1) != 0 {
            return INVALID_PRP_OFFSET | DNR;
        }
        if flags & 1 == 0 {
            return INVALID_FIELD | DNR;
        }
        state.sqs[usize::from(sqid)] = Some(Sq {
            base,
            size: qsize + 1,
            head: 0,
            tail: 0,
            cqid,
        });
        SUCCESS
    }

    fn delete_sq(state: &mut State, c: &Command) -> u16 {
        let qid = (c.dw(10) & 0xffff) as usize;
        if qid == 0 || qid >= state.sqs.len() || state.sqs[qid].is_none() {
            return INVALID_QID | DNR;
        }
        state.sqs[qid] = None;
        state.stalled.retain(|s| usize::from(s.sqid) != qid);
        SUCCESS
    }

    fn delete_cq(&self, ctx: &SimContext, state: &mut State, c: &Command) -> u16 {
        let qid = (c.dw(10) & 0xffff) as usize;
        if qid == 0 || qid >= state.cqs.len() || state.cqs[qid].is_none() {
            return INVALID_CQID | DNR;
        }
        if state
            .sqs
            .iter()
            .flatten()
            .any(|sq| usize::from(sq.cqid) == qid)
        {
            return INVALID_QUEUE_DELETION | DNR;
        }
        state.cqs[qid] = None;
        self.update_intx(ctx, state);
        SUCCESS
    }

    fn set_features(&self, state: &mut State, c: &Command) -> (u16, u32) {
        let dw11 = c.dw(11);
        match (c.dw(10) & 0xff) as u8 {
            FEATURE_NUMBER_OF_QUEUES => {
                if state.queues_created {
                    return (COMMAND_SEQUENCE_ERROR | DNR, 0);
                }
                if dw11 & 0xffff == 0xffff || dw11 >> 16 == 0xffff {
                    return (INVALID_FIELD | DNR, 0);
                }
                (SUCCESS, self.number_of_queues(state))
            }
            FEATURE_VOLATILE_WRITE_CACHE => {
                state.volatile_write_cache = dw11 & 1 != 0;
                (SUCCESS, 0)
            }
            _ => (INVALID_FIELD | DNR, 0),
        }
    }

    fn get_features(&self, state: &mut State, c: &Command) -> (u16, u32) {
        match (c.dw(10) & 0xff) as u8 {
            FEATURE_NUMBER_OF_QUEUES => (SUCCESS, self.number_of_queues(state)),
            FEATURE_VOLATILE_WRITE_CACHE => (SUCCESS, u32::from(state.volatile_write_cache)),
            _ => (INVALID_FIELD | DNR, 0),
        }
    }

    fn doorbell_buffer_config(ctx: &SimContext, state: &mut State, c: &Command) -> u16 {
        let (doorbells, event_indexes) = (c.prp1(), c.prp2());
        if doorbells & (PAGE - 1) != 0 || event_indexes & (PAGE - 1) != 0 {
            return INVALID_FIELD | DNR;
        }
        let dbbuf = Dbbuf {
            doorbells,
            event_indexes,
        };
        for qid in 0..state.sqs.len() {
            let sq = qid as u64 * 8;
            if let Some(tail) = state.sqs[qid].as_ref().map(|sq| sq.tail) {
                ctx.dma_write(doorbells + sq, &tail.to_le_bytes());
            }
            if let Some(head) = state.cqs[qid].as_ref().map(|cq| cq.head) {
                ctx.dma_write(doorbells + sq + 4, &head.to_le_bytes());
            }
        }
        state.dbbuf = Some(dbbuf);
        SUCCESS
    }

    fn io_command(&self, ctx: &SimContext, state: &mut State, c: &Command) -> u16 {
        let nsid = c.nsid();
        if nsid == 0 || (nsid > NN && nsid != NSID_BROADCAST) {
            return INVALID_NSID | DNR;
        }
        if c.opcode() == opcode::FLUSH && nsid == NSID_BROADCAST {
            return SUCCESS;
        }
        if nsid != 1 {
            return INVALID_FIELD | DNR;
        }
        if c.psdt() != 0 {
            return INVALID_FIELD | DNR;
        }
        let slba = u64::from(c.dw(10)) | u64::from(c.dw(11)) << 32;
        let blocks = u64::from(c.dw(12) & 0xffff) + 1;
        let in_range = |slba: u64| {
            slba.checked_add(blocks)
                .is_some_and(|end| end <= self.config.blocks)
        };
        match c.opcode() {
            opcode::FLUSH => SUCCESS,
            opcode::READ | opcode::WRITE => {
                let len = blocks << self.config.lba_shift;
                let mdts = u32::from(self.config.mdts);
                if mdts != 0 && mdts < 52 && len > PAGE << mdts {
                    return INVALID_FIELD | DNR;
                }
                if !in_range(slba) {
                    return LBA_OUT_OF_RANGE | DNR;
                }
                let segments = match map_prp(ctx, c.prp1(), c.prp2(), len) {
                    Ok(segments) => segments,
                    Err(status) => return status,
                };
                let start = (slba * self.lba_size()) as usize;
                let range = start..start + len as usize;
                if c.opcode() == opcode::READ {
                    let mut at = start;
                    for (addr, len) in segments {
                        if !ctx.dma_write(addr, &state.storage[at..at + len]) {
                            return DATA_TRANSFER_ERROR;
                        }
                        at += len;
                    }
                } else {
                    // Gathered first, so that a faulting transfer leaves the namespace untouched.
                    let mut data = vec![0; range.len()];
                    let mut at = 0;
                    for (addr, len) in segments {
                        if !ctx.dma_read(addr, &mut data[at..at + len]) {
                            return DATA_TRANSFER_ERROR;
                        }
                        at += len;
                    }
                    state.storage[range].copy_from_slice(&data);
                }
                SUCCESS
            }
            opcode::WRITE_ZEROES => {
                if !in_range(slba) {
                    return LBA_OUT_OF_RANGE | DNR;
                }
                let start = (slba * self.lba_size()) as usize;
                let end = start + (blocks * self.lba_size()) as usize;
                state.storage[start..end].fill(0);
                SUCCESS
            }
            _ => INVALID_OPCODE | DNR,
        }
    }

    /// Copies `data` to the host buffer a command's PRPs describe.
    fn transfer_to_host(&self, ctx: &SimContext, c: &Command, data: &[u8]) -> u16 {
        let segments = match map_prp(ctx, c.prp1(), c.prp2(), data.len() as u64) {
            Ok(segments) => segments,
            Err(status) => return status,
        };
        let mut at = 0;
        for (addr, len) in segments {
            if !ctx.dma_write(addr, &data[at..at + len]) {
                return DATA_TRANSFER_ERROR;
            }
            at += len;
        }
        SUCCESS
    }
}

impl State {
    /// Whether `qid` is an I/O queue identifier the controller offers.
    fn has_queue_id(&self, qid: u16) -> bool {
        usize::from(qid) < self.sqs.len()
    }

    /// The admin queue registers.
    fn admin_queues(&self) -> AdminQueues {
        AdminQueues {
            aqa: self.aqa,
            asq: self.asq,
            acq: self.acq,
        }
    }

    /// The Number of Queues result of the queues offered: 0-based counts of SQs and CQs.
    fn number_of_queues(&self) -> u32 {
        let count = self.sqs.len() as u32 - 2;
        count | count << 16
    }
}

fn advance_cq_tail(cq: &mut Cq) {
    cq.tail += 1;
    if cq.tail == cq.size {
        cq.tail = 0;
        cq.phase = !cq.phase;
    }
}

fn entry_bytes(entry: &[u32; 4]) -> [u8; 16] {
    let mut bytes = [0; 16];
    for (chunk, dword) in bytes.chunks_exact_mut(4).zip(entry) {
        chunk.copy_from_slice(&dword.to_le_bytes());
    }
    bytes
}

/// Resolves PRP1/PRP2 of a `len`-byte transfer into `(bus address, length)` segments, as QEMU's
/// `nvme_map_prp` does: PRP1 may start anywhere; PRP2 is the second page (page aligned) or points
/// to a PRP list (which may start at an offset), whose entries must be page aligned and whose last
/// entry chains to the next list when more pages follow.
fn map_prp(ctx: &SimContext, prp1: u64, prp2: u64, len: u64) -> Result<Vec<(u64, usize)>, u16> {
    let max_entries = PAGE / 8;
    let first = len.min(PAGE - prp1 % PAGE);
    let mut segments = vec![(prp1, first as usize)];
    let mut left = len - first;
    if left == 0 {
        return Ok(segments);
    }
    if left <= PAGE {
        if prp2 & (PAGE - 1) != 0 {
            return Err(INVALID_PRP_OFFSET | DNR);
        }
        segments.push((prp2, left as usize));
        return Ok(segments);
    }
    let read_list = |addr: u64, entries: u64| -> Result<Vec<u64>, u16> {
        let mut bytes = vec![0u8; (entries * 8) as usize];
        if !ctx.dma_read(addr, &mut bytes) {
            return Err(DATA_TRANSFER_ERROR);
        }
        Ok(bytes
            .chunks_exact(8)
            .map(|b| u64::from_le_bytes(b.try_into().expect("8-byte chunk")))
            .collect())
    };
    let mut entries = (PAGE - (prp2 & (PAGE - 1))) >> 3;
    let mut list = read_list(prp2, entries.min(max_entries))?;
    let mut i = 0;
    while left != 0 {
        let mut entry = list[i];
        if i as u64 == entries - 1 && left > PAGE {
            if entry & (PAGE - 1) != 0 {
                return Err(INVALID_PRP_OFFSET | DNR);
            }
            entries = left.div_ceil(PAGE).min(max_entries);
            list = read_list(entry, entries)?;
            i = 0;
            entry = list[0];
        }
        if entry & (PAGE - 1) != 0 {
            return Err(INVALID_PRP_OFFSET | DNR);
        }
        let chunk = left.min(PAGE);
        segments.push((entry, chunk as usize));
        left -= chunk;
        i += 1;
    }
    Ok(segments)
}

/// A submission queue entry.
#[derive(Clone)]
struct Command([u32; 16]);

impl Command {
    fn from_bytes(bytes: &[u8; 64]) -> Self {
        let mut dwords = [0u32; 16];
        for (dword, chunk) in dwords.iter_mut().zip(bytes.chunks_exact(4)) {
            *dword = u32::from_le_bytes(chunk.try_into().expect("4-byte chunk"));
        }
        Self(dwords)
    }

    fn dw(&self, index: usize) -> u32 {
        self.0[index]
    }

    fn opcode(&self) -> u8 {
        self.0[0] as u8
    }

    fn psdt(&self) -> u32 {
        (self.0[0] >> 14) & 3
    }

    fn cid(&self) -> u16 {
        (self.0[0] >> 16) as u16
    }

    fn nsid(&self) -> u32 {
        self.0[1]
    }

    fn prp1(&self) -> u64 {
        u64::from(self.0[6]) | u64::from(self.0[7]) << 32
    }

    fn prp2(&self) -> u64 {
        u64::from(self.0[8]) | u64::from(self.0[9]) << 32
    }
}

impl DeviceModel for Nvme {
    fn identity(&self) -> Identity {
        Identity {
            vendor: 0x1b36,
            device: 0x0010,
            subsystem_vendor: 0x1af4,
            subsystem: 0x1100,
            revision: 2,
            class: 0x010802,
            interrupt_pin: 1,
        }
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: BAR_SIZE,
            start: 0,
            kind: BarKind::Mem64,
            prefetchable: false,
        });
        bars
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        match kind {
            IrqKind::Intx => 1,
            IrqKind::Msi => 0,
            IrqKind::MsiX => {
                if self.config.msix {
                    MSIX_VECTORS
                } else {
                    0
                }
            }
        }
    }

    /// QEMU's controller is a PCI Express endpoint.
    fn pci_express(&self) -> bool {
        true
    }

    fn read(&self, _ctx: &SimContext, _bar: u32, offset: usize, width: usize) -> u64 {
        if width < 4 || !offset.is_multiple_of(width) || offset >= DOORBELLS {
            return 0;
        }
        let mut state = self.lock();
        Self::settle(&mut state);
        let cap = self.config.cap;
        let dword = |offset: usize| -> u32 {
            match offset {
                REG_CAP => cap as u32,
                0x04 => (cap >> 32) as u32,
                REG_VS => VERSION,
                REG_INTMS | REG_INTMC => state.intms,
                REG_CC => state.cc,
                REG_CSTS => state.csts,
                REG_AQA => state.aqa,
                REG_ASQ => state.asq as u32,
                0x2c => (state.asq >> 32) as u32,
                REG_ACQ => state.acq as u32,
                0x34 => (state.acq >> 32) as u32,
                _ => 0,
            }
        };
        let low = u64::from(dword(offset));
        if width == 8 {
            low | u64::from(dword(offset + 4)) << 32
        } else {
            low
        }
    }

    fn write(&self, ctx: &SimContext, _bar: u32, offset: usize, width: usize, value: u64) {
        if width < 4 || !offset.is_multiple_of(width) || offset >= BAR_SIZE as usize {
            return;
        }
        let mut state = self.lock();
        Self::settle(&mut state);
        if offset >= DOORBELLS {
            self.write_doorbell(ctx, &mut state, offset, value as u32);
            return;
        }
        let dwords: &[(usize, u32)] = if width == 8 {
            &[(offset, value as u32), (offset + 4, (value >> 32) as u32)]
        } else {
            &[(offset, value as u32)]
        };
        for &(offset, value) in dwords {
            match offset {
                REG_INTMS => {
                    state.intms |= value;
                    self.update_intx(ctx, &mut state);
                }
                REG_INTMC => {
                    state.intms &= !value;
                    self.update_intx(ctx, &mut state);
                }
                REG_CC => self.write_cc(ctx, &mut state, value),
                REG_AQA => state.aqa = value,
                REG_ASQ => state.asq = (state.asq & !0xffff_ffff) | u64::from(value),
                0x2c => state.asq = (state.asq & 0xffff_ffff) | u64::from(value) << 32,
                REG_ACQ => state.acq = (state.acq & !0xffff_ffff) | u64::from(value),
                0x34 => state.acq = (state.acq & 0xffff_ffff) | u64::from(value) << 32,
                _ => {}
            }
        }
    }
}
