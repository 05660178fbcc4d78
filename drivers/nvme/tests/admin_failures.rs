//! The NVMe admin commands of probe, of queue management and of recovery failing, on the
//! simulated bus: each completed with an error status, and each stalled past the admin timeout
//! (the module's `admin_timeout` parameter, set to 1 s for this test binary as
//! `nvme_core.admin_timeout` would be set), through the model's hook for failing commands.
//!
//! Every case ends in one of two ways: a released controller (a probe that fails leaves it
//! disabled before its admin queue is freed, and nothing allocated; a bound controller that can
//! no longer be trusted is disabled and failed, refuses I/O, and its unbind releases everything),
//! or working I/O. The counts the tests check are exact: commands the controller completed, CC
//! writes, the queues' counters.

use std::sync::Once;
use std::time::{Duration, Instant};

use drydock_host::module::ModuleHandle;
use drydock_nvme::{Controller, IoCommand, NvmeDriver, QueueConfig, QueueStats, Status};
use drydock_runner::driver_data::WithDriver;
use drydock_sim::models::nvme::{admin, opcode, Fault};
use drydock_sim::models::Nvme;
use drydock_sim::{SimBus, SimDevice};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::error::code::{EIO, ETIMEDOUT};
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;

#[path = "support/released.rs"]
mod released;
use released::assert_released;

/// The admin timeout of this binary.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(1);

/// How much longer than a timeout a test lets a wait take: generous, as the machine may be
/// loaded, and far below the default admin timeout (30 s).
const SLACK: Duration = Duration::from_secs(10);

/// An error a controller may answer any command with: Internal Error (generic status 0x06),
/// which the driver reports as `EIO`.
const INTERNAL_ERROR: u16 = 0x0006;

/// The CC value the driver enables the controller with, and the one its disable writes.
const CC_ENABLED: u32 = 0x0046_0001;
const CC_DISABLED: u32 = CC_ENABLED & !1;

/// Sets the admin timeout once for the process (module parameters are set once, as in the
/// kernel).
fn short_admin_timeout() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        drydock_nvme::__DRYDOCK_MODULE
            .set_param(&format!("admin_timeout={}", ADMIN_TIMEOUT.as_secs()))
            .unwrap();
    });
}

/// A bus with one simulated controller at slot 4, the driver not loaded yet.
fn controller() -> (SimBus, SimDevice<Nvme>) {
    short_admin_timeout();
    let bus = SimBus::new();
    let device = bus.add(4, Nvme::new(8192));
    (bus, device)
}

/// Loads the driver; returns the module and how long loading took.
fn load(bus: &SimBus) -> (ModuleHandle, Duration) {
    let start = Instant::now();
    let module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    (module, start.elapsed())
}

/// Checks that a wait that ran out an admin timeout took about that long.
fn ran_out_the_admin_timeout(took: Duration, what: &str) {
    assert!(
        took >= ADMIN_TIMEOUT && took < ADMIN_TIMEOUT + SLACK,
        "{what}: took {took:?}"
    );
}

/// Runs `f` on the bound driver's data.
fn with<R>(
    device: &SimDevice<Nvme>,
    f: impl for<'b> FnOnce(&'b pci::Device<Bound>, &'b Controller<'b>) -> R,
) -> R {
    device
        .with_driver::<NvmeDriver, _>(|dev, ctrl| f(dev, ctrl.get_ref()))
        .expect("the driver is bound")
}

fn polled(timeout: Delta) -> QueueConfig {
    QueueConfig {
        timeout,
        ..QueueConfig::default()
    }
}

