//! What a case does as a person at a shell would: scripts run with the guest's busybox `sh`, and
//! the kernel's file systems mounted where the kernel documents them.

use std::path::Path;
use std::process::Command;

use super::ensure;

/// Runs `script` with `sh` in `dir`, with the environment variables `env` added, and returns what
/// it printed; fails, with its output and its errors, if the script fails.
pub(super) fn run(dir: &Path, script: &str, env: &[(&str, &str)]) -> Result<String, String> {
    let mut sh = Command::new("sh");
    sh.args(["-c", script])
        .current_dir(dir)
        .envs(env.iter().copied());
    output_of(&mut sh).map_err(|e| format!("in {}: {e}", dir.display()))
}

/// Runs `command` and returns what it printed; fails, with its output and its errors, if it fails.
pub(super) fn output_of(command: &mut Command) -> Result<String, String> {
    let output = command
        .output()
        .map_err(|e| format!("cannot run {command:?}: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    ensure!(
        output.status.success(),
        "{command:?} failed ({}): it printed\n{stdout}\nand said\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// Mounts the file system `fstype` (`debugfs`, `configfs`) at `dir`, unless it is mounted there.
pub(super) fn mount_once(fstype: &str, dir: &str) -> Result<(), String> {
    let mounts = std::fs::read_to_string("/proc/mounts")
        .map_err(|e| format!("cannot read /proc/mounts: {e}"))?;
    let mounted = mounts
        .lines()
        .any(|line| line.split(' ').nth(1) == Some(dir));
    if mounted {
        return Ok(());
    }
    let status = Command::new("mount")
        .args(["-t", fstype, fstype, dir])
        .status()
        .map_err(|e| format!("cannot run mount: {e}"))?;
    ensure!(
        status.success(),
        "mounting {fstype} on {dir} failed ({status})"
    );
    Ok(())
}
