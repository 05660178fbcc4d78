//! Linux 7.3's own Rust code (its samples, nova-core) as drydock driver crates.
//!
//! The files are taken from Debian's `linux-source-7.3` tarball (which `tests/kernel/build
//! --source` fetches; they are never committed here) and become, byte for byte, the sources of a
//! generated crate that depends on drydock under the name `kernel`, with the build script that
//! passes the kernel configuration: exactly what a driver crate of `drivers/` is. The crate also
//! has a binary that runs the module as a process, as `drivers/NAME/process` does for a driver, so
//! the same file can run in a guest.
//!
//! `tests/upstream_samples.rs` builds and tests every upstream crate that builds unchanged, on the
//! simulated bus; [`build_guest_samples`] builds the binaries of [`GUEST_SAMPLES`] for the guest,
//! whose cases run them beside the same samples built in the proof kernel.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::{self, Cache};
use crate::guest::{workspace_root, GuestBuild};
use crate::{proof_kernel, Context, Error, Result};

/// The samples the guest runs as drydock processes, each next to its in-kernel build.
pub const GUEST_SAMPLES: &[Sample] = &[
    Sample {
        name: "rust_driver_auxiliary",
        source: "samples/rust/rust_driver_auxiliary.rs",
        coerce_pointee: false,
    },
    Sample {
        name: "rust_debugfs_scoped",
        source: "samples/rust/rust_debugfs_scoped.rs",
        coerce_pointee: false,
    },
    Sample {
        name: "rust_misc_device",
        source: "samples/rust/rust_misc_device.rs",
        coerce_pointee: false,
    },
    Sample {
        name: "rnull",
        source: "drivers/block/rnull",
        coerce_pointee: false,
    },
];

/// How an upstream crate is made.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// The crate's name: its library root is `<name>.rs`, and its binary has the name too.
    pub name: &'static str,
    /// Where its files are in the Linux tree: the root file itself, or the directory whose every
    /// file the crate takes (the root among them).
    pub source: &'static str,
    /// Whether it needs the `kernel` crate's `coerce-pointee` feature (an `Arc<dyn Trait>` or a
    /// `KBox<dyn Trait>`), which the crate enables with `RUSTC_BOOTSTRAP=1` in its
    /// `.cargo/config.toml`, as docs/porting.md tells a driver workspace to. Cargo reads that file
    /// from the directory it runs in: build such a crate from its own directory.
    pub coerce_pointee: bool,
}

/// The directory generated crates live in: `upstream-samples` in the workspace's target directory
/// (`$CARGO_TARGET_DIR`, else `target`).
pub fn samples_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("upstream-samples")
}

