//! debugfs from a shell: Linux's `rust_debugfs_scoped` sample in the kernel, its files under
//! `/sys/kernel/debug`, and the same file built as a drydock process, its files on the process's
//! FUSE mount. One shell script creates, reads, writes and removes the sample's files in each;
//! both must print the same, and what the script expects.

use std::path::{Path, PathBuf};
use std::time::Duration;

use drydock_guest::protocol::SAMPLE_MODULES_DIR;

use super::driver_process::DriverProcess;
use super::{ensure, shell, CaseResult};
use crate::{modules, sysfs};

/// The sample's module, binary and top directory.
const MODULE: &str = "rust_debugfs_scoped";
const TOP: &str = "rust_scoped_debugfs";
/// Where debugfs is mounted for the in-kernel run.
const KERNEL_DEBUGFS: &str = "/sys/kernel/debug";
/// Where the drydock run mounts its tree (`DRYDOCK_DEBUGFS`).
const DRYDOCK_DEBUGFS: &str = "/run/drydock-test/debugfs";
/// How long the drydock process may take to mount its tree.
const MOUNT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a person does with the sample's files, run in its top directory: two devices created
/// through `control/create` (a name and numbers), their number files read and written, a blob
/// read and patched at an offset, the modes listed, a write the sample refuses, one device
/// removed through `control/remove`.
const SCRIPT: &str = "\
ls -1 control
echo 'dev0 1 2' > control/create
echo 'dev1 3' > control/create
ls -1 dynamic
ls -1 dynamic/dev0
cat dynamic/dev0/0 dynamic/dev0/1 dynamic/dev1/0
echo 7 > dynamic/dev0/1
cat dynamic/dev0/1
stat -c '%a %n' control/create dynamic/dev0/0 dynamic/dev0/blob
head -c 4 dynamic/dev0/blob | od -An -tx1
printf 'AB' | dd of=dynamic/dev0/blob bs=1 seek=1 conv=notrunc 2>/dev/null
head -c 4 dynamic/dev0/blob | od -An -tx1
echo nonsense > dynamic/dev1/0 2>/dev/null; echo \"status of a non-number: $?\"
echo dev0 > control/remove
ls -1 dynamic
";

/// What [`SCRIPT`] prints.
const EXPECTED: &str = "\
create
remove
dev0
dev1
0
1
blob
1
2
3
7
200 control/create
600 dynamic/dev0/0
600 dynamic/dev0/blob
 42 42 42 42
 42 41 42 42
status of a non-number: 1
dev1
";

/// The sample in the kernel and through drydock, driven by the same script.
pub fn in_kernel_rust_debugfs_scoped() -> CaseResult {
    let in_kernel = kernel_run()?;
    let drydock = drydock_run()?;
    println!("--- in the kernel ---\n{in_kernel}--- through drydock ---\n{drydock}");
    ensure!(
        in_kernel == EXPECTED,
        "in the kernel, the script printed\n{in_kernel}\nrather than\n{EXPECTED}"
    );
    ensure!(
        drydock == in_kernel,
        "through drydock, the script printed\n{drydock}\nrather than, as in the kernel,\n{in_kernel}"
    );
    Ok(())
}

/// Loads the sample's module, runs the script in its directory of debugfs, unloads it.
fn kernel_run() -> Result<String, String> {
    let debugfs = Path::new(KERNEL_DEBUGFS);
    shell::mount_once("debugfs", KERNEL_DEBUGFS)?;
    let ko = modules::module_tree()?
        .join(SAMPLE_MODULES_DIR)
        .join(format!("{MODULE}.ko"));
    modules::load(&ko, "")?;
    let output = shell::run(&debugfs.join(TOP), SCRIPT, &[]);
    let unloaded = modules::unload(MODULE);
    let output = output?;
    unloaded?;
    ensure!(
        !debugfs.join(TOP).exists(),
        "{TOP} is still in {KERNEL_DEBUGFS} after unloading {MODULE}"
    );
    Ok(output)
}

/// Runs the sample as a drydock process with its tree at [`DRYDOCK_DEBUGFS`], runs the script there,
/// stops the process.
fn drydock_run() -> Result<String, String> {
    println!("$ DRYDOCK_DEBUGFS={DRYDOCK_DEBUGFS} {MODULE}");
    let process = DriverProcess::start(
        MODULE,
        &[],
        &[
            ("DRYDOCK_DEBUGFS", DRYDOCK_DEBUGFS),
            ("DRYDOCK_LOG", "info"),
        ],
    )?;
    let top = PathBuf::from(DRYDOCK_DEBUGFS).join(TOP);
    let mounted = sysfs::wait_for(MOUNT_TIMEOUT, || top.join("control").exists().then_some(()));
    let output = match mounted {
        Some(()) => shell::run(&top, SCRIPT, &[]),
        None => Err(format!(
            "{} did not appear within {MOUNT_TIMEOUT:?}",
            top.display()
        )),
    };
    let stopped = process.stop_with(libc::SIGTERM);
    let output = output?;
    stopped?;
    ensure!(
        !top.exists(),
        "{} is still there after the process stopped",
        top.display()
    );
    Ok(output)
}
