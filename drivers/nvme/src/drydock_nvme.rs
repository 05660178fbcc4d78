// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Driver for NVMe controllers (PCI class 01:08:02), with a block I/O interface for callers in the
//! same address space.
//!
//! At probe the driver takes the controller to a known state whatever state it was left in (by
//! the kernel's driver, or by a process that was killed): it clears CC.EN and waits for CSTS.RDY
//! to clear, sets up the admin queue, enables the controller, reads Identify Controller and the
//! first active namespace, and negotiates the number of I/O queues. The controller is driven with
//! 4 KiB memory pages and PRPs. If probe fails once the controller was given the admin queue, the
//! controller is disabled before the queue's memory is freed, as unbind disables it before the
//! driver's data is dropped.
//!
//! I/O goes through queue pairs created on request ([`Controller::create_io_queue`]), each polled
//! or interrupt driven (an MSI-X vector per queue while vectors last, then shared; INTx when
//! MSI-X is missing). A [`Queue`] takes [`IoCommand`]s (read, write, flush, write zeroes) whose
//! data is in a [`Coherent`] DMA buffer, which the controller reads or writes in place: no copies.
//! Transfers beyond two pages use a PRP list, chained over several list pages when one does not
//! hold it, up to the controller's MDTS or the driver's 8 MiB, whichever is smaller; each command
//! slot has the list pages of the largest transfer. As many I/O queue pairs as the controller
//! allocates (and BAR0 has doorbells for) can exist. Submitting, reaping and waiting allocate
//! nothing.
//!
//! Completions report a [`Status`]: the controller's status field, decoded into an [`Error`] by
//! [`Status::to_result`] and logged when it is not a success; a command without a completion
//! within its queue's timeout (for admin commands, the `admin_timeout` parameter: 30 s unless
//! set, as `nvme_core.admin_timeout` is) completes as [`Status::TimedOut`], a controller that
//! sets CSTS.CFS fails every command in flight. Either is noticed at the checks of whichever
//! thread reaps or waits, at most 100 ms apart. No completion is handed out while the controller
//! may still access the command's buffer: a command that timed out is first taken back (its
//! submission queue deleted and created again, as the kernel's driver resets the controller),
//! and a failed controller is disabled first ([`Queue`] has the rules). A controller that cannot
//! be trusted any more is disabled and failed: an admin command timed out, the commands taking
//! back an I/O command failed, or a queue could not be deleted (the controller may still use it).
//!
//! A controller that is gone (surprise removal, a link down, memory decoding switched off) reads
//! all ones. As the kernel's driver does (`readl(CSTS) == ~0`), CSTS reading all ones means the
//! controller is gone: probe refuses it, and every wait on CSTS (for RDY to set or clear) ends
//! there with `ENODEV` instead of running out a timeout computed from a CAP that reads all ones
//! too (CAP.TO 255: 128 s). The commands in flight then fail at the next check, as for a fatal
//! status, and unbinding takes no longer than it does for a controller that answers.
//!
//! Nothing the controller writes can make the driver panic or touch memory it does not own: every
//! completion entry is checked (phase, queue identifier, command identifier against the commands
//! in flight), indexes come from the driver's own state only, a completion queue is read at most
//! one lap per pass, and Identify data is validated before use.
//!
//! Shadow doorbells (Doorbell Buffer Config) can be enabled with
//! [`Controller::enable_shadow_doorbells`]: the driver then writes doorbell values to memory and
//! rings the MMIO doorbell only when the controller's event index asks for it, as the kernel's
//! nvme driver does.
//!
//! While bound, the driver shows its queues in debugfs, as an in-kernel driver would: the file
//! `drydock_nvme-<device>/queues` (under `/sys/kernel/debug` in the kernel, on the process's
//! debugfs mount through drydock) has a line per queue, the admin queue (0) first, with its depth
//! (entries), the commands in flight (submitted, not yet reaped) and its counters: commands
//! submitted and completed, error statuses, timeouts, interrupts that found completions.
//!
//! The file builds unchanged as a Linux 7.3 module and as a drydock userspace driver.

use kernel::{
    debugfs,
    device::{Bound, Core},
    dma::{Coherent, Device, DmaAddress, DmaMask},
    fmt,
    io::{io_project, io_read, io_write, poll::read_poll_timeout, register, Io},
    irq::{self, IrqReturn},
    pci,
    prelude::*,
    str::CString,
    sync::{
        aref::ARef,
        atomic::{Acquire, Atomic, Release},
        barrier::{mb, Full, Read, Write},
        new_condvar, new_mutex, new_spinlock_irq, Arc, CondVar, CondVarTimeoutResult, Mutex,
        SpinLockIrq, SpinLockIrqGuard,
    },
    time::{msecs_to_jiffies, Delta, Instant, Monotonic},
};

/// The controller registers the driver uses.
mod regs {
    use super::*;

    register! {
        /// Controller Capabilities, bits 31:0.
        pub(super) CAP_LO(u32) @ 0x00 {
            /// Maximum Queue Entries Supported, 0-based.
            15:0 mqes;
            /// Contiguous Queues Required.
            16:16 cqr;
            /// Worst-case time to become ready, in 500 ms units.
            31:24 to;
        }

        /// Controller Capabilities, bits 63:32.
        pub(super) CAP_HI(u32) @ 0x04 {
            /// Doorbell stride: 4 << DSTRD bytes.
            3:0 dstrd;
            /// Command sets supported; bit 0 is the NVM command set.
            12:5 css;
            /// Smallest memory page size: 4 KiB << MPSMIN.
            19:16 mpsmin;
        }

        /// Version.
        pub(super) VS(u32) @ 0x08 {
            31:16 major;
            15:8 minor;
        }

        /// Controller Configuration.
        pub(super) CC(u32) @ 0x14 {
            0:0 en;
            6:4 css;
            10:7 mps;
            15:14 shn;
            19:16 iosqes;
            23:20 iocqes;
        }

        /// Controller Status.
        pub(super) CSTS(u32) @ 0x1c {
            0:0 rdy;
            1:1 cfs;
        }

        /// Admin Queue Attributes: 0-based sizes.
        pub(super) AQA(u32) @ 0x24 {
            11:0 asqs;
            27:16 acqs;
        }

        /// Admin Submission Queue base address, bits 31:0.
        pub(super) ASQ_LO(u32) @ 0x28 { 31:0 addr; }
        /// Admin Submission Queue base address, bits 63:32.
        pub(super) ASQ_HI(u32) @ 0x2c { 31:0 addr; }
        /// Admin Completion Queue base address, bits 31:0.
        pub(super) ACQ_LO(u32) @ 0x30 { 31:0 addr; }
        /// Admin Completion Queue base address, bits 63:32.
        pub(super) ACQ_HI(u32) @ 0x34 { 31:0 addr; }
    }

    /// Offset of the first doorbell (the admin SQ tail).
    pub(super) const DOORBELLS: usize = 0x1000;
    /// The part of BAR0 every controller has: the registers and the admin queue's doorbells with
    /// the smallest stride. Other doorbells are checked against the BAR's real size.
    pub(super) const BAR_SIZE: usize = DOORBELLS + 8;
}

/// Command opcodes.
mod opcode {
    pub(super) const DELETE_SQ: u8 = 0x00;
    pub(super) const CREATE_SQ: u8 = 0x01;
    pub(super) const DELETE_CQ: u8 = 0x04;
    pub(super) const CREATE_CQ: u8 = 0x05;
    pub(super) const IDENTIFY: u8 = 0x06;
    pub(super) const SET_FEATURES: u8 = 0x09;
    pub(super) const DOORBELL_BUFFER_CONFIG: u8 = 0x7c;

    pub(super) const FLUSH: u8 = 0x00;
    pub(super) const WRITE: u8 = 0x01;
    pub(super) const READ: u8 = 0x02;
    pub(super) const WRITE_ZEROES: u8 = 0x08;
}

/// The memory page size the driver programs (CC.MPS = 0).
const PAGE_SIZE: usize = 4096;
/// PRP entries in one list page.
const PRP_LIST_ENTRIES: usize = PAGE_SIZE / 8;
/// The largest transfer the driver describes, whatever MDTS allows: 8 MiB, the kernel's nvme
/// driver's limit (`NVME_MAX_KB_SZ`). Every command slot of an I/O queue keeps the PRP list pages
/// of the controller's largest transfer ([`prp_list_pages`]), one per 2 MiB: at this limit five
/// pages (20 KiB) per slot, 2.5 MiB for a queue of the default depth; without a limit, a
/// controller with a large MDTS (or none) would cost every slot megabytes.
const MAX_TRANSFER_LIMIT: usize = 8 << 20;
/// Entries of the admin queues.
const ADMIN_QUEUE_ENTRIES: u16 = 32;
/// The I/O queue pairs the driver asks for in Number of Queues: as many as the feature can
/// express (0xfffe, 0-based; 0xffff is invalid), so the controller's answer is its own limit.
const IO_QUEUES_ASKED: u32 = 0xfffe;
/// The longest time between two checks of a queue's commands for timeouts and, while commands
/// are in flight and none completes, of CSTS.CFS.
const CHECK_INTERVAL: Delta = Delta::from_millis(100);
/// Reads of the completion queue between two passes of a polled wait (see
/// [`Queue::spin_for_completion`]): a microsecond or two on hardware, tens under emulation, which
/// bounds how late a deadline or timeout is noticed.
const SPIN_READS: u32 = 1024;
/// Interrupt vectors: the admin queue's and up to eight for I/O queues, shared beyond.
const MAX_VECTORS: u32 = 9;
/// The largest number of command identifiers per queue.
const MAX_QUEUE_ENTRIES: u32 = 4096;
/// Whether the time `when` has come at `now`.
fn reached(now: Instant<Monotonic>, when: Instant<Monotonic>) -> bool {
    !(now - when).is_negative()
}

/// Reads CSTS, or fails with `ENODEV` if it reads all ones: the controller is gone (a read that
/// nothing answers completes with all ones, and no state of a controller reads so).
fn read_csts(bar: &Bar<'_>) -> Result<regs::CSTS> {
    let csts = bar.read(regs::CSTS);
    if csts.into_raw() == u32::MAX {
        return Err(ENODEV);
    }
    Ok(csts)
}

/// Logs why a wait on CSTS failed with `err`: the controller is gone, or it did not `what`.
fn log_wait_error(pdev: &pci::Device, err: Error, what: &str) {
    if err == ENODEV {
        dev_err!(pdev, "the controller is gone (CSTS reads all ones)\n");
    } else {
        dev_err!(pdev, "the controller did not {}\n", what);
    }
}

/// How long the controller may take to become ready or disabled: CAP.TO is in 500 ms units; as
/// the kernel's driver does, one unit more, which also gives a controller reporting 0 half a
/// second.
fn ready_timeout(cap: regs::CAP_LO) -> Delta {
    Delta::from_millis(500 * (i64::from(cap.to().get()) + 1))
}

