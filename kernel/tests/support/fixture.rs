//! Fixture crates that depend on the `kernel` crate, written under the test's target directory and
//! built with cargo, for the checks that need a build of their own.

use std::path::Path;

/// Writes `contents` to `path` unless it holds them already, so that cargo's fingerprints hold
/// between runs.
pub(crate) fn write_if_changed(path: &Path, contents: &str) {
    if std::fs::read_to_string(path).ok().as_deref() != Some(contents) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }
}

/// Copies the workspace's lock file into `dir` once, so the fixture builds with the versions the
/// `kernel` crate was tested with.
pub(crate) fn copy_lock_file(dir: &Path) {
    let kernel = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lock = std::fs::read_to_string(kernel.join("../Cargo.lock")).expect("workspace Cargo.lock");
    if !dir.join("Cargo.lock").exists() {
        write_if_changed(&dir.join("Cargo.lock"), &lock);
    }
}
