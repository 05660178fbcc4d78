//! The side-by-side report: a table (text, Markdown and CSV) and an SVG chart.
//!
//! Each workload is one group: drydock's variants and the kernel's, with every drydock variant's
//! ratio to the kernel (IOPS ratio above 1 and latency ratio below 1 favour drydock).

use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

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
        let groups = self.groups();
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
        let (max, step) = axis(
            self.measurements
                .iter()
                .map(Measurement::iops)
                .fold(1.0, f64::max),
        );
        let (bar, gap, left, top, plot_h) = (22.0, 26.0, 70.0, 40.0, 300.0);
        let group_w = drivers.len() as f64 * bar + gap;
        let width = left + groups.len() as f64 * group_w + 20.0;
        let height = top + plot_h + 90.0 + 20.0 * drivers.len() as f64;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"20\" font-size=\"14\">4 KiB random I/O: median IOPS (ratio to the kernel's nvme driver above each drydock bar)</text>\n"
        );
        let ticks = (max / step).round() as u32;
        for tick in 0..=ticks {
            let value = step * f64::from(tick);
            let y = top + plot_h - plot_h * value / max;
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{value:.0}</text>",
                width - 10.0,
                left - 5.0,
                y + 4.0
            );
        }
        for (g, (name, cells)) in groups.iter().enumerate() {
            let x0 = left + g as f64 * group_w + gap / 2.0;
            for (d, driver) in drivers.iter().enumerate() {
                let Some(cell) = cells.iter().find(|c| c.driver == *driver) else {
                    continue;
                };
                let m = cell.median();
                let h = plot_h * m.iops() / max;
                let x = x0 + d as f64 * bar;
                let y = top + plot_h - h;
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\"><title>{driver}: {:.0} IOPS</title></rect>",
                    bar - 2.0,
                    color(driver),
                    m.iops()
                );
                if let Some((ratio, ..)) = Self::ratios(cells, cell) {
                    let _ = writeln!(
                        svg,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" font-size=\"9\">{ratio:.2}</text>",
                        x + bar / 2.0 - 1.0,
                        y - 3.0
                    );
                }
            }
            let _ = writeln!(
                svg,
                "<text transform=\"translate({:.1},{:.1}) rotate(30)\">{name}</text>",
                x0,
                top + plot_h + 14.0
            );
        }
        for (d, driver) in drivers.iter().enumerate() {
            let y = top + plot_h + 80.0 + 20.0 * d as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{left}\" y=\"{:.0}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{:.0}\" y=\"{:.0}\">{driver}</text>",
                y - 11.0,
                color(driver),
                left + 20.0,
                y
            );
        }
        svg.push_str("</svg>\n");
        svg
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

/// The value axis of a chart whose largest value is `max` (above 0): its top, the smallest 1, 2 or
/// 5 x 10^n at or above `max`, and the step between its ticks, itself 1, 2 or 5 x 10^k (four or
/// five steps), so that every tick is a round number.
fn axis(max: f64) -> (f64, f64) {
    let base = 10f64.powi(max.log10().floor() as i32);
    let (mantissa, steps) = [(1.0, 5.0), (2.0, 4.0), (5.0, 5.0), (10.0, 5.0)]
        .into_iter()
        .find(|&(m, _)| m * base >= max)
        .unwrap_or((10.0, 5.0));
    (mantissa * base, mantissa * base / steps)
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
    fn the_axis_covers_the_largest_value_with_round_ticks() {
        let round = |x: f64| {
            let base = 10f64.powi(x.log10().floor() as i32);
            [1.0, 2.0, 5.0, 10.0]
                .iter()
                .any(|m| (x / base - m).abs() < 1e-9)
        };
        for max in [
            1.0, 7.0, 9.5, 10.0, 11.0, 22500.2, 41_000.0, 99_999.0, 100_000.0, 512_345.6,
        ] {
            let (top, step) = axis(max);
            assert!(top >= max && top < 2.5 * max, "{max}: axis to {top}");
            assert!(round(top) && round(step), "{max}: axis to {top} by {step}");
            let ticks = top / step;
            assert!((ticks - ticks.round()).abs() < 1e-9 && (4.0..=5.0).contains(&ticks));
        }
        assert_eq!(axis(22500.2), (50_000.0, 10_000.0));
        assert_eq!(axis(130_000.0), (200_000.0, 50_000.0));
    }

    #[test]
    fn a_report_read_from_its_csv_writes_the_same_csv() {
        let csv = include_str!("../results/results.csv");
        let report = Report::from_csv(csv).unwrap();
        assert_eq!(report.csv(), csv);
        assert!(Report::from_csv("header\nrandread qd1 1q,x,randread").is_err());
    }
}
