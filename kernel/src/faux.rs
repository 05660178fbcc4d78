//! The faux bus: devices without hardware behind them.
//!
//! Mirrors `rust/kernel/faux.rs` of Linux 7.3. A module that needs a device to hang something off
//! (device-managed resources, a name in its log lines, firmware requests) creates one with
//! [`Registration::new`]; the faux bus binds it before `new` returns, so the registration hands
//! out the device in the [`Bound`](device::Bound) context for as long as it lives. Dropping the
//! registration unbinds the device, releasing its device-managed resources, and removes it.
//!
//! In userspace the faux bus is the host's (`drydock_host::faux`), one per process as in the
//! kernel: device names are unique in the process.
//!
//! # Examples
//!
//! ```
//! use kernel::{faux, prelude::*};
//!
//! let reg = faux::Registration::new(c"faux-doc-example", None)?;
//! dev_info!(reg.as_ref(), "hello from a faux device\n");
//! # Ok::<(), Error>(())
//! ```

use crate::{bindings, device, prelude::*, types::Opaque};
use core::{
    marker::PhantomData,
    ptr::{null, null_mut, NonNull},
};
use drydock_host::faux as host;

/// A faux device (`struct faux_device`).
///
/// Mirrors `kernel::faux::Device`.
///
/// # Invariants
///
/// The wrapped pointer is a valid host faux device.
#[repr(transparent)]
pub struct Device<Ctx: device::DeviceContext = device::Normal>(
    Opaque<bindings::faux_device>,
    PhantomData<Ctx>,
);

impl<Ctx: device::DeviceContext> Device<Ctx> {
    #[inline]
    fn as_raw(&self) -> *mut bindings::faux_device {
        self.0.get()
    }

    /// Creates a reference from a raw faux device pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be a valid faux device for `'a`, in the state `Ctx` promises.
    #[inline]
    unsafe fn from_raw<'a>(ptr: *mut bindings::faux_device) -> &'a Self {
        // SAFETY: `Device` is a transparent wrapper of `Opaque<faux_device>`; validity is the
        // caller's guarantee.
        unsafe { &*ptr.cast() }
    }
}

impl<Ctx: device::DeviceContext> AsRef<device::Device<Ctx>> for Device<Ctx> {
    #[inline]
    fn as_ref(&self) -> &device::Device<Ctx> {
        // SAFETY: by the type invariant, `self.as_raw()` is a valid faux device; its `dev` is a
        // valid device for as long as `self` is, in the same context.
        unsafe { device::Device::from_raw(&raw mut (*self.as_raw()).dev) }
    }
}

// SAFETY: `faux::Device` is a transparent wrapper of `faux_device`, whose `dev` field is the
// device.
unsafe impl<Ctx: device::DeviceContext> device::AsBusDevice<Ctx> for Device<Ctx> {
    const OFFSET: usize = core::mem::offset_of!(bindings::faux_device, dev);
}

/// The registration of a faux device: the device exists, bound, while the registration does.
///
/// Mirrors `kernel::faux::Registration`.
///
/// # Invariants
///
/// `self.0` is a faux device created by the host's `faux_device_create`, bound, and not yet
/// destroyed; the registration owns the creator's reference.
pub struct Registration(NonNull<bindings::faux_device>);

impl Registration {
    /// Creates a faux device named `name`, under `parent` if given, and binds it.
    ///
    /// Fails with `ENODEV` if a faux device of that name exists.
    #[inline]
    pub fn new(name: &CStr, parent: Option<&device::Device>) -> Result<Self> {
        // SAFETY: the host copies `name`; `parent` is null or a valid device, on which the new
        // device takes a reference; there are no operations to call.
        let dev = unsafe {
            host::faux_device_create(name, parent.map_or(null_mut(), |p| p.as_raw()), null())
        };
        // INVARIANT: the device stays registered and bound until `drop` destroys it.
        Ok(Self(dev.ok_or(ENODEV)?))
    }

    fn as_raw(&self) -> *mut bindings::faux_device {
        self.0.as_ptr()
    }
}

impl AsRef<Device<device::Bound>> for Registration {
    #[inline]
    fn as_ref(&self) -> &Device<device::Bound> {
        // SAFETY: the device is valid and bound while the registration lives (type invariant): the
        // faux bus binds it before `new` returns and nothing unbinds it but `drop`.
        unsafe { Device::from_raw(self.as_raw()) }
    }
}

impl Drop for Registration {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the device was created by `faux_device_create` and not destroyed yet (type
        // invariant); this is the only place that destroys it.
        unsafe { host::faux_device_destroy(self.as_raw()) }
    }
}

// SAFETY: the faux bus may create and destroy devices from any thread, and a registration destroys
// its device once (it is neither `Copy` nor `Clone`).
unsafe impl Send for Registration {}

// SAFETY: a shared `Registration` hands out only the bound device, whose methods are thread safe.
unsafe impl Sync for Registration {}
