//! Firmware loading: `request_firmware()` and its variants, from the kernel's search path.
//!
//! In the kernel, a driver asks the firmware loader for a file by name (`"vendor/chip/fw.bin"`),
//! and the loader looks for it in a fixed list of directories, in order, taking the first file it
//! can read (`fw_get_filesystem_firmware()` in `drivers/base/firmware_loader/main.c`):
//!
//! 1. the directory an administrator set with the `firmware_class.path` parameter, if any;
//! 2. `/lib/firmware/updates/$(uname -r)`;
//! 3. `/lib/firmware/updates`;
//! 4. `/lib/firmware/$(uname -r)`;
//! 5. `/lib/firmware`.
//!
//! A driver process does the same, in its own mount namespace, with the running kernel's release
//! for `$(uname -r)` and, for the first directory, the running kernel's parameter
//! (`/sys/module/firmware_class/parameters/path`): a file the kernel would load, the process
//! loads. The environment variable [`PATH_ENV`] (`DRYDOCK_FIRMWARE_PATH`) overrides that first
//! directory for the process (set but empty, it removes it), as booting with
//! `firmware_class.path=` would.
//!
//! A name that is empty, or that has a `..` component, is refused with `EINVAL`. A file that is
//! not found anywhere is `ENOENT`; a file that cannot be read (not a regular file, empty, too
//! large for the caller's buffer: `EINVAL`, `EINVAL`, `EFBIG`) does not stop the search, and the
//! error of the last directory tried is the result, as in the kernel. A failed request is logged
//! as the kernel logs it, `Direct firmware load for NAME failed with error -2`, at warning level
//! against the device, unless the request was made with [`firmware_request_nowarn`].
//!
//! Differences from the kernel: there is no fallback to a userspace helper (Debian's kernels have
//! `CONFIG_FW_LOADER_USER_HELPER` off too), no built-in firmware, no firmware cache across suspend,
//! and no decompression of `NAME.xz` or `NAME.zst` files.
//!
//! Tests choose the directories with [`SearchPath::under`] and [`SearchPath::scoped`], which
//! apply to the requests made on the current thread.

use std::cell::RefCell;
use std::ffi::{CStr, OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::marker::PhantomData;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::device::RawDevice;
use crate::errno::Errno;
use crate::print::{dev_printk, Level};

/// The environment variable that overrides `firmware_class.path` for the process: the directory
/// searched first. Set but empty, no directory is searched before the standard ones.
pub const PATH_ENV: &str = "DRYDOCK_FIRMWARE_PATH";

/// Where the running kernel shows its `firmware_class.path` parameter.
const PATH_PARAMETER: &str = "/sys/module/firmware_class/parameters/path";

/// The longest path the loader builds, with its NUL (`PATH_MAX`).
const PATH_MAX: usize = 4096;

/// The largest image the loader reads into a buffer of its own (`INT_MAX`).
const MAX_IMAGE: u64 = i32::MAX as u64;

/// The directories a request searches, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchPath {
    dirs: Vec<PathBuf>,
}

impl SearchPath {
    /// The kernel's search path on this machine: the custom directory ([`PATH_ENV`], else the
    /// running kernel's `firmware_class.path`), then the four standard directories for the
    /// running kernel's release.
    pub fn system() -> SearchPath {
        let custom = custom_directory(std::env::var_os(PATH_ENV), Path::new(PATH_PARAMETER));
        let release = nix::sys::utsname::uname()
            .map(|name| name.release().to_os_string())
            .unwrap_or_default();
        Self::under(
            Path::new("/"),
            custom.as_deref().map(Path::new),
            &release.to_string_lossy(),
        )
    }

    /// The search path of a machine whose root directory is `root`, running kernel release
    /// `release`, with `custom` as its `firmware_class.path` (the kernel ignores what follows a
    /// newline in it, and an empty one).
    pub fn under(root: &Path, custom: Option<&Path>, release: &str) -> SearchPath {
        let custom = custom
            .map(|path| {
                let bytes = path.as_os_str().as_bytes();
                let end = bytes
                    .iter()
                    .position(|&b| b == b'\n')
                    .unwrap_or(bytes.len());
                PathBuf::from(OsStr::from_bytes(&bytes[..end]))
            })
            .filter(|path| !path.as_os_str().is_empty());
        let firmware = root.join("lib/firmware");
        let standard = [
            firmware.join("updates").join(release),
            firmware.join("updates"),
            firmware.join(release),
            firmware,
        ];
        SearchPath {
            dirs: custom.into_iter().chain(standard).collect(),
        }
    }

