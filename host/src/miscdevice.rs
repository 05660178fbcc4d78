//! Misc devices: character devices a driver registers by name (`misc_register()`), which other
//! processes open as `/dev/NAME`, and the files opened on them.
//!
//! In the kernel, `misc_register()` creates a device of class `misc` and its node `/dev/NAME`,
//! whose opens reach the driver's `struct file_operations`. A driver process does the same in two
//! ways:
//!
//! - **CUSE** (character devices in userspace, the character-device side of FUSE): when the
//!   process serves its misc devices ([`serve_with_cuse`], which the runner calls for every driver
//!   process unless [`CUSE_ENV`] is `off`), each registration opens `/dev/cuse` and asks the kernel
//!   for a device named `NAME`: the kernel creates `/dev/NAME` (class `cuse`), and the `open()`,
//!   `read()`, `write()`, `ioctl()` and `close()` of any process become requests that a thread of
//!   this process serves by calling the driver's operations.
//! - **In process**: [`open`] opens a registered device by name and calls the same operations
//!   through the same code ([`OpenFile`]): tests use it, and it works without CUSE.
//!
//! Each open file is a [`crate::fs::RawFile`] with its own position, as in the kernel.
//! Deregistration (`misc_deregister()`) removes the node, waits for the calls running on the
//! device, and then releases the files still open on it: their `release` runs, and their
//! descriptors fail with `ENODEV` from then on. This differs from the kernel, where a module cannot
//! be unloaded while its device is open; here unloading must not wait for other processes.

mod abi;
mod cuse;

use core::ffi::{c_int, c_long, c_uint, CStr};
use core::ptr::NonNull;
use std::collections::HashMap;
use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, Weak};

use crate::active::ActiveUsers;
use crate::bindings::{file_operations, miscdevice};
use crate::device::{BusType, RawDevice};
use crate::errno::Errno;
use crate::fs::FileRef;

/// The environment variable that turns CUSE off for a driver process: `off` keeps its misc
/// devices inside the process.
pub const CUSE_ENV: &str = "DRYDOCK_CUSE";

/// Whether registrations create their device through CUSE.
static CUSE: AtomicBool = AtomicBool::new(false);

/// Makes this process's misc devices appear as `/dev/NAME` through CUSE from now on, unless
/// [`CUSE_ENV`] is `off`; returns whether they will. A registration then fails if CUSE cannot
/// create the device (no `/dev/cuse`, not root, the name taken), saying why.
pub fn serve_with_cuse() -> bool {
    let on = std::env::var_os(CUSE_ENV).is_none_or(|value| value != "off");
    CUSE.store(on, Ordering::Relaxed);
    on
}

/// The class device a registration creates (`this_device`), as `device_create()` makes it.
#[repr(C)]
struct MiscClassDevice {
    dev: RawDevice,
}

/// A registered misc device.
///
/// # Invariants
///
/// - `misc` is the registered `struct miscdevice`, valid, and with operations `fops`, until
///   [`misc_deregister`] returned, which removes `users` and so waits for every call counted there.
/// - `device` is the registration's class device, on which this value owns a reference.
struct MiscNode {
    name: CString,
    misc: *mut miscdevice,
    fops: &'static file_operations,
    device: NonNull<RawDevice>,
    users: ActiveUsers,
    files: Mutex<Vec<Weak<FileSlot>>>,
}

// SAFETY: `misc` and `device` are only used while valid (type invariants), from any thread: the
// operations may be called from any thread, and a `RawDevice` is `Send + Sync`.
unsafe impl Send for MiscNode {}
// SAFETY: as above.
unsafe impl Sync for MiscNode {}

/// The registered devices, by name, each with its CUSE server if it has one.
static REGISTRY: LazyLock<Mutex<HashMap<CString, Registered>>> = LazyLock::new(Default::default);

/// A registered device and its CUSE server.
struct Registered {
    node: Arc<MiscNode>,
    cuse: Option<cuse::CuseDevice>,
}

fn registry() -> MutexGuard<'static, HashMap<CString, Registered>> {
    REGISTRY.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Registers `misc` (`misc_register()`): creates its class device, named `misc->name`, into