/// The largest transfer of one command for an Identify Controller MDTS of `mdts` (a power of two
/// of the 4 KiB page; 0: no limit), bounded by [`MAX_TRANSFER_LIMIT`]. Computed on exponents, so
/// no value of MDTS overflows.
fn max_transfer(mdts: u8) -> usize {
    let limit_shift = MAX_TRANSFER_LIMIT.trailing_zeros();
    let shift = PAGE_SIZE.trailing_zeros() + u32::from(mdts);
    if mdts == 0 || shift >= limit_shift {
        MAX_TRANSFER_LIMIT
    } else {
        1 << shift
    }
}

/// The PRP list pages a transfer of up to `max_transfer` bytes needs: its data pages after the
/// first, 512 entries to a list page, of which the last one points to the next list page when
/// more entries follow (a chained PRP list).
fn prp_list_pages(max_transfer: usize) -> usize {
    // The data after the first page is shorter than `max_transfer`.
    let entries = max_transfer.div_ceil(PAGE_SIZE);
    entries
        .saturating_sub(1)
        .div_ceil(PRP_LIST_ENTRIES - 1)
        .max(1)
}

/// Marks the end of a slot list.
const NO_SLOT: u16 = u16::MAX;
/// Feature Identifier of the Number of Queues feature.
const FEATURE_NUMBER_OF_QUEUES: u32 = 0x07;
/// OACS bit of Doorbell Buffer Config.
const OACS_DOORBELL_BUFFER_CONFIG: u16 = 1 << 8;

/// BAR0, shared by the driver data, the queues and the interrupt handlers; revoked at unbind.
type Bar0 = pci::DevresBar<{ regs::BAR_SIZE }>;
/// BAR0 while it is accessible.
type Bar<'a> = pci::Bar<'a, { regs::BAR_SIZE }>;

/// A submission queue entry: 16 little-endian dwords.
type SqEntry = [u32; 16];
/// A completion queue entry: 4 little-endian dwords.
type CqEntry = [u32; 4];

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// The controller completed it with this status field: Status Code in bits 7:0, Status Code
    /// Type in bits 10:8, then CRD, More and Do Not Retry (the phase bit removed).
    Device(u16),
    /// No completion arrived within the queue's timeout. Before reporting it, the queue took the
    /// command back from the controller (see [`Queue`]), which accesses its buffer no more.
    TimedOut,
    /// The driver ended it: its queue was deleted, or its submission queue was deleted and
    /// created again to take back a command that timed out.
    Aborted,
    /// The controller reported a fatal error (CSTS.CFS) while it was in flight.
    ControllerFailed,
}

impl Status {
    /// Success.
    pub const SUCCESS: Status = Status::Device(0);

    /// Whether the command succeeded: Status Code Type and Status Code 0, whatever the CRD,
    /// More and Do Not Retry bits say (as [`Status::to_result`] and the kernel's driver judge).
    pub fn is_success(self) -> bool {
        matches!(self, Status::Device(raw) if raw & 0x7ff == 0)
    }

    /// The Status Code Type, for a status from the controller.
    pub fn code_type(self) -> Option<u8> {
        match self {
            Status::Device(raw) => Some(((raw >> 8) & 0x7) as u8),
            _ => None,
        }
    }

    /// The Status Code, for a status from the controller.
    pub fn code(self) -> Option<u8> {
        match self {
            Status::Device(raw) => Some(raw as u8),
            _ => None,
        }
    }

    /// Whether the controller said that retrying would fail again (Do Not Retry).
    pub fn do_not_retry(self) -> bool {
        matches!(self, Status::Device(raw) if raw & (1 << 14) != 0)
    }

    /// The status as an error: the kernel's errno for what went wrong.
    ///
    /// Generic errors map to what they mean (Invalid Opcode `EOPNOTSUPP`, Invalid Field and PRP
    /// or namespace errors `EINVAL`, LBA Out of Range `ERANGE`, Capacity Exceeded `ENOSPC`,
    /// Command Aborted `ECANCELED`), command-specific errors (queue creation...) to `EINVAL`,
    /// media errors to `ENODATA`, anything else to `EIO`; a timeout is `ETIMEDOUT`, a command
    /// aborted by the driver `ECANCELED` and a failed controller `EIO`.
    pub fn to_result(self) -> Result {
        let raw = match self {
            Status::Device(raw) => raw & 0x7ff,
            Status::TimedOut => return Err(ETIMEDOUT),
            Status::Aborted => return Err(ECANCELED),
            Status::ControllerFailed => return Err(EIO),
        };
        let (code_type, code) = (raw >> 8, raw & 0xff);
        match (code_type, code) {
            (0, 0) => Ok(()),
            (0, 0x01) => Err(EOPNOTSUPP),
            (0, 0x02 | 0x0b | 0x0c | 0x13) => Err(EINVAL),
            (0, 0x07 | 0x08) => Err(ECANCELED),
            (0, 0x80) => Err(ERANGE),
            (0, 0x81) => Err(ENOSPC),
            (1, _) => Err(EINVAL),
            (2, _) => Err(ENODATA),
            _ => Err(EIO),
        }
    }

    /// The name the specification gives the status, for the common ones.
    fn name(self) -> &'static str {
        let Status::Device(raw) = self else {
            return match self {
                Status::TimedOut => "timed out",
                Status::Aborted => "aborted by the driver",
                _ => "controller failed",
            };
        };
        match raw & 0x7ff {
            0x000 => "Successful Completion",
            0x001 => "Invalid Command Opcode",
            0x002 => "Invalid Field in Command",
            0x003 => "Command ID Conflict",
            0x004 => "Data Transfer Error",
            0x006 => "Internal Error",
            0x007 => "Command Abort Requested",
            0x008 => "Command Aborted due to SQ Deletion",
            0x00b => "Invalid Namespace or Format",
            0x00c => "Command Sequence Error",
            0x013 => "PRP Offset Invalid",
            0x080 => "LBA Out of Range",
            0x081 => "Capacity Exceeded",
            0x082 => "Namespace Not Ready",
            0x100 => "Completion Queue Invalid",
            0x101 => "Invalid Queue Identifier",
            0x102 => "Invalid Queue Size",
            0x108 => "Invalid Interrupt Vector",
            0x10c => "Invalid Queue Deletion",
            0x280 => "Write Fault",
            0x281 => "Unrecovered Read Error",
            0x286 => "Access Denied",
            _ => "unknown status",
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Status::Device(raw) => write!(
                f,
                "{} (status {:#06x}: SCT {:#x} SC {:#04x}{})",
                self.name(),
                raw,
                (raw >> 8) & 0x7,
                raw & 0xff,
                if self.do_not_retry() { ", DNR" } else { "" }
            ),
            _ => f.write_str(self.name()),
        }
    }
}

/// Identifies a submitted command until its completion is reaped.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    index: u16,
    seq: u32,
}

impl Tag {
    /// The command's slot: below the queue's [`Queue::capacity`] and unique among the commands
    /// not yet reaped, for callers that keep per-command state in arrays.
    pub fn index(self) -> usize {
        usize::from(self.index)
    }

    /// The command identifier the controller sees: the slot in bits 11:0 and, as the kernel's
    /// driver does, a generation counter in bits 15:12, so that a completion for an earlier
    /// command of the same slot is told apart.
    pub fn cid(self) -> u16 {
        command_id(self.index, self.seq)
    }
}

/// The command identifier of slot `index` for the command numbered `seq` (see [`Tag::cid`]).
fn command_id(index: u16, seq: u32) -> u16 {
    index | ((seq & 0xf) as u16) << 12
}

/// A reaped completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    /// The command.
    pub tag: Tag,
    /// How it ended.
    pub status: Status,
    /// Dword 0 of the completion entry (command specific).
    pub result: u32,
}

impl Default for Completion {
    fn default() -> Self {
        Self {
            tag: Tag::default(),
            status: Status::SUCCESS,
            result: 0,
        }
    }
}

impl Completion {
    /// The command's outcome as a result (see [`Status::to_result`]).
    pub fn to_result(&self) -> Result {
        self.status.to_result()
    }
}

/// A block I/O command. Logical blocks are the namespace's ([`Namespace::block_size`]).
#[derive(Clone, Copy)]
pub enum IoCommand<'a> {
    /// Reads `blocks` blocks from `lba` into `buffer` at byte `offset`.
    Read {
        /// The first logical block.
        lba: u64,
        /// The number of blocks (at least 1).
        blocks: u32,
        /// The buffer the controller writes into.
        buffer: &'a Coherent<[u8]>,
        /// Where in `buffer` the data goes; a multiple of 4.
        offset: usize,
    },
    /// Writes `blocks` blocks at `lba` from `buffer` at byte `offset`.
    Write {
        /// The first logical block.
        lba: u64,
        /// The number of blocks (at least 1).
        blocks: u32,
        /// The buffer the controller reads from.
        buffer: &'a Coherent<[u8]>,
        /// Where in `buffer` the data is; a multiple of 4.
        offset: usize,
    },
    /// Makes previous writes durable (commits the volatile write cache).
    Flush,
    /// Writes zeroes to `blocks` blocks from `lba`, without a data transfer.
    WriteZeroes {
        /// The first logical block.
        lba: u64,
        /// The number of blocks (1 to 65536).
        blocks: u32,
    },
}

/// Where a command's data is: a bus address and a length.
#[derive(Clone, Copy)]
struct DataPointer {
    addr: DmaAddress,
    len: usize,
}

/// Options of an I/O queue pair.
#[derive(Clone, Copy, Debug)]
pub struct QueueConfig {
    /// Entries of each queue; `depth - 1` commands can be in flight. Clamped to what the
    /// controller supports (at least 2).
    pub depth: u16,
    /// Whether completions are signalled by interrupts (otherwise the queue is polled).
    pub interrupts: bool,
    /// How long a command may go without a completion before it is reported as timed out.
    pub timeout: Delta,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            depth: 128,
            interrupts: false,
            timeout: Delta::from_secs(30),
        }
    }
}

/// Counters of a queue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueStats {
    /// Commands submitted.
    pub submitted: u64,
    /// Completions from the controller for commands in flight.
    pub completed: u64,
    /// Completions with an error status.
    pub errors: u64,
    /// Commands reported as timed out.
    pub timeouts: u64,
    /// Completions that arrived after their command had timed out, before the queue took it back
    /// (the command then reports that completion).
    pub late: u64,
    /// Times the submission queue was deleted and created again to take back commands that
    /// timed out.
    pub recoveries: u64,
    /// Completion entries that matched no command in flight (ignored).
    pub spurious: u64,
    /// Submission queue doorbells written to the controller (MMIO).
    pub sq_doorbells: u64,
    /// Completion queue doorbells written to the controller (MMIO).
    pub cq_doorbells: u64,
    /// Interrupts that found completions on this queue.
    pub interrupts: u64,
}

/// The namespace the driver serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Namespace {
    /// Namespace identifier.
    pub id: u32,
    /// Size in logical blocks.
    pub blocks: u64,
    /// log2 of the logical block size.
    pub block_shift: u8,
}

impl Namespace {
    /// The logical block size in bytes.
    pub fn block_size(&self) -> usize {
        1 << self.block_shift
    }
}

