//! Misc devices: character devices registered by name.
//!
//! Mirrors `rust/kernel/miscdevice.rs` of Linux 7.3. A driver implements [`MiscDevice`] for the
//! data of an open file, with `#[vtable]`, and registers a device with
//! [`MiscDeviceRegistration::register`]; processes then open `/dev/NAME`, and their `open()`,
//! `read()`, `write()`, `ioctl()` and last `close()` call the trait's methods.
//!
//! Differences from the kernel (`docs/porting.md` has the whole list):
//!
//! - In a driver process, `/dev/NAME` is a CUSE device (class `cuse`, not `misc`), which the
//!   process serves; it exists while the process runs. In tests, and with `DRYDOCK_CUSE=off`, the
//!   device exists inside the process only, opened with `drydock_host::miscdevice::open`.
//! - An ioctl's argument is the caller's memory only for the `_IOC_SIZE(cmd)` bytes at `arg` that
//!   a command with a direction declares: a driver that reads other user memory gets `EFAULT`.
//! - [`MiscDevice::mmap`] is never called: CUSE cannot map memory, and `mmap()` of the device fails
//!   with `ENODEV`. [`MiscDevice::show_fdinfo`] is not called for `/proc/PID/fdinfo`, only by the
//!   host's in-process `show_fdinfo`.
//! - Dropping the registration releases the files still open on the device (their
//!   [`MiscDevice::release`] runs), and their descriptors fail with `ENODEV`; in the kernel the
//!   module could not be unloaded while they are open.
//!
//! # Examples
//!
//! A device whose open files count the bytes written to them, shown on read:
//!
//! ```
//! use core::sync::atomic::{AtomicUsize, Ordering};
//! use kernel::fs::{File, Kiocb};
//! use kernel::iov::{IovIterDest, IovIterSource};
//! use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
//! use kernel::prelude::*;
//!
//! struct Counter(AtomicUsize);
//!
//! #[vtable]
//! impl MiscDevice for Counter {
//!     type Ptr = KBox<Self>;
//! #   type OwnerModule = DocModule;
//!
//!     fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
//!         Ok(KBox::new(Counter(AtomicUsize::new(0)), GFP_KERNEL)?)
//!     }
//!
//!     fn write_iter(kiocb: Kiocb<'_, KBox<Self>>, iov: &mut IovIterSource<'_>) -> Result<usize> {
//!         let len = iov.len();
//!         iov.advance(len);
//!         kiocb.file().0.fetch_add(len, Ordering::Relaxed);
//!         Ok(len)
//!     }
//!
//!     fn read_iter(mut kiocb: Kiocb<'_, KBox<Self>>, iov: &mut IovIterDest<'_>) -> Result<usize> {
//!         let text = format!("{}\n", kiocb.file().0.load(Ordering::Relaxed));
//!         iov.simple_read_from_buffer(kiocb.ki_pos_mut(), text.as_bytes())
//!     }
//! }
//! # // What `module!` declares in a driver crate.
//! # struct DocModule;
//! # impl kernel::ModuleMetadata for DocModule {
//! #     const NAME: &'static CStr = c"doc";
//! #     // SAFETY: null: an unloaded module.
//! #     const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
//! # }
//!
//! let options = MiscDeviceOptions { name: c"doc-counter" };
//! let registration = MiscDeviceRegistration::<Counter>::register(options);
//! let registration = KBox::pin_init(registration, GFP_KERNEL)?;
//! # use drydock_host::{bindings::O_RDWR, miscdevice};
//! // What `open("/dev/doc-counter", O_RDWR)`, `write()` and `read()` do, in process.
//! let file = miscdevice::open("doc-counter", O_RDWR).unwrap();
//! assert_eq!(file.write(b"four"), Ok(4));
//! assert_eq!(file.read(10).unwrap(), b"4\n");
//! drop((file, registration));
//! # Ok::<(), Error>(())
//! ```

use crate::{
    bindings,
    device::Device,
    error::{to_result, VTABLE_DEFAULT_ERROR},
    fs::{File, Kiocb},
    iov::{IovIterDest, IovIterSource},
    mm::virt::VmaNew,
    module::this_module,
    prelude::*,
    seq_file::SeqFile,
    types::{ForeignOwnable, Opaque},
};
use core::marker::PhantomData;
use drydock_host::miscdevice as host;

