//! The `self_test` module parameter, in its own test binary because parameters are process-wide.

use drydock_runner::logger::CapturedRecord;
use drydock_sim::{models::Edu, SimBus};
use kernel::error::code::EIO;

/// The messages logged about the device called `name`.
fn messages_about(records: &[CapturedRecord], name: &str) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.message.contains(name))
        .map(|r| r.message.trim_end().to_owned())
        .collect()
}

/// The self-test's lines among `messages`, without their prefix.
fn self_test_lines(messages: &[String]) -> Vec<&str> {
    messages
        .iter()
        .filter_map(|m| m.split_once("self-test: ").map(|(_, line)| line))
        .collect()
}

#[test]
fn self_test_at_probe_checks_factorials_dma_and_interrupts() {
    edu::__DRYDOCK_MODULE.set_param("self_test=y").unwrap();
    let log = drydock_runner::logger::capture();

    let bus = SimBus::new();
    let good = bus.add(4, Edu::new());
    let faulty_model = Edu::new();
    faulty_model.corrupt_transfers_to_memory();
    let faulty = bus.add(5, faulty_model);
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();

    assert!(good.is_bound());
    // The faulty device's corruption is caught and fails its probe.
    assert!(!faulty.is_bound());
    let records = log.records();
    let good_messages = messages_about(&records, good.name());
    assert_eq!(
        self_test_lines(&good_messages),
        [
            "0! to 20! correct",
            "DMA round trip of 4095 bytes identical",
            "23 interrupts for 23 operations",
        ]
    );
    let faulty_messages = messages_about(&records, faulty.name());
    assert!(
        self_test_lines(&faulty_messages).contains(&"the DMA round trip differs at bytes 0..64"),
        "{faulty_messages:#?}"
    );
    assert!(
        faulty_messages
            .iter()
            .any(|m| m.contains(&format!("failed with error {}", EIO.to_errno()))),
        "{faulty_messages:#?}"
    );
    assert_eq!(good.model().interrupts_raised(), 23);
}
