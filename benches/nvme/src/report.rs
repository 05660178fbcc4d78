//! The side-by-side report: a table (text, Markdown and CSV) and SVG charts of IOPS and latency.
//!
//! Each workload is one group: drydock's variants and the kernel's, with every drydock variant's
//! ratios to the kernel variant of its kind ([`partner`]): a polled drydock variant to the
//! kernel's polled io_uring (`IOPOLL`), the interrupt-driven one to the kernel's interrupt-driven
//! io_uring, and drydock's driver as a ublk disk driven through io_uring ([`UBLK`]) to the kernel's
//! nvme driven through the same io_uring. An IOPS ratio above 1, and latency and CPU ratios below
//! 1, favour drydock.

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::chart::{Bar, BarChart, Group};
use crate::stats::{CpuTime, LatencySummary, Measurement};
use crate::workload::{Op, Workload};

/// The label of the kernel's interrupt-driven measurements.
pub const KERNEL: &str = "kernel io_uring";

/// The label of the kernel's polled measurements (`IORING_SETUP_IOPOLL` on poll queues).
pub const KERNEL_IOPOLL: &str = "kernel io_uring IOPOLL";

/// The label of the kernel's polled measurements with a submission thread
/// (`IORING_SETUP_IOPOLL` and `IORING_SETUP_SQPOLL`).
pub const KERNEL_SQPOLL: &str = "kernel io_uring IOPOLL+SQPOLL";

/// The label of the measurements of drydock's NVMe driver serving the controller as a ublk disk
/// (`nvme --ublk`), driven by the same io_uring runner as [`KERNEL`].
pub const UBLK: &str = "drydock over ublk";

/// The kernel variant whose run a variant called `driver` is compared with, if any: none for the
/// kernel's own variants; the interrupt-driven io_uring for [`UBLK`] and for a variant whose name
/// says "interrupts"; for any other (polled) variant, the polled io_uring ([`KERNEL_IOPOLL`]) if
/// the run has it, else the interrupt-driven one.
pub fn partner<'a>(
    driver: &str,
    drivers: impl IntoIterator<Item = &'a str>,
) -> Option<&'static str> {
    if driver.starts_with("kernel ") {
        return None;
    }
    if driver == UBLK || driver.contains("interrupts") {
        return Some(KERNEL);
    }
    let drivers: Vec<&str> = drivers.into_iter().collect();
    [KERNEL_IOPOLL, KERNEL]
        .into_iter()
        .find(|kernel| drivers.contains(kernel))
}

/// A finished benchmark: every measurement, in run order.
pub struct Report {
    /// The measurements.
    pub measurements: Vec<Measurement>,
    /// Free text on how the run was made (machine, guest, options).
    pub setup: String,
}

/// A variant's median run against its [`partner`]'s.
struct Ratios {
    /// The kernel variant compared with.
    partner: &'static str,
    /// IOPS over the partner's.
    iops: f64,
    /// Mean latency over the partner's.
    latency: f64,
    /// The machine's CPU time per I/O over the partner's.
    cpu: f64,
    /// The smallest IOPS ratio of runs made back to back.
    low: f64,
    /// The largest.
    high: f64,
}

/// The runs of one driver on one workload, and the median one (by IOPS).
struct Cell<'a> {
    driver: &'a str,
    runs: Vec<&'a Measurement>,
}

impl<'a> Cell<'a> {
    fn median(&self) -> &'a Measurement {
        let mut runs = self.runs.clone();
        runs.sort_by(|a, b| a.iops().total_cmp(&b.iops()));
        runs[runs.len() / 2]
    }
}

