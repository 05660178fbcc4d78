//! What a run measured.
//!
//! Latency is the time from submitting an I/O to seeing its completion, per I/O. CPU time per
//! I/O is given three times ([`CpuTime`]): the process's own (the scheduler's clock of all its
//! threads, and of a [`Server`]'s when another process serves the I/O), the whole machine's
//! (all CPUs' non-idle time, which also counts the kernel's interrupt handling and other
//! processes), and the machine's interrupt and softirq time. Under a polling driver the first
//! two include the time spent polling.

use std::time::{Duration, Instant};

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

/// CPU time used over a run: by this process, by the whole machine, and for interrupts.
///
/// - `process`: `CLOCK_PROCESS_CPUTIME_ID`, the scheduler's nanosecond runtime of every thread of
///   the process (what `/proc/PID/schedstat` sums): the I/O threads, drydock's interrupt threads,
///   io_uring's SQ thread (a thread of the process), and the kernel's work in their system calls
///   and in interrupts that arrived while they ran; plus the same clock of the [`Server`] the run
///   counts, if any (`nvme --ublk`, which serves the I/O of a ublk disk).
/// - `machine`: wall time times the online CPUs, less the time they were idle, where the kernel
///   times idle periods exactly (`/proc/stat`'s idle and iowait under `NO_HZ`, read to its 10 ms
///   unit): everything the machine did, interrupt and softirq work included wherever it ran.
/// - `irq`: `/proc/stat`'s hardirq and softirq time of all CPUs: exact on a kernel built with
///   `CONFIG_IRQ_TIME_ACCOUNTING`, sampled at the tick without it ([`irq_time_accounting`]).
#[derive(Clone, Copy, Debug, Default)]
pub struct CpuTime {
    process: Duration,
    machine: Duration,
    irq: Duration,
}

/// Another process that does part of a run's work, whose CPU time the run counts as its own: the
/// CPU clock of the process (`clock_getcpuclockid`), the scheduler's nanosecond runtime of all
/// its threads, living and ended, as [`CpuTime`]'s `process` is for this one.
#[derive(Clone, Copy, Debug)]
pub struct Server {
    clock: libc::clockid_t,
}

impl Server {
    /// The CPU clock of the process `pid`, checked to be readable (the process exists).
    pub fn new(pid: u32) -> Result<Self, String> {
        let mut clock: libc::clockid_t = 0;
        // SAFETY: `clock` is a valid `clockid_t` for the C library to fill.
        let error = unsafe { libc::clock_getcpuclockid(pid as libc::pid_t, &mut clock) };
        if error != 0 || read_clock(clock).is_none() {
            return Err(format!("process {pid} has no readable CPU clock"));
        }
        Ok(Self { clock })
    }
}

/// A reading of the clocks [`CpuTime`] is the difference of.
#[derive(Clone, Copy, Debug)]
pub struct CpuSample {
    at: Instant,
    process: Duration,
    server: Option<Server>,
    stat: ProcStat,
}

impl CpuSample {
    /// Reads the clocks now.
    pub fn now() -> Self {
        Self::counting(None)
    }

    /// Reads the clocks now, counting `server`'s CPU time as this process's.
    pub fn counting(server: Option<Server>) -> Self {
        Self {
            at: Instant::now(),
            process: process_cpu(server),
            server,
            stat: std::fs::read_to_string("/proc/stat")
                .ok()
                .and_then(|text| ProcStat::parse(&text, clock_tick()))
                .unwrap_or_default(),
        }
    }
}

impl CpuTime {
    /// The CPU time `process` used by this process, `machine` by the whole machine, and `irq` by
    /// its interrupt and softirq handlers.
    pub fn new(process: Duration, machine: Duration, irq: Duration) -> Self {
        Self {
            process,
            machine,
            irq,
        }
    }

    /// The whole machine's busy time.
    pub fn machine(&self) -> Duration {
        self.machine
    }

    /// The interrupt and softirq handlers' time.
    pub fn irq(&self) -> Duration {
        self.irq
    }

    /// CPU time used since `start`, counting the same [`Server`] as `start`.
    pub fn since(start: CpuSample) -> CpuTime {
        let now = CpuSample::counting(start.server);
        let wall = now.at - start.at;
        let idle = now.stat.idle.saturating_sub(start.stat.idle);
        CpuTime {
            process: now.process.saturating_sub(start.process),
            machine: (wall * now.stat.cpus).saturating_sub(idle),
            irq: now.stat.irq.saturating_sub(start.stat.irq),
        }
    }
}

/// The counters of `/proc/stat` that [`CpuTime`] uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ProcStat {
    /// CPUs listed (`cpuN` lines).
    pub cpus: u32,
    /// Idle and iowait time of all CPUs.
    pub idle: Duration,
    /// Hardirq and softirq time of all CPUs.
    pub irq: Duration,
}

impl ProcStat {
    /// Reads `text` (`/proc/stat`), whose times are in units of `tick` (`USER_HZ`); `None` if it
    /// has no `cpu` line of at least seven numbers.
    pub fn parse(text: &str, tick: Duration) -> Option<Self> {
        let line = text.lines().find(|l| l.starts_with("cpu "))?;
        let ticks: Vec<u64> = line
            .split_whitespace()
            .skip(1)
            .map(|t| t.parse().ok())
            .collect::<Option<_>>()?;
        // user nice system idle iowait irq softirq steal ...
        let [_, _, _, idle, iowait, irq, softirq, ..] = ticks[..] else {
            return None;
        };
        let cpus = text
            .lines()
            .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
            .count() as u32;
        let time = |ticks: u64| Duration::from_nanos(tick.as_nanos() as u64 * ticks);
        Some(Self {
            cpus,
            idle: time(idle + iowait),
            irq: time(irq + softirq),
        })
    }
}

