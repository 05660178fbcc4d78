//! The userspace `struct device`: what the driver core knows about every device.
//!
//! [`RawDevice`] is what `kernel::device::Device` wraps (as `bindings::device`): a reference
//! counted object with a name, the driver's private data pointer (`dev_get_drvdata()`), the list of
//! device-managed resources that are released when the driver unbinds (`devres`), the DMA masks,
//! and the device lock that serialises probe and removal. Bus-specific devices, such as the PCI
//! function in [`super::pci`], embed it as their first field, as `struct pci_dev` embeds
//! `struct device`.

use std::ffi::CString;
use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::dma::DmaSpace;

use core::ffi::{c_void, CStr};

/// Which bus a [`RawDevice`] belongs to, so `TryFrom<&Device>` can check before converting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusType {
    /// A PCI function: the device is the first field of a [`super::pci::RawPciDevice`].
    Pci,
}

/// A resource released when the device's driver unbinds, or earlier when its owner removes it.
struct DevresNode {
    /// Identifies the node for [`RawDevice::devres_remove`]; the address of the owner's state.
    key: usize,
    /// Releases the resource.
    release: Box<dyn FnOnce() + Send>,
}

/// A mutex that is taken and released by separate calls, as the kernel's `device_lock()` is.
struct DeviceLock {
    held: Mutex<bool>,
    released: Condvar,
}

impl DeviceLock {
    fn lock(&self) {
        let mut held = self.held.lock().unwrap_or_else(|e| e.into_inner());
        while *held {
            held = self.released.wait(held).unwrap_or_else(|e| e.into_inner());
        }
        *held = true;
    }

    fn unlock(&self) {
        *self.held.lock().unwrap_or_else(|e| e.into_inner()) = false;
        self.released.notify_one();
    }
}

/// The userspace `struct device`.
///
/// # Invariants
///
/// - A `RawDevice` lives in a heap allocation owned by its container (for example a
///   [`super::pci::RawPciDevice`]); `release` frees that allocation and is called exactly once,
///   when `refcount` drops to zero.
/// - `drvdata` is null while no driver is bound, and otherwise the pointer the bound driver's bus
///   adapter stored with [`RawDevice::set_drvdata`].
#[repr(C)]
pub struct RawDevice {
    refcount: AtomicUsize,
    release: unsafe fn(*mut RawDevice),
    bus_type: BusType,
    name: CString,
    drvdata: AtomicPtr<c_void>,
    driver_name: Mutex<Option<&'static CStr>>,
    devres: Mutex<Vec<DevresNode>>,
    dma_mask: AtomicU64,
    coherent_dma_mask: AtomicU64,
    max_seg_size: AtomicU64,
    dma_space: Option<Arc<dyn DmaSpace>>,
    lock: DeviceLock,
}

impl RawDevice {
    /// Creates the device part of a new device with one reference.
    ///
    /// `release` is called with a pointer to this `RawDevice` when the last reference is dropped,
    /// and must free the allocation that contains it. `dma_space` is the address space the
    /// device's DMA goes through, if it can master the bus.
    pub fn new(
        bus_type: BusType,
        name: &str,
        dma_space: Option<Arc<dyn DmaSpace>>,
        release: unsafe fn(*mut RawDevice),
    ) -> Self {
        Self {
            refcount: AtomicUsize::new(1),
            release,
            bus_type,
            // A device name never contains NUL: it is a bus address such as `0000:00:04.0`.
            name: CString::new(name).unwrap_or_default(),
            drvdata: AtomicPtr::new(core::ptr::null_mut()),
            driver_name: Mutex::new(None),
            devres: Mutex::new(Vec::new()),
            // The kernel's default DMA mask for a PCI device is 32 bits.
            dma_mask: AtomicU64::new(u64::from(u32::MAX)),
            coherent_dma_mask: AtomicU64::new(u64::from(u32::MAX)),
            max_seg_size: AtomicU64::new(65536),
            dma_space,
            lock: DeviceLock {
                held: Mutex::new(false),
                released: Condvar::new(),
            },
        }
    }

    /// Returns the device's name (`dev_name()`), such as `0000:00:04.0`.
    pub fn name(&self) -> &CStr {
        &self.name
    }

    /// Returns the bus the device is on.
    pub fn bus_type(&self) -> BusType {
        self.bus_type
    }

    /// Takes a reference (`get_device()`).
    pub fn get(&self) {
        self.refcount.fetch_add(1, Ordering::Relaxed);
    }

