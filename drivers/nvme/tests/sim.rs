//! The NVMe driver on the simulated bus, against the model of QEMU 7.2's controller: bring-up,
//! I/O through every PRP shape, polled and interrupt-driven queues, the queue limit, shadow
//! doorbells, and every way the controller can misbehave (error statuses, commands that never
//! complete, completions for commands that do not exist, stale phases, a fatal status, garbage
//! Identify data and capabilities), and a probe that fails at any of its allocations.

use std::sync::Arc;
use std::time::Duration;

use drydock_host::fault::AllocFailure;
use drydock_nvme::{Completion, Controller, IoCommand, NvmeDriver, Queue, QueueConfig, Status};
use drydock_runner::driver_data::WithDriver;
use drydock_sim::models::nvme::{opcode, status, Fault, NvmeConfig, CAP};
use drydock_sim::models::Nvme;
use drydock_sim::pattern;
use drydock_sim::{DeviceModel, SimBus, SimDevice, REMOVALS};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::error::code::{EBUSY, ECANCELED, EINVAL, EIO, ENODATA, ENODEV, ERANGE, ETIMEDOUT};
use kernel::io::Io;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;

#[path = "support/released.rs"]
mod released;
use released::assert_released;

/// A bus with one simulated controller of `config` at slot 4 and the driver loaded.
struct Rig {
    _bus: SimBus,
    device: SimDevice<Nvme>,
    _module: drydock_host::module::ModuleHandle,
}

impl Rig {
    fn new(config: NvmeConfig) -> Self {
        let bus = SimBus::new();
        let device = bus.add(4, Nvme::with_config(config));
        let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
        Self {
            _bus: bus,
            device,
            _module: module,
        }
    }

    fn default() -> Self {
        Self::new(NvmeConfig::default())
    }

    fn model(&self) -> &Arc<Nvme> {
        self.device.model()
    }

    fn with<R>(
        &self,
        f: impl for<'b> FnOnce(&'b pci::Device<Bound>, &'b Controller<'b>) -> R,
    ) -> R {
        self.device
            .with_driver::<NvmeDriver, _>(|dev, ctrl| f(dev, ctrl.get_ref()))
            .expect("the driver is bound")
    }
}

fn buffer(dev: &pci::Device<Bound>, len: usize) -> Coherent<[u8]> {
    Coherent::<u8>::zeroed_slice(dev.as_ref(), len, GFP_KERNEL).unwrap()
}

fn fill(buf: &Coherent<[u8]>, offset: usize, data: &[u8]) {
    kernel::io::io_project!(buf, [panic: offset..offset + data.len()]).copy_from_slice(data);
}

fn contents(buf: &Coherent<[u8]>, offset: usize, len: usize) -> Vec<u8> {
    let mut out = vec![0; len];
    kernel::io::io_project!(buf, [panic: offset..offset + len]).copy_to_slice(&mut out);
    out
}

fn polled() -> QueueConfig {
    QueueConfig::default()
}

fn interrupts() -> QueueConfig {
    QueueConfig {
        interrupts: true,
        ..QueueConfig::default()
    }
}

fn quick_timeout(mut config: QueueConfig) -> QueueConfig {
    config.timeout = Delta::from_millis(100);
    config
}

fn read<'a>(lba: u64, blocks: u32, buffer: &'a Coherent<[u8]>, offset: usize) -> IoCommand<'a> {
    IoCommand::Read {
        lba,
        blocks,
        buffer,
        offset,
    }
}

fn write<'a>(lba: u64, blocks: u32, buffer: &'a Coherent<[u8]>, offset: usize) -> IoCommand<'a> {
    IoCommand::Write {
        lba,
        blocks,
        buffer,
        offset,
    }
}

#[test]
fn probe_identifies_the_controller_and_its_namespace() {
    let rig = Rig::default();
    rig.with(|_, ctrl| {
        let info = ctrl.info();
        assert_eq!(info.model(), "QEMU NVMe Ctrl");
        assert_eq!(info.serial(), "drydock-sim");
        assert_eq!(info.firmware(), "7.2.22");
        assert_eq!(info.version, 0x0001_0400);
        assert_eq!(info.namespaces, 256);
        assert!(info.volatile_write_cache);
        let ns = ctrl.namespace();
        assert_eq!((ns.id, ns.blocks, ns.block_size()), (1, 8192, 512));
        assert_eq!(ctrl.max_io_queues(), 64, "Number of Queues answers 63/63");
        assert_eq!(ctrl.max_transfer(), 512 * 1024, "MDTS 7 with 4 KiB pages");
        assert_eq!(ctrl.max_queue_entries(), 2048, "MQES 2047");
        assert!(matches!(ctrl.irq_type(), pci::IrqType::MsiX));
        assert_eq!(ctrl.irq_vectors(), 9);
    });
    // Disable first, then enable with 4 KiB pages and 64/16-byte entries.
    let cc = rig.model().cc_writes();
    assert_eq!(cc.len(), 2, "{cc:x?}");
    assert_eq!(cc[0] & 1, 0);
    assert_eq!(cc[1], 0x0046_0001);
    assert!(rig.device.function().fatal_errors().is_empty());
    assert!(rig.device.dma_faults().is_empty());
}

/// The CC value the driver enables the controller with.
const CC_ENABLED: u32 = 0x0046_0001;

/// Enables the controller of `device` as another driver (or a killed process) would have, with
/// its own admin queue at addresses the IOMMU does not map.
fn enable_stale(device: &SimDevice<Nvme>) {
    let (model, ctx) = (device.model(), device.function().context());
    model.write(&ctx, 0, 0x24, 4, 0x001f_001f);
    model.write(&ctx, 0, 0x28, 8, 0x7000_0000);
    model.write(&ctx, 0, 0x30, 8, 0x7100_0000);
    model.write(&ctx, 0, 0x14, 4, u64::from(CC_ENABLED));
}

/// Loads the driver on a controller left in some start-up state; checks that it binds and works,
/// that the stale queues were never used, and that it wrote CC exactly `cc` after what the test
/// wrote before (`before` values).
fn binds_from_a_stale_state(bus: &SimBus, device: &SimDevice<Nvme>, before: usize, cc: &[u32]) {
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    assert_eq!(device.model().cc_writes()[before..], *cc);
    device
        .with_driver::<NvmeDriver, _>(|dev, ctrl| {
            let queue = ctrl.create_io_queue(dev, polled()).unwrap();
            let buf = buffer(dev, 4096);
            queue.execute(dev, &read(0, 8, &buf, 0)).unwrap();
        })
        .unwrap();
    assert!(
        device.dma_faults().is_empty(),
        "the stale queues were never used"
    );
    assert!(device.function().fatal_errors().is_empty());
}

#[test]
fn a_controller_left_enabled_is_disabled_before_anything_else() {
    // CC.EN 1, CSTS.RDY 1.
    let bus = SimBus::new();
    let device = bus.add(4, Nvme::new(8192));
    enable_stale(&device);
    assert_eq!(
        device.model().csts() & 1,
        1,
        "the stale controller is ready"
    );
    // The driver's first write clears CC.EN.
    binds_from_a_stale_state(&bus, &device, 1, &[CC_ENABLED & !1, CC_ENABLED]);
    // The stale queues' disable, then the unload's, the driver's admin queue still allocated.
    assert_eq!(
        device.model().admin_queues_allocated_at_disable(),
        [false, true]
    );
}

