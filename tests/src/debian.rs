//! Debian's kernel for the guests, fetched with a private apt state.
//!
//! The guest kernel is the one Debian's `linux-image-amd64` metapackage currently depends on,
//! resolved by name on every run, so the harness never names a version the archive may drop.
//! apt runs with its package lists and downloads in the drydock cache and the machine's
//! configured sources, so this needs no root and leaves the machine's own apt state untouched.
//! Refreshing the lists costs a second or two once they are cached.
//!
//! The unpacked package is cached under its name, version and checksum; the checksum comes
//! from the signed archive index and is checked against the downloaded file.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use crate::cache::{self, Cache};
use crate::kernel::GuestKernel;
use crate::{process, progress, Context, Error, Result};

/// The metapackage that names Debian's current kernel.
pub const KERNEL_METAPACKAGE: &str = "linux-image-amd64";

/// apt with a private state directory.
#[derive(Debug)]
pub struct PrivateApt {
    state: PathBuf,
}

/// The parts of a package's archive record the harness needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRecord {
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// SHA-256 of the `.deb`, as lower-case hex.
    pub sha256: String,
    /// Size of the `.deb` in bytes, when the record says.
    pub size: Option<u64>,
}

impl PrivateApt {
    /// apt with its state in `state` (created if needed).
    pub fn new(state: PathBuf) -> Result<Self> {
        for dir in ["lists/partial", "archives/partial"] {
            let dir = state.join(dir);
            fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(PrivateApt { state })
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(tool);
        cmd.arg("-o")
            .arg(format!(
                "Dir::State::Lists={}",
                self.state.join("lists").display()
            ))
            .arg("-o")
            .arg(format!("Dir::Cache={}", self.state.display()))
            .args([
                // Container images often switch apt's binary caches off; without them every
                // query re-reads all package lists (about a second each).
                "-o",
                "Dir::Cache::pkgcache=pkgcache.bin",
                "-o",
                "Dir::Cache::srcpkgcache=srcpkgcache.bin",
                "-o",
                "Debug::NoLocking=1",
                "-o",
                "Acquire::Languages=none",
            ]);
        cmd
    }

    /// Refreshes the package lists.
    pub fn update(&self) -> Result<()> {
        process::output(self.command("apt-get").arg("update"))
            .context("cannot refresh the package lists for the guest kernel")?;
        Ok(())
    }

    /// The names of the packages the candidate version of `package` depends on.
    pub fn depends(&self, package: &str) -> Result<Vec<String>> {
        let out = process::output(self.command("apt-cache").args(["depends", package]))?;
        Ok(parse_depends(&out))
    }

    /// The archive record of the candidate version of `package`.
    pub fn record(&self, package: &str) -> Result<PackageRecord> {
        let out = process::output(self.command("apt-cache").args([
            "show",
            "--no-all-versions",
            package,
        ]))?;
        parse_record(&out)
            .ok_or_else(|| Error::new(format!("apt-cache show {package}: no usable record")))
    }

    /// Downloads `record`'s `.deb` into `dir`, checks its checksum and returns its path.
    pub fn download(&self, record: &PackageRecord, dir: &Path) -> Result<PathBuf> {
        process::output(
            self.command("apt-get")
                .arg("download")
                .arg(format!("{}={}", record.name, record.version))
                .current_dir(dir),
        )?;
        let deb = fs::read_dir(dir)
            .with_context(|| format!("cannot list {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .ok_or_else(|| Error::new(format!("apt-get download {} left no .deb", record.name)))?;
        let sha256 = cache::sha256_file(&deb)?;
        if sha256 != record.sha256 {
            return Err(Error::new(format!(
                "{} has SHA-256 {sha256}, but the archive index says {}",
                deb.display(),
                record.sha256
            )));
        }
        Ok(deb)
    }
}

/// The dependency names in `apt-cache depends` output.
fn parse_depends(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("Depends:"))
        .map(|d| d.trim().to_owned())
        .collect()
}

/// The first record in `apt-cache show` output.
fn parse_record(text: &str) -> Option<PackageRecord> {
    let field = |name: &str| {
        text.lines()
            .take_while(|l| !l.is_empty())
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_owned())
    };
    Some(PackageRecord {
        name: field("Package")?,
        version: field("Version")?,
        sha256: field("SHA256")?,
        size: field("Size").and_then(|s| s.parse().ok()),
    })
}

/// Debian's current default kernel, downloaded and unpacked into the cache if needed.
///
/// It is resolved once per process and cache: every profile of a test run boots the same
/// kernel.
pub fn default_kernel(cache: &Cache) -> Result<GuestKernel> {
    static RESOLVED: Mutex<BTreeMap<PathBuf, GuestKernel>> = Mutex::new(BTreeMap::new());
    let mut resolved = RESOLVED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(kernel) = resolved.get(cache.root()) {
        return Ok(kernel.clone());
    }
    let kernel = resolve_default_kernel(cache)?;
    resolved.insert(cache.root().to_owned(), kernel.clone());
    Ok(kernel)
}

fn resolve_default_kernel(cache: &Cache) -> Result<GuestKernel> {
    // The lock keeps another process from rewriting the lists while these queries read them.
    let apt_lock = cache.lock("apt-state")?;
    let apt = PrivateApt::new(cache.dir("apt")?)?;
    apt.update()?;
    let image_package = apt
        .depends(KERNEL_METAPACKAGE)?
        .into_iter()
        .find(|d| d.starts_with("linux-image-"))
        .ok_or_else(|| {
            Error::new(format!(
                "{KERNEL_METAPACKAGE} depends on no linux-image package; cannot pick a guest kernel"
            ))
        })?;
    let record = apt.record(&image_package)?;
    drop(apt_lock);
    let release = image_package
        .strip_prefix("linux-image-")
        .expect("filtered on this prefix")
        .to_owned();

    let kernels = cache.dir("kernels")?;
    let unpacked = kernels.join(format!(
        "{}_{}_{}",
        record.name,
        record.version,
        &record.sha256[..16]
    ));
    if !unpacked.is_dir() {
        let _lock = cache.lock("kernels")?;
        if !unpacked.is_dir() {
            fetch(&apt, &record, &unpacked)?;
        }
    }
    GuestKernel::new(
        format!("Debian {} {}", record.name, record.version),
        unpacked.join(format!("boot/vmlinuz-{release}")),
        unpacked.join(format!("lib/modules/{release}")),
    )
}

fn fetch(apt: &PrivateApt, record: &PackageRecord, unpacked: &Path) -> Result<()> {
    progress::say(&format!(
        "drydock: downloading the guest kernel {} {}",
        record.name, record.version
    ));
    let start = Instant::now();
    let download_dir = cache::staging_path(unpacked);
    let staged = cache::staging_path(unpacked);
    let result = (|| {
        fs::create_dir_all(&download_dir)
            .with_context(|| format!("cannot create {}", download_dir.display()))?;
        let label = format!("drydock: guest kernel {}", record.name);
        let deb = progress::watch_download(
            &label,
            &download_dir,
            record.size,
            progress::INTERVAL,
            progress::say,
            || apt.download(record, &download_dir),
        )?;
        process::output(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&staged))?;
        cache::publish(&staged, unpacked)
    })();
    for leftover in [&download_dir, &staged] {
        // Best effort: a leftover staging directory is hidden and harmless.
        let _ = cache::remove_all(leftover);
    }
    if result.is_ok() {
        progress::say(&format!(
            "drydock: the guest kernel is in {} ({:.0} s)",
            unpacked.display(),
            start.elapsed().as_secs_f64()
        ));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depends_lists_each_dependency() {
        let text = "linux-image-amd64\n  Depends: linux-image-6.1.0-56-amd64\n  Recommends: x\n";
        assert_eq!(parse_depends(text), ["linux-image-6.1.0-56-amd64"]);
    }

    #[test]
    fn record_reads_the_first_stanza_only() {
        let text = "Package: linux-image-6.1.0-56-amd64\nVersion: 6.1.192-2\n\
                    Installed-Size: 400652\nSize: 70123456\nSHA256: a86e\n\n\
                    Package: other\nVersion: 9\nSize: 1\nSHA256: ff\n";
        assert_eq!(
            parse_record(text),
            Some(PackageRecord {
                name: "linux-image-6.1.0-56-amd64".into(),
                version: "6.1.192-2".into(),
                sha256: "a86e".into(),
                size: Some(70_123_456),
            })
        );
        assert_eq!(parse_record("Package: x\nVersion: 1\n"), None);
    }
}
