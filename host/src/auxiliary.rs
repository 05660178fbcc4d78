//! The auxiliary bus: devices a driver adds under its own device for other drivers to bind
//! (`drivers/base/auxiliary.c`), and the C functions the mirror's `kernel::auxiliary` calls.
//!
//! A driver splits a device's functions between drivers by adding an auxiliary device for each,
//! named `modname.name.id` (`__auxiliary_device_add()`); an auxiliary driver's ID table names the
//! devices it binds as `modname.name`, which is matched against the device's name without its
//! last `.id` part (`auxiliary_match_id()`).
//!
//! The kernel has one auxiliary bus; a process here may have several [`Bus`]es (each simulated
//! bus in a test is its own), so each `Bus` holds the auxiliary devices and drivers of its own
//! modules: an auxiliary driver is registered on the bus its module was loaded into, and an
//! auxiliary device is added to the bus its parent's driver is registered on. A device is matched
//! against the drivers of its bus as the kernel matches it against all, in the same order: a new
//! device binds the first registered driver that matches it, a new driver every unbound device
//! that it matches, in the order they were added.
//!
//! Difference from the kernel: a parent must be bound to a driver of a [`Bus`] (a PCI or
//! auxiliary driver of a loaded module); a faux device is not, so an auxiliary device cannot be
//! added under one (`ENODEV`).

use core::ffi::{c_int, c_void, CStr};
use core::ptr::NonNull;
use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::binding::Binding;
use crate::bindings::{auxiliary_device, auxiliary_device_id, auxiliary_driver, module};
use crate::bus::Bus;
use crate::device::{BusDevice, BusType, DeviceRef, RawDevice};
use crate::errno::Errno;

/// The userspace `struct auxiliary_device`.
///
/// # Invariants
///
/// - `dev` is the first field (`#[repr(C)]`), so a pointer to a `RawAuxiliaryDevice` is a pointer
///   to its `RawDevice` and back.
/// - A `RawAuxiliaryDevice` is always moved to the heap with [`RawDevice::into_heap`]
///   ([`auxiliary_device_init`]), and always has a parent.
/// - `bus` is null, or the bus whose auxiliary devices include this one.
#[repr(C)]
pub struct RawAuxiliaryDevice {
    /// The generic device, as `struct auxiliary_device` embeds `struct device`.
    pub dev: RawDevice,
    /// The device's number among the devices of its `modname.name`.
    pub id: u32,
    /// The registration data of the Rust driver that added the device; null if none. Set before
    /// the device is added, and unchanged until it is released.
    pub registration_data_rust: *mut c_void,
    name: CString,
    bus: AtomicPtr<Bus>,
}

// SAFETY: `registration_data_rust` is written only before the device is added (shared) and read
// afterwards; `bus` is atomic; the rest is `Send + Sync`.
unsafe impl Send for RawAuxiliaryDevice {}
// SAFETY: as above.
unsafe impl Sync for RawAuxiliaryDevice {}

// SAFETY: `RawAuxiliaryDevice` is `#[repr(C)]` with its `RawDevice` first, and is moved to the heap
// with `RawDevice::into_heap` (type invariants).
unsafe impl BusDevice for RawAuxiliaryDevice {
    fn dev(&self) -> &RawDevice {
        &self.dev
    }
}

/// A counted reference to a [`RawAuxiliaryDevice`].
pub type AuxiliaryDeviceRef = DeviceRef<RawAuxiliaryDevice>;

impl RawAuxiliaryDevice {
    /// Returns the device's `name` (the middle part of its `modname.name.id`).
    pub fn name(&self) -> &CStr {
        &self.name
    }
}

impl Binding for RawAuxiliaryDevice {
    type Driver = auxiliary_driver;
    type Id = *const auxiliary_device_id;
    const DRIVER_OFFSET: usize = core::mem::offset_of!(auxiliary_driver, driver);

    unsafe fn match_id(&self, driver: &auxiliary_driver) -> Option<Self::Id> {
        // SAFETY: a registered driver's table is zero-terminated (`__auxiliary_driver_register`'s
        // contract).
        unsafe { auxiliary_match_id(driver.id_table, self.dev.name()) }
    }