/// What a misc device is registered with.
///
/// Mirrors `kernel::miscdevice::MiscDeviceOptions`.
#[derive(Copy, Clone)]
pub struct MiscDeviceOptions {
    /// The device's name: `/dev/NAME`.
    pub name: &'static CStr,
}

impl MiscDeviceOptions {
    /// The `struct miscdevice` to register, with `T`'s operations.
    pub const fn into_raw<T: MiscDevice>(self) -> bindings::miscdevice {
        bindings::miscdevice {
            // CAST: `MISC_DYNAMIC_MINOR` (255) fits an `int`.
            minor: bindings::MISC_DYNAMIC_MINOR as c_int,
            name: self.name.as_ptr(),
            fops: MiscdeviceVTable::<T>::build(),
            this_device: core::ptr::null_mut(),
        }
    }
}

/// A registered misc device, deregistered when dropped.
///
/// Mirrors `kernel::miscdevice::MiscDeviceRegistration`.
///
/// # Invariants
///
/// - `inner` is a `struct miscdevice` made by [`MiscDeviceOptions::into_raw`] and registered with
///   the host's `misc_register`, pinned, for the value's whole life.
/// - It is deregistered exactly once, in [`Drop`].
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub struct MiscDeviceRegistration<T> {
    #[pin]
    inner: Opaque<bindings::miscdevice>,
    _t: PhantomData<T>,
}

// SAFETY: the host's `misc_deregister` may be called from any thread.
unsafe impl<T> Send for MiscDeviceRegistration<T> {}
// SAFETY: every `&self` method may be called from several threads at once.
unsafe impl<T> Sync for MiscDeviceRegistration<T> {}

impl<T: MiscDevice> MiscDeviceRegistration<T> {
    /// Registers a misc device: `/dev/NAME` appears, and its opens reach `T`.
    ///
    /// Fails with `EEXIST` if a misc device of that name is registered, or with the reason CUSE
    /// could not create `/dev/NAME` (logged, with what to do).
    pub fn register(opts: MiscDeviceOptions) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(move |slot: *mut bindings::miscdevice| {
                // SAFETY: the initializer may write to `slot`.
                unsafe { slot.write(opts.into_raw::<T>()) };
                // INVARIANT: on success the pinned `slot` holds a registered device, deregistered
                // by `drop` before its memory goes.
                // SAFETY: `slot` holds a `miscdevice` with a static name and static operations,
                // which may be called from any thread; it is pinned until deregistered.
                to_result(unsafe { host::misc_register(slot) })
            }),
            _t: PhantomData,
        })
    }

    /// The host's `struct miscdevice`.
    pub fn as_raw(&self) -> *mut bindings::miscdevice {
        self.inner.get()
    }

    /// The device the registration created (of class `misc`, named as the device; `this_device`).
    pub fn device(&self) -> &Device {
        // SAFETY: registered (type invariant), so `this_device` is the registration's valid
        // device, which lives as long as the registration, and so as long as the borrow.
        unsafe { Device::from_raw((*self.as_raw()).this_device) }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for MiscDeviceRegistration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered (type invariant), and this is not one of the device's operations.
        unsafe { host::misc_deregister(self.inner.get()) };
    }
}

/// The data of an open file of a misc device, and the device's operations on it.
///
/// Mirrors `kernel::miscdevice::MiscDevice`. Implement it with `#[vtable]`: the methods an
/// implementation leaves out are not called (a read of a device without `read_iter` fails with
/// `EINVAL`, an `ioctl` without `ioctl` with `ENOTTY`).
#[vtable]
pub trait MiscDevice: Sized {
    /// The pointer an open file keeps its data in.
    type Ptr: ForeignOwnable + Send + Sync;

    /// Called when a process opens the device; the pointer returned is the file's data.
    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Self::Ptr>;

    /// Called when the file is released: its last descriptor was closed (and the driver dropped
    /// its own references to the file), or the device deregistered.
    fn release(device: Self::Ptr, _file: &File) {
        drop(device);
    }

