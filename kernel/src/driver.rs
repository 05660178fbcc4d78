//! Generic support for the drivers of every bus.
//!
//! Mirrors `rust/kernel/driver.rs` of Linux 7.3: the [`RegistrationOps`] a bus abstraction
//! implements to register its driver type, the generic [`Registration`] that does so for the
//! lifetime of a module, and [`module_driver!`](crate::module_driver) which bus macros such as `module_pci_driver!` use.
//!
//! As in the kernel, after a driver's `remove()` the driver core calls back into the registration
//! to drop the driver's private data, before the device-managed resources are released.
//!
//! Not mirrored: `driver::Adapter` (ACPI and Open Firmware ID matching), which PCI drivers do not
//! use and which has no userspace counterpart.

use crate::{bindings, device, prelude::*, types::Opaque, ThisModule};

/// Describes the layout of a bus's driver structure.
///
/// Mirrors `kernel::driver::DriverLayout`.
///
/// # Safety
///
/// `DriverType` must be `repr(C)` with a `bindings::device_driver` at `DEVICE_DRIVER_OFFSET`, and
/// `DriverData` must be the type of the driver's private data.
pub unsafe trait DriverLayout {
    /// The bus's driver structure, such as `bindings::pci_driver`.
    type DriverType: Default;

    /// The type of the driver's private data.
    type DriverData<'bound>;

    /// The offset of the embedded `bindings::device_driver`.
    const DEVICE_DRIVER_OFFSET: usize;
}

/// How a bus registers and unregisters its driver type.
///
/// Mirrors `kernel::driver::RegistrationOps`.
///
/// # Safety
///
/// [`RegistrationOps::unregister`] is only valid after a successful [`RegistrationOps::register`]
/// of the same structure.
pub unsafe trait RegistrationOps: DriverLayout {
    /// Registers the driver in `reg` for `module`.
    ///
    /// # Safety
    ///
    /// On success, `reg` must stay pinned and valid until [`RegistrationOps::unregister`].
    unsafe fn register(
        reg: &Opaque<Self::DriverType>,
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> Result;

    /// Unregisters the driver in `reg`.
    ///
    /// # Safety
    ///
    /// `reg` must have been registered with [`RegistrationOps::register`].
    unsafe fn unregister(reg: &Opaque<Self::DriverType>);
}

/// The registration of a driver on its bus; unregistered when dropped.
///
/// Mirrors `kernel::driver::Registration`.
///
/// # Invariants
///
/// `reg` was successfully registered with `T::register` and stays so until dropped.
#[pin_data(PinnedDrop)]
pub struct Registration<T: RegistrationOps> {
    #[pin]
    reg: Opaque<T::DriverType>,
}

// SAFETY: a `Registration` offers nothing through a shared reference.
unsafe impl<T: RegistrationOps> Sync for Registration<T> {}

// SAFETY: registration and unregistration may happen on any thread.
unsafe impl<T: RegistrationOps> Send for Registration<T> {}

impl<T: RegistrationOps> Registration<T> {
    /// Drops the driver's private data of `dev`, after `remove()`.
    ///
    /// # Safety
    ///
    /// `dev` must be a valid device whose driver is `T`'s, called by the driver core once per
    /// unbind.
    unsafe fn post_unbind_callback(dev: *mut bindings::device) {
        // SAFETY: the driver core calls this with a valid device, within its unbind.
        let dev = unsafe { device::Device::<device::CoreInternal<'_>>::from_raw(dev) };
        // SAFETY: the bus adapter stored `T::DriverData` with `set_drvdata` (`DriverLayout`'s
        // safety requirement).
        drop(unsafe { dev.drvdata_obtain::<T::DriverData<'_>>() });
    }

    /// Sets the generic driver-core callbacks of the embedded `device_driver`.
    fn callbacks_attach(drv: &Opaque<T::DriverType>) {
        // SAFETY: the offset points to the embedded `device_driver` (`DriverLayout`'s safety
        // requirement), inside the structure `drv` holds.
        let base = unsafe { drv.get().cast::<u8>().add(T::DEVICE_DRIVER_OFFSET) };
        let base = base.cast::<bindings::device_driver>();
        // SAFETY: the structure is being initialised and not yet shared.
        unsafe { (*base).p_cb.post_unbind_rust = Some(Self::post_unbind_callback) };
    }

    /// Registers a driver named `name` for `module`.
    pub fn new(name: &'static CStr, module: &'static ThisModule) -> impl PinInit<Self, Error>
    where
        T: 'static,
    {
        try_pin_init!(Self {
            reg <- Opaque::try_ffi_init(|ptr: *mut T::DriverType| {
                // SAFETY: `try_ffi_init` hands us memory valid for a write.
                unsafe { ptr.write(T::DriverType::default()) };
                // SAFETY: just initialised; `Opaque<T>` is transparent over `T`.
                let drv = unsafe { &*ptr.cast::<Opaque<T::DriverType>>() };
                Self::callbacks_attach(drv);
                // SAFETY: the structure is pinned until `PinnedDrop` unregisters it.
                unsafe { T::register(drv, name, module) }
            }),
        })
    }
}

#[pinned_drop]
impl<T: RegistrationOps> PinnedDrop for Registration<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: by the type invariant, `reg` is registered.
        unsafe { T::unregister(&self.reg) };
    }
}

/// Declares a module with a single driver of a bus.
///
/// Mirrors the kernel's `module_driver!`, for bus macros such as `module_pci_driver!`.
#[macro_export]
macro_rules! module_driver {
    (<$gen_type:ident>, $driver_ops:ty, { type: $type:ty, $($f:tt)* }) => {
        type Ops<$gen_type> = $driver_ops;

        #[$crate::prelude::pin_data]
        struct DriverModule {
            #[pin]
            _driver: $crate::driver::Registration<Ops<$type>>,
        }

        impl $crate::InPlaceModule for DriverModule {
            fn init(
                module: &'static $crate::ThisModule,
            ) -> impl ::pin_init::PinInit<Self, $crate::error::Error> {
                $crate::try_pin_init!(Self {
                    _driver <- $crate::driver::Registration::new(
                        <Self as $crate::ModuleMetadata>::NAME,
                        module,
                    ),
                })
            }
        }

        $crate::prelude::module! {
            type: DriverModule,
            $($f)*
        }
    };
}