/// Identify Controller data the driver keeps.
#[derive(Clone, Copy, Debug)]
pub struct ControllerInfo {
    serial: [u8; 20],
    model: [u8; 40],
    firmware: [u8; 8],
    /// NVMe version (major << 16 | minor << 8 | tertiary).
    pub version: u32,
    /// Optional Admin Command Support.
    pub oacs: u16,
    /// Number of namespaces.
    pub namespaces: u32,
    /// Whether a volatile write cache is present.
    pub volatile_write_cache: bool,
}

/// An ASCII field of Identify data without its space padding ("?" if it is not UTF-8).
fn text_field(bytes: &[u8]) -> &str {
    core::str::from_utf8(bytes).map_or("?", |text| text.trim_end_matches([' ', '\0']))
}

impl ControllerInfo {
    /// Serial number.
    pub fn serial(&self) -> &str {
        text_field(&self.serial)
    }

    /// Model number.
    pub fn model(&self) -> &str {
        text_field(&self.model)
    }

    /// Firmware revision.
    pub fn firmware(&self) -> &str {
        text_field(&self.firmware)
    }
}

/// A 4 KiB buffer for Identify data, read byte by byte.
struct IdentifyData(Coherent<[u32]>);

impl IdentifyData {
    fn new(dev: &pci::Device<Bound>) -> Result<Self> {
        Ok(Self(Coherent::<u32>::zeroed_slice(
            dev.as_ref(),
            PAGE_SIZE / 4,
            GFP_KERNEL,
        )?))
    }

    fn data(&self) -> DataPointer {
        DataPointer {
            addr: self.0.dma_address(),
            len: PAGE_SIZE,
        }
    }

    fn u8(&self, offset: usize) -> Result<u8> {
        let dword = io_read!(&self.0, [try: offset / 4]);
        Ok((dword >> (8 * (offset % 4))) as u8)
    }

    fn le(&self, offset: usize, bytes: usize) -> Result<u64> {
        let mut value = 0;
        for i in (0..bytes).rev() {
            value = value << 8 | u64::from(self.u8(offset + i)?);
        }
        Ok(value)
    }

    fn copy<const N: usize>(&self, offset: usize) -> Result<[u8; N]> {
        let mut field = [0; N];
        for (i, byte) in field.iter_mut().enumerate() {
            *byte = self.u8(offset + i)?;
        }
        Ok(field)
    }
}

/// Shadow doorbell and event index buffers (Doorbell Buffer Config), one page each.
struct ShadowDoorbells {
    doorbells: Coherent<[u32]>,
    event_indexes: Coherent<[u32]>,
}

/// A doorbell: its register offset and its index in the shadow buffers.
#[derive(Clone, Copy)]
struct Doorbell {
    offset: usize,
    shadow: usize,
}

/// Whether the controller asked to be told that a doorbell moved from `old` to `new`: its event
/// index lies in between (the kernel's `nvme_dbbuf_need_event`).
fn need_event(event_index: u16, new: u16, old: u16) -> bool {
    new.wrapping_sub(event_index).wrapping_sub(1) < new.wrapping_sub(old)
}

/// Where a command slot is in its life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Not submitted.
    Free,
    /// Submitted, no completion yet: the controller may access the command's memory.
    InFlight,
    /// Timed out, not yet taken back from the controller (which may still access its memory).
    Expired,
    /// Completed (or timed out, or aborted) and out of the controller's hands, on the done list
    /// until reaped.
    Done,
}

/// What a queue must do, with its lock dropped, before it can go on; see [`Queue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recovery {
    /// Nothing.
    None,
    /// Commands timed out: take them back by deleting the submission queue and creating it
    /// again, or by disabling the controller if that fails.
    TakeBack,
    /// The controller reported a fatal status: disable it.
    Disable,
    /// A thread is doing one of the above.
    Running,
}

/// One command identifier of a queue.
#[derive(Clone, Copy)]
struct Slot {
    state: SlotState,
    seq: u32,
    status: Status,
    result: u32,
    submitted: Instant<Monotonic>,
    /// Neighbours on the free list (`next` only) or the done list.
    prev: u16,
    next: u16,
}

/// The state of a queue pair, under its lock.
///
/// # Invariants
///
/// - `sq_tail` and `cq_head` are below the queue's entry count.
/// - `slots` has one slot fewer than the queue has entries, so the submission queue never
///   overflows: each entry not yet fetched by the controller belongs to an `InFlight` slot.
/// - The free list holds exactly the `Free` slots; the done list exactly the `Done` slots, in
///   completion order.
/// - A slot leaves `InFlight` and `Expired` only when the controller can no longer access its
///   command: after its completion entry, after Delete I/O Submission Queue of the queue
///   completed, or after the controller was disabled.
struct QueueState {
    sq_tail: u16,
    /// The submission queue tail the controller was last told about.
    sq_tail_rung: u16,
    cq_head: u16,
    phase: bool,
    slots: KVec<Slot>,
    free: u16,
    done_head: u16,
    done_tail: u16,
    seq: u32,
    /// Set when the queue was deleted or the controller failed: why submissions are refused.
    closed: Option<Error>,
    /// What the queue must do before it takes commands again.
    recovery: Recovery,
    /// When in-flight commands are next checked for timeouts.
    next_expiry_check: Instant<Monotonic>,
    /// `stats.completed` at the last check, to tell whether completions arrived since.
    completed_at_check: u64,
    stats: QueueStats,
}

impl QueueState {
    /// Commands submitted and not yet reaped.
    fn outstanding(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| slot.state != SlotState::Free)
            .count()
    }

    fn slot(&mut self, cid: u16) -> Option<&mut Slot> {
        self.slots.get_mut(usize::from(cid))
    }

    fn push_free(&mut self, cid: u16) {
        let free = self.free;
        if let Some(slot) = self.slot(cid) {
            slot.next = free;
            self.free = cid;
        }
    }

    fn pop_free(&mut self) -> Option<u16> {
        let cid = self.free;
        let next = self.slot(cid)?.next;
        self.free = next;
        Some(cid)
    }

    fn push_done(&mut self, cid: u16) {
        let tail = self.done_tail;
        if let Some(slot) = self.slot(cid) {
            slot.state = SlotState::Done;
            slot.prev = tail;
            slot.next = NO_SLOT;
        }
        match self.slot(tail) {
            Some(previous) => previous.next = cid,
            None => self.done_head = cid,
        }
        self.done_tail = cid;
    }

    /// Takes slot `cid` off the done list and returns its completion; the slot becomes free.
    fn take_done(&mut self, cid: u16) -> Option<Completion> {
        let slot = *self.slot(cid)?;
        if slot.state != SlotState::Done {
            return None;
        }
        match self.slot(slot.prev) {
            Some(previous) => previous.next = slot.next,
            None => self.done_head = slot.next,
        }
        match self.slot(slot.next) {
            Some(next) => next.prev = slot.prev,
            None => self.done_tail = slot.prev,
        }
        if let Some(s) = self.slot(cid) {
            s.state = SlotState::Free;
        }
        self.push_free(cid);
        Some(Completion {
            tag: Tag {
                index: cid,
                seq: slot.seq,
            },
            status: slot.status,
            result: slot.result,
        })
    }

    /// Moves up to `out.len()` completions from the done list to `out`; returns how many.
    fn drain(&mut self, out: &mut [Completion]) -> usize {
        let mut count = 0;
        while count < out.len() {
            let Some(completion) = self.take_done(self.done_head) else {
                break;
            };
            out[count] = completion;
            count += 1;
        }
        count
    }

    /// Ends every command in flight with `status`, and those that timed out as
    /// [`Status::TimedOut`]; only once the controller can no longer access them.
    fn end_all(&mut self, status: Status) {
        for cid in 0..self.slots.len() as u16 {
            let Some(slot) = self.slot(cid) else { break };
            match slot.state {
                SlotState::InFlight => slot.status = status,
                SlotState::Expired => {}
                SlotState::Free | SlotState::Done => continue,
            }
            self.push_done(cid);
        }
    }

    /// Claims the recovery the queue needs, if any, for the calling thread to run.
    fn claim_recovery(&mut self) -> Option<Recovery> {
        match self.recovery {
            recovery @ (Recovery::TakeBack | Recovery::Disable) => {
                self.recovery = Recovery::Running;
                Some(recovery)
            }
            Recovery::None | Recovery::Running => None,
        }
    }
}

/// A submission and completion queue pair: the admin queue, or an I/O queue created with
/// [`Controller::create_io_queue`].
///
/// Commands are submitted with [`Queue::submit`] and their completions collected with
/// [`Queue::reap`] (non-blocking), [`Queue::wait`] (blocking, any command) or
/// [`Queue::wait_for`] (blocking, one command); [`Queue::execute`] does all at once. A polled
/// queue reads its completion queue when asked; an interrupt-driven one has its completions read
/// by the interrupt handler, and waiters sleep until then. Any thread may use a queue; one queue
/// per thread avoids contention.
///
/// # Timeouts and a failed controller
///
/// A command's memory (its buffer and PRP list) is the controller's from submission until the
/// queue hands out its completion, and never after: the completion of a command the controller
/// may still access is kept back until it cannot.
///
/// Whichever thread reaps or waits checks the commands, at most 100 ms apart. A command in flight
/// for longer than the queue's timeout expires, and before it is reported as
/// [`Status::TimedOut`] the queue takes it back from the controller, as the kernel's driver
/// resets the controller on a timeout, but for this queue only: it deletes its submission queue
/// (the controller finishes or drops each of its commands before completing the deletion), reads
/// what the controller completed meanwhile, ends the other commands in flight as
/// [`Status::Aborted`] and creates the submission queue again, empty. If that fails, or if the
/// command was an admin command, or if the controller reports a fatal status (CSTS.CFS, read at a
/// check when commands are in flight and none completed since the previous check), the
/// controller is disabled (CC.EN cleared, CSTS.RDY seen clear) and the commands of every queue
/// fail as [`Status::ControllerFailed`].
///
/// So a caller that keeps a buffer until its command's completion has been reaped never has the
/// controller write into it afterwards. The one exception is beyond any driver: a controller
/// that does not become disabled within CAP.TO is reported failed all the same.
#[pin_data]
pub struct Queue {
    pdev: ARef<pci::Device>,
    bar: Arc<Bar0>,
    failed: Arc<Atomic<bool>>,
    /// The admin queue, for an I/O queue: it runs the commands that take commands back.
    admin: Option<Arc<Queue>>,
    qid: u16,
    entries: u16,
    sq: Coherent<[SqEntry]>,
    cq: Coherent<[CqEntry]>,
    /// [`prp_list_pages`] list pages per slot, for transfers of more than two pages (none on the
    /// admin queue).
    prp_lists: Option<Coherent<[u64]>>,
    /// How many of `prp_lists`' pages each slot has.
    prp_list_pages: usize,
    sq_doorbell: Doorbell,
    cq_doorbell: Doorbell,
    shadow: Option<Arc<ShadowDoorbells>>,
    /// The interrupt vector, for an interrupt-driven queue.
    vector: Option<u16>,
    timeout: Delta,
    namespace: Namespace,
    max_transfer: usize,
    #[pin]
    state: SpinLockIrq<QueueState>,
    #[pin]
    completed: CondVar,
    /// Held while the queue's submission queue is deleted, or created again: the recovery from a
    /// timeout and [`Controller::delete_io_queue`] do not cross.
    #[pin]
    admin_ops: Mutex<()>,
}

