//! The PCI bus: drivers, devices, IDs, BARs, configuration space and interrupt vectors.
//!
//! Mirrors `rust/kernel/pci.rs` and `rust/kernel/pci/` of Linux 7.3. A PCI driver implements
//! [`Driver`], declares its ID table with [`pci_device_table!`](crate::pci_device_table) and its
//! module with [`module_pci_driver!`](crate::module_pci_driver); `probe` receives a
//! [`Device<Core>`](Device) and returns the driver's data, which may borrow the device and its
//! [`Bar`]s for as long as the driver is bound.
//!
//! In userspace the device is a function opened by a backend of the host machinery (VFIO, UIO, or
//! the simulated bus), and the module is loaded into the bus of those devices; the API is the
//! kernel's. See `docs/porting.md` for the differences, item by item.

use core::marker::PhantomData;
use core::mem::offset_of;
use core::num::NonZero;
use core::ptr::{addr_of_mut, NonNull};

use crate::{
    bindings, container_of, device,
    device_id::{RawDeviceId, RawDeviceIdIndex},
    driver,
    error::from_result,
    prelude::*,
    str::CStr,
    types::Opaque,
    ThisModule,
};

mod id;
mod io;
mod irq;

pub use self::id::{Class, ClassMask, Vendor};
pub use self::io::{Bar, ConfigSpace, ConfigSpaceSize, DevresBar, Extended, Normal};
pub use self::irq::{IrqType, IrqTypes, IrqVector, IrqVectorRegistration};

/// The adapter between the PCI bus and a [`Driver`].
///
/// Mirrors `kernel::pci::Adapter`.
pub struct Adapter<T: Driver>(T);

// SAFETY: `pci_driver` is `repr(C)` and embeds a `device_driver` at `driver`; `T::Data` is the
// data `probe_callback` stores.
unsafe impl<T: Driver> driver::DriverLayout for Adapter<T> {
    type DriverType = bindings::pci_driver;
    type DriverData<'bound> = T::Data<'bound>;
    const DEVICE_DRIVER_OFFSET: usize = offset_of!(bindings::pci_driver, driver);
}

// SAFETY: `unregister` is only reached through `Registration`, after a successful `register`.
unsafe impl<T: Driver + 'static> driver::RegistrationOps for Adapter<T> {
    unsafe fn register(
        pdrv: &Opaque<Self::DriverType>,
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> Result {
        // SAFETY: `module` was made by `ThisModule::from_ptr`, whose caller guaranteed it is the
        // right `THIS_MODULE`: null for a module that was never loaded, or the pointer the host
        // lent the module's initialisation, valid while the module is loaded, which outlasts its
        // registrations.
        let Some(bus) = (unsafe { drydock_host::module::bus_of(module.as_ptr()) }) else {
            pr_err!(
                "{}: cannot register a PCI driver for a module that was not loaded into a bus\n",
                name.to_string_lossy()
            );
            return Err(EINVAL);
        };
        // SAFETY: the structure is being initialised by `Registration::new` and not yet shared.
        unsafe {
            let drv = pdrv.get();
            (*drv).name = name.as_ptr();
            (*drv).probe = Some(Self::probe_callback);
            (*drv).remove = Some(Self::remove_callback);
            (*drv).id_table = T::ID_TABLE.as_ptr();
            (*drv).driver_type = Some(core::any::TypeId::of::<T>());
        }
        // SAFETY: `pdrv` stays pinned and valid until `unregister` returns (`register`'s
        // contract), its callbacks accept any PCI device of the bus, on any thread (the driver's
        // data is `Send`), and its name is a static C string.
        unsafe { bus.register_driver(pdrv.get()) }.map_err(Error::from)
    }

    unsafe fn unregister(pdrv: &Opaque<Self::DriverType>) {
        // SAFETY: registration set the bus, which outlives the module's registrations.
        let bus = unsafe { (*pdrv.get()).driver.bus };
        // SAFETY: as above; the driver was registered on this bus.
        unsafe { (*bus).unregister_driver(pdrv.get()) };
    }
}

