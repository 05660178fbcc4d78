//! nvme-bench's variant `ublk` in brief: the benchmark starts `nvme --ublk` on NVMe controller 0,
//! drives its disk (`/dev/ublkbN`) with io_uring for about a second per workload, random reads
//! and random writes at depth 1 and 32 on one queue, checks that the disk completed the I/Os
//! measured, and stops the driver with SIGTERM, checking that the disk went; the kernel's nvme
//! on controller 1 runs the same workloads. The case checks that every run moved data without
//! an error, that the ublk rows are paired with the kernel's io_uring in the table, and that
//! controller 0 is back with nvme.
//! At depth 32 the server once lost requests (two commands in flight under one NVMe command
//! identifier, `drivers/nvme/process/ublk.rs`): the run then fails, its I/Os never completing.

use std::process::Command;

use nvme_bench::report::{Report, KERNEL, UBLK};
use nvme_bench::workload::Op;

use super::driver_process::beside_me;
use super::nvme::{controller, give_back_to_nvme};
use super::{ensure, CaseResult};
use crate::sysfs;

/// Where nvme-bench writes its results.
const OUT: &str = "/tmp/nvme-bench-ublk";

/// The case: see the module's documentation.
pub fn nvme_bench_ublk_moves_data() -> CaseResult {
    // From nvme, as a user finds it: nvme-bench takes it and gives it back.
    give_back_to_nvme()?;
    let bench = beside_me("nvme-bench")?;
    let args = [
        "--variants",
        "ublk,kernel",
        "--only",
        "1q",
        "--seconds",
        "1",
        "--warmup",
        "0.5",
        "--out",
        OUT,
    ];
    println!("$ nvme-bench {}", args.join(" "));
    let output = Command::new(&bench)
        .args(args)
        .output()
        .map_err(|e| format!("starting {}: {e}", bench.display()))?;
    let stderr = String::from_utf8_lossy(&output.stderr).replace('\r', "\n");
    println!("{stderr}");
    ensure!(
        output.status.success(),
        "nvme-bench ended with {}",
        output.status
    );
    let csv = std::fs::read_to_string(format!("{OUT}/results.csv"))
        .map_err(|e| format!("reading {OUT}/results.csv: {e}"))?;
    let report = Report::from_csv(&csv)?;
    for driver in [UBLK, KERNEL] {
        for op in [Op::Read, Op::Write] {
            let runs: Vec<_> = report
                .measurements
                .iter()
                .filter(|m| m.driver == driver && m.workload.op == op)
                .collect();
            ensure!(
                runs.len() == 2 && runs.iter().all(|run| run.ios > 0 && run.errors == 0),
                "{driver}, {op}: expected two runs (depth 1 and 32) that moved data without \
                 errors, got {runs:?}"
            );
        }
    }
    let table = report.markdown();
    println!("{table}");
    let paired = table
        .lines()
        .filter(|row| row.contains(&format!(" 1q | {UBLK} | ")))
        .filter(|row| row.split(" | ").nth(3) == Some(KERNEL))
        .count();
    ensure!(
        paired == 4,
        "{paired} of the 4 ublk rows are paired with `{KERNEL}` in the table:\n{table}"
    );
    let driver = sysfs::driver(&controller());
    ensure!(
        driver.as_deref() == Some("nvme"),
        "nvme-bench left controller 0 with {driver:?}, not nvme"
    );
    Ok(())
}