    unsafe fn probe(&self, driver: &auxiliary_driver, id: Self::Id) -> c_int {
        // A registered auxiliary driver has a probe (`__auxiliary_driver_register` checks).
        driver.probe.map_or(0, |probe| {
            // SAFETY: the driver's callback, on a live device being bound to it, with its lock
            // held, and the entry of its table that matched.
            unsafe { probe(core::ptr::from_ref(self).cast_mut(), id) }
        })
    }

    unsafe fn remove(&self, driver: &auxiliary_driver) {
        if let Some(remove) = driver.remove {
            // SAFETY: the driver's callback, on a device it is bound to, with its lock held.
            unsafe { remove(core::ptr::from_ref(self).cast_mut()) };
        }
    }
}

/// Returns the entry of the zero-terminated `table` that names the device called `dev_name`
/// (`auxiliary_match_id()`): the entry whose name is the device's name up to its last `.`.
///
/// # Safety
///
/// `table` must point to an array of entries ending with one whose name starts with NUL.
unsafe fn auxiliary_match_id(
    table: *const auxiliary_device_id,
    dev_name: &CStr,
) -> Option<*const auxiliary_device_id> {
    let dev_name = dev_name.to_bytes();
    let prefix = &dev_name[..dev_name.iter().rposition(|&b| b == b'.')?];
    let mut entry = table;
    loop {
        // SAFETY: `entry` is inside the table, which ends with an empty name (safety requirement)
        // and is not read past.
        let name = unsafe { &(*entry).name };
        if name[0] == 0 {
            return None;
        }
        let len = name.iter().position(|&c| c == 0).unwrap_or(name.len());
        if name[..len]
            .iter()
            .map(|&c| c as u8)
            .eq(prefix.iter().copied())
        {
            return Some(entry);
        }
        // SAFETY: the entry was not the terminating one, so the next is in the table.
        entry = unsafe { entry.add(1) };
    }
}

impl Bus {
    /// Returns the auxiliary devices added to this bus, in the order they were added.
    pub fn auxiliary_devices(&self) -> Vec<AuxiliaryDeviceRef> {
        self.auxiliary.devices()
    }

    /// Returns the auxiliary device named `name` (`modname.name.id`).
    pub fn auxiliary_device(&self, name: &str) -> Option<AuxiliaryDeviceRef> {
        self.auxiliary.device(name.as_bytes())
    }
}

/// Creates an auxiliary device named `name` with the number `id` under `parent`, holding one
/// reference, not yet added to a bus (the kernel's caller allocating a zeroed `auxiliary_device`,
/// filling in `dev.parent`, `name` and `id`, then `auxiliary_device_init()`).
///
/// Drop the reference with [`auxiliary_device_uninit`].
pub fn auxiliary_device_init(
    parent: &RawDevice,
    name: &CStr,
    id: u32,
) -> NonNull<auxiliary_device> {
    let device = RawAuxiliaryDevice {
        dev: RawDevice::initialize(BusType::Auxiliary, Some(parent)),
        id,
        registration_data_rust: core::ptr::null_mut(),
        name: name.to_owned(),
        bus: AtomicPtr::new(core::ptr::null_mut()),
    };
    // INVARIANT: moved to the heap with `into_heap`, with a parent.
    // SAFETY: `RawAuxiliaryDevice` is `#[repr(C)]` with its new device first.
    unsafe { RawDevice::into_heap(device) }
}

