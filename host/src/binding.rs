//! Binding a device to a driver and unbinding it, for every bus: the driver core's
//! `really_probe()` and `device_release_driver()` (`drivers/base/dd.c`).
//!
//! The steps and their order are the same on every bus; what differs is how the bus calls its
//! driver (a `pci_driver`'s `probe()` gets the matching `pci_device_id`, a faux device's the
//! device alone) and what the bus itself does around the driver's callbacks (the PCI core turns
//! bus mastering off and frees interrupt vectors). A bus device says that by implementing
//! [`Binding`].

use core::ffi::{c_int, CStr};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::bindings::device_driver;
use crate::device::{BusDevice, RawDevice};
use crate::errno::Errno;

/// The bus-specific steps of unbinding a device (the kernel's `struct bus_type` `remove`, and what
/// the bus does around it).
pub(crate) trait Binding: BusDevice {
    /// Calls the `remove()` callback of `driver`, the driver bound to the device.
    ///
    /// # Safety
    ///
    /// `driver` must be the device's bound driver, registered on this device's bus, and the
    /// device lock must be held.
    unsafe fn remove(&self, driver: *const device_driver);

    /// Runs once the driver's `remove()` returned, or its probe failed, before its data and its
    /// device-managed resources are released: the PCI core stops the device's DMA here.
    fn quiesce(&self) {}

    /// Runs once the device-managed resources are released, to free what the bus holds for the
    /// driver; `unbinding` is `false` after a failed probe.
    fn cleanup(&self, unbinding: bool) {
        let _ = unbinding;
    }
}

/// Locks `device`, runs `f` and unlocks it (`device_lock()` around a bus operation).
pub(crate) fn locked<T: BusDevice, R>(device: &T, f: impl FnOnce() -> R) -> R {
    device.dev().lock();
    let result = f();
    device.dev().unlock();
    result
}

/// Binds `device` to `driver` and calls `probe` (`really_probe()`); returns whether it bound.
///
/// The driver is recorded before `probe` runs, as the kernel sets `dev->driver` first, so the
/// probe's log lines carry its name. A probe that fails (or panics: the panic is contained and
/// reported as `EIO`) is undone in the unbind order. `context` names the bus in log lines.
///
/// # Safety
///
/// The device lock must be held, the device unbound, and `driver` a driver registered on the
/// device's bus whose `name` is a valid C string that lives as long as the process.
pub(crate) unsafe fn really_probe<T: Binding>(
    context: &str,
    device: &T,
    driver: *const device_driver,
    probe: impl FnOnce() -> c_int,
) -> bool {
    let dev = device.dev();
    // SAFETY: by the safety requirements, the name is a valid C string that is never freed.
    let driver_name: &'static CStr = unsafe { CStr::from_ptr((*driver).name) };
    let device_name = dev.name().to_string_lossy().into_owned();
    dev.set_driver(Some((driver, driver_name)));
    let ret = catch_unwind(AssertUnwindSafe(probe)).unwrap_or_else(|_| {
        log::error!(target: "drydock", "{context}: probe of {device_name} panicked");
        Errno::EIO.to_errno()
    });
    if ret >= 0 {
        return true;
    }
    log::warn!(
        target: "drydock",
        "{}: probe of {device_name} failed with error {ret}",
        driver_name.to_string_lossy()
    );
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
pub(crate) unsafe fn release_driver<T: Binding>(context: &str, device: &T) {
    let dev = device.dev();
    let Some(driver) = dev.driver() else { return };
    let name = dev.name().to_string_lossy().into_owned();
    // SAFETY: `driver` is the bound driver, which stays registered while bound (unregistration
    // unbinds first), and we hold the device lock (safety requirement).
    let result = catch_unwind(AssertUnwindSafe(|| unsafe { device.remove(driver) }));
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