/// The Linux tree's files at `paths` (files or directories, relative to the tree's top), from the
/// source `tarball`: extracted into the cache once, those missing all in one pass over the tarball,
/// each moved into place whole. Returns the cached tree's root.
pub fn upstream_tree(cache: &Cache, tarball: &Path, paths: &[&str]) -> Result<PathBuf> {
    let stem = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.xz"))
        .ok_or_else(|| Error::new(format!("{} is not a .tar.xz", tarball.display())))?;
    let tree = cache.dir(&format!("kernel/upstream/{stem}"))?;
    let _lock = cache.lock("kernel-upstream")?;
    let missing: Vec<&str> = paths
        .iter()
        .copied()
        .filter(|p| !tree.join(p).exists())
        .collect();
    if missing.is_empty() {
        return Ok(tree);
    }
    let staged = cache::staging_path(&tree);
    fs::create_dir_all(&staged).with_context(|| format!("cannot create {}", staged.display()))?;
    // The tarball's top directory is the package's name: linux-source-7.3.
    let package = stem.split('_').next().unwrap_or(stem);
    let out = Command::new("tar")
        .arg("-xJf")
        .arg(tarball)
        .arg("-C")
        .arg(&staged)
        .arg("--strip-components=1")
        .args(missing.iter().map(|path| format!("{package}/{path}")))
        .output()
        .context("cannot run tar")?;
    if !out.status.success() {
        return Err(Error::new(format!(
            "cannot extract {missing:?} from {}: {}",
            tarball.display(),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    for path in missing {
        let target = tree.join(path);
        let parent = target.parent().expect("a path in the tree");
        fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        cache::publish(&staged.join(path), &target)?;
    }
    cache::remove_all(&staged).with_context(|| format!("cannot remove {}", staged.display()))?;
    Ok(tree)
}

/// The files at `path`, by their path under it (a file: by its name), with their contents.
pub fn files(path: &Path) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut found = BTreeMap::new();
    if path.is_file() {
        let name = path.file_name().expect("a file has a name").into();
        let data = fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        found.insert(name, data);
        return Ok(found);
    }
    let entries = fs::read_dir(path).with_context(|| format!("cannot list {}", path.display()))?;
    for entry in entries {
        let entry = entry
            .with_context(|| format!("cannot list {}", path.display()))?
            .path();
        let name = PathBuf::from(entry.file_name().expect("an entry has a name"));
        for (sub, data) in files(&entry)? {
            let under = if entry.is_dir() { name.join(sub) } else { sub };
            found.insert(under, data);
        }
    }
    Ok(found)
}

/// Writes the crate of `sample` into `dir` (empty, or an earlier crate of the same sample: files
/// already as they should be are left alone, so cargo sees a change only where there is one): the
/// upstream files `sources` (by their path under `src/`, as [`files`] gives them) with `<name>.rs`
/// as its library root, the binary that runs it as a process (`bin/main.rs`, outside `src/`, which
/// holds the upstream files alone), the build script, and `test` (a test of the crate on the
/// simulated bus) as `tests/sim.rs` if given.
pub fn write_crate(
    dir: &Path,
    sample: &Sample,
    sources: &BTreeMap<PathBuf, Vec<u8>>,
    test: Option<&str>,
) -> Result<()> {
    let root = workspace_root().display().to_string();
    let name = sample.name;
    let features = if sample.coerce_pointee {
        r#", features = ["coerce-pointee"]"#
    } else {
        ""
    };
    let manifest = format!(
        r#"[package]
name = "{name}"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "src/{name}.rs"

# The sample as a process, as `drivers/NAME/process` makes a driver one.
[[bin]]
name = "{name}"
path = "bin/main.rs"
doc = false

[dependencies]
kernel = {{ package = "drydock-kernel", path = "{root}/kernel"{features} }}
pin-init = {{ path = "{root}/kernel/pin-init" }}
zerocopy = {{ version = "0.8.64", features = ["derive"] }}
# For the binary only: the sample names `kernel` alone.
drydock-runner = {{ path = "{root}/runner" }}

# The kernel configuration and `--cfg MODULE`, as for every driver crate.
[build-dependencies]
drydock-kconfig = {{ path = "{root}/kernel/kconfig" }}

# The test drives the sample on the simulated bus, as a driver crate's tests do.
[dev-dependencies]
drydock-host = {{ path = "{root}/host" }}
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
"#
    );
    let main = format!(
        "//! `{name}` as a driver process.\n\n\
         fn main() -> std::process::ExitCode {{\n    \
         drydock_runner::command_line::main(&{name}::__DRYDOCK_MODULE)\n}}\n"
    );
    let build = "//! The kernel configuration, as for every driver crate.\n\n\
                 fn main() {\n    drydock_kconfig::emit();\n}\n";
    let mut files = vec![
        (PathBuf::from("Cargo.toml"), manifest),
        (PathBuf::from("build.rs"), build.to_owned()),
        (PathBuf::from("bin/main.rs"), main),
    ];
    if sample.coerce_pointee {
        let config = "[env]\nRUSTC_BOOTSTRAP = \"1\"\n";
        files.push((PathBuf::from(".cargo/config.toml"), config.to_owned()));
    }
    if let Some(test) = test {
        files.push((PathBuf::from("tests/sim.rs"), test.to_owned()));
    }
    let lock_file = workspace_root().join("Cargo.lock");
    let lock = fs::read_to_string(&lock_file)
        .with_context(|| format!("cannot read {}", lock_file.display()))?;
    files.push((PathBuf::from("Cargo.lock"), lock));
    for (path, text) in files {
        write_if_changed(&dir.join(path), text.as_bytes())?;
    }
    // The upstream files, byte for byte.
    for (path, data) in sources {
        write_if_changed(&dir.join("src").join(path), data)?;
    }
    Ok(())
}

/// Writes `contents` to `path` (and its directory) unless the file holds them already.
fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::create_dir_all(path.parent().expect("a file in a directory"))
        .and_then(|()| fs::write(path, contents))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Builds the binaries of [`GUEST_SAMPLES`] with `build` (the guest's target, profile and flags),
/// into its target directory beside the guest's other binaries.
pub fn build_guest_samples(build: &GuestBuild) -> Result<()> {
    let cache = Cache::from_env()?;
    let tarball = proof_kernel::source_tarball(&cache)?;
    let paths: Vec<&str> = GUEST_SAMPLES.iter().map(|s| s.source).collect();
    let tree = upstream_tree(&cache, &tarball, &paths)?;
    let crates = samples_dir().join("guest");
    for sample in GUEST_SAMPLES {
        let dir = crates.join(sample.name);
        write_crate(&dir, sample, &files(&tree.join(sample.source))?, None)?;
        let mut cmd = build.command(&dir);
        cmd.args(["--bin", sample.name]);
        build.run(cmd)?;
    }
    Ok(())
}
