//! The auxiliary bus: devices a driver adds under its own device, for other drivers to bind.
//!
//! Mirrors `rust/kernel/auxiliary.rs` of Linux 7.3. A driver (the parent, typically a PCI
//! driver) splits its device's functions by creating a [`Registration`] per function, which adds
//! an auxiliary device named `modname.name.id` under the parent device and carries data the parent
//! shares with the device's driver. An auxiliary driver implements [`Driver`], names the devices
//! it binds in an [`IdTable`] of `modname.name` entries ([`DeviceId::new`],
//! [`auxiliary_device_table!`](crate::auxiliary_device_table)), and is registered with
//! [`module_auxiliary_driver!`](crate::module_auxiliary_driver) or a
//! [`driver::Registration`] of [`Adapter`]; its `probe` reaches the parent's data through
//! [`Device::registration_data`] or [`Device::registration_data_with`].
//!
//! Dropping the [`Registration`] (with the parent driver's data, at unbind) unbinds the
//! auxiliary device's driver, releases its device-managed resources, and removes the device,
//! before the parent's own resources are released.
//!
//! In userspace the bus is the host's (`drydock_host::auxiliary`): an auxiliary driver is
//! registered on the bus its module was loaded into, and an auxiliary device is added to the bus
//! of its parent's driver, so devices and drivers of the modules of one process meet as they would
//! in one kernel. Differences from the kernel, listed in `docs/porting.md`: the module is always
//! built (the kernel gates it on `CONFIG_AUXILIARY_BUS`), and the parent must be bound to a driver
//! of a loaded module (a faux device cannot be a parent).

use crate::{
    bindings, device,
    device_id::{RawDeviceId, RawDeviceIdIndex},
    driver,
    error::from_result,
    prelude::*,
    types::{CovariantForLt, ForLt, ForeignOwnable, Opaque},
    ThisModule,
};
use core::{
    any::TypeId,
    marker::PhantomData,
    mem::offset_of,
    pin::Pin,
    ptr::{addr_of_mut, NonNull},
};
use drydock_host::auxiliary as host;

/// The adapter between the auxiliary bus and a [`Driver`], registered with a
/// [`driver::Registration`].
///
/// Mirrors `kernel::auxiliary::Adapter`.
pub struct Adapter<T: Driver>(T);

// SAFETY: `auxiliary_driver` is `repr(C)` and embeds a `device_driver` at `driver`; `T::Data` is
// the data `probe_callback` stores.
unsafe impl<T: Driver> driver::DriverLayout for Adapter<T> {
    type DriverType = bindings::auxiliary_driver;
    type DriverData<'bound> = T::Data<'bound>;
    const DEVICE_DRIVER_OFFSET: usize = offset_of!(Self::DriverType, driver);
}

// SAFETY: `unregister` is only reached through `Registration`, after a successful `register`.
unsafe impl<T: Driver> driver::RegistrationOps for Adapter<T> {
    unsafe fn register(
        adrv: &Opaque<Self::DriverType>,
        name: &'static CStr,
        module: &'static ThisModule,
    ) -> Result {
        // SAFETY: the structure is being initialised by `Registration::new` and not yet shared.
        unsafe {
            let drv = adrv.get();
            (*drv).name = name.as_ptr();
            (*drv).probe = Some(Self::probe_callback);
            (*drv).remove = Some(Self::remove_callback);
            (*drv).id_table = T::ID_TABLE.as_ptr();
        }
        // SAFETY: `adrv` stays pinned and valid until `unregister` returns (`register`'s
        // contract); its table is an `IdArray` (zero-terminated), its name a static C string, and
        // its callbacks accept any auxiliary device the table matches, on any thread (the driver's
        // data is `Send`). `module` is the `THIS_MODULE` of the module being initialised
        // (`ThisModule`'s invariant), loaded while its registrations live.
        unsafe { host::__auxiliary_driver_register(adrv.get(), module.as_ptr(), name) }
            .map_err(Error::from)
    }

    unsafe fn unregister(adrv: &Opaque<Self::DriverType>) {
        // SAFETY: the driver was registered (`unregister`'s contract).
        unsafe { host::auxiliary_driver_unregister(adrv.get()) }
    }
}