/// Writes a block and reads it back through a new polled queue, then deletes the queue.
fn io_works(dev: &pci::Device<Bound>, ctrl: &Controller<'_>) {
    let queue = ctrl
        .create_io_queue(dev, polled(Delta::from_secs(30)))
        .unwrap();
    let buf = Coherent::<u8>::zeroed_slice(dev.as_ref(), 8192, GFP_KERNEL).unwrap();
    let write = IoCommand::Write {
        lba: 7,
        blocks: 1,
        buffer: &buf,
        offset: 0,
    };
    let read = IoCommand::Read {
        lba: 7,
        blocks: 1,
        buffer: &buf,
        offset: 4096,
    };
    queue.execute(dev, &write).unwrap();
    queue.execute(dev, &read).unwrap();
    ctrl.delete_io_queue(dev, &queue).unwrap();
}

/// Checks that a bound controller was failed: disabled once more after probe's enable, every
/// command refused; then that unbinding releases everything.
fn failed_and_released(bus: &SimBus, device: &SimDevice<Nvme>, module: ModuleHandle) {
    with(device, |dev, ctrl| {
        assert!(ctrl.failed());
        assert_eq!(
            ctrl.create_io_queue(dev, polled(Delta::from_secs(30)))
                .err(),
            Some(EIO),
            "a failed controller takes no queue"
        );
    });
    let model = device.model();
    assert_eq!(model.csts(), 0, "the controller is disabled");
    assert_eq!(model.cc_writes(), [0, CC_ENABLED, CC_DISABLED]);
    assert_eq!(model.io_queues(), 0);
    assert!(
        model.stalled().is_empty(),
        "disabling dropped the stalled command"
    );
    drop(module);
    assert!(!device.is_bound());
    // Unbinding clears CC.EN once more (it is clear already).
    assert_eq!(model.cc_writes(), [0, CC_ENABLED, CC_DISABLED, CC_DISABLED]);
    assert!(device.function().fatal_errors().is_empty());
    assert!(device.dma_faults().is_empty());
    let pdev = bus.bus().device(device.name()).unwrap();
    assert_eq!(pdev.irq_type(), 0);
    assert_eq!(pdev.dev.devres_count(), 0);
    assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
}

/// The admin commands probe sends, in order: the opcode, how many commands with that opcode
/// come first, and the command's name.
const PROBE_COMMANDS: [(u8, u32, &str); 4] = [
    (admin::IDENTIFY, 0, "Identify Controller"),
    (admin::IDENTIFY, 1, "Identify Active Namespace ID list"),
    (admin::IDENTIFY, 2, "Identify Namespace"),
    (admin::SET_FEATURES, 0, "Set Features Number of Queues"),
];

#[test]
fn a_probe_command_failing_with_an_error_status_releases_the_controller() {
    for (i, &(opcode, skip, name)) in PROBE_COMMANDS.iter().enumerate() {
        let (bus, device) = controller();
        device
            .model()
            .inject_after(true, opcode, skip, Fault::Status(INTERNAL_ERROR));
        let (_module, took) = load(&bus);
        assert!(took < SLACK, "{name}: probe took {took:?}");
        assert!(assert_released(&bus, &device), "{name}");
        // The commands before it, and it; none after.
        assert_eq!(device.model().commands(), i as u64 + 1, "{name}");
        assert_eq!(
            device.model().cc_writes(),
            [0, CC_ENABLED, CC_DISABLED],
            "{name}"
        );
    }
}

#[test]
fn a_probe_command_stalled_past_the_admin_timeout_releases_the_controller() {
    for (i, &(opcode, skip, name)) in PROBE_COMMANDS.iter().enumerate() {
        let (bus, device) = controller();
        device
            .model()
            .inject_after(true, opcode, skip, Fault::Stall);
        let (_module, took) = load(&bus);
        ran_out_the_admin_timeout(took, name);
        assert!(assert_released(&bus, &device), "{name}");
        // The commands before it; the stalled one never completes: disabling the controller
        // (once: the failed controller is not disabled again) dropped it.
        assert_eq!(device.model().commands(), i as u64, "{name}");
        assert!(device.model().stalled().is_empty(), "{name}");
        assert_eq!(
            device.model().cc_writes(),
            [0, CC_ENABLED, CC_DISABLED],
            "{name}"
        );
    }
}