/// What a [`Queue`] is built from.
struct QueueSetup {
    admin: Option<Arc<Queue>>,
    qid: u16,
    entries: u16,
    prp_lists: bool,
    vector: Option<u16>,
    timeout: Delta,
    stride: usize,
    shadow: Option<Arc<ShadowDoorbells>>,
    namespace: Namespace,
    max_transfer: usize,
}

impl Queue {
    fn new(
        dev: &pci::Device<Bound>,
        bar: &Arc<Bar0>,
        failed: &Arc<Atomic<bool>>,
        setup: QueueSetup,
    ) -> Result<Arc<Self>> {
        let count = usize::from(setup.entries);
        let doorbell = |index: usize| -> Result<Doorbell> {
            let offset = index
                .checked_mul(setup.stride)
                .and_then(|o| o.checked_add(regs::DOORBELLS))
                .ok_or(EINVAL)?;
            let size = bar.access(dev.as_ref())?.size();
            if offset.checked_add(4).is_none_or(|end| end > size) {
                dev_err!(
                    dev,
                    "doorbell {:#x} lies beyond BAR0 ({:#x} bytes)\n",
                    offset,
                    size
                );
                return Err(ENODEV);
            }
            Ok(Doorbell {
                offset,
                shadow: index * (setup.stride / 4),
            })
        };
        let qid = usize::from(setup.qid);
        let sq_doorbell = doorbell(2 * qid)?;
        let cq_doorbell = doorbell(2 * qid + 1)?;
        let prp_list_pages = prp_list_pages(setup.max_transfer);
        let prp_lists = if setup.prp_lists {
            let slots = count - 1;
            Some(Coherent::<u64>::zeroed_slice(
                dev.as_ref(),
                slots * prp_list_pages * PRP_LIST_ENTRIES,
                GFP_KERNEL,
            )?)
        } else {
            None
        };
        let mut slots = KVec::with_capacity(count - 1, GFP_KERNEL)?;
        let now = Instant::now();
        for cid in 0..setup.entries - 1 {
            slots.push(
                Slot {
                    state: SlotState::Free,
                    seq: 0,
                    status: Status::SUCCESS,
                    result: 0,
                    submitted: now,
                    prev: NO_SLOT,
                    next: if cid + 2 < setup.entries {
                        cid + 1
                    } else {
                        NO_SLOT
                    },
                },
                GFP_KERNEL,
            )?;
        }
        let queue = Arc::pin_init(
            try_pin_init!(Queue {
                pdev: ARef::from(&**dev),
                bar: bar.clone(),
                failed: failed.clone(),
                admin: setup.admin,
                qid: setup.qid,
                entries: setup.entries,
                sq: Coherent::<SqEntry>::zeroed_slice(dev.as_ref(), count, GFP_KERNEL)?,
                cq: Coherent::<CqEntry>::zeroed_slice(dev.as_ref(), count, GFP_KERNEL)?,
                prp_lists,
                prp_list_pages,
                sq_doorbell,
                cq_doorbell,
                shadow: setup.shadow,
                vector: setup.vector,
                timeout: setup.timeout,
                namespace: setup.namespace,
                max_transfer: setup.max_transfer,
                // INVARIANT: the indexes start at 0; there are `entries - 1` slots, all on the
                // free list (chained in order above); the done list is empty.
                state <- new_spinlock_irq!(QueueState {
                    sq_tail: 0,
                    sq_tail_rung: 0,
                    cq_head: 0,
                    phase: true,
                    slots,
                    free: 0,
                    done_head: NO_SLOT,
                    done_tail: NO_SLOT,
                    seq: 0,
                    closed: None,
                    recovery: Recovery::None,
                    next_expiry_check: now,
                    completed_at_check: 0,
                    stats: QueueStats::default(),
                }),
                completed <- new_condvar!(),
                admin_ops <- new_mutex!(()),
            }),
            GFP_KERNEL,
        )?;
        queue.reset_shadow(&[queue.sq_doorbell, queue.cq_doorbell])?;
        Ok(queue)
    }

    /// Sets shadow doorbells of the queue and their event indexes to 0, as the queues they
    /// belong to start.
    fn reset_shadow(&self, doorbells: &[Doorbell]) -> Result {
        if let Some(shadow) = &self.shadow {
            for &doorbell in doorbells {
                io_write!(&shadow.doorbells, [try: doorbell.shadow], 0);
                io_write!(&shadow.event_indexes, [try: doorbell.shadow], 0);
            }
        }
        Ok(())
    }

    /// The queue identifier.
    pub fn id(&self) -> u16 {
        self.qid
    }

    /// How many commands can be in flight at once.
    pub fn capacity(&self) -> usize {
        usize::from(self.entries) - 1
    }

    /// Whether completions are signalled by interrupts.
    pub fn interrupt_driven(&self) -> bool {
        self.vector.is_some()
    }

    /// The namespace the queue's I/O commands address.
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// The largest transfer of one command, in bytes.
    pub fn max_transfer(&self) -> usize {
        self.max_transfer
    }

    /// The queue's counters.
    pub fn stats(&self) -> QueueStats {
        self.state.lock().stats
    }

    /// Commands submitted and not yet reaped.
    pub fn outstanding(&self) -> usize {
        self.state.lock().outstanding()
    }

    /// Writes the queue's line of the `queues` debugfs file ([`QUEUES_HEADER`]).
    fn report(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (stats, in_flight) = {
            let state = self.state.lock();
            (state.stats, state.outstanding())
        };
        writeln!(
            f,
            "{:<3}  {:>5}  {:>9}  {:>9}  {:>9}  {:>6}  {:>8}  {:>10}",
            self.qid,
            self.entries,
            in_flight,
            stats.submitted,
            stats.completed,
            stats.errors,
            stats.timeouts,
            stats.interrupts
        )
    }

    /// Submits `command` and returns its tag; the queue's doorbell is rung at once (with any
    /// command placed by [`Queue::queue`] before it).
    ///
    /// Fails with `EINVAL` for a command the driver cannot describe (no blocks, a range outside
    /// the buffer, a misaligned offset, more than [`Queue::max_transfer`] bytes), `EBUSY` when
    /// every slot is in flight (reap completions first) or while the queue takes back commands
    /// that timed out, `ENODEV` after the queue was deleted and `EIO` after the controller
    /// failed. The logical block range is not checked: the controller answers for it.
    ///
    /// The buffer must stay allocated until the command's completion has been reaped: the
    /// controller reads or writes it until then, and not after, even when the command timed out
    /// (see [`Queue`]).
    pub fn submit(&self, dev: &pci::Device<Bound>, command: &IoCommand<'_>) -> Result<Tag> {
        self.place(dev, command, true)
    }

    /// Places `command` in the submission queue without telling the controller, as
    /// [`Queue::submit`] does otherwise; [`Queue::commit`] (or the next [`Queue::submit`]) rings
    /// the doorbell once for every command placed since. Placing a batch and committing it costs
    /// one doorbell write instead of one per command.
    pub fn queue(&self, dev: &pci::Device<Bound>, command: &IoCommand<'_>) -> Result<Tag> {
        self.place(dev, command, false)
    }

    /// Tells the controller about the commands placed by [`Queue::queue`].
    pub fn commit(&self, dev: &pci::Device<Bound>) -> Result {
        let bar = self.bar.access(dev.as_ref())?;
        let mut state = self.state.lock();
        if state.sq_tail != state.sq_tail_rung {
            self.ring_sq(bar, &mut state)?;
        }
        Ok(())
    }

    /// Builds `command` and places it, ringing the doorbell if `ring`.
    fn place(&self, dev: &pci::Device<Bound>, command: &IoCommand<'_>, ring: bool) -> Result<Tag> {
        let nsid = self.namespace.id;
        let (opcode, lba, blocks, data) = match *command {
            IoCommand::Read {
                lba,
                blocks,
                buffer,
                offset,
            } => (
                opcode::READ,
                lba,
                blocks,
                Some(self.data(buffer, offset, blocks)?),
            ),
            IoCommand::Write {
                lba,
                blocks,
                buffer,
                offset,
            } => (
                opcode::WRITE,
                lba,
                blocks,
                Some(self.data(buffer, offset, blocks)?),
            ),
            IoCommand::Flush => (opcode::FLUSH, 0, 1, None),
            IoCommand::WriteZeroes { lba, blocks } => (opcode::WRITE_ZEROES, lba, blocks, None),
        };
        if blocks == 0 || blocks > 0x1_0000 {
            return Err(EINVAL);
        }
        let mut entry = [0u32; 16];
        entry[0] = u32::from(opcode);
        entry[1] = nsid;
        entry[10] = lba as u32;
        entry[11] = (lba >> 32) as u32;
        entry[12] = blocks - 1;
        if opcode == opcode::FLUSH {
            entry[10..13].fill(0);
        }
        self.submit_entry(dev, entry, data, ring)
    }

    /// Describes `blocks` blocks of `buffer` at `offset` as the data of a command.
    fn data(&self, buffer: &Coherent<[u8]>, offset: usize, blocks: u32) -> Result<DataPointer> {
        let len = usize::try_from(blocks)?
            .checked_mul(self.namespace.block_size())
            .ok_or(EINVAL)?;
        let end = offset.checked_add(len).ok_or(EINVAL)?;
        if end > buffer.len() || len > self.max_transfer || !offset.is_multiple_of(4) {
            return Err(EINVAL);
        }
        Ok(DataPointer {
            addr: buffer.dma_address() + offset as DmaAddress,
            len,
        })
    }

    /// Places a command (its identifier is filled in) with optional data, and rings the doorbell
    /// if `ring`.
    fn submit_entry(
        &self,
        dev: &pci::Device<Bound>,
        mut entry: SqEntry,
        data: Option<DataPointer>,
        ring: bool,
    ) -> Result<Tag> {
        if self.failed.load(Acquire) {
            return Err(EIO);
        }
        let bar = self.bar.access(dev.as_ref())?;
        let mut state = self.state.lock();
        if let Some(err) = state.closed {
            return Err(err);
        }
        if state.recovery != Recovery::None {
            return Err(EBUSY);
        }
        let cid = state.pop_free().ok_or(EBUSY)?;
        let seq = state.seq.wrapping_add(1);
        entry[0] = (entry[0] & 0xffff) | u32::from(command_id(cid, seq)) << 16;
        if let Some(data) = data {
            if let Err(err) = self.fill_prps(&mut entry, cid, data) {
                state.push_free(cid);
                return Err(err);
            }
        }
        let tail = state.sq_tail;
        io_project!(&self.sq, [try: usize::from(tail)]).copy_write(entry);
        state.sq_tail = if tail + 1 == self.entries {
            0
        } else {
            tail + 1
        };
        state.seq = seq;
        if let Some(slot) = state.slot(cid) {
            *slot = Slot {
                state: SlotState::InFlight,
                seq,
                status: Status::SUCCESS,
                result: 0,
                submitted: Instant::now(),
                prev: NO_SLOT,
                next: NO_SLOT,
            };
        }
        state.stats.submitted += 1;
        if ring {
            self.ring_sq(bar, &mut state)?;
        }
        Ok(Tag { index: cid, seq })
    }

