//! Generic devices: the driver model's `struct device`, its contexts, and device-prefixed printing.
//!
//! Mirrors `rust/kernel/device.rs` of Linux 7.3. A [`Device`] wraps the host machinery's device
//! object (the userspace `struct device`, see `drydock_host::device`), and is generic over a
//! [`DeviceContext`] that states what the reference guarantees: [`Normal`] (none), [`Bound`] (a
//! driver is bound for the reference's lifetime), [`Core`] (inside a bus callback, with the device
//! lock held). Bus devices such as `pci::Device` embed a `Device` and deref through the contexts
//! (`CoreInternal -> Core -> Bound -> Normal`) with [`impl_device_context_deref!`](crate::impl_device_context_deref).
//!
//! `dev_info!` and its siblings print through the `log` crate, prefixed with the bound driver's
//! name and the device's name, as the kernel's `dev_info()` does (`edu 0000:00:04.0: ...`).
//!
//! Not mirrored yet: `device::property` (`fwnode` and firmware properties), which have no source
//! of data in userspace.

use core::marker::PhantomData;
use core::ptr;

use crate::{
    bindings, fmt,
    prelude::*,
    str::CStr,
    sync::aref::{ARef, AlwaysRefCounted},
    types::{ForeignOwnable, Opaque},
};

/// A device of the driver model.
///
/// Mirrors `kernel::device::Device`. References are created by bus abstractions for the scope the
/// context type describes; `ARef<Device>` owns a reference count.
///
/// # Invariants
///
/// The wrapped pointer is a valid `bindings::device` (a host device object) whose reference count
/// is non-zero for as long as the `Device` reference is used.
#[repr(transparent)]
pub struct Device<Ctx: DeviceContext = Normal>(Opaque<bindings::device>, PhantomData<Ctx>);

impl Device {
    /// Creates a counted reference from a raw device pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid and its reference count non-zero for the duration of this call.
    pub unsafe fn get_device(ptr: *mut bindings::device) -> ARef<Self> {
        // SAFETY: by the safety requirements.
        unsafe { Self::from_raw(ptr) }.into()
    }

    /// Converts a [`Device`] into a [`Device<Bound>`].
    ///
    /// # Safety
    ///
    /// The returned reference must only be used while the device is guaranteed to be bound.
    pub unsafe fn as_bound(&self) -> &Device<Bound> {
        let ptr = ptr::from_ref(self).cast::<Device<Bound>>();
        // SAFETY: `Device<Ctx>` is transparent over the same type for every context; the caller
        // guarantees the device is bound while the reference is used.
        unsafe { &*ptr }
    }
}

impl<'a> Device<CoreInternal<'a>> {
    /// Stores the bound driver's private data, initialised in place in a [`KBox`].
    ///
    /// Used by bus abstractions in `probe()`.
    pub fn set_drvdata<T>(&self, data: impl PinInit<T, Error>) -> Result {
        let data = KBox::pin_init(data, GFP_KERNEL)?;
        self.raw().set_drvdata(data.into_foreign());
        Ok(())
    }

    /// Takes the driver's private data back from the device, leaving none.
    ///
    /// # Safety
    ///
    /// `T` must be the type stored with [`Device::set_drvdata`].
    pub(crate) unsafe fn drvdata_obtain<T>(&self) -> Option<Pin<KBox<T>>> {
        let data = self.raw().drvdata();
        self.raw().set_drvdata(ptr::null_mut());
        // SAFETY: a non-null pointer was stored by `set_drvdata` from `into_foreign` of a
        // `Pin<KBox<T>>`, by the safety requirements, and is taken back only once (we cleared it).
        (!data.is_null()).then(|| unsafe { Pin::<KBox<T>>::from_foreign(data) })
    }
}

impl<Ctx: InternalBoundContext> Device<Ctx> {
    /// Borrows the bound driver's private data.
    ///
    /// # Safety
    ///
    /// The data must have been stored with [`Device::set_drvdata`] as a `T`, and the device must
    /// not be fully unbound while the borrow is used.
    pub unsafe fn drvdata_borrow<T>(&self) -> Pin<&T> {
        let data = self.raw().drvdata();
        // SAFETY: by the safety requirements, `data` comes from `into_foreign` of a
        // `Pin<KBox<T>>` that stays alive while borrowed.
        unsafe { Pin::<KBox<T>>::borrow(data) }
    }
}

