//! Linux 7.3's own samples, built unchanged against drydock and run on the simulated bus.
//!
//! `samples/rust/rust_minimal.rs`, `rust_driver_pci.rs`, `rust_dma.rs`, `rust_driver_auxiliary.rs`,
//! `rust_driver_faux.rs`, `rust_debugfs_scoped.rs` and `rust_print_main.rs` are taken from Debian's
//! `linux-source-7.3` package at test time (they are never committed here), fetched by
//! `tests/kernel/build --source`. Each becomes the root of a throwaway crate that depends on drydock
//! under the name `kernel`, with the build script that passes the kernel configuration, exactly as
//! a driver crate does; the crate's test (from `tests/samples/`) loads the module into a simulated
//! bus (with QEMU's pci-testdev for the PCI samples) and checks what the sample did, through its
//! log, the device model, the devices it added to the bus and its debugfs files.

use std::fs;
use std::process::Command;

use drydock_tests::cache::Cache;
use drydock_tests::proof_kernel;
use drydock_tests::upstream::{sample_source, samples_dir, write_crate, Sample};

/// The samples that build unchanged, each with the test that drives it.
const SAMPLES: &[(Sample, &str)] = &[
    (
        Sample {
            name: "rust_minimal",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_minimal.rs"),
    ),
    (
        Sample {
            name: "rust_driver_pci",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_pci.rs"),
    ),
    (
        Sample {
            name: "rust_dma",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_dma.rs"),
    ),
    (
        Sample {
            name: "rust_driver_auxiliary",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_auxiliary.rs"),
    ),
    (
        Sample {
            name: "rust_driver_faux",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_faux.rs"),
    ),
    (
        Sample {
            name: "rust_debugfs_scoped",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_debugfs_scoped.rs"),
    ),
    // Last: the only one whose dependencies build with `RUSTC_BOOTSTRAP`.
    (
        Sample {
            name: "rust_print_main",
            coerce_pointee: true,
        },
        include_str!("../samples/rust_print_main.rs"),
    ),
];

#[test]
fn upstream_samples_build_unchanged_and_drive_pci_testdev() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let tarball = proof_kernel::source_tarball(&cache)
        .unwrap_or_else(|err| panic!("cannot get the Linux source: {err}"));
    let work = samples_dir();
    for &(sample, test) in SAMPLES {
        let name = sample.name;
        let source = sample_source(&cache, &tarball, name)
            .unwrap_or_else(|err| panic!("cannot get {name}.rs: {err}"));
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        write_crate(&dir, sample, &source, Some(test))
            .unwrap_or_else(|err| panic!("cannot write the crate of {name}.rs: {err}"));
        // From the crate's directory, so that its `.cargo/config.toml` applies; without any
        // `RUSTC_BOOTSTRAP` of the caller's, so that only that file can enable it.
        let out = Command::new(env!("CARGO"))
            .arg("test")
            .current_dir(&dir)
            .env_remove("RUSTC_BOOTSTRAP")
            .env("CARGO_TARGET_DIR", work.join("target"))
            .output()
            .expect("cargo runs");
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.status.success(),
            "the upstream sample {name}.rs failed:\n{text}"
        );
        assert!(
            text.contains("test result: ok. 1 passed"),
            "{name}: no test ran:\n{text}"
        );
        // Unchanged: the file built is the package's.
        assert_eq!(
            fs::read(&source).unwrap(),
            fs::read(dir.join("src").join(format!("{name}.rs"))).unwrap()
        );
    }
}
