//! The userspace `struct device`: what the driver core knows about every device.
//!
//! [`RawDevice`] is what `kernel::device::Device` wraps (as `bindings::device`): a reference
//! counted object with a name, the driver's private data pointer (`dev_get_drvdata()`), the list of
//! device-managed resources that are released when the driver unbinds (`devres`), the DMA masks,
//! and the device lock that serialises probe and removal. Bus-specific devices, such as the PCI
//! function in [`super::pci`], embed it as their first field, as `struct pci_dev` embeds
//! `struct device`; [`DeviceRef`] is a counted reference to one.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};

use super::dma::{DmaSpace, DmaUsage};
use crate::bindings::device_driver;

use core::ffi::{c_void, CStr};
use core::ptr::NonNull;

/// Which bus a [`RawDevice`] belongs to, so `TryFrom<&Device>` can check before converting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BusType {
    /// A PCI function: the device is the first field of a [`super::pci::RawPciDevice`].
    Pci,
    /// An auxiliary device: the first field of a [`super::auxiliary::RawAuxiliaryDevice`].
    Auxiliary,
    /// A faux device: the first field of a [`super::faux::RawFauxDevice`].
    Faux,
    /// No bus: the device of class `misc` a misc device's registration creates
    /// (`struct miscdevice`'s `this_device`); the kernel names the class where it would name the
    /// bus.
    Misc,
}

impl BusType {
    /// The bus's name (`struct bus_type`'s `name`), which the kernel prints for a device no driver
    /// is bound to.
    pub fn name(self) -> &'static str {
        match self {
            BusType::Pci => "pci",
            BusType::Auxiliary => "auxiliary",
            BusType::Faux => "faux",
            BusType::Misc => "misc",
        }
    }
}

/// The driver bound to a device: its `device_driver` and its name.
#[derive(Clone, Copy)]
struct BoundDriver {
    driver: *const device_driver,
    name: &'static CStr,
}

// SAFETY: a bound driver is registered, immutable and pinned until it is unbound from every device
// (the driver core's contract), and its callbacks may be called from any thread.
unsafe impl Send for BoundDriver {}

/// A counted reference to a device's parent.
///
/// The pointer may come from a shared reference to the parent's [`RawDevice`] alone (a bus device
/// under a `&Device` of the mirror): it is only used to read that `RawDevice` and to drop the
/// reference, and the parent's container is freed through the allocation its own `RawDevice`
/// recorded ([`RawDevice::into_heap`]), never through this pointer.
///
/// # Invariants
///
/// Points to a live `RawDevice` on which this value owns one reference.
struct ParentRef(NonNull<RawDevice>);

// SAFETY: a `RawDevice` is `Send + Sync`, and references may be dropped from any thread.
unsafe impl Send for ParentRef {}
// SAFETY: as above.
unsafe impl Sync for ParentRef {}

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

/// The heap allocation of a device's container, as [`RawDevice::into_heap`] recorded it.
#[derive(Clone, Copy)]
struct Container {
    /// The allocation, as a pointer to the device at its start, with the provenance of the `Box`
    /// it came from.
    ptr: NonNull<RawDevice>,
    /// Frees the allocation (drops the `Box` of the container's type).
    free: unsafe fn(NonNull<RawDevice>),
}

// SAFETY: the record is only used by whoever drops the last reference, on whichever thread, to
// free a container that is `Send` (every bus device is).
unsafe impl Send for Container {}
// SAFETY: shared, the record is only read.
unsafe impl Sync for Container {}

/// Drops the `Box<C>` whose allocation `ptr` starts.
///
/// # Safety
///
/// `ptr` must come from `Box::<C>::into_raw`, and nothing may use the allocation afterwards.
unsafe fn free_box<C>(ptr: NonNull<RawDevice>) {
    // SAFETY: by the safety requirements.
    drop(unsafe { Box::from_raw(ptr.cast::<C>().as_ptr()) });
}

/// The userspace `struct device`.
///
/// # Invariants
///
/// - A `RawDevice` on which references are taken is the first field of a container (for example a
///   [`super::pci::RawPciDevice`]) that [`RawDevice::into_heap`] moved to the heap, and recorded in
///   `container`; the container is freed through that record, exactly once, when `refcount` drops
///   to zero.
/// - `drvdata` is null while no driver is bound, and otherwise the pointer the bound driver's bus
///   adapter stored with [`RawDevice::set_drvdata`].
/// - `parent`, if any, is a reference on the parent device that the device holds until it is
///   released, as the kernel's `device_add()` takes one.
/// - `dead` is only set, with the device lock held, when the device leaves its bus; a dead device
///   is never bound again.
#[repr(C)]
pub struct RawDevice {
    refcount: AtomicUsize,
    container: Option<Container>,
    dead: AtomicBool,
    bus_type: BusType,
    name: OnceLock<CString>,
    parent: Option<ParentRef>,
    drvdata: AtomicPtr<c_void>,
    driver: Mutex<Option<BoundDriver>>,
    devres: Mutex<Vec<DevresNode>>,
    dma_mask: AtomicU64,
    coherent_dma_mask: AtomicU64,
    max_seg_size: AtomicU64,
    dma_space: Option<Arc<dyn DmaSpace>>,
    dma_usage: Mutex<DmaUsage>,
    lock: DeviceLock,
}

