//! The faux bus: devices without hardware, for drivers that only need a device to hang something
//! off (`drivers/base/faux.c`), and the C functions the mirror's `kernel::faux` calls.
//!
//! As in the kernel, the bus has one driver, `faux_driver`, which matches every device: creating a
//! faux device binds it before [`faux_device_create`] returns, running the creator's
//! [`faux_device_ops`] `probe`; a device whose probe fails is torn down again and not returned.
//! Destroying it unbinds it (the ops' `remove`, then its device-managed resources) and drops it.
//!
//! There is one faux bus per process, as there is one in the kernel: faux devices are not tied to
//! a module or to a [`Bus`](crate::bus::Bus), and their names are unique in the process.

use core::ffi::{c_int, CStr};
use core::ptr::NonNull;
use std::sync::Mutex;

use crate::binding::{self, Binding};
use crate::bindings::{device, device_driver, device_driver_callbacks, faux_device_ops};
use crate::device::{BusDevice, BusType, DeviceRef, RawDevice};

/// The userspace `struct faux_device`.
///
/// # Invariants
///
/// `dev` is the first field (`#[repr(C)]`), so a pointer to a `RawFauxDevice` is a pointer to its
/// `RawDevice` and back; a `RawFauxDevice` is always the first field of a `FauxObject`.
#[repr(C)]
pub struct RawFauxDevice {
    /// The generic device, as `struct faux_device` embeds `struct device`.
    pub dev: RawDevice,
}

/// A counted reference to a [`RawFauxDevice`].
pub type FauxDeviceRef = DeviceRef<RawFauxDevice>;

// SAFETY: `RawFauxDevice` is `#[repr(C)]` with its `RawDevice` first, and is the first field of a
// `Box<FauxObject>` its device's release function frees (type invariants).
unsafe impl BusDevice for RawFauxDevice {
    fn dev(&self) -> &RawDevice {
        &self.dev
    }
}

/// A faux device and the operations its creator gave (`struct faux_object`).
///
/// # Invariants
///
/// Always in a `Box` allocation freed by [`FauxObject::release`]; `ops` is null or points to
/// operations valid until the device is destroyed, which may be called from any thread.
#[repr(C)]
struct FauxObject {
    faux_dev: RawFauxDevice,
    ops: *const faux_device_ops,
}

impl RawFauxDevice {
    /// Returns the object the device is the first field of.
    fn object(&self) -> &FauxObject {
        // SAFETY: a `RawFauxDevice` is always the first field of a `#[repr(C)]` `FauxObject` (type
        // invariant), alive as long as the device is.
        unsafe { &*core::ptr::from_ref(self).cast::<FauxObject>() }
    }

    /// Returns the creator's operations, if any.
    fn ops(&self) -> Option<&faux_device_ops> {
        // SAFETY: `ops` is null or valid until the device is destroyed (type invariant).
        unsafe { self.object().ops.as_ref() }
    }
}

impl FauxObject {
    /// Frees a device whose last reference was dropped (`faux_device_release()`).
    ///
    /// # Safety
    ///
    /// `dev` must be the device of a `FauxObject` created by [`faux_device_create`], with no
    /// references left.
    unsafe fn release(dev: *mut RawDevice) {
        // SAFETY: the device is the first field of a boxed `FauxObject` (type invariants) that
        // nothing refers to any more (safety requirement).
        drop(unsafe { Box::from_raw(dev.cast::<FauxObject>()) });
    }
}

impl Binding for RawFauxDevice {
    unsafe fn remove(&self, _driver: *const device_driver) {
        if let Some(remove) = self.ops().and_then(|ops| ops.remove) {
            // SAFETY: the creator's callback, on its device, with the device lock held.
            unsafe { remove(core::ptr::from_ref(self).cast_mut()) };
        }
    }
}

/// The faux bus's one driver (`faux_driver`).
struct FauxDriver(device_driver);

// SAFETY: the driver is immutable, and its name is a static C string.
unsafe impl Sync for FauxDriver {}

static FAUX_DRIVER: FauxDriver = FauxDriver(device_driver {
    name: c"faux_driver".as_ptr(),
    p_cb: device_driver_callbacks {
        post_unbind_rust: None,
    },
    bus: core::ptr::null(),
});

/// The devices on the faux bus.
static DEVICES: Mutex<Vec<FauxDeviceRef>> = Mutex::new(Vec::new());

