//! The proof kernel: Linux 7.3 with the drivers `tests/kernel/drivers` lists built in its tree as
//! modules.
//!
//! `tests/kernel/build` is the one implementation of everything about that kernel (fetching Debian's
//! `linux-source-7.3`, the toolchain, configuring, copying the driver files, building, caching in
//! `<cache>/kernel`; see `docs/kernel-proof.md`). The harness runs it and reads what it left: the
//! output directory's `manifest`, `bzImage` and module tree. The command's progress is copied to
//! this process's standard error as it runs, so a cold build (many minutes) shows what it does;
//! when it fails, the error holds what it printed, with the compiler's diagnostics.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::cache::Cache;
use crate::kernel::GuestKernel;
use crate::{process, Context, Error, Result};

/// The command, relative to the workspace root.
pub const COMMAND: &str = "tests/kernel/build";

/// A built proof kernel: the command's output directory.
#[derive(Debug, Clone)]
pub struct ProofKernel {
    /// The output directory (`<target>/kernel`).
    pub dir: PathBuf,
    /// The kernel release (`7.3.4`).
    pub release: String,
    /// The module tree, laid out as `lib/modules/<release>` of an installed kernel.
    pub module_tree: PathBuf,
}

impl ProofKernel {
    /// The bootable image.
    pub fn image(&self) -> PathBuf {
        self.dir.join("bzImage")
    }
}

/// Builds the proof kernel, or finds it up to date, with the cache `cache`.
pub fn build(cache: &Cache) -> Result<ProofKernel> {
    read_manifest(PathBuf::from(last_line(run(cache, &[])?)?))
}

/// Reads the output directory `dir` through its `manifest`.
fn read_manifest(dir: PathBuf) -> Result<ProofKernel> {
    let manifest = dir.join("manifest");
    let text = std::fs::read_to_string(&manifest)
        .with_context(|| format!("cannot read {}", manifest.display()))?;
    let field = |name: &str| {
        text.lines()
            .take_while(|l| *l != "inputs")
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .map(str::to_owned)
            .ok_or_else(|| Error::new(format!("{} has no `{name}` line", manifest.display())))
    };
    let release = field("release")?;
    let module_tree = dir.join(field("module-tree")?);
    Ok(ProofKernel {
        dir,
        release,
        module_tree,
    })
}

/// The proof kernel as a guest kernel, built on the first call in this process; later calls (the
/// other profiles that boot it) share the first one's result, success or failure.
pub fn guest_kernel(cache: &Cache) -> Result<GuestKernel> {
    static BUILT: Mutex<Vec<(PathBuf, Result<GuestKernel, String>)>> = Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, result)) = built.iter().find(|(root, _)| root == cache.root()) {
        return result.clone().map_err(Error::new);
    }
    let result = build(cache).and_then(|kernel| {
        GuestKernel::new(
            format!(
                "Linux {} proof kernel ({COMMAND}, its drivers as modules)",
                kernel.release
            ),
            kernel.image(),
            kernel.module_tree,
        )
    });
    let shared = result
        .as_ref()
        .map(Clone::clone)
        .map_err(ToString::to_string);
    built.push((cache.root().to_owned(), shared));
    result
}

/// The source tarball of Debian's `linux-source-7.3`, fetched into the cache if needed (the
/// command's `--source`).
pub fn source_tarball(cache: &Cache) -> Result<PathBuf> {
    last_line(run(cache, &["--source".as_ref()])?).map(PathBuf::from)
}

/// Builds each driver file of `files` as a module against the proof kernel's tree, exactly as the
/// proof builds `drivers/`, in a scratch directory (the command's `--check`). The error holds the
/// compiler's diagnostics, which name each file by the path given.
pub fn check(cache: &Cache, files: &[&Path]) -> Result<()> {
    let mut args = vec!["--check".as_ref()];
    args.extend(files.iter().map(|f| f.as_os_str()));
    run(cache, &args).map(drop)
}

/// The last line of the command's standard output: the path it reports.
fn last_line(stdout: String) -> Result<String> {
    process::last_line(COMMAND, &stdout)
}

/// Runs the command with `args` and the cache `cache` ([`process::build_script`]).
fn run(cache: &Cache, args: &[&std::ffi::OsStr]) -> Result<String> {
    process::build_script(COMMAND, cache, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_manifest_names_the_release_and_the_module_tree() {
        let dir =
            std::env::temp_dir().join(format!("drydock-proof-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // An input line that looks like a field must not be taken for one.
        std::fs::write(
            dir.join("manifest"),
            "# drydock proof kernel\nrelease 7.3.4\ntree /cache/kernel/tree\n\
             module-tree lib/modules/7.3.4\ninputs\nrelease 9.9\n",
        )
        .unwrap();
        let kernel = read_manifest(dir.clone()).unwrap();
        assert_eq!(kernel.release, "7.3.4");
        assert_eq!(kernel.module_tree, dir.join("lib/modules/7.3.4"));
        assert_eq!(kernel.image(), dir.join("bzImage"));

        std::fs::write(
            dir.join("manifest"),
            "release 7.3.4\ninputs\nmodule-tree x\n",
        )
        .unwrap();
        let err = read_manifest(dir.clone()).unwrap_err().to_string();
        assert!(err.contains("has no `module-tree` line"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
