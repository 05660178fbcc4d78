//! SVG bar charts on a round value axis: the NVMe report's IOPS chart ([`crate::report`]) and the
//! host benchmarks' ratio chart ([`crate::host`]) are both drawn by [`BarChart::svg`].

use std::fmt::Write as _;

/// One bar of a [`BarChart`].
pub struct Bar {
    /// Its place in its group, from 0: bars of the same series share a place in every group.
    pub slot: usize,
    /// Its height, in the axis' unit.
    pub value: f64,
    /// Its fill colour.
    pub fill: &'static str,
    /// The tooltip: what the bar is, with its value.
    pub title: String,
    /// A short text drawn above the bar, if any (a ratio).
    pub note: Option<String>,
}

/// Bars drawn side by side above one label.
pub struct Group {
    /// The label under the bars.
    pub label: String,
    /// The bars, each in its slot.
    pub bars: Vec<Bar>,
}

/// A vertical bar chart: groups of bars left to right, a value axis with round ticks from 0, an
/// optional reference line and an optional legend.
pub struct BarChart {
    /// The title, above the plot.
    pub title: String,
    /// How many bars a group has room for.
    pub slots: usize,
    /// The groups, left to right.
    pub groups: Vec<Group>,
    /// A value the axis must reach besides the bars and the reference (0 for none).
    pub max: f64,
    /// A value drawn as a dashed line across the plot, with its tooltip.
    pub reference: Option<(f64, String)>,
    /// The legend below the plot: each series' name and colour.
    pub legend: Vec<(String, &'static str)>,
}

impl BarChart {
    /// The chart as an SVG document.
    pub fn svg(&self) -> String {
        let tallest = self.groups.iter().flat_map(|g| &g.bars).map(|b| b.value);
        let reference = self.reference.as_ref().map(|(value, _)| *value);
        let (max, step) = axis(tallest.chain(reference).fold(self.max, f64::max));
        let decimals = (-step.log10().floor()).max(0.0) as usize;
        let (bar, gap, left, top, plot_h) = (22.0, 26.0, 70.0, 40.0, 300.0);
        let group_w = self.slots as f64 * bar + gap;
        // Room for the last label, which slants right from its group's left edge.
        let last_label = self.groups.last().map_or(0, |g| g.label.chars().count());
        let width = (left + self.groups.len() as f64 * group_w + 20.0).max(
            left + (self.groups.len() as f64 - 1.0) * group_w + 20.0 + 5.5 * last_label as f64,
        );
        let height = top + plot_h + 90.0 + 20.0 * self.legend.len() as f64;
        let y_of = |value: f64| top + plot_h - plot_h * value / max;
        let mut svg = format!(
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
             font-family=\"sans-serif\" font-size=\"11\">\n\
             <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
             <text x=\"{left}\" y=\"20\" font-size=\"14\">{}</text>\n",
            self.title
        );
        let ticks = (max / step).round() as u32;
        for tick in 0..=ticks {
            let value = step * f64::from(tick);
            let y = y_of(value);
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{value:.decimals$}</text>",
                width - 10.0,
                left - 5.0,
                y + 4.0
            );
        }
        for (g, group) in self.groups.iter().enumerate() {
            let x0 = left + g as f64 * group_w + gap / 2.0;
            for b in &group.bars {
                let h = plot_h * b.value / max;
                let x = x0 + b.slot as f64 * bar;
                let y = top + plot_h - h;
                let _ = writeln!(
                    svg,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{}\">\
                     <title>{}</title></rect>",
                    bar - 2.0,
                    b.fill,
                    b.title
                );
                if let Some(note) = &b.note {
                    let _ = writeln!(
                        svg,
                        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\" \
                         font-size=\"9\">{note}</text>",
                        x + bar / 2.0 - 1.0,
                        y - 3.0
                    );
                }
            }
            let _ = writeln!(
                svg,
                "<text transform=\"translate({:.1},{:.1}) rotate(30)\">{}</text>",
                x0,
                top + plot_h + 14.0,
                group.label
            );
        }
        if let Some((value, title)) = &self.reference {
            let y = y_of(*value);
            let _ = writeln!(
                svg,
                "<line x1=\"{left}\" x2=\"{:.0}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#000\" \
                 stroke-dasharray=\"6 3\"><title>{title}</title></line>",
                width - 10.0
            );
        }
        for (d, (name, fill)) in self.legend.iter().enumerate() {
            let y = top + plot_h + 80.0 + 20.0 * d as f64;
            let _ = writeln!(
                svg,
                "<rect x=\"{left}\" y=\"{:.0}\" width=\"14\" height=\"14\" fill=\"{fill}\"/>\
                 <text x=\"{:.0}\" y=\"{:.0}\">{name}</text>",
                y - 11.0,
                left + 20.0,
                y
            );
        }
        svg.push_str("</svg>\n");
        svg
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

