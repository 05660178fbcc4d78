//! Mounting one of the process's trees (debugfs, configfs) in a test: the test fails where FUSE
//! is not usable, unless the run says to skip what needs it.

use std::path::Path;
use std::process::Command;

use drydock_host::pseudofs::{self, Mount, Tree};

/// The environment variable that, set to `1`, lets a test go on without its FUSE part where FUSE
/// is not usable; otherwise such a test fails, so that nothing is skipped silently.
pub const SKIP_FUSE_ENV: &str = "DRYDOCK_SKIP_FUSE_TESTS";

/// Mounts tree `T` (`drydock_host::debugfs::Debugfs`, `drydock_host::configfs::Configfs`) at
/// `dir` with FUSE, for a test that uses it through the file system.
///
/// Returns `None` where FUSE is not usable and [`SKIP_FUSE_ENV`] is `1`, after saying on standard
/// error that the FUSE part is skipped and why.
///
/// # Panics
///
/// Where FUSE is not usable and [`SKIP_FUSE_ENV`] is not `1`, naming the mount's error and what to
/// do.
pub fn mount_or_skip<T: Tree>(dir: &Path) -> Option<Mount> {
    match pseudofs::mount::<T>(dir) {
        Ok(mount) => Some(mount),
        Err(err) if std::env::var_os(SKIP_FUSE_ENV).is_some_and(|v| v == "1") => {
            eprintln!("{SKIP_FUSE_ENV}=1: the FUSE part is skipped ({err})");
            None
        }
        Err(err) => panic!(
            "FUSE is not usable here ({err}): run the tests as root on a machine with /dev/fuse, \
             or set {SKIP_FUSE_ENV}=1 to skip the parts that mount a tree with FUSE"
        ),
    }
}

/// Runs `script` with `sh` in `dir` (a directory of a mounted tree), as a person at a shell would;
/// returns its standard output.
///
/// # Panics
///
/// If `sh` cannot run or the script fails, with its standard error.
pub fn shell(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "`{script}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("the script writes text")
}
