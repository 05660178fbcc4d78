//! Binding devices to drivers, for every bus: a bus's lists of devices and drivers
//! ([`Subsystem`], the kernel's `struct subsys_private` with its `klist_devices` and
//! `klist_drivers`), and the driver core's `really_probe()` and `device_release_driver()`
//! (`drivers/base/dd.c`).
//!
//! The steps and their order are the same on every bus; what differs is the bus's driver structure
//! (a `pci_driver` embeds the `device_driver`), how it matches a device to a driver and calls the
//! driver (a `pci_driver`'s `probe()` gets the matching `pci_device_id`, a faux device's the device
//! alone), and what the bus itself does around the driver's callbacks (the PCI core turns bus
//! mastering off and frees interrupt vectors). A bus device says that by implementing [`Binding`].
//!
//! # Locking
//!
//! Two locks are involved: the device lock of each device, held while a driver is bound to it or
//! unbound from it, and the mutex of the subsystem's lists. They are taken in that order: a thread
//! holding the lists' mutex never waits for a device lock. The promises that follow, which let a
//! module free its driver once the driver is unregistered and a parent free what it shared with a
//! device once the device is removed, rest on three rules:
//!
//! - a device leaving its bus is marked dead ([`RawDevice::kill`]) under its lock, before its
//!   driver is released and before it leaves the list, and a dead device is never probed;
//! - a probe checks, under the device lock, that the device is alive and the driver still
//!   registered, so a driver unregistered before the check is never called, and its
//!   unregistration, which takes the lock of every device on the list, waits for a probe that
//!   passed the check;
//! - unregistration tests whether a device is bound to the driver under the device's lock.

use core::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Mutex, MutexGuard};

use crate::bindings::device_driver;
use crate::device::{BusDevice, DeviceRef, RawDevice};
use crate::errno::Errno;
use crate::print::{dev_printk, Level};

/// A bus device's side of binding: the bus's driver structure, and the bus's `match()`,
/// `probe()` and `remove()` (the kernel's `struct bus_type`), with what the bus does around them.
pub(crate) trait Binding: BusDevice + Send + Sync + Sized {
    /// The bus's driver structure (`struct pci_driver`), which embeds a `device_driver`.
    type Driver;
    /// What a match gives the probe: the ID table entry that matched.
    type Id: Copy;
    /// The offset of the embedded `device_driver` in [`Binding::Driver`].
    const DRIVER_OFFSET: usize;

    /// Returns the entry of `driver`'s ID table that matches the device, if any (the bus's
    /// `match()`).
    ///
    /// # Safety
    ///
    /// `driver` must be registered on the device's bus.
    unsafe fn match_id(&self, driver: &Self::Driver) -> Option<Self::Id>;

    /// Calls the `probe()` callback of `driver`, which matched the device with `id`.
    ///
    /// # Safety
    ///
    /// `driver` must be registered on the device's bus, and being bound to the device, whose lock
    /// is held.
    unsafe fn probe(&self, driver: &Self::Driver, id: Self::Id) -> c_int;

    /// Calls the `remove()` callback of `driver`, the driver bound to the device.
    ///
    /// # Safety
    ///
    /// `driver` must be the device's bound driver, registered on its bus, and the device lock must
    /// be held.
    unsafe fn remove(&self, driver: &Self::Driver);

    /// Runs once the driver's `remove()` returned, or its probe failed, before its data and its
    /// device-managed resources are released: the PCI core stops the device's DMA here.
    fn quiesce(&self) {}

    /// Runs once the device-managed resources are released, to free what the bus holds for the
    /// driver; `unbinding` is `false` after a failed probe.
    fn cleanup(&self, unbinding: bool) {
        let _ = unbinding;
    }
}

/// Returns the `device_driver` embedded in the bus driver at `driver`, with `driver`'s provenance.
pub(crate) fn embedded<T: Binding>(driver: *const T::Driver) -> *const device_driver {
    driver.wrapping_byte_add(T::DRIVER_OFFSET).cast()
}

