//! The PCI core: the userspace `struct pci_dev` and the C functions the mirror's `kernel::pci`
//! calls.
//!
//! A [`RawPciDevice`] is created by a backend (VFIO, UIO or the simulated bus) for each function it
//! opens, around the [`PciFunction`] that reaches the hardware. It caches the identity from the
//! config header and keeps the state the kernel's PCI core keeps: which BAR regions are requested,
//! which BARs are mapped, which interrupt vectors are allocated, and which driver is bound.

use std::ffi::CStr;
use std::sync::{Arc, Mutex};

use super::binding::{self, Binding};
use super::device::{BusDevice, BusType, DeviceRef, RawDevice};
use super::error::HostError;
use super::function::{BarInfo, BarMapping, IrqKind, PciFunction};
use super::pci_config as cfg;
use super::pci_id::{parse_bdf, PciIds};
use crate::bindings;
use crate::errno::Errno;

/// Interrupt vectors allocated with [`RawPciDevice::alloc_irq_vectors`].
struct IrqVectors {
    kind: IrqKind,
    irqs: Vec<u32>,
}

/// The userspace `struct pci_dev`.
///
/// # Invariants
///
/// - `dev` is the first field (`#[repr(C)]`), so a pointer to a `RawPciDevice` is a pointer to its
///   `RawDevice` and back.
/// - A `RawPciDevice` is always moved to the heap with [`RawDevice::into_heap`]
///   ([`RawPciDevice::create`]).
#[repr(C)]
pub struct RawPciDevice {
    /// The generic device, as `struct pci_dev` embeds `struct device`.
    pub dev: RawDevice,
    function: Arc<dyn PciFunction>,
    ids: PciIds,
    revision: u8,
    bdf: u16,
    bars: [Option<BarInfo>; 6],
    requested: Mutex<[Option<&'static CStr>; 6]>,
    mappings: Mutex<Vec<BarMapping>>,
    irq: Mutex<Option<IrqVectors>>,
}

/// A counted reference to a [`RawPciDevice`], as the host machinery holds devices.
pub type PciDeviceRef = DeviceRef<RawPciDevice>;

// SAFETY: `RawPciDevice` is `#[repr(C)]` with its `RawDevice` first, and is moved to the heap with
// `RawDevice::into_heap` (type invariants).
unsafe impl BusDevice for RawPciDevice {
    fn dev(&self) -> &RawDevice {
        &self.dev
    }
}

/// Something that names a PCI device on a bus: the device itself, or a handle to one that may
/// have been removed since (a simulated device that was unplugged).
pub trait PciDeviceHandle {
    /// Returns the device, or `None` if it is no longer on its bus.
    fn pci_device(&self) -> Option<PciDeviceRef>;
}

impl PciDeviceHandle for PciDeviceRef {
    fn pci_device(&self) -> Option<PciDeviceRef> {
        Some(self.clone())
    }
}

impl RawPciDevice {
    /// Creates the device for a function a backend opened, named by its address `name`
    /// (`DDDD:BB:DD.F`), reading its identity from config space.
    pub fn create(name: &str, function: Arc<dyn PciFunction>) -> Result<PciDeviceRef, HostError> {
        let mut header = [0u8; 64];
        function.config_read(0, &mut header)?;
        let word = |offset: u16| {
            u16::from_le_bytes([header[offset as usize], header[offset as usize + 1]])
        };
        let bdf =
            parse_bdf(name).map_or(0, |(_, bus, devfn)| u16::from(bus) << 8 | u16::from(devfn));
        let bars = core::array::from_fn(|i| function.bar(i as u32));
        let dma_space = Some(function.dma_space());
        let device = RawPciDevice {
            dev: RawDevice::new(BusType::Pci, name, dma_space),
            ids: PciIds {
                vendor: word(cfg::VENDOR_ID),
                device: word(cfg::DEVICE_ID),
                subsystem_vendor: word(cfg::SUBSYSTEM_VENDOR_ID),
                subsystem_device: word(cfg::SUBSYSTEM_ID),
                class: u32::from_le_bytes([
                    header[cfg::CLASS_PROG as usize],
                    header[cfg::CLASS_PROG as usize + 1],
                    header[cfg::CLASS_PROG as usize + 2],
                    0,
                ]),
            },
            revision: header[cfg::REVISION_ID as usize],
            bdf,
            bars,
            function,
            requested: Mutex::new([None; 6]),
            mappings: Mutex::new(Vec::new()),
            irq: Mutex::new(None),
        };
        // SAFETY: `RawPciDevice` is `#[repr(C)]` with its new device first.
        let ptr = unsafe { RawDevice::into_heap(device) };
        // INVARIANT: moved to the heap with `into_heap`.
        // SAFETY: the new device's single reference is handed to the returned value.
        Ok(unsafe { PciDeviceRef::from_raw(ptr) })
    }

