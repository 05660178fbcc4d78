//! The simulated NVMe controller against the behaviour of QEMU 7.2's (`qemu-devices.md` §2),
//! driven register by register and command by command, without a driver: reset and enable,
//! the statuses of queue creation and I/O, PRP rules, completion queues that fill up, INTx,
//! shadow doorbells, and the fatal status on a fault in queue memory.

use std::sync::Arc;

use drydock_host::dma::{CoherentRegion, DmaSpace};
use drydock_host::function::PciFunction;
use drydock_sim::models::nvme::{opcode, status::*, Fault, Nvme, NvmeConfig, CAP};
use drydock_sim::{DeviceModel, SimBus, SimContext, SimDevice};

/// DMA memory the test hands to the controller.
struct Mem {
    region: CoherentRegion,
}

impl Mem {
    fn addr(&self) -> u64 {
        self.region.dma_addr
    }

    fn write(&self, offset: usize, data: &[u8]) {
        assert!(offset + data.len() <= self.region.size);
        for (i, &byte) in data.iter().enumerate() {
            // SAFETY: the byte is inside the region, which lives while `self` does.
            unsafe {
                self.region
                    .cpu_addr
                    .as_ptr()
                    .add(offset + i)
                    .write_volatile(byte)
            };
        }
    }

    fn read(&self, offset: usize, len: usize) -> Vec<u8> {
        assert!(offset + len <= self.region.size);
        (0..len)
            // SAFETY: the byte is inside the region, which lives while `self` does.
            .map(|i| unsafe {
                self.region
                    .cpu_addr
                    .as_ptr()
                    .add(offset + i)
                    .read_volatile()
            })
            .collect()
    }

    fn write_u64s(&self, offset: usize, values: &[u64]) {
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.write(offset, &bytes);
    }

    fn dword(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.read(offset, 4).try_into().unwrap())
    }
}

/// A queue the test drives: its memory and indexes.
struct TestQueue {
    qid: u16,
    sq: Mem,
    cq: Mem,
    entries: u32,
    tail: u32,
    head: u32,
    phase: bool,
}

/// A controller on a simulated bus, bus master enabled, with memory to hand it.
struct Rig {
    _bus: SimBus,
    device: SimDevice<Nvme>,
    ctx: SimContext,
    space: Arc<dyn DmaSpace>,
}

/// A completion entry as the test reads it.
#[derive(Debug, Clone, Copy)]
struct Cqe {
    result: u32,
    sq_head: u16,
    sqid: u16,
    cid: u16,
    status: u16,
}

impl Rig {
    fn new(config: NvmeConfig) -> Self {
        let bus = SimBus::new();
        let device = bus.add(4, Nvme::with_config(config));
        let pdev = bus.bus().device(device.name()).unwrap();
        pdev.enable_device_mem().unwrap();
        pdev.set_master();
        let space = pdev.dev.dma_space().unwrap().clone();
        let ctx = device.function().context();
        Self {
            _bus: bus,
            device,
            ctx,
            space,
        }
    }

    fn model(&self) -> &Arc<Nvme> {
        self.device.model()
    }

    fn mem(&self, size: usize) -> Mem {
        Mem {
            region: self.space.alloc_coherent(size, u64::MAX).unwrap(),
        }
    }

    fn r32(&self, offset: usize) -> u32 {
        self.model().read(&self.ctx, 0, offset, 4) as u32
    }

    fn w32(&self, offset: usize, value: u32) {
        self.model()
            .write(&self.ctx, 0, offset, 4, u64::from(value));
    }

    fn w64(&self, offset: usize, value: u64) {
        self.model().write(&self.ctx, 0, offset, 8, value);
    }

    /// Programs the admin queue registers and enables the controller.
    fn enable(&self, entries: u32) -> TestQueue {
        let queue = self.queue(0, entries);
        self.w32(0x24, (entries - 1) | (entries - 1) << 16);
        self.w64(0x28, queue.sq.addr());
        self.w64(0x30, queue.cq.addr());
        self.w32(0x14, 0x0046_0001);
        assert_eq!(self.r32(0x1c), 1, "CSTS.RDY");
        queue
    }