impl RawDevice {
    /// Creates the device part of a new device named `name`, with one reference, and no parent.
    ///
    /// `dma_space` is the address space the device's DMA goes through, if it can master the bus.
    /// The container the device is the first field of is then moved to the heap with
    /// [`RawDevice::into_heap`].
    pub fn new(bus_type: BusType, name: &str, dma_space: Option<Arc<dyn DmaSpace>>) -> Self {
        let device = Self::build(bus_type, None, dma_space);
        // A device name never contains NUL: it is a bus address such as `0000:00:04.0`.
        let _ = device.name.set(CString::new(name).unwrap_or_default());
        device
    }

    /// Creates the device part of a new device with one reference and no name yet, under
    /// `parent` if there is one (`device_initialize()`, with `dev->parent` set); its bus names it
    /// (`dev_set_name()`).
    ///
    /// The device holds a reference on `parent` until it is released, and has no DMA space of its
    /// own. The container is moved to the heap as for [`RawDevice::new`].
    pub fn initialize(bus_type: BusType, parent: Option<&RawDevice>) -> Self {
        let parent = parent.map(|parent| {
            parent.get();
            // INVARIANT: the reference taken above is owned by the `ParentRef`.
            ParentRef(NonNull::from(parent))
        });
        Self::build(bus_type, parent, None)
    }

    fn build(
        bus_type: BusType,
        parent: Option<ParentRef>,
        dma_space: Option<Arc<dyn DmaSpace>>,
    ) -> Self {
        Self {
            refcount: AtomicUsize::new(1),
            container: None,
            dead: AtomicBool::new(false),
            bus_type,
            name: OnceLock::new(),
            parent,
            drvdata: AtomicPtr::new(core::ptr::null_mut()),
            driver: Mutex::new(None),
            devres: Mutex::new(Vec::new()),
            // The kernel's default DMA mask for a PCI device is 32 bits.
            dma_mask: AtomicU64::new(u64::from(u32::MAX)),
            coherent_dma_mask: AtomicU64::new(u64::from(u32::MAX)),
            max_seg_size: AtomicU64::new(65536),
            dma_space,
            dma_usage: Mutex::new(DmaUsage::default()),
            lock: DeviceLock {
                held: Mutex::new(false),
                released: Condvar::new(),
            },
        }
    }

    /// Moves `container`, a new device whose first field is this `RawDevice`, to the heap, and
    /// returns a pointer to it that carries the device's first reference.
    ///
    /// The allocation is recorded in the device and freed through that record when the last
    /// reference is dropped: the pointers references are dropped through may be narrower than the
    /// container (the mirror's `&Device` covers the `struct device` alone), and a `Box` must be
    /// freed through a pointer to all of it.
    ///
    /// # Safety
    ///
    /// `C` must be `#[repr(C)]` with, as its first field, the new [`RawDevice`] (directly, or as
    /// the first field of its first field), on which no other reference was taken.
    pub unsafe fn into_heap<C>(container: C) -> NonNull<C> {
        let ptr = Box::into_raw(Box::new(container));
        let dev = ptr.cast::<RawDevice>();
        // SAFETY: `dev` is the container's first field (safety requirement), in an allocation
        // nobody else knows yet, so it may be written.
        unsafe {
            (*dev).container = Some(Container {
                ptr: NonNull::new_unchecked(dev),
                free: free_box::<C>,
            });
        }
        // INVARIANT: the container is recorded, with its type's drop.
        // SAFETY: `Box::into_raw` never returns null.
        unsafe { NonNull::new_unchecked(ptr) }
    }

    /// Returns the device's name (`dev_name()`), such as `0000:00:04.0`; empty until the device
    /// is named.
    pub fn name(&self) -> &CStr {
        self.name.get().map_or(c"", CString::as_c_str)
    }

    /// Names a device created without a name (`dev_set_name()`); `EBUSY` if it has one.
    pub(crate) fn set_name(&self, name: CString) -> Result<(), crate::errno::Errno> {
        self.name.set(name).map_err(|_| crate::errno::Errno::EBUSY)
    }

    /// Returns the parent device, if any (`dev->parent`).
    pub fn parent(&self) -> Option<&RawDevice> {
        // SAFETY: the device holds a reference on its parent (type invariant), so the parent is
        // alive while `self` is.
        self.parent
            .as_ref()
            .map(|parent| unsafe { parent.0.as_ref() })
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
            let parent = device.parent.as_ref().map(|parent| parent.0);
            // A device references were taken on was moved to the heap (type invariant).
            if let Some(container) = device.container {
                // SAFETY: this was the last reference, so nobody else can reach the device; the
                // record is the container's allocation and its drop (type invariant), used once.
                unsafe { (container.free)(container.ptr) };
            }
            if let Some(parent) = parent {
                // SAFETY: the released device owned this reference on its parent (type invariant),
                // which nothing else can drop now.
                unsafe { RawDevice::put(parent.as_ptr()) };
            }
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
        self.bound().map(|bound| bound.name)
    }

