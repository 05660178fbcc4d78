//! The PCI bus of a process: its devices, its drivers, and binding between them.
//!
//! The kernel's driver core matches every registered driver against every device and calls
//! `probe()` on a match; on removal it calls `remove()`, drops the driver's data, and releases the
//! device-managed resources. A [`Bus`] does the same for the devices a backend opened (VFIO or UIO
//! devices, or simulated ones) and the drivers of the modules loaded into it.
//!
//! A process may have several buses: each simulated bus in a test is its own, so tests that run in
//! parallel never see each other's devices.

use std::sync::Arc;

use super::auxiliary::RawAuxiliaryDevice;
use super::binding::Subsystem;
use super::pci::{PciDeviceRef, RawPciDevice};
use super::pci_id::PciIds;
use crate::bindings;
use crate::errno::Errno;

/// A PCI bus: devices, drivers, and the bindings between them; and the auxiliary devices and
/// drivers of its modules (see [`crate::auxiliary`]).
pub struct Bus {
    name: String,
    // Field order matters: the PCI devices are removed first, and with them the auxiliary devices
    // their drivers added.
    pci: Subsystem<RawPciDevice>,
    pub(crate) auxiliary: Subsystem<RawAuxiliaryDevice>,
}

impl Bus {
    /// Creates an empty bus; `name` identifies it in logs.
    pub fn new(name: impl Into<String>) -> Arc<Bus> {
        let name = name.into();
        Arc::new(Bus {
            pci: Subsystem::new(name.clone()),
            auxiliary: Subsystem::new(name.clone()),
            name,
        })
    }

    /// Returns the bus's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Adds a device and binds it to the first registered driver that matches it.
    ///
    /// A device whose name is taken on the bus is refused with an error in the log, as the kernel's
    /// PCI core warns when `device_add()` fails.
    pub fn add_device(&self, device: PciDeviceRef) {
        let name = device.name().to_string_lossy().into_owned();
        if let Err(err) = self.pci.add(device) {
            log::error!(
                target: "drydock",
                "{}: adding device {name} failed: {}",
                self.name,
                err.to_errno()
            );
        }
    }

    /// Removes the device named `name`, unbinding its driver first; returns it.
    pub fn remove_device(&self, name: &str) -> Option<PciDeviceRef> {
        let device = self.pci.device(name.as_bytes())?;
        self.pci.remove(&*device).then_some(device)
    }

    /// Returns the bus's devices.
    pub fn devices(&self) -> Vec<PciDeviceRef> {
        self.pci.devices()
    }

    /// Returns the bus's devices that a driver is bound to: those a process serves once its
    /// probes ran.
    pub fn bound_devices(&self) -> Vec<PciDeviceRef> {
        let mut devices = self.devices();
        devices.retain(|device| device.bound_driver().is_some());
        devices
    }

    /// Returns the device named `name` (an address such as `0000:00:04.0`).
    pub fn device(&self, name: &str) -> Option<PciDeviceRef> {
        self.pci.device(name.as_bytes())
    }

    /// Whether any PCI driver is registered: a module that registers none (a plain `Module`, or
    /// one with only auxiliary or faux drivers) needs no PCI device.
    pub fn has_pci_drivers(&self) -> bool {
        self.pci.any_driver(|_| true)
    }

    /// Whether a registered driver's ID table matches a device with `ids`: the matching the
    /// kernel does by modalias to load a driver for a new device, done before the device is
    /// opened.
    pub fn has_driver_for(&self, ids: &PciIds) -> bool {
        self.pci.any_driver(|driver| {
            // SAFETY: registered drivers' tables are zero-terminated (built by `IdArray`).
            unsafe { ids.match_table(driver.id_table) }.is_some()
        })
    }

    /// Registers `driver` and binds it to every unbound device it matches
    /// (`__pci_register_driver()`); `EBUSY` if a driver of its name is registered on the bus.
    ///
    /// # Safety
    ///
    /// `driver` must point to a `pci_driver` that stays valid, unmoved and unchanged until
    /// [`Bus::unregister_driver`] returns for it, with callbacks that are safe to call from any
    /// thread on this bus's devices, and a `name` that is a C string valid for as long as the
    /// process runs.
    pub unsafe fn register_driver(&self, driver: *mut bindings::pci_driver) -> Result<(), Errno> {
        // SAFETY: `driver` is valid (safety requirement) and not yet shared with anyone.
        unsafe {
            (*driver).driver.bus = core::ptr::from_ref(self);
            (*driver).driver.name = (*driver).name;
        }
        // SAFETY: by the safety requirements, with the embedded driver named above.
        unsafe { self.pci.register(driver) }
    }

    /// Unbinds `driver` from every device and unregisters it (`pci_unregister_driver()`); once
    /// this returns, the driver is not called any more.
    ///
    /// # Safety
    ///
    /// `driver` must have been registered with [`Bus::register_driver`] on this bus.
    pub unsafe fn unregister_driver(&self, driver: *const bindings::pci_driver) {
        // SAFETY: registered on this bus's PCI subsystem (safety requirement).
        unsafe { self.pci.unregister(driver) }
    }

    /// Unbinds the driver bound to `device`, if any (`device_release_driver()`).
    ///
    /// In the kernel's order: the driver's `remove()` (which may still access the device), then
    /// bus mastering is turned off so the device can no longer reach memory, then the driver's data
    /// is dropped, then the device-managed resources are released.
    pub fn release(&self, device: &PciDeviceRef) {
        self.pci.release(device);
    }
}
