//! Firmware images: loading them for a device, and naming them in the module's information.
//!
//! Mirrors `rust/kernel/firmware.rs` of Linux 7.3 (the C API of `include/linux/firmware.h`). A
//! driver asks for a file by name with [`Firmware::request`] and reads the image as `&[u8]` until
//! the [`Firmware`] is dropped; [`request_into_buf`] loads one into memory the driver has.
//! [`module_firmware!`](crate::module_firmware) and [`ModInfoBuilder`] list the files a module may
//! load in its `.modinfo` section, for the tools that build initramfs images.
//!
//! The host loads files as the kernel's firmware loader does: from the first of the
//! `firmware_class.path` directory (which the environment variable `DRYDOCK_FIRMWARE_PATH`
//! overrides for a driver process), `/lib/firmware/updates/$(uname -r)`, `/lib/firmware/updates`,
//! `/lib/firmware/$(uname -r)` and `/lib/firmware` that has a readable file of that name. A missing
//! file is `ENOENT`, logged against the device as `Direct firmware load for NAME failed with error
//! -2` unless the request was [`Firmware::request_nowarn`]. Differences from the kernel: there is
//! no fallback to a userspace helper, and `NAME.xz` and `NAME.zst` files are not decompressed
//! (`docs/porting.md`).
//!
//! # Examples
//!
//! ```no_run
//! use kernel::{device::Device, firmware::Firmware, prelude::*};
//!
//! fn microcode_version(dev: &Device) -> Result<u32> {
//!     let fw = Firmware::request(c"vendor/chip/ucode.bin", dev)?;
//!     match fw.data() {
//!         [a, b, c, d, ..] => Ok(u32::from_le_bytes([*a, *b, *c, *d])),
//!         _ => Err(EINVAL),
//!     }
//! }
//! ```

use core::mem::ManuallyDrop;

use drydock_host::{errno::Errno, firmware as host};

use crate::{bindings, device::Device, prelude::*, str::CStr};

/// The loader function a request goes through.
///
/// # Invariants
///
/// One of the host's [`request_firmware`](host::request_firmware) and
/// [`firmware_request_nowarn`](host::firmware_request_nowarn).
struct FwFunc(fn(&CStr, &bindings::device) -> core::result::Result<bindings::firmware, Errno>);

impl FwFunc {
    fn request() -> Self {
        Self(host::request_firmware)
    }

    fn request_nowarn() -> Self {
        Self(host::firmware_request_nowarn)
    }
}

/// A firmware image loaded for a device, released when dropped.
///
/// Mirrors `kernel::firmware::Firmware` (the C `struct firmware`). The image is read-only: the
/// driver reads it with [`data`](Firmware::data).
///
/// # Invariants
///
/// The wrapped image was returned by the host's loader and is released exactly once, when the
/// `Firmware` is dropped.
///
/// # Examples
///
/// ```no_run
/// # use kernel::{device::Device, firmware::Firmware, sync::aref::ARef};
/// # fn no_run(dev: ARef<Device>) -> Result<(), kernel::error::Error> {
/// let fw = Firmware::request(c"path/to/firmware.bin", &dev)?;
/// let blob: &[u8] = fw.data();
/// # Ok(())
/// # }
/// ```
pub struct Firmware(ManuallyDrop<bindings::firmware>);

impl Firmware {
    fn request_internal(name: &CStr, dev: &Device, func: FwFunc) -> Result<Self> {
        let image = (func.0)(name, dev.raw())?;
        // INVARIANT: returned by the loader, released only in `drop`.
        Ok(Firmware(ManuallyDrop::new(image)))
    }

    /// Loads the firmware file `name` for `dev` and waits for it (`request_firmware()`).
    ///
    /// Fails with `ENOENT` if no directory of the search path has the file, after logging
    /// `Direct firmware load for NAME failed with error -2` against the device.
    pub fn request(name: &CStr, dev: &Device) -> Result<Self> {
        Self::request_internal(name, dev, FwFunc::request())
    }