/// Returns the bus driver that embeds `driver` (`to_pci_driver()`, `to_auxiliary_drv()`).
///
/// A device of the bus `T` is only ever bound to a driver of that bus, recorded as [`embedded`]
/// returned it, so for a bound driver the pointer comes back to the structure it was taken from.
pub(crate) fn bus_driver<T: Binding>(driver: *const device_driver) -> *const T::Driver {
    driver.wrapping_byte_sub(T::DRIVER_OFFSET).cast()
}

/// A registered bus driver, as the lists keep it.
struct DriverPtr<D>(*const D);

impl<D> Clone for DriverPtr<D> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<D> Copy for DriverPtr<D> {}

// SAFETY: a registered driver is immutable and pinned until it is unregistered, and its callbacks
// may be called from any thread (registration's contract).
unsafe impl<D> Send for DriverPtr<D> {}

/// The device lock of a device, released when dropped, also when a driver's callback panics
/// through it.
struct DeviceGuard<'a>(&'a RawDevice);

impl<'a> DeviceGuard<'a> {
    fn lock(dev: &'a RawDevice) -> Self {
        dev.lock();
        Self(dev)
    }
}

impl Drop for DeviceGuard<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

/// The devices and drivers of one bus, and the binding between them (the kernel's
/// `struct subsys_private`, and `bus_add_device()`, `bus_add_driver()` and the rest of
/// `drivers/base/bus.c` and `dd.c`).
///
/// A new device binds the first registered driver that matches it; a new driver every unbound
/// device that it matches, in the order they were added. See the [module](self) documentation for
/// the locking.
pub(crate) struct Subsystem<T: Binding> {
    /// The bus's name, for log lines.
    name: String,
    lists: Mutex<Lists<T>>,
}

struct Lists<T: Binding> {
    devices: Vec<DeviceRef<T>>,
    drivers: Vec<DriverPtr<T::Driver>>,
}