#[test]
fn a_controller_left_becoming_ready_is_disabled_before_anything_else() {
    // CC.EN 1, CSTS.RDY 0: enabled by a process killed before it became ready. Its start-up
    // would take the stale admin queue if it were let finish.
    let bus = SimBus::new();
    let device = bus.add(
        4,
        Nvme::with_config(NvmeConfig {
            ready_delay: Duration::from_millis(300),
            ..NvmeConfig::default()
        }),
    );
    enable_stale(&device);
    assert_eq!(device.model().csts(), 0, "the stale controller is starting");
    binds_from_a_stale_state(&bus, &device, 1, &[CC_ENABLED & !1, CC_ENABLED]);
    // The stale queues' disable, then the unload's, the driver's admin queue still allocated.
    assert_eq!(
        device.model().admin_queues_allocated_at_disable(),
        [false, true]
    );
}

#[test]
fn a_controller_left_resetting_is_enabled_once_its_reset_finished() {
    // CC.EN 0, CSTS.RDY 1: disabled by a process killed before the reset finished. Enabling it
    // before CSTS.RDY clears is undefined (the model reports it as fatal).
    let bus = SimBus::new();
    let device = bus.add(
        4,
        Nvme::with_config(NvmeConfig {
            reset_delay: Duration::from_millis(300),
            ..NvmeConfig::default()
        }),
    );
    enable_stale(&device);
    let ctx = device.function().context();
    device
        .model()
        .write(&ctx, 0, 0x14, 4, u64::from(CC_ENABLED & !1));
    assert_eq!(
        device.model().csts(),
        1,
        "the stale controller is resetting"
    );
    // The driver clears CC.EN again (it is clear already) and waits for CSTS.RDY to clear.
    binds_from_a_stale_state(&bus, &device, 2, &[CC_ENABLED & !1, CC_ENABLED]);
    // The stale queues' disable, then the unload's, the driver's admin queue still allocated.
    assert_eq!(
        device.model().admin_queues_allocated_at_disable(),
        [false, true]
    );
}

/// Writes a pattern (seeded from `seed` and the case's index) for each `(lba, blocks, buffer
/// offset)` of `cases` from `buf`, checks the controller's storage, then reads it back into the
/// cleared buffer and compares.
fn round_trips(
    rig: &Rig,
    dev: &pci::Device<Bound>,
    queue: &Queue,
    buf: &Coherent<[u8]>,
    cases: &[(u64, u32, usize)],
    seed: u64,
) {
    for (i, &(lba, blocks, offset)) in cases.iter().enumerate() {
        let len = blocks as usize * 512;
        let data = pattern(seed + i as u64, len);
        fill(buf, offset, &data);
        queue
            .execute(dev, &write(lba, blocks, buf, offset))
            .unwrap();
        assert!(
            rig.model().read_storage(lba as usize * 512, len) == data,
            "write of {blocks} blocks at {lba} from offset {offset}"
        );
        fill(buf, offset, &vec![0; len]);
        queue.execute(dev, &read(lba, blocks, buf, offset)).unwrap();
        assert!(
            contents(buf, offset, len) == data,
            "read back {lba}+{blocks} at offset {offset}"
        );
    }
}

#[test]
fn reads_and_writes_round_trip_through_every_prp_shape() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 640 * 1024);
        // (lba, blocks, buffer offset): one page, PRP2 as the second page (aligned and not), a
        // PRP list (aligned, unaligned, the MDTS maximum), a single block at a page's end.
        let cases = [
            (0u64, 1u32, 0usize),
            (3, 8, 0),
            (17, 16, 0),
            (40, 9, 4096 - 512),
            (100, 24, 0),
            (200, 40, 1028),
            (500, 1024, 0),
            (2000, 1023, 3072),
            (8191, 1, 4092),
        ];
        round_trips(&rig, dev, &queue, &buf, &cases, 1);
        let stats = queue.stats();
        assert_eq!(stats.submitted, 2 * cases.len() as u64);
        assert_eq!(stats.completed, stats.submitted);
        assert_eq!((stats.errors, stats.spurious, stats.timeouts), (0, 0, 0));
    });
    assert!(rig.device.dma_faults().is_empty());
    assert!(rig.device.function().fatal_errors().is_empty());
}

#[test]
fn transfers_beyond_one_prp_list_page_chain_list_pages_up_to_8_mib() {
    // MDTS 12 (16 MiB): the driver's own 8 MiB limit applies.
    let rig = Rig::new(NvmeConfig {
        blocks: 32 * 1024,
        mdts: 12,
        ..NvmeConfig::default()
    });
    rig.with(|dev, ctrl| {
        assert_eq!(ctrl.max_transfer(), 8 << 20);
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        assert_eq!(queue.max_transfer(), 8 << 20);
        let buf = buffer(dev, (8 << 20) + 8192);
        // (lba, blocks, buffer offset), with the PRP list entries each needs: 512 (one full list
        // page), 513 (a second page, chained from the first's last entry), the same from an
        // offset, and the 8 MiB maximum (five pages) aligned and not.
        let cases = [
            (0u64, 4104u32, 0usize),
            (5000, 4112, 0),
            (10000, 4104, 512),
            (16384, 16384, 0),
            (100, 16384, 1028),
        ];
        round_trips(&rig, dev, &queue, &buf, &cases, 11);
        assert_eq!(queue.submit(dev, &read(0, 16385, &buf, 0)), Err(EINVAL));
    });
    assert!(rig.device.dma_faults().is_empty());
}

#[test]
fn commands_the_driver_cannot_describe_are_refused_before_the_controller_sees_them() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 1024 * 1024);
        let before = rig.model().commands();
        // Beyond MDTS, beyond the buffer, a misaligned offset, no blocks.
        assert_eq!(queue.submit(dev, &read(0, 1025, &buf, 0)), Err(EINVAL));
        assert_eq!(
            queue.submit(dev, &read(0, 2, &buf, 1024 * 1024 - 512)),
            Err(EINVAL)
        );
        assert_eq!(queue.submit(dev, &read(0, 1, &buf, 2)), Err(EINVAL));
        assert_eq!(queue.submit(dev, &read(0, 0, &buf, 0)), Err(EINVAL));
        assert_eq!(
            queue.submit(
                dev,
                &IoCommand::WriteZeroes {
                    lba: 0,
                    blocks: 0x1_0001
                }
            ),
            Err(EINVAL)
        );
        assert_eq!(rig.model().commands(), before);
        assert_eq!(queue.outstanding(), 0, "refused commands hold no slot");
    });
}

#[test]
fn flush_and_write_zeroes() {
    let rig = Rig::default();
    rig.write_pattern_then(|dev, queue| {
        queue
            .execute(dev, &IoCommand::WriteZeroes { lba: 10, blocks: 5 })
            .unwrap();
        queue.execute(dev, &IoCommand::Flush).unwrap();
    });
    let storage = rig.model().read_storage(0, 32 * 512);
    let expected = pattern(7, 32 * 512);
    assert_eq!(&storage[..10 * 512], &expected[..10 * 512]);
    assert!(storage[10 * 512..15 * 512].iter().all(|&b| b == 0));
    assert_eq!(&storage[15 * 512..], &expected[15 * 512..]);
}

