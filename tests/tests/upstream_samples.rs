//! Linux 7.3's own samples, built unchanged against drydock and run on the simulated bus.
//!
//! `samples/rust/rust_driver_pci.rs`, `samples/rust/rust_dma.rs` and
//! `samples/rust/rust_debugfs_scoped.rs` are taken from Debian's `linux-source-7.3` package at test
//! time (they are never committed here), fetched by `tests/kernel/build --source`. Each becomes the
//! root of a throwaway crate that depends on drydock under the name `kernel`, exactly as a driver
//! crate does; the crate's test (from `tests/samples/`) loads the module into a simulated bus (with
//! QEMU's pci-testdev for the PCI samples) and checks what the sample did, through its log, the
//! device model, and its debugfs files.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_tests::cache::Cache;
use drydock_tests::{guest::workspace_root, proof_kernel};

/// The samples, by file name, with the test that drives each.
const SAMPLES: &[(&str, &str)] = &[
    (
        "rust_driver_pci",
        include_str!("../samples/rust_driver_pci.rs"),
    ),
    ("rust_dma", include_str!("../samples/rust_dma.rs")),
    (
        "rust_debugfs_scoped",
        include_str!("../samples/rust_debugfs_scoped.rs"),
    ),
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

/// Writes the throwaway crate of `name` into `dir`: the sample as its library root, our test.
fn write_crate(dir: &Path, name: &str, sample: &Path, test: &str) {
    let root = workspace_root();
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
kernel = {{ package = "drydock-kernel", path = "{root}/kernel" }}
pin-init = {{ path = "{root}/kernel/pin-init" }}
zerocopy = {{ version = "0.8.64", features = ["derive"] }}

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
    // The sample, byte for byte.
    fs::copy(sample, dir.join("src").join(format!("{name}.rs"))).unwrap();
    fs::write(dir.join("tests").join("sim.rs"), test).unwrap();
}

#[test]
fn upstream_samples_build_unchanged_and_drive_pci_testdev() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let tarball = proof_kernel::source_tarball(&cache)
        .unwrap_or_else(|err| panic!("cannot get the Linux source: {err}"));
    let work = root_target().join("upstream-samples");
    for (name, test) in SAMPLES {
        let sample = sample_source(&cache, &tarball, name);
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        write_crate(&dir, name, &sample, test);
        let out = Command::new(env!("CARGO"))
            .arg("test")
            .arg("--manifest-path")
            .arg(dir.join("Cargo.toml"))
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
            fs::read(&sample).unwrap(),
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
