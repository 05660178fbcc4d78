//! Runs each example on its simulated device and checks what it printed.
//!
//! `cargo test` builds the examples (into `<target>/<profile>/examples/`) before running this.

use std::path::PathBuf;
use std::process::Command;

/// Runs the built example `name` without arguments; returns its standard output.
fn run_example(name: &str) -> String {
    let exe = std::env::current_exe().expect("the test knows its own path");
    // <target>/<profile>/deps/examples_run-<hash> -> <target>/<profile>/examples/<name>
    let example: PathBuf = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps")
        .join("examples")
        .join(name);
    let output = Command::new(&example).output().unwrap_or_else(|e| {
        panic!(
            "cannot run {}: {e}; run the examples' tests with `cargo test`, which builds them",
            example.display()
        )
    });
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{name} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

#[test]
fn the_edu_example_computes_and_moves_data() {
    let out = run_example("edu");
    assert!(
        out.contains("10! = 3628800, computed by the device"),
        "{out}"
    );
    assert!(
        out.contains(r#"sent "hello, edu" by DMA and got back "hello, edu""#),
        "{out}"
    );
    assert!(out.contains("4 KiB buffer: Err(EINVAL)"), "{out}");
    assert!(
        out.contains("Events { factorials: 1, transfers: 2, interrupts: 3 }"),
        "{out}"
    );
}

#[test]
fn the_pci_testdev_example_reruns_the_tests() {
    let out = run_example("pci_testdev");
    for name in [
        "mmio-no-eventfd: the device counted 1 write(s); a correct device counts 1",
        "mmio-wildcard-eventfd: the device counted 0 write(s); a correct device counts 0",
        "mmio-datamatch-eventfd: the device counted 0 write(s); a correct device counts 0",
    ] {
        assert!(out.contains(name), "{out}");
    }
}