/// Creates a faux device named `name` under `parent` (or under no device, for a null `parent`)
/// and binds it (`faux_device_create()`): the device is probed with `faux_ops`' `probe`, if any,
/// before this returns.
///
/// Returns null if a faux device of that name exists or the probe failed; the device is then gone
/// again. Destroy the device with [`faux_device_destroy`].
///
/// # Safety
///
/// `parent` must be null or a valid device, and `faux_ops` null or operations that stay valid until
/// the device is destroyed, whose callbacks may be called from any thread.
pub unsafe fn faux_device_create(
    name: &CStr,
    parent: *mut device,
    faux_ops: *const faux_device_ops,
) -> Option<NonNull<RawFauxDevice>> {
    // SAFETY: `parent` is null or valid (safety requirement); the new device holds a reference on
    // it from here on.
    let parent = unsafe { parent.as_ref() };
    let object = Box::new(FauxObject {
        faux_dev: RawFauxDevice {
            dev: RawDevice::new_child(BusType::Faux, parent, FauxObject::release),
        },
        ops: faux_ops,
    });
    // INVARIANT: the object is boxed, freed by its device's release function.
    let ptr = NonNull::from(&Box::leak(object).faux_dev);
    // SAFETY: the new device's reference is handed over; it is released with it.
    let device = unsafe { FauxDeviceRef::from_raw(ptr) };
    // A new device has no name yet, so naming it cannot fail.
    let _ = device.dev.set_name(name.to_owned());
    {
        let mut devices = DEVICES.lock().unwrap_or_else(|e| e.into_inner());
        if devices.iter().any(|d| d.dev.name() == name) {
            log::error!(
                target: "drydock",
                "faux_device_create: device_add for faux device '{}' failed with -17",
                name.to_string_lossy()
            );
            return None;
        }
        devices.push(device.clone());
    }
    let bound = binding::locked(&*device, || {
        // SAFETY: we hold the lock of the new, unbound device; the faux driver is static, with a
        // static name. The probe is the creator's, on its device (safety requirement).
        unsafe { binding::really_probe("faux", &*device, &FAUX_DRIVER.0, || probe(&device)) }
    });
    // From here on the reference `device` held is the creator's.
    let device = device.into_raw();
    if !bound {
        log::debug!(
            target: "drydock",
            "faux {}: probe did not succeed, tearing down the device",
            name.to_string_lossy()
        );
        // SAFETY: the device was created above, and the creator's reference is ours to drop.
        unsafe { faux_device_destroy(device.as_ptr()) };
        return None;
    }
    Some(device)
}

/// Runs the creator's `probe` on `device` (`faux_probe()`); 0 without one.
fn probe(device: &RawFauxDevice) -> c_int {
    match device.ops().and_then(|ops| ops.probe) {
        // SAFETY: the creator's callback, on its device, with the device lock held.
        Some(probe) => unsafe { probe(core::ptr::from_ref(device).cast_mut()) },
        None => 0,
    }
}

/// Unbinds a faux device, removes it from the faux bus and drops the creator's reference
/// (`faux_device_destroy()`): the ops' `remove` runs and the device-managed resources are released
/// before this returns.
///
/// # Safety
///
/// `faux_dev` must come from [`faux_device_create`], and not be destroyed yet.
pub unsafe fn faux_device_destroy(faux_dev: *mut RawFauxDevice) {
    // SAFETY: the creator's reference keeps the device alive until the end of this function.
    let device = unsafe { &*faux_dev };
    // SAFETY: `locked` holds the device lock.
    binding::locked(device, || unsafe {
        binding::release_driver("faux", device)
    });
    DEVICES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .retain(|d| !core::ptr::eq(d.as_ptr(), faux_dev));
    // SAFETY: the creator's reference, which this consumes; the device is the first field.
    unsafe { RawDevice::put(faux_dev.cast()) };
}

/// Returns the faux device named `name`, if one exists.
pub fn faux_device(name: &str) -> Option<FauxDeviceRef> {
    DEVICES
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|d| d.dev.name().to_bytes() == name.as_bytes())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;

    /// What the callbacks below saw, by device name.
    static EVENTS: Mutex<Vec<String>> = Mutex::new(Vec::new());

    fn name(dev: *mut RawFauxDevice) -> String {
        // SAFETY: the callbacks get a live device.
        unsafe { &*dev }.dev.name().to_string_lossy().into_owned()
    }

    fn record(name: &str, what: &str) {
        EVENTS.lock().unwrap().push(format!("{name}: {what}"));
    }

    fn events(name: &str) -> Vec<String> {
        let prefix = format!("{name}: ");
        EVENTS
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| e.strip_prefix(&prefix).map(str::to_owned))
            .collect()
    }

    /// Probes successfully, adding a device-managed resource that records its release.
    unsafe fn probe_ok(dev: *mut RawFauxDevice) -> c_int {
        let name = name(dev);
        record(&name, "probe");
        // SAFETY: the device is live during its probe.
        let dev = unsafe { &*dev };
        dev.dev
            .devres_add(0, Box::new(move || record(&name, "devres")));
        0
    }

    unsafe fn probe_fails(dev: *mut RawFauxDevice) -> c_int {
        record(&name(dev), "failing probe");
        Errno::ENOSPC.to_errno()
    }

    unsafe fn remove(dev: *mut RawFauxDevice) {
        record(&name(dev), "remove");
    }

    static OK: faux_device_ops = faux_device_ops {
        probe: Some(probe_ok),
        remove: Some(remove),
    };

    static FAILS: faux_device_ops = faux_device_ops {
        probe: Some(probe_fails),
        remove: Some(remove),
    };

    #[test]
    fn creation_probes_and_destruction_removes_then_releases() {
        // SAFETY: no parent; the operations are static.
        let dev = unsafe { faux_device_create(c"host-faux-ops", core::ptr::null_mut(), &OK) };
        let dev = dev.expect("the probe succeeded");
        assert_eq!(events("host-faux-ops"), ["probe"]);
        // SAFETY: the device was created above, and the pointer is not used after.
        unsafe { faux_device_destroy(dev.as_ptr()) };
        assert_eq!(events("host-faux-ops"), ["probe", "remove", "devres"]);
        assert!(faux_device("host-faux-ops").is_none());
    }

    #[test]
    fn a_device_whose_probe_fails_is_not_created() {
        // SAFETY: no parent; the operations are static.
        let dev = unsafe { faux_device_create(c"host-faux-fails", core::ptr::null_mut(), &FAILS) };
        assert!(dev.is_none());
        assert_eq!(events("host-faux-fails"), ["failing probe"]);
        assert!(faux_device("host-faux-fails").is_none());
    }
}