    /// Fills the PRP entries of `entry` for `data`, using slot `cid`'s list pages if needed: a
    /// PRP list, chained from page to page by the last entry of each full page.
    fn fill_prps(&self, entry: &mut SqEntry, cid: u16, data: DataPointer) -> Result {
        let page = PAGE_SIZE as DmaAddress;
        let addr = data.addr;
        let first_page = addr & !(page - 1);
        let in_first = PAGE_SIZE - (addr % page) as usize;
        let prp2 = if data.len <= in_first {
            0
        } else if data.len <= in_first + PAGE_SIZE {
            first_page + page
        } else {
            let lists = self.prp_lists.as_ref().ok_or(EINVAL)?;
            let pages = (data.len - in_first).div_ceil(PAGE_SIZE);
            let base = usize::from(cid) * self.prp_list_pages * PRP_LIST_ENTRIES;
            let list_address = |index: usize| lists.dma_address() + (index * 8) as DmaAddress;
            if self.prp_list_pages < prp_list_pages(pages * PAGE_SIZE) {
                return Err(EINVAL);
            }
            let mut index = base;
            for k in 0..pages {
                // The last entry of a list page points to the next one, unless it is the last.
                if index % PRP_LIST_ENTRIES == PRP_LIST_ENTRIES - 1 && k + 1 < pages {
                    io_write!(lists, [try: index], list_address(index + 1));
                    index += 1;
                }
                io_write!(lists, [try: index], first_page + (k as DmaAddress + 1) * page);
                index += 1;
            }
            list_address(base)
        };
        entry[6] = addr as u32;
        entry[7] = (addr >> 32) as u32;
        entry[8] = prp2 as u32;
        entry[9] = (prp2 >> 32) as u32;
        Ok(())
    }

    /// Tells the controller about new submission queue entries.
    fn ring_sq(&self, bar: &Bar<'_>, state: &mut QueueState) -> Result {
        let (new, old) = (state.sq_tail, state.sq_tail_rung);
        state.sq_tail_rung = new;
        if self.ring(bar, self.sq_doorbell, new, old)? {
            state.stats.sq_doorbells += 1;
        }
        Ok(())
    }

    /// Writes `new` to a doorbell that held `old`; through the shadow doorbell first if enabled,
    /// then to the register unless the controller's event index says it need not be told.
    /// Returns whether the register was written.
    fn ring(&self, bar: &Bar<'_>, doorbell: Doorbell, new: u16, old: u16) -> Result<bool> {
        if let Some(shadow) = &self.shadow {
            // Queue entries before the shadow value, and the shadow value before reading the
            // event index (the controller orders its side the same way).
            mb(Write);
            io_write!(&shadow.doorbells, [try: doorbell.shadow], u32::from(new));
            mb(Full);
            let event_index = io_read!(&shadow.event_indexes, [try: doorbell.shadow]);
            if !need_event(event_index as u16, new, old) {
                return Ok(false);
            }
        }
        bar.try_write32(u32::from(new), doorbell.offset)?;
        Ok(true)
    }

    /// Reads the new entries of the completion queue (at most one lap) and records them; rings
    /// the completion queue doorbell if any was consumed. Returns how many were consumed.
    fn process_completions(&self, bar: &Bar<'_>, state: &mut QueueState) -> Result<u32> {
        let old_head = state.cq_head;
        let mut consumed = 0;
        while consumed < u32::from(self.entries) {
            let head = usize::from(state.cq_head);
            let status_dword = io_read!(&self.cq, [try: head][build: 3]);
            if (status_dword & (1 << 16) != 0) != state.phase {
                break;
            }
            // The rest of the entry is read after its phase bit.
            mb(Read);
            let entry = io_project!(&self.cq, [try: head]).copy_read();
            consumed += 1;
            state.cq_head += 1;
            if state.cq_head == self.entries {
                state.cq_head = 0;
                state.phase = !state.phase;
            }
            self.record(state, entry);
        }
        if consumed > 0 {
            let new = state.cq_head;
            if self.ring(bar, self.cq_doorbell, new, old_head)? {
                state.stats.cq_doorbells += 1;
            }
        }
        Ok(consumed)
    }

    /// Records one completion entry, after checking it belongs to a command of this queue.
    fn record(&self, state: &mut QueueState, entry: CqEntry) {
        let command = entry[3] as u16;
        let cid = command & 0xfff;
        let sqid = (entry[2] >> 16) as u16;
        let status = Status::Device(((entry[3] >> 17) & 0x7fff) as u16);
        let slot = match state.slot(cid) {
            Some(slot)
                if sqid == self.qid
                    && matches!(slot.state, SlotState::InFlight | SlotState::Expired)
                    && command_id(cid, slot.seq) == command =>
            {
                slot
            }
            _ => {
                state.stats.spurious += 1;
                dev_warn!(
                    *self.pdev,
                    "queue {}: ignoring a completion for unknown command {:#06x} (SQ {}, {})\n",
                    self.qid,
                    command,
                    sqid,
                    status
                );
                return;
            }
        };
        let late = slot.state == SlotState::Expired;
        slot.status = status;
        slot.result = entry[0];
        state.stats.late += u64::from(late);
        state.stats.completed += 1;
        if !status.is_success() {
            state.stats.errors += 1;
            dev_err!(
                *self.pdev,
                "queue {}: command {} failed: {}\n",
                self.qid,
                cid,
                status
            );
        }
        state.push_done(cid);
    }

    /// Checks the commands in flight, if the time has come (see [`Queue`]): those in flight for
    /// longer than the queue's timeout expire and the queue needs them taken back; a controller
    /// that reports a fatal status needs disabling; after the controller failed, every command
    /// ends. Returns the recovery the calling thread must now run with the lock dropped, if any.
    fn check(
        &self,
        bar: &Bar<'_>,
        state: &mut QueueState,
        now: Instant<Monotonic>,
    ) -> Option<Recovery> {
        if !reached(now, state.next_expiry_check) {
            return None;
        }
        state.next_expiry_check = now
            + Delta::from_millis(
                (self.timeout.as_millis() / 4).clamp(1, CHECK_INTERVAL.as_millis()),
            );
        let progressed = state.stats.completed != state.completed_at_check;
        state.completed_at_check = state.stats.completed;
        if self.failed.load(Acquire) {
            // Whoever found the controller failed disabled it first: it holds no command now.
            state.closed = Some(EIO);
            state.end_all(Status::ControllerFailed);
            return None;
        }
        let in_flight = |slot: &Slot| slot.state == SlotState::InFlight;
        let overdue = |slot: &Slot| in_flight(slot) && now - slot.submitted > self.timeout;
        let any_overdue = state.slots.iter().any(overdue);
        if state.recovery == Recovery::None
            && state.slots.iter().any(in_flight)
            && (!progressed || any_overdue)
            && self.controller_failed(bar)
        {
            state.recovery = Recovery::Disable;
        } else if any_overdue {
            for cid in 0..state.slots.len() as u16 {
                let Some(slot) = state.slot(cid) else { break };
                if overdue(slot) {
                    slot.state = SlotState::Expired;
                    slot.status = Status::TimedOut;
                    state.stats.timeouts += 1;
                    dev_warn!(
                        *self.pdev,
                        "queue {}: command {} timed out after {} ms\n",
                        self.qid,
                        cid,
                        self.timeout.as_millis()
                    );
                }
            }
            if state.recovery == Recovery::None {
                state.recovery = Recovery::TakeBack;
            }
        }
        state.claim_recovery()
    }

    /// Whether the controller reports a fatal status (CSTS.CFS) or is gone; logs which.
    fn controller_failed(&self, bar: &Bar<'_>) -> bool {
        match read_csts(bar) {
            Ok(csts) if !bool::from(csts.cfs()) => false,
            Ok(_) => {
                dev_err!(*self.pdev, "controller fatal status (CSTS.CFS)\n");
                true
            }
            Err(err) => {
                log_wait_error(&self.pdev, err, "answer");
                true
            }
        }
    }

    /// Runs `recovery`, claimed by this thread from the queue's state, with the queue's lock not
    /// held; see [`Queue`].
    fn recover(&self, dev: &pci::Device<Bound>, bar: &Bar<'_>, recovery: Recovery) {
        let taken_back = recovery == Recovery::TakeBack
            && self
                .admin
                .as_ref()
                .is_some_and(|admin| self.take_back(dev, bar, admin).is_ok());
        if !taken_back {
            self.fail_controller(dev, bar);
        }
        self.state.lock().recovery = Recovery::None;
        self.completed.notify_all();
    }

    /// Takes every command of this I/O queue back from the controller: deletes the submission
    /// queue, reads the completions the controller posted meanwhile, ends the other commands in
    /// flight as [`Status::Aborted`] (and those that timed out as [`Status::TimedOut`]) and
    /// creates the submission queue again, empty.
    fn take_back(&self, dev: &pci::Device<Bound>, bar: &Bar<'_>, admin: &Queue) -> Result {
        let _admin_ops = self.admin_ops.lock();
        if self.state.lock().closed.is_some() {
            // Deleted meanwhile, which ended its commands.
            return Ok(());
        }
        delete_queue(dev, admin, opcode::DELETE_SQ, self.qid)?;
        {
            let mut state = self.state.lock();
            self.process_completions(bar, &mut state)?;
            state.end_all(Status::Aborted);
            state.sq_tail = 0;
            state.sq_tail_rung = 0;
            state.stats.recoveries += 1;
        }
        self.reset_shadow(&[self.sq_doorbell])?;
        create_sq(dev, admin, self)
    }

    /// Disables the controller (after which it accesses no memory) unless that was done, marks
    /// it failed, and ends this queue's commands; the other queues follow at their next check.
    fn fail_controller(&self, dev: &pci::Device<Bound>, bar: &Bar<'_>) {
        if !self.failed.load(Acquire) {
            let _ = disable(dev, bar, ready_timeout(bar.read(regs::CAP_LO)));
            self.failed.store(true, Release);
        }
        let mut state = self.state.lock();
        state.closed = Some(EIO);
        state.end_all(Status::ControllerFailed);
    }