/// Names `adev` `modname.name.id` and adds it to the bus of its parent's driver, where the first
/// matching auxiliary driver binds it before this returns (`__auxiliary_device_add()`).
///
/// Fails with `ENODEV` if the parent is not bound to a driver of a [`Bus`], and `EEXIST` if a
/// device of that name is on the bus already.
///
/// # Safety
///
/// `adev` must come from [`auxiliary_device_init`], hold a reference the caller owns until this
/// returns, and not be added yet; its parent must stay bound until this returns.
pub unsafe fn __auxiliary_device_add(
    adev: *mut auxiliary_device,
    modname: &CStr,
) -> Result<(), Errno> {
    let ptr = NonNull::new(adev).ok_or(Errno::EINVAL)?;
    // SAFETY: the caller owns a reference (safety requirement).
    let adev = unsafe { ptr.as_ref() };
    let name = format!(
        "{}.{}.{}",
        modname.to_string_lossy(),
        adev.name.to_string_lossy(),
        adev.id
    );
    // Both parts are C strings, so the name has no NUL inside.
    let named = CString::new(name)
        .map_err(|_| Errno::EINVAL)
        .and_then(|name| adev.dev.set_name(name));
    if let Err(err) = named {
        log::error!(
            target: "drydock",
            "auxiliary {}: auxiliary device dev_set_name failed: {}",
            adev.dev.name().to_string_lossy(),
            err.to_errno()
        );
        return Err(err);
    }
    let failed = |err: Errno| {
        log::error!(
            target: "drydock",
            "auxiliary {}: adding auxiliary device failed!: {}",
            adev.dev.name().to_string_lossy(),
            err.to_errno()
        );
        err
    };
    let parent = adev.dev.parent().and_then(RawDevice::driver);
    // SAFETY: the parent is bound (safety requirement), so its driver is registered, on the bus
    // its `bus` names (null for a driver of no bus); that bus is alive while the driver is
    // registered.
    let Some(bus) = parent.and_then(|driver| unsafe { (*driver).bus.as_ref() }) else {
        return Err(failed(Errno::ENODEV));
    };
    // SAFETY: the caller owns a reference on the device while this runs.
    let device = unsafe { AuxiliaryDeviceRef::get_device(ptr) };
    bus.auxiliary.add(device).map_err(failed)?;
    // INVARIANT: the device is on the bus's auxiliary devices.
    adev.bus
        .store(core::ptr::from_ref(bus).cast_mut(), Ordering::Release);
    Ok(())
}

/// Removes `adev` from its bus, unbinding its driver first (`auxiliary_device_delete()`); the
/// device-managed resources of the binding are released before this returns.
///
/// # Safety
///
/// The caller must own a reference on `adev`, a device from [`auxiliary_device_init`].
pub unsafe fn auxiliary_device_delete(adev: *mut auxiliary_device) {
    // SAFETY: the caller owns a reference.
    let device = unsafe { &*adev };
    let bus = device.bus.swap(core::ptr::null_mut(), Ordering::AcqRel);
    // SAFETY: a non-null `bus` is the bus holding the device (type invariant), alive while it
    // does: the device was added under a bound parent, whose unbinding (which ends before the bus
    // goes) removes it.
    if let Some(bus) = unsafe { bus.as_ref() } {
        bus.auxiliary.remove(device);
    }
}

/// Drops the caller's reference on `adev` (`auxiliary_device_uninit()`); the device is freed with
/// its last reference.
///
/// # Safety
///
/// The caller must own a reference on `adev`, a device from [`auxiliary_device_init`], which this
/// consumes.
pub unsafe fn auxiliary_device_uninit(adev: *mut auxiliary_device) {
    // SAFETY: `dev` is the first field; the caller's reference is consumed.
    unsafe { RawDevice::put(adev.cast()) };
}