    fn queue(&self, qid: u16, entries: u32) -> TestQueue {
        TestQueue {
            qid,
            sq: self.mem(entries as usize * 64),
            cq: self.mem(entries as usize * 16),
            entries,
            tail: 0,
            head: 0,
            phase: true,
        }
    }

    /// Submits `dwords` (the command identifier is the tail) and returns the completion, which
    /// must arrive at once.
    fn run(&self, queue: &mut TestQueue, dwords: [u32; 16]) -> Cqe {
        self.submit(queue, dwords);
        self.complete(queue).expect("a completion")
    }

    fn submit(&self, queue: &mut TestQueue, mut dwords: [u32; 16]) {
        dwords[0] |= queue.tail << 16;
        let bytes: Vec<u8> = dwords.iter().flat_map(|d| d.to_le_bytes()).collect();
        queue.sq.write(queue.tail as usize * 64, &bytes);
        queue.tail = (queue.tail + 1) % queue.entries;
        self.w32(0x1000 + 8 * usize::from(queue.qid), queue.tail);
    }

    /// Reads the next completion if its phase says it is new, and rings the CQ head doorbell.
    fn complete(&self, queue: &mut TestQueue) -> Option<Cqe> {
        let at = queue.head as usize * 16;
        let dw3 = queue.cq.dword(at + 12);
        if (dw3 >> 16 & 1 != 0) != queue.phase {
            return None;
        }
        let dw2 = queue.cq.dword(at + 8);
        let cqe = Cqe {
            result: queue.cq.dword(at),
            sq_head: dw2 as u16,
            sqid: (dw2 >> 16) as u16,
            cid: dw3 as u16,
            status: (dw3 >> 17) as u16,
        };
        queue.head = (queue.head + 1) % queue.entries;
        if queue.head == 0 {
            queue.phase = !queue.phase;
        }
        self.w32(0x1004 + 8 * usize::from(queue.qid), queue.head);
        Some(cqe)
    }

    /// Creates I/O queue pair `qid` of `entries` entries, polled.
    fn create_io_queue(&self, admin: &mut TestQueue, qid: u16, entries: u32) -> TestQueue {
        let queue = self.queue(qid, entries);
        let size = (entries - 1) << 16 | u32::from(qid);
        assert_eq!(
            self.run(
                admin,
                command(0x05, 0, queue.cq.addr(), 0, [size, 1, 0, 0, 0, 0])
            )
            .status,
            SUCCESS
        );
        let flags = 1 | u32::from(qid) << 16;
        assert_eq!(
            self.run(
                admin,
                command(0x01, 0, queue.sq.addr(), 0, [size, flags, 0, 0, 0, 0])
            )
            .status,
            SUCCESS
        );
        queue
    }
}

/// A command: opcode, namespace, PRP1, PRP2 and dwords 10 to 15.
fn command(opcode: u8, nsid: u32, prp1: u64, prp2: u64, cdw: [u32; 6]) -> [u32; 16] {
    let mut dwords = [0u32; 16];
    dwords[0] = u32::from(opcode);
    dwords[1] = nsid;
    dwords[6] = prp1 as u32;
    dwords[7] = (prp1 >> 32) as u32;
    dwords[8] = prp2 as u32;
    dwords[9] = (prp2 >> 32) as u32;
    dwords[10..16].copy_from_slice(&cdw);
    dwords
}

/// A read or write of `blocks` blocks at `lba`.
fn rw(opcode: u8, nsid: u32, prp1: u64, prp2: u64, lba: u64, blocks: u32) -> [u32; 16] {
    command(
        opcode,
        nsid,
        prp1,
        prp2,
        [lba as u32, (lba >> 32) as u32, blocks - 1, 0, 0, 0],
    )
}