    /// Returns the function's backend.
    pub fn function(&self) -> &Arc<dyn PciFunction> {
        &self.function
    }

    /// Returns the device's address, such as `0000:00:04.0`.
    pub fn name(&self) -> &CStr {
        self.dev.name()
    }

    /// Vendor ID.
    pub fn vendor(&self) -> u16 {
        self.ids.vendor
    }

    /// Device ID.
    pub fn device(&self) -> u16 {
        self.ids.device
    }

    /// Subsystem vendor ID.
    pub fn subsystem_vendor(&self) -> u16 {
        self.ids.subsystem_vendor
    }

    /// Subsystem device ID.
    pub fn subsystem_device(&self) -> u16 {
        self.ids.subsystem_device
    }

    /// Revision ID.
    pub fn revision(&self) -> u8 {
        self.revision
    }

    /// The 24-bit class code.
    pub fn class(&self) -> u32 {
        self.ids.class
    }

    /// Bus number and devfn, as `pci_dev_id()` returns them.
    pub fn dev_id(&self) -> u16 {
        self.bdf
    }

    /// Configuration space size: 256 or 4096.
    pub fn cfg_size(&self) -> usize {
        self.function.config_size()
    }

    /// The start address of resource `bar` (`pci_resource_start()`); 0 for resources drydock does
    /// not expose (BARs not implemented, the ROM, SR-IOV and bridge windows).
    pub fn resource_start(&self, bar: u32) -> u64 {
        self.bar_info(bar).map_or(0, |b| b.start)
    }

    /// The length of resource `bar` (`pci_resource_len()`), 0 if absent.
    pub fn resource_len(&self, bar: u32) -> u64 {
        self.bar_info(bar).map_or(0, |b| b.size)
    }

    fn bar_info(&self, bar: u32) -> Option<BarInfo> {
        self.bars.get(bar as usize).copied().flatten()
    }

    /// Reads a config register of `N` bytes (1, 2 or 4) at `offset`; all ones on failure, as a
    /// failed config read returns on real hardware (`PCI_ERROR_RESPONSE`).
    pub fn config_read<const N: usize>(&self, offset: u16) -> [u8; N] {
        let mut value = [0u8; N];
        match self.function.config_read(offset, &mut value) {
            Ok(()) => value,
            Err(err) => {
                log::error!(target: "drydock", "{}: config read at {offset:#x}: {err}", self.dev.name().to_string_lossy());
                [0xff; N]
            }
        }
    }

    /// Writes a config register of `N` bytes at `offset`, logging failures.
    pub fn config_write<const N: usize>(
        &self,
        offset: u16,
        value: [u8; N],
    ) -> Result<(), HostError> {
        self.function.config_write(offset, &value)
    }

    /// Sets bits in the command register.
    fn command_set(&self, bits: u16) -> Result<(), HostError> {
        let command = u16::from_le_bytes(self.config_read::<2>(cfg::COMMAND));
        if command & bits != bits {
            self.config_write(cfg::COMMAND, (command | bits).to_le_bytes())?;
        }
        Ok(())
    }

    /// Clears bits in the command register.
    fn command_clear(&self, bits: u16) -> Result<(), HostError> {
        let command = u16::from_le_bytes(self.config_read::<2>(cfg::COMMAND));
        if command & bits != 0 {
            self.config_write(cfg::COMMAND, (command & !bits).to_le_bytes())?;
        }
        Ok(())
    }

    /// Enables memory space decoding (`pci_enable_device_mem()`).
    pub fn enable_device_mem(&self) -> Result<(), Errno> {
        Ok(self.command_set(cfg::COMMAND_MEMORY)?)
    }

    /// Enables bus mastering (`pci_set_master()`): without it the device's DMA moves nothing and
    /// its MSIs are never sent. VFIO does not set it on open, so a driver must.
    pub fn set_master(&self) {
        if let Err(err) = self.command_set(cfg::COMMAND_MASTER) {
            log::error!(target: "drydock", "{}: enabling bus mastering: {err}", self.dev.name().to_string_lossy());
        }
    }

