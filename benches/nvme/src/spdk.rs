//! SPDK's `spdk_nvme_perf` as a peer: the same workloads, run by SPDK's polled userspace NVMe
//! driver on the controller drydock's variants use, in the same guest.
//!
//! The program is built by `benches/nvme/spdk/build` (a static executable; `drydock-vm
//! nvme-bench` builds it when `--variants` names `spdk`). It needs the controller bound to
//! vfio-pci (the caller's [`crate::drydock::VfioBinding`]) and huge pages, which [`Spdk::new`]
//! reserves. A run is one `spdk_nvme_perf` process: one core, one queue pair, the workload's queue
//! depth, 4 KiB random I/O over the whole namespace, its own warm-up (`-a`) before the measured
//! seconds (`-t`), and its software latency tracking (`-L`), whose summary gives the percentiles.
//! SPDK's percentiles are the upper bounds of its histogram's buckets (under 1 % apart).
//!
//! CPU time: the program's own (user and system, read when it has exited) and the machine's busy
//! time over its life, each counted for the measured seconds only in proportion to the
//! program's wall time (its start-up and warm-up are in the total). For a driver that polls on
//! one core from start to end this is close to one core's time over the measured seconds.

use std::fmt::Write as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::stats::{CpuSample, CpuTime, LatencySummary, Measurement};
use crate::workload::{Workload, IO_SIZE};

/// The label of SPDK's measurements.
pub const SPDK: &str = "SPDK perf";

/// What the results' setup says of the SPDK runs.
pub const SETUP: &str = " SPDK v24.09's spdk_nvme_perf (static, on Debian 12's DPDK 22.11) on the \
drydock controller through vfio-pci, polled on one core and one queue pair, over the whole \
namespace, with its own warm-up and latency tracking (-L); its CPU time is its own, spread over \
its life.";

/// The label of the drydock variant SPDK is compared with.
const DRYDOCK_POLLED: &str = "drydock polled";

/// The 2 MiB huge pages reserved for SPDK (256 MiB; its memory grows on demand within them).
const HUGE_PAGES: u32 = 128;

/// Where hugetlbfs is mounted for DPDK, which finds it in `/proc/mounts`.
const HUGETLBFS: &str = "/dev/hugepages";

/// `spdk_nvme_perf`, ready to run.
pub struct Spdk {
    program: PathBuf,
}

impl Spdk {
    /// Checks that `program` exists, reserves the huge pages, mounts hugetlbfs and creates the
    /// directories DPDK keeps its run-time files in and SPDK its device locks, where missing.
    pub fn new(program: PathBuf) -> Result<Self, String> {
        if !program.is_file() {
            return Err(format!(
                "{}: no such program (benches/nvme/spdk/build builds it)",
                program.display()
            ));
        }
        let pages = "/proc/sys/vm/nr_hugepages";
        std::fs::write(pages, HUGE_PAGES.to_string())
            .map_err(|e| format!("reserving huge pages in {pages}: {e}"))?;
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        if !mounts.lines().any(|l| l.contains(" hugetlbfs ")) {
            std::fs::create_dir_all(HUGETLBFS).map_err(|e| format!("creating {HUGETLBFS}: {e}"))?;
            let status = Command::new("mount")
                .args(["-t", "hugetlbfs", "nodev", HUGETLBFS])
                .status()
                .map_err(|e| format!("running mount: {e}"))?;
            if !status.success() {
                return Err(format!("mounting hugetlbfs on {HUGETLBFS}: {status}"));
            }
        }
        // DPDK's run-time files and SPDK's device locks.
        for dir in ["/var/run", "/var/tmp"] {
            std::fs::create_dir_all(dir).map_err(|e| format!("creating {dir}: {e}"))?;
        }
        Ok(Self { program })
    }

    /// Runs `workload` on the controller at `address` (one queue only: SPDK runs a queue per
    /// core, and the guest has one).
    pub fn run(&self, address: &str, workload: &Workload) -> Result<Measurement, String> {
        if workload.queues != 1 {
            return Err(format!("{SPDK} runs one queue, not {}", workload.queues));
        }
        let mut command = Command::new(&self.program);
        command
            .args(args(address, workload))
            // SPDK's start-up loads OpenSSL's configuration, and fails without one; the guest has
            // none at OpenSSL's default path (the host's is under the host root's mount point).
            .env("OPENSSL_CONF", "/dev/null")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let children = children_cpu();
        let machine = CpuSample::now();
        let start = Instant::now();
        let mut child = command
            .spawn()
            .map_err(|e| format!("running {}: {e}", self.program.display()))?;
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut stdout = String::new();
        let _ = child
            .stdout
            .take()
            .expect("stdout is piped")
            .read_to_string(&mut stdout);
        let status = child.wait().map_err(|e| format!("waiting for SPDK: {e}"))?;
        let lifetime = start.elapsed();
        let stderr = errors.join().unwrap_or_default();
        if !status.success() {
            return Err(format!(
                "{} {}: {status}\n{stdout}{stderr}",
                self.program.display(),
                args(address, workload).join(" ")
            ));
        }
        let share = workload.duration.as_secs_f64() / lifetime.as_secs_f64().max(1e-9);
        let scale = |d: Duration| d.mul_f64(share.min(1.0));
        let since = CpuTime::since(machine);
        let cpu = CpuTime::new(
            scale(children_cpu().saturating_sub(children)),
            scale(since.machine()),
            scale(since.irq()),
        );
        let errors = stderr.matches("completed with error").count() as u64;
        parse(&stdout, *workload, errors, cpu)
    }
}