fn pattern(seed: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn registers_read_as_qemu_reports_them() {
    let rig = Rig::new(NvmeConfig::default());
    assert_eq!(rig.model().read(&rig.ctx, 0, 0, 8), CAP);
    assert_eq!(
        u64::from(rig.r32(0)) | u64::from(rig.r32(4)) << 32,
        0x0040_1820_0f01_07ff
    );
    assert_eq!(rig.r32(0x08), 0x0001_0400, "VS 1.4");
    assert_eq!(rig.r32(0x1c), 0, "CSTS after reset");
    assert_eq!(
        rig.model().read(&rig.ctx, 0, 0x08, 2),
        0,
        "2-byte reads read 0"
    );
    assert_eq!(
        rig.model().read(&rig.ctx, 0, 0x0a, 4),
        0,
        "misaligned reads read 0"
    );
    assert_eq!(rig.r32(0x1000), 0, "doorbells read 0");
    assert_eq!(
        rig.device.function().config_size(),
        4096,
        "a PCI Express endpoint's"
    );
    let bar = rig.device.function().bar(0).unwrap();
    assert_eq!(bar.size, 16 * 1024);
    assert_eq!(
        rig.model().irq_count(drydock_host::function::IrqKind::MsiX),
        65
    );
    assert_eq!(
        rig.model().irq_count(drydock_host::function::IrqKind::Msi),
        0
    );
}

#[test]
fn enabling_validates_the_admin_queue_and_disabling_deletes_every_queue() {
    let rig = Rig::new(NvmeConfig::default());
    // No admin queue: CSTS.CFS instead of RDY.
    rig.w32(0x14, 0x0046_0001);
    assert_eq!(rig.r32(0x1c), 2);
    rig.w32(0x14, 0);
    assert_eq!(rig.r32(0x1c), 0, "CC.EN 0 clears RDY and CFS");
    // A misaligned admin submission queue.
    rig.w32(0x24, 0x000f_000f);
    rig.w64(0x28, 0x1000_0800);
    rig.w64(0x30, 0x1000_2000);
    rig.w32(0x14, 0x0046_0001);
    assert_eq!(rig.r32(0x1c), 2);
    rig.w32(0x14, 0);
    let mut admin = rig.enable(16);
    let mut io = rig.create_io_queue(&mut admin, 1, 8);
    let buf = rig.mem(4096);
    assert_eq!(
        rig.run(&mut io, rw(opcode::READ, 1, buf.addr(), 0, 0, 1))
            .status,
        SUCCESS
    );
    assert_eq!(rig.model().io_queues(), 1);
    rig.w32(0x14, 0x0046_0000);
    assert_eq!(rig.r32(0x1c), 0);
    assert_eq!(rig.model().io_queues(), 0, "CC.EN 0 deletes the I/O queues");
    assert_eq!(rig.r32(0x24), 0x000f_000f, "AQA keeps its value");
    assert_eq!(
        u64::from(rig.r32(0x28)) | u64::from(rig.r32(0x2c)) << 32,
        admin.sq.addr()
    );
    // Shutdown notification completes at once.
    let _admin = rig.enable(16);
    rig.w32(0x14, 0x0046_4001);
    assert_eq!(rig.r32(0x1c) >> 2 & 3, 2, "CSTS.SHST complete");
}

#[test]
fn disabling_records_whether_the_admin_queues_memory_was_still_allocated() {
    let rig = Rig::new(NvmeConfig::default());
    let _admin = rig.enable(16);
    rig.w32(0x14, 0x0046_0000);
    // Freed memory stays mapped, yet it is no longer the driver's: the submission queue's, then
    // the completion queue's.
    let admin = rig.enable(16);
    rig.space.free_coherent(&admin.sq.region);
    rig.w32(0x14, 0x0046_0000);
    let admin = rig.enable(16);
    rig.space.free_coherent(&admin.cq.region);
    rig.w32(0x14, 0x0046_0000);
    // Writes that leave CC.EN clear record nothing.
    rig.w32(0x14, 0);
    assert_eq!(
        rig.model().admin_queues_allocated_at_disable(),
        [true, false, false]
    );
    assert!(rig.device.dma_faults().is_empty());
}

#[test]
fn queue_administration_fails_with_qemus_statuses() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    let cq = rig.mem(64 * 1024);
    let sq = rig.mem(64 * 1024);
    let create_cq = |qid: u32, size: u32, flags: u32, prp1: u64| {
        command(
            0x05,
            0,
            prp1,
            0,
            [qid | (size - 1) << 16, flags, 0, 0, 0, 0],
        )
    };
    let create_sq = |qid: u32, size: u32, cqid: u32| {
        command(
            0x01,
            0,
            sq.addr(),
            0,
            [qid | (size - 1) << 16, 1 | cqid << 16, 0, 0, 0, 0],
        )
    };
    // Number of Queues: whatever is asked, 63/63.
    let numq = rig.run(
        &mut admin,
        command(0x09, 0, 0, 0, [0x07, 0x0003_0003, 0, 0, 0, 0]),
    );
    assert_eq!((numq.status, numq.result), (SUCCESS, 0x003f_003f));
    let cases = [
        (
            create_cq(1, 16, 0, cq.addr()),
            INVALID_FIELD | DNR,
            "CQ with PC = 0",
        ),
        (
            create_cq(1, 4096, 1, cq.addr()),
            INVALID_QUEUE_SIZE | DNR,
            "4096 entries > MQES",
        ),
        (
            create_cq(1, 16, 1, cq.addr() + 0x800),
            INVALID_PRP_OFFSET | DNR,
            "misaligned PRP1",
        ),
        (
            create_cq(100, 16, 1, cq.addr()),
            INVALID_QID | DNR,
            "QID 100 > max_ioqpairs",
        ),
        (
            create_cq(1, 16, 3 | 65 << 16, cq.addr()),
            INVALID_IRQ_VECTOR | DNR,
            "vector 65",
        ),
        (create_sq(1, 16, 1), INVALID_CQID | DNR, "SQ before its CQ"),
        (
            command(0x00, 0, 0, 0, [1, 0, 0, 0, 0, 0]),
            INVALID_QID | DNR,
            "delete missing SQ",
        ),
        (
            command(0x04, 0, 0, 0, [1, 0, 0, 0, 0, 0]),
            INVALID_CQID | DNR,
            "delete missing CQ",
        ),
        (
            command(0x06, 0, cq.addr(), 0, [0x10, 0, 0, 0, 0, 0]),
            INVALID_FIELD | DNR,
            "CNS 0x10",
        ),
        (
            command(0x06, 0, cq.addr(), 0, [0, 0, 0, 0, 0, 0]),
            INVALID_NSID | DNR,
            "NSID 0",
        ),
        (
            command(0x0c, 0, 0, 0, [0; 6]),
            INVALID_OPCODE | DNR,
            "an admin opcode not modelled",
        ),
    ];
    for (dwords, expected, what) in cases {
        assert_eq!(rig.run(&mut admin, dwords).status, expected, "{what}");
    }
    // Admin commands must use PRPs.
    let mut sgl = command(0x06, 0, cq.addr(), 0, [1, 0, 0, 0, 0, 0]);
    sgl[0] |= 1 << 14;
    assert_eq!(rig.run(&mut admin, sgl).status, INVALID_FIELD | DNR);

    assert_eq!(
        rig.run(&mut admin, create_cq(1, 16, 1, cq.addr())).status,
        SUCCESS
    );
    assert_eq!(
        rig.run(&mut admin, create_cq(1, 16, 1, cq.addr())).status,
        INVALID_QID | DNR
    );
    assert_eq!(rig.run(&mut admin, create_sq(1, 16, 1)).status, SUCCESS);
    assert_eq!(
        rig.run(&mut admin, command(0x04, 0, 0, 0, [1, 0, 0, 0, 0, 0]))
            .status,
        INVALID_QUEUE_DELETION | DNR,
        "a CQ with an SQ cannot go"
    );
    assert_eq!(
        rig.run(&mut admin, command(0x09, 0, 0, 0, [0x07, 0, 0, 0, 0, 0]))
            .status,
        COMMAND_SEQUENCE_ERROR | DNR,
        "Number of Queues after a queue was created"
    );
    assert_eq!(
        rig.run(&mut admin, command(0x00, 0, 0, 0, [1, 0, 0, 0, 0, 0]))
            .status,
        SUCCESS
    );
    assert_eq!(
        rig.run(&mut admin, command(0x04, 0, 0, 0, [1, 0, 0, 0, 0, 0]))
            .status,
        SUCCESS
    );
}