impl Rig {
    /// Writes `pattern(7)` over blocks 0 to 31, then runs `f` with a polled queue.
    fn write_pattern_then(&self, f: impl for<'b> FnOnce(&'b pci::Device<Bound>, &Queue)) {
        self.with(|dev, ctrl| {
            let queue = ctrl.create_io_queue(dev, polled()).unwrap();
            let buf = buffer(dev, 32 * 512);
            fill(&buf, 0, &pattern(7, 32 * 512));
            queue.execute(dev, &write(0, 32, &buf, 0)).unwrap();
            f(dev, &queue);
        });
    }
}

/// Keeps `depth` commands in flight on `queue` until `total` completed, each a read or write of
/// its own 4 KiB block of `buf`; checks every completion.
fn run_queue_depth(
    dev: &pci::Device<Bound>,
    queue: &Queue,
    buf: &Coherent<[u8]>,
    depth: usize,
    total: usize,
) {
    let mut submitted = 0;
    let mut completed = 0;
    let mut out = [Completion::default(); 64];
    while completed < total {
        while submitted < total && submitted - completed < depth {
            let slot = submitted % depth;
            let lba = (slot * 8) as u64;
            let command = if submitted % 3 == 0 {
                write(lba, 8, buf, slot * 4096)
            } else {
                read(lba, 8, buf, slot * 4096)
            };
            queue.submit(dev, &command).unwrap();
            submitted += 1;
        }
        let n = queue.wait(dev, &mut out, Delta::from_secs(10)).unwrap();
        assert!(n > 0, "no completion within 10 s");
        for completion in &out[..n] {
            assert_eq!(completion.to_result(), Ok(()), "{completion:?}");
        }
        completed += n;
    }
}

#[test]
fn polled_and_interrupt_driven_queues_keep_many_commands_in_flight() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let buf = buffer(dev, 32 * 4096);
        for config in [polled(), interrupts()] {
            let queue = ctrl.create_io_queue(dev, config).unwrap();
            assert_eq!(queue.interrupt_driven(), config.interrupts);
            run_queue_depth(dev, &queue, &buf, 32, 1000);
            let stats = queue.stats();
            assert_eq!(stats.completed, 1000);
            if config.interrupts {
                assert!(stats.interrupts > 0);
            } else {
                assert_eq!(stats.interrupts, 0);
            }
            ctrl.delete_io_queue(dev, &queue).unwrap();
        }
    });
    assert_eq!(rig.model().io_queues(), 0);
}

#[test]
fn two_queues_run_from_two_threads() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queues: Vec<_> = [polled(), interrupts()]
            .into_iter()
            .map(|config| ctrl.create_io_queue(dev, config).unwrap())
            .collect();
        assert_ne!(queues[0].id(), queues[1].id());
        std::thread::scope(|scope| {
            for queue in &queues {
                scope.spawn(move || {
                    let buf = buffer(dev, 16 * 4096);
                    run_queue_depth(dev, queue, &buf, 16, 500);
                });
            }
        });
    });
}

#[test]
fn intx_serves_interrupt_driven_queues_when_msix_is_missing() {
    let rig = Rig::new(NvmeConfig {
        msix: false,
        ..NvmeConfig::default()
    });
    rig.with(|dev, ctrl| {
        assert!(matches!(ctrl.irq_type(), pci::IrqType::Intx));
        assert_eq!(ctrl.irq_vectors(), 1);
        let buf = buffer(dev, 8 * 4096);
        let a = ctrl.create_io_queue(dev, interrupts()).unwrap();
        let b = ctrl.create_io_queue(dev, interrupts()).unwrap();
        let c = ctrl.create_io_queue(dev, polled()).unwrap();
        for queue in [&a, &b, &c] {
            run_queue_depth(dev, queue, &buf, 8, 200);
        }
        assert!(a.stats().interrupts > 0 && b.stats().interrupts > 0);
    });
    assert!(rig.model().interrupts_raised() > 0);
}

#[test]
fn queues_can_be_created_up_to_the_controllers_limit() {
    // More queue pairs than QEMU's default 64.
    let rig = Rig::new(NvmeConfig {
        io_queue_pairs: 100,
        ..NvmeConfig::default()
    });
    rig.with(|dev, ctrl| {
        assert_eq!(ctrl.max_io_queues(), 100);
        let config = QueueConfig {
            depth: 4,
            ..QueueConfig::default()
        };
        let queues: Vec<_> = (0..ctrl.max_io_queues())
            .map(|_| ctrl.create_io_queue(dev, config).unwrap())
            .collect();
        assert_eq!(rig.model().io_queues(), 100);
        assert_eq!(ctrl.create_io_queue(dev, config).err(), Some(EBUSY));
        ctrl.delete_io_queue(dev, &queues[10]).unwrap();
        assert_eq!(ctrl.delete_io_queue(dev, &queues[10]), Err(EINVAL));
        let again = ctrl.create_io_queue(dev, config).unwrap();
        assert_eq!(
            again.id(),
            queues[10].id(),
            "the freed identifier is reused"
        );
        let buf = buffer(dev, 4096);
        assert_eq!(queues[10].submit(dev, &read(0, 1, &buf, 0)), Err(ENODEV));
        again.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        // The depth is clamped to what the controller supports.
        ctrl.delete_io_queue(dev, &again).unwrap();
        let deep = ctrl
            .create_io_queue(
                dev,
                QueueConfig {
                    depth: u16::MAX,
                    ..config
                },
            )
            .unwrap();
        assert_eq!(deep.capacity(), 2047);
    });
    // A doorbell stride of 512 bytes leaves room in the 16 KiB BAR0 for the doorbells of the
    // admin queue and 11 I/O queue pairs (each pair takes 1 KiB from 0x1000): no more are offered.
    let rig = Rig::new(NvmeConfig {
        cap: CAP | 7 << 32,
        ..NvmeConfig::default()
    });
    rig.with(|_, ctrl| assert_eq!(ctrl.max_io_queues(), 11));
}

#[test]
fn a_read_beyond_the_namespace_returns_the_devices_error() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 8192);
        let tag = queue.submit(dev, &read(8190, 4, &buf, 0)).unwrap();
        let completion = queue.wait_for(dev, tag).unwrap();
        assert_eq!(
            completion.status,
            Status::Device(status::LBA_OUT_OF_RANGE | status::DNR)
        );
        assert_eq!(
            (completion.status.code_type(), completion.status.code()),
            (Some(0), Some(0x80))
        );
        assert!(completion.status.do_not_retry());
        assert_eq!(completion.to_result(), Err(ERANGE));
        assert_eq!(
            queue.execute(dev, &write(u64::MAX, 1, &buf, 0)),
            Err(ERANGE)
        );
        assert_eq!(queue.stats().errors, 2);
        // The queue goes on working.
        queue.execute(dev, &read(8188, 4, &buf, 0)).unwrap();
    });
}