/// The unit of `/proc/stat`'s times (`USER_HZ`, 10 ms on Linux).
fn clock_tick() -> Duration {
    // SAFETY: `sysconf` has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_nanos(1_000_000_000 / hz)
}

/// Whether the running kernel times interrupts exactly (`CONFIG_IRQ_TIME_ACCOUNTING`): whether
/// `/proc/kallsyms` lists the function that does it; `None` where it cannot be read.
pub fn irq_time_accounting() -> Option<bool> {
    std::fs::read_to_string("/proc/kallsyms")
        .ok()
        .map(|symbols| times_interrupts(&symbols))
}

/// The clock source the kernel reads its clocks from (`tsc`, `hpet`, ...), or `None` if sysfs
/// does not say. With the TSC, `clock_gettime` runs in the vDSO; with the HPET, each call is a
/// system call and an MMIO read, which every timestamp of a run would pay.
pub fn clocksource() -> Option<String> {
    std::fs::read_to_string("/sys/devices/system/clocksource/clocksource0/current_clocksource")
        .ok()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
}

/// Whether the kernel whose symbols (`/proc/kallsyms`) are `symbols` was built with
/// `CONFIG_IRQ_TIME_ACCOUNTING`: it has `irqtime_account_irq` only then.
pub fn times_interrupts(symbols: &str) -> bool {
    symbols
        .lines()
        .any(|line| line.split_whitespace().nth(2) == Some("irqtime_account_irq"))
}

/// The scheduler's CPU time of every thread of this process and of `server`, to the nanosecond.
fn process_cpu(server: Option<Server>) -> Duration {
    // A server that exited has no clock left to read: it counts nothing more.
    let read = |id| read_clock(id).unwrap_or(Duration::ZERO);
    read(libc::CLOCK_PROCESS_CPUTIME_ID)
        + server.map_or(Duration::ZERO, |server| read(server.clock))
}

/// The time of the clock `id`, or `None` if it cannot be read (the clock of a process that
/// exited).
fn read_clock(id: libc::clockid_t) -> Option<Duration> {
    // SAFETY: `ts` is a valid `timespec` for the kernel to fill.
    let ts = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        if libc::clock_gettime(id, &mut ts) != 0 {
            return None;
        }
        ts
    };
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
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

    /// The machine's interrupt and softirq time per I/O, in microseconds.
    pub fn irq_cpu_per_io_us(&self) -> f64 {
        self.cpu.irq.as_secs_f64() * 1e6 / self.ios.max(1) as f64
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
    fn proc_stat_gives_idle_and_interrupt_time_of_all_cpus() {
        let text = "cpu  10 1 20 300 4 5 6 0 0 0\n\
                    cpu0 5 1 10 150 2 3 3 0 0 0\n\
                    cpu1 5 0 10 150 2 2 3 0 0 0\n\
                    intr 1234 0\n";
        let stat = ProcStat::parse(text, Duration::from_millis(10)).unwrap();
        assert_eq!(
            stat,
            ProcStat {
                cpus: 2,
                idle: Duration::from_millis(3040),
                irq: Duration::from_millis(110),
            }
        );
        // A large machine's idle time passes 2^32 ticks.
        let large = ProcStat::parse("cpu  0 0 0 5000000000 0 0 0\n", Duration::from_millis(10));
        assert_eq!(large.unwrap().idle, Duration::from_secs(50_000_000));
        assert_eq!(ProcStat::parse("cpu  1 2 3 4 5 6\n", Duration::ZERO), None);
        assert_eq!(
            ProcStat::parse("cpu0 1 2 3 4 5 6 7\n", Duration::ZERO),
            None
        );
        assert_eq!(
            ProcStat::parse("cpu  1 2 x 4 5 6 7\n", Duration::ZERO),
            None
        );
    }

    #[test]
    fn interrupt_time_accounting_is_told_by_its_function() {
        let with = "ffffffff81100000 T irqtime_account_irq\nffffffff81100100 t other\n";
        let without = "ffffffff81100000 T irqtime_account_process_tick\n\
                       0000000000000000 t irqtime_account_irq_x\n";
        assert!(times_interrupts(with));
        assert!(!times_interrupts(without));
    }

    #[test]
    fn a_servers_cpu_time_counts_as_the_runs() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "while :; do :; done"])
            .spawn()
            .unwrap();
        let server = Server::new(child.id()).unwrap();
        let own = || read_clock(libc::CLOCK_PROCESS_CPUTIME_ID).unwrap();
        let own_start = own();
        let start = CpuSample::counting(Some(server));
        // The shell spins while this thread mostly sleeps: what the run counts beyond this
        // process's own time is the shell's. However loaded the machine, the shell gets 50 ms
        // of CPU within the minute.
        let deadline = Instant::now() + Duration::from_secs(60);
        let servers = loop {
            std::thread::sleep(Duration::from_millis(20));
            let counted = CpuTime::since(start).process;
            let servers = counted.saturating_sub(own() - own_start);
            if servers > Duration::from_millis(50) || Instant::now() > deadline {
                break servers;
            }
        };
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(servers > Duration::from_millis(50), "{servers:?}");
        // Reaped, the process is gone.
        assert!(Server::new(child.id()).is_err());
    }

    #[test]
    fn cpu_time_advances_with_work() {
        let start = CpuSample::now();
        let mut x = 0u64;
        while CpuTime::since(start).process < Duration::from_millis(20) {
            x = x.wrapping_add(std::hint::black_box(1));
        }
        assert!(x > 0);
    }
}
