//! Runs Linux 7.3's `samples/rust/rust_print_main.rs`, built unchanged as this crate's library (with
//! the `kernel` crate's `coerce-pointee` feature, for its `Arc<dyn Display>`): loading the module
//! logs at every level, continues lines, prints through `Arc`s and fires its tracepoint.

use drydock_runner::logger;
use drydock_sim::SimBus;

#[test]
fn the_sample_prints_at_every_level_and_traces() {
    let log = logger::capture();
    let bus = SimBus::new();
    let handle = bus
        .load(&rust_print_main::__DRYDOCK_MODULE)
        .expect("the module loads");
    drop(handle);

    let records = log.records();
    let printed: Vec<_> = records
        .iter()
        .filter(|r| r.target.starts_with("rust_print_main"))
        .map(|r| (r.level.as_str(), r.message.as_str()))
        .collect();
    let mut expected = vec![("INFO", "Rust printing macros sample (init)")];
    // Emergency to error are errors, warning a warning, notice and info information.
    let levels = [
        ("Emergency", 0, "ERROR"),
        ("Alert", 1, "ERROR"),
        ("Critical", 2, "ERROR"),
        ("Error", 3, "ERROR"),
        ("Warning", 4, "WARN"),
        ("Notice", 5, "INFO"),
        ("Info", 6, "INFO"),
    ];
    let without: Vec<_> = levels
        .iter()
        .map(|(name, n, _)| format!("{name} message (level {n}) without args"))
        .collect();
    let with: Vec<_> = levels
        .iter()
        .map(|(name, n, _)| format!("{name} message (level {n}) with args"))
        .collect();
    for ((_, _, level), message) in levels.iter().zip(&without) {
        expected.push((level, message));
    }
    // `pr_cont!` is a record of its own.
    expected.extend([
        ("INFO", "A line that"),
        ("INFO", " is continued"),
        ("INFO", " without args"),
    ]);
    for ((_, _, level), message) in levels.iter().zip(&with) {
        expected.push((level, message));
    }
    expected.extend([
        ("INFO", "A line that"),
        ("INFO", " is continued"),
        ("INFO", " with args"),
        ("INFO", "1"),
        ("INFO", "\"hello, world\""),
        ("INFO", "Arc<dyn Display> says 42"),
        ("INFO", "Arc<dyn Display> says hello, world"),
        ("INFO", "\"hello, world\""),
        ("INFO", "Rust printing macros sample (exit)"),
    ]);
    assert_eq!(printed, expected, "{records:?}");

    let events: Vec<_> = records
        .iter()
        .filter(|r| r.target == "tracepoint")
        .map(|r| r.message.as_str())
        .collect();
    assert_eq!(events, ["rust_sample_loaded: magic=42"]);
}