#[test]
fn io_commands_follow_qemus_checks_and_prp_rules() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    let mut io = rig.create_io_queue(&mut admin, 1, 32);
    let data = rig.mem(640 * 1024);
    let list = rig.mem(8192);
    let page = |n: u64| data.addr() + n * 4096;

    // Two pages, PRP2 misaligned.
    let cqe = rig.run(&mut io, rw(opcode::READ, 1, page(0), page(1) + 8, 0, 16));
    assert_eq!(cqe.status, INVALID_PRP_OFFSET | DNR);
    assert_eq!((cqe.sqid, cqe.cid, cqe.sq_head), (1, 0, 1));
    // A list of 17 entries (PRP1 plus 16 pages: 68 KiB would be 17 pages; 64 KiB is PRP1 + 15).
    let entries: Vec<u64> = (1..16).map(page).collect();
    list.write_u64s(0, &entries);
    let written = pattern(1, 64 * 1024);
    data.write(0, &written);
    let cqe = rig.run(
        &mut io,
        rw(opcode::WRITE, 1, page(0), list.addr(), 100, 128),
    );
    assert_eq!(cqe.status, SUCCESS);
    assert_eq!(rig.model().read_storage(100 * 512, 64 * 1024), written);
    // A list entry that is not page aligned.
    list.write_u64s(8, &[page(2) + 512]);
    let cqe = rig.run(&mut io, rw(opcode::READ, 1, page(0), list.addr(), 0, 24));
    assert_eq!(cqe.status, INVALID_PRP_OFFSET | DNR);
    // 128 entries: the MDTS maximum, 512 KiB; one block more is refused.
    let entries: Vec<u64> = (1..128).map(page).collect();
    list.write_u64s(0, &entries);
    assert_eq!(
        rig.run(&mut io, rw(opcode::READ, 1, page(0), list.addr(), 0, 1024))
            .status,
        SUCCESS
    );
    assert_eq!(
        rig.run(&mut io, rw(opcode::READ, 1, page(0), list.addr(), 0, 1025))
            .status,
        INVALID_FIELD | DNR
    );
    // A list that starts two entries before the end of its page chains to a second list.
    let first = 4096 - 16;
    list.write_u64s(first, &[page(10), list.addr() + 4096]);
    list.write_u64s(4096, &[page(11), page(12)]);
    let chained = pattern(2, 4 * 4096);
    data.write(9 * 4096, &chained);
    let cqe = rig.run(
        &mut io,
        rw(
            opcode::WRITE,
            1,
            page(9),
            list.addr() + first as u64,
            400,
            32,
        ),
    );
    assert_eq!(cqe.status, SUCCESS);
    assert_eq!(rig.model().read_storage(400 * 512, 4 * 4096), chained);
    // Namespace and range checks.
    let cases = [
        (
            rw(opcode::READ, 1, page(0), 0, 8192, 1),
            LBA_OUT_OF_RANGE | DNR,
            "LBA beyond the end",
        ),
        (
            rw(opcode::READ, 1, page(0), 0, u64::MAX, 2),
            LBA_OUT_OF_RANGE | DNR,
            "LBA overflow",
        ),
        (
            rw(opcode::READ, 2, page(0), 0, 0, 1),
            INVALID_FIELD | DNR,
            "NSID 2 not attached",
        ),
        (
            rw(opcode::READ, 0, page(0), 0, 0, 1),
            INVALID_NSID | DNR,
            "NSID 0",
        ),
        (
            rw(0x04, 1, 0, 0, 0, 1),
            INVALID_OPCODE | DNR,
            "Write Uncorrectable",
        ),
        (
            rw(opcode::FLUSH, 0xffff_ffff, 0, 0, 0, 1),
            SUCCESS,
            "broadcast Flush",
        ),
    ];
    for (dwords, expected, what) in cases {
        assert_eq!(rig.run(&mut io, dwords).status, expected, "{what}");
    }
    // Write Zeroes reads back as zeros.
    assert_eq!(
        rig.run(&mut io, rw(opcode::WRITE_ZEROES, 1, 0, 0, 100, 4))
            .status,
        SUCCESS
    );
    assert!(rig
        .model()
        .read_storage(100 * 512, 2048)
        .iter()
        .all(|&b| b == 0));
    assert_eq!(
        rig.model().read_storage(104 * 512, 512),
        written[2048..2560]
    );
}

