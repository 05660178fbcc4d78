//! What answers when a [`Sysfs`] tree's binding files are written and modules are asked for.
//!
//! On a running system the kernel does: a write to a driver's `bind` file probes the device, a
//! module load registers drivers. A tree in a temporary directory has no kernel behind it, so
//! the same calls go through a [`Kernel`]: [`RunningKernel`] for the real system, [`NoKernel`]
//! for a tree nothing reacts to, and the test support crate's `SimulatedKernel` for a fake tree
//! that behaves like the kernel.

use std::fmt;
use std::path::Path;
use std::process::Command;

use super::{file_error, Sysfs};
use crate::error::HostError;

/// What carries out writes to a tree and module loads.
pub trait Kernel: Send + Sync + fmt::Debug {
    /// Writes `value` to `file` (a path under `sysfs`'s root) and does what the kernel does in
    /// answer. Errors are those a real write returns, with the file named.
    fn write(&self, sysfs: &Sysfs, file: &Path, value: &str) -> Result<(), HostError>;

    /// Loads kernel module `name`, a module name or a device's `modalias` (as `modprobe`
    /// accepts), with its dependencies. Loading a loaded module succeeds.
    fn load_module(&self, sysfs: &Sysfs, name: &str) -> Result<(), HostError>;
}

/// The running kernel: writes go to the real files, modules are loaded with `modprobe`.
#[derive(Debug)]
pub struct RunningKernel;

impl Kernel for RunningKernel {
    fn write(&self, _sysfs: &Sysfs, file: &Path, value: &str) -> Result<(), HostError> {
        plain_write(file, value)
    }

    fn load_module(&self, _sysfs: &Sysfs, name: &str) -> Result<(), HostError> {
        let output = Command::new("modprobe").arg(name).output();
        let reason = match output {
            Ok(output) if output.status.success() => return Ok(()),
            Ok(output) => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                let first = stderr.lines().next().unwrap_or("").trim().to_owned();
                if first.is_empty() {
                    format!("modprobe ended with {}", output.status)
                } else {
                    first
                }
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                "modprobe is not installed (Debian and Ubuntu: `apt-get install kmod`)".to_owned()
            }
            Err(err) => format!("cannot run modprobe: {err}"),
        };
        Err(HostError::ModuleLoad {
            module: name.to_owned(),
            reason,
        })
    }
}

/// No kernel: writes only change the files, and modules cannot be loaded. For a tree copied or
/// laid out for reading ([`Sysfs::at`]).
#[derive(Debug)]
pub struct NoKernel;

impl Kernel for NoKernel {
    fn write(&self, _sysfs: &Sysfs, file: &Path, value: &str) -> Result<(), HostError> {
        plain_write(file, value)
    }

    fn load_module(&self, sysfs: &Sysfs, name: &str) -> Result<(), HostError> {
        Err(HostError::ModuleLoad {
            module: name.to_owned(),
            reason: format!(
                "the tree at {} has no kernel behind it; create {} to show the module as loaded",
                sysfs.root().display(),
                sysfs
                    .path("sys/module")
                    .join(name.replace('-', "_"))
                    .display()
            ),
        })
    }
}

/// Writes `value` to `file`, the error naming the file and what to do.
pub fn plain_write(file: &Path, value: &str) -> Result<(), HostError> {
    std::fs::write(file, value)
        .map_err(|err| file_error(&format!("writing `{value}` to"), file, err))
}
