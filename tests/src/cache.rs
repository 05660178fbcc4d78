//! The harness's cache directory, and locks that let several test processes share it.
//!
//! The cache lives outside the repository, at `$DRYDOCK_CACHE`, else
//! `$XDG_CACHE_HOME/drydock`, else `$HOME/.cache/drydock`. Every artifact in it is stored under a
//! name derived from what it was built from (a package version and checksum, or a hash of all
//! inputs), so a cache hit always gives the same bytes a rebuild would: the cache saves time and
//! never changes a result. Deleting the directory is always safe.
//!
//! Artifacts are built in a temporary sibling and renamed into place, so a process that dies
//! half-way leaves no half-built artifact behind; locks keep concurrent processes from doing the
//! same work twice.

use std::fs::{self, File};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

use crate::{Context, Error, Result};

/// The cache directory.
#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

impl Cache {
    /// The cache named by the environment (see the module documentation), created if needed.
    pub fn from_env() -> Result<Cache> {
        let env = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = if let Some(dir) = env("DRYDOCK_CACHE") {
            PathBuf::from(dir)
        } else if let Some(dir) = env("XDG_CACHE_HOME") {
            PathBuf::from(dir).join("drydock")
        } else if let Some(home) = env("HOME") {
            PathBuf::from(home).join(".cache/drydock")
        } else {
            return Err(Error::new(
                "cannot place the drydock cache: set DRYDOCK_CACHE (or XDG_CACHE_HOME or HOME)",
            ));
        };
        Cache::at(root)
    }

    /// The cache at `root`, created if needed.
    pub fn at(root: impl Into<PathBuf>) -> Result<Cache> {
        let root = root.into();
        fs::create_dir_all(&root)
            .with_context(|| format!("cannot create the cache directory {}", root.display()))?;
        Ok(Cache { root })
    }

    /// The cache's root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The subdirectory `name` of the cache, created if needed.
    pub fn dir(&self, name: &str) -> Result<PathBuf> {
        let dir = self.root.join(name);
        fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the cache directory {}", dir.display()))?;
        Ok(dir)
    }

    /// Takes the exclusive lock `name`, waiting for any other holder. The lock is released when
    /// the returned guard is dropped, or when the process dies.
    pub fn lock(&self, name: &str) -> Result<CacheLock> {
        let path = self.dir("locks")?.join(format!("{name}.lock"));
        let file = File::create(&path)
            .with_context(|| format!("cannot open the lock file {}", path.display()))?;
        file.lock()
            .with_context(|| format!("cannot lock {}", path.display()))?;
        Ok(CacheLock { _file: file })
    }
}

/// A held cache lock; see [`Cache::lock`].
#[derive(Debug)]
pub struct CacheLock {
    _file: File,
}

/// A fresh path next to `target` to build it in before [`publish`]ing it.
pub fn staging_path(target: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    target.with_file_name(format!(".{name}.partial-{}-{n}", std::process::id()))
}

/// Moves the finished artifact `staged` (a file or a directory) to `target` in one step.
pub fn publish(staged: &Path, target: &Path) -> Result<()> {
    fs::rename(staged, target).with_context(|| {
        format!(
            "cannot move {} into place as {}",
            staged.display(),
            target.display()
        )
    })
}

/// Removes a file or directory tree, if it exists.
pub fn remove_all(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// An incremental SHA-256 over labelled inputs, for naming cached artifacts by what they are
/// built from.
#[derive(Default)]
pub struct Fingerprint {
    hasher: Sha256,
}

impl Fingerprint {
    /// A fingerprint of nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one input. The label and length are hashed too, so inputs cannot run into each other.
    pub fn add(&mut self, label: &str, data: &[u8]) -> &mut Self {
        for part in [label.as_bytes(), data] {
            self.hasher.update((part.len() as u64).to_le_bytes());
            self.hasher.update(part);
        }
        self
    }

    /// The fingerprint as lower-case hex.
    pub fn hex(&self) -> String {
        hex(&self.hasher.clone().finalize())
    }
}

/// The SHA-256 of `data`, as lower-case hex.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

/// The SHA-256 of the file at `path`, as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_matches_the_standard_test_vector() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn fingerprints_separate_inputs() {
        let a = Fingerprint::new().add("x", b"ab").add("y", b"c").hex();
        let b = Fingerprint::new().add("x", b"a").add("y", b"bc").hex();
        let c = Fingerprint::new().add("x", b"ab").add("y", b"c").hex();
        assert_ne!(a, b);
        assert_eq!(a, c);
    }

    #[test]
    fn staging_paths_are_hidden_siblings() {
        let target = Path::new("/cache/kernels/linux");
        let a = staging_path(target);
        let b = staging_path(target);
        assert_ne!(a, b);
        assert_eq!(a.parent(), target.parent());
        assert!(a
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(".linux.partial-"));
    }
}