impl<T: Binding> Subsystem<T> {
    /// Creates an empty subsystem; `name` names the bus in log lines.
    pub(crate) fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            lists: Mutex::new(Lists {
                devices: Vec::new(),
                drivers: Vec::new(),
            }),
        }
    }

    fn lists(&self) -> MutexGuard<'_, Lists<T>> {
        self.lists.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Returns the devices on the bus, in the order they were added.
    pub(crate) fn devices(&self) -> Vec<DeviceRef<T>> {
        self.lists().devices.clone()
    }

    /// Returns the device named `name`, if it is on the bus.
    pub(crate) fn device(&self, name: &[u8]) -> Option<DeviceRef<T>> {
        self.lists()
            .devices
            .iter()
            .find(|d| d.dev().name().to_bytes() == name)
            .cloned()
    }

    /// Whether `f` holds for a registered driver.
    pub(crate) fn any_driver(&self, f: impl Fn(&T::Driver) -> bool) -> bool {
        self.lists().drivers.iter().any(|driver| {
            // SAFETY: a registered driver stays valid until it is unregistered, which takes the
            // mutex we hold to remove it from the list.
            f(unsafe { &*driver.0 })
        })
    }

    /// Adds `device` to the bus and binds it to the first registered driver that matches it
    /// (`device_add()`); `EEXIST` if a device of its name is on the bus.
    pub(crate) fn add(&self, device: DeviceRef<T>) -> Result<(), Errno> {
        let drivers = {
            let mut lists = self.lists();
            let name = device.dev().name();
            if lists.devices.iter().any(|d| d.dev().name() == name) {
                return Err(Errno::EEXIST);
            }
            lists.devices.push(device.clone());
            lists.drivers.clone()
        };
        for driver in drivers {
            if self.attach(&device, driver) {
                break;
            }
        }
        Ok(())
    }

    /// Removes `device`, on which the caller holds a reference, from the bus, unbinding its
    /// driver first (`device_del()`); returns `false` if it was removed already.
    ///
    /// The device is marked dead before its driver is released, so nothing binds it again, and
    /// stays on the list until its driver is released, so that the driver's unregistration waits
    /// for the release.
    pub(crate) fn remove(&self, device: &T) -> bool {
        let dev = device.dev();
        let guard = DeviceGuard::lock(dev);
        if !dev.kill() {
            return false;
        }
        // SAFETY: we hold the device lock.
        unsafe { release_driver(&self.name, device) };
        let listed = {
            let mut lists = self.lists();
            let index = lists
                .devices
                .iter()
                .position(|d| core::ptr::eq(d.as_ptr(), device));
            index.map(|index| lists.devices.remove(index))
        };
        drop(guard);
        // The list's reference goes once the device is unlocked (the caller holds another).
        drop(listed);
        true
    }

    /// Registers `driver` and binds it to every unbound device it matches (`driver_register()`);
    /// `EBUSY` if a driver of its name is registered.
    ///
    /// # Safety
    ///
    /// `driver` must point to a driver of this bus that stays valid, unmoved and unchanged until
    /// [`Subsystem::unregister`] returns for it, with callbacks that are safe to call from any
    /// thread on the devices its table matches, and whose embedded `device_driver` has a `name`
    /// that is a C string valid for as long as the process runs.
    pub(crate) unsafe fn register(&self, driver: *const T::Driver) -> Result<(), Errno> {
        // SAFETY: registered drivers and this one are valid and named (safety requirement).
        let name = |d: *const T::Driver| unsafe { CStr::from_ptr((*embedded::<T>(d)).name) };
        let devices = {
            let mut lists = self.lists();
            if lists.drivers.iter().any(|d| name(d.0) == name(driver)) {
                log::error!(
                    target: "drydock",
                    "Error: Driver '{}' is already registered, aborting...",
                    name(driver).to_string_lossy()
                );
                return Err(Errno::EBUSY);
            }
            lists.drivers.push(DriverPtr(driver));
            lists.devices.clone()
        };
        for device in &devices {
            self.attach(device, DriverPtr(driver));
        }
        Ok(())
    }

    /// Unbinds `driver` from every device and unregisters it (`driver_unregister()`): once this
    /// returns, the driver is neither bound nor called any more.
    ///
    /// # Safety
    ///
    /// `driver` must have been registered with [`Subsystem::register`] on this subsystem.
    pub(crate) unsafe fn unregister(&self, driver: *const T::Driver) {
        let devices = {
            let mut lists = self.lists();
            lists.drivers.retain(|d| !core::ptr::eq(d.0, driver));
            lists.devices.clone()
        };
        let embedded = embedded::<T>(driver);
        // Every device that is bound to the driver, or that a probe holding the device lock found
        // the driver registered for, is on the list (a device leaves it only once unbound, under
        // its lock).
        for device in &devices {
            let _guard = DeviceGuard::lock(device.dev());
            if device.dev().driver() == Some(embedded) {
                // SAFETY: we hold the device lock.
                unsafe { release_driver(&self.name, &**device) };
            }
        }
    }

    /// Unbinds the driver bound to `device`, if any (`device_release_driver()`).
    pub(crate) fn release(&self, device: &T) {
        let _guard = DeviceGuard::lock(device.dev());
        // SAFETY: we hold the device lock.
        unsafe { release_driver(&self.name, device) };
    }

    /// Probes `device` with `driver` if the device is alive and unbound, the driver registered,
    /// and the two match; returns whether it bound.
    fn attach(&self, device: &T, driver: DriverPtr<T::Driver>) -> bool {
        let dev = device.dev();
        let _guard = DeviceGuard::lock(dev);
        if dev.is_dead() || dev.driver().is_some() {
            return false;
        }
        if !self
            .lists()
            .drivers
            .iter()
            .any(|d| core::ptr::eq(d.0, driver.0))
        {
            return false;
        }
        // SAFETY: the driver is registered, and stays valid while we hold the device lock: its
        // unregistration takes the lock of this device, which is on the list as it is not dead.
        let drv = unsafe { &*driver.0 };
        // SAFETY: as above, the driver is registered on this bus.
        let Some(id) = (unsafe { device.match_id(drv) }) else {
            return false;
        };
        // SAFETY: we hold the lock of the unbound device; the driver is registered on its bus,
        // with a name that lives as long as the process (`register`'s contract).
        unsafe { really_probe(&self.name, device, driver.0, id) }
    }
}

impl<T: Binding> Drop for Subsystem<T> {
    fn drop(&mut self) {
        for device in self.devices() {
            self.remove(&*device);
        }
    }
}