#[test]
fn a_data_fault_is_a_data_transfer_error_and_a_queue_fault_is_fatal() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    let mut io = rig.create_io_queue(&mut admin, 1, 8);
    let unmapped = 0x70_0000_0000;
    let cqe = rig.run(&mut io, rw(opcode::READ, 1, unmapped, 0, 0, 1));
    assert_eq!(cqe.status, DATA_TRANSFER_ERROR);
    rig.model().write_storage(0, &[0xaa; 512]);
    let cqe = rig.run(&mut io, rw(opcode::WRITE, 1, unmapped, 0, 0, 1));
    assert_eq!(cqe.status, DATA_TRANSFER_ERROR);
    assert_eq!(
        rig.model().read_storage(0, 512),
        vec![0xaa; 512],
        "a faulting write writes nothing"
    );
    assert_eq!(rig.r32(0x1c), 1, "data faults are not fatal");

    // A completion queue the controller cannot write: CSTS.CFS.
    let size = 7 << 16 | 2;
    assert_eq!(
        rig.run(
            &mut admin,
            command(0x05, 0, unmapped, 0, [size, 1, 0, 0, 0, 0])
        )
        .status,
        SUCCESS
    );
    let sq = rig.mem(8 * 64);
    assert_eq!(
        rig.run(
            &mut admin,
            command(0x01, 0, sq.addr(), 0, [size, 1 | 2 << 16, 0, 0, 0, 0])
        )
        .status,
        SUCCESS
    );
    let mut broken = TestQueue {
        qid: 2,
        sq,
        cq: rig.mem(4096),
        entries: 8,
        tail: 0,
        head: 0,
        phase: true,
    };
    rig.submit(&mut broken, rw(opcode::FLUSH, 1, 0, 0, 0, 1));
    assert_eq!(rig.r32(0x1c), 3, "CSTS.RDY | CSTS.CFS");
    assert!(rig
        .device
        .dma_faults()
        .iter()
        .any(|f| f.addr == unmapped && f.write));
    rig.w32(0x14, 0);
    assert_eq!(rig.r32(0x1c), 0, "a reset clears CFS");

    // A submission queue the controller cannot read: CSTS.CFS too.
    rig.w64(0x28, unmapped);
    rig.w32(0x14, 0x0046_0001);
    rig.w32(0x1000, 1);
    assert_eq!(rig.r32(0x1c) & 2, 2);
    assert!(rig
        .device
        .dma_faults()
        .iter()
        .any(|f| f.addr == unmapped && !f.write));
}