impl<T: Driver> Adapter<T> {
    /// The bus's probe callback: runs [`Driver::probe`] and stores the driver's data.
    ///
    /// # Safety
    ///
    /// `adev` must be a valid device the bus is binding, with its lock held, and `id` the entry of
    /// `T::ID_TABLE` that matched it.
    unsafe fn probe_callback(
        adev: *mut bindings::auxiliary_device,
        id: *const bindings::auxiliary_device_id,
    ) -> c_int {
        // SAFETY: the bus calls probe with a valid device, locked for the duration of the call.
        let adev = unsafe { &*adev.cast::<Device<device::CoreInternal<'_>>>() };
        // SAFETY: `DeviceId` is a transparent wrapper of `auxiliary_device_id`.
        let id = unsafe { &*id.cast::<DeviceId>() };
        // SAFETY: `id` comes from `T::ID_TABLE`, an `IdArray<DeviceId, T::IdInfo, _>`.
        let info = unsafe { id.info_unchecked::<T::IdInfo>() };
        from_result(|| {
            let data = T::probe(adev, info);
            adev.as_ref().set_drvdata(data)?;
            Ok(0)
        })
    }

    /// The bus's remove callback: runs [`Driver::unbind`].
    ///
    /// # Safety
    ///
    /// `adev` must be a valid device bound to this driver by a successful probe, with its lock
    /// held.
    unsafe fn remove_callback(adev: *mut bindings::auxiliary_device) {
        // SAFETY: the bus calls remove with a valid, locked device.
        let adev = unsafe { &*adev.cast::<Device<device::CoreInternal<'_>>>() };
        // SAFETY: the probe stored a `T::Data` (this driver is bound), which stays until the
        // driver core's post-unbind callback.
        let data = unsafe { adev.as_ref().drvdata_borrow::<T::Data<'_>>() };
        T::unbind(adev, data);
    }
}

/// Declares a module with a single auxiliary driver.
///
/// Mirrors the kernel's `module_auxiliary_driver!`; the keys are those of `module!`.
///
/// # Examples
///
/// ```
/// use kernel::{auxiliary, device::Core, prelude::*};
///
/// struct MyDriver;
///
/// kernel::auxiliary_device_table!(
///     AUX_TABLE,
///     <MyDriver as auxiliary::Driver>::IdInfo,
///     [(auxiliary::DeviceId::new(c"my_parent", c"function"), ())]
/// );
///
/// impl auxiliary::Driver for MyDriver {
///     type IdInfo = ();
///     type Data<'bound> = ();
///     const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &AUX_TABLE;
///
///     fn probe<'bound>(
///         adev: &'bound auxiliary::Device<Core<'_>>,
///         _info: &'bound Self::IdInfo,
///     ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
///         dev_info!(adev, "probed auxiliary device {}\n", adev.id());
///         Ok(())
///     }
/// }
///
/// kernel::module_auxiliary_driver! {
///     type: MyDriver,
///     name: "my_aux_driver",
///     authors: ["Author name"],
///     description: "Description",
///     license: "GPL v2",
/// }
/// ```
#[macro_export]
macro_rules! module_auxiliary_driver {
    ($($f:tt)*) => {
        $crate::module_driver!(<T>, $crate::auxiliary::Adapter<T>, { $($f)* });
    };
}

/// An auxiliary device ID: the `modname.name` of the devices a driver entry matches
/// (`struct auxiliary_device_id`).
///
/// Mirrors `kernel::auxiliary::DeviceId`.
#[repr(transparent)]
#[derive(Clone, Copy)]
pub struct DeviceId(bindings::auxiliary_device_id);

impl DeviceId {
    /// Creates the ID that matches the devices named `name` by the module `modname`: those a
    /// [`Registration`] added with these two names.
    ///
    /// Fails to build (an index out of bounds in a constant) if `modname.name` does not fit the
    /// 40 bytes of the C structure, NUL included, as in the kernel.
    pub const fn new(modname: &'static CStr, name: &'static CStr) -> Self {
        let modname = modname.to_bytes();
        let name = name.to_bytes_with_nul();
        let mut id = bindings::auxiliary_device_id {
            name: [0; bindings::AUXILIARY_NAME_SIZE],
            driver_data: 0,
        };
        let mut i = 0;
        while i < modname.len() {
            id.name[i] = modname[i] as c_char;
            i += 1;
        }
        id.name[i] = b'.' as c_char;
        i += 1;
        let mut j = 0;
        while j < name.len() {
            id.name[i] = name[j] as c_char;
            i += 1;
            j += 1;
        }
        Self(id)
    }
}

// SAFETY: `DeviceId` is a transparent wrapper of `auxiliary_device_id`.
unsafe impl RawDeviceId for DeviceId {
    type RawType = bindings::auxiliary_device_id;
}

// SAFETY: `driver_data` is a pointer-sized field (`unsigned long` on 64-bit) at this offset.
unsafe impl RawDeviceIdIndex for DeviceId {
    const DRIVER_DATA_OFFSET: usize = offset_of!(bindings::auxiliary_device_id, driver_data);
}

/// An auxiliary driver's ID table, as its `ID_TABLE` constant names it.
///
/// Mirrors `kernel::auxiliary::IdTable`.
pub type IdTable<T> = &'static dyn kernel::device_id::IdTable<DeviceId, T>;

/// Declares an auxiliary device ID table.
///
/// Mirrors the kernel's `auxiliary_device_table!`: the table's name, the information type of its
/// entries, and `(DeviceId, info)` pairs.
#[macro_export]
macro_rules! auxiliary_device_table {
    ($($tt:tt)*) => {
        $crate::module_device_table!("auxiliary", $crate::auxiliary::DeviceId, $($tt)*);
    };
}

/// An auxiliary driver.
///
/// Mirrors `kernel::auxiliary::Driver`. See
/// [`module_auxiliary_driver!`](crate::module_auxiliary_driver) for an example.
pub trait Driver {
    /// The information attached to each entry of the ID table.
    type IdInfo: 'static;

    /// The driver's private data for a bound device; it may borrow the device for `'bound`.
    type Data<'bound>: Send + 'bound;

    /// The devices the driver binds.
    const ID_TABLE: IdTable<Self::IdInfo>;

    /// Binds the driver to a device whose name matched an entry of the table; `id_info` is that
    /// entry's information. Returns the driver's data.
    fn probe<'bound>(
        dev: &'bound Device<device::Core<'_>>,
        id_info: &'bound Self::IdInfo,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound;

    /// Called when the device is unbound, before the driver's data is dropped, for teardown that
    /// needs the device in the [`Core`](device::Core) or [`Bound`](device::Bound) context.
    /// Optional.
    fn unbind<'bound>(dev: &'bound Device<device::Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        let _ = (dev, this);
    }
}

/// An auxiliary device (`struct auxiliary_device`).
///
/// Mirrors `kernel::auxiliary::Device`.
///
/// # Invariants
///
/// The wrapped pointer is a valid host auxiliary device (`bindings::auxiliary_device`).
#[repr(transparent)]
pub struct Device<Ctx: device::DeviceContext = device::Normal>(
    Opaque<bindings::auxiliary_device>,
    PhantomData<Ctx>,
);

impl<Ctx: device::DeviceContext> Device<Ctx> {
    fn as_raw(&self) -> *mut bindings::auxiliary_device {
        self.0.get()
    }

    /// Returns the device's number: the `id` its [`Registration`] was created with.
    pub fn id(&self) -> u32 {
        // SAFETY: by the type invariant, `self.as_raw()` is a valid auxiliary device.
        unsafe { (*self.as_raw()).id }
    }
}

impl Device<device::Bound> {
    /// Returns the parent device, bound: an auxiliary device is bound only while its parent is.
    pub fn parent(&self) -> &device::Device<device::Bound> {
        let parent = (**self).parent();
        // SAFETY: the parent's driver removes the auxiliary device before it unbinds, so the
        // parent is bound while this device is.
        unsafe { parent.as_bound() }
    }

    /// Borrows the registration data, after checking there is some and it is an `F`.
    ///
    /// # Safety
    ///
    /// The caller must make the lifetime shortening from the stored `F::Of<'static>` to
    /// `F::Of<'_>` sound: with a higher-ranked closure, or because `F` is covariant.
    unsafe fn registration_data_pinned<F: ForLt + 'static>(&self) -> Result<Pin<&F::Of<'_>>> {
        // SAFETY: by the type invariant, `self.as_raw()` is a valid auxiliary device.
        let ptr = unsafe { (*self.as_raw()).registration_data_rust };
        if ptr.is_null() {
            dev_warn!(
                self.as_ref(),
                "No registration data set; parent is not a Rust driver.\n"
            );
            return Err(ENOENT);
        }
        // SAFETY: `ptr` was set by `Registration::new_with_lt` from a boxed `RegistrationData`,
        // which is `repr(C)` with its `TypeId` first, whatever its data type.
        let type_id = unsafe { ptr.cast::<TypeId>().read() };
        if type_id != TypeId::of::<F>() {
            return Err(EINVAL);
        }
        // SAFETY: the `TypeId` says the data is an `F::Of<'x>` for the registration's lifetime
        // `'x`; lifetimes do not change layouts, and the caller makes the shortening sound. The
        // box stays alive until `Registration::drop`, which deletes this device (so ends every
        // borrow through it) first.
        let wrapper = unsafe { Pin::<KBox<RegistrationData<F::Of<'_>>>>::borrow(ptr) };
        // SAFETY: `data` is a structurally pinned field of `RegistrationData`.
        Ok(unsafe { wrapper.map_unchecked(|w| &w.data) })
    }

    /// Runs `f` with the registration data the parent driver gave this device's
    /// [`Registration`], for a data type of any variance.
    ///
    /// `F` is the [`ForLt`](trait@ForLt) of the data type, as the registration named it.
    /// Covariant types may use [`Device::registration_data`] instead.
    ///
    /// Fails with [`EINVAL`] if `F` is not the registration's type, and with [`ENOENT`] if the
    /// device has no registration data.
    #[inline]
    pub fn registration_data_with<F: ForLt + 'static, R>(
        &self,
        f: impl for<'a> FnOnce(Pin<&'a F::Of<'a>>) -> R,
    ) -> Result<R> {
        // SAFETY: the closure accepts the data for any lifetime, so it cannot keep or smuggle in
        // a reference of a particular shorter one.
        let pinned = unsafe { self.registration_data_pinned::<F>()? };
        Ok(f(pinned))
    }

    /// Returns the registration data the parent driver gave this device's [`Registration`], for
    /// a covariant data type.
    ///
    /// `F` is the [`CovariantForLt`](trait@CovariantForLt) of the data type, as the registration
    /// named it; other types need [`Device::registration_data_with`].
    ///
    /// Fails with [`EINVAL`] if `F` is not the registration's type, and with [`ENOENT`] if the
    /// device has no registration data.
    #[inline]
    pub fn registration_data<F: CovariantForLt + 'static>(&self) -> Result<Pin<&F::Of<'_>>> {
        // SAFETY: `F` is covariant, so shortening the data's lifetime is sound.
        unsafe { self.registration_data_pinned::<F>() }
    }
}

impl Device {
    /// Returns the parent device.
    pub fn parent(&self) -> &device::Device {
        // SAFETY: an auxiliary device always has a parent (the host creates it with one).
        unsafe { self.as_ref().parent().unwrap_unchecked() }
    }
}

// SAFETY: `auxiliary::Device` is a transparent wrapper of `auxiliary_device`, whose `dev` field is
// the device.
unsafe impl<Ctx: device::DeviceContext> device::AsBusDevice<Ctx> for Device<Ctx> {
    const OFFSET: usize = offset_of!(bindings::auxiliary_device, dev);
}

// SAFETY: `Device` is a transparent wrapper of a type that doesn't depend on `Device`'s generic
// argument.
kernel::impl_device_context_deref!(unsafe { Device });
kernel::impl_device_context_into_aref!(Device);

// SAFETY: auxiliary devices are reference counted through their embedded device.
unsafe impl crate::sync::aref::AlwaysRefCounted for Device {
    fn inc_ref(&self) {
        self.as_ref().raw().get();
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        let adev: *mut bindings::auxiliary_device = obj.cast().as_ptr();
        // SAFETY: by the type invariant, `adev` is a valid auxiliary device.
        let dev = unsafe { addr_of_mut!((*adev).dev) };
        // SAFETY: the caller owns a reference, which this consumes.
        unsafe { bindings::device::put(dev) }
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

// SAFETY: a `Device` is reference counted and may be released from any thread.
unsafe impl Send for Device {}

// SAFETY: every method of `Device` (`Normal`) is thread safe.
unsafe impl Sync for Device {}

// SAFETY: the `Bound` context is a type-state marker; the object is the same.
unsafe impl Sync for Device<device::Bound> {}

/// The registration data, behind the [`TypeId`] of its [`ForLt`] that accessors check.
#[repr(C)]
#[pin_data]
struct RegistrationData<T> {
    type_id: TypeId,
    #[pin]
    data: T,
}

/// The registration of an auxiliary device: the device exists, named `modname.name.id` under its
/// parent, while the registration does.
///
/// Mirrors `kernel::auxiliary::Registration`. `F` is the [`ForLt`](trait@ForLt) of the data the
/// registration shares with the device's driver ([`ForLt!(T)`](macro@ForLt) for a type without a
/// lifetime), which the driver reaches with [`Device::registration_data`] or
/// [`Device::registration_data_with`]. Dropping the registration (at the latest when the parent
/// driver unbinds, if it keeps it in its data) unbinds the device's driver and removes the
/// device, then drops the data.
///
/// # Invariants
///
/// `adev` is a valid, added auxiliary device on which the registration owns a reference, whose
/// `registration_data_rust` is the `into_foreign` of a `Pin<KBox<RegistrationData<F::Of<'a>>>>`.
pub struct Registration<'a, F: ForLt + 'static> {
    adev: NonNull<bindings::auxiliary_device>,
    _phantom: PhantomData<F::Of<'a>>,
}

impl<'a, F: ForLt> Registration<'a, F>
where
    for<'b> F::Of<'b>: Send + Sync,
{
    /// Adds an auxiliary device named `name` with the number `id` for the module `modname` under
    /// `parent`, sharing `data` with its driver; a matching auxiliary driver already registered
    /// binds it before this returns.
    ///
    /// # Safety
    ///
    /// The returned registration must be dropped (not leaked with `mem::forget()` or otherwise),
    /// since `data` may borrow values that live only for `'a`. Data without borrows can use the
    /// safe [`Registration::new`].
    pub unsafe fn new_with_lt<E>(
        parent: &'a device::Device<device::Bound>,
        name: &CStr,
        id: u32,
        modname: &CStr,
        data: impl PinInit<F::Of<'a>, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        let data = KBox::pin_init::<Error>(
            try_pin_init!(RegistrationData {
                type_id: TypeId::of::<F>(),
                data <- data,
            }),
            GFP_KERNEL,
        )?;
        let device = host::auxiliary_device_init(parent.raw(), name, id);
        let adev = device.as_ptr();
        // SAFETY: the device was just created and is not shared yet. The data's lifetime `'a` is
        // erased in the pointer; it is only borrowed back through the device, which the
        // registration removes (ending every borrow) before it drops the data.
        unsafe { (*adev).registration_data_rust = data.into_foreign() };
        // SAFETY: `adev` is a new device whose reference we own; its parent is bound for `'a`.
        if let Err(err) = unsafe { host::__auxiliary_device_add(adev, modname) } {
            // SAFETY: the data was set just above; the device was not added, so nothing borrows
            // it, and the reference `auxiliary_device_init` gave us is dropped once.
            unsafe { Self::release(adev) };
            return Err(err.into());
        }
        // INVARIANT: the device is added, with the data set above; we own its first reference.
        Ok(Self {
            adev: device,
            _phantom: PhantomData,
        })
    }

    /// Adds an auxiliary device sharing `'static` data with its driver; see
    /// [`Registration::new_with_lt`].
    pub fn new<E>(
        parent: &'a device::Device<device::Bound>,
        name: &CStr,
        id: u32,
        modname: &CStr,
        data: impl PinInit<F::Of<'a>, E>,
    ) -> Result<Self>
    where
        F::Of<'a>: 'static,
        Error: From<E>,
    {
        // SAFETY: `F::Of<'a>: 'static`, so the data borrows nothing that leaking the registration
        // could leave dangling.
        unsafe { Self::new_with_lt(parent, name, id, modname, data) }
    }
}

impl<F: ForLt> Registration<'_, F> {
    /// Drops the registration data of `adev`, then the reference on it.
    ///
    /// # Safety
    ///
    /// `adev`'s `registration_data_rust` must be set from a
    /// `Pin<KBox<RegistrationData<F::Of<'_>>>>` that nothing borrows any more (the device is not
    /// on a bus), and the caller must own a reference on it, which this consumes.
    unsafe fn release(adev: *mut bindings::auxiliary_device) {
        // SAFETY: by the safety requirements; lifetimes do not change the layout.
        drop(unsafe {
            Pin::<KBox<RegistrationData<F::Of<'static>>>>::from_foreign(
                (*adev).registration_data_rust,
            )
        });
        // SAFETY: the caller's reference, dropped once.
        unsafe { host::auxiliary_device_uninit(adev) };
    }
}

impl<F: ForLt> Drop for Registration<'_, F> {
    fn drop(&mut self) {
        let adev = self.adev.as_ptr();
        // SAFETY: by the type invariant, `adev` is an added device we own a reference on.
        unsafe { host::auxiliary_device_delete(adev) };
        // SAFETY: set by `new_with_lt` (type invariant); the device is removed and its driver
        // unbound, and a removed device is never probed again, so nothing borrows the data any
        // more; the registration's reference is ours.
        unsafe { Self::release(adev) };
    }
}

// SAFETY: a registration may be dropped from any thread, and the data it drops is `Send`.
unsafe impl<F: ForLt> Send for Registration<'_, F> where for<'a> F::Of<'a>: Send {}

// SAFETY: a `Registration` offers nothing through a shared reference.
unsafe impl<F: ForLt> Sync for Registration<'_, F> where for<'a> F::Of<'a>: Send {}