    /// The directories, in the order they are searched.
    pub fn dirs(&self) -> &[PathBuf] {
        &self.dirs
    }

    /// Makes this the search path of the requests made on the current thread, until the returned
    /// guard is dropped (for tests, which run in parallel threads of one process).
    pub fn scoped(self) -> ScopedSearchPath {
        let previous = SCOPED.with(|scoped| scoped.borrow_mut().replace(self));
        ScopedSearchPath {
            previous,
            _thread: PhantomData,
        }
    }

    /// The search path of a request made now on this thread.
    fn current() -> SearchPath {
        SCOPED
            .with(|scoped| scoped.borrow().clone())
            .unwrap_or_else(SearchPath::system)
    }
}

/// The custom directory's setting: the environment's value if it is set, else the content of the
/// kernel's parameter file.
fn custom_directory(environment: Option<OsString>, parameter: &Path) -> Option<OsString> {
    environment.or_else(|| std::fs::read(parameter).ok().map(OsString::from_vec))
}

thread_local! {
    /// The search path set by [`SearchPath::scoped`] on this thread.
    static SCOPED: RefCell<Option<SearchPath>> = const { RefCell::new(None) };
}

/// The current thread's search path, set by [`SearchPath::scoped`], until dropped.
#[must_use = "the search path applies only while the guard lives"]
pub struct ScopedSearchPath {
    previous: Option<SearchPath>,
    /// Keeps the guard on the thread whose search path it set.
    _thread: PhantomData<*const ()>,
}

impl Drop for ScopedSearchPath {
    fn drop(&mut self) {
        let previous = self.previous.take();
        SCOPED.with(|scoped| *scoped.borrow_mut() = previous);
    }
}

/// A loaded firmware image (the kernel's `struct firmware`), until [`release_firmware`].
pub struct Firmware {
    data: Box<[u8]>,
}

impl Firmware {
    /// The image's size in bytes (`firmware::size`).
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// The image (`firmware::data`).
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}

/// Loads the firmware file `name` for `device` (`request_firmware()`); a failure is logged
/// against the device.
pub fn request_firmware(name: &CStr, device: &RawDevice) -> Result<Firmware, Errno> {
    let mut data = None;
    request(name, device, Destination::Allocate(&mut data), Warn::Yes)?;
    Ok(Firmware {
        data: data.unwrap_or_default(),
    })
}

/// Loads the firmware file `name` for `device`, for a driver that can do without it
/// (`firmware_request_nowarn()`): as [`request_firmware`], but a failure is not logged.
pub fn firmware_request_nowarn(name: &CStr, device: &RawDevice) -> Result<Firmware, Errno> {
    let mut data = None;
    request(name, device, Destination::Allocate(&mut data), Warn::No)?;
    Ok(Firmware {
        data: data.unwrap_or_default(),
    })
}

/// Loads the firmware file `name` for `device` into `buf` (`request_firmware_into_buf()`) and
/// returns the image's size; the bytes of `buf` past it are left as they were. An image larger
/// than `buf` is not loaded (`EFBIG`).
pub fn request_firmware_into_buf(
    name: &CStr,
    device: &RawDevice,
    buf: &mut [u8],
) -> Result<usize, Errno> {
    request(name, device, Destination::Buffer(buf), Warn::Yes)
}

/// Releases a loaded image (`release_firmware()`).
pub fn release_firmware(firmware: Firmware) {
    drop(firmware);
}

/// Where a request puts the image.
enum Destination<'a> {
    /// In memory the loader allocates, stored here.
    Allocate(&'a mut Option<Box<[u8]>>),
    /// In the caller's buffer.
    Buffer(&'a mut [u8]),
}

/// Whether a failed request is logged (the kernel's `FW_OPT_NO_WARN` unset).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Warn {
    Yes,
    No,
}

/// The kernel's `_request_firmware()` for a direct load: checks the name, then searches.
fn request(
    name: &CStr,
    device: &RawDevice,
    mut destination: Destination<'_>,
    warn: Warn,
) -> Result<usize, Errno> {
    let name_text = name.to_string_lossy();
    if name.is_empty() {
        return Err(Errno::EINVAL);
    }
    if name
        .to_bytes()
        .split(|&b| b == b'/')
        .any(|part| part == b"..")
    {
        // Refused whatever the request's options, as the kernel does.
        dev_printk(
            device,
            Level::Warning,
            format_args!("Firmware load for '{name_text}' refused, path contains '..' component"),
        );
        return Err(Errno::EINVAL);
    }
    let result = search(
        &SearchPath::current(),
        OsStr::from_bytes(name.to_bytes()),
        device,
        &mut destination,
        warn,
    );
    if let (Err(err), Warn::Yes) = (result, warn) {
        dev_printk(
            device,
            Level::Warning,
            format_args!(
                "Direct firmware load for {name_text} failed with error {}",
                err.to_errno()
            ),
        );
    }
    result
}