impl<Ctx: DeviceContext> Device<Ctx> {
    /// Returns the raw device pointer.
    pub(crate) fn as_raw(&self) -> *mut bindings::device {
        self.0.get()
    }

    /// Returns the host device object.
    pub(crate) fn raw(&self) -> &bindings::device {
        // SAFETY: by the type invariant, the pointer is valid while `self` is.
        unsafe { &*self.as_raw() }
    }

    /// Returns the parent device, if any.
    pub(crate) fn parent(&self) -> Option<&Device> {
        self.raw().parent().map(|parent| {
            // SAFETY: a device holds a reference on its parent, so the parent is valid for as
            // long as `self` is.
            unsafe { Device::from_raw(ptr::from_ref(parent).cast_mut()) }
        })
    }

    /// Creates a reference from a raw device pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid, with a non-zero reference count, for the lifetime `'a`, and the device
    /// must be in the state `Ctx` promises for that lifetime.
    pub unsafe fn from_raw<'a>(ptr: *mut bindings::device) -> &'a Self {
        // SAFETY: `Device<Ctx>` is a transparent wrapper of `bindings::device`; validity is the
        // caller's guarantee.
        unsafe { &*ptr.cast() }
    }

    /// Prints an emergency-level message prefixed with the device (`dev_emerg()`).
    pub fn pr_emerg(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Emerg, args)
    }

    /// Prints an alert-level message prefixed with the device (`dev_alert()`).
    pub fn pr_alert(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Alert, args)
    }

    /// Prints a critical-level message prefixed with the device (`dev_crit()`).
    pub fn pr_crit(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Crit, args)
    }

    /// Prints an error-level message prefixed with the device (`dev_err()`).
    pub fn pr_err(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Err, args)
    }

    /// Prints a warning-level message prefixed with the device (`dev_warn()`).
    pub fn pr_warn(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Warning, args)
    }

    /// Prints a notice-level message prefixed with the device (`dev_notice()`).
    pub fn pr_notice(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Notice, args)
    }

    /// Prints an info-level message prefixed with the device (`dev_info()`).
    pub fn pr_info(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Info, args)
    }

    /// Prints a debug-level message prefixed with the device (`dev_dbg()`).
    pub fn pr_dbg(&self, args: fmt::Arguments<'_>) {
        self.printk(crate::print::Level::Debug, args)
    }

    /// Prints `args` at `level`, prefixed with the driver (or bus) and device names.
    fn printk(&self, level: crate::print::Level, args: fmt::Arguments<'_>) {
        drydock_host::print::dev_printk(self.raw(), level, args);
    }

    /// Returns the device's name, such as `0000:00:04.0`.
    #[inline]
    pub fn name(&self) -> &CStr {
        self.raw().name()
    }
}

// SAFETY: `Device` is a transparent wrapper of a type that doesn't depend on `Device`'s generic
// argument.
kernel::impl_device_context_deref!(unsafe { Device });
kernel::impl_device_context_into_aref!(Device);

// SAFETY: a host device is reference counted: `get`/`put` keep it alive while counted.
unsafe impl AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        self.raw().get();
    }

    unsafe fn dec_ref(obj: ptr::NonNull<Self>) {
        // SAFETY: the caller owns a reference on the device, which this consumes.
        unsafe { bindings::device::put(obj.cast().as_ptr()) }
    }
}

// SAFETY: a device is reference counted and may be released from any thread.
unsafe impl Send for Device {}

// SAFETY: every method of `Device` (`Normal`) is thread safe.
unsafe impl Sync for Device {}

// SAFETY: the `Bound` context is a type-state marker; the object is the same.
unsafe impl Sync for Device<Bound> {}

/// The context a device reference is valid in.
///
/// Mirrors `kernel::device::DeviceContext`; sealed.
pub trait DeviceContext: private::Sealed {}

/// The default context: no guarantee beyond the device being alive.
///
/// Mirrors `kernel::device::Normal`.
pub struct Normal;

