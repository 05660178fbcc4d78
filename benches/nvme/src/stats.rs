//! What a run measured.
//!
//! Latency is the time from submitting an I/O to seeing its completion, per I/O. CPU time per
//! I/O is given twice: the process's own (`getrusage`: user and system time of all its threads,
//! including drydock's interrupt threads and the time the kernel spends in its system calls) and
//! the whole machine's (busy time from `/proc/stat`, which also counts the kernel's interrupt
//! handling and other processes). Under a polling driver both include the time spent polling.

use std::time::Duration;

use crate::workload::Workload;

/// Latencies of completed I/Os, in nanoseconds.
#[derive(Clone, Debug, Default)]
pub struct Latencies(Vec<u64>);

impl Latencies {
    /// An empty record with room for `capacity` samples.
    pub fn with_capacity(capacity: usize) -> Self {
        Self(Vec::with_capacity(capacity))
    }

    /// Records one I/O's latency.
    pub fn record(&mut self, latency: Duration) {
        self.0.push(latency.as_nanos() as u64);
    }

    /// Adds `other`'s samples.
    pub fn merge(&mut self, other: Latencies) {
        self.0.extend(other.0);
    }

    /// The number of samples.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Mean, 50th, 99th and 99.9th percentiles, in microseconds (zeros without samples).
    pub fn summary(&mut self) -> LatencySummary {
        if self.0.is_empty() {
            return LatencySummary::default();
        }
        self.0.sort_unstable();
        let n = self.0.len();
        let at = |q: f64| {
            let index = ((q * n as f64).ceil() as usize).clamp(1, n) - 1;
            self.0[index] as f64 / 1000.0
        };
        LatencySummary {
            mean_us: self.0.iter().sum::<u64>() as f64 / n as f64 / 1000.0,
            p50_us: at(0.50),
            p99_us: at(0.99),
            p999_us: at(0.999),
        }
    }
}

/// Latency statistics, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LatencySummary {
    /// Mean.
    pub mean_us: f64,
    /// Median.
    pub p50_us: f64,
    /// 99th percentile.
    pub p99_us: f64,
    /// 99.9th percentile.
    pub p999_us: f64,
}

/// CPU time used so far: by this process, and by the whole machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    process: Duration,
    machine: Duration,
}

impl CpuTime {
    /// Reads both clocks now.
    pub fn now() -> Self {
        Self {
            process: process_cpu(),
            machine: machine_busy(),
        }
    }

    /// The CPU time `process` used by this process and `machine` by the whole machine.
    pub fn new(process: Duration, machine: Duration) -> Self {
        Self { process, machine }
    }

    /// The whole machine's busy time.
    pub fn machine(&self) -> Duration {
        self.machine
    }

    /// CPU time used since `start`.
    pub fn since(start: CpuTime) -> CpuTime {
        let now = Self::now();
        CpuTime {
            process: now.process.saturating_sub(start.process),
            machine: now.machine.saturating_sub(start.machine),
        }
    }
}

/// User plus system time of every thread of this process.
fn process_cpu() -> Duration {
    // SAFETY: `usage` is a valid `rusage` for the kernel to fill.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// Time all CPUs of the machine were not idle, from `/proc/stat` (0 where it cannot be read).
fn machine_busy() -> Duration {
    let Ok(stat) = std::fs::read_to_string("/proc/stat") else {
        return Duration::ZERO;
    };
    let Some(line) = stat.lines().find(|l| l.starts_with("cpu ")) else {
        return Duration::ZERO;
    };
    let ticks: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|t| t.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
    let busy: u64 = ticks
        .iter()
        .enumerate()
        .filter(|&(i, _)| i != 3 && i != 4)
        .map(|(_, t)| t)
        .sum();
    // SAFETY: `sysconf` has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(busy * 1_000_000_000 / hz)
}

/// The result of one run.
#[derive(Clone, Debug)]
pub struct Measurement {
    /// Which driver and mode ran it ("drydock polled", "kernel io_uring"...).
    pub driver: String,
    /// What ran.
    pub workload: Workload,
    /// I/Os completed in the measured time.
    pub ios: u64,
    /// I/Os that failed (a run with failures is not a valid measurement).
    pub errors: u64,
    /// The measured time.
    pub elapsed: Duration,
    /// Latency statistics.
    pub latency: LatencySummary,
    /// CPU time used during the measured time.
    pub cpu: CpuTime,
}

impl Measurement {
    /// Builds the measurement of a run from what its threads recorded.
    pub fn new(
        driver: &str,
        workload: Workload,
        mut latencies: Latencies,
        errors: u64,
        elapsed: Duration,
        cpu: CpuTime,
    ) -> Self {
        Self {
            driver: driver.to_owned(),
            workload,
            ios: latencies.len() as u64,
            errors,
            elapsed,
            latency: latencies.summary(),
            cpu,
        }
    }

    /// I/Os per second.
    pub fn iops(&self) -> f64 {
        self.ios as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    /// This process's CPU time per I/O, in microseconds.
    pub fn process_cpu_per_io_us(&self) -> f64 {
        self.cpu.process.as_secs_f64() * 1e6 / self.ios.max(1) as f64
    }

    /// The machine's busy CPU time per I/O, in microseconds.
    pub fn machine_cpu_per_io_us(&self) -> f64 {
        self.cpu.machine.as_secs_f64() * 1e6 / self.ios.max(1) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut l = Latencies::with_capacity(1000);
        for us in 1..=1000u64 {
            l.record(Duration::from_micros(us));
        }
        let s = l.summary();
        assert_eq!(s.p50_us, 500.0);
        assert_eq!(s.p99_us, 990.0);
        assert_eq!(s.p999_us, 999.0);
        assert!((s.mean_us - 500.5).abs() < 1e-9);
        assert_eq!(Latencies::default().summary(), LatencySummary::default());
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let start = CpuTime::now();
        let mut x = 0u64;
        while CpuTime::since(start).process < Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
    }
}