#[test]
fn the_queues_file_shows_each_queues_depth_commands_and_errors() {
    use drydock_sim::state::{find, tables, Row};

    let rig = Rig::default();
    let file = format!("drydock_nvme-{}/queues", rig.device.name());
    let queues = || -> Vec<Row> {
        let text = String::from_utf8(drydock_host::debugfs::read(&file).unwrap()).unwrap();
        tables(&text).remove(0)
    };
    let cell = |rows: &[Row], qid: &str, column: &str| -> u64 {
        find(rows, "QID", qid).unwrap()[column].parse().unwrap()
    };
    rig.with(|dev, ctrl| {
        let shown = queues();
        assert_eq!(shown.len(), 1, "the admin queue alone: {shown:?}");
        assert_eq!(cell(&shown, "0", "DEPTH"), 32);
        let admin = ctrl.admin_stats();
        assert_eq!(cell(&shown, "0", "SUBMITTED"), admin.submitted);
        assert_eq!(cell(&shown, "0", "COMPLETED"), admin.completed);

        let polled_queue = ctrl
            .create_io_queue(
                dev,
                QueueConfig {
                    depth: 64,
                    ..polled()
                },
            )
            .unwrap();
        let irq_queue = ctrl.create_io_queue(dev, interrupts()).unwrap();
        let buf = buffer(dev, 4096);
        for _ in 0..5 {
            polled_queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        }
        for _ in 0..3 {
            rig.model().inject(
                false,
                opcode::READ,
                Fault::Status(status::DATA_TRANSFER_ERROR),
            );
            assert_eq!(irq_queue.execute(dev, &read(0, 1, &buf, 0)), Err(EIO));
        }
        irq_queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        let waiting = polled_queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();

        let shown = queues();
        let (p, i) = (polled_queue.id().to_string(), irq_queue.id().to_string());
        assert_eq!(cell(&shown, &p, "DEPTH"), 64);
        assert_eq!(cell(&shown, &p, "IN_FLIGHT"), 1);
        assert_eq!(cell(&shown, &p, "SUBMITTED"), 6);
        assert_eq!(cell(&shown, &p, "ERRORS"), 0);
        assert_eq!(cell(&shown, &p, "INTERRUPTS"), 0);
        assert_eq!(cell(&shown, &i, "DEPTH"), 128);
        assert_eq!(cell(&shown, &i, "IN_FLIGHT"), 0);
        assert_eq!(cell(&shown, &i, "SUBMITTED"), 4);
        assert_eq!(cell(&shown, &i, "COMPLETED"), 4);
        assert_eq!(cell(&shown, &i, "ERRORS"), 3);
        assert_eq!(cell(&shown, &i, "TIMEOUTS"), 0);
        assert_eq!(cell(&shown, &i, "INTERRUPTS"), irq_queue.stats().interrupts);
        assert!(irq_queue.stats().interrupts > 0);
        for queue in [&polled_queue, &irq_queue] {
            let stats = queue.stats();
            let qid = queue.id().to_string();
            assert_eq!(cell(&shown, &qid, "COMPLETED"), stats.completed);
            assert_eq!(cell(&shown, &qid, "ERRORS"), stats.errors);
        }

        polled_queue.wait_for(dev, waiting).unwrap();
        ctrl.delete_io_queue(dev, &irq_queue).unwrap();
        let shown = queues();
        assert_eq!(cell(&shown, &p, "IN_FLIGHT"), 0);
        assert!(
            find(&shown, "QID", &i).is_none(),
            "a deleted queue: {shown:?}"
        );
    });
    let dir = format!("drydock_nvme-{}", rig.device.name());
    rig.device.unplug();
    assert!(
        drydock_host::debugfs::metadata(&dir).is_err(),
        "the files outlived the driver"
    );
}

#[test]
fn injected_error_statuses_are_decoded() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, interrupts()).unwrap();
        let buf = buffer(dev, 4096);
        let cases = [
            (status::UNRECOVERED_READ_ERROR, ENODATA),
            (status::DATA_TRANSFER_ERROR, EIO),
            (
                status::INVALID_OPCODE | status::DNR,
                kernel::error::code::EOPNOTSUPP,
            ),
            (status::INVALID_FIELD, EINVAL),
            (0x0008, ECANCELED),
            (0x07ff, EIO),
        ];
        for (raw, err) in cases {
            rig.model().inject(false, opcode::READ, Fault::Status(raw));
            let tag = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
            let completion = queue.wait_for(dev, tag).unwrap();
            assert_eq!(completion.status, Status::Device(raw));
            assert_eq!(completion.to_result(), Err(err), "{}", completion.status);
        }
        assert_eq!(queue.stats().errors, cases.len() as u64);
        queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
    });
}

#[test]
fn a_success_with_retry_delay_more_or_do_not_retry_bits_is_a_success() {
    for raw in [0x0800, 0x1000, 0x2000, 0x4000, 0x7800] {
        let status = Status::Device(raw);
        assert!(status.is_success(), "{status}");
        assert_eq!(status.to_result(), Ok(()));
    }
    assert!(!Status::Device(0x4002).is_success());
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 4096);
        rig.model()
            .inject(false, opcode::READ, Fault::Status(status::DNR | 0x2000));
        queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        assert_eq!(queue.stats().errors, 0);
    });
}

#[test]
fn a_command_that_times_out_is_taken_back_before_its_buffer_is_handed_back() {
    for interrupts in [false, true] {
        let config = QueueConfig {
            interrupts,
            timeout: Delta::from_millis(400),
            ..QueueConfig::default()
        };
        let rig = Rig::default();
        let ctx = rig.device.function().context();
        rig.model().write_storage(0, &pattern(5, 512));
        rig.with(|dev, ctrl| {
            let queue = ctrl.create_io_queue(dev, config).unwrap();
            let buf = buffer(dev, 8192);
            rig.model().inject(false, opcode::READ, Fault::Stall);
            let start = std::time::Instant::now();
            let stuck = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
            // Placed without a doorbell, 250 ms later: in flight, not yet overdue when the first
            // is, and never seen by the controller.
            std::thread::sleep(std::time::Duration::from_millis(250));
            let unseen = queue.queue(dev, &read(1, 1, &buf, 4096)).unwrap();
            let completion = queue.wait_for(dev, stuck).unwrap();
            let waited = start.elapsed();
            assert_eq!(completion.status, Status::TimedOut);
            assert_eq!(completion.to_result(), Err(ETIMEDOUT));
            assert!(waited.as_millis() >= 400, "timed out after {waited:?}");
            assert!(waited.as_secs() < 5, "timed out after {waited:?}");
            // Taking the stuck command back (deleting the submission queue) ended the other.
            let completion = queue.wait_for(dev, unseen).unwrap();
            assert_eq!(completion.status, Status::Aborted);
            assert_eq!(completion.to_result(), Err(ECANCELED));
            // The caller has its buffer back and uses it; the controller finally gets to the
            // read it held, late: it was dropped with its submission queue, and writes nothing.
            fill(&buf, 0, &[0x33; 4096]);
            assert_eq!(rig.model().release_stalled(&ctx), 0);
            assert!(
                contents(&buf, 0, 4096).iter().all(|&b| b == 0x33),
                "the late read wrote into the buffer"
            );
            // The queue, created again, works from its first slot to its last and around.
            assert_eq!(queue.outstanding(), 0);
            for _ in 0..2 * queue.capacity() {
                queue.execute(dev, &read(0, 1, &buf, 4096)).unwrap();
            }
            assert_eq!(contents(&buf, 4096, 512), pattern(5, 512));
            assert_eq!(
                queue.wait_for(dev, stuck),
                Err(EINVAL),
                "the tag was reaped"
            );
            let stats = queue.stats();
            assert_eq!(
                (stats.timeouts, stats.recoveries, stats.late, stats.spurious),
                (1, 1, 0, 0)
            );
        });
        assert!(rig.device.dma_faults().is_empty());
    }
}