/// The commands of a bound controller's probe.
const PROBED: u64 = PROBE_COMMANDS.len() as u64;

/// Admin queue counters: (submitted, completed, errors, timeouts).
fn admin_counts(stats: QueueStats) -> (u64, u64, u64, u64) {
    (
        stats.submitted,
        stats.completed,
        stats.errors,
        stats.timeouts,
    )
}

#[test]
fn a_queue_that_cannot_be_created_leaves_io_working() {
    // Create I/O Completion Queue, or Create I/O Submission Queue (after which the driver
    // deletes the completion queue it created).
    for (opcode, name, commands) in [
        (admin::CREATE_CQ, "Create I/O Completion Queue", 1),
        (admin::CREATE_SQ, "Create I/O Submission Queue", 3),
    ] {
        let (bus, device) = controller();
        let (_module, _) = load(&bus);
        device
            .model()
            .inject(true, opcode, Fault::Status(INTERNAL_ERROR));
        with(&device, |dev, ctrl| {
            let created = ctrl.create_io_queue(dev, polled(Delta::from_secs(30)));
            assert_eq!(created.err(), Some(EIO), "{name}");
            assert_eq!(ctrl.io_queues(), 0, "{name}");
            assert_eq!(
                admin_counts(ctrl.admin_stats()),
                (PROBED + commands, PROBED + commands, 1, 0),
                "{name}"
            );
            assert!(!ctrl.failed(), "{name}");
            io_works(dev, ctrl);
        });
        assert_eq!(device.model().io_queues(), 0, "{name}");
        // Probe's, the failed creation's, then a creation, two I/Os and a deletion.
        assert_eq!(device.model().commands(), PROBED + commands + 6, "{name}");
        assert!(device.dma_faults().is_empty(), "{name}");
    }
}

#[test]
fn shadow_doorbells_refused_with_an_error_status_leave_io_working() {
    let (bus, device) = controller();
    let (_module, _) = load(&bus);
    device.model().inject(
        true,
        admin::DOORBELL_BUFFER_CONFIG,
        Fault::Status(INTERNAL_ERROR),
    );
    with(&device, |dev, ctrl| {
        assert_eq!(ctrl.enable_shadow_doorbells(dev).err(), Some(EIO));
        assert!(!ctrl.shadow_doorbells());
        io_works(dev, ctrl);
        assert_eq!(
            admin_counts(ctrl.admin_stats()),
            (PROBED + 5, PROBED + 5, 1, 0)
        );
    });
    assert!(!device.model().shadow_doorbells());
    assert!(device.dma_faults().is_empty());
}

#[test]
fn a_queue_that_cannot_be_deleted_fails_the_controller() {
    // Delete I/O Submission Queue (then nothing more is sent), or Delete I/O Completion Queue.
    for (opcode, name, commands) in [
        (admin::DELETE_SQ, "Delete I/O Submission Queue", 1),
        (admin::DELETE_CQ, "Delete I/O Completion Queue", 2),
    ] {
        let (bus, device) = controller();
        let (module, _) = load(&bus);
        with(&device, |dev, ctrl| {
            let queue = ctrl
                .create_io_queue(dev, polled(Delta::from_secs(30)))
                .unwrap();
            device
                .model()
                .inject(true, opcode, Fault::Status(INTERNAL_ERROR));
            assert_eq!(ctrl.delete_io_queue(dev, &queue), Err(EIO), "{name}");
            assert_eq!(
                admin_counts(ctrl.admin_stats()),
                (PROBED + 2 + commands, PROBED + 2 + commands, 1, 0),
                "{name}"
            );
        });
        failed_and_released(&bus, &device, module);
    }
}

