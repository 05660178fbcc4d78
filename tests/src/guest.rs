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
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use drydock_guest::protocol::{self, CaseInfo};

use crate::elf::Elf;
use crate::upstream;
use crate::{process, progress, Context, Error, Result};

/// The target triple of guest binaries.
pub const GUEST_TARGET: &str = "x86_64-unknown-linux-gnu";
/// The packages whose binaries the guest runs besides the drivers' ([`guest_packages`]): the
/// runner, the NVMe benchmark and the `drydock` command (package `drydock-cli`).
pub const GUEST_PACKAGES: &[&str] = &["drydock-guest", "nvme-bench", "drydock-cli"];

/// Every package whose binaries are built for the guest: [`GUEST_PACKAGES`] and every driver's
/// binary (the packages `drivers/*/process`: the demo runs `edu`, the in-kernel comparisons each
/// driver's, and `drydock-vm shell` puts them all on the guest's PATH).
pub fn guest_packages() -> Vec<String> {
    let mut packages: Vec<String> = GUEST_PACKAGES.iter().map(|p| (*p).to_owned()).collect();
    packages.extend(driver_packages(true));
    packages
}

/// The driver crates' directories, `drivers/NAME` holding a `Cargo.toml`, sorted.
pub fn driver_dirs() -> Vec<PathBuf> {
    let drivers = workspace_root().join("drivers");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&drivers)
        .into_iter()
        .flatten()
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|dir| dir.join("Cargo.toml").is_file())
        .collect();
    dirs.sort();
    dirs
}

/// The package name in the manifest of the crate in `dir`, if it has one.
pub fn package_name(dir: &Path) -> Option<String> {
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).ok()?;
    let line = manifest.lines().find(|l| l.starts_with("name = "))?;
    Some(line["name = ".len()..].trim_matches('"').to_owned())
}

/// The packages under `drivers/`, by name, sorted: the driver crates (`drivers/NAME`) or, with
/// `process`, their binaries (`drivers/NAME/process`).
pub fn driver_packages(process: bool) -> Vec<String> {
    let mut names: Vec<String> = driver_dirs()
        .into_iter()
        .filter_map(|dir| package_name(&if process { dir.join("process") } else { dir }))
        .collect();
    names.sort();
    names
}

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
    /// Builds into [`guest_target_dir`].
    fn new() -> Self {
        GuestBuild {
            target_dir: guest_target_dir(),
        }
    }

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
        progress::say(&format!(
            "drydock: building the guest binaries: {}",
            process::display(&cmd)
        ));
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
    /// The binaries in `$DRYDOCK_GUEST_BIN_DIR` if set, else freshly built ones: the workspace's
    /// and the upstream samples' ([`GuestBinaries::build`]), as the guest cases need them.
    pub fn locate_or_build() -> Result<Self> {
        Self::locate_or(Self::build)
    }

    /// The binaries in `$DRYDOCK_GUEST_BIN_DIR` if set, else the workspace's, freshly built
    /// ([`GuestBinaries::build_programs`]): what a person runs in a guest, without the upstream
    /// samples, whose source (Linux 7.3's) is not fetched for them.
    pub fn locate_or_build_programs() -> Result<Self> {
        Self::locate_or(Self::build_programs)
    }

    fn locate_or(build: fn() -> Result<Self>) -> Result<Self> {
        match std::env::var_os("DRYDOCK_GUEST_BIN_DIR").filter(|d| !d.is_empty()) {
            Some(dir) => GuestBinaries::at(PathBuf::from(dir)),
            None => build(),
        }
    }

    /// Builds the guest binaries (release, static), the workspace's and the upstream samples'
    /// ([`upstream::GUEST_SAMPLES`]), and returns their directory.
    pub fn build() -> Result<Self> {
        let binaries = Self::build_programs()?;
        upstream::build_guest_samples(&GuestBuild::new())?;
        Ok(binaries)
    }

    /// Builds the workspace's guest binaries ([`guest_packages`]: the runner, `drydock`, the
    /// drivers' binaries, nvme-bench) and returns their directory.
    pub fn build_programs() -> Result<Self> {
        let build = GuestBuild::new();
        let mut cmd = build.command(workspace_root());
        cmd.arg("--bins");
        for package in guest_packages() {
            cmd.args(["--package", &package]);
        }
        build.run(cmd)?;
        GuestBinaries::at(build.target_dir.join(GUEST_TARGET).join("release"))
    }

    /// Their directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The names of the programs in the directory (its executable files), sorted.
    pub fn programs(&self) -> Result<Vec<String>> {
        let entries = std::fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(|entry| {
                let entry = entry.ok()?;
                let meta = entry.metadata().ok()?;
                (meta.is_file() && meta.permissions().mode() & 0o111 != 0)
                    .then(|| entry.file_name().into_string().ok())?
            })
            .collect();
        names.sort();
        Ok(names)
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
    fn the_programs_are_the_executable_files() {
        let dir = std::env::temp_dir().join(format!("drydock-guest-bins-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("deps")).unwrap();
        for (name, mode) in [("nvme", 0o755), ("drydock", 0o700), ("drydock.d", 0o644)] {
            std::fs::write(dir.join(name), "").unwrap();
            let permissions = std::fs::Permissions::from_mode(mode);
            std::fs::set_permissions(dir.join(name), permissions).unwrap();
        }
        let binaries = GuestBinaries { dir: dir.clone() };
        assert_eq!(binaries.programs().unwrap(), ["drydock", "nvme"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_guest_gets_drydock_and_every_drivers_binary() {
        let packages = guest_packages();
        for package in [
            "drydock-cli",
            "drydock-guest",
            "edu-process",
            "nvme-process",
            "pci-testdev-process",
        ] {
            assert!(packages.iter().any(|p| p == package), "{packages:?}");
        }
        let drivers = driver_packages(false);
        for driver in ["edu", "nvme", "pci-testdev"] {
            assert!(drivers.iter().any(|d| d == driver), "{drivers:?}");
        }
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