#[test]
fn a_full_completion_queue_holds_completions_until_its_head_moves() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    // A 4-entry CQ (3 usable) under an 8-entry SQ.
    let cq = rig.mem(4096);
    let sq = rig.mem(4096);
    assert_eq!(
        rig.run(
            &mut admin,
            command(0x05, 0, cq.addr(), 0, [3 << 16 | 1, 1, 0, 0, 0, 0])
        )
        .status,
        SUCCESS
    );
    assert_eq!(
        rig.run(
            &mut admin,
            command(
                0x01,
                0,
                sq.addr(),
                0,
                [7 << 16 | 1, 1 | 1 << 16, 0, 0, 0, 0]
            )
        )
        .status,
        SUCCESS
    );
    let mut io = TestQueue {
        qid: 1,
        sq,
        cq,
        entries: 8,
        tail: 0,
        head: 0,
        phase: true,
    };
    for _ in 0..6 {
        rig.submit(&mut io, rw(opcode::FLUSH, 1, 0, 0, 0, 1));
    }
    // Read the CQ directly: three entries posted, the fourth slot empty.
    let posted = |io: &TestQueue, at: usize| io.cq.dword(at * 16 + 12) >> 16 & 1;
    assert_eq!(
        [
            posted(&io, 0),
            posted(&io, 1),
            posted(&io, 2),
            posted(&io, 3)
        ],
        [1, 1, 1, 0]
    );
    // Consuming one entry (CQ head doorbell 1) lets the fourth in, at index 3.
    rig.w32(0x1004 + 8, 1);
    assert_eq!(posted(&io, 3), 1);
    assert_eq!(io.cq.dword(3 * 16 + 12) & 0xffff, 3, "command 3");
    // Consuming the rest (head 0, after a wrap) brings the last two in with the other phase.
    rig.w32(0x1004 + 8, 0);
    assert_eq!(io.cq.dword(12), 4, "command 4, success, phase 0");
    assert_eq!(io.cq.dword(16 + 12), 5, "command 5, success, phase 0");
    assert_eq!(
        io.cq.dword(16 + 8),
        1 << 16 | 6,
        "SQ 1, SQ head after command 5"
    );
    assert_eq!(
        posted(&io, 2),
        1,
        "entry 2 not overwritten: the CQ keeps one entry free"
    );
}

