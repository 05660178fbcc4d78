//! Linux 7.3's own samples and nova-core, built unchanged against drydock and run on the simulated
//! bus.
//!
//! `samples/rust/rust_minimal.rs`, `rust_driver_pci.rs`, `rust_dma.rs`, `rust_driver_auxiliary.rs`,
//! `rust_driver_faux.rs`, `rust_debugfs_scoped.rs` and `rust_print_main.rs`, and every file of
//! `drivers/gpu/nova-core/`, are taken from Debian's `linux-source-7.3` package at test time (they
//! are never committed here), fetched by `tests/kernel/build --source`. Each becomes a throwaway
//! crate that depends on drydock under the name `kernel`, with the build script that passes the
//! kernel configuration, exactly as a driver crate does; the crate's test (from `tests/samples/`)
//! loads the module into a simulated bus (with QEMU's pci-testdev for the PCI samples, a GPU's first
//! registers for nova-core) and checks what the module did, through its log, the device model, the
//! devices it added to the bus and its debugfs files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_tests::cache::{self, Cache};
use drydock_tests::{guest::workspace_root, proof_kernel};

/// One upstream crate (a sample, or nova-core) and how this test builds and drives it.
struct Sample {
    /// Its crate's name: its root file is `<name>.rs`, and its test names its library so.
    name: &'static str,
    /// Where its files are in the Linux tree: the root file itself, or the directory whose every
    /// file the crate takes (the root among them).
    source: &'static str,
    /// The test that drives it, from `tests/samples/`.
    test: &'static str,
    /// Whether it needs the `kernel` crate's `coerce-pointee` feature (an `Arc<dyn Trait>` or a
    /// `KBox<dyn Trait>`), which the throwaway crate enables with `RUSTC_BOOTSTRAP=1` in its
    /// `.cargo/config.toml`, as docs/porting.md tells a driver workspace to.
    coerce_pointee: bool,
}

/// The upstream crates that build unchanged, each with the test that drives it.
const SAMPLES: &[Sample] = &[
    Sample {
        name: "rust_minimal",
        source: "samples/rust/rust_minimal.rs",
        test: include_str!("../samples/rust_minimal.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_pci",
        source: "samples/rust/rust_driver_pci.rs",
        test: include_str!("../samples/rust_driver_pci.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_dma",
        source: "samples/rust/rust_dma.rs",
        test: include_str!("../samples/rust_dma.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_auxiliary",
        source: "samples/rust/rust_driver_auxiliary.rs",
        test: include_str!("../samples/rust_driver_auxiliary.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_driver_faux",
        source: "samples/rust/rust_driver_faux.rs",
        test: include_str!("../samples/rust_driver_faux.rs"),
        coerce_pointee: false,
    },
    Sample {
        name: "rust_debugfs_scoped",
        source: "samples/rust/rust_debugfs_scoped.rs",
        test: include_str!("../samples/rust_debugfs_scoped.rs"),
        coerce_pointee: false,
    },
    // Last: the only ones whose dependencies build with `RUSTC_BOOTSTRAP`.
    Sample {
        name: "rust_print_main",
        source: "samples/rust/rust_print_main.rs",
        test: include_str!("../samples/rust_print_main.rs"),
        coerce_pointee: true,
    },
    // nova-core's hardware abstractions are `KBox<dyn Trait>`s.
    Sample {
        name: "nova_core",
        source: "drivers/gpu/nova-core",
        test: include_str!("../samples/nova_core.rs"),
        coerce_pointee: true,
    },
];

/// The Linux tree's files at `paths` (files or directories), from the source tarball: extracted
/// into the cache once, those missing all in one pass over the tarball, each moved into place
/// whole. Returns the cached tree's root.
fn upstream_tree(cache: &Cache, tarball: &Path, paths: &[&str]) -> PathBuf {
    let stem = tarball
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".tar.xz", "");
    let tree = cache.dir(&format!("kernel/upstream/{stem}")).unwrap();
    let _lock = cache.lock("kernel-upstream").unwrap();
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|path| !tree.join(path).exists())
        .collect();
    if missing.is_empty() {
        return tree;
    }
    let staged = cache::staging_path(&tree);
    fs::create_dir_all(&staged).unwrap();
    // The tarball's top directory is the package's name: linux-source-7.3.
    let package = stem.split('_').next().unwrap();
    let out = Command::new("tar")
        .args(["-xJf"])
        .arg(tarball)
        .arg("-C")
        .arg(&staged)
        .arg("--strip-components=1")
        .args(missing.iter().map(|path| format!("{package}/{path}")))
        .output()
        .expect("tar runs");
    assert!(
        out.status.success(),
        "cannot extract {missing:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in missing {
        let target = tree.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        cache::publish(&staged.join(path), &target).unwrap();
    }
    cache::remove_all(&staged).unwrap();
    tree
}

/// The files at `path`, by their path under it (a file: by its name), with their contents.
fn files(path: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut found = BTreeMap::new();
    if path.is_file() {
        found.insert(path.file_name().unwrap().into(), fs::read(path).unwrap());
        return found;
    }
    for entry in fs::read_dir(path).unwrap() {
        let entry = entry.unwrap().path();
        let name = PathBuf::from(entry.file_name().unwrap());
        found.extend(files(&entry).into_iter().map(|(sub, data)| {
            let under = if entry.is_dir() { name.join(sub) } else { sub };
            (under, data)
        }));
    }
    found
}

/// The names of the `#[test]` functions of the test file `test`.
fn test_names(test: &str) -> Vec<&str> {
    test.split("#[test]")
        .skip(1)
        .filter_map(|item| item.trim_start().strip_prefix("fn ")?.split('(').next())
        .collect()
}

/// Writes the throwaway crate of `sample` into `dir`: the upstream files (`sources`, by their path
/// under `src/`) with `<name>.rs` as its library root, a build script passing the kernel
/// configuration, and the sample's test.
fn write_crate(dir: &Path, sample: &Sample, sources: &BTreeMap<PathBuf, Vec<u8>>) {
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
    // The upstream files, byte for byte.
    for (path, data) in sources {
        let file = dir.join("src").join(path);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(file, data).unwrap();
    }
    fs::write(dir.join("tests").join("sim.rs"), sample.test).unwrap();
}

#[test]
fn upstream_samples_and_nova_core_build_unchanged_and_run() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let tarball = proof_kernel::source_tarball(&cache)
        .unwrap_or_else(|err| panic!("cannot get the Linux source: {err}"));
    let sources: Vec<&str> = SAMPLES.iter().map(|sample| sample.source).collect();
    let tree = upstream_tree(&cache, &tarball, &sources);
    let work = root_target().join("upstream-samples");
    for sample in SAMPLES {
        let name = sample.name;
        let source = files(&tree.join(sample.source));
        let dir = work.join(name);
        let _ = fs::remove_dir_all(&dir);
        write_crate(&dir, sample, &source);
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
        let tests = test_names(sample.test);
        assert!(!tests.is_empty(), "{name}: its test file has no test");
        for test in tests {
            assert!(
                text.contains(&format!("test {test} ... ok")),
                "{name}: {test} did not run:\n{text}"
            );
        }
        // Unchanged: the files built are the package's.
        assert!(
            files(&dir.join("src")) == source,
            "{name}: the files built differ from the package's"
        );
    }
}

/// The workspace's target directory.
fn root_target() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
}