/// `spdk_nvme_perf`'s arguments for `workload` on the controller at `address`.
pub fn args(address: &str, workload: &Workload) -> Vec<String> {
    let seconds = |d: Duration| d.as_secs_f64().round().max(1.0).to_string();
    let mut args = vec![
        "-r".to_owned(),
        format!("trtype:PCIe traddr:{address}"),
        "-c".to_owned(),
        "0x1".to_owned(),
        "-q".to_owned(),
        workload.depth.to_string(),
        "-o".to_owned(),
        IO_SIZE.to_string(),
        "-w".to_owned(),
        // `randread` or `randwrite`, as the workload names its direction.
        workload.op.to_string(),
        "-t".to_owned(),
        seconds(workload.duration),
        "-L".to_owned(),
    ];
    if !workload.warmup.is_zero() {
        args.extend(["-a".to_owned(), seconds(workload.warmup)]);
    }
    args
}

/// The measurement in `spdk_nvme_perf`'s standard output: IOPS and mean latency from its
/// `Total` line, the percentiles from its latency summary.
pub fn parse(
    output: &str,
    workload: Workload,
    errors: u64,
    cpu: CpuTime,
) -> Result<Measurement, String> {
    let total = output
        .lines()
        .find_map(|l| l.strip_prefix("Total")?.split_once(':'))
        .ok_or_else(|| format!("no `Total` line in SPDK's output:\n{output}"))?
        .1;
    let numbers: Vec<f64> = total
        .split_whitespace()
        .map(|n| {
            n.parse()
                .map_err(|_| format!("SPDK's `Total` line: {total}"))
        })
        .collect::<Result<_, _>>()?;
    let [iops, _mib, mean_us, ..] = numbers[..] else {
        return Err(format!("SPDK's `Total` line: {total}"));
    };
    let percentile = |cutoff: &str| {
        output
            .lines()
            .find_map(|l| {
                let (pct, us) = l.trim().split_once("% :")?;
                (pct.trim() == cutoff).then(|| us.trim().strip_suffix("us")?.trim().parse().ok())?
            })
            .ok_or_else(|| format!("no {cutoff}% line in SPDK's latency summary:\n{output}"))
    };
    let elapsed = workload.duration;
    Ok(Measurement {
        driver: SPDK.to_owned(),
        workload,
        ios: (iops * elapsed.as_secs_f64()).round() as u64,
        errors,
        elapsed,
        latency: LatencySummary {
            mean_us,
            p50_us: percentile("50.00000")?,
            p99_us: percentile("99.00000")?,
            p999_us: percentile("99.90000")?,
        },
        cpu,
    })
}

