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
use std::sync::LazyLock;

use crate::binding::{Binding, Subsystem};
use crate::bindings::{device, device_driver, device_driver_callbacks, faux_device_ops};
use crate::device::{BusDevice, BusType, DeviceRef, RawDevice};

/// The userspace `struct faux_device`.
///
/// Difference from C: the device keeps the operations its creator gave, which the kernel keeps
/// in a `struct faux_object` around it.
///
/// # Invariants
///
/// - `dev` is the first field (`#[repr(C)]`), so a pointer to a `RawFauxDevice` is a pointer to
///   its `RawDevice` and back; a `RawFauxDevice` is always moved to the heap with
///   [`RawDevice::into_heap`] ([`faux_device_create`]).
/// - `ops` is null or points to operations valid until the device is destroyed, which may be
///   called from any thread.
#[repr(C)]
pub struct RawFauxDevice {
    /// The generic device, as `struct faux_device` embeds `struct device`.
    pub dev: RawDevice,
    ops: *const faux_device_ops,
}

// SAFETY: `ops` points to operations that may be used from any thread (type invariant); the rest
// is `Send + Sync`.
unsafe impl Send for RawFauxDevice {}
// SAFETY: as above; `ops` is never written after creation.
unsafe impl Sync for RawFauxDevice {}

/// A counted reference to a [`RawFauxDevice`].
pub type FauxDeviceRef = DeviceRef<RawFauxDevice>;

// SAFETY: `RawFauxDevice` is `#[repr(C)]` with its `RawDevice` first, and is moved to the heap with
// `RawDevice::into_heap` (type invariants).
unsafe impl BusDevice for RawFauxDevice {
    fn dev(&self) -> &RawDevice {
        &self.dev
    }
}

impl RawFauxDevice {
    /// Returns the creator's operations, if any.
    fn ops(&self) -> Option<&faux_device_ops> {
        // SAFETY: `ops` is null or valid until the device is destroyed (type invariant).
        unsafe { self.ops.as_ref() }
    }
}

impl Binding for RawFauxDevice {
    type Driver = device_driver;
    type Id = ();
    const DRIVER_OFFSET: usize = 0;

    /// The faux driver matches every device (`faux_match()`).
    unsafe fn match_id(&self, _driver: &device_driver) -> Option<()> {
        Some(())
    }

    /// Runs the creator's `probe`, if any (`faux_probe()`).
    unsafe fn probe(&self, _driver: &device_driver, _id: ()) -> c_int {
        match self.ops().and_then(|ops| ops.probe) {
            // SAFETY: the creator's callback, on its device, with the device lock held.
            Some(probe) => unsafe { probe(core::ptr::from_ref(self).cast_mut()) },
            None => 0,
        }
    }

    /// Runs the creator's `remove`, if any (`faux_remove()`).
    unsafe fn remove(&self, _driver: &device_driver) {
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

/// The faux bus, with its driver registered (`faux_bus_init()`).
static FAUX_BUS: LazyLock<Subsystem<RawFauxDevice>> = LazyLock::new(|| {
    let bus = Subsystem::new("faux");
    // SAFETY: the driver is static and never unregistered; its callbacks are the bus's own, which
    // may be called from any thread; its name is a static C string.
    let registered = unsafe { bus.register(&FAUX_DRIVER.0) };
    debug_assert!(registered.is_ok(), "the faux bus's only driver");
    bus
});

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
    let device = RawFauxDevice {
        dev: RawDevice::initialize(BusType::Faux, parent),
        ops: faux_ops,
    };
    // INVARIANT: moved to the heap with `into_heap`, with the creator's operations.
    // SAFETY: `RawFauxDevice` is `#[repr(C)]` with its new device first.
    let ptr = unsafe { RawDevice::into_heap(device) };
    // SAFETY: the new device's reference is handed over: it is the creator's from here on.
    let device = unsafe { FauxDeviceRef::from_raw(ptr) };
    // A new device has no name yet, so naming it cannot fail.
    let _ = device.dev.set_name(name.to_owned());
    if let Err(err) = FAUX_BUS.add(device.clone()) {
        log::error!(
            target: "drydock",
            "faux_device_create: device_add for faux device '{}' failed with {}",
            name.to_string_lossy(),
            err.to_errno()
        );
        return None;
    }
    let device = device.into_raw();
    // SAFETY: the creator's reference keeps the device alive.
    if unsafe { device.as_ref() }.dev.driver().is_none() {
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

/// Unbinds a faux device, removes it from the faux bus and drops the creator's reference
/// (`faux_device_destroy()`): the ops' `remove` runs and the device-managed resources are released
/// before this returns.
///
/// # Safety
///
/// `faux_dev` must come from [`faux_device_create`], and not be destroyed yet.
pub unsafe fn faux_device_destroy(faux_dev: *mut RawFauxDevice) {
    // SAFETY: the creator's reference keeps the device alive until the end of this function.
    FAUX_BUS.remove(unsafe { &*faux_dev });
    // SAFETY: the creator's reference, which this consumes; the device is the first field.
    unsafe { RawDevice::put(faux_dev.cast()) };
}

/// Returns the faux device named `name`, if one exists.
pub fn faux_device(name: &str) -> Option<FauxDeviceRef> {
    FAUX_BUS.device(name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errno::Errno;
    use std::sync::Mutex;

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

    /// Probes successfully, adding a device-managed resource whose release panics.
    unsafe fn probe_with_panicking_release(dev: *mut RawFauxDevice) -> c_int {
        // SAFETY: the device is live during its probe.
        let dev = unsafe { &*dev };
        dev.dev
            .devres_add(0, Box::new(|| panic!("a device-managed release panics")));
        0
    }

    static PANICKING_RELEASE: faux_device_ops = faux_device_ops {
        probe: Some(probe_with_panicking_release),
        remove: None,
    };

    #[test]
    fn a_panic_while_unbinding_leaves_the_device_unlocked() {
        // SAFETY: no parent; the operations are static.
        let dev = unsafe {
            faux_device_create(
                c"host-faux-panicking-release",
                core::ptr::null_mut(),
                &PANICKING_RELEASE,
            )
        };
        let dev = dev.expect("the probe succeeded");
        // SAFETY: the creator's reference is alive.
        let device = unsafe { FauxDeviceRef::get_device(dev) };
        let destroyed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: the device was created above, and the pointer is not used after.
            unsafe { faux_device_destroy(dev.as_ptr()) }
        }));
        assert!(destroyed.is_err(), "the release's panic goes to the caller");
        // Another thread can take the device lock: the unbinding released it on the way out.
        let (locked, lock_taken) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            device.dev.lock();
            device.dev.unlock();
            let _ = locked.send(());
        });
        lock_taken
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("the device lock was left held");
    }
}
