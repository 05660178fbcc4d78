//! Tracepoints declared with `declare_trace!` record their events in the log, at trace level under
//! the `tracepoint` target.

use drydock_runner::logger;

kernel::declare_trace! {
    /// A test event.
    unsafe fn drydock_test_event(queue: u32, full: bool);
}

#[test]
fn an_event_is_a_trace_record_with_its_arguments() {
    let log = logger::capture();
    // SAFETY: the tracepoint is declared above with these argument types.
    unsafe { drydock_test_event(7, true) };
    let events: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.target == "tracepoint")
        .collect();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].level.as_str(), "TRACE");
    assert_eq!(events[0].message, "drydock_test_event: queue=7, full=true");
}