#[test]
fn a_queue_whose_only_slot_timed_out_takes_commands_again_at_once() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl
            .create_io_queue(
                dev,
                QueueConfig {
                    depth: 2,
                    ..quick_timeout(polled())
                },
            )
            .unwrap();
        let buf = buffer(dev, 4096);
        rig.model().inject(false, opcode::READ, Fault::Stall);
        queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
        let mut out = [Completion::default(); 4];
        assert_eq!(queue.wait(dev, &mut out, Delta::from_secs(5)).unwrap(), 1);
        assert_eq!(out[0].status, Status::TimedOut);
        // The controller no longer has the command: its slot is free.
        queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        assert_eq!(
            rig.model()
                .release_stalled(&rig.device.function().context()),
            0
        );
    });
}

#[test]
fn reaping_alone_reports_timeouts() {
    for config in [quick_timeout(polled()), quick_timeout(interrupts())] {
        let rig = Rig::default();
        rig.with(|dev, ctrl| {
            let queue = ctrl.create_io_queue(dev, config).unwrap();
            let buf = buffer(dev, 4096);
            rig.model().inject(false, opcode::READ, Fault::Stall);
            let tag = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
            let mut out = [Completion::default(); 4];
            let start = std::time::Instant::now();
            let mut n = 0;
            while n == 0 && start.elapsed().as_secs() < 3 {
                n = queue.reap(dev, &mut out).unwrap();
            }
            assert_eq!(n, 1, "no completion reaped in {:?}", start.elapsed());
            assert_eq!((out[0].tag, out[0].status), (tag, Status::TimedOut));
            assert_eq!(queue.stats().recoveries, 1);
        });
    }
}

#[test]
fn a_fatal_status_fails_the_commands_in_flight_long_before_their_timeout() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        // The default 30 s timeout: only the fatal status can end the commands in time.
        let waited = ctrl.create_io_queue(dev, interrupts()).unwrap();
        let reaped = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 8192);
        rig.model().inject(false, opcode::READ, Fault::Stall);
        rig.model().inject(false, opcode::READ, Fault::Stall);
        waited.submit(dev, &read(0, 1, &buf, 0)).unwrap();
        reaped.submit(dev, &read(0, 1, &buf, 4096)).unwrap();
        rig.model().set_fatal();
        let start = std::time::Instant::now();
        let mut out = [Completion::default(); 2];
        assert_eq!(
            waited.wait(dev, &mut out, Delta::from_secs(2)).unwrap(),
            1,
            "no completion within 2 s"
        );
        assert_eq!(out[0].status, Status::ControllerFailed);
        let mut n = 0;
        while n == 0 && start.elapsed().as_secs() < 2 {
            n = reaped.reap(dev, &mut out).unwrap();
        }
        assert_eq!(n, 1, "nothing reaped within 2 s");
        assert_eq!(out[0].status, Status::ControllerFailed);
        assert!(
            start.elapsed().as_millis() < 1000,
            "failed after {:?}",
            start.elapsed()
        );
        assert!(ctrl.failed());
    });
    // Disabled before the commands were handed back.
    let cc = rig.model().cc_writes();
    assert_eq!(cc.last().map(|cc| cc & 1), Some(0), "{cc:x?}");
    assert_eq!(rig.model().csts() & 1, 0);
}

#[test]
fn completions_for_unknown_commands_and_stale_phases_are_ignored() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, quick_timeout(polled())).unwrap();
        let buf = buffer(dev, 4096);
        let ctx = rig.device.function().context();
        let qid = queue.id();
        let sq = u32::from(qid) << 16;
        // A command identifier no command has, one beyond every slot, the right identifier of a
        // free slot, a completion claiming another submission queue.
        for entry in [
            [0, 0, sq, 5],
            [0, 0, sq, 0xffff],
            [0, 0, sq, 0x7fff | 0x0281 << 17],
            [0, 0, u32::from(qid + 1) << 16, 0],
        ] {
            assert!(rig.model().post_raw(&ctx, qid, entry, None));
        }
        let mut out = [Completion::default(); 4];
        assert_eq!(queue.reap(dev, &mut out).unwrap(), 0);
        assert_eq!(queue.stats().spurious, 4);
        // An entry with a stale phase is not a completion at all.
        assert!(rig.model().post_raw(&ctx, qid, [0, 0, sq, 0], Some(false)));
        assert_eq!(queue.reap(dev, &mut out).unwrap(), 0);
        assert_eq!(queue.stats().spurious, 4);
        // A real command after all that: the stale entry is overwritten by its completion.
        queue.execute(dev, &read(0, 1, &buf, 0)).unwrap();
        let stats = queue.stats();
        assert_eq!((stats.completed, stats.spurious), (1, 4));
    });
}

#[test]
fn a_completion_queue_full_of_garbage_harms_nothing() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let buf = buffer(dev, 16 * 4096);
        for config in [polled(), interrupts()] {
            let queue = ctrl
                .create_io_queue(
                    dev,
                    QueueConfig {
                        depth: 16,
                        ..quick_timeout(config)
                    },
                )
                .unwrap();
            let ctx = rig.device.function().context();
            let mut posted = 0;
            for (i, chunk) in pattern(99, 16 * 200).chunks_exact(16).enumerate() {
                let mut entry = [0u32; 4];
                for (dword, bytes) in entry.iter_mut().zip(chunk.chunks_exact(4)) {
                    *dword = u32::from_le_bytes(bytes.try_into().unwrap());
                }
                // Random phases too: stale entries stay where the controller's next write lands.
                let phase = (i % 5 == 0).then_some(entry[1] & 1 != 0);
                if rig.model().post_raw(&ctx, queue.id(), entry, phase) {
                    posted += 1;
                }
                let mut out = [Completion::default(); 16];
                queue.reap(dev, &mut out).unwrap();
                if i % 7 == 0 {
                    run_queue_depth(dev, &queue, &buf, 4, 8);
                }
            }
            assert!(posted > 100);
            run_queue_depth(dev, &queue, &buf, 15, 300);
            assert!(queue.stats().spurious > 0);
            ctrl.delete_io_queue(dev, &queue).unwrap();
        }
    });
    assert!(rig.device.dma_faults().is_empty());
}

#[test]
fn a_fatal_controller_status_fails_the_commands_in_flight_and_later_ones() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl
            .create_io_queue(dev, quick_timeout(interrupts()))
            .unwrap();
        let other = ctrl.create_io_queue(dev, quick_timeout(polled())).unwrap();
        let buf = buffer(dev, 4096);
        rig.model().inject(false, opcode::READ, Fault::Stall);
        let tag = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
        rig.model().set_fatal();
        let completion = queue.wait_for(dev, tag).unwrap();
        assert_eq!(completion.status, Status::ControllerFailed);
        assert_eq!(completion.to_result(), Err(EIO));
        assert!(ctrl.failed());
        assert_eq!(queue.submit(dev, &read(0, 1, &buf, 0)), Err(EIO));
        assert_eq!(other.submit(dev, &read(0, 1, &buf, 0)), Err(EIO));
    });
}