    /// Called to map the file into a process's memory.
    ///
    /// Difference from the kernel: never called; `mmap()` of a drydock misc device fails with
    /// `ENODEV`, since CUSE cannot map memory.
    fn mmap(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _vma: &VmaNew,
    ) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called for a `read()`: writes to `_iov` from position `ki_pos`, which it moves.
    fn read_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterDest<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called for a `write()`: takes data from `_iov` at position `ki_pos`, which it moves.
    fn write_iter(_kiocb: Kiocb<'_, Self::Ptr>, _iov: &mut IovIterSource<'_>) -> Result<usize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called for an `ioctl()`; `cmd` is usually taken apart with [`kernel::ioctl`]'s functions.
    /// The return value is the caller's.
    ///
    /// [`kernel::ioctl`]: mod@crate::ioctl
    fn ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Called for an `ioctl()` of a 32-bit process. Needed only for commands whose structures
    /// differ between 32 and 64 bits; without it, such calls go to [`MiscDevice::ioctl`].
    #[cfg(CONFIG_COMPAT)]
    fn compat_ioctl(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _file: &File,
        _cmd: u32,
        _arg: usize,
    ) -> Result<isize> {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    /// Shows the driver's lines about the file (`/proc/PID/fdinfo/FD` in the kernel).
    ///
    /// Difference from the kernel: called by the host's in-process `show_fdinfo` only.
    fn show_fdinfo(
        _device: <Self::Ptr as ForeignOwnable>::Borrowed<'_>,
        _m: &SeqFile,
        _file: &File,
    ) {
        build_error!(VTABLE_DEFAULT_ERROR)
    }
}

/// The file operations of a misc device whose files' data is `T`.
struct MiscdeviceVTable<T: MiscDevice>(PhantomData<T>);

impl<T: MiscDevice> MiscdeviceVTable<T> {
    /// # Safety
    ///
    /// `raw_file` must be a file being opened, not shared with other threads yet, whose private
    /// data is the `MiscDeviceRegistration<T>` being opened, valid for the call.
    unsafe fn open(_inode: *mut bindings::inode, raw_file: *mut bindings::file) -> c_int {
        // SAFETY: the file is being opened, so its private data may be read.
        let misc_ptr = unsafe { (*raw_file).private_data };
        // SAFETY: the host's `misc_open` set it to the registration, which stays registered, and
        // so valid, during the call (safety requirements).
        let misc = unsafe { &*misc_ptr.cast::<MiscDeviceRegistration<T>>() };
        // SAFETY: the file is valid for the call, and has no unlocked `fdget_pos`.
        let file = unsafe { File::from_raw_file(raw_file) };
        let ptr = match T::open(file, misc) {
            Ok(ptr) => ptr,
            Err(err) => return err.to_errno(),
        };
        // The private data becomes the file's `T::Ptr`, which the other operations borrow and
        // `release` takes back.
        // SAFETY: the file is not shared yet, so its private data may be written.
        unsafe { (*raw_file).private_data = ptr.into_foreign() };
        0
    }

    /// # Safety
    ///
    /// `file` must be a file of a `MiscDeviceRegistration<T>` being released: its private data is
    /// a `T::Ptr` nothing else uses any more.
    unsafe fn release(_inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
        // SAFETY: the release owns the private data, a `T::Ptr` made by `open`.
        let ptr = unsafe { <T::Ptr as ForeignOwnable>::from_foreign((*file).private_data) };
        // SAFETY: the file is valid for the call, and has no unlocked `fdget_pos`.
        T::release(ptr, unsafe { File::from_raw_file(file) });
        0
    }

    /// # Safety
    ///
    /// `kiocb` must be a valid control block of a file of a `MiscDeviceRegistration<T>`, and
    /// `iter` a read's valid `iov_iter`.
    unsafe fn read_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: valid, of a file whose private data is a `T::Ptr` (safety requirements).
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: a read's valid `iov_iter`, used only here.
        let iov = unsafe { IovIterDest::from_raw(iter) };
        Self::count_result(T::read_iter(kiocb, iov))
    }