    /// Runs `check` and any recovery it asks for, dropping the lock `state` holds for that.
    fn maintain<'a>(
        &'a self,
        dev: &pci::Device<Bound>,
        bar: &Bar<'_>,
        mut state: SpinLockIrqGuard<'a, QueueState>,
        now: Instant<Monotonic>,
    ) -> SpinLockIrqGuard<'a, QueueState> {
        if let Some(recovery) = self.check(bar, &mut state, now) {
            drop(state);
            self.recover(dev, bar, recovery);
            state = self.state.lock();
        }
        state
    }

    /// Moves completions already read (and, on a polled queue, new ones from the completion
    /// queue) to `out`, without waiting for the controller; returns how many.
    ///
    /// Checks the commands in flight as [`Queue::wait`] does, so a queue that is only reaped
    /// also reports timeouts and a failed controller; taking back commands that timed out (see
    /// [`Queue`]) runs admin commands.
    pub fn reap(&self, dev: &pci::Device<Bound>, out: &mut [Completion]) -> Result<usize> {
        let bar = self.bar.access(dev.as_ref())?;
        let mut state = self.state.lock();
        if self.vector.is_none() {
            self.process_completions(bar, &mut state)?;
        }
        let mut state = self.maintain(dev, bar, state, Instant::now());
        Ok(state.drain(out))
    }

    /// Waits until at least one completion is available, or `max_wait` passed, and moves up to
    /// `out.len()` completions to `out`; returns how many (0 if none came in time).
    ///
    /// `max_wait` counts from the first look at the queue that found nothing, once the queue's
    /// lock is held: a wait that first waits for the lock can last longer by that time.
    ///
    /// Commands that exceeded the queue's timeout complete as [`Status::TimedOut`] here, once
    /// taken back from the controller (see [`Queue`]).
    pub fn wait(
        &self,
        dev: &pci::Device<Bound>,
        out: &mut [Completion],
        max_wait: Delta,
    ) -> Result<usize> {
        self.wait_until(dev, Some(max_wait), |state| {
            let count = state.drain(out);
            (count > 0).then_some(count)
        })
        .map(|count| count.unwrap_or(0))
    }

    /// Waits for the completion of the command `tag` and returns it; completions of other
    /// commands stay available to [`Queue::reap`] and [`Queue::wait`].
    ///
    /// Returns soon after the queue's timeout at the latest: the command then completes as
    /// [`Status::TimedOut`] once taken back from the controller (see [`Queue`]), which takes two
    /// admin commands. Fails with `EINVAL` for a tag that is not in flight (never submitted, or
    /// already reaped).
    pub fn wait_for(&self, dev: &pci::Device<Bound>, tag: Tag) -> Result<Completion> {
        let completion = self.wait_until(dev, None, |state| {
            let slot = state.slot(tag.index)?;
            if slot.seq != tag.seq || slot.state == SlotState::Free {
                return Some(Err(EINVAL));
            }
            state.take_done(tag.index).map(Ok)
        })?;
        completion.unwrap_or(Err(ETIMEDOUT))
    }

    /// Submits `command`, waits for it and returns dword 0 of its completion, or its status as
    /// an error.
    pub fn execute(&self, dev: &pci::Device<Bound>, command: &IoCommand<'_>) -> Result<u32> {
        let tag = self.submit(dev, command)?;
        let completion = self.wait_for(dev, tag)?;
        completion.to_result().map(|()| completion.result)
    }

    /// Runs an admin command to completion and returns dword 0 of its completion.
    fn execute_entry(
        &self,
        dev: &pci::Device<Bound>,
        entry: SqEntry,
        data: Option<DataPointer>,
    ) -> Result<u32> {
        let tag = self.submit_entry(dev, entry, data, true)?;
        let completion = self.wait_for(dev, tag)?;
        if !completion.status.is_success() {
            dev_err!(
                dev,
                "admin command {:#04x} failed: {}\n",
                entry[0] & 0xff,
                completion.status
            );
        }
        completion.to_result().map(|()| completion.result)
    }

    /// Waits until `ready` finds what it waits for in the queue's state (polling the completion
    /// queue of a polled queue, sleeping until the interrupt handler has read it otherwise),
    /// checking for timeouts on the way; `Ok(None)` once `max_wait` passed.
    ///
    /// The clock is read, and the commands checked, only when `ready` found nothing: a wait that
    /// the completion queue answers at once costs no clock read. `max_wait` counts from then.
    fn wait_until<R>(
        &self,
        dev: &pci::Device<Bound>,
        max_wait: Option<Delta>,
        mut ready: impl FnMut(&mut QueueState) -> Option<R>,
    ) -> Result<Option<R>> {
        let bar = self.bar.access(dev.as_ref())?;
        let mut state = self.state.lock();
        // The deadline, once the clock was first read.
        let mut expires = None;
        loop {
            if self.vector.is_none() {
                self.process_completions(bar, &mut state)?;
            }
            if let Some(result) = ready(&mut state) {
                return Ok(Some(result));
            }
            let now = Instant::now();
            let deadline = *expires.get_or_insert_with(|| max_wait.map(|wait| now + wait));
            state = self.maintain(dev, bar, state, now);
            if let Some(result) = ready(&mut state) {
                return Ok(Some(result));
            }
            if deadline.is_some_and(|deadline| reached(now, deadline)) {
                return Ok(None);
            }
            if self.vector.is_some() {
                let until = match deadline {
                    Some(deadline) if reached(state.next_expiry_check, deadline) => deadline,
                    _ => state.next_expiry_check,
                };
                let ms = (until - now).as_millis_ceil().clamp(1, i64::from(u32::MAX));
                let jiffies = msecs_to_jiffies(ms as u32);
                if let CondVarTimeoutResult::Signal { .. } = self
                    .completed
                    .wait_interruptible_timeout(&mut state, jiffies)
                {
                    return Err(EINTR);
                }
            } else {
                let (head, phase) = (state.cq_head, state.phase);
                drop(state);
                self.spin_for_completion(head, phase)?;
                state = self.state.lock();
            }
        }
    }

    /// Spins without the queue's lock until the completion queue entry at `head` carries
    /// `phase` (a completion arrived there) or [`SPIN_READS`] reads found none, so that the
    /// polling loop of [`Queue::wait_until`] reads the clock and checks the commands once per
    /// [`SPIN_READS`] reads rather than once per read, and other threads can take the lock
    /// meanwhile. Another thread may consume the entry first: the caller's next pass finds that.
    ///
    /// The loop has no `cpu_relax()`: under a translating emulator (QEMU's TCG) each one ends the
    /// guest's translated code and takes the emulator's global lock, which its device model
    /// needs to post the completion awaited; SPDK's polling loop has none either.
    fn spin_for_completion(&self, head: u16, phase: bool) -> Result {
        let head = usize::from(head);
        for _ in 0..SPIN_READS {
            if (io_read!(&self.cq, [try: head][build: 3]) & (1 << 16) != 0) == phase {
                break;
            }
        }
        Ok(())
    }

    /// Reads the completion queue from the interrupt handler; returns whether it held
    /// completions.
    fn interrupt(&self) -> bool {
        let Some(bar) = self.bar.try_access() else {
            return false;
        };
        let mut state = self.state.lock();
        let consumed = self.process_completions(&bar, &mut state).unwrap_or(0);
        if consumed > 0 {
            state.stats.interrupts += 1;
        }
        drop(state);
        if consumed > 0 {
            self.completed.notify_all();
        }
        consumed > 0
    }

    /// Refuses further submissions with `err` and ends the commands in flight with `status`;
    /// only once the controller can no longer access them.
    fn close(&self, err: Error, status: Status) {
        let mut state = self.state.lock();
        state.closed = Some(err);
        state.end_all(status);
        drop(state);
        self.completed.notify_all();
    }
}

/// The I/O queues by identifier (index 0, the admin queue's, stays empty); shared with the
/// interrupt handlers.
type QueueTable = SpinLockIrq<KVec<Option<Arc<Queue>>>>;

/// The columns of the `queues` debugfs file: the queue identifier (0 for the admin queue), its
/// entries, the commands submitted and not yet reaped, and its counters ([`QueueStats`]).
const QUEUES_HEADER: &str =
    "QID  DEPTH  IN_FLIGHT  SUBMITTED  COMPLETED  ERRORS  TIMEOUTS  INTERRUPTS";

/// What the `queues` file of the controller's debugfs directory (`drydock_nvme-<device>`)
/// shows: a line per queue, the admin queue first.
struct QueueReport {
    admin: Arc<Queue>,
    queues: Arc<QueueTable>,
}

impl QueueReport {
    fn show(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{QUEUES_HEADER}")?;
        self.admin.report(f)?;
        let count = self.queues.lock().len();
        for qid in 1..count {
            // Not written under the table's lock, which the interrupt handlers take.
            let queue = self.queues.lock().get(qid).cloned().flatten();
            if let Some(queue) = queue {
                queue.report(f)?;
            }
        }
        Ok(())
    }
}

/// The handler of one interrupt vector: reads the completions of the interrupt-driven queues on
/// the vector (and of the admin queue, on vector 0, so that INTx is released).
#[pin_data]
struct VectorHandler {
    vector: u16,
    queues: Arc<QueueTable>,
    admin: Option<Arc<Queue>>,
}

impl irq::Handler for VectorHandler {
    fn handle(&self) -> IrqReturn {
        let mut handled = self.admin.as_ref().is_some_and(|admin| admin.interrupt());
        for queue in self.queues.lock().iter().flatten() {
            if queue.vector == Some(self.vector) {
                handled |= queue.interrupt();
            }
        }
        if handled {
            IrqReturn::Handled
        } else {
            IrqReturn::None
        }
    }
}

/// State changed by queue creation and deletion, under [`Controller`]'s configuration lock.
struct Configuration {
    shadow: Option<Arc<ShadowDoorbells>>,
}

/// The driver's data for a bound controller.
#[pin_data]
pub struct Controller<'bound> {
    pdev: &'bound pci::Device,
    bar: Arc<Bar0>,
    failed: Arc<Atomic<bool>>,
    admin: Arc<Queue>,
    queues: Arc<QueueTable>,
    info: ControllerInfo,
    namespace: Namespace,
    stride: usize,
    max_entries: u32,
    max_io_queues: u16,
    max_transfer: usize,
    #[pin]
    config: Mutex<Configuration>,
    /// `queues` in the debugfs directory `drydock_nvme-<device>`.
    #[pin]
    queue_report: debugfs::File<QueueReport>,
    // Declared before `vectors`, so the handlers are freed before the vectors are.
    irqs: KVec<Pin<KBox<irq::Registration<'bound, VectorHandler>>>>,
    vectors: pci::IrqVectorRegistration<'bound>,
}