#[test]
fn deleting_a_queue_aborts_its_commands_in_flight() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 4096);
        rig.model().inject(false, opcode::WRITE, Fault::Stall);
        let tag = queue.submit(dev, &write(0, 1, &buf, 0)).unwrap();
        ctrl.delete_io_queue(dev, &queue).unwrap();
        let completion = queue.wait_for(dev, tag).unwrap();
        assert_eq!(completion.status, Status::Aborted);
        assert_eq!(completion.to_result(), Err(ECANCELED));
        assert_eq!(queue.submit(dev, &read(0, 1, &buf, 0)), Err(ENODEV));
    });
}

#[test]
fn shadow_doorbells_carry_the_queue_indexes() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let early = ctrl.create_io_queue(dev, polled()).unwrap();
        assert_eq!(
            ctrl.enable_shadow_doorbells(dev),
            Err(EBUSY),
            "queues exist"
        );
        ctrl.delete_io_queue(dev, &early).unwrap();
        ctrl.enable_shadow_doorbells(dev).unwrap();
        ctrl.enable_shadow_doorbells(dev).unwrap();
        assert!(ctrl.shadow_doorbells());
        assert!(rig.model().shadow_doorbells());
        let buf = buffer(dev, 32 * 4096);
        for config in [polled(), interrupts()] {
            let queue = ctrl
                .create_io_queue(dev, QueueConfig { depth: 8, ..config })
                .unwrap();
            // Several laps of the queues.
            run_queue_depth(dev, &queue, &buf, 7, 100);
            let stats = queue.stats();
            assert_eq!(stats.completed, 100);
            assert!(stats.sq_doorbells <= stats.submitted);
        }
    });
    assert!(rig.model().sq_doorbell_writes() > 0);
}

#[test]
fn unsupported_shadow_doorbells_are_refused() {
    let rig = Rig::new(NvmeConfig {
        // OACS without Doorbell Buffer Config.
        identify_controller_patch: vec![(257, 0)],
        ..NvmeConfig::default()
    });
    rig.with(|dev, ctrl| {
        assert_eq!(
            ctrl.enable_shadow_doorbells(dev),
            Err(kernel::error::code::EOPNOTSUPP)
        );
    });
}

#[test]
fn a_4096_byte_block_namespace_works() {
    let rig = Rig::new(NvmeConfig {
        blocks: 1024,
        lba_shift: 12,
        ..NvmeConfig::default()
    });
    rig.with(|dev, ctrl| {
        assert_eq!(ctrl.namespace().block_size(), 4096);
        let queue = ctrl.create_io_queue(dev, polled()).unwrap();
        let buf = buffer(dev, 512 * 1024);
        let data = pattern(3, 512 * 1024);
        fill(&buf, 0, &data);
        queue.execute(dev, &write(800, 128, &buf, 0)).unwrap();
        assert_eq!(rig.model().read_storage(800 * 4096, 512 * 1024), data);
        assert_eq!(queue.submit(dev, &write(0, 129, &buf, 0)), Err(EINVAL));
        fill(&buf, 0, &vec![0; 512 * 1024]);
        queue.execute(dev, &read(800, 128, &buf, 0)).unwrap();
        assert_eq!(contents(&buf, 0, 512 * 1024), data);
        assert_eq!(queue.execute(dev, &read(1000, 25, &buf, 0)), Err(ERANGE));
    });
}

/// Probing a controller configured as `config` fails, without a panic, resources left behind or
/// the controller left enabled.
fn refused(config: NvmeConfig) {
    let bus = SimBus::new();
    let device = bus.add(4, Nvme::with_config(config));
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    assert_released(&bus, &device);
}

#[test]
fn a_probe_failing_after_the_enable_disables_the_controller_before_freeing_its_admin_queue() {
    // Each allocation of the probe fails in turn, from the first to the last (the interrupt
    // registrations in the driver data's initialiser), until the probe gets through.
    let (mut failure_points, mut failed_after_enable, mut tolerated) = (0, 0, 0);
    loop {
        let bus = SimBus::new();
        let device = bus.add(4, Nvme::new(8192));
        let failure = AllocFailure::after(failure_points, 1);
        let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE);
        let injected = failure.injected();
        drop(failure);
        if injected == 0 {
            assert!(device.is_bound());
            break;
        }
        failure_points += 1;
        if device.is_bound() {
            // A debugfs allocation: its failure is ignored, as the kernel's debugfs calls are,
            // and the controller is served without its `queues` file.
            tolerated += 1;
        } else if assert_released(&bus, &device) {
            failed_after_enable += 1;
        }
    }
    // Every allocation of the probe, each failed once: 23, of which 14 come after the
    // controller was enabled (the nine interrupt registrations and the debugfs directory's name
    // among them), and 1 (the debugfs directory) that the probe survives. A new allocation
    // changes these counts, on purpose: its failure is then tested too.
    assert_eq!(
        (failure_points, failed_after_enable, tolerated),
        (23, 14, 1)
    );
}

#[test]
fn garbage_capabilities_and_identify_data_are_refused_at_probe() {
    // A doorbell stride that puts the admin doorbells beyond the BAR.
    refused(NvmeConfig {
        cap: CAP | 0xf << 32,
        ..NvmeConfig::default()
    });
    // MQES 0: queues of one entry.
    refused(NvmeConfig {
        cap: CAP & !0xffff,
        ..NvmeConfig::default()
    });
    // No NVM command set.
    refused(NvmeConfig {
        cap: CAP & !(1 << 37),
        ..NvmeConfig::default()
    });
    // A block size of 2^63, a format beyond the list, metadata, no blocks.
    for patch in [
        vec![(130, 63)],
        vec![(26, 9)],
        vec![(26, 1)],
        (0..8).map(|i| (i, 0)).collect(),
    ] {
        refused(NvmeConfig {
            identify_namespace_patch: patch,
            ..NvmeConfig::default()
        });
    }
    // Queue entry sizes the driver cannot use.
    refused(NvmeConfig {
        identify_controller_patch: vec![(512, 0x77)],
        ..NvmeConfig::default()
    });
}

#[test]
fn garbage_mdts_is_bounded_by_the_driver() {
    // The driver's limit is 8 MiB; no MDTS, however large, overflows into a smaller one (52 to
    // 63 once shifted every bit out of 4096), and I/O works under each.
    let limit = 8 << 20;
    let cases = [
        (0u8, limit),
        (1, 8192),
        (7, 512 << 10),
        (10, 4 << 20),
        (11, limit),
    ]
    .into_iter()
    .chain([12, 40, 51, 52, 53, 60, 63, 64, 200, 255].map(|mdts| (mdts, limit)));
    for (mdts, expected) in cases {
        let rig = Rig::new(NvmeConfig {
            mdts,
            ..NvmeConfig::default()
        });
        rig.with(|dev, ctrl| {
            assert_eq!(ctrl.max_transfer(), expected, "MDTS {mdts}");
            let queue = ctrl.create_io_queue(dev, polled()).unwrap();
            let buf = buffer(dev, 8192);
            queue.execute(dev, &read(0, 16, &buf, 0)).unwrap();
        });
    }
}

