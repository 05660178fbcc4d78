//! edu's timed round trips in both worlds: the edu driver file, asked by its `irq_round_trips`
//! and `dma_round_trips` parameters, times that many interrupt round trips (a factorial, its
//! MSI, the handler, the waiter woken) and DMA round trips at probe and logs their distributions;
//! once as the proof kernel's module, once as a drydock process, on the same edu in the same boot.
//!
//! [`measure`] makes one such run and reads the distributions from its log; the case checks that
//! the parameters work in both worlds, and `drydock-guest edu-bench` (`crate::edu_bench`) repeats
//! the runs to compare the two.

use std::fmt;

use drydock_guest::layout::{self, Role};

use super::in_kernel::{self, EDU};
use super::{ensure, CaseResult};

/// Where the driver file runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum World {
    /// As the proof kernel's `edu.ko`.
    Kernel,
    /// As the driver's binary, a drydock process on edu through vfio-pci.
    Drydock,
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            World::Kernel => "kernel",
            World::Drydock => "drydock",
        })
    }
}

/// The distribution of one kind of round trip, as the driver logs it, in nanoseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Distribution {
    /// `interrupt` or `DMA`.
    pub(crate) kind: String,
    /// How many round trips were timed.
    pub(crate) timed: u32,
    /// The fastest.
    pub(crate) min: i64,
    /// The median (nearest rank).
    pub(crate) p50: i64,
    /// The 99th percentile (nearest rank).
    pub(crate) p99: i64,
    /// The slowest.
    pub(crate) max: i64,
    /// The mean.
    pub(crate) mean: i64,
}

impl Distribution {
    /// Reads a distribution from the driver's line about it:
    /// `<kind> round trips: <n> timed, min <t> ns, p50 <t> ns, p99 <t> ns, max <t> ns, mean <t> ns`.
    pub(crate) fn parse(line: &str) -> Option<Self> {
        let (kind, rest) = line.split_once(" round trips: ")?;
        let mut parts = rest.split(", ");
        let timed = parts.next()?.strip_suffix(" timed")?.parse().ok()?;
        let mut value = |name: &str| -> Option<i64> {
            parts
                .next()?
                .strip_prefix(name)?
                .strip_prefix(' ')?
                .strip_suffix(" ns")?
                .parse()
                .ok()
        };
        let distribution = Distribution {
            kind: kind.to_owned(),
            timed,
            min: value("min")?,
            p50: value("p50")?,
            p99: value("p99")?,
            max: value("max")?,
            mean: value("mean")?,
        };
        parts.next().is_none().then_some(distribution)
    }

    /// Whether the figures are in order: min ≤ p50 ≤ p99 ≤ max, the mean within, all positive.
    fn is_consistent(&self) -> bool {
        0 < self.min
            && self.min <= self.p50
            && self.p50 <= self.p99
            && self.p99 <= self.max
            && (self.min..=self.max).contains(&self.mean)
    }
}

/// What one run of the driver measured.
pub(crate) struct Measured {
    /// The interrupt round trips' distribution.
    pub(crate) interrupt: Distribution,
    /// The DMA round trips' distribution.
    pub(crate) dma: Distribution,
}

/// Runs the edu driver file in `world` on the guest's edu, asking for `irq_trips` interrupt and
/// `dma_trips` DMA round trips (each at least 1), and returns their distributions; fails unless
/// the run logged both, with the counts asked, in order, and the interrupts the operations took.
pub(crate) fn measure(world: World, irq_trips: u32, dma_trips: u32) -> Result<Measured, String> {
    let address = layout::device(Role::Edu).address();
    let irq = format!("irq_round_trips={irq_trips}");
    let dma = format!("dma_round_trips={dma_trips}");
    let params = [irq.as_str(), dma.as_str()];
    let lines = match world {
        World::Kernel => in_kernel::kernel_run(&EDU, &params, &address)?,
        World::Drydock => in_kernel::drydock_run(&EDU, &params, &address)?,
    };
    let show = || lines.join("\n");
    let distributions: Vec<Distribution> = lines
        .iter()
        .filter_map(|line| Distribution::parse(line))
        .collect();
    let [interrupt, dma] = <[Distribution; 2]>::try_from(distributions).map_err(|found| {
        format!(
            "edu in the {world} logged {} round-trip distributions, not 2:\n{}",
            found.len(),
            show()
        )
    })?;
    for (distribution, kind, asked) in [
        (&interrupt, "interrupt", irq_trips),
        (&dma, "DMA", dma_trips),
    ] {
        ensure!(
            distribution.kind == kind && distribution.timed == asked,
            "edu in the {world} logged {distribution:?} where {asked} {kind} round trips were \
             asked:\n{}",
            show()
        );
        ensure!(
            distribution.is_consistent(),
            "edu in the {world} logged an impossible distribution {distribution:?}"
        );
    }
    let operations = u64::from(irq_trips) + 2 * u64::from(dma_trips);
    let counted = format!("round trips: {operations} interrupts for {operations} operations");
    ensure!(
        lines.contains(&counted),
        "edu in the {world} did not log `{counted}`:\n{}",
        show()
    );
    Ok(Measured { interrupt, dma })
}

/// The case: a few round trips of each kind in the kernel and through drydock, each run logging
/// both distributions with the counts asked and one interrupt per operation.
pub fn edu_round_trips_in_both_worlds() -> CaseResult {
    for world in [World::Kernel, World::Drydock] {
        let measured = measure(world, CASE_IRQ_TRIPS, CASE_DMA_TRIPS)?;
        println!(
            "{world}: {:?}\n{world}: {:?}",
            measured.interrupt, measured.dma
        );
    }
    Ok(())
}

/// The interrupt round trips the case asks for.
const CASE_IRQ_TRIPS: u32 = 50;
/// The DMA round trips the case asks for (each about 200 ms: QEMU's edu starts a transfer 100 ms
/// after it is asked).
const CASE_DMA_TRIPS: u32 = 2;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distributions_are_read_from_the_drivers_lines() {
        let line = "interrupt round trips: 50 timed, min 10 ns, p50 20 ns, p99 30 ns, max 40 ns, \
                    mean 21 ns";
        let distribution = Distribution::parse(line).unwrap();
        assert_eq!(
            distribution,
            Distribution {
                kind: "interrupt".into(),
                timed: 50,
                min: 10,
                p50: 20,
                p99: 30,
                max: 40,
                mean: 21,
            }
        );
        assert!(distribution.is_consistent());
        assert!(Distribution::parse("round trips: 52 interrupts for 52 operations").is_none());
        assert!(Distribution::parse(&format!("{line}, extra 1 ns")).is_none());
        let disordered = line.replace("p99 30", "p99 50");
        assert!(!Distribution::parse(&disordered).unwrap().is_consistent());
    }
}