#[test]
fn a_queue_management_command_stalled_past_the_admin_timeout_fails_the_controller() {
    // Each command stalled, and what the operation sent before it.
    type Operation = fn(&pci::Device<Bound>, &Controller<'_>) -> kernel::error::Result;
    let create: Operation = |dev, ctrl| {
        ctrl.create_io_queue(dev, polled(Delta::from_secs(30)))
            .map(|_| ())
    };
    let delete: Operation = |dev, ctrl| {
        let queue = ctrl.create_io_queue(dev, polled(Delta::from_secs(30)))?;
        ctrl.delete_io_queue(dev, &queue)
    };
    let shadow: Operation = |dev, ctrl| ctrl.enable_shadow_doorbells(dev);
    for (opcode, name, operation, before) in [
        (admin::CREATE_CQ, "Create I/O Completion Queue", create, 0),
        (admin::CREATE_SQ, "Create I/O Submission Queue", create, 1),
        (admin::DELETE_SQ, "Delete I/O Submission Queue", delete, 2),
        (admin::DELETE_CQ, "Delete I/O Completion Queue", delete, 3),
        (
            admin::DOORBELL_BUFFER_CONFIG,
            "Doorbell Buffer Config",
            shadow,
            0,
        ),
    ] {
        let (bus, device) = controller();
        let (module, _) = load(&bus);
        device.model().inject(true, opcode, Fault::Stall);
        with(&device, |dev, ctrl| {
            let start = Instant::now();
            assert_eq!(operation(dev, ctrl), Err(ETIMEDOUT), "{name}");
            ran_out_the_admin_timeout(start.elapsed(), name);
            assert_eq!(
                admin_counts(ctrl.admin_stats()),
                (PROBED + before + 1, PROBED + before, 0, 1),
                "{name}"
            );
        });
        assert_eq!(device.model().commands(), PROBED + before, "{name}");
        failed_and_released(&bus, &device, module);
    }
}

#[test]
fn a_recovery_whose_admin_commands_fail_fails_the_controller() {
    // A read that times out is taken back: Delete I/O Submission Queue, then Create I/O
    // Submission Queue. Each failed with an error status, and stalled.
    for (opcode, name, sent) in [
        (admin::DELETE_SQ, "Delete I/O Submission Queue", 1),
        (admin::CREATE_SQ, "Create I/O Submission Queue", 2),
    ] {
        for fault in [Fault::Status(INTERNAL_ERROR), Fault::Stall] {
            let stalls = matches!(fault, Fault::Stall);
            let (bus, device) = controller();
            let (module, _) = load(&bus);
            with(&device, |dev, ctrl| {
                let queue = ctrl
                    .create_io_queue(dev, polled(Delta::from_millis(100)))
                    .unwrap();
                let buf = Coherent::<u8>::zeroed_slice(dev.as_ref(), 4096, GFP_KERNEL).unwrap();
                let read = IoCommand::Read {
                    lba: 0,
                    blocks: 1,
                    buffer: &buf,
                    offset: 0,
                };
                device.model().inject(false, opcode::READ, Fault::Stall);
                device.model().inject(true, opcode, fault);
                let start = Instant::now();
                let tag = queue.submit(dev, &read).unwrap();
                let completion = queue.wait_for(dev, tag).unwrap();
                let took = start.elapsed();
                if stalls {
                    ran_out_the_admin_timeout(took, name);
                } else {
                    assert!(took < SLACK, "{name}: {took:?}");
                }
                assert_eq!(completion.status, Status::TimedOut, "{name}");
                assert_eq!(queue.submit(dev, &read).err(), Some(EIO), "{name}");
                let stats = queue.stats();
                assert_eq!(
                    (stats.timeouts, stats.recoveries),
                    (1, u64::from(sent == 2))
                );
                // Probe's, the queue's creation, then the recovery's commands.
                let completed = PROBED + 2 + sent - u64::from(stalls);
                assert_eq!(
                    admin_counts(ctrl.admin_stats()),
                    (
                        PROBED + 2 + sent,
                        completed,
                        u64::from(!stalls),
                        u64::from(stalls)
                    ),
                    "{name}, {}",
                    if stalls { "stalled" } else { "error" }
                );
            });
            failed_and_released(&bus, &device, module);
        }
    }
}