    /// Returns the bound driver, if any (`dev->driver`).
    pub fn driver(&self) -> Option<*const device_driver> {
        self.bound().map(|bound| bound.driver)
    }

    fn bound(&self) -> Option<BoundDriver> {
        *self.driver.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records the bound driver and its name, or `None` after unbinding.
    pub(crate) fn set_driver(&self, driver: Option<(*const device_driver, &'static CStr)>) {
        *self.driver.lock().unwrap_or_else(|e| e.into_inner()) =
            driver.map(|(driver, name)| BoundDriver { driver, name });
    }

    /// Whether the device left its bus (`dev->p->dead`): it is never bound again.
    pub fn is_dead(&self) -> bool {
        self.dead.load(Ordering::Acquire)
    }

    /// Marks the device as leaving its bus (`kill_device()`); returns `false` if it already was.
    ///
    /// The caller must hold the device lock, so that a probe, which checks the flag under it,
    /// either finishes before or never starts.
    pub(crate) fn kill(&self) -> bool {
        !self.dead.swap(true, Ordering::AcqRel)
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

    /// Returns the DMA memory the device's driver holds: coherent allocations and streaming
    /// mappings made for it and not yet freed.
    pub fn dma_usage(&self) -> DmaUsage {
        *self.dma_usage.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Records a change of the DMA memory the device's driver holds.
    pub(crate) fn account_dma(&self, change: impl FnOnce(&mut DmaUsage)) {
        change(&mut self.dma_usage.lock().unwrap_or_else(|e| e.into_inner()));
    }
}

/// A bus's device structure, which embeds a [`RawDevice`] as `struct pci_dev` embeds
/// `struct device`.
///
/// # Safety
///
/// `Self` must be `#[repr(C)]` with the [`RawDevice`] that [`BusDevice::dev`] returns as its first
/// field, so that a pointer to `Self` is a pointer to its device, and be moved to the heap with
/// [`RawDevice::into_heap`].
pub unsafe trait BusDevice {
    /// The embedded generic device.
    fn dev(&self) -> &RawDevice;
}

/// A counted reference to a bus device, as the host machinery holds devices.
///
/// # Invariants
///
/// `ptr` points to a live `T` on whose device this value owns one reference.
pub struct DeviceRef<T: BusDevice> {
    ptr: NonNull<T>,
}

// SAFETY: the device is `Send + Sync`, and references may be dropped from any thread.
unsafe impl<T: BusDevice + Send + Sync> Send for DeviceRef<T> {}
// SAFETY: as above.
unsafe impl<T: BusDevice + Send + Sync> Sync for DeviceRef<T> {}

impl<T: BusDevice> DeviceRef<T> {
    /// Adopts a reference the caller owns on the device at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `T` on whose device the caller owns a reference, which the
    /// returned value takes over.
    pub unsafe fn from_raw(ptr: NonNull<T>) -> Self {
        // INVARIANT: the caller's reference is now owned by the returned value.
        Self { ptr }
    }

    /// Takes a new reference on the device at `ptr` (`get_device()`).
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `T` on whose device the caller owns a reference while this runs.
    pub unsafe fn get_device(ptr: NonNull<T>) -> Self {
        // SAFETY: the device is live (safety requirement).
        unsafe { ptr.as_ref() }.dev().get();
        // INVARIANT: the reference taken above is owned by the returned value.
        Self { ptr }
    }

    /// Returns the raw pointer, as the mirror's bus devices wrap it.
    pub fn as_ptr(&self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Gives up the reference without dropping it; [`DeviceRef::from_raw`] takes it back.
    pub fn into_raw(self) -> NonNull<T> {
        let ptr = self.ptr;
        core::mem::forget(self);
        ptr
    }
}

impl<T: BusDevice> Clone for DeviceRef<T> {
    fn clone(&self) -> Self {
        self.dev().get();
        // INVARIANT: the reference taken above is owned by the new value.
        Self { ptr: self.ptr }
    }
}

impl<T: BusDevice> Drop for DeviceRef<T> {
    fn drop(&mut self) {
        // SAFETY: by the type invariant we own a reference, which this consumes; the device is the
        // first field of `T` (`BusDevice`'s safety requirement), so the pointer is also a pointer
        // to the `RawDevice`.
        unsafe { RawDevice::put(self.ptr.as_ptr().cast()) };
    }
}

impl<T: BusDevice> core::ops::Deref for DeviceRef<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: by the type invariant the device is alive while we hold a reference.
        unsafe { self.ptr.as_ref() }
    }
}