#[test]
fn intx_is_asserted_while_an_interrupt_enabled_queue_has_entries_and_intms_allows_it() {
    let rig = Rig::new(NvmeConfig {
        msix: false,
        ..NvmeConfig::default()
    });
    let mut admin = rig.enable(16);
    let cq = rig.mem(4096);
    let sq = rig.mem(4096);
    let size = 7 << 16 | 1;
    // Physically contiguous, interrupts enabled, vector 0 (the only one INTx has).
    assert_eq!(
        rig.run(
            &mut admin,
            command(0x05, 0, cq.addr(), 0, [size, 3, 0, 0, 0, 0])
        )
        .status,
        SUCCESS
    );
    assert_eq!(
        rig.run(
            &mut admin,
            command(0x01, 0, sq.addr(), 0, [size, 1 | 1 << 16, 0, 0, 0, 0])
        )
        .status,
        SUCCESS
    );
    let mut io = TestQueue {
        qid: 1,
        sq,
        cq,
        entries: 8,
        tail: 0,
        head: 0,
        phase: true,
    };
    let before = rig.model().interrupts_raised();
    rig.submit(&mut io, rw(opcode::FLUSH, 1, 0, 0, 0, 1));
    assert_eq!(rig.model().interrupts_raised(), before + 1, "asserted");
    rig.submit(&mut io, rw(opcode::FLUSH, 1, 0, 0, 0, 1));
    assert_eq!(
        rig.model().interrupts_raised(),
        before + 1,
        "still asserted, not again"
    );
    while rig.complete(&mut io).is_some() {}
    // Masked vector 0: entries arrive, the pin stays low.
    rig.w32(0x0c, 1);
    assert_eq!(rig.r32(0x0c), 1);
    rig.submit(&mut io, rw(opcode::FLUSH, 1, 0, 0, 0, 1));
    assert_eq!(rig.model().interrupts_raised(), before + 1);
    rig.w32(0x10, 1);
    assert_eq!(
        rig.model().interrupts_raised(),
        before + 2,
        "unmasking asserts it"
    );
}

#[test]
fn shadow_doorbells_replace_mmio_writes_until_the_event_index_asks_for_one() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    let shadow = rig.mem(4096);
    let events = rig.mem(4096);
    let misaligned = command(0x7c, 0, shadow.addr() + 4, events.addr(), [0; 6]);
    assert_eq!(rig.run(&mut admin, misaligned).status, INVALID_FIELD | DNR);
    let config = command(0x7c, 0, shadow.addr(), events.addr(), [0; 6]);
    assert_eq!(rig.run(&mut admin, config).status, SUCCESS);
    assert!(rig.model().shadow_doorbells());
    // The admin queue's current values were copied to the shadow buffer.
    assert_eq!(shadow.dword(0), admin.tail);
    assert_eq!(shadow.dword(4), admin.head);
    let mut io = rig.create_io_queue(&mut admin, 1, 8);
    // Commands announced through the shadow doorbell are seen by the next MMIO write.
    for i in 0..2u32 {
        let dwords = rw(opcode::FLUSH, 1, 0, 0, 0, 1);
        let mut dwords = dwords;
        dwords[0] |= i << 16;
        let bytes: Vec<u8> = dwords.iter().flat_map(|d| d.to_le_bytes()).collect();
        io.sq.write(i as usize * 64, &bytes);
    }
    shadow.write(8, &2u32.to_le_bytes());
    let writes = rig.model().sq_doorbell_writes();
    rig.w32(0x1008, 1);
    assert_eq!(rig.model().sq_doorbell_writes(), writes + 1);
    io.tail = 2;
    assert_eq!(rig.complete(&mut io).unwrap().cid, 0);
    assert_eq!(
        rig.complete(&mut io).unwrap().cid,
        1,
        "the shadow tail was read"
    );
    assert_eq!(
        events.dword(8),
        2,
        "the event index says how far the SQ was read"
    );
}