impl Controller<'_> {
    /// Identify Controller data.
    pub fn info(&self) -> &ControllerInfo {
        &self.info
    }

    /// The namespace the driver serves (the first active one).
    pub fn namespace(&self) -> Namespace {
        self.namespace
    }

    /// The most I/O queue pairs that can exist at once.
    pub fn max_io_queues(&self) -> u16 {
        self.max_io_queues
    }

    /// The largest transfer of one command, in bytes.
    pub fn max_transfer(&self) -> usize {
        self.max_transfer
    }

    /// The most entries a queue may have.
    pub fn max_queue_entries(&self) -> u32 {
        self.max_entries
    }

    /// The interrupt type in use.
    pub fn irq_type(&self) -> pci::IrqType {
        self.vectors.irq_type()
    }

    /// The number of interrupt vectors.
    pub fn irq_vectors(&self) -> usize {
        self.vectors.len()
    }

    /// The admin queue's counters.
    pub fn admin_stats(&self) -> QueueStats {
        self.admin.stats()
    }

    /// Whether the controller reported a fatal error.
    pub fn failed(&self) -> bool {
        self.failed.load(Acquire)
    }

    /// Whether shadow doorbells are in use.
    pub fn shadow_doorbells(&self) -> bool {
        self.config.lock().shadow.is_some()
    }

    /// The number of I/O queues that exist.
    pub fn io_queues(&self) -> usize {
        self.queues.lock().iter().flatten().count()
    }

    /// Creates an I/O queue pair as `config` asks and returns it.
    ///
    /// Fails with `EBUSY` if [`Controller::max_io_queues`] queues exist, and with the status of
    /// Create I/O Completion Queue or Create I/O Submission Queue if the controller refuses one.
    pub fn create_io_queue(
        &self,
        dev: &pci::Device<Bound>,
        config: QueueConfig,
    ) -> Result<Arc<Queue>> {
        let settings = self.config.lock();
        let qid = {
            let queues = self.queues.lock();
            (1..=self.max_io_queues)
                .find(|&qid| queues.get(usize::from(qid)).is_some_and(Option::is_none))
                .ok_or(EBUSY)?
        };
        let entries = u32::from(config.depth).clamp(2, self.max_entries) as u16;
        let vector = config.interrupts.then(|| self.vector_of(qid));
        let queue = Queue::new(
            dev,
            &self.bar,
            &self.failed,
            QueueSetup {
                admin: Some(self.admin.clone()),
                qid,
                entries,
                prp_lists: true,
                vector,
                timeout: config.timeout,
                stride: self.stride,
                shadow: settings.shadow.clone(),
                namespace: self.namespace,
                max_transfer: self.max_transfer,
            },
        )?;
        let size = u32::from(entries) - 1;
        let mut create_cq = [0u32; 16];
        create_cq[0] = u32::from(opcode::CREATE_CQ);
        set_prp1(&mut create_cq, queue.cq.dma_address());
        create_cq[10] = u32::from(qid) | size << 16;
        // Physically contiguous, interrupts enabled or not, the vector.
        create_cq[11] = 1 | u32::from(vector.is_some()) << 1 | u32::from(vector.unwrap_or(0)) << 16;
        self.admin.execute_entry(dev, create_cq, None)?;
        if let Err(err) = create_sq(dev, &self.admin, &queue) {
            // The completion queue is useless without its submission queue; one the controller
            // keeps would make its identifier unusable, and hold memory about to be freed.
            if delete_queue(dev, &self.admin, opcode::DELETE_CQ, qid).is_err() {
                if let Ok(bar) = self.bar.access(dev.as_ref()) {
                    queue.fail_controller(dev, bar);
                }
            }
            return Err(err);
        }
        if let Some(entry) = self.queues.lock().get_mut(usize::from(qid)) {
            *entry = Some(queue.clone());
        }
        Ok(queue)
    }

    /// Deletes an I/O queue pair: its commands in flight complete as [`Status::Aborted`], and
    /// further submissions fail with `ENODEV`.
    ///
    /// If the controller refuses to delete either queue, it may still hold the submission
    /// queue's commands, or write into the completion queue's memory, and the queue's identifier
    /// is not free: it is disabled and fails (see [`Queue`]) before they complete.
    pub fn delete_io_queue(&self, dev: &pci::Device<Bound>, queue: &Queue) -> Result {
        let _settings = self.config.lock();
        let removed = self
            .queues
            .lock()
            .get_mut(usize::from(queue.qid))
            .and_then(Option::take);
        if removed.is_none() {
            return Err(EINVAL);
        }
        let _admin_ops = queue.admin_ops.lock();
        let deleted = delete_queue(dev, &self.admin, opcode::DELETE_SQ, queue.qid)
            .and_then(|()| delete_queue(dev, &self.admin, opcode::DELETE_CQ, queue.qid));
        if let (Err(_), Ok(bar)) = (&deleted, self.bar.access(dev.as_ref())) {
            queue.fail_controller(dev, bar);
        }
        queue.close(ENODEV, Status::Aborted);
        deleted
    }

    /// Enables shadow doorbells (Doorbell Buffer Config) for the I/O queues created from now on.
    ///
    /// Fails with `EOPNOTSUPP` if the controller does not support them and `EBUSY` if I/O queues
    /// exist. Succeeds at once if they are enabled already.
    pub fn enable_shadow_doorbells(&self, dev: &pci::Device<Bound>) -> Result {
        let mut settings = self.config.lock();
        if settings.shadow.is_some() {
            return Ok(());
        }
        if self.info.oacs & OACS_DOORBELL_BUFFER_CONFIG == 0 {
            return Err(EOPNOTSUPP);
        }
        if self.io_queues() > 0 {
            return Err(EBUSY);
        }
        let shadow = Arc::new(
            ShadowDoorbells {
                doorbells: Coherent::<u32>::zeroed_slice(dev.as_ref(), PAGE_SIZE / 4, GFP_KERNEL)?,
                event_indexes: Coherent::<u32>::zeroed_slice(
                    dev.as_ref(),
                    PAGE_SIZE / 4,
                    GFP_KERNEL,
                )?,
            },
            GFP_KERNEL,
        )?;
        let mut entry = [0u32; 16];
        entry[0] = u32::from(opcode::DOORBELL_BUFFER_CONFIG);
        set_prp1(&mut entry, shadow.doorbells.dma_address());
        let event_indexes = shadow.event_indexes.dma_address();
        entry[8] = event_indexes as u32;
        entry[9] = (event_indexes >> 32) as u32;
        self.admin.execute_entry(dev, entry, None)?;
        settings.shadow = Some(shadow);
        Ok(())
    }

    /// The vector of I/O queue `qid`: its own while vectors last, shared beyond.
    fn vector_of(&self, qid: u16) -> u16 {
        let vectors = self.vectors.len() as u16;
        if vectors <= 1 {
            0
        } else {
            1 + (qid - 1) % (vectors - 1)
        }
    }

    /// Resets and enables the controller with a new admin queue; returns the admin queue, which
    /// disables the controller if dropped before it is handed over (as it is if enabling fails).
    fn enable<'a>(
        pdev: &'a pci::Device<Bound>,
        bar_shared: &Arc<Bar0>,
        failed: &Arc<Atomic<bool>>,
        stride: usize,
        max_entries: u32,
        timeout: Delta,
    ) -> Result<EnabledAdmin<'a>> {
        let bar = bar_shared.access(pdev.as_ref())?;
        disable(pdev, bar, timeout)?;
        let entries = (u32::from(ADMIN_QUEUE_ENTRIES).min(max_entries)) as u16;
        let admin = Queue::new(
            pdev,
            bar_shared,
            failed,
            QueueSetup {
                admin: None,
                qid: 0,
                entries,
                prp_lists: false,
                vector: None,
                timeout: admin_timeout(),
                stride,
                shadow: None,
                namespace: Namespace {
                    id: 0,
                    blocks: 0,
                    block_shift: 9,
                },
                max_transfer: PAGE_SIZE,
            },
        )?;
        let admin = EnabledAdmin {
            pdev,
            queue: admin,
            armed: true,
        };
        let size = u32::from(entries) - 1;
        bar.write_reg(
            regs::AQA::zeroed()
                .try_with_asqs(size)?
                .try_with_acqs(size)?,
        );
        let (asq, acq) = (admin.queue.sq.dma_address(), admin.queue.cq.dma_address());
        bar.write_reg(regs::ASQ_LO::zeroed().with_addr(asq as u32));
        bar.write_reg(regs::ASQ_HI::zeroed().with_addr((asq >> 32) as u32));
        bar.write_reg(regs::ACQ_LO::zeroed().with_addr(acq as u32));
        bar.write_reg(regs::ACQ_HI::zeroed().with_addr((acq >> 32) as u32));
        // NVM command set, 4 KiB pages, round robin, 64-byte SQ and 16-byte CQ entries.
        bar.write_reg(
            regs::CC::zeroed()
                .with_en(true)
                .with_const_css::<0>()
                .with_const_mps::<0>()
                .with_const_iosqes::<6>()
                .with_const_iocqes::<4>(),
        );
        let csts = read_poll_timeout(
            || read_csts(bar),
            |csts| bool::from(csts.rdy()) || bool::from(csts.cfs()),
            Delta::from_millis(1),
            timeout,
        )
        .inspect_err(|&err| log_wait_error(pdev, err, "become ready"))?;
        if bool::from(csts.cfs()) {
            dev_err!(pdev, "the controller failed to start (CSTS.CFS)\n");
            return Err(EIO);
        }
        Ok(admin)
    }

    /// Reads Identify Controller.
    fn identify_controller(
        pdev: &pci::Device<Bound>,
        admin: &Queue,
        buffer: &IdentifyData,
    ) -> Result<(ControllerInfo, u8)> {
        admin.execute_entry(pdev, identify(1, 0), Some(buffer.data()))?;
        let queue_entry_sizes = (buffer.u8(512)?, buffer.u8(513)?);
        // The required (low nibble) and maximum (high nibble) entry sizes must admit 64 and 16.
        let admits = |sizes: u8, size: u8| sizes & 0xf <= size && size <= sizes >> 4;
        if !admits(queue_entry_sizes.0, 6) || !admits(queue_entry_sizes.1, 4) {
            dev_err!(
                pdev,
                "unsupported queue entry sizes (SQES {:#x}, CQES {:#x})\n",
                queue_entry_sizes.0,
                queue_entry_sizes.1
            );
            return Err(ENODEV);
        }
        let info = ControllerInfo {
            serial: buffer.copy(4)?,
            model: buffer.copy(24)?,
            firmware: buffer.copy(64)?,
            version: buffer.le(80, 4)? as u32,
            oacs: buffer.le(256, 2)? as u16,
            namespaces: buffer.le(516, 4)? as u32,
            volatile_write_cache: buffer.u8(525)? & 1 != 0,
        };
        Ok((info, buffer.u8(77)?))
    }

    /// Finds the first active namespace and reads its Identify Namespace data.
    fn identify_namespace(
        pdev: &pci::Device<Bound>,
        admin: &Queue,
        buffer: &IdentifyData,
    ) -> Result<Namespace> {
        admin.execute_entry(pdev, identify(2, 0), Some(buffer.data()))?;
        let id = buffer.le(0, 4)? as u32;
        if id == 0 || id == u32::MAX {
            dev_err!(pdev, "no active namespace\n");
            return Err(ENODEV);
        }
        admin.execute_entry(pdev, identify(0, id), Some(buffer.data()))?;
        let blocks = buffer.le(0, 8)?;
        let formats = buffer.u8(25)?;
        let format = buffer.u8(26)? & 0xf;
        let descriptor = 128 + 4 * usize::from(format);
        let metadata = buffer.le(descriptor, 2)?;
        let block_shift = buffer.u8(descriptor + 2)?;
        if format > formats || metadata != 0 || !(9..=12).contains(&block_shift) || blocks == 0 {
            dev_err!(
                pdev,
                "namespace {} is unusable: {} blocks, format {} of {}, {}-byte metadata, block shift {}\n",
                id,
                blocks,
                format,
                formats,
                metadata,
                block_shift
            );
            return Err(ENODEV);
        }
        Ok(Namespace {
            id,
            blocks,
            block_shift,
        })
    }

    /// Asks for [`IO_QUEUES_ASKED`] queue pairs; returns how many the controller allocated, at
    /// most `doorbells` (the I/O queue pairs whose doorbells BAR0 holds).
    fn negotiate_queues(pdev: &pci::Device<Bound>, admin: &Queue, doorbells: usize) -> Result<u16> {
        let mut entry = [0u32; 16];
        entry[0] = u32::from(opcode::SET_FEATURES);
        entry[10] = FEATURE_NUMBER_OF_QUEUES;
        entry[11] = IO_QUEUES_ASKED | IO_QUEUES_ASKED << 16;
        let allocated = admin.execute_entry(pdev, entry, None)?;
        let pairs = (allocated & 0xffff).min(allocated >> 16) + 1;
        Ok(pairs
            .min(u32::try_from(doorbells).unwrap_or(u32::MAX))
            .min(0xffff) as u16)
    }

    /// Stops the controller: it is disabled, then every queue refuses commands and ends those
    /// in flight.
    fn shutdown(&self, pdev: &pci::Device<Bound>) {
        if let Ok(bar) = self.bar.access(pdev.as_ref()) {
            let _ = disable(pdev, bar, ready_timeout(bar.read(regs::CAP_LO)));
        }
        for queue in self.queues.lock().iter().flatten() {
            queue.close(ENODEV, Status::Aborted);
        }
        self.admin.close(ENODEV, Status::Aborted);
    }
}

