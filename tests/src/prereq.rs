//! The Debian packages the harness needs on the host, and installing them.
//!
//! Run as root (as on CI), the harness installs missing packages itself. Run as anyone else, it
//! fails with the exact command that installs them: nothing is skipped.

use std::process::Command;
use std::time::Instant;

use crate::cache::Cache;
use crate::{process, progress, Error, Result};

/// A Debian package the harness needs on the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostPackage {
    /// The package name.
    pub name: &'static str,
    /// What the harness uses it for.
    pub used_for: &'static str,
}

/// Every host package the harness needs.
pub const HOST_PACKAGES: &[HostPackage] = &[
    HostPackage {
        name: "qemu-system-x86",
        used_for: "qemu-system-x86_64, which runs the test guests",
    },
    HostPackage {
        name: "busybox-static",
        used_for: "/bin/busybox, the guest's shell and tools",
    },
    HostPackage {
        name: "xz-utils",
        used_for: "xz, which unpacks the guest kernel for a faster boot",
    },
];

/// The command that installs `packages`, as a person would type it.
pub fn install_command(packages: &[&str]) -> String {
    format!(
        "sudo apt-get install -y --no-install-recommends {}",
        packages.join(" ")
    )
}

/// Makes sure every package in [`HOST_PACKAGES`] is installed.
///
/// Missing packages are installed when running as root; otherwise the error names them and
/// gives the command that installs them. Installation holds a lock in the cache, so several
/// test processes starting at once install only once.
pub fn ensure_host_packages(cache: &Cache) -> Result<()> {
    if missing_packages()?.is_empty() {
        return Ok(());
    }
    if !is_root() {
        return Err(not_root_error(&missing_packages()?));
    }
    let _lock = cache.lock("apt-install")?;
    // Another process may have installed them while we waited for the lock.
    let missing = missing_packages()?;
    if missing.is_empty() {
        return Ok(());
    }
    progress::say(&format!(
        "drydock: installing missing Debian packages: {}",
        missing.join(" ")
    ));
    let start = Instant::now();
    let install = || {
        let mut cmd = apt_get();
        cmd.args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive");
        process::output(&mut cmd)
    };
    // A fresh machine may have no package lists yet, or stale ones that name versions the
    // archive has dropped: refresh them once when the first attempt fails.
    if install().is_err() {
        process::output(apt_get().arg("update"))?;
        install()?;
    }
    let still_missing = missing_packages()?;
    if !still_missing.is_empty() {
        return Err(Error::new(format!(
            "apt-get reported success, but these packages are still not installed: {}",
            still_missing.join(" ")
        )));
    }
    progress::say(&format!(
        "drydock: installed {} in {:.0} s",
        missing.join(" "),
        start.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// The machine's apt-get, waiting for the dpkg lock if another apt (say, unattended upgrades on
/// a freshly booted machine) holds it.
fn apt_get() -> Command {
    let mut cmd = Command::new("apt-get");
    cmd.args(["-o", "DPkg::Lock::Timeout=600"]);
    cmd
}

/// The packages of [`HOST_PACKAGES`] that dpkg does not list as installed.
pub fn missing_packages() -> Result<Vec<&'static str>> {
    let mut missing = Vec::new();
    for package in HOST_PACKAGES {
        // Exits non-zero for packages dpkg has never heard of; that is "missing" too.
        let out = process::run(Command::new("dpkg-query").args([
            "--show",
            "--showformat=${db:Status-Abbrev}",
            package.name,
        ]))
        .map_err(|e| {
            Error::new(format!(
                "{e}\nThe drydock test harness needs a Debian-based host (it uses dpkg and apt)."
            ))
        })?;
        if !String::from_utf8_lossy(&out.stdout).starts_with("ii") {
            missing.push(package.name);
        }
    }
    Ok(missing)
}

fn not_root_error(missing: &[&str]) -> Error {
    let mut message = String::from(
        "the drydock test harness needs these Debian packages, which are not installed:\n",
    );
    for package in HOST_PACKAGES.iter().filter(|p| missing.contains(&p.name)) {
        message.push_str(&format!("  {}: {}\n", package.name, package.used_for));
    }
    message.push_str(&format!(
        "Install them with:\n\n    {}\n\n(Run as root, the harness installs them itself.)",
        install_command(missing)
    ));
    Error::new(message)
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_command_is_copy_pasteable() {
        assert_eq!(
            install_command(&["qemu-system-x86", "busybox-static"]),
            "sudo apt-get install -y --no-install-recommends qemu-system-x86 busybox-static"
        );
    }

    #[test]
    fn not_root_error_names_each_missing_package_and_the_fix() {
        let text = not_root_error(&["busybox-static"]).to_string();
        assert!(text.contains("busybox-static: /bin/busybox"), "{text}");
        assert!(!text.contains("qemu-system-x86:"), "{text}");
        assert!(
            text.contains("    sudo apt-get install -y --no-install-recommends busybox-static\n"),
            "{text}"
        );
    }
}