#[test]
fn a_stalled_command_runs_when_released_unless_its_queue_was_deleted_first() {
    let rig = Rig::new(NvmeConfig::default());
    let mut admin = rig.enable(16);
    let mut io = rig.create_io_queue(&mut admin, 1, 8);
    let buf = rig.mem(4096);
    rig.model().write_storage(0, &pattern(3, 512));
    rig.model().inject(false, opcode::READ, Fault::Stall);
    rig.submit(&mut io, rw(opcode::READ, 1, buf.addr(), 0, 0, 1));
    assert!(rig.complete(&mut io).is_none(), "held");
    assert_eq!(buf.read(0, 512), vec![0; 512], "not executed while held");
    assert_eq!(rig.model().release_stalled(&rig.ctx), 1);
    let cqe = rig.complete(&mut io).expect("completed when released");
    assert_eq!((cqe.cid, cqe.status), (0, SUCCESS));
    assert_eq!(buf.read(0, 512), pattern(3, 512), "executed late");
    // Held again, then its submission queue is deleted: dropped, never executed.
    rig.model().inject(false, opcode::READ, Fault::Stall);
    rig.submit(&mut io, rw(opcode::READ, 1, buf.addr(), 0, 1, 1));
    let delete_sq = command(0x00, 0, 0, 0, [1, 0, 0, 0, 0, 0]);
    assert_eq!(rig.run(&mut admin, delete_sq).status, SUCCESS);
    assert_eq!(rig.model().release_stalled(&rig.ctx), 0);
    assert_eq!(
        buf.read(0, 512),
        pattern(3, 512),
        "block 1 (zeros) not read"
    );
}

#[test]
fn mdts_queue_pairs_and_readiness_follow_the_configuration() {
    let rig = Rig::new(NvmeConfig {
        blocks: 16384,
        mdts: 9,
        io_queue_pairs: 100,
        ..NvmeConfig::default()
    });
    let mut admin = rig.enable(16);
    let identify = rig.mem(4096);
    let cqe = rig.run(
        &mut admin,
        command(0x06, 0, identify.addr(), 0, [1, 0, 0, 0, 0, 0]),
    );
    assert_eq!((cqe.status, identify.read(77, 1)[0]), (SUCCESS, 9), "MDTS");
    let numq = rig.run(
        &mut admin,
        command(0x09, 0, 0, 0, [0x07, 0x0003_0003, 0, 0, 0, 0]),
    );
    assert_eq!((numq.status, numq.result), (SUCCESS, 99 | 99 << 16));
    let mut io = rig.create_io_queue(&mut admin, 100, 8);
    let beyond = rig.mem(4096);
    let cqe = rig.run(
        &mut admin,
        command(0x05, 0, beyond.addr(), 0, [101 | 7 << 16, 1, 0, 0, 0, 0]),
    );
    assert_eq!(
        cqe.status,
        INVALID_QID | DNR,
        "queue 101 is beyond the pairs"
    );
    // 2 MiB, MDTS 9's limit, through PRP1 and a list of 511 entries; one block more is refused.
    let data = rig.mem(2 << 20);
    let list = rig.mem(4096);
    let entries: Vec<u64> = (1..512).map(|n| data.addr() + n * 4096).collect();
    list.write_u64s(0, &entries);
    let read = |blocks| rw(opcode::READ, 1, data.addr(), list.addr(), 0, blocks);
    assert_eq!(rig.run(&mut io, read(4096)).status, SUCCESS);
    assert_eq!(rig.run(&mut io, read(4097)).status, INVALID_FIELD | DNR);

    // A controller that never becomes ready, whatever its admin queue.
    let rig = Rig::new(NvmeConfig {
        never_ready: true,
        ..NvmeConfig::default()
    });
    let queue = rig.queue(0, 16);
    rig.w32(0x24, 0x000f_000f);
    rig.w64(0x28, queue.sq.addr());
    rig.w64(0x30, queue.cq.addr());
    rig.w32(0x14, 0x0046_0001);
    assert_eq!(rig.r32(0x1c), 0, "neither RDY nor CFS");
}
