//! Linux 7.3's own samples, built unchanged against drydock and run on the simulated bus.
//!
//! `samples/rust/rust_minimal.rs`, `rust_driver_pci.rs`, `rust_dma.rs`, `rust_driver_auxiliary.rs`,
//! `rust_driver_faux.rs`, `rust_debugfs_scoped.rs`, `rust_configfs.rs` and `rust_print_main.rs` are
//! taken from Debian's `linux-source-7.3` package at test time (they are never committed here),
//! fetched by `tests/kernel/build --source`. Each becomes the root of a throwaway crate that
//! depends on drydock under the name `kernel`, with the build script that passes the kernel
//! configuration, exactly as a driver crate does; the crate's test (from `tests/samples/`) loads
//! the module into a simulated bus (with QEMU's pci-testdev for the PCI samples) and checks what
//! the sample did, through its log, the device model, the devices it added to the bus and its
//! debugfs and configfs files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_tests::cache::Cache;
use drydock_tests::{guest::workspace_root, proof_kernel};

/// One upstream sample and how this test builds and drives it.
struct Sample {
    /// Its file name, without `.rs`, under `samples/rust/`.
    name: &'static str,
    /// The test that drives it, from `tests/samples/`.
    test: &'static str,
    /// Whether it needs the `kernel` crate's `coerce-pointee` feature (an `Arc<dyn Trait>`), which
    /// the throwaway crate enables with `RUSTC_BOOTSTRAP=1` in its `.cargo/config.toml`, as
    /// docs/porting.md tells a driver workspace to.
    coerce_pointee: bool,
}

/// The samples that build unchanged, each with the test that drives it.
const SAMPLES: &[Sample] = &[
    Sample {
        name: "rust_minimal",
        test: include_str!("../samples/rust_minimal.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_pci",
        test: include_str!("../samples/rust_driver_pci.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_dma",
        test: include_str!("../samples/rust_dma.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_auxiliary",
        test: include_str!("../samples/rust_driver_auxiliary.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_faux",
        test: include_str!("../samples/rust_driver_faux.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_debugfs_scoped",
        test: include_str!("../samples/rust_debugfs_scoped.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_configfs",
        test: include_str!("../samples/rust_configfs.rs"),
        coerce_pointee: false,
    },
    // Last: the only one whose dependencies build with `RUSTC_BOOTSTRAP`.
    Sample {
        name: "rust_print_main",
        test: include_str!("../samples/rust_print_main.rs"),
        coerce_pointee: true,
    },
];

/// Extracts `samples/rust/<name>.rs` of the source tarball, cached beside it.
fn sample_source(cache: &Cache, tarball: &Path, name: &str) -> PathBuf {
    let stem = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.xz", "");
    let dir = cache.dir(&format!("kernel/samples/{stem}")).unwrap();
    let file = dir.join(format!("{name}.rs"));
    if !file.is_file() {
        // The tarball's top directory is the package's name: linux-source-7.3.
        let package = stem.split('_').next().unwrap();
        let member = format!("{package}/samples/rust/{name}.rs");
        let out = Command::new("tar")
            .args(["-xJOf"])
            .arg(tarball)
            .arg(&member)
            .output()
            .expect("tar runs");
        assert!(
            out.status.success(),
            "cannot extract {member}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(&file, &out.stdout).unwrap();
    }
    file
}

/// Writes the throwaway crate of `sample` into `dir`: the upstream file (at `source`) as its library
/// root, a build script passing the kernel configuration, and the sample's test.
fn write_crate(dir: &Path, sample: &Sample, source: &Path) {
    let root = workspace_root();
    let name = sample.name;
    let features = if sample.coerce_pointee {
        r#", features = ["coerce-pointee"]"#
    } else {
        ""
    };
    fs::create_dir_all(dir.join("src")).unwrap();
    fs::create_dir_all(dir.join("tests")).unwrap();
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/{name}.rs"

[dependencies]
kernel = {{ package = "drydock-kernel", path = "{root}/kernel"{features} }}
pin-init = {{ path = "{root}/kernel/pin-init" }}
zerocopy = {{ version = "0.8.64", features = ["derive"] }}

# The kernel configuration and `--cfg MODULE`, as for every driver crate.
[build-dependencies]
drydock-kconfig = {{ path = "{root}/kernel/kconfig" }}

# The test drives the sample on the simulated bus, as a driver crate's tests do.
[dev-dependencies]
drydock-host = {{ path = "{root}/host" }}
drydock-runner = {{ path = "{root}/runner" }}
drydock-sim = {{ path = "{root}/sim" }}

# Its own workspace: the crate lives under drydock's target directory, not in its workspace.
[workspace]

# As for every drydock driver: `build_assert!` needs the optimiser.
[profile.dev]
opt-level = 1

# The kernel's lint set, less `non_ascii_idents`, which zerocopy's derives trip (the kernel build
# accepts them).
[lints.rust]
missing_docs = "warn"
unsafe_op_in_unsafe_fn = "deny"
"#,
        root = root.display()
    );
    fs::write(dir.join("Cargo.toml"), manifest).unwrap();
    fs::copy(root.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    fs::write(
        dir.join("build.rs"),
        "//! The kernel configuration, as for every driver crate.\n\nfn main() {\n    drydock_kconfig::emit();\n}\n",
    )
    .unwrap();
    if sample.coerce_pointee {
        fs::create_dir_all(dir.join(".cargo")).unwrap();
        fs::write(
            dir.join(".cargo").join("config.toml"),
            "[env]\nRUSTC_BOOTSTRAP = \"1\"\n",
        )
        .unwrap();
    }
    // The sample, byte for byte.
    fs::copy(source, dir.join("src").join(format!("{name}.rs"))).unwrap();
    fs::write(dir.join("tests").join("sim.rs"), sample.test).unwrap();
}

#[test]
fn upstream_samples_build_unchanged_and_drive_pci_testdev() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let tarball = proof_kernel::source_tarball(&cache)
        .unwrap_or_else(|err| panic!("cannot get the Linux source: {err}"));
    let work = root_target().join("upstream-samples");
    for sample in SAMPLES {
        let name = sample.name;
        let source = sample_source(&cache, &tarball, name);
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        write_crate(&dir, sample, &source);
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

/// The workspace's target directory.
fn root_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
