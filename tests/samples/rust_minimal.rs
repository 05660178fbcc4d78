//! Runs Linux 7.3's `samples/rust/rust_minimal.rs`, built unchanged as this crate's library: its
//! parameters are set as `insmod` sets them, loading the module logs them and builds its vector,
//! unloading it logs the vector.

use drydock_runner::logger;
use drydock_sim::SimBus;

#[test]
fn the_sample_logs_its_parameters_and_numbers() {
    let log = logger::capture();
    let module = &rust_minimal::__DRYDOCK_MODULE;
    module
        .set_param("rust_minimal.test_parameter=42")
        .expect("the sample has test_parameter");
    let err = module.set_param("test_parameter=7").unwrap_err();
    assert!(err.contains("already set"), "{err}");
    let err = module.set_param("no_such_parameter=1").unwrap_err();
    assert!(
        err.contains("test_parameter, test_bool_parameter"),
        "the error lists the sample's parameters: {err}"
    );

    let bus = SimBus::new();
    let handle = bus.load(module).expect("the module loads");
    drop(handle);

    let messages: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.target == "rust_minimal")
        .map(|r| r.message)
        .collect();
    assert_eq!(
        messages,
        [
            "Rust minimal sample (init)",
            // A drydock driver is a loadable module: its crate is built with `--cfg MODULE`.
            "Am I built-in? false",
            "test_parameter: 42",
            "test_bool_parameter: false",
            "My numbers are [72, 108, 200]",
            "Rust minimal sample (exit)",
        ]
    );
}