    /// Disables bus mastering (`pci_clear_master()`).
    pub fn clear_master(&self) {
        if let Err(err) = self.command_clear(cfg::COMMAND_MASTER) {
            log::error!(target: "drydock", "{}: disabling bus mastering: {err}", self.dev.name().to_string_lossy());
        }
    }

    /// Claims BAR `bar` for the driver under `name` (`pci_request_region()`); `EBUSY` if already
    /// claimed.
    pub fn request_region(&self, bar: u32, name: &'static CStr) -> Result<(), Errno> {
        if bar >= bindings::PCI_STD_NUM_BARS || self.bar_info(bar).is_none() {
            return Err(Errno::EINVAL);
        }
        let mut requested = self.requested.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(owner) = requested[bar as usize] {
            log::warn!(
                target: "drydock",
                "{}: BAR {bar} is already claimed by {}",
                self.dev.name().to_string_lossy(),
                owner.to_string_lossy()
            );
            return Err(Errno::EBUSY);
        }
        requested[bar as usize] = Some(name);
        Ok(())
    }

    /// Releases a BAR claimed with [`RawPciDevice::request_region`] (`pci_release_region()`).
    pub fn release_region(&self, bar: u32) {
        if let Some(slot) = self
            .requested
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_mut(bar as usize)
        {
            *slot = None;
        }
    }

    /// Maps BAR `bar` and returns its address and accessible length (`pci_iomap()`).
    pub fn iomap(&self, bar: u32) -> Result<(usize, usize), Errno> {
        let mapping = self.function.map_bar(bar)?;
        let result = (mapping.addr, mapping.len);
        self.mappings
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(mapping);
        Ok(result)
    }

    /// Unmaps a BAR mapped with [`RawPciDevice::iomap`] at `addr` (`pci_iounmap()`).
    pub fn iounmap(&self, addr: usize) {
        let mut mappings = self.mappings.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(index) = mappings.iter().position(|m| m.addr == addr) {
            drop(mappings.swap_remove(index));
        }
    }

    /// Allocates between `min` and `max` interrupt vectors of the types in `types` (`PCI_IRQ_*`
    /// flags), preferring MSI-X, then MSI, then INTx (`pci_alloc_irq_vectors()`); returns how many.
    ///
    /// Fails with `EINVAL` if vectors are already allocated or `min` is 0 or above `max`, and with
    /// `ENOSPC` if no allowed type offers `min` vectors.
    pub fn alloc_irq_vectors(&self, min: u32, max: u32, types: u32) -> Result<u32, Errno> {
        let mut irq = self.irq.lock().unwrap_or_else(|e| e.into_inner());
        if irq.is_some() || min == 0 || min > max {
            return Err(Errno::EINVAL);
        }
        let order = [
            (bindings::PCI_IRQ_MSIX, IrqKind::MsiX),
            (bindings::PCI_IRQ_MSI, IrqKind::Msi),
            (bindings::PCI_IRQ_INTX, IrqKind::Intx),
        ];
        let name = self.dev.name().to_string_lossy().into_owned();
        for (flag, kind) in order {
            if types & flag == 0 {
                continue;
            }
            let available = self.function.irq_count(kind);
            let count = match kind {
                // MSI vectors come in powers of two.
                IrqKind::Msi => prev_power_of_two(available.min(max)),
                _ => available.min(max),
            };
            if count == 0 || count < min {
                continue;
            }
            let sources = self.function.enable_irqs(kind, count)?;
            let mut irqs = Vec::with_capacity(sources.len());
            for (index, source) in sources.into_iter().enumerate() {
                match super::irq::register_line(source, format!("{name} {kind:?} {index}")) {
                    Ok(irq) => irqs.push(irq),
                    Err(err) => {
                        irqs.into_iter().for_each(super::irq::unregister_line);
                        let _ = self.function.disable_irqs(kind);
                        return Err(err.into());
                    }
                }
            }
            let count = irqs.len() as u32;
            *irq = Some(IrqVectors { kind, irqs });
            return Ok(count);
        }
        Err(Errno::ENOSPC)
    }

