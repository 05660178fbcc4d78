//! The `irq_round_trips` and `dma_round_trips` module parameters, in their own test binary
//! because parameters are process-wide.

use drydock_sim::{models::Edu, SimBus};

/// The numbers of a distribution line, `<kind> round trips: <n> timed, min <t> ns, ...`.
fn figures(line: &str) -> Vec<i64> {
    line.split([' ', ','])
        .filter_map(|word| word.parse().ok())
        .collect()
}

#[test]
fn round_trips_at_probe_log_their_distributions() {
    edu::__DRYDOCK_MODULE
        .set_param("irq_round_trips=7")
        .unwrap();
    edu::__DRYDOCK_MODULE
        .set_param("dma_round_trips=3")
        .unwrap();
    let log = drydock_runner::logger::capture();

    let bus = SimBus::new();
    let edu = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    assert!(edu.is_bound());

    let messages: Vec<String> = log
        .records()
        .iter()
        .filter(|r| r.message.contains(edu.name()))
        .map(|r| r.message.trim_end().to_owned())
        .collect();
    let line = |start: &str| {
        messages
            .iter()
            .find_map(|m| {
                m.split_once(": ")
                    .map(|(_, m)| m)
                    .filter(|m| m.starts_with(start))
            })
            .unwrap_or_else(|| panic!("no `{start}` line in {messages:#?}"))
    };
    for (kind, timed) in [("interrupt round trips: ", 7), ("DMA round trips: ", 3)] {
        let line = line(kind);
        let [n, min, p50, p99, max, mean] = figures(line)[..] else {
            panic!("{line}");
        };
        assert_eq!(n, timed, "{line}");
        assert!(0 < min && min <= p50 && p50 <= p99 && p99 <= max, "{line}");
        assert!((min..=max).contains(&mean), "{line}");
    }
    assert_eq!(
        line("round trips: "),
        "round trips: 13 interrupts for 13 operations"
    );
    // One interrupt per factorial, one per transfer each way.
    assert_eq!(edu.model().interrupts_raised(), 13);
}