/// The comparison with drydock's polled driver as Markdown: for each workload both ran, the
/// median of the IOPS ratios drydock polled / SPDK of runs made back to back (the i-th of each),
/// their range, and the ratio of the median mean latencies (below 1 favours drydock).
pub fn versus(measurements: &[Measurement]) -> String {
    let mut out = String::from(
        "| workload | drydock polled IOPS | SPDK perf IOPS | drydock / SPDK IOPS | range \
         | drydock / SPDK mean latency | runs |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut names: Vec<String> = Vec::new();
    for m in measurements {
        if m.driver == SPDK && !names.contains(&m.workload.name()) {
            names.push(m.workload.name());
        }
    }
    let median = |mut values: Vec<f64>| {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    };
    for name in names {
        let runs = |driver: &str| -> Vec<&Measurement> {
            measurements
                .iter()
                .filter(|m| m.driver == driver && m.workload.name() == name)
                .collect()
        };
        let (ours, theirs) = (runs(DRYDOCK_POLLED), runs(SPDK));
        if ours.is_empty() {
            continue;
        }
        let ratios: Vec<f64> = ours
            .iter()
            .zip(&theirs)
            .map(|(o, t)| o.iops() / t.iops().max(1e-9))
            .collect();
        let low = ratios.iter().copied().fold(f64::MAX, f64::min);
        let high = ratios.iter().copied().fold(f64::MIN, f64::max);
        let iops = |runs: &[&Measurement]| median(runs.iter().map(|m| m.iops()).collect());
        let mean = |runs: &[&Measurement]| median(runs.iter().map(|m| m.latency.mean_us).collect());
        let _ = writeln!(
            out,
            "| {name} | {:.0} | {:.0} | {:.2} | {low:.2}–{high:.2} | {:.2} | {} |",
            iops(&ours),
            iops(&theirs),
            median(ratios.clone()),
            mean(&ours) / mean(&theirs).max(1e-9),
            ratios.len()
        );
    }
    out
}

/// User plus system time of this process's children that have ended.
fn children_cpu() -> Duration {
    // SAFETY: `usage` is a valid `rusage` for the kernel to fill.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::Op;

    /// The end of `spdk_nvme_perf -q 32 -o 4096 -w randread -t 5 -L` on a controller, as v24.09
    /// prints it (the middle of the latency summary left out).
    const OUTPUT: &str = "\
Initializing NVMe Controllers
Attached to NVMe Controller at 0000:00:04.0 [1b36:0010]
Associating PCIE (0000:00:04.0) NSID 1 with lcore 0
Initialization complete. Launching workers.
========================================================
                                                                           Latency(us)
Device Information                     :       IOPS      MiB/s    Average        min        max
PCIE (0000:00:04.0) NSID 1 from core  0:   41234.56     161.07     775.80     102.33    9012.40
========================================================
Total                                  :   41234.56     161.07     775.80     102.33    9012.40

Summary latency data for PCIE (0000:00:04.0) NSID 1                  from core 0:
=================================================================================
  1.00000% :   301.000us
 50.00000% :   760.123us
 99.00000% :  1502.250us
 99.90000% :  2710.500us
 99.99000% :  5000.000us

";

    fn workload(op: Op, depth: usize) -> Workload {
        Workload {
            op,
            depth,
            queues: 1,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            region: 64 << 20,
        }
    }

    #[test]
    fn the_total_line_and_the_summary_give_the_measurement() {
        let m = parse(OUTPUT, workload(Op::Read, 32), 0, CpuTime::default()).unwrap();
        assert_eq!(m.driver, SPDK);
        assert_eq!(m.ios, 206_173);
        assert!((m.iops() - 41_234.6).abs() < 0.1, "{}", m.iops());
        assert_eq!(m.latency.mean_us, 775.80);
        assert_eq!(m.latency.p50_us, 760.123);
        assert_eq!(m.latency.p99_us, 1502.25);
        assert_eq!(m.latency.p999_us, 2710.5);
    }

    #[test]
    fn output_without_the_summary_is_refused() {
        let cut = &OUTPUT[..OUTPUT.find("Summary").unwrap()];
        let err = parse(cut, workload(Op::Read, 1), 0, CpuTime::default()).unwrap_err();
        assert!(err.starts_with("no 50.00000% line"), "{err}");
        let err = parse("Initializing", workload(Op::Read, 1), 0, CpuTime::default()).unwrap_err();
        assert!(err.starts_with("no `Total` line"), "{err}");
    }

    #[test]
    fn versus_pairs_drydock_polled_with_spdk_run_by_run() {
        let run = |driver: &str, ios: u64, mean_us: f64| Measurement {
            driver: driver.to_owned(),
            workload: workload(Op::Read, 1),
            ios,
            errors: 0,
            elapsed: Duration::from_secs(5),
            latency: LatencySummary {
                mean_us,
                ..LatencySummary::default()
            },
            cpu: CpuTime::default(),
        };
        let measurements = [
            run(DRYDOCK_POLLED, 100_000, 40.0),
            run(SPDK, 50_000, 80.0),
            run("kernel io_uring", 10_000, 400.0),
            run(DRYDOCK_POLLED, 120_000, 35.0),
            run(SPDK, 40_000, 90.0),
        ];
        let table = versus(&measurements);
        let row = table.lines().nth(2).unwrap();
        assert_eq!(
            row,
            "| randread qd1 1q | 24000 | 10000 | 3.00 | 2.00–3.00 | 0.44 | 2 |"
        );
        assert_eq!(table.lines().count(), 3, "{table}");
    }

    #[test]
    fn the_arguments_name_the_controller_and_the_workload() {
        let args = args("0000:00:04.0", &workload(Op::Write, 32)).join(" ");
        assert_eq!(
            args,
            "-r trtype:PCIe traddr:0000:00:04.0 -c 0x1 -q 32 -o 4096 -w randwrite -t 5 -L -a 1"
        );
    }
}
