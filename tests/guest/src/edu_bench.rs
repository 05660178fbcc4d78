//! `drydock-guest edu-bench`: the same driver file timed in both worlds.
//!
//! ```text
//! drydock-guest edu-bench --out DIR [--repeat R] [--irq-trips N] [--dma-trips M]
//! ```
//!
//! Runs the edu driver file on the guest's edu `R` times as the proof kernel's module and `R`
//! times as a drydock process, alternating (the kernel first in even repeats, drydock first in odd
//! ones), each run timing `N` interrupt round trips and `M` DMA round trips at probe
//! ([`crate::cases::edu_round_trips`]); then writes every run's distribution to `DIR/results.csv`
//! and the medians over the repeats, with the ratio drydock / kernel, to `DIR/results.md`. It needs
//! the proof kernel (`drydock-vm edu-bench` boots it).

use std::fmt::Write as _;
use std::path::Path;

use crate::cases::edu_round_trips::{measure, Distribution, World};

/// The usage.
pub const USAGE: &str =
    "drydock-guest edu-bench --out DIR [--repeat R] [--irq-trips N] [--dma-trips M]";

/// The interrupt round trips of the issue's target: drydock's at most this many times the kernel's.
const IRQ_TARGET: f64 = 2.0;

/// What the command line asks.
struct Options {
    out: String,
    repeat: usize,
    irq_trips: u32,
    dma_trips: u32,
}

impl Options {
    fn parse(args: &[&str]) -> Result<Self, String> {
        let mut rest = args.iter();
        let mut out = None;
        let (mut repeat, mut irq_trips, mut dma_trips) = (5, 1000, 10);
        while let Some(flag) = rest.next() {
            let value = rest.next().ok_or(format!("{flag} needs a value"))?;
            let number = || {
                value.parse::<u32>().ok().filter(|n| *n > 0).ok_or(format!(
                    "{flag} takes a whole number of at least 1, not {value}"
                ))
            };
            match *flag {
                "--out" => out = Some(value.to_string()),
                "--repeat" => repeat = number()? as usize,
                "--irq-trips" => irq_trips = number()?,
                "--dma-trips" => dma_trips = number()?,
                _ => return Err(format!("unknown option {flag}; usage: {USAGE}")),
            }
        }
        Ok(Options {
            out: out.ok_or(format!("--out is missing; usage: {USAGE}"))?,
            repeat,
            irq_trips,
            dma_trips,
        })
    }
}

/// One run's distribution.
struct Row {
    repeat: usize,
    world: World,
    distribution: Distribution,
}