    #[test]
    fn the_axis_covers_the_largest_value_with_round_ticks() {
        let round = |x: f64| {
            let base = 10f64.powi(x.log10().floor() as i32);
            [1.0, 2.0, 5.0, 10.0]
                .iter()
                .any(|m| (x / base - m).abs() < 1e-9)
        };
        for max in [
            1.0, 1.94, 7.0, 9.5, 10.0, 11.0, 22500.2, 41_000.0, 99_999.0, 100_000.0, 512_345.6,
        ] {
            let (top, step) = axis(max);
            assert!(top >= max && top < 2.5 * max, "{max}: axis to {top}");
            assert!(round(top) && round(step), "{max}: axis to {top} by {step}");
            let ticks = top / step;
            assert!((ticks - ticks.round()).abs() < 1e-9 && (4.0..=5.0).contains(&ticks));
        }
        assert_eq!(axis(22500.2), (50_000.0, 10_000.0));
        assert_eq!(axis(130_000.0), (200_000.0, 50_000.0));
        assert_eq!(axis(1.94), (2.0, 0.5));
    }

    #[test]
    fn a_chart_draws_its_bars_labels_reference_and_round_ticks() {
        let bar = |slot, value| Bar {
            slot,
            value,
            fill: "#123456",
            title: format!("bar {value}"),
            note: Some(format!("{value:.2}")),
        };
        let chart = BarChart {
            title: "ratios".into(),
            slots: 2,
            groups: vec![
                Group {
                    label: "first".into(),
                    bars: vec![bar(0, 0.5), bar(1, 1.7)],
                },
                Group {
                    label: "second".into(),
                    bars: vec![bar(1, 0.9)],
                },
            ],
            max: 0.0,
            reference: Some((1.0, "baseline".into())),
            legend: vec![("series".into(), "#123456")],
        };
        let svg = chart.svg();
        assert!(
            svg.starts_with("<svg") && svg.ends_with("</svg>\n"),
            "{svg}"
        );
        assert_eq!(svg.matches("fill=\"#123456\"><title>").count(), 3, "{svg}");
        for text in [
            ">ratios</text>",
            ">first</text>",
            ">second</text>",
            ">1.70</text>",
        ] {
            assert!(svg.contains(text), "{text}: {svg}");
        }
        // The axis reaches 2 (above the tallest bar, 1.7) by steps of 0.5, from the bottom of the
        // plot (y 340) to its top (y 40); the reference line is at 1, halfway.
        for tick in ["0.0", "0.5", "1.0", "1.5", "2.0"] {
            assert!(
                svg.contains(&format!("text-anchor=\"end\">{tick}</text>")),
                "{svg}"
            );
        }
        assert!(
            svg.contains("y1=\"40.0\" y2=\"40.0\" stroke=\"#ddd\""),
            "{svg}"
        );
        assert!(
            svg.contains(
                "y1=\"190.0\" y2=\"190.0\" stroke=\"#000\" stroke-dasharray=\"6 3\">\
                 <title>baseline</title>"
            ),
            "{svg}"
        );
        // The bar of 1.7 is 255 high and stands on the plot's bottom; the second group's only bar
        // is in its second slot.
        assert!(
            svg.contains("y=\"85.0\" width=\"20.0\" height=\"255.0\""),
            "{svg}"
        );
        assert!(svg.contains("<rect x=\"175.0\" y=\"205.0\""), "{svg}");
        assert!(svg.contains(">series</text>"), "{svg}");
    }
}