impl Report {
    /// The workloads, in first-run order, each with its drivers in first-run order.
    fn groups(&self) -> Vec<(String, Vec<Cell<'_>>)> {
        let mut groups: Vec<(String, Vec<Cell<'_>>)> = Vec::new();
        for m in &self.measurements {
            let name = m.workload.name();
            let index = match groups.iter().position(|(n, _)| *n == name) {
                Some(index) => index,
                None => {
                    groups.push((name, Vec::new()));
                    groups.len() - 1
                }
            };
            let cells = &mut groups[index].1;
            match cells.iter_mut().find(|c| c.driver == m.driver) {
                Some(cell) => cell.runs.push(m),
                None => cells.push(Cell {
                    driver: &m.driver,
                    runs: vec![m],
                }),
            }
        }
        groups
    }

    /// A cell's median IOPS, mean latency and machine CPU time per I/O relative to those of its
    /// [`partner`] on the same workload, and the smallest and largest IOPS ratio of runs made
    /// back to back (the i-th of each).
    fn ratios(cells: &[Cell<'_>], cell: &Cell<'_>) -> Option<Ratios> {
        let name = partner(cell.driver, cells.iter().map(|c| c.driver))?;
        let kernel = cells.iter().find(|k| k.driver == name)?;
        let (m, k) = (cell.median(), kernel.median());
        let paired = cell
            .runs
            .iter()
            .zip(&kernel.runs)
            .map(|(m, k)| m.iops() / k.iops().max(1e-9));
        let (low, high) = paired.fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(r), hi.max(r)));
        Some(Ratios {
            partner: name,
            iops: m.iops() / k.iops().max(1e-9),
            latency: m.latency.mean_us / k.latency.mean_us.max(1e-9),
            cpu: m.machine_cpu_per_io_us() / k.machine_cpu_per_io_us().max(1e-9),
            low,
            high,
        })
    }