#[test]
fn a_controller_that_never_becomes_ready_is_given_up_after_cap_to() {
    // CAP.TO in 500 ms units, plus one unit as the kernel's driver allows (so TO 0 is 500 ms).
    for (to, expected_ms) in [(0u64, 500), (2, 1500)] {
        let config = NvmeConfig {
            cap: CAP & !(0xff << 24) | to << 24,
            never_ready: true,
            ..NvmeConfig::default()
        };
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let start = std::time::Instant::now();
            refused(config);
            sender.send(start.elapsed()).unwrap();
        });
        let took = receiver
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("probe gave up within 10 s");
        assert!(
            took.as_millis() >= expected_ms && took.as_millis() < expected_ms + 2000,
            "TO {to}: probe gave up after {took:?}"
        );
    }
}

#[test]
fn unloading_disables_the_controller_and_frees_everything_and_a_reload_works() {
    let bus = SimBus::new();
    let model = Nvme::new(8192);
    let device = bus.add(4, model.clone());
    for round in 0..3u8 {
        let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
        let kept = device
            .with_driver::<NvmeDriver, _>(|dev, ctrl| {
                let queue = ctrl.create_io_queue(dev, interrupts()).unwrap();
                let buf = buffer(dev, 4096);
                fill(&buf, 0, &[round; 512]);
                queue
                    .execute(dev, &write(u64::from(round), 1, &buf, 0))
                    .unwrap();
                queue
            })
            .unwrap();
        drop(module);
        assert!(!device.is_bound());
        assert_eq!(model.csts() & 1, 0, "the controller is disabled");
        assert_eq!(
            model.admin_queues_allocated_at_disable(),
            vec![true; usize::from(round) + 1],
            "disabled at unbind before the driver data and its admin queue were freed"
        );
        assert_eq!(model.io_queues(), 0);
        // A queue kept past unbind refuses work instead of touching a revoked BAR.
        drop(kept);
        let pdev = bus.bus().device(device.name()).unwrap();
        assert_eq!(pdev.irq_type(), 0, "the vectors were freed");
        assert_eq!(pdev.dev.devres_count(), 0, "the devres list is empty");
        assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
    }
    assert_eq!(
        model.read_storage(0, 3 * 512)[..],
        [[0u8; 512], [1; 512], [2; 512]].concat()
    );
}

#[test]
fn queued_commands_reach_the_controller_with_one_doorbell_at_commit() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, quick_timeout(polled())).unwrap();
        let buf = buffer(dev, 8 * 4096);
        let before = rig.model().sq_doorbell_writes();
        let tags: Vec<_> = (0..8)
            .map(|i| {
                queue
                    .queue(dev, &read(i * 8, 8, &buf, i as usize * 4096))
                    .unwrap()
            })
            .collect();
        assert_eq!(rig.model().sq_doorbell_writes(), before, "nothing rung yet");
        queue.commit(dev).unwrap();
        queue.commit(dev).unwrap();
        assert_eq!(
            rig.model().sq_doorbell_writes(),
            before + 1,
            "one doorbell for eight"
        );
        for tag in tags {
            queue.wait_for(dev, tag).unwrap().to_result().unwrap();
        }
        assert_eq!(queue.stats().sq_doorbells, 1);
    });
}

#[test]
fn a_command_never_announced_to_the_controller_times_out_cleanly() {
    // What the VM test does on QEMU's real controller: the command sits in the submission queue,
    // but the doorbell never tells the controller about it.
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl
            .create_io_queue(dev, quick_timeout(interrupts()))
            .unwrap();
        let buf = buffer(dev, 4096);
        let before = rig.model().commands();
        let tag = queue.queue(dev, &read(0, 1, &buf, 0)).unwrap();
        let completion = queue.wait_for(dev, tag).unwrap();
        assert_eq!(completion.to_result(), Err(ETIMEDOUT));
        // Its submission queue was deleted and created again: the next doorbell announces only
        // the next command.
        queue.execute(dev, &read(1, 1, &buf, 0)).unwrap();
        let stats = queue.stats();
        assert_eq!(
            (
                stats.timeouts,
                stats.recoveries,
                stats.late,
                stats.completed
            ),
            (1, 1, 0, 1)
        );
        assert_eq!(
            rig.model().commands() - before,
            3,
            "Delete SQ, Create SQ, the read"
        );
    });
}

#[test]
fn a_stale_completion_for_a_reused_slot_is_told_apart_by_its_generation() {
    let rig = Rig::default();
    rig.with(|dev, ctrl| {
        let queue = ctrl
            .create_io_queue(
                dev,
                QueueConfig {
                    depth: 2,
                    ..quick_timeout(polled())
                },
            )
            .unwrap();
        let buf = buffer(dev, 4096);
        let first = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
        queue.wait_for(dev, first).unwrap().to_result().unwrap();
        // The only slot again, with the next generation.
        rig.model().inject(false, opcode::READ, Fault::Stall);
        let second = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
        assert_eq!(second.index(), first.index());
        assert_ne!(second.cid(), first.cid());
        // The controller repeats the first command's completion: it must not end the second.
        let sq = u32::from(queue.id()) << 16;
        let ctx = rig.device.function().context();
        assert!(rig
            .model()
            .post_raw(&ctx, queue.id(), [0, 0, sq, u32::from(first.cid())], None));
        let mut out = [Completion::default(); 2];
        assert_eq!(queue.reap(dev, &mut out).unwrap(), 0);
        assert_eq!(queue.stats().spurious, 1);
        rig.model().release_stalled(&ctx);
        let completion = queue.wait_for(dev, second).unwrap();
        assert_eq!(completion.status, Status::SUCCESS);
    });
}

/// CAP with TO 255: a wait computed from it would last 128 s.
const CAP_TO_255: u64 = CAP | 0xff << 24;

/// Unloads `module` and returns how long it took from `since`, failing the test after 20 s
/// rather than waiting for a timeout of minutes.
fn unload(module: drydock_host::module::ModuleHandle, since: std::time::Instant) -> Duration {
    let (unloaded, on_unload) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(module);
        unloaded.send(since.elapsed()).unwrap();
    });
    on_unload
        .recv_timeout(Duration::from_secs(20))
        .expect("unloaded within 20 s")
}

#[test]
fn a_removed_controller_is_seen_at_once_and_unloading_waits_on_no_device_timeout() {
    for (how, remove) in REMOVALS {
        let bus = SimBus::new();
        let device = bus.add(
            4,
            Nvme::with_config(NvmeConfig {
                cap: CAP_TO_255,
                ..NvmeConfig::default()
            }),
        );
        let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
        let (submitted, on_submit) = std::sync::mpsc::channel();
        std::thread::scope(|scope| {
            let waiter = scope.spawn(|| {
                device
                    .with_driver::<NvmeDriver, _>(|dev, ctrl| {
                        // The default 30 s command timeout: only seeing the removal ends it soon.
                        let queue = ctrl.create_io_queue(dev, interrupts()).unwrap();
                        let polled = ctrl.create_io_queue(dev, polled()).unwrap();
                        let buf = buffer(dev, 8192);
                        device.model().inject(false, opcode::READ, Fault::Stall);
                        let tag = queue.submit(dev, &read(0, 1, &buf, 0)).unwrap();
                        submitted.send(()).unwrap();
                        let completion = queue.wait_for(dev, tag).unwrap();
                        let later = polled.submit(dev, &read(0, 1, &buf, 4096));
                        (completion.status, later, ctrl.failed())
                    })
                    .unwrap()
            });
            on_submit.recv().unwrap();
            // The command is in the controller's hands (and stays there) when it goes away.
            std::thread::sleep(Duration::from_millis(20));
            remove(device.function());
            // Unbinding waits for the waiter, which holds the device.
            let took = unload(module, std::time::Instant::now());
            let (status, later, failed) = waiter.join().unwrap();
            assert_eq!(status, Status::ControllerFailed, "{how}");
            assert_eq!(
                later,
                Err(EIO),
                "{how}: nothing is submitted to a removed controller"
            );
            assert!(failed, "{how}");
            // About 200 ms (two checks of the commands in flight); generous, as the machine
            // may be loaded, but far below any timeout (30 s for the command, 128 s from CAP.TO).
            assert!(
                took < Duration::from_secs(5),
                "{how}: unloaded {took:?} after the removal"
            );
        });
        assert!(!device.is_bound());
        assert!(device.dma_faults().is_empty(), "{how}");
        let pdev = bus.bus().device(device.name()).unwrap();
        assert_eq!(pdev.dev.devres_count(), 0, "{how}: everything released");
        assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
    }
}

