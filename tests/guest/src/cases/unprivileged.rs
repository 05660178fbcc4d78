//! A driver without root: `drydock bind --user` hands edu's VFIO nodes to an unprivileged uid, the
//! edu driver runs as that uid and drives edu, and a uid the nodes were not handed to is told
//! the one command that fixes it, by `drydock check` and by the driver itself.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use drydock_guest::layout::{self, Role};

use super::cli::{drydock_as, succeeds};
use super::driver_process::{beside_me, DriverProcess};
use super::{ensure, CaseResult};
use crate::sysfs;

/// The uid (and gid) edu is handed to. No name: the guest has no password database, and drydock
/// spells a user without a name as its number.
const DRIVER_UID: u32 = 4242;

/// Another unprivileged uid, which is handed nothing.
const OTHER_UID: u32 = 4243;

/// The debugfs and configfs mounts are root's business here: the case is about the device.
const NO_MOUNTS: &[(&str, &str)] = &[("DRYDOCK_DEBUGFS", "off"), ("DRYDOCK_CONFIGFS", "off")];

/// Where the binaries the unprivileged uids run are copied: the host's tree, shared read-only,
/// may be closed to them (a checkout in a home directory), the guest's own root is not.
const COPIES: &str = "/tmp/drydock-unprivileged";

/// Copies the binary `name` built next to this one to [`COPIES`], open to every user.
fn copy_for_everyone(name: &str) -> Result<PathBuf, String> {
    let dir = Path::new(COPIES);
    let copy = dir.join(name);
    let original = beside_me(name)?;
    std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)))
        .and_then(|()| std::fs::copy(&original, &copy).map(drop))
        .and_then(|()| std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)))
        .map_err(|e| format!("copying {name} to {COPIES}: {e}"))?;
    Ok(copy)
}

/// Text with its runs of white space (the check's line wrapping) made single spaces.
fn unwrapped(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// edu to vfio-pci, as root would bind it; then, as [`OTHER_UID`]: `drydock check` names the
/// missing node and `drydock bind --user 4243 BDF` as its fix, and `edu self_test=1 BDF` exits
/// with status 1 and one error line naming the same command. `drydock bind --user 4242 BDF`
/// hands the nodes over (and says what it changed); as [`DRIVER_UID`], `drydock check` is ready
/// and `edu self_test=1 BDF` passes its self-test (factorials, a DMA round trip, interrupts) and
/// stops cleanly on SIGTERM. `drydock unbind` gives the nodes back to root with the device.
pub fn edu_driver_runs_without_root() -> CaseResult {
    let edu = layout::device(Role::Edu).address();
    if sysfs::driver(&edu).as_deref() == Some("vfio-pci") {
        succeeds(&["unbind", &edu])?;
    }
    succeeds(&["bind", &edu])?;
    let (drydock, edu_binary) = (copy_for_everyone("drydock")?, copy_for_everyone("edu")?);

    // Not handed over: check and the driver both name the fix.
    let fix = format!("drydock bind --user {OTHER_UID} {edu}");
    let check = drydock_as(Some(OTHER_UID), &drydock, &["check", &edu])?;
    ensure!(
        check.code == Some(1),
        "check as uid {OTHER_UID} should say not ready: {check:?}"
    );
    let report = unwrapped(&check.out);
    ensure!(
        report.contains(&format!("fix: as root, run `{fix}`")),
        "check as uid {OTHER_UID} does not give `{fix}` as the fix"
    );
    println!("(as uid {OTHER_UID}) $ edu self_test=1 {edu}");
    let refused = DriverProcess::start_as(
        Some(OTHER_UID),
        &edu_binary,
        &["self_test=1", &edu],
        NO_MOUNTS,
    )?;
    let (status, log) = refused.wait_exit()?;
    ensure!(
        status.code() == Some(1),
        "edu without the nodes exited with {status}, not 1"
    );
    let errors: Vec<&String> = log.iter().filter(|l| l.contains("ERROR")).collect();
    ensure!(
        errors.len() == 1 && errors[0].contains(&format!("`{fix}`")),
        "edu without the nodes should fail in one error line naming `{fix}`: {errors:?}"
    );

    // Handed over: ready, and the driver drives edu.
    let given = succeeds(&["bind", "--user", &DRIVER_UID.to_string(), &edu])?;
    ensure!(
        given.contains(&format!("{edu}: /dev/vfio/")) && given.contains("-> 4242:"),
        "`drydock bind --user` does not say which nodes it handed over: {given}"
    );
    let check = drydock_as(Some(DRIVER_UID), &drydock, &["check", &edu])?;
    ensure!(
        check.code == Some(0),
        "check as uid {DRIVER_UID} after `drydock bind --user` is not ready: {check:?}"
    );
    println!("(as uid {DRIVER_UID}) $ edu self_test=1 {edu}");
    let mut driver = DriverProcess::start_as(
        Some(DRIVER_UID),
        &edu_binary,
        &["self_test=1", &edu],
        NO_MOUNTS,
    )?;
    driver.wait_for_line("self-test: DMA round trip of 4095 bytes identical")?;
    driver.wait_for_line(&format!("{edu}: bound to"))?;
    let owner = std::fs::read_to_string(format!("/proc/{}/status", driver.pid()))
        .map_err(|e| format!("reading the driver's status: {e}"))?;
    let uid_line = owner.lines().find(|l| l.starts_with("Uid:")).unwrap_or("");
    ensure!(
        uid_line.split_whitespace().skip(1).all(|id| id == "4242"),
        "the driver does not run as uid {DRIVER_UID}: {uid_line}"
    );
    driver.stop_with(libc::SIGTERM)?;

    // Given back: the nodes are root's again, and the device has no driver, as before.
    let back = succeeds(&["unbind", &edu])?;
    ensure!(
        back.contains("-> root:") || back.contains("-> 0:"),
        "`drydock unbind` does not give the nodes back to root: {back}"
    );
    ensure!(sysfs::driver(&edu).is_none(), "edu kept a driver");
    Ok(())
}