    /// Loads the firmware file `name` for `dev`, for a driver that can do without it
    /// (`firmware_request_nowarn()`): as [`request`](Firmware::request), but a failure is not
    /// logged.
    pub fn request_nowarn(name: &CStr, dev: &Device) -> Result<Self> {
        Self::request_internal(name, dev, FwFunc::request_nowarn())
    }

    /// The image's size in bytes.
    pub fn size(&self) -> usize {
        self.0.size()
    }

    /// The image.
    pub fn data(&self) -> &[u8] {
        self.0.data()
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        // SAFETY: the image is taken only here, once, and `self` is not used afterwards.
        let image = unsafe { ManuallyDrop::take(&mut self.0) };
        host::release_firmware(image);
    }
}

/// Loads the firmware file `name` for `dev` into `buf` (`request_firmware_into_buf()`).
///
/// Mirrors `kernel::firmware::request_into_buf`. The image is the first [`Firmware::size`] bytes
/// of `buf` afterwards; the rest of `buf` is left as it was, and the function does not say how
/// long the image was, as the kernel's does not. Fails with `EINVAL` for an empty `buf`, and with
/// `EFBIG` (after logging, as [`Firmware::request`] does) for an image larger than `buf`.
pub fn request_into_buf(name: &CStr, dev: &Device, buf: &mut [u8]) -> Result {
    // The kernel refuses an empty buffer, which its loader would take for one of its own.
    if buf.is_empty() {
        return Err(EINVAL);
    }
    host::request_firmware_into_buf(name, dev.raw(), buf)?;
    Ok(())
}

/// Puts the firmware entries a builder type creates in the module's `.modinfo` section.
///
/// Mirrors the kernel's `module_firmware!` (the C `MODULE_FIRMWARE()` for names computed at build
/// time; fixed names go in `module!`'s `firmware` key). The argument is a type, named without its
/// const generic, with a method
///
/// `const fn create(module_name: &'static CStr) -> ModInfoBuilder<N>`
///
/// that builds the entries with a [`ModInfoBuilder`] made from `module_name`. The macro calls it
/// twice: once to measure the entries, once to build them into a static of that length.
///
/// As in the kernel, the entries of code built as a loadable module (`--cfg MODULE`, which
/// `drydock_kconfig::emit` passes to every driver crate) carry no module-name prefix
/// (`firmware=NAME`, as in a `.ko`); built-in code's carry the module's name (`NAME.firmware=...`).
/// Difference from the kernel: `#[used]` instead of the unstable `#[used(compiler)]`.
///
/// # Examples
///
/// ```
/// # mod module_firmware_test {
/// use kernel::firmware;
/// use kernel::prelude::*;
///
/// struct MyModule;
///
/// impl kernel::Module for MyModule {
///     fn init(_module: &'static ThisModule) -> Result<Self> {
///         Ok(Self)
///     }
/// }
///
/// struct Builder<const N: usize>;
///
/// impl<const N: usize> Builder<N> {
///     const CHIPS: [&'static str; 2] = ["alpha", "beta"];
///
///     const fn create(module_name: &'static kernel::str::CStr) -> firmware::ModInfoBuilder<N> {
///         let mut builder = firmware::ModInfoBuilder::new(module_name);
///         let mut i = 0;
///         while i < Self::CHIPS.len() {
///             builder = builder.new_entry().push("vendor/").push(Self::CHIPS[i]).push(".bin");
///             i += 1;
///         }
///         builder
///     }
/// }
///
/// module! {
///     type: MyModule,
///     name: "module_firmware_test",
///     license: "GPL",
/// }
///
/// kernel::module_firmware!(Builder);
/// # }
/// ```
#[macro_export]
macro_rules! module_firmware {
    // The builder is a path without its const generic, which the macro lets the compiler infer: it
    // can be neither an `expr` nor a `ty`.
    ($($builder:tt)*) => {
        const _: () = {
            const __MODULE_FIRMWARE_PREFIX: &'static $crate::str::CStr = if cfg!(MODULE) {
                c""
            } else {
                <LocalModule as $crate::ModuleMetadata>::NAME
            };

            #[link_section = ".modinfo"]
            #[used]
            static __MODULE_FIRMWARE: [u8; $($builder)*::create(__MODULE_FIRMWARE_PREFIX)
                .build_length()] = $($builder)*::create(__MODULE_FIRMWARE_PREFIX).build();
        };
    };
}