/// `misc->this_device`, and, if the process serves its devices with CUSE, `/dev/NAME`. Returns 0
/// or a negative errno: `EEXIST` if a misc device of that name is registered (logged), `EINVAL`
/// without a name or operations, or why CUSE could not create the device (logged).
///
/// # Safety
///
/// `misc` must be valid, its `name` a C string and its `fops` operations that stay valid, and
/// that may be called from any thread, until [`misc_deregister`] of it returned; it must not move
/// meanwhile.
pub unsafe fn misc_register(misc: *mut miscdevice) -> c_int {
    // SAFETY: valid, by the safety requirements.
    let raw = unsafe { &mut *misc };
    if raw.name.is_null() || raw.fops.is_null() {
        return Errno::EINVAL.to_errno();
    }
    // SAFETY: a C string, and operations valid until deregistration (safety requirements).
    let (name, fops) = unsafe { (CStr::from_ptr(raw.name).to_owned(), &*raw.fops) };
    let mut registry = registry();
    if registry.contains_key(&name) {
        log::error!(
            target: "drydock",
            "misc: cannot register '{}': a misc device of that name exists",
            name.to_string_lossy()
        );
        return Errno::EEXIST.to_errno();
    }
    let class_device = MiscClassDevice {
        dev: RawDevice::initialize(BusType::Misc, None),
    };
    // SAFETY: `MiscClassDevice` is `#[repr(C)]` with its new device first.
    let device = unsafe { RawDevice::into_heap(class_device) }.cast::<RawDevice>();
    // SAFETY: the new device, whose one reference the node owns from here on.
    let _ = unsafe { device.as_ref() }.set_name(name.clone());
    // INVARIANT: `misc` and `fops` are valid until deregistration; the device's reference is the
    // node's.
    let node = Arc::new(MiscNode {
        name: name.clone(),
        misc,
        fops,
        device,
        users: ActiveUsers::default(),
        files: Mutex::new(Vec::new()),
    });
    // Before the node exists: an open may come as soon as it does.
    raw.this_device = device.as_ptr();
    let cuse = if CUSE.load(Ordering::Relaxed) {
        match cuse::CuseDevice::create(node.clone()) {
            Ok(cuse) => Some(cuse),
            Err(err) => {
                log::error!(target: "drydock", "misc: {err}");
                raw.this_device = core::ptr::null_mut();
                drop(node);
                return err.errno().to_errno();
            }
        }
    } else {
        None
    };
    registry.insert(name, Registered { node, cuse });
    0
}

/// Deregisters `misc` (`misc_deregister()`): removes `/dev/NAME`, waits for the calls running on
/// the device, releases the files still open on it, and drops the class device.
///
/// # Safety
///
/// `misc` must be registered with [`misc_register`], and not be deregistered from one of its own
/// operations (which this would wait for).
pub unsafe fn misc_deregister(misc: *mut miscdevice) {
    // SAFETY: registered, so its name is a valid C string (safety requirements).
    let name = unsafe { CStr::from_ptr((*misc).name) };
    let Some(registered) = registry().remove(name) else {
        return;
    };
    // The node goes first: no new process can open it.
    if let Some(cuse) = registered.cuse {
        cuse.destroy();
    }
    registered.node.remove();
}

impl MiscNode {
    /// Opens the device with `flags` (`misc_open()`): a new file whose private data is the
    /// `struct miscdevice` until the driver's `open` replaces it. `ENODEV` once deregistration
    /// began.
    fn open(self: &Arc<Self>, flags: c_uint) -> Result<OpenFile, Errno> {
        let _use = self.users.get().ok_or(Errno::ENODEV)?;
        let file = FileRef::alloc(self.fops, flags, self.misc.cast());
        file.open()?;
        let slot = Arc::new(FileSlot {
            node: self.clone(),
            file: Mutex::new(Some(file)),
        });
        let mut files = lock(&self.files);
        files.retain(|file| file.strong_count() > 0);
        files.push(Arc::downgrade(&slot));
        Ok(OpenFile(slot))
    }