/// Runs the benchmark as `args` (after `edu-bench`) ask.
pub fn run(args: &[&str]) -> Result<(), String> {
    let options = Options::parse(args)?;
    let mut rows = Vec::new();
    for repeat in 0..options.repeat {
        let order = if repeat % 2 == 0 {
            [World::Kernel, World::Drydock]
        } else {
            [World::Drydock, World::Kernel]
        };
        for world in order {
            let measured = measure(world, options.irq_trips, options.dma_trips)?;
            for distribution in [measured.interrupt, measured.dma] {
                println!(
                    "repeat {}/{}, {world}: {}",
                    repeat + 1,
                    options.repeat,
                    shown(&distribution)
                );
                rows.push(Row {
                    repeat,
                    world,
                    distribution,
                });
            }
        }
    }
    let markdown = report(&options, &rows);
    print!("{markdown}");
    let out = Path::new(&options.out);
    std::fs::create_dir_all(out).map_err(|e| format!("cannot create {}: {e}", out.display()))?;
    for (name, text) in [("results.md", markdown), ("results.csv", csv(&rows))] {
        let path = out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    Ok(())
}

/// A distribution in one line, in microseconds.
fn shown(d: &Distribution) -> String {
    format!(
        "{} x{}: min {} p50 {} p99 {} max {} mean {} (µs)",
        d.kind,
        d.timed,
        micros(d.min),
        micros(d.p50),
        micros(d.p99),
        micros(d.max),
        micros(d.mean)
    )
}

/// Nanoseconds as microseconds with one decimal.
fn micros(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// Every run's distribution, one line each, times in nanoseconds.
fn csv(rows: &[Row]) -> String {
    let mut text = String::from("repeat,world,kind,timed,min_ns,p50_ns,p99_ns,max_ns,mean_ns\n");
    for Row {
        repeat,
        world,
        distribution: d,
    } in rows
    {
        let _ = writeln!(
            text,
            "{repeat},{world},{},{},{},{},{},{},{}",
            d.kind, d.timed, d.min, d.p50, d.p99, d.max, d.mean
        );
    }
    text
}

/// The statistics a table shows, in its columns' order: min, p50, p99, max, mean.
const STATS: [fn(&Distribution) -> i64; 5] =
    [|d| d.min, |d| d.p50, |d| d.p99, |d| d.max, |d| d.mean];

/// The median of `values` (the lower middle one for an even count); `None` for none.
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    values.get(values.len().checked_sub(1)? / 2).copied()
}

/// The report: the setup, and per kind of round trip each world's medians over the repeats and
/// the ratio drydock / kernel of each, with the range of the p50 ratio over the repeats.
fn report(options: &Options, rows: &[Row]) -> String {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut text = format!(
        "# edu round trips: the driver file in the kernel and as a drydock process\n\n\
         Guest kernel {}, edu at {}, {} repeats. Each runs the module\n\
         (`insmod edu.ko irq_round_trips={irq} dma_round_trips={dma}`) and the driver's binary\n\
         (`edu irq_round_trips={irq} dma_round_trips={dma} BDF`, through vfio-pci) once, \
         alternating\nwhich goes first. Medians over the repeats of each run's statistic, in \
         µs; the ratio is\ndrydock / kernel, and for p50 its range over the repeats.\n",
        release.trim(),
        drydock_guest::layout::device(drydock_guest::layout::Role::Edu).address(),
        options.repeat,
        irq = options.irq_trips,
        dma = options.dma_trips,
    );
    for kind in ["interrupt", "DMA"] {
        let of = |world: World| -> Vec<&Distribution> {
            rows.iter()
                .filter(|r| r.world == world && r.distribution.kind == kind)
                .map(|r| &r.distribution)
                .collect()
        };
        let (kernel, drydock) = (of(World::Kernel), of(World::Drydock));
        let _ = write!(
            text,
            "\n## {kind} round trip\n\n| | min | p50 | p99 | max | mean |\n|---|--:|--:|--:|--:|--:|\n"
        );
        let medians = |runs: &[&Distribution]| -> Vec<Option<f64>> {
            STATS
                .iter()
                .map(|stat| median(runs.iter().map(|d| stat(d) as f64).collect()))
                .collect()
        };
        let (k, d) = (medians(&kernel), medians(&drydock));
        for (name, values) in [("kernel module", &k), ("drydock process", &d)] {
            let cells: Vec<String> = values
                .iter()
                .map(|v| v.map_or("-".into(), |ns| format!("{:.1}", ns / 1000.0)))
                .collect();
            let _ = writeln!(text, "| {name} | {} |", cells.join(" | "));
        }
        let ratios: Vec<Option<f64>> = k
            .iter()
            .zip(&d)
            .map(|(k, d)| Some(d.as_ref()? / k.as_ref()?))
            .collect();
        let cells: Vec<String> = ratios
            .iter()
            .map(|r| r.map_or("-".into(), |r| format!("{r:.2}×")))
            .collect();
        let _ = writeln!(text, "| drydock / kernel | {} |", cells.join(" | "));
        let pairs: Vec<f64> = kernel
            .iter()
            .zip(&drydock)
            .map(|(k, d)| d.p50 as f64 / k.p50 as f64)
            .collect();
        let low = pairs.iter().copied().fold(f64::INFINITY, f64::min);
        let high = pairs.iter().copied().fold(0.0, f64::max);
        let _ = writeln!(
            text,
            "\np50 ratio over the repeats: {low:.2}× to {high:.2}×."
        );
        if kind == "interrupt" {
            if let Some(ratio) = ratios[1] {
                let verdict = if ratio <= IRQ_TARGET { "met" } else { "missed" };
                let _ = writeln!(
                    text,
                    "Target (p50, drydock / kernel ≤ {IRQ_TARGET}×): {verdict} ({ratio:.2}×)."
                );
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(repeat: usize, world: World, kind: &str, p50: i64) -> Row {
        Row {
            repeat,
            world,
            distribution: Distribution {
                kind: kind.into(),
                timed: 10,
                min: p50 / 2,
                p50,
                p99: p50 * 2,
                max: p50 * 3,
                mean: p50,
            },
        }
    }

    #[test]
    fn the_report_gives_medians_and_ratios() {
        let options =
            Options::parse(&["--out", "o", "--repeat", "3", "--irq-trips", "10"]).unwrap();
        assert_eq!(
            (options.repeat, options.irq_trips, options.dma_trips),
            (3, 10, 10)
        );
        let rows = [
            row(0, World::Kernel, "interrupt", 10_000),
            row(0, World::Drydock, "interrupt", 15_000),
            row(1, World::Kernel, "interrupt", 20_000),
            row(1, World::Drydock, "interrupt", 50_000),
            row(2, World::Kernel, "interrupt", 12_000),
            row(2, World::Drydock, "interrupt", 30_000),
        ];
        let text = report(&options, &rows);
        // Medians: kernel 12 µs, drydock 30 µs.
        assert!(
            text.contains("| kernel module | 6.0 | 12.0 | 24.0 | 36.0 | 12.0 |"),
            "{text}"
        );
        assert!(
            text.contains("| drydock / kernel | 2.50× | 2.50× |"),
            "{text}"
        );
        assert!(
            text.contains("p50 ratio over the repeats: 1.50× to 2.50×."),
            "{text}"
        );
        assert!(
            text.contains("Target (p50, drydock / kernel ≤ 2×): missed (2.50×)."),
            "{text}"
        );
        assert!(
            csv(&rows).lines().nth(2).unwrap()
                == "0,drydock,interrupt,10,7500,15000,30000,45000,15000"
        );
        assert!(Options::parse(&["--out", "o", "--repeat", "0"]).is_err());
        assert!(Options::parse(&["--repeat", "1"]).is_err());
    }
}
