//! The PCI bus of a process: its devices, its drivers, and binding between them.
//!
//! The kernel's driver core matches every registered driver against every device and calls
//! `probe()` on a match; on removal it calls `remove()`, drops the driver's data, and releases the
//! device-managed resources. A [`Bus`] does the same for the devices a backend opened (VFIO or UIO
//! devices, or simulated ones) and the drivers of the modules loaded into it.
//!
//! A process may have several buses: each simulated bus in a test is its own, so tests that run in
//! parallel never see each other's devices.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

use super::pci::PciDeviceRef;
use super::pci_id::PciIds;
use crate::bindings;
use crate::errno::Errno;

/// A registered driver, as the bus keeps it.
#[derive(Clone, Copy, PartialEq, Eq)]
struct DriverPtr(*const bindings::pci_driver);

// SAFETY: a registered `pci_driver` is immutable and pinned until it is unregistered, and its
// callbacks may be called from any thread (the driver traits require `Send` data).
unsafe impl Send for DriverPtr {}

struct BusState {
    devices: Vec<PciDeviceRef>,
    drivers: Vec<DriverPtr>,
}

/// A PCI bus: devices, drivers, and the bindings between them.
pub struct Bus {
    name: String,
    state: Mutex<BusState>,
}

impl Bus {
    /// Creates an empty bus; `name` identifies it in logs.
    pub fn new(name: impl Into<String>) -> Arc<Bus> {
        Arc::new(Bus {
            name: name.into(),
            state: Mutex::new(BusState {
                devices: Vec::new(),
                drivers: Vec::new(),
            }),
        })
    }

    /// Returns the bus's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BusState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a device and binds it to the first registered driver that matches it.
    pub fn add_device(&self, device: PciDeviceRef) {
        let drivers = {
            let mut state = self.lock();
            state.devices.push(device.clone());
            state.drivers.clone()
        };
        for driver in drivers {
            if self.attach(&device, driver) {
                break;
            }
        }
    }

    /// Removes the device named `name`, unbinding its driver first; returns it.
    pub fn remove_device(&self, name: &str) -> Option<PciDeviceRef> {
        let device = {
            let mut state = self.lock();
            let index = state
                .devices
                .iter()
                .position(|d| d.name().to_bytes() == name.as_bytes())?;
            state.devices.remove(index)
        };
        self.release(&device);
        Some(device)
    }

    /// Returns the bus's devices.
    pub fn devices(&self) -> Vec<PciDeviceRef> {
        self.lock().devices.clone()
    }

    /// Returns the device named `name` (an address such as `0000:00:04.0`).
    pub fn device(&self, name: &str) -> Option<PciDeviceRef> {
        self.lock()
            .devices
            .iter()
            .find(|d| d.name().to_bytes() == name.as_bytes())
            .cloned()
    }

    /// Whether any driver is registered: a module that registers none (a plain `Module`) needs
    /// no device.
    pub fn has_drivers(&self) -> bool {
        !self.lock().drivers.is_empty()
    }

    /// Whether a registered driver's ID table matches a device with `ids`: the matching the
    /// kernel does by modalias to load a driver for a new device, done before the device is
    /// opened.
    pub fn has_driver_for(&self, ids: &PciIds) -> bool {
        self.lock().drivers.iter().any(|driver| {
            // SAFETY: registered drivers stay valid until unregistered (`register_driver`'s
            // contract), which takes the lock we hold; their tables are zero-terminated (built by
            // `IdArray`).
            unsafe { ids.match_table((*driver.0).id_table) }.is_some()
        })
    }

    /// Registers `driver` and binds it to every unbound device it matches
    /// (`__pci_register_driver()`).
    ///
    /// # Safety
    ///
    /// `driver` must point to a `pci_driver` that stays valid, unmoved and unchanged until
    /// [`Bus::unregister_driver`] is called for it, with callbacks that are safe to call on this
    /// bus's devices.
    pub unsafe fn register_driver(&self, driver: *mut bindings::pci_driver) -> Result<(), Errno> {
        // SAFETY: `driver` is valid (safety requirement) and not yet shared with anyone.
        unsafe { (*driver).driver.bus = core::ptr::from_ref(self) };
        let driver = DriverPtr(driver);
        let devices = {
            let mut state = self.lock();
            if state.drivers.contains(&driver) {
                return Err(Errno::EBUSY);
            }
            state.drivers.push(driver);
            state.devices.clone()
        };
        for device in &devices {
            self.attach(device, driver);
        }
        Ok(())
    }