/// The admin queue of a controller that probe enables, until the driver's data holds it.
///
/// Dropped before [`EnabledAdmin::disarm`], when enabling or the rest of probe fails, it disables
/// the controller (unless it was disabled as failed already), as the kernel's driver does on
/// a failed probe. Holding a reference to the queue, it keeps the memory the controller was given
/// until then, whatever order the rest of a failed probe is dropped in.
struct EnabledAdmin<'a> {
    pdev: &'a pci::Device<Bound>,
    queue: Arc<Queue>,
    armed: bool,
}

impl EnabledAdmin<'_> {
    /// Hands the controller over to the driver's data, whose unbind disables it.
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for EnabledAdmin<'_> {
    fn drop(&mut self) {
        if self.armed {
            if let Ok(bar) = self.queue.bar.access(self.pdev.as_ref()) {
                self.queue.fail_controller(self.pdev, bar);
            }
        }
    }
}

/// Takes CC.EN to 0 and waits for CSTS.RDY to clear, whatever state the controller is in; fails
/// at once with `ENODEV` for a controller that is gone.
fn disable(pdev: &pci::Device<Bound>, bar: &Bar<'_>, timeout: Delta) -> Result {
    let cc = bar.read(regs::CC);
    bar.write_reg(cc.with_en(false).with_const_shn::<0>());
    read_poll_timeout(
        || read_csts(bar),
        |csts| !bool::from(csts.rdy()),
        Delta::from_millis(1),
        timeout,
    )
    .inspect_err(|&err| log_wait_error(pdev, err, "become disabled"))
    .map(|_| ())
}

/// How long an admin command may take: the `admin_timeout` parameter, in seconds (at least one).
fn admin_timeout() -> Delta {
    Delta::from_secs(i64::from(module_parameters::admin_timeout.value().max(1)))
}

/// Runs a Delete I/O Submission or Completion Queue command for queue `qid`.
fn delete_queue(dev: &pci::Device<Bound>, admin: &Queue, opcode: u8, qid: u16) -> Result {
    let mut entry = [0u32; 16];
    entry[0] = u32::from(opcode);
    entry[10] = u32::from(qid);
    admin.execute_entry(dev, entry, None).map(|_| ())
}

/// Runs Create I/O Submission Queue for `queue`, on the completion queue of the same identifier.
fn create_sq(dev: &pci::Device<Bound>, admin: &Queue, queue: &Queue) -> Result {
    let mut entry = [0u32; 16];
    entry[0] = u32::from(opcode::CREATE_SQ);
    set_prp1(&mut entry, queue.sq.dma_address());
    entry[10] = u32::from(queue.qid) | (u32::from(queue.entries) - 1) << 16;
    // Physically contiguous.
    entry[11] = 1 | u32::from(queue.qid) << 16;
    admin.execute_entry(dev, entry, None).map(|_| ())
}

/// An Identify command for `cns` and namespace `nsid` (the buffer comes with the data pointer).
fn identify(cns: u32, nsid: u32) -> SqEntry {
    let mut entry = [0u32; 16];
    entry[0] = u32::from(opcode::IDENTIFY);
    entry[1] = nsid;
    entry[10] = cns;
    entry
}

/// Sets PRP1 of a command to `addr`.
fn set_prp1(entry: &mut SqEntry, addr: DmaAddress) {
    entry[6] = addr as u32;
    entry[7] = (addr >> 32) as u32;
}

/// The driver.
pub struct NvmeDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <NvmeDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(
            pci::Class::STORAGE_EXPRESS.as_raw(),
            pci::ClassMask::Full.as_raw()
        ),
        ()
    )]
);

impl pci::Driver for NvmeDriver {
    type IdInfo = ();
    type Data<'bound> = Controller<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            pdev.enable_device_mem()?;
            pdev.set_master();
            // SAFETY: nothing else allocates or maps DMA memory for this device during probe.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<64>())? };

            let bar = pdev.iomap_region_sized::<{ regs::BAR_SIZE }>(0, c"nvme")?;
            // As the kernel's driver checks before anything else: nothing answers there.
            read_csts(&bar).inspect_err(|&err| log_wait_error(pdev, err, "answer"))?;
            let (cap_lo, cap_hi) = (bar.read(regs::CAP_LO), bar.read(regs::CAP_HI));
            let version = bar.read(regs::VS);
            let max_entries = (cap_lo.mqes().get() + 1).min(MAX_QUEUE_ENTRIES);
            let timeout = ready_timeout(cap_lo);
            let stride = 4usize << cap_hi.dstrd().get();
            // The I/O queue pairs whose doorbells BAR0 holds, after the admin queue's.
            let doorbells =
                (bar.size().saturating_sub(regs::DOORBELLS) / (2 * stride)).saturating_sub(1);
            if max_entries < 2 || cap_hi.mpsmin().get() != 0 || cap_hi.css().get() & 1 == 0 {
                dev_err!(
                    pdev,
                    "unsupported controller: CAP {:#010x}{:08x}\n",
                    cap_hi.into_raw(),
                    cap_lo.into_raw()
                );
                return Err(ENODEV);
            }
            let bar = Arc::new(bar.into_devres()?, GFP_KERNEL)?;
            let failed = Arc::new(Atomic::new(false), GFP_KERNEL)?;
            let enabled = Controller::enable(pdev, &bar, &failed, stride, max_entries, timeout)?;
            let admin = enabled.queue.clone();

            let buffer = IdentifyData::new(pdev)?;
            let (info, mdts) = Controller::identify_controller(pdev, &admin, &buffer)?;
            let namespace = Controller::identify_namespace(pdev, &admin, &buffer)?;
            let max_io_queues = Controller::negotiate_queues(pdev, &admin, doorbells)?;
            let max_transfer = max_transfer(mdts);
            dev_info!(
                pdev,
                "{} ({}, firmware {}), NVMe {}.{}: namespace {} of {} blocks of {} bytes, {} I/O queues, {} KiB transfers\n",
                info.model(),
                info.serial(),
                info.firmware(),
                version.major().get(),
                version.minor().get(),
                namespace.id,
                namespace.blocks,
                namespace.block_size(),
                max_io_queues,
                max_transfer / 1024
            );

            let mut table = KVec::with_capacity(usize::from(max_io_queues) + 1, GFP_KERNEL)?;
            for _ in 0..=max_io_queues {
                table.push(None, GFP_KERNEL)?;
            }
            let queues = Arc::pin_init(new_spinlock_irq!(table), GFP_KERNEL)?;
            let vectors = pdev.alloc_irq_vectors(
                1,
                MAX_VECTORS.min(u32::from(max_io_queues) + 1),
                pci::IrqTypes::all(),
            )?;
            dev_info!(
                pdev,
                "{} interrupt vectors by {:?}\n",
                vectors.len(),
                vectors.irq_type()
            );
            let handler_queues = queues.clone();
            let handler_admin = admin.clone();
            let report = QueueReport {
                admin: admin.clone(),
                queues: queues.clone(),
            };
            let name =
                CString::try_from_fmt(fmt!("drydock_nvme-{}", pdev.as_ref().name().to_str()?))?;
            let debugfs = debugfs::Dir::new(&name);

            Ok(try_pin_init!(&this in Controller {
                pdev,
                bar,
                failed,
                admin,
                queues,
                info,
                namespace,
                stride,
                max_entries,
                max_io_queues,
                max_transfer,
                config <- new_mutex!(Configuration { shadow: None }),
                queue_report <- debugfs.read_callback_file(c"queues", report, &QueueReport::show),
                vectors,
                irqs: {
                    // SAFETY: `vectors` was initialised just before and is dropped after `irqs`
                    // (declaration order), in the same pinned allocation, so the reference is
                    // valid for as long as the registrations that borrow it.
                    let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                        unsafe { &(*this.as_ptr()).vectors };
                    let mut irqs = KVec::with_capacity(vectors.len(), GFP_KERNEL)?;
                    for index in 0..vectors.len() {
                        let queues = handler_queues.clone();
                        let admin = (index == 0).then(|| handler_admin.clone());
                        let handler = try_pin_init!(VectorHandler {
                            vector: index as u16,
                            queues,
                            admin,
                        });
                        // SAFETY: the registration is part of the driver data, which the PCI
                        // core drops at unbind; it is never leaked.
                        let registration = unsafe {
                            irq::Registration::new(
                                vectors.index(index)?.into(),
                                irq::Flags::SHARED,
                                c"nvme",
                                handler,
                            )
                        };
                        irqs.push(KBox::pin_init(registration, GFP_KERNEL)?, GFP_KERNEL)?;
                    }
                    irqs
                },
            })
            // The driver's data holds the admin queue now, and unbind disables the controller.
            .pin_chain(move |_| {
                enabled.disarm();
                Ok(())
            }))
        })
    }

    fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // Leave the controller disabled: no DMA into memory about to be freed.
        this.shutdown(pdev);
    }
}

kernel::module_pci_driver! {
    type: NvmeDriver,
    name: "drydock_nvme",
    authors: ["The drydock developers"],
    description: "NVMe driver with an in-process block I/O interface",
    license: "Dual MIT/GPL",
    params: {
        admin_timeout: u8 {
            default: 30,
            description: "Timeout of admin commands, in seconds (as nvme_core's admin_timeout)",
        },
    },
}