/// Binds `device` to `driver` and calls its `probe()` with `id` (`really_probe()`); returns
/// whether it bound.
///
/// The driver is recorded before its probe runs, as the kernel sets `dev->driver` first, so the
/// probe's log lines carry its name. A probe that fails (or panics: the panic is contained and
/// reported as `EIO`) is undone in the unbind order. `context` names the bus in log lines.
///
/// # Safety
///
/// The device lock must be held, the device unbound, and `driver` a driver registered on the
/// device's bus whose embedded `device_driver`'s `name` is a valid C string that lives as long as
/// the process.
unsafe fn really_probe<T: Binding>(
    context: &str,
    device: &T,
    driver: *const T::Driver,
    id: T::Id,
) -> bool {
    let dev = device.dev();
    let embedded = embedded::<T>(driver);
    // SAFETY: by the safety requirements, the name is a valid C string that is never freed.
    let driver_name: &'static CStr = unsafe { CStr::from_ptr((*embedded).name) };
    let device_name = dev.name().to_string_lossy().into_owned();
    dev.set_driver(Some((embedded, driver_name)));
    // SAFETY: the driver is registered and being bound to the device, whose lock is held.
    let probe = || unsafe { device.probe(&*driver, id) };
    let ret = catch_unwind(AssertUnwindSafe(probe)).unwrap_or_else(|_| {
        log::error!(target: "drydock", "{context}: probe of {device_name} panicked");
        Errno::EIO.to_errno()
    });
    if ret >= 0 {
        return true;
    }
    // As the driver core's `call_driver_probe()` says it, against the device (its driver still
    // set): a driver that finds the device is not its own (`ENODEV`, `ENXIO`) or asks to be tried
    // later (`EPROBE_DEFER`, which drydock does not retry) at debug level, any other failure as
    // an error.
    let driver = driver_name.to_string_lossy();
    match Errno::from_errno(ret) {
        Some(Errno::ENXIO | Errno::ENODEV) => dev_printk(
            dev,
            Level::Debug,
            format_args!("probe with driver {driver} rejects match {ret}"),
        ),
        Some(Errno::EPROBE_DEFER) => dev_printk(
            dev,
            Level::Debug,
            format_args!("Driver {driver} requests probe deferral"),
        ),
        _ => dev_printk(
            dev,
            Level::Err,
            format_args!("probe with driver {driver} failed with error {ret}"),
        ),
    }
    device.quiesce();
    dev.devres_release_all();
    device.cleanup(false);
    unbound(dev);
    false
}

/// Unbinds the driver bound to `device`, if any (`device_release_driver()`).
///
/// In the kernel's order: the driver's `remove()` (which may still access the device), the bus's
/// [`Binding::quiesce`], the driver's data dropped (the Rust driver core's `post_unbind_rust`), the
/// device-managed resources released, then the bus's [`Binding::cleanup`]. Panics in the driver's
/// callbacks are contained and logged. `context` names the bus in log lines.
///
/// # Safety
///
/// The device lock must be held.
unsafe fn release_driver<T: Binding>(context: &str, device: &T) {
    let dev = device.dev();
    let Some(driver) = dev.driver() else { return };
    let name = dev.name().to_string_lossy().into_owned();
    // SAFETY: `driver` is the bound driver, recorded by `really_probe` from a driver of this bus,
    // which stays registered while bound (unregistration unbinds it first, under the device lock
    // we hold).
    let bus_driver = unsafe { &*bus_driver::<T>(driver) };
    // SAFETY: as above, and we hold the device lock (safety requirement).
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { device.remove(bus_driver) }));
    if result.is_err() {
        log::error!(target: "drydock", "{context}: remove of {name} panicked");
    }
    device.quiesce();
    // SAFETY: as above, the driver is registered.
    if let Some(post_unbind) = unsafe { (*driver).p_cb.post_unbind_rust } {
        let raw = core::ptr::from_ref(dev).cast_mut();
        // SAFETY: the driver core's callback, on a device whose `remove()` completed.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { post_unbind(raw) }));
        if result.is_err() {
            log::error!(
                target: "drydock",
                "{context}: dropping the driver data of {name} panicked"
            );
        }
    }
    dev.devres_release_all();
    device.cleanup(true);
    unbound(dev);
}

/// Forgets the driver of a device that is no longer bound.
fn unbound(dev: &RawDevice) {
    dev.set_drvdata(core::ptr::null_mut());
    dev.set_driver(None);
}
