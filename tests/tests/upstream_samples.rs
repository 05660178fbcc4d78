//! Linux 7.3's own samples, its null block driver and nova-core, built unchanged against drydock
//! and run on the simulated bus.
//!
//! `samples/rust/rust_minimal.rs`, `rust_driver_pci.rs`, `rust_dma.rs`, `rust_driver_auxiliary.rs`,
//! `rust_driver_faux.rs`, `rust_debugfs_scoped.rs`, `rust_misc_device.rs`, `rust_configfs.rs` and
//! `rust_print_main.rs`, and every file of `drivers/block/rnull/` and `drivers/gpu/nova-core/`,
//! are taken from Debian's `linux-source-7.3` package at test time (they are never committed
//! here), fetched by `tests/kernel/build --source`. Each becomes a throwaway crate that depends on
//! drydock under the name `kernel`, with the build script that passes the kernel configuration,
//! exactly as a driver crate does; the crate's test (from `tests/samples/`) loads the module into a
//! simulated bus (with QEMU's pci-testdev for the PCI samples, a GPU's first registers for
//! nova-core) and checks what the module did, through its log, the device model, the devices it
//! added to the bus, its debugfs and configfs files, its misc device and its disks.

use std::fs;
use std::process::Command;

use drydock_tests::cache::Cache;
use drydock_tests::proof_kernel;
use drydock_tests::upstream::{files, samples_dir, upstream_tree, write_crate, Sample};

/// The upstream crates that build unchanged, each with the test that drives it.
const SAMPLES: &[(Sample, &str)] = &[
    (
        Sample {
            name: "rust_minimal",
            source: "samples/rust/rust_minimal.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_minimal.rs"),
    ),
    (
        Sample {
            name: "rust_driver_pci",
            source: "samples/rust/rust_driver_pci.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_pci.rs"),
    ),
    (
        Sample {
            name: "rust_dma",
            source: "samples/rust/rust_dma.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_dma.rs"),
    ),
    (
        Sample {
            name: "rust_driver_auxiliary",
            source: "samples/rust/rust_driver_auxiliary.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_auxiliary.rs"),
    ),
    (
        Sample {
            name: "rust_driver_faux",
            source: "samples/rust/rust_driver_faux.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_driver_faux.rs"),
    ),
    (
        Sample {
            name: "rust_debugfs_scoped",
            source: "samples/rust/rust_debugfs_scoped.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_debugfs_scoped.rs"),
    ),
    (
        Sample {
            name: "rust_misc_device",
            source: "samples/rust/rust_misc_device.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_misc_device.rs"),
    ),
    (
        Sample {
            name: "rust_configfs",
            source: "samples/rust/rust_configfs.rs",
            coerce_pointee: false,
        },
        include_str!("../samples/rust_configfs.rs"),
    ),
    // The Rust null block driver: `rnull.rs` and its `configfs.rs`.
    (
        Sample {
            name: "rnull",
            source: "drivers/block/rnull",
            coerce_pointee: false,
        },
        include_str!("../samples/rnull.rs"),
    ),
    // Last: the only ones whose dependencies build with `RUSTC_BOOTSTRAP`.
    (
        Sample {
            name: "rust_print_main",
            source: "samples/rust/rust_print_main.rs",
            coerce_pointee: true,
        },
        include_str!("../samples/rust_print_main.rs"),
    ),
    // nova-core's hardware abstractions are `KBox<dyn Trait>`s.
    (
        Sample {
            name: "nova_core",
            source: "drivers/gpu/nova-core",
            coerce_pointee: true,
        },
        include_str!("../samples/nova_core.rs"),
    ),
];

/// The names of the `#[test]` functions of the test file `test`.
fn test_names(test: &str) -> Vec<&str> {
    test.split("#[test]")
        .skip(1)
        .filter_map(|item| item.trim_start().strip_prefix("fn ")?.split('(').next())
        .collect()
}

#[test]
fn upstream_samples_and_nova_core_build_unchanged_and_run() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let tarball = proof_kernel::source_tarball(&cache)
        .unwrap_or_else(|err| panic!("cannot get the Linux source: {err}"));
    let paths: Vec<&str> = SAMPLES.iter().map(|(sample, _)| sample.source).collect();
    let tree = upstream_tree(&cache, &tarball, &paths)
        .unwrap_or_else(|err| panic!("cannot extract the upstream files: {err}"));
    let work = samples_dir();
    for (sample, test) in SAMPLES {
        let name = sample.name;
        let source = files(&tree.join(sample.source)).unwrap();
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        write_crate(&dir, sample, &source, Some(test))
            .unwrap_or_else(|err| panic!("cannot write the crate of {name}: {err}"));
        // From the crate's directory, so that its `.cargo/config.toml` applies; without any
        // `RUSTC_BOOTSTRAP` of the caller's, so that only that file can enable it. The library's
        // tests (its KUnit suites) and the test that drives it, not its doctests: a kernel build
        // runs the `kernel` crate's examples only, and a driver's examples may name its private
        // items (nova-core's do).
        let out = Command::new(env!("CARGO"))
            .args(["test", "--lib", "--tests"])
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
        assert!(out.status.success(), "the upstream {name} failed:\n{text}");
        let tests = test_names(test);
        assert!(!tests.is_empty(), "{name}: its test file has no test");
        for test in tests {
            assert!(
                text.contains(&format!("test {test} ... ok")),
                "{name}: {test} did not run:\n{text}"
            );
        }
        // Unchanged: the files built are the package's.
        assert!(
            files(&dir.join("src")).unwrap() == source,
            "{name}: the files built differ from the package's"
        );
    }
}