/// Registers `auxdrv` on the bus `owner` was loaded into and binds it to every unbound device it
/// matches (`__auxiliary_driver_register()`). The driver is named `modname.name`, or `modname`
/// without a `name`.
///
/// Fails with `EINVAL` if the driver has no `probe` or `id_table`, or the module was not loaded
/// into a bus, and with `EBUSY` if a driver of its name is registered on the bus.
///
/// Difference from the kernel: the driver's name is kept until the process exits, one copy per
/// distinct name (the kernel frees it when the driver is unregistered).
///
/// # Safety
///
/// `auxdrv` must point to an `auxiliary_driver` that stays valid, unmoved and unchanged (but for
/// what this function sets) until [`auxiliary_driver_unregister`] returns for it, whose
/// `id_table` is zero-terminated, `name` null or a C string, and callbacks safe to call from any
/// thread on the devices it matches. `owner` must be null or a `THIS_MODULE` pointer of a loaded
/// module (see [`crate::module::bus_of`]), which stays loaded until then.
pub unsafe fn __auxiliary_driver_register(
    auxdrv: *mut auxiliary_driver,
    owner: *mut module,
    modname: &CStr,
) -> Result<(), Errno> {
    // SAFETY: `auxdrv` is valid and not yet shared (safety requirement).
    let drv = unsafe { &mut *auxdrv };
    if drv.probe.is_none() || drv.id_table.is_null() {
        log::warn!(
            target: "drydock",
            "WARNING: auxiliary driver of {} without a probe or an ID table",
            modname.to_string_lossy()
        );
        return Err(Errno::EINVAL);
    }
    // SAFETY: `owner` is null or a loaded module's pointer, loaded while the driver is registered.
    let Some(bus) = (unsafe { crate::module::bus_of(owner) }) else {
        log::error!(
            target: "drydock",
            "{}: cannot register an auxiliary driver for a module that was not loaded into a bus",
            modname.to_string_lossy()
        );
        return Err(Errno::EINVAL);
    };
    let mut name = modname.to_bytes().to_vec();
    if !drv.name.is_null() {
        name.push(b'.');
        // SAFETY: a non-null `name` is a C string (safety requirement).
        name.extend_from_slice(unsafe { CStr::from_ptr(drv.name) }.to_bytes());
    }
    // Both parts are C strings, so the name has no NUL inside.
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    drv.driver.name = intern(name).as_ptr();
    drv.driver.bus = core::ptr::from_ref(bus);
    // SAFETY: the driver is valid until unregistered, its callbacks are safe to call from any
    // thread on the devices its table matches (safety requirements), and its name is interned.
    unsafe { bus.auxiliary.register(auxdrv) }
}

/// Unbinds `auxdrv` from its devices and unregisters it (`auxiliary_driver_unregister()`); once
/// this returns, the driver is not called any more, and its module may free it.
///
/// # Safety
///
/// `auxdrv` must have been registered with [`__auxiliary_driver_register`].
pub unsafe fn auxiliary_driver_unregister(auxdrv: *mut auxiliary_driver) {
    // SAFETY: registration set the bus, which outlives the module's registrations.
    let bus = unsafe { &*(*auxdrv).driver.bus };
    // SAFETY: registered on this bus (safety requirement).
    unsafe { bus.auxiliary.unregister(auxdrv) };
}

/// Returns a copy of `name` that lives as long as the process, one per distinct name: a bound
/// driver's name must outlive every log line that names it.
fn intern(name: CString) -> &'static CStr {
    static NAMES: Mutex<Vec<&'static CStr>> = Mutex::new(Vec::new());
    let mut names = NAMES.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = names.iter().find(|known| **known == name.as_c_str()) {
        return known;
    }
    let name: &'static CStr = Box::leak(name.into_boxed_c_str());
    names.push(name);
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(name: &str) -> auxiliary_device_id {
        let mut id = auxiliary_device_id {
            name: [0; crate::bindings::AUXILIARY_NAME_SIZE],
            driver_data: 0,
        };
        for (dst, &src) in id.name.iter_mut().zip(name.as_bytes()) {
            *dst = src as core::ffi::c_char;
        }
        id
    }

    #[test]
    fn devices_match_by_the_name_before_their_last_dot() {
        let table = [id("mod.eth"), id("mod.rdma"), id("")];
        // SAFETY: the table ends with an empty name.
        let matched = |name: &CStr| unsafe { auxiliary_match_id(table.as_ptr(), name) };
        assert_eq!(matched(c"mod.rdma.0"), Some(&raw const table[1]));
        assert_eq!(matched(c"mod.eth.12"), Some(&raw const table[0]));
        // The whole part before the last dot must be equal, not a prefix of it or the reverse.
        assert_eq!(matched(c"mod.et.0"), None);
        assert_eq!(matched(c"mod.ethx.0"), None);
        assert_eq!(matched(c"xmod.eth.0"), None);
        assert_eq!(matched(c"mod.eth"), None);
        assert_eq!(matched(c"noid"), None);
    }

    #[test]
    fn driver_names_are_interned_once() {
        let a = intern(c"mod.drv".to_owned());
        let b = intern(c"mod.drv".to_owned());
        assert!(core::ptr::eq(a, b));
        assert_eq!(a, c"mod.drv");
        assert!(!core::ptr::eq(a, intern(c"mod.other".to_owned())));
    }
}
