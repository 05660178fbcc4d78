//! Kernel modules: finding the running kernel's module tree, loading and unloading modules.
//!
//! Modules are loaded and unloaded with the system calls `insmod` and `rmmod` make
//! (`finit_module`, `delete_module`), so a failure comes back with the kernel's errno rather than
//! a tool's message. Errors are strings ready to be a case's failure message.

use std::ffi::CString;
use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use drydock_guest::protocol::{GUEST_MOUNT, KERNEL_MODULES};

/// The module tree of the running kernel (laid out as `/lib/modules/<release>`), as the host named
/// it in the run directory.
pub fn module_tree() -> Result<PathBuf, String> {
    let file = Path::new(GUEST_MOUNT).join(KERNEL_MODULES);
    let text = std::fs::read_to_string(&file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let tree = PathBuf::from(text.trim());
    if !tree.is_dir() {
        return Err(format!(
            "{} names {}, which is not a directory",
            file.display(),
            tree.display()
        ));
    }
    Ok(tree)
}

/// Loads the module file `path` with `params` (`name=value` words separated by spaces, as
/// `insmod` takes them).
pub fn load(path: &Path, params: &str) -> Result<(), String> {
    let file = File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let params = CString::new(params).map_err(|_| format!("parameters {params:?} hold a NUL"))?;
    // SAFETY: finit_module reads the open file and the NUL-terminated parameter string.
    let result = unsafe {
        libc::syscall(
            libc::SYS_finit_module,
            file.as_raw_fd(),
            params.as_ptr(),
            0 as libc::c_int,
        )
    };
    if result != 0 {
        return Err(format!(
            "loading {} ({params:?}) failed: {}; the kernel log says why",
            path.display(),
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Unloads module `name`, failing rather than waiting if it is in use.
pub fn unload(name: &str) -> Result<(), String> {
    let c_name = CString::new(name).map_err(|_| format!("module name {name:?} holds a NUL"))?;
    // SAFETY: delete_module reads the NUL-terminated name.
    let result =
        unsafe { libc::syscall(libc::SYS_delete_module, c_name.as_ptr(), libc::O_NONBLOCK) };
    if result != 0 {
        return Err(format!(
            "unloading module {name} failed: {}",
            std::io::Error::last_os_error()
        ));
    }
    Ok(())
}

/// Whether module `name` is loaded.
pub fn is_loaded(name: &str) -> bool {
    Path::new("/sys/module")
        .join(name)
        .join("initstate")
        .exists()
}