/// Tries each directory of `path` in order (`fw_get_filesystem_firmware()`): the first file read
/// wins; otherwise the error of the last one tried.
fn search(
    path: &SearchPath,
    name: &OsStr,
    device: &RawDevice,
    destination: &mut Destination<'_>,
    warn: Warn,
) -> Result<usize, Errno> {
    let mut last = Errno::ENOENT;
    for dir in path.dirs() {
        // The kernel joins with a `/` whatever the directory ends with.
        let mut file = dir.as_os_str().to_os_string();
        file.push("/");
        file.push(name);
        if file.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let file = PathBuf::from(file);
        match read_image(&file, destination) {
            Ok(size) => {
                let shown = file.display();
                dev_printk(
                    device,
                    Level::Debug,
                    format_args!("Loading firmware from {shown}"),
                );
                return Ok(size);
            }
            Err(err) => {
                let shown = file.display();
                if warn == Warn::No {
                    // Nothing is logged for an optional image.
                } else if err == Errno::ENOENT {
                    dev_printk(
                        device,
                        Level::Debug,
                        format_args!("loading {shown} failed for no such file or directory."),
                    );
                } else {
                    dev_printk(
                        device,
                        Level::Warning,
                        format_args!("loading {shown} failed with error {}", err.to_errno()),
                    );
                }
                last = err;
            }
        }
    }
    Err(last)
}

/// Reads the whole file at `path` into `destination` (`kernel_read_file()`); returns its size.
fn read_image(path: &Path, destination: &mut Destination<'_>) -> Result<usize, Errno> {
    let mut file = File::open(path).map_err(|err| Errno::from_io(&err))?;
    let metadata = file.metadata().map_err(|err| Errno::from_io(&err))?;
    if !metadata.is_file() || metadata.len() == 0 {
        return Err(Errno::EINVAL);
    }
    let limit = match destination {
        Destination::Allocate(_) => MAX_IMAGE,
        Destination::Buffer(buf) => buf.len() as u64,
    };
    if metadata.len() > limit {
        return Err(Errno::EFBIG);
    }
    // CAST: at most `limit`, which is a buffer length or fits an `i32`.
    let size = metadata.len() as usize;
    let mut read_into = |target: &mut [u8]| -> Result<(), Errno> {
        file.read_exact(target).map_err(|err| match err.kind() {
            // The file shrank while it was read.
            std::io::ErrorKind::UnexpectedEof => Errno::EIO,
            _ => Errno::from_io(&err),
        })
    };
    match destination {
        Destination::Allocate(data) => {
            let mut image = vec![0; size].into_boxed_slice();
            read_into(&mut image)?;
            **data = Some(image);
        }
        Destination::Buffer(buf) => read_into(&mut buf[..size])?,
    }
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_overrides_the_kernel_parameter() {
        let parameter =
            std::env::temp_dir().join(format!("drydock-fw-path-{}", std::process::id()));
        std::fs::write(&parameter, "/opt/fw\n").unwrap();
        let from = |env: Option<&str>| custom_directory(env.map(OsString::from), &parameter);
        assert_eq!(from(None), Some(OsString::from("/opt/fw\n")));
        assert_eq!(from(Some("/srv/fw")), Some(OsString::from("/srv/fw")));
        // Set but empty, the variable removes the custom directory.
        assert_eq!(from(Some("")), Some(OsString::new()));
        let root = Path::new("/");
        let dirs = |custom: Option<OsString>| {
            SearchPath::under(root, custom.as_deref().map(Path::new), "7.3.0").dirs
        };
        assert_eq!(dirs(from(Some(""))).len(), 4);
        // The kernel stops at the parameter's newline.
        assert_eq!(dirs(from(None))[0], Path::new("/opt/fw"));
        std::fs::remove_file(&parameter).unwrap();
        assert_eq!(from(None), None);
    }

    #[test]
    fn the_system_path_ends_with_the_running_kernels_directories() {
        let release = nix::sys::utsname::uname().unwrap().release().to_os_string();
        let release = release.to_string_lossy();
        let dirs = SearchPath::system().dirs;
        let standard: Vec<PathBuf> = [
            format!("/lib/firmware/updates/{release}"),
            "/lib/firmware/updates".into(),
            format!("/lib/firmware/{release}"),
            "/lib/firmware".into(),
        ]
        .into_iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(dirs[dirs.len() - 4..], standard[..]);
    }
}
