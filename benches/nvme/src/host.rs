//! The host benchmarks' chart: for each criterion benchmark of `drydock-benches`, the ratio of
//! drydock's time to its baseline's, from a CSV with a header line and then one line per
//! benchmark: `benchmark,drydock_ns,baseline_ns,ratio` (`benches/results/host.csv`, the numbers of
//! the table in docs/benchmarks.md). The ratio is criterion's, from unrounded times, so it is read,
//! not computed from the rounded ones.

use crate::chart::{Bar, BarChart, Group};

/// The chart of the host benchmarks in `csv`: a bar per benchmark, its height the ratio (written
/// above it), and a dashed line at 1, where drydock costs what its baseline does.
pub fn svg(csv: &str) -> Result<String, String> {
    let mut groups = Vec::new();
    for (n, line) in csv.lines().enumerate().skip(1) {
        let bad = |what: &str| format!("line {}: {what}: {line}", n + 1);
        let [name, drydock, baseline, ratio] = line.split(',').collect::<Vec<_>>()[..] else {
            return Err(bad("not 4 fields"));
        };
        let number = |text: &str| text.parse::<f64>().map_err(|_| bad("not a number"));
        let ratio = number(ratio)?;
        // The times are shown as written, but must be numbers.
        number(drydock)?;
        number(baseline)?;
        groups.push(Group {
            label: name.to_owned(),
            bars: vec![Bar {
                slot: 0,
                value: ratio,
                fill: "#1f77b4",
                title: format!("{name}: drydock {drydock} ns, baseline {baseline} ns"),
                note: Some(format!("{ratio:.2}")),
            }],
        });
    }
    Ok(BarChart {
        title: "Host primitives: drydock's time / its baseline's".into(),
        slots: 1,
        groups,
        max: 0.0,
        reference: Some((1.0, "1: the baseline's time".into())),
        legend: Vec::new(),
    }
    .svg())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_benchmark_is_a_bar_of_its_ratio_with_the_line_at_1() {
        let csv = "benchmark,drydock_ns,baseline_ns,ratio\nread32,2,1,2.0\nirq,3,4,0.75\n";
        let drawn = svg(csv).unwrap();
        for text in [
            ">read32</text>",
            ">irq</text>",
            "<title>read32: drydock 2 ns, baseline 1 ns</title>",
            ">2.00</text>",
            ">0.75</text>",
            "stroke-dasharray=\"6 3\"><title>1: the baseline",
            "text-anchor=\"end\">2.0</text>",
        ] {
            assert!(drawn.contains(text), "{text}: {drawn}");
        }
        assert!(svg("header\nread32,1,1").is_err());
        assert!(svg("header\nread32,1,1,fast").is_err());
        assert!(svg("header\nread32,1 ns,1,1").is_err());
    }

    #[test]
    fn the_committed_chart_is_the_drawing_of_the_committed_numbers() {
        let drawn = svg(include_str!("../../results/host.csv")).unwrap();
        assert_eq!(
            drawn,
            include_str!("../../results/host.svg"),
            "regenerate: nvme-bench host-chart benches/results/host.csv > benches/results/host.svg"
        );
    }
}