    /// Drops a reference (`put_device()`), releasing the device with the last one.
    ///
    /// # Safety
    ///
    /// `this` must point to a live `RawDevice` on which the caller owns a reference, which this
    /// call consumes.
    pub unsafe fn put(this: *const RawDevice) {
        // SAFETY: the caller owns a reference, so the device is alive.
        let device = unsafe { &*this };
        if device.refcount.fetch_sub(1, Ordering::Release) == 1 {
            core::sync::atomic::fence(Ordering::Acquire);
            // SAFETY: this was the last reference, so nobody else can reach the device; by the type
            // invariant `release` frees the containing allocation exactly once.
            unsafe { (device.release)(this.cast_mut()) };
        }
    }

    /// Returns the driver data pointer (`dev_get_drvdata()`).
    pub fn drvdata(&self) -> *mut c_void {
        self.drvdata.load(Ordering::Acquire)
    }

    /// Sets the driver data pointer (`dev_set_drvdata()`).
    pub fn set_drvdata(&self, data: *mut c_void) {
        self.drvdata.store(data, Ordering::Release);
    }

    /// Returns the name of the bound driver, if any (`dev_driver_string()` without the bus).
    pub fn driver_name(&self) -> Option<&'static CStr> {
        *self.driver_name.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the bound driver's name, or `None` after unbinding.
    pub fn set_driver_name(&self, name: Option<&'static CStr>) {
        *self.driver_name.lock().unwrap_or_else(|e| e.into_inner()) = name;
    }

    /// Takes the device lock (`device_lock()`), waiting while another thread holds it.
    pub fn lock(&self) {
        self.lock.lock()
    }

    /// Releases the device lock (`device_unlock()`).
    pub fn unlock(&self) {
        self.lock.unlock()
    }

    /// Adds a device-managed resource, identified by `key`, released at unbind in reverse order
    /// of addition (`devres_add()`/`devm_add_action()`).
    pub fn devres_add(&self, key: usize, release: Box<dyn FnOnce() + Send>) {
        self.devres
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(DevresNode { key, release });
    }

    /// Removes the resource identified by `key` without releasing it (`devres_remove()`).
    ///
    /// Returns `true` if it was still registered; `false` if the driver core has already taken it
    /// for release.
    pub fn devres_remove(&self, key: usize) -> bool {
        let mut list = self.devres.lock().unwrap_or_else(|e| e.into_inner());
        match list.iter().position(|node| node.key == key) {
            Some(index) => {
                // Dropping the release action without running it: the owner releases the resource
                // itself.
                drop(list.remove(index));
                true
            }
            None => false,
        }
    }

    /// Releases every device-managed resource, newest first (`devres_release_all()`).
    pub fn devres_release_all(&self) {
        loop {
            // Take one node at a time, without holding the list lock while it is released, so a
            // release may itself touch the list (for example a `Devres` dropping another).
            let node = self.devres.lock().unwrap_or_else(|e| e.into_inner()).pop();
            match node {
                Some(node) => (node.release)(),
                None => break,
            }
        }
    }

    /// Returns the number of device-managed resources currently registered.
    pub fn devres_count(&self) -> usize {
        self.devres.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Sets the streaming DMA mask (`dma_set_mask()`).
    pub fn set_dma_mask(&self, mask: u64) {
        self.dma_mask.store(mask, Ordering::Relaxed);
    }

    /// Sets the coherent DMA mask (`dma_set_coherent_mask()`).
    pub fn set_coherent_dma_mask(&self, mask: u64) {
        self.coherent_dma_mask.store(mask, Ordering::Relaxed);
    }

    /// Returns the streaming DMA mask.
    pub fn dma_mask(&self) -> u64 {
        self.dma_mask.load(Ordering::Relaxed)
    }

    /// Returns the coherent DMA mask, which bounds every coherent allocation's bus address.
    pub fn coherent_dma_mask(&self) -> u64 {
        self.coherent_dma_mask.load(Ordering::Relaxed)
    }

    /// Sets the largest DMA segment the device accepts (`dma_set_max_seg_size()`).
    pub fn set_max_seg_size(&self, size: u32) {
        self.max_seg_size.store(u64::from(size), Ordering::Relaxed);
    }

    /// Returns the DMA address space of the device, if it can master the bus.
    pub fn dma_space(&self) -> Option<&Arc<dyn DmaSpace>> {
        self.dma_space.as_ref()
    }

    /// Returns the largest DMA segment the device accepts.
    pub fn max_seg_size(&self) -> u64 {
        self.max_seg_size.load(Ordering::Relaxed)
    }
}