impl<T: Driver> Adapter<T> {
    /// The bus's probe callback: runs [`Driver::probe`] and stores the driver's data.
    ///
    /// # Safety
    ///
    /// `pdev` must be a valid device the bus is binding, with its lock held, and `id` the entry of
    /// `T::ID_TABLE` that matched it.
    unsafe fn probe_callback(
        pdev: *mut bindings::pci_dev,
        id: *const bindings::pci_device_id,
    ) -> c_int {
        // SAFETY: the bus calls probe with a valid device, locked for the duration of the call.
        let pdev = unsafe { &*pdev.cast::<Device<device::CoreInternal<'_>>>() };
        // SAFETY: `DeviceId` is a transparent wrapper of `pci_device_id`.
        let id = unsafe { &*id.cast::<DeviceId>() };
        // SAFETY: `id` comes from `T::ID_TABLE`, an `IdArray<DeviceId, T::IdInfo, _>`.
        let info = unsafe { id.info_unchecked_opt::<T::IdInfo>() };
        from_result(|| {
            let data = T::probe(pdev, info);
            pdev.as_ref().set_drvdata(data)?;
            Ok(0)
        })
    }

    /// The bus's remove callback: runs [`Driver::unbind`].
    ///
    /// # Safety
    ///
    /// `pdev` must be a valid device bound to this driver by a successful probe, with its lock
    /// held.
    unsafe fn remove_callback(pdev: *mut bindings::pci_dev) {
        // SAFETY: the bus calls remove with a valid, locked device.
        let pdev = unsafe { &*pdev.cast::<Device<device::CoreInternal<'_>>>() };
        // SAFETY: the probe stored a `T::Data` (this driver is bound), which stays until the
        // driver core's post-unbind callback.
        let data = unsafe { pdev.as_ref().drvdata_borrow::<T::Data<'_>>() };
        T::unbind(pdev, data);
    }
}

/// Declares a module with a single PCI driver.
///
/// Mirrors the kernel's `module_pci_driver!`.
///
/// # Examples
///
/// ```
/// use kernel::{device::Core, pci, prelude::*};
///
/// struct MyDriver;
///
/// kernel::pci_device_table!(
///     PCI_TABLE,
///     <MyDriver as pci::Driver>::IdInfo,
///     [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x0005), ())]
/// );
///
/// impl pci::Driver for MyDriver {
///     type IdInfo = ();
///     type Data<'bound> = ();
///     const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;
///
///     fn probe<'bound>(
///         pdev: &'bound pci::Device<Core<'_>>,
///         _info: Option<&'bound Self::IdInfo>,
///     ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
///         dev_info!(pdev, "probed\n");
///         Ok(())
///     }
/// }
///
/// kernel::module_pci_driver! {
///     type: MyDriver,
///     name: "my_driver",
///     authors: ["Author name"],
///     description: "Description",
///     license: "GPL v2",
/// }
/// ```
#[macro_export]
macro_rules! module_pci_driver {
    ($($f:tt)*) => {
        $crate::module_driver!(<T>, $crate::pci::Adapter<T>, { $($f)* });
    };
}

/// A PCI device ID: which devices a driver entry matches (`struct pci_device_id`).
///
/// Mirrors `kernel::pci::DeviceId`.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct DeviceId(bindings::pci_device_id);

impl DeviceId {
    const PCI_ANY_ID: u32 = !0;

    /// Matches a vendor and device ID, any subsystem (C's `PCI_DEVICE`).
    #[inline]
    pub const fn from_id(vendor: Vendor, device: u32) -> Self {
        Self(bindings::pci_device_id {
            vendor: vendor.as_raw() as u32,
            device,
            subvendor: DeviceId::PCI_ANY_ID,
            subdevice: DeviceId::PCI_ANY_ID,
            class: 0,
            class_mask: 0,
            driver_data: 0,
            override_only: 0,
        })
    }

    /// Matches a class code under a mask, any vendor (C's `PCI_DEVICE_CLASS`).
    #[inline]
    pub const fn from_class(class: u32, class_mask: u32) -> Self {
        Self(bindings::pci_device_id {
            vendor: DeviceId::PCI_ANY_ID,
            device: DeviceId::PCI_ANY_ID,
            subvendor: DeviceId::PCI_ANY_ID,
            subdevice: DeviceId::PCI_ANY_ID,
            class,
            class_mask,
            driver_data: 0,
            override_only: 0,
        })
    }

    /// Matches a class under a mask and a vendor.
    #[inline]
    pub const fn from_class_and_vendor(
        class: Class,
        class_mask: ClassMask,
        vendor: Vendor,
    ) -> Self {
        Self(bindings::pci_device_id {
            vendor: vendor.as_raw() as u32,
            device: DeviceId::PCI_ANY_ID,
            subvendor: DeviceId::PCI_ANY_ID,
            subdevice: DeviceId::PCI_ANY_ID,
            class: class.as_raw(),
            class_mask: class_mask.as_raw(),
            driver_data: 0,
            override_only: 0,
        })
    }
}

// SAFETY: `DeviceId` is a transparent wrapper of `pci_device_id`.
unsafe impl RawDeviceId for DeviceId {
    type RawType = bindings::pci_device_id;
}

// SAFETY: `driver_data` is a pointer-sized field at this offset.
unsafe impl RawDeviceIdIndex for DeviceId {
    const DRIVER_DATA_OFFSET: usize = offset_of!(bindings::pci_device_id, driver_data);
}

/// A PCI driver's ID table, as its `ID_TABLE` constant names it.
///
/// Mirrors `kernel::pci::IdTable`.
pub type IdTable<T> = &'static dyn kernel::device_id::IdTable<DeviceId, T>;

/// Declares a PCI device ID table.
///
/// Mirrors the kernel's `pci_device_table!`: the table's name, the information type of its
/// entries, and `(DeviceId, info)` pairs.
#[macro_export]
macro_rules! pci_device_table {
    ($($tt:tt)*) => {
        $crate::module_device_table!("pci", $crate::pci::DeviceId, $($tt)*);
    };
}

/// A PCI driver.
///
/// Mirrors `kernel::pci::Driver`.
///
/// # Examples
///
/// ```
/// # use kernel::{device::Core, pci, prelude::*};
/// struct MyDriver;
///
/// kernel::pci_device_table!(
///     PCI_TABLE,
///     <MyDriver as pci::Driver>::IdInfo,
///     [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
/// );
///
/// impl pci::Driver for MyDriver {
///     type IdInfo = ();
///     type Data<'bound> = Self;
///     const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;
///
///     fn probe<'bound>(
///         _pdev: &'bound pci::Device<Core<'_>>,
///         _id_info: Option<&'bound Self::IdInfo>,
///     ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
///         Err(ENODEV)
///     }
/// }
/// ```
pub trait Driver {
    /// The information attached to each entry of the ID table.
    type IdInfo: 'static;

    /// The driver's private data for a bound device; it may borrow the device for `'bound`.
    type Data<'bound>: Send + 'bound;

    /// The devices the driver supports.
    const ID_TABLE: IdTable<Self::IdInfo>;

    /// Binds the driver to a device that matched the table; returns the driver's data.
    ///
    /// `id_info` is the matching entry's information, or `None` for a device bound without a
    /// table match.
    fn probe<'bound>(
        dev: &'bound Device<device::Core<'_>>,
        id_info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound;

    /// Called when the device is unbound, before the driver's data is dropped, while the device
    /// may still be accessed (to quiesce it, for instance). Optional.
    fn unbind<'bound>(dev: &'bound Device<device::Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        let _ = (dev, this);
    }
}

/// A PCI device (`struct pci_dev`).
///
/// Mirrors `kernel::pci::Device`.
///
/// # Invariants
///
/// The wrapped pointer is a valid host PCI device (`bindings::pci_dev`).
#[repr(transparent)]
pub struct Device<Ctx: device::DeviceContext = device::Normal>(
    Opaque<bindings::pci_dev>,
    PhantomData<Ctx>,
);

impl<Ctx: device::DeviceContext> Device<Ctx> {
    #[inline]
    fn as_raw(&self) -> *mut bindings::pci_dev {
        self.0.get()
    }

    /// The host PCI device.
    #[inline]
    pub(crate) fn raw(&self) -> &bindings::pci_dev {
        // SAFETY: by the type invariant, the pointer is valid while `self` is.
        unsafe { &*self.as_raw() }
    }
}

impl Device {
    /// Returns the vendor ID.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::{device::Core, pci, prelude::*};
    /// fn log_device_info(pdev: &pci::Device<Core<'_>>) -> Result {
    ///     dev_info!(pdev, "Device: Vendor={}, Device=0x{:x}\n", pdev.vendor_id(), pdev.device_id());
    ///     Ok(())
    /// }
    /// ```
    #[inline]
    pub fn vendor_id(&self) -> Vendor {
        Vendor::from_raw(self.raw().vendor())
    }

    /// Returns the device ID.
    #[inline]
    pub fn device_id(&self) -> u16 {
        self.raw().device()
    }

    /// Returns the revision ID.
    #[inline]
    pub fn revision_id(&self) -> u8 {
        self.raw().revision()
    }

    /// Returns the bus number and device/function (`pci_dev_id()`).
    #[inline]
    pub fn dev_id(&self) -> u16 {
        self.raw().dev_id()
    }

    /// Returns the subsystem vendor ID.
    #[inline]
    pub fn subsystem_vendor_id(&self) -> u16 {
        self.raw().subsystem_vendor()
    }

    /// Returns the subsystem device ID.
    #[inline]
    pub fn subsystem_device_id(&self) -> u16 {
        self.raw().subsystem_device()
    }

    /// Returns the start address of resource `bar`; `EINVAL` for an invalid index.
    ///
    /// Difference from the kernel: for devices reached through the simulated bus the address is 0.
    pub fn resource_start(&self, bar: u32) -> Result<bindings::resource_size_t> {
        if !Bar::index_is_valid(bar) {
            return Err(EINVAL);
        }
        Ok(self.raw().resource_start(bar))
    }

    /// Returns the length of resource `bar` (0 if absent); `EINVAL` for an invalid index.
    pub fn resource_len(&self, bar: u32) -> Result<bindings::resource_size_t> {
        if !Bar::index_is_valid(bar) {
            return Err(EINVAL);
        }
        Ok(self.raw().resource_len(bar))
    }

    /// Returns the class code.
    #[inline]
    pub fn pci_class(&self) -> Class {
        Class::from_raw(self.raw().class())
    }
}

impl<'a> Device<device::Core<'a>> {
    /// Returns the number of SR-IOV virtual functions, or `None` without SR-IOV.
    ///
    /// Difference from the kernel: drydock does not manage virtual functions, so this is always
    /// `None`.
    #[inline]
    pub fn sriov_get_totalvfs(&self) -> Option<NonZero<u16>> {
        None
    }

    /// Enables the device's memory space decoding (`pci_enable_device_mem()`).
    pub fn enable_device_mem(&self) -> Result {
        self.raw().enable_device_mem().map_err(Error::from)
    }

    /// Enables bus mastering, which DMA and MSI need (`pci_set_master()`).
    #[inline]
    pub fn set_master(&self) {
        self.raw().set_master()
    }
}

// SAFETY: `pci::Device` is a transparent wrapper of `pci_dev`, whose `dev` field is the device.
unsafe impl<Ctx: device::DeviceContext> device::AsBusDevice<Ctx> for Device<Ctx> {
    const OFFSET: usize = offset_of!(bindings::pci_dev, dev);
}

// SAFETY: `Device` is a transparent wrapper of a type that doesn't depend on `Device`'s generic
// argument.
kernel::impl_device_context_deref!(unsafe { Device });
kernel::impl_device_context_into_aref!(Device);

impl<'a> crate::dma::Device<'a> for Device<device::Core<'a>> {}

// SAFETY: PCI devices are reference counted through their embedded device.
unsafe impl crate::sync::aref::AlwaysRefCounted for Device {
    #[inline]
    fn inc_ref(&self) {
        self.raw().dev.get();
    }

    #[inline]
    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: the caller owns a reference; `dev` is the first field of `pci_dev`.
        unsafe { bindings::device::put(obj.cast().as_ptr()) }
    }
}

impl<Ctx: device::DeviceContext> AsRef<device::Device<Ctx>> for Device<Ctx> {
    fn as_ref(&self) -> &device::Device<Ctx> {
        // SAFETY: by the type invariant, `self.as_raw()` is valid; `dev` is a field of it.
        let dev = unsafe { addr_of_mut!((*self.as_raw()).dev) };
        // SAFETY: `dev` is a valid device for as long as `self` is, in the same context.
        unsafe { device::Device::from_raw(dev) }
    }
}

impl<Ctx: device::DeviceContext> TryFrom<&device::Device<Ctx>> for &Device<Ctx> {
    type Error = kernel::error::Error;

    fn try_from(dev: &device::Device<Ctx>) -> Result<Self, Self::Error> {
        if dev.raw().bus_type() != drydock_host::device::BusType::Pci {
            return Err(EINVAL);
        }
        // SAFETY: the device is on the PCI bus, so it is the `dev` field of a `pci_dev`.
        let pdev = unsafe { container_of!(dev.as_raw(), bindings::pci_dev, dev) };
        // SAFETY: `pdev` is a valid `pci_dev`, alive as long as `dev`.
        Ok(unsafe { &*pdev.cast() })
    }
}

// SAFETY: a `Device` is reference counted and may be released from any thread.
unsafe impl Send for Device {}

// SAFETY: every method of `Device` (`Normal`) is thread safe.
unsafe impl Sync for Device {}

// SAFETY: the `Bound` context is a type-state marker; the object is the same.
unsafe impl Sync for Device<device::Bound> {}
