//! The guest binaries: building them as static executables, and asking the runner which cases
//! it has.
//!
//! They are built by a nested `cargo build` into a separate target directory
//! (`<target>/guest`), so the nested build never waits for the lock of the outer `cargo test`.
//! Static glibc binaries need `--target` spelled out, so that `+crt-static` reaches only the
//! target crates and not proc-macros. The upstream samples the guest runs are built the same way,
//! into the same directory ([`upstream`]). `DRYDOCK_GUEST_BIN_DIR` points at prebuilt binaries
//! instead.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_guest::protocol::{self, CaseInfo};

use crate::elf::Elf;
use crate::upstream;
use crate::{process, Context, Error, Result};

/// The target triple of guest binaries.
pub const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The packages whose binaries the guest runs: the runner, the drivers' own binaries (the
/// packages `drivers/*/process`: the demo runs `edu`, the in-kernel comparisons each driver's),
/// the NVMe benchmark and the `drydock` command (package `drydock-cli`).
pub const GUEST_PACKAGES: &[&str] = &[
    "drydock-guest",
    "edu-process",
    "pci-testdev-process",
    "nvme-process",
    "nvme-bench",
    "drydock-cli",
];
/// The guest runner binary.
pub const RUNNER: &str = "drydock-guest";
/// The NVMe benchmark binary (package `nvme-bench`), which the NVMe cases also run.
pub const NVME_BENCH: &str = "nvme-bench";

/// The workspace root.
pub fn workspace_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the harness crate lives in the workspace's tests/ directory")
}

/// The target directory of guest builds: `guest` inside the workspace's target directory
/// (`$CARGO_TARGET_DIR`, else `target`).
pub fn guest_target_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target.join("guest")
}

/// How guest binaries are built: release, static, for [`GUEST_TARGET`], into one target directory
/// (so they land in one directory, where the runner finds them beside itself).
pub struct GuestBuild {
    target_dir: PathBuf,
}

impl GuestBuild {
    /// The `cargo build` command for the package or workspace in `dir`; the caller adds what to
    /// build.
    pub fn command(&self, dir: &Path) -> Command {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
        let mut cmd = Command::new(cargo);
        cmd.current_dir(dir)
            .args(["build", "--release", "--target", GUEST_TARGET])
            .arg("--target-dir")
            .arg(&self.target_dir)
            // The highest-precedence way to pass flags; with `--target` they apply only to
            // target crates.
            .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
            .env_remove("RUSTFLAGS");
        cmd
    }

    /// Runs a command of [`GuestBuild::command`], its output going to the caller's.
    pub fn run(&self, mut cmd: Command) -> Result<()> {
        eprintln!(
            "drydock: building the guest binaries: {}",
            process::display(&cmd)
        );
        let status = cmd
            .status()
            .with_context(|| format!("cannot run `{}`", process::display(&cmd)))?;
        if !status.success() {
            return Err(Error::new(format!(
                "building the guest binaries failed ({status}); the compiler output is above"
            )));
        }
        Ok(())
    }
}

/// A directory of static guest binaries.
#[derive(Debug, Clone)]
pub struct GuestBinaries {
    dir: PathBuf,
}

impl GuestBinaries {
    /// The binaries in `$DRYDOCK_GUEST_BIN_DIR` if set, else freshly built ones.
    pub fn locate_or_build() -> Result<Self> {
        match std::env::var_os("DRYDOCK_GUEST_BIN_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => GuestBinaries::at(PathBuf::from(dir)),
            None => GuestBinaries::build(),
        }
    }

    /// Builds the guest binaries (release, static), the workspace's and the upstream samples'
    /// ([`upstream::GUEST_SAMPLES`]), and returns their directory.
    pub fn build() -> Result<Self> {
        let build = GuestBuild {
            target_dir: guest_target_dir(),
        };
        let mut cmd = build.command(workspace_root());
        cmd.arg("--bins")
            .args(GUEST_PACKAGES.iter().flat_map(|p| ["--package", p]));
        build.run(cmd)?;
        upstream::build_guest_samples(&build)?;
        GuestBinaries::at(build.target_dir.join(GUEST_TARGET).join("release"))
    }

    /// The binaries in `dir`, checked to contain a static runner.
    pub fn at(dir: PathBuf) -> Result<Self> {
        let binaries = GuestBinaries { dir };
        binaries.check_static(&binaries.runner())?;
        Ok(binaries)
    }

    /// The runner binary.
    pub fn runner(&self) -> PathBuf {
        self.dir.join(RUNNER)
    }

    /// The NVMe benchmark binary.
    pub fn nvme_bench(&self) -> PathBuf {
        self.dir.join(NVME_BENCH)
    }

    fn check_static(&self, binary: &Path) -> Result<()> {
        let data =
            std::fs::read(binary).with_context(|| format!("cannot read {}", binary.display()))?;
        let dynamic = Elf::parse(&data)
            .and_then(|elf| elf.needs_interpreter())
            .map_err(|e| Error::new(format!("{}: {e}", binary.display())))?;
        if dynamic {
            return Err(Error::new(format!(
                "{} is dynamically linked, but the guest has no shared libraries; build it \
                 with RUSTFLAGS=\"-C target-feature=+crt-static\" and --target {GUEST_TARGET}",
                binary.display()
            )));
        }
        Ok(())
    }

    /// The cases the runner offers, asked from the runner itself (it runs on the host, too).
    pub fn list_cases(&self) -> Result<Vec<CaseInfo>> {
        let out = process::output(Command::new(self.runner()).arg("list"))?;
        protocol::parse_case_list(&out)
            .with_context(|| format!("`{} list` printed a bad line", self.runner().display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_workspace_root_holds_the_workspace_manifest() {
        let manifest = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn dynamic_binaries_are_refused() {
        // This test binary is dynamically linked.
        let me = std::env::current_exe().unwrap();
        let dir = me.parent().unwrap().to_path_buf();
        let binaries = GuestBinaries { dir };
        let err = binaries.check_static(&me).unwrap_err().to_string();
        assert!(err.contains("is dynamically linked"), "{err}");
    }
}