    /// # Safety
    ///
    /// `kiocb` must be a valid control block of a file of a `MiscDeviceRegistration<T>`, and
    /// `iter` a write's valid `iov_iter`.
    unsafe fn write_iter(kiocb: *mut bindings::kiocb, iter: *mut bindings::iov_iter) -> isize {
        // SAFETY: valid, of a file whose private data is a `T::Ptr` (safety requirements).
        let kiocb = unsafe { Kiocb::from_raw(kiocb) };
        // SAFETY: a write's valid `iov_iter`, used only here.
        let iov = unsafe { IovIterSource::from_raw(iter) };
        Self::count_result(T::write_iter(kiocb, iov))
    }

    /// A read's or a write's result as the C handler returns it.
    fn count_result(result: Result<usize>) -> isize {
        match result {
            // CAST: a read's or a write's count fits an `isize`.
            Ok(res) => res as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// Calls `f` with the data and the file of `file`, an opened file.
    ///
    /// # Safety
    ///
    /// `file` must be a valid, opened file of a `MiscDeviceRegistration<T>`.
    unsafe fn with_open_file<R, F>(file: *mut bindings::file, f: F) -> R
    where
        F: for<'a> FnOnce(<T::Ptr as ForeignOwnable>::Borrowed<'a>, &'a File) -> R,
    {
        // SAFETY: an opened file's private data is a `T::Ptr`, which the file owns until its
        // release, after every call on it; so it may be borrowed for the call.
        let device = unsafe { <T::Ptr as ForeignOwnable>::borrow((*file).private_data) };
        // SAFETY: the file is valid for the call, and has no unlocked `fdget_pos`.
        f(device, unsafe { File::from_raw_file(file) })
    }

    /// An ioctl handler's result as the C handler returns it.
    fn ioctl_result(result: Result<isize>) -> c_long {
        match result {
            // CAST: `long` is `isize` wide.
            Ok(ret) => ret as c_long,
            Err(err) => c_long::from(err.to_errno()),
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid, opened file of a `MiscDeviceRegistration<T>`.
    unsafe fn ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: by the safety requirements.
        unsafe {
            Self::with_open_file(file, |device, file| {
                // CAST: `unsigned long` is `usize` wide.
                Self::ioctl_result(T::ioctl(device, file, cmd, arg as usize))
            })
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid, opened file of a `MiscDeviceRegistration<T>`.
    #[cfg(CONFIG_COMPAT)]
    unsafe fn compat_ioctl(file: *mut bindings::file, cmd: c_uint, arg: c_ulong) -> c_long {
        // SAFETY: by the safety requirements.
        unsafe {
            Self::with_open_file(file, |device, file| {
                // CAST: `unsigned long` is `usize` wide.
                Self::ioctl_result(T::compat_ioctl(device, file, cmd, arg as usize))
            })
        }
    }

    /// # Safety
    ///
    /// `file` must be a valid, opened file of a `MiscDeviceRegistration<T>`, and `seq_file` a
    /// valid `seq_file` that only this call uses.
    unsafe fn show_fdinfo(seq_file: *mut bindings::seq_file, file: *mut bindings::file) {
        // SAFETY: valid, and used by this call alone.
        let m = unsafe { SeqFile::from_raw(seq_file) };
        // SAFETY: by the safety requirements.
        unsafe { Self::with_open_file(file, |device, file| T::show_fdinfo(device, m, file)) }
    }

    const VTABLE: bindings::file_operations = bindings::file_operations {
        owner: this_module::<T::OwnerModule>().as_ptr(),
        open: Some(Self::open),
        release: Some(Self::release),
        read_iter: if T::HAS_READ_ITER {
            Some(Self::read_iter)
        } else {
            None
        },
        write_iter: if T::HAS_WRITE_ITER {
            Some(Self::write_iter)
        } else {
            None
        },
        unlocked_ioctl: if T::HAS_IOCTL {
            Some(Self::ioctl)
        } else {
            None
        },
        #[cfg(CONFIG_COMPAT)]
        compat_ioctl: if T::HAS_COMPAT_IOCTL {
            Some(Self::compat_ioctl)
        } else if T::HAS_IOCTL {
            bindings::compat_ptr_ioctl
        } else {
            None
        },
        #[cfg(not(CONFIG_COMPAT))]
        compat_ioctl: None,
        show_fdinfo: if T::HAS_SHOW_FDINFO {
            Some(Self::show_fdinfo)
        } else {
            None
        },
    };

    const fn build() -> &'static bindings::file_operations {
        &Self::VTABLE
    }
}