    /// Waits for the calls running on the device, then releases the files still open on it and
    /// drops the class device.
    fn remove(&self) {
        self.users.remove();
        let files = core::mem::take(&mut *lock(&self.files));
        for slot in files.iter().filter_map(Weak::upgrade) {
            slot.close_file();
        }
    }
}

impl Drop for MiscNode {
    fn drop(&mut self) {
        // SAFETY: the node owns a reference on its class device (type invariant).
        unsafe { RawDevice::put(self.device.as_ptr()) };
    }
}

/// An open file of a misc device, until it is closed or the device deregistered.
struct FileSlot {
    node: Arc<MiscNode>,
    file: Mutex<Option<FileRef>>,
}

impl FileSlot {
    /// Calls `f` on the file, counted as a call on the device; `ENODEV` once the device is being
    /// deregistered or the file was released.
    fn call<R>(&self, f: impl FnOnce(&FileRef) -> Result<R, Errno>) -> Result<R, Errno> {
        let _use = self.node.users.get().ok_or(Errno::ENODEV)?;
        let file = lock(&self.file).clone().ok_or(Errno::ENODEV)?;
        f(&file)
    }

    /// Drops the descriptor's reference on the file: the last one releases it. The lock is held
    /// meanwhile, so that deregistration, which closes the files too, returns only after the
    /// release.
    fn close_file(&self) {
        let mut file = lock(&self.file);
        drop(file.take());
    }
}

/// A misc device opened in process, as a file descriptor of it: closed when dropped.
///
/// Its calls behave as the system calls on `/dev/NAME` do: [`read`](Self::read) and
/// [`write`](Self::write) at the file's position, which they move; [`ioctl`](Self::ioctl) with the
/// caller's memory at the argument's address. Once the device is deregistered they fail with
/// `ENODEV`.
pub struct OpenFile(Arc<FileSlot>);

/// Opens the misc device `name` with `flags` (`O_RDWR`...), as `open("/dev/NAME", flags)` does;
/// `ENODEV` if no such device is registered, or the driver's `open` error.
pub fn open(name: &str, flags: c_uint) -> Result<OpenFile, Errno> {
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let node = registry()
        .get(&name)
        .map(|registered| registered.node.clone())
        .ok_or(Errno::ENODEV)?;
    node.open(flags)
}

/// The names of the registered misc devices, in no particular order.
pub fn names() -> Vec<String> {
    registry()
        .keys()
        .map(|name| name.to_string_lossy().into_owned())
        .collect()
}

impl OpenFile {
    /// Reads at most `count` bytes at the file position, as `read()` does.
    pub fn read(&self, count: usize) -> Result<Vec<u8>, Errno> {
        self.0.call(|file| file.read(count))
    }

    /// Writes `data` at the file position, as `write()` does; returns how many bytes the driver
    /// took.
    pub fn write(&self, data: &[u8]) -> Result<usize, Errno> {
        self.0.call(|file| file.write(data))
    }

    /// Calls the driver's `ioctl` with `cmd` and `arg`, with `user` as the caller's memory at
    /// address `arg` meanwhile (empty for an argument that is no pointer); returns what the driver
    /// returned (negative for an error), or `ENOTTY` if it has no `ioctl`.
    pub fn ioctl(&self, cmd: u32, arg: usize, user: &mut [u8]) -> Result<c_long, Errno> {
        self.0.call(|file| file.ioctl(false, cmd, arg, user))
    }

    /// As [`ioctl`](Self::ioctl), from a 32-bit process: the driver's `compat_ioctl`, or its
    /// `ioctl` if it has only that.
    pub fn compat_ioctl(&self, cmd: u32, arg: usize, user: &mut [u8]) -> Result<c_long, Errno> {
        self.0.call(|file| file.ioctl(true, cmd, arg, user))
    }

    /// What the driver's `show_fdinfo` shows for the file, or `None` if it has none.
    pub fn show_fdinfo(&self) -> Result<Option<String>, Errno> {
        self.0.call(FileRef::show_fdinfo)
    }
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        // Counted as a call, so that deregistration waits for the release it may run.
        let _use = self.0.node.users.get();
        self.0.close_file();
    }
}