    /// Returns the IRQ number of vector `index` (`pci_irq_vector()`).
    pub fn irq_vector(&self, index: u32) -> Result<u32, Errno> {
        let irq = self.irq.lock().unwrap_or_else(|e| e.into_inner());
        irq.as_ref()
            .and_then(|v| v.irqs.get(index as usize).copied())
            .ok_or(Errno::EINVAL)
    }

    /// Returns the kind of the allocated vectors and their IRQ numbers, in vector order; `None`
    /// if none are allocated.
    pub fn irq_lines(&self) -> Option<(IrqKind, Vec<u32>)> {
        let irq = self.irq.lock().unwrap_or_else(|e| e.into_inner());
        irq.as_ref()
            .map(|vectors| (vectors.kind, vectors.irqs.clone()))
    }

    /// Returns the type of the allocated vectors as a `PCI_IRQ_*` flag (`pci_irq_type()`), or 0.
    pub fn irq_type(&self) -> u32 {
        match self.irq.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            Some(IrqVectors {
                kind: IrqKind::MsiX,
                ..
            }) => bindings::PCI_IRQ_MSIX,
            Some(IrqVectors {
                kind: IrqKind::Msi, ..
            }) => bindings::PCI_IRQ_MSI,
            Some(IrqVectors {
                kind: IrqKind::Intx,
                ..
            }) => bindings::PCI_IRQ_INTX,
            None => 0,
        }
    }

    /// Frees the vectors allocated with [`RawPciDevice::alloc_irq_vectors`]
    /// (`pci_free_irq_vectors()`).
    pub fn free_irq_vectors(&self) {
        let vectors = self.irq.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(vectors) = vectors {
            vectors
                .irqs
                .into_iter()
                .for_each(super::irq::unregister_line);
            if let Err(err) = self.function.disable_irqs(vectors.kind) {
                log::error!(target: "drydock", "{}: disabling interrupts: {err}", self.dev.name().to_string_lossy());
            }
        }
    }

    /// Returns the driver bound to the device, if any.
    pub fn bound_driver(&self) -> Option<*const bindings::pci_driver> {
        self.dev.driver().map(binding::bus_driver::<Self>)
    }

    /// Returns the IDs the kernel matches drivers by.
    pub fn ids(&self) -> &PciIds {
        &self.ids
    }
}

impl Binding for RawPciDevice {
    type Driver = bindings::pci_driver;
    type Id = *const bindings::pci_device_id;
    const DRIVER_OFFSET: usize = core::mem::offset_of!(bindings::pci_driver, driver);

    unsafe fn match_id(&self, driver: &bindings::pci_driver) -> Option<Self::Id> {
        // A driver without a probe binds nothing.
        driver.probe?;
        // SAFETY: a registered driver's table is zero-terminated (built by `IdArray`).
        unsafe { self.ids.match_table(driver.id_table) }
    }

    unsafe fn probe(&self, driver: &bindings::pci_driver, id: Self::Id) -> core::ffi::c_int {
        // `match_id` matched the driver, so it has a probe.
        driver.probe.map_or(0, |probe| {
            // SAFETY: the driver's callback, on a live device being bound to it, with its lock
            // held, and the entry of its table that matched.
            unsafe { probe(core::ptr::from_ref(self).cast_mut(), id) }
        })
    }

    unsafe fn remove(&self, driver: &bindings::pci_driver) {
        if let Some(remove) = driver.remove {
            // SAFETY: the driver's callback, on a device it is bound to, with its lock held.
            unsafe { remove(core::ptr::from_ref(self).cast_mut()) };
        }
    }

    fn quiesce(&self) {
        self.clear_master();
    }

    fn cleanup(&self, unbinding: bool) {
        if unbinding && self.irq_type() != 0 {
            log::warn!(
                target: "drydock",
                "{}: interrupt vectors still allocated at unbind; freeing them",
                self.dev.name().to_string_lossy()
            );
        }
        self.free_irq_vectors();
    }
}

/// The largest power of two not above `n` (0 for 0).
fn prev_power_of_two(n: u32) -> u32 {
    if n == 0 {
        0
    } else {
        1 << (31 - n.leading_zeros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn msi_counts_are_powers_of_two() {
        assert_eq!(prev_power_of_two(0), 0);
        assert_eq!(prev_power_of_two(1), 1);
        assert_eq!(prev_power_of_two(7), 4);
        assert_eq!(prev_power_of_two(32), 32);
    }
}
