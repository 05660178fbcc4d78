//! Linux 7.3's own Rust samples as drydock driver crates.
//!
//! A sample file is taken from Debian's `linux-source-7.3` tarball (which `tests/kernel/build
//! --source` fetches; the files are never committed here) and becomes, byte for byte, the library
//! root of a generated crate that depends on drydock under the name `kernel`, with the build
//! script that passes the kernel configuration: exactly what a driver crate of `drivers/` is. The
//! crate also has a binary that runs the sample's module as a process, as `drivers/NAME/process`
//! does for a driver, so the same file can run in a guest.
//!
//! `tests/upstream_samples.rs` builds and tests every sample that builds unchanged on the
//! simulated bus; [`build_guest_samples`] builds the binaries of [`GUEST_SAMPLES`] for the guest,
//! whose cases run them beside the same samples built in the proof kernel.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::cache::Cache;
use crate::guest::{workspace_root, GuestBuild};
use crate::{proof_kernel, Context, Error, Result};

/// The samples the guest runs as drydock processes, each next to its in-kernel build.
pub const GUEST_SAMPLES: &[&str] = &["rust_driver_auxiliary", "rust_debugfs_scoped"];

/// How a sample's crate is made.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    /// Its file name, without `.rs`, under `samples/rust/`: the crate's, library's and binary's
    /// name.
    pub name: &'a str,
    /// Whether it needs the `kernel` crate's `coerce-pointee` feature (an `Arc<dyn Trait>`), which
    /// the crate enables with `RUSTC_BOOTSTRAP=1` in its `.cargo/config.toml`, as docs/porting.md
    /// tells a driver workspace to. Cargo reads that file from the directory it runs in: build
    /// such a crate from its own directory.
    pub coerce_pointee: bool,
}

/// The directory generated sample crates live in: `upstream-samples` in the workspace's target
/// directory (`$CARGO_TARGET_DIR`, else `target`).
pub fn samples_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"))
        .join("upstream-samples")
}

/// Returns `samples/rust/<name>.rs` of the source `tarball`, extracted once into the cache.
pub fn sample_source(cache: &Cache, tarball: &Path, name: &str) -> Result<PathBuf> {
    let stem = tarball
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".tar.xz"))
        .ok_or_else(|| Error::new(format!("{} is not a .tar.xz", tarball.display())))?;
    let dir = cache.dir(&format!("kernel/samples/{stem}"))?;
    let file = dir.join(format!("{name}.rs"));
    if !file.is_file() {
        // The tarball's top directory is the package's name: linux-source-7.3.
        let package = stem.split('_').next().unwrap_or(stem);
        let member = format!("{package}/samples/rust/{name}.rs");
        let out = Command::new("tar")
            .arg("-xJOf")
            .arg(tarball)
            .arg(&member)
            .output()
            .context("cannot run tar")?;
        if !out.status.success() {
            return Err(Error::new(format!(
                "cannot extract {member} from {}: {}",
                tarball.display(),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        fs::write(&file, &out.stdout)
            .with_context(|| format!("cannot write {}", file.display()))?;
    }
    Ok(file)
}

/// Writes the crate of `sample` into `dir` (into an empty or earlier crate directory of the same
/// sample; files that are already as they should be are left alone): the upstream file at `source` as its library
/// root, the binary that runs it as a process, the build script, and `test` (a test of the
/// sample on the simulated bus) as `tests/sim.rs` if given.
pub fn write_crate(
    dir: &Path,
    sample: Sample<'_>,
    source: &Path,
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
path = "src/main.rs"
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
        (PathBuf::from("src/main.rs"), main),
    ];
    if sample.coerce_pointee {
        let config = "[env]\nRUSTC_BOOTSTRAP = \"1\"\n";
        files.push((PathBuf::from(".cargo/config.toml"), config.to_owned()));
    }
    if let Some(test) = test {
        files.push((PathBuf::from("tests/sim.rs"), test.to_owned()));
    }
    let read =
        |path: &Path| fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    let lock = read(&workspace_root().join("Cargo.lock"))?;
    // The sample, byte for byte.
    let sample_file = read(source)?;
    files.push((
        PathBuf::from("Cargo.lock"),
        String::from_utf8_lossy(&lock).into_owned(),
    ));
    for (path, text) in files {
        write_if_changed(&dir.join(path), text.as_bytes())?;
    }
    write_if_changed(&dir.join("src").join(format!("{name}.rs")), &sample_file)?;
    Ok(())
}

/// Writes `contents` to `path` (and its directory) unless the file holds them already, so that
/// cargo sees a change only where there is one.
fn write_if_changed(path: &Path, contents: &[u8]) -> Result<()> {
    if fs::read(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::create_dir_all(path.parent().expect("a file in a directory"))
        .and_then(|()| fs::write(path, contents))
        .with_context(|| format!("cannot write {}", path.display()))
}

/// Builds the binaries of [`GUEST_SAMPLES`] with `build` (the guest's target, profile and
/// flags), into its target directory beside the guest's other binaries.
pub fn build_guest_samples(build: &GuestBuild) -> Result<()> {
    let cache = Cache::from_env()?;
    let tarball = proof_kernel::source_tarball(&cache)?;
    let crates = samples_dir().join("guest");
    for &name in GUEST_SAMPLES {
        let source = sample_source(&cache, &tarball, name)?;
        let dir = crates.join(name);
        let sample = Sample {
            name,
            coerce_pointee: false,
        };
        write_crate(&dir, sample, &source, None)?;
        let mut cmd = build.command(&dir);
        cmd.args(["--bin", name]);
        build.run(cmd)?;
    }
    Ok(())
}