    /// Unbinds `driver` from every device and unregisters it (`pci_unregister_driver()`).
    ///
    /// # Safety
    ///
    /// `driver` must have been registered with [`Bus::register_driver`] on this bus.
    pub unsafe fn unregister_driver(&self, driver: *const bindings::pci_driver) {
        let driver = DriverPtr(driver);
        let devices = {
            let mut state = self.lock();
            state.drivers.retain(|d| *d != driver);
            state.devices.clone()
        };
        for device in devices
            .iter()
            .filter(|d| d.bound_driver() == Some(driver.0))
        {
            self.release(device);
        }
    }

    /// Probes `device` with `driver` if it is unbound and matches; returns whether it bound.
    fn attach(&self, device: &PciDeviceRef, driver: DriverPtr) -> bool {
        device.dev.lock();
        let bound = self.probe_locked(device, driver);
        device.dev.unlock();
        bound
    }

    fn probe_locked(&self, device: &PciDeviceRef, driver: DriverPtr) -> bool {
        // SAFETY: registered drivers stay valid until unregistered (`register_driver`'s contract),
        // and unregistration releases its devices under their locks, which we hold.
        let drv = unsafe { &*driver.0 };
        if device.bound_driver().is_some() {
            return false;
        }
        // SAFETY: a registered driver's table is zero-terminated (built by `IdArray`).
        let Some(id) = (unsafe { device.ids().match_table(drv.id_table) }) else {
            return false;
        };
        let Some(probe) = drv.probe else { return false };
        // SAFETY: a registered driver's name is a valid C string.
        let driver_name: &'static CStr = unsafe { CStr::from_ptr(drv.name) };
        let device_name = device.name().to_string_lossy().into_owned();
        device.dev.set_driver_name(Some(driver_name));
        device.set_bound_driver(Some(driver.0));
        // SAFETY: `probe` is the driver's callback, given a live device and its matching entry.
        let result = catch_unwind(AssertUnwindSafe(|| unsafe { probe(device.as_ptr(), id) }));
        let ret = match result {
            Ok(ret) => ret,
            Err(_) => {
                log::error!(target: "drydock", "{}: probe of {device_name} panicked", self.name);
                Errno::EIO.to_errno()
            }
        };
        if ret < 0 {
            log::warn!(
                target: "drydock",
                "{}: probe of {device_name} failed with error {ret}",
                driver_name.to_string_lossy()
            );
            device.clear_master();
            device.dev.devres_release_all();
            device.free_irq_vectors();
            device.dev.set_drvdata(core::ptr::null_mut());
            device.set_bound_driver(None);
            device.dev.set_driver_name(None);
            return false;
        }
        true
    }

    /// Unbinds the driver bound to `device`, if any (`device_release_driver()`).
    ///
    /// In the kernel's order: the driver's `remove()` (which may still access the device), then
    /// bus mastering is turned off so the device can no longer reach memory, then the driver's data
    /// is dropped, then the device-managed resources are released.
    pub fn release(&self, device: &PciDeviceRef) {
        device.dev.lock();
        if let Some(driver) = device.bound_driver() {
            // SAFETY: the driver is registered while bound (unregistration releases first).
            let drv = unsafe { &*driver };
            let name = device.name().to_string_lossy().into_owned();
            if let Some(remove) = drv.remove {
                // SAFETY: the driver's callback, on a device it is bound to.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { remove(device.as_ptr()) }));
                if result.is_err() {
                    log::error!(target: "drydock", "{}: remove of {name} panicked", self.name);
                }
            }
            device.clear_master();
            if let Some(post_unbind) = drv.driver.p_cb.post_unbind_rust {
                let dev = core::ptr::from_ref(&device.dev).cast_mut();
                // SAFETY: the driver core's callback, on a device whose `remove()` completed.
                let result = catch_unwind(AssertUnwindSafe(|| unsafe { post_unbind(dev) }));
                if result.is_err() {
                    log::error!(target: "drydock", "{}: dropping the driver data of {name} panicked", self.name);
                }
            }
            device.dev.devres_release_all();
            if device.irq_type() != 0 {
                log::warn!(target: "drydock", "{name}: interrupt vectors still allocated at unbind; freeing them");
                device.free_irq_vectors();
            }
            device.dev.set_drvdata(core::ptr::null_mut());
            device.set_bound_driver(None);
            device.dev.set_driver_name(None);
        }
        device.dev.unlock();
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let devices = std::mem::take(&mut self.lock().devices);
        for device in &devices {
            self.release(device);
        }
    }
}
