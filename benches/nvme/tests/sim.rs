//! The benchmark and integrity workloads on the simulated controller: the code paths the VM runs,
//! on any machine, with the model's storage as the referee.

use std::time::Duration;

use drydock_nvme::NvmeDriver;
use drydock_runner::driver_data::WithDriver;
use drydock_sim::models::nvme::{opcode, Fault};
use drydock_sim::models::Nvme;
use drydock_sim::SimBus;
use nvme_bench::integrity::POISON;
use nvme_bench::report::Report;
use nvme_bench::workload::{Op, Workload};
use nvme_bench::{drydock, integrity};

#[test]
fn the_integrity_check_passes_on_a_faithful_controller_and_catches_a_lying_one() {
    let bus = SimBus::new();
    let model = Nvme::new(4096);
    let device = bus.add(4, model.clone());
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<NvmeDriver, _>(|dev, ctrl| {
            let report = integrity::run(dev, &ctrl, 3000, 7, &|_| {}).unwrap();
            assert_eq!(report.mismatches, 0, "{:?}", report.first_mismatch);
            assert_eq!(report.errors, 0);
            // Two sweeps of 4096 blocks in 1024-block transfers, and the random I/Os.
            assert_eq!(report.ios, 3000 + 2 * 4);
            // Every block transferred was either written or read back and checked: the final
            // sweep's 4096 and those of the random reads.
            assert_eq!(
                report.blocks_checked + report.blocks_written,
                report.bytes / 512
            );
            assert!(report.blocks_checked > 4096 && report.blocks_written > 4096);

            // A controller that reports success for a write it did not do is caught.
            for _ in 0..50 {
                model.inject(false, opcode::WRITE, Fault::Status(0));
            }
            let report = integrity::run(dev, &ctrl, 2000, 8, &|_| {}).unwrap();
            assert!(report.mismatches > 0);
            assert!(report
                .first_mismatch
                .unwrap()
                .contains("expected generation"));
        })
        .unwrap();
}

#[test]
fn the_integrity_check_catches_reads_that_transfer_nothing() {
    let bus = SimBus::new();
    let model = Nvme::new(4096);
    let device = bus.add(4, model.clone());
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<NvmeDriver, _>(|dev, ctrl| {
            // No random I/Os: the read sweep reads each range into the slot its write used, so
            // without the poison a read that transfers nothing would find the right blocks.
            for _ in 0..4 {
                model.inject(false, opcode::READ, Fault::Status(0));
            }
            let report = integrity::run(dev, &ctrl, 0, 9, &|_| {}).unwrap();
            assert_eq!(report.errors, 0, "the reads claim success");
            assert_eq!(report.mismatches, 4096, "every block read is caught");
            let first = report.first_mismatch.unwrap();
            assert!(
                first.contains(&format!("{:#018x}", u64::from_ne_bytes([POISON; 8]))),
                "{first}"
            );
        })
        .unwrap();
}

#[test]
fn benchmark_runs_measure_every_mode_on_the_simulated_controller() {
    let bus = SimBus::new();
    let device = bus.add(4, Nvme::new(16384));
    let _module = bus.load(&drydock_nvme::__DRYDOCK_MODULE).unwrap();
    let mut measurements = Vec::new();
    device
        .with_driver::<NvmeDriver, _>(|dev, ctrl| {
            for (op, depth, queues, interrupts) in [
                (Op::Read, 1, 1, false),
                (Op::Write, 32, 2, false),
                (Op::Read, 32, 1, true),
            ] {
                let workload = Workload {
                    op,
                    depth,
                    queues,
                    duration: Duration::from_millis(200),
                    warmup: Duration::from_millis(50),
                    region: 8 << 20,
                };
                let m =
                    drydock::run(dev, &ctrl, &workload, interrupts, "drydock", &|_| {}).unwrap();
                assert!(m.ios > 10, "{m:?}");
                assert_eq!(m.errors, 0);
                assert!(
                    m.latency.p50_us > 0.0 && m.latency.p50_us <= m.latency.p99_us,
                    "{m:?}"
                );
                measurements.push(m);
            }
            assert_eq!(ctrl.io_queues(), 0, "the runs delete their queues");
        })
        .unwrap();
    let report = Report {
        measurements,
        setup: "simulated".into(),
    };
    let dir = std::env::temp_dir().join(format!("nvme-bench-test-{}", std::process::id()));
    report.write(&dir).unwrap();
    for file in ["results.md", "results.csv", "iops.svg", "latency.svg"] {
        assert!(dir.join(file).exists(), "{file}");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