#[test]
fn an_idle_removed_controller_unloads_at_once() {
    for (how, remove) in REMOVALS {
        let bus = SimBus::new();
        let device = bus.add(
            4,
            Nvme::with_config(NvmeConfig {
                cap: CAP_TO_255,
                ..NvmeConfig::default()
            }),
        );
        let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
        remove(device.function());
        let took = unload(module, std::time::Instant::now());
        assert!(
            took < Duration::from_secs(5),
            "{how}: unloaded after {took:?}"
        );
        assert!(!device.is_bound());
    }
}

#[test]
fn a_controller_that_is_gone_is_refused_at_probe_at_once() {
    let log = drydock_runner::logger::capture();
    let bus = SimBus::new();
    let device = bus.add(4, Nvme::new(8192));
    device.function().surprise_remove();
    let start = std::time::Instant::now();
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    assert!(!device.is_bound());
    assert!(start.elapsed() < Duration::from_secs(5));
    assert!(
        device.model().cc_writes().is_empty(),
        "nothing reached the controller"
    );
    // Refused for what it is, before its all-ones CAP is looked at.
    let prefix = format!("drydock_nvme {}: ", device.name());
    let lines = log.lines_shown(&prefix);
    assert_eq!(lines, ["the controller is gone (CSTS reads all ones)"]);
}

/// Spurious MSIs raised on each vector by the flood test, each delivered on its own: fewer than
/// the 100,000 interrupts of a window of the unhandled-interrupt detection, so the flood cannot
/// disable a line whatever share of it the handlers find nothing for (a line that does is
/// tested in the host's `irq`).
const FLOOD: u64 = 20_000;

#[test]
fn an_msi_flood_during_io_leaves_io_completing_and_counters_consistent() {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    let log = drydock_runner::logger::capture();
    let rig = Rig::default();
    let ctx = rig.device.function().context();
    let pdev = rig._bus.bus().device(rig.device.name()).unwrap();
    rig.with(|dev, ctrl| {
        let queues: Vec<kernel::sync::Arc<Queue>> = (0..2)
            .map(|_| ctrl.create_io_queue(dev, interrupts()).unwrap())
            .collect();
        // Queue n has vector n; the admin queue vector 0.
        let vectors = ctrl.irq_vectors() as u32;
        let lines: Vec<u32> = (0..vectors).map(|v| pdev.irq_vector(v).unwrap()).collect();
        let delivered = || -> Vec<u64> {
            lines
                .iter()
                .map(|&line| drydock_host::irq::delivered(line))
                .collect()
        };
        let before = delivered();
        let raised_before = rig.model().interrupts_raised();
        let flooding = AtomicBool::new(true);
        // Every queue writes and reads back blocks for as long as the flood lasts.
        let ios = std::thread::scope(|scope| {
            let workers: Vec<_> = queues
                .iter()
                .enumerate()
                .map(|(i, queue)| {
                    let flooding = &flooding;
                    scope.spawn(move || {
                        let buf = buffer(dev, 8192);
                        let mut n = 0;
                        while flooding.load(SeqCst) || n < 100 {
                            let lba = (i * 64 + n % 64) as u64;
                            let data = pattern(lba + n as u64, 512);
                            fill(&buf, 0, &data);
                            queue.execute(dev, &write(lba, 1, &buf, 0)).unwrap();
                            queue.execute(dev, &read(lba, 1, &buf, 4096)).unwrap();
                            assert_eq!(contents(&buf, 4096, 512), data, "LBA {lba}");
                            n += 1;
                        }
                        n as u64
                    })
                })
                .collect();
            // Each round raises every vector and waits until each has been delivered again, so
            // that no two of the flood's messages merge in an eventfd.
            let deadline = std::time::Instant::now() + Duration::from_secs(60);
            let mut rounds = 0;
            'flood: while rounds < FLOOD {
                rounds += 1;
                (0..vectors).for_each(|vector| ctx.raise_msi(vector));
                while delivered()
                    .iter()
                    .zip(&before)
                    .any(|(now, b)| now - b < rounds)
                {
                    if std::time::Instant::now() > deadline {
                        break 'flood;
                    }
                    std::thread::yield_now();
                }
            }
            flooding.store(false, SeqCst);
            let ios = workers
                .into_iter()
                .map(|worker| worker.join().unwrap())
                .collect::<Vec<u64>>();
            (rounds, ios)
        });
        let (rounds, ios) = ios;
        assert_eq!(rounds, FLOOD, "round {rounds} was not delivered in 60 s");
        let after = delivered();
        let delivered: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        // Every command completed once, by the controller, with success; nothing was taken
        // for a completion.
        for (i, queue) in queues.iter().enumerate() {
            let stats = queue.stats();
            assert_eq!((stats.submitted, stats.completed), (2 * ios[i], 2 * ios[i]));
            assert_eq!(
                (
                    stats.errors,
                    stats.timeouts,
                    stats.late,
                    stats.recoveries,
                    stats.spurious
                ),
                (0, 0, 0, 0, 0),
                "{stats:?}"
            );
            // Each interrupt that found completions was one delivery of the queue's vector.
            assert!(stats.interrupts > 0, "{stats:?}");
            assert!(
                stats.interrupts <= delivered[i + 1],
                "{stats:?}, {} delivered",
                delivered[i + 1]
            );
        }
        // No line delivered more than was raised, by the controller or the flood (an eventfd
        // merges those that arrive before the interrupt thread reads it).
        let raised = rig.model().interrupts_raised() - raised_before;
        let total: u64 = delivered.iter().sum();
        assert!(delivered.iter().all(|&d| d >= FLOOD), "{delivered:?}");
        assert!(
            total <= raised + FLOOD * u64::from(vectors),
            "{total} delivered, {raised} raised by the controller"
        );
        // The admin queue, on the flooded vector 0, still works.
        for queue in &queues {
            ctrl.delete_io_queue(dev, queue).unwrap();
        }
        let admin = ctrl.admin_stats();
        assert_eq!((admin.spurious, admin.timeouts, admin.errors), (0, 0, 0));
    });
    assert!(!log.contains("nobody cared"));
    assert!(rig.device.dma_faults().is_empty());
}