/// The context of a bus callback such as `probe()`: the device is bound and its lock is held.
///
/// Mirrors `kernel::device::Core`. The lifetime brands the callback's scope; it is invariant, so
/// the reference cannot escape the callback.
pub struct Core<'a>(PhantomData<fn(&'a ()) -> &'a ()>);

/// [`Core`], reserved to bus abstractions.
///
/// Mirrors `kernel::device::CoreInternal`.
pub struct CoreInternal<'a>(PhantomData<fn(&'a ()) -> &'a ()>);

/// [`Bound`], reserved to bus abstractions.
///
/// Mirrors `kernel::device::BoundInternal`.
pub struct BoundInternal;

/// The context of a device guaranteed to be bound to a driver while the reference lives.
///
/// Mirrors `kernel::device::Bound`. DMA allocations, BAR mappings and `Devres::access` need it.
pub struct Bound;

mod private {
    pub trait Sealed {}

    impl Sealed for super::Bound {}
    impl Sealed for super::BoundInternal {}
    impl<'a> Sealed for super::Core<'a> {}
    impl<'a> Sealed for super::CoreInternal<'a> {}
    impl Sealed for super::Normal {}
}

impl DeviceContext for Bound {}
impl DeviceContext for BoundInternal {}
impl<'a> DeviceContext for Core<'a> {}
impl<'a> DeviceContext for CoreInternal<'a> {}
impl DeviceContext for Normal {}

/// The contexts that give bus abstractions internal access to a bound device.
///
/// Mirrors `kernel::device::InternalBoundContext`.
pub trait InternalBoundContext: DeviceContext {}
impl<'a> InternalBoundContext for CoreInternal<'a> {}
impl InternalBoundContext for BoundInternal {}

impl<Ctx: DeviceContext> AsRef<Device<Ctx>> for Device<Ctx> {
    #[inline]
    fn as_ref(&self) -> &Device<Ctx> {
        self
    }
}

/// Converts device references to the bus device that embeds them.
///
/// Mirrors `kernel::device::AsBusDevice`; for bus and class abstractions, not drivers.
///
/// # Safety
///
/// `OFFSET` must be the offset of the embedded device in the bus device structure.
pub unsafe trait AsBusDevice<Ctx: DeviceContext>: AsRef<Device<Ctx>> {
    /// The offset of the embedded device.
    const OFFSET: usize;

    /// Converts a device reference to the bus device containing it.
    ///
    /// # Safety
    ///
    /// `dev` must be embedded in a `Self`.
    unsafe fn from_device(dev: &Device<Ctx>) -> &Self
    where
        Self: Sized,
    {
        // SAFETY: by the safety requirements, the bus device starts `OFFSET` bytes before `dev`.
        unsafe { &*dev.as_raw().byte_sub(Self::OFFSET).cast::<Self>() }
    }
}

/// Implements [`Deref`](core::ops::Deref) from one device context to another.
///
/// # Safety
///
/// `$device` must be a transparent wrapper of a type that does not depend on its context.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_device_context_deref {
    (unsafe { $device:ident, <$lt:lifetime> $src:ty => $dst:ty }) => {
        impl<$lt> ::core::ops::Deref for $device<$src> {
            type Target = $device<$dst>;

            fn deref(&self) -> &Self::Target {
                let ptr: *const Self = self;
                // SAFETY: both contexts wrap the same object (the macro's safety requirement).
                unsafe { &*ptr.cast::<Self::Target>() }
            }
        }
    };
    (unsafe { $device:ident, $src:ty => $dst:ty }) => {
        impl ::core::ops::Deref for $device<$src> {
            type Target = $device<$dst>;

            fn deref(&self) -> &Self::Target {
                let ptr: *const Self = self;
                // SAFETY: both contexts wrap the same object (the macro's safety requirement).
                unsafe { &*ptr.cast::<Self::Target>() }
            }
        }
    };
}