    /// The table as Markdown: the median run (by IOPS) of each driver on each workload, with
    /// the ratios to its [`partner`]'s median run and, over repeated runs, the range of the IOPS
    /// ratios of runs made back to back.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| workload | driver | IOPS | vs | ×IOPS | range | mean µs | ×latency | p50 µs | p99 µs | p99.9 µs | CPU µs/IO (process) | CPU µs/IO (machine) | ×CPU (machine) | irq+softirq µs/IO | runs | errors |\n\
             |---|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (name, cells) in self.groups() {
            for cell in &cells {
                let m = cell.median();
                let (partner, iops_ratio, range, latency_ratio, cpu_ratio) =
                    Self::ratios(&cells, cell).map_or(Default::default(), |r| {
                        let range = if cell.runs.len() > 1 {
                            format!("{:.2}–{:.2}", r.low, r.high)
                        } else {
                            String::new()
                        };
                        (
                            r.partner.to_owned(),
                            format!("{:.2}", r.iops),
                            range,
                            format!("{:.2}", r.latency),
                            format!("{:.2}", r.cpu),
                        )
                    });
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.0} | {partner} | {iops_ratio} | {range} | {:.1} | {latency_ratio} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {cpu_ratio} | {:.1} | {} | {} |",
                    m.driver,
                    m.iops(),
                    m.latency.mean_us,
                    m.latency.p50_us,
                    m.latency.p99_us,
                    m.latency.p999_us,
                    m.process_cpu_per_io_us(),
                    m.machine_cpu_per_io_us(),
                    m.irq_cpu_per_io_us(),
                    cell.runs.len(),
                    cell.runs.iter().map(|r| r.errors).sum::<u64>()
                );
            }
        }
        out
    }

    /// Every run as CSV, in run order.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "workload,driver,op,depth,queues,seconds,ios,iops,mean_us,p50_us,p99_us,p999_us,process_cpu_us_per_io,machine_cpu_us_per_io,irq_cpu_us_per_io,errors\n",
        );
        for m in &self.measurements {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.3},{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{}",
                m.workload.name(),
                m.driver,
                m.workload.op,
                m.workload.depth,
                m.workload.queues,
                m.elapsed.as_secs_f64(),
                m.ios,
                m.iops(),
                m.latency.mean_us,
                m.latency.p50_us,
                m.latency.p99_us,
                m.latency.p999_us,
                m.process_cpu_per_io_us(),
                m.machine_cpu_per_io_us(),
                m.irq_cpu_per_io_us(),
                m.errors
            );
        }
        out
    }

    /// The report whose [`Report::csv`] is `csv`, to chart a committed run again; the parts of
    /// the setup the CSV does not hold (warm-up, region) are left at zero, and `setup` empty.
    pub fn from_csv(csv: &str) -> Result<Self, String> {
        let mut measurements = Vec::new();
        for (n, line) in csv.lines().enumerate().skip(1) {
            let bad = |what: &str| format!("line {}: {what}: {line}", n + 1);
            // The driver's name may hold a comma ("drydock polled, shadow doorbells"): it is what
            // lies between the workload and the 14 fields after it.
            let mut fields: Vec<&str> = line
                .split_once(',')
                .map_or("", |(_, rest)| rest)
                .rsplitn(15, ',')
                .collect();
            fields.reverse();
            let [driver, op, qd, qs, secs, ios, _, mean, p50, p99, p999, cpu, busy, irq, errs] =
                fields[..]
            else {
                return Err(bad("not 16 fields"));
            };
            let number = |text: &str| text.parse::<f64>().map_err(|_| bad("not a number"));
            let whole = |text: &str| text.parse::<u64>().map_err(|_| bad("not a whole number"));
            let op = match op {
                "randread" => Op::Read,
                "randwrite" => Op::Write,
                _ => return Err(bad("unknown operation")),
            };
            let elapsed = Duration::from_secs_f64(number(secs)?);
            let ios = whole(ios)?;
            let per_io = |us: f64| Duration::from_secs_f64(us * ios as f64 / 1e6);
            measurements.push(Measurement {
                driver: driver.to_owned(),
                workload: Workload {
                    op,
                    depth: whole(qd)? as usize,
                    queues: whole(qs)? as usize,
                    duration: elapsed,
                    warmup: Duration::ZERO,
                    region: 0,
                },
                ios,
                errors: whole(errs)?,
                elapsed,
                latency: LatencySummary {
                    mean_us: number(mean)?,
                    p50_us: number(p50)?,
                    p99_us: number(p99)?,
                    p999_us: number(p999)?,
                },
                cpu: CpuTime::new(
                    per_io(number(cpu)?),
                    per_io(number(busy)?),
                    per_io(number(irq)?),
                ),
            });
        }
        Ok(Report {
            measurements,
            setup: String::new(),
        })
    }

    /// A bar chart of the median IOPS per workload and driver, with each drydock bar's ratio to
    /// its [`partner`].
    pub fn svg(&self) -> String {
        self.chart(
            "4 KiB random I/O: median IOPS (above each drydock bar, its ratio to the kernel's run \
             of the same kind)",
            |m| (m.iops(), format!("{:.0} IOPS", m.iops())),
            |cells, cell| Self::ratios(cells, cell).map(|r| format!("{:.2}", r.iops)),
            self.measurements
                .iter()
                .map(Measurement::iops)
                .fold(1.0, f64::max),
        )
    }

    /// A bar chart of the median run's latency percentiles per workload and driver: the bar is
    /// the median latency (p50), the number above it the p99, both in µs.
    pub fn latency_svg(&self) -> String {
        self.chart(
            "4 KiB random I/O: median latency in µs, bars p50 of the median run, p99 above them",
            |m| {
                let l = m.latency;
                let title = format!(
                    "p50 {:.1} µs, p99 {:.1} µs, p99.9 {:.1} µs",
                    l.p50_us, l.p99_us, l.p999_us
                );
                (l.p50_us, title)
            },
            |_, cell| Some(format!("{:.0}", cell.median().latency.p99_us)),
            0.0,
        )
    }

    /// A bar chart of `value` (the bar's height and tooltip) of each driver's median run per
    /// workload, with `note` above each bar; the axis reaches at least `max`.
    fn chart(
        &self,
        title: &str,
        value: impl Fn(&Measurement) -> (f64, String),
        note: impl Fn(&[Cell<'_>], &Cell<'_>) -> Option<String>,
        max: f64,
    ) -> String {
        const COLORS: [&str; 6] = [
            "#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2",
        ];
        const KERNEL_COLORS: [&str; 3] = ["#d62728", "#ff7f0e", "#bcbd22"];
        let mut drivers: Vec<&str> = Vec::new();
        for m in &self.measurements {
            if !drivers.contains(&m.driver.as_str()) {
                drivers.push(&m.driver);
            }
        }
        let color = |driver: &str| match [KERNEL, KERNEL_IOPOLL, KERNEL_SQPOLL]
            .iter()
            .position(|k| *k == driver)
        {
            Some(kernel) => KERNEL_COLORS[kernel],
            None => {
                let ours = drivers.iter().filter(|d| !d.starts_with("kernel "));
                COLORS[ours.take_while(|d| **d != driver).count() % COLORS.len()]
            }
        };
        let groups = self.groups().into_iter().map(|(name, cells)| Group {
            bars: drivers
                .iter()
                .enumerate()
                .filter_map(|(slot, driver)| {
                    let cell = cells.iter().find(|c| c.driver == *driver)?;
                    let (value, title) = value(cell.median());
                    Some(Bar {
                        slot,
                        value,
                        fill: color(driver),
                        title: format!("{driver}: {title}"),
                        note: note(&cells, cell),
                    })
                })
                .collect(),
            label: name,
        });
        BarChart {
            title: title.into(),
            slots: drivers.len(),
            groups: groups.collect(),
            max,
            reference: None,
            legend: drivers.iter().map(|d| (d.to_string(), color(d))).collect(),
        }
        .svg()
    }

    /// Writes `results.md` (setup and table), `results.csv`, `iops.svg` and `latency.svg` into
    /// `dir`.
    ///
    /// The charts are drawn from the CSV as written (its rounded figures), so that `nvme-bench
    /// chart` and `latency-chart` on `results.csv` draw them again byte for byte.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("results.md"),
            format!("# NVMe benchmark\n\n{}\n\n{}", self.setup, self.markdown()),
        )?;
        let csv = self.csv();
        let written = Report::from_csv(&csv).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("results.csv"), csv)?;
        std::fs::write(dir.join("iops.svg"), written.svg())?;
        std::fs::write(dir.join("latency.svg"), written.latency_svg())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::Latencies;

    fn measurement(driver: &str, ios: usize, latency_us: u64) -> Measurement {
        let mut latencies = Latencies::with_capacity(ios);
        for _ in 0..ios {
            latencies.record(Duration::from_micros(latency_us));
        }
        let workload = Workload {
            op: Op::Read,
            depth: 1,
            queues: 1,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            region: 1 << 20,
        };
        // A whole CPU busy for the second, a tenth of it in interrupts.
        let cpu = CpuTime::new(
            Duration::from_millis(500),
            Duration::from_secs(1),
            Duration::from_millis(100),
        );
        Measurement::new(driver, workload, latencies, 0, Duration::from_secs(1), cpu)
    }

    #[test]
    fn each_variant_is_paired_with_the_kernels_of_its_kind() {
        let report = Report {
            measurements: vec![
                measurement("drydock polled", 4000, 100),
                measurement("drydock interrupts", 2000, 300),
                measurement("drydock polled, 4 KiB pages", 3000, 100),
                measurement(KERNEL, 1000, 400),
                measurement(KERNEL_IOPOLL, 2000, 200),
                measurement(KERNEL_SQPOLL, 2500, 150),
            ],
            setup: String::new(),
        };
        let table = report.markdown();
        for row in [
            // IOPS 2×, latency 0.5×, CPU per I/O 0.5× (the same CPU for twice the I/Os); the CPU
            // columns: 500 ms, 1 s and 100 ms over 4000 I/Os.
            "| drydock polled | 4000 | kernel io_uring IOPOLL | 2.00 |  | 100.0 | 0.50 | 100.0 | \
             100.0 | 100.0 | 125.0 | 250.0 | 0.50 | 25.0 | 1 | 0 |",
            "| drydock interrupts | 2000 | kernel io_uring | 2.00 |  | 300.0 | 0.75 |",
            "| drydock polled, 4 KiB pages | 3000 | kernel io_uring IOPOLL | 1.50 |",
            "| kernel io_uring IOPOLL+SQPOLL | 2500 |  |  |  | 150.0 |  |",
        ] {
            assert!(table.contains(row), "{row}\n{table}");
        }
        assert_eq!(partner("drydock polled", [KERNEL]), Some(KERNEL));
        assert_eq!(partner("drydock polled", []), None);
        assert_eq!(partner(KERNEL_IOPOLL, [KERNEL]), None);
        assert_eq!(partner("drydock interrupts", [KERNEL_IOPOLL]), Some(KERNEL));
        assert_eq!(partner(UBLK, [KERNEL_IOPOLL, KERNEL]), Some(KERNEL));
    }

    #[test]
    fn the_written_charts_are_those_the_written_csv_draws() {
        // 65.749 µs prints as 65.7, but the CSV keeps 65.75, which prints as 65.8: a chart drawn
        // from the figures before the CSV rounded them would not be the CSV's drawing.
        let mut latencies = Latencies::with_capacity(10);
        for _ in 0..10 {
            latencies.record(Duration::from_nanos(65_749));
        }
        let mut odd = measurement(KERNEL, 10, 65);
        odd.latency = latencies.summary();
        let report = Report {
            measurements: vec![measurement("drydock polled", 4000, 100), odd],
            setup: String::new(),
        };
        let dir = std::env::temp_dir().join(format!("nvme-bench-report-{}", std::process::id()));
        report.write(&dir).unwrap();
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).unwrap();
        let from_csv = Report::from_csv(&read("results.csv")).unwrap();
        let (iops, latency) = (read("iops.svg"), read("latency.svg"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(latency.contains("p50 65.8 µs"), "{latency}");
        assert_eq!(iops, from_csv.svg());
        assert_eq!(latency, from_csv.latency_svg());
    }

    #[test]
    fn the_latency_chart_shows_p50_bars_with_the_p99_above() {
        let mut measurements = vec![
            measurement("drydock polled", 4000, 100),
            measurement(KERNEL_IOPOLL, 2000, 230),
        ];
        measurements[0].latency.p999_us = 1000.0;
        measurements[1].latency.p99_us = 700.0;
        measurements[1].latency.p999_us = 2300.0;
        let report = Report {
            measurements,
            setup: String::new(),
        };
        let svg = report.latency_svg();
        for text in [
            "<title>drydock polled: p50 100.0 µs, p99 100.0 µs, p99.9 1000.0 µs</title>",
            "<title>kernel io_uring IOPOLL: p50 230.0 µs, p99 700.0 µs, p99.9 2300.0 µs</title>",
            ">700</text>",
            ">kernel io_uring IOPOLL</text>",
        ] {
            assert!(svg.contains(text), "{text}: {svg}");
        }
        // The axis reaches 500 µs over the taller bar (230) in steps of 100.
        assert!(svg.contains("text-anchor=\"end\">500</text>"), "{svg}");
        assert!(!svg.contains("text-anchor=\"end\">1000</text>"), "{svg}");
    }

    #[test]
    fn ratios_compare_each_drydock_variant_with_the_kernel() {
        let report = Report {
            measurements: vec![
                measurement("drydock polled", 3000, 100),
                measurement(KERNEL, 1000, 400),
            ],
            setup: String::new(),
        };
        let table = report.markdown();
        assert!(
            table.contains(
                "| randread qd1 1q | drydock polled | 3000 | kernel io_uring | 3.00 |  | 100.0 \
                 | 0.25 |"
            ),
            "{table}"
        );
        assert!(
            table.contains("| randread qd1 1q | kernel io_uring | 1000 |  |  |  | 400.0 |  |"),
            "{table}"
        );
        assert!(report
            .csv()
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("randread qd1 1q,drydock polled,randread,1,1,1.000,3000,3000.0,"));
        let svg = report.svg();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains(">3.00</text>"));
    }

    #[test]
    fn repeated_runs_report_the_median_and_the_range_of_back_to_back_ratios() {
        let report = Report {
            measurements: vec![
                measurement("drydock polled", 3000, 100),
                measurement(KERNEL, 1000, 400),
                measurement("drydock polled", 2000, 100),
                measurement(KERNEL, 1000, 400),
                measurement("drydock polled", 4400, 100),
                measurement(KERNEL, 1100, 400),
            ],
            setup: String::new(),
        };
        let table = report.markdown();
        assert!(
            table.contains("| drydock polled | 3000 | kernel io_uring | 3.00 | 2.00–4.00 |"),
            "{table}"
        );
        assert!(
            table.contains("| kernel io_uring | 1000 |  |  |  |"),
            "{table}"
        );
        assert_eq!(report.csv().lines().count(), 7);
    }

    #[test]
    fn a_report_read_from_its_csv_writes_the_same_csv() {
        let csv = include_str!("../results/results.csv");
        let report = Report::from_csv(csv).unwrap();
        assert_eq!(report.csv(), csv);
        assert!(Report::from_csv("header\nrandread qd1 1q,x,randread").is_err());
    }
}