/// Builds a module's firmware entries at compile time, for [`module_firmware!`].
///
/// Mirrors `kernel::firmware::ModInfoBuilder`. Each entry starts with
/// [`new_entry`](ModInfoBuilder::new_entry) and is made of the pieces given to
/// [`push`](ModInfoBuilder::push); [`build`](ModInfoBuilder::build) returns them as the
/// `.modinfo` bytes: each entry as `[MODULE.]firmware=PATH`, NUL-separated.
///
/// `N` is the length of the result. The macro first builds with `N = 0`, which only counts
/// ([`build_length`](ModInfoBuilder::build_length)), then with that length; a builder used
/// otherwise fails to build.
///
/// [`module_firmware!`]: crate::module_firmware
pub struct ModInfoBuilder<const N: usize> {
    buf: [u8; N],
    n: usize,
    module_name: &'static CStr,
}

impl<const N: usize> ModInfoBuilder<N> {
    /// An empty builder for the entries of the module `module_name` (empty for none).
    pub const fn new(module_name: &'static CStr) -> Self {
        Self {
            buf: [0; N],
            n: 0,
            module_name,
        }
    }

    /// Appends `bytes`, or only counts them when `N` is 0.
    const fn append(mut self, bytes: &[u8]) -> Self {
        let mut i = 0;
        while i < bytes.len() {
            if self.n < N {
                self.buf[self.n] = bytes[i];
            }
            self.n += 1;
            i += 1;
        }
        self
    }

    /// Appends a piece of the current entry's path.
    ///
    /// [`new_entry`](ModInfoBuilder::new_entry) must have started an entry.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::firmware::ModInfoBuilder;
    ///
    /// # const DIR: &str = "vendor/chip/";
    /// # const fn no_run<const N: usize>(builder: ModInfoBuilder<N>) {
    /// let builder = builder
    ///     .new_entry()
    ///     .push(DIR)
    ///     .push("foo.bin")
    ///     .new_entry()
    ///     .push(DIR)
    ///     .push("bar.bin");
    /// # }
    /// ```
    pub const fn push(self, s: &str) -> Self {
        if N != 0 && self.n == 0 {
            crate::build_error!("Must call next_entry() before push().");
        }
        self.append(s.as_bytes())
    }

    /// Ends the current entry, if any, and starts the next: `\0`, the module's name and a `.`
    /// (when it has one), then `firmware=`.
    pub const fn new_entry(self) -> Self {
        let this = self.append(b"\0");
        let name = this.module_name.to_bytes();
        let this = if name.is_empty() {
            this
        } else {
            this.append(name).append(b".")
        };
        this.append(b"firmware=")
    }

    /// The entries, with the last one's terminating NUL.
    ///
    /// Fails to build unless `N` is the length [`build_length`](ModInfoBuilder::build_length)
    /// measured.
    pub const fn build(self) -> [u8; N] {
        let this = self.append(b"\0");
        if this.n != N {
            crate::build_error!("Length mismatch.");
        }
        this.buf
    }
}

impl ModInfoBuilder<0> {
    /// The length of the array [`build`](ModInfoBuilder::build) returns for the same entries.
    pub const fn build_length(self) -> usize {
        // `build` appends the last NUL.
        self.n + 1
    }
}