/// Implements the context deref chain `CoreInternal -> Core -> Bound -> Normal` (and
/// `BoundInternal -> Bound`) for a bus device type.
///
/// Mirrors the kernel's `impl_device_context_deref!`.
///
/// # Safety
///
/// `$device` must be a transparent wrapper of a type that does not depend on its context.
#[macro_export]
macro_rules! impl_device_context_deref {
    (unsafe { $device:ident }) => {
        // SAFETY: the same safety requirement as this macro's.
        ::kernel::__impl_device_context_deref!(unsafe {
            $device, <'a> $crate::device::CoreInternal<'a> => $crate::device::Core<'a>
        });
        // SAFETY: as above.
        ::kernel::__impl_device_context_deref!(unsafe {
            $device, <'a> $crate::device::Core<'a> => $crate::device::Bound
        });
        // SAFETY: as above.
        ::kernel::__impl_device_context_deref!(unsafe {
            $device, $crate::device::BoundInternal => $crate::device::Bound
        });
        // SAFETY: as above.
        ::kernel::__impl_device_context_deref!(unsafe {
            $device, $crate::device::Bound => $crate::device::Normal
        });
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __impl_device_context_into_aref {
    (<$lt:lifetime> $src:ty, $device:tt) => {
        impl<$lt> ::core::convert::From<&$device<$src>> for $crate::sync::aref::ARef<$device> {
            fn from(dev: &$device<$src>) -> Self {
                (&**dev).into()
            }
        }
    };
    ($src:ty, $device:tt) => {
        impl ::core::convert::From<&$device<$src>> for $crate::sync::aref::ARef<$device> {
            fn from(dev: &$device<$src>) -> Self {
                (&**dev).into()
            }
        }
    };
}

/// Implements `From<&$device<Ctx>>` for `ARef<$device>` for every context, so any reference can
/// be turned into a counted one with `.into()`.
///
/// Mirrors the kernel's `impl_device_context_into_aref!`.
#[macro_export]
macro_rules! impl_device_context_into_aref {
    ($device:tt) => {
        ::kernel::__impl_device_context_into_aref!(<'a> $crate::device::CoreInternal<'a>, $device);
        ::kernel::__impl_device_context_into_aref!(<'a> $crate::device::Core<'a>, $device);
        ::kernel::__impl_device_context_into_aref!($crate::device::BoundInternal, $device);
        ::kernel::__impl_device_context_into_aref!($crate::device::Bound, $device);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! dev_printk {
    ($method:ident, $dev:expr, $($f:tt)*) => {
        $crate::device::Device::$method($dev.as_ref(), $crate::prelude::fmt!($($f)*))
    };
}

/// Prints an emergency-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_emerg!`. The first argument is a device (any bus device or
/// `device::Device`); the rest are `format_args!` arguments.
///
/// # Examples
///
/// ```
/// # use kernel::{device::Device, prelude::*};
/// fn example(dev: &Device) {
///     dev_emerg!(dev, "hello {}\n", "there");
/// }
/// ```
#[macro_export]
macro_rules! dev_emerg {
    ($($f:tt)*) => { $crate::dev_printk!(pr_emerg, $($f)*) };
}

/// Prints an alert-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_alert!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_alert {
    ($($f:tt)*) => { $crate::dev_printk!(pr_alert, $($f)*) };
}

/// Prints a critical-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_crit!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_crit {
    ($($f:tt)*) => { $crate::dev_printk!(pr_crit, $($f)*) };
}

/// Prints an error-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_err!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_err {
    ($($f:tt)*) => { $crate::dev_printk!(pr_err, $($f)*) };
}

/// Prints a warning-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_warn!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_warn {
    ($($f:tt)*) => { $crate::dev_printk!(pr_warn, $($f)*) };
}

/// Prints a notice-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_notice!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_notice {
    ($($f:tt)*) => { $crate::dev_printk!(pr_notice, $($f)*) };
}

/// Prints an info-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_info!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_info {
    ($($f:tt)*) => { $crate::dev_printk!(pr_info, $($f)*) };
}

/// Prints a debug-level message prefixed with the device.
///
/// Mirrors the kernel's `dev_dbg!`; see [`dev_emerg!`](crate::dev_emerg).
#[macro_export]
macro_rules! dev_dbg {
    ($($f:tt)*) => { $crate::dev_printk!(pr_dbg, $($f)*) };
}
