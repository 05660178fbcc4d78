//! The side-by-side report: a table (text, Markdown and CSV) and an SVG chart.
//!
//! Each workload is one group: drydock's variants and the kernel's, with every drydock variant's
//! ratio to the kernel (IOPS ratio above 1 and latency ratio below 1 favour drydock).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use crate::chart::{Bar, BarChart, Group};
use crate::stats::{CpuTime, LatencySummary, Measurement};
use crate::workload::{Op, Workload};

/// The label of the kernel's measurements, which the ratios divide by.
pub const KERNEL: &str = "kernel io_uring";

/// A finished benchmark: every measurement, in run order.
pub struct Report {
    /// The measurements.
    pub measurements: Vec<Measurement>,
    /// Free text on how the run was made (machine, guest, options).
    pub setup: String,
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

    /// A cell's median IOPS and mean latency relative to the kernel's on the same workload, and
    /// the smallest and largest IOPS ratio of runs made back to back (the i-th of each).
    fn ratios(cells: &[Cell<'_>], cell: &Cell<'_>) -> Option<(f64, f64, f64, f64)> {
        let kernel = cells.iter().find(|k| k.driver == KERNEL)?;
        if cell.driver == KERNEL {
            return None;
        }
        let (m, k) = (cell.median(), kernel.median());
        let paired = cell
            .runs
            .iter()
            .zip(&kernel.runs)
            .map(|(m, k)| m.iops() / k.iops().max(1e-9));
        let (low, high) = paired.fold((f64::MAX, f64::MIN), |(lo, hi), r| (lo.min(r), hi.max(r)));
        Some((
            m.iops() / k.iops().max(1e-9),
            m.latency.mean_us / k.latency.mean_us.max(1e-9),
            low,
            high,
        ))
    }

    /// The table as Markdown: the median run (by IOPS) of each driver on each workload, with
    /// the ratios to the kernel's median run and, over repeated runs, the range of the ratios of
    /// runs made back to back.
    pub fn markdown(&self) -> String {
        let mut out = String::from(
            "| workload | driver | IOPS | ×kernel IOPS | range | mean µs | ×kernel latency | p50 µs | p99 µs | p99.9 µs | CPU µs/IO (process) | CPU µs/IO (machine) | runs | errors |\n\
             |---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        );
        for (name, cells) in self.groups() {
            for cell in &cells {
                let m = cell.median();
                let (iops_ratio, range, latency_ratio) = Self::ratios(&cells, cell).map_or(
                    (String::new(), String::new(), String::new()),
                    |(i, l, low, high)| {
                        let range = if cell.runs.len() > 1 {
                            format!("{low:.2}–{high:.2}")
                        } else {
                            String::new()
                        };
                        (format!("{i:.2}"), range, format!("{l:.2}"))
                    },
                );
                let _ = writeln!(
                    out,
                    "| {name} | {} | {:.0} | {iops_ratio} | {range} | {:.1} | {latency_ratio} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {} | {} |",
                    m.driver,
                    m.iops(),
                    m.latency.mean_us,
                    m.latency.p50_us,
                    m.latency.p99_us,
                    m.latency.p999_us,
                    m.process_cpu_per_io_us(),
                    m.machine_cpu_per_io_us(),
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
            "workload,driver,op,depth,queues,seconds,ios,iops,mean_us,p50_us,p99_us,p999_us,process_cpu_us_per_io,machine_cpu_us_per_io,errors\n",
        );
        for m in &self.measurements {
            let _ = writeln!(
                out,
                "{},{},{},{},{},{:.3},{},{:.1},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{}",
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
            // lies between the workload and the 13 fields after it.
            let mut fields: Vec<&str> = line
                .split_once(',')
                .map_or("", |(_, rest)| rest)
                .rsplitn(14, ',')
                .collect();
            fields.reverse();
            let [driver, op, depth, queues, secs, ios, _, mean, p50, p99, p999, cpu, busy, errors] =
                fields[..]
            else {
                return Err(bad("not 15 fields"));
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
                    depth: whole(depth)? as usize,
                    queues: whole(queues)? as usize,
                    duration: elapsed,
                    warmup: Duration::ZERO,
                    region: 0,
                },
                ios,
                errors: whole(errors)?,
                elapsed,
                latency: LatencySummary {
                    mean_us: number(mean)?,
                    p50_us: number(p50)?,
                    p99_us: number(p99)?,
                    p999_us: number(p999)?,
                },
                cpu: CpuTime::new(per_io(number(cpu)?), per_io(number(busy)?)),
            });
        }
        Ok(Report {
            measurements,
            setup: String::new(),
        })
    }

    /// A bar chart of IOPS per workload and driver, with each drydock bar's ratio to the kernel.
    pub fn svg(&self) -> String {
        const COLORS: [&str; 6] = [
            "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2",
        ];
        let mut drivers: Vec<&str> = Vec::new();
        for m in &self.measurements {
            if !drivers.contains(&m.driver.as_str()) {
                drivers.push(&m.driver);
            }
        }
        let color = |driver: &str| {
            if driver == KERNEL {
                "#d62728"
            } else {
                COLORS[drivers.iter().position(|d| *d == driver).unwrap_or(0) % COLORS.len()]
            }
        };
        let groups = self.groups().into_iter().map(|(name, cells)| Group {
            bars: drivers
                .iter()
                .enumerate()
                .filter_map(|(slot, driver)| {
                    let cell = cells.iter().find(|c| c.driver == *driver)?;
                    let iops = cell.median().iops();
                    Some(Bar {
                        slot,
                        value: iops,
                        fill: color(driver),
                        title: format!("{driver}: {iops:.0} IOPS"),
                        note: Self::ratios(&cells, cell).map(|(ratio, ..)| format!("{ratio:.2}")),
                    })
                })
                .collect(),
            label: name,
        });
        BarChart {
            title: "4 KiB random I/O: median IOPS (ratio to the kernel's nvme driver above each \
                    drydock bar)"
                .into(),
            slots: drivers.len(),
            groups: groups.collect(),
            max: self
                .measurements
                .iter()
                .map(Measurement::iops)
                .fold(1.0, f64::max),
            reference: None,
            legend: drivers.iter().map(|d| (d.to_string(), color(d))).collect(),
        }
        .svg()
    }

    /// Writes `results.md` (setup and table), `results.csv` and `iops.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            dir.join("results.md"),
            format!("# NVMe benchmark\n\n{}\n\n{}", self.setup, self.markdown()),
        )?;
        std::fs::write(dir.join("results.csv"), self.csv())?;
        std::fs::write(dir.join("iops.svg"), self.svg())
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
        Measurement::new(
            driver,
            workload,
            latencies,
            0,
            Duration::from_secs(1),
            CpuTime::default(),
        )
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
            table.contains("| randread qd1 1q | drydock polled | 3000 | 3.00 |  | 100.0 | 0.25 |"),
            "{table}"
        );
        assert!(
            table.contains("| randread qd1 1q | kernel io_uring | 1000 |  |  | 400.0 |  |"),
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
            table.contains("| drydock polled | 3000 | 3.00 | 2.00–4.00 |"),
            "{table}"
        );
        assert!(
            table.contains("| kernel io_uring | 1000 |  |  |"),
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
