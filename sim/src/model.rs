//! Device models: how a simulated device behaves.
//!
//! A [`DeviceModel`] describes a PCI function (identity, BARs, interrupts) and answers its register
//! accesses. It reaches the outside world only through the [`SimContext`] it is given: DMA by bus
//! address through the simulated IOMMU (gated by Bus Master Enable, as on hardware), MSI messages,
//! and the INTx pin level.

use std::sync::{Arc, Mutex};

use super::config::Identity;
use super::function::SimState;
use drydock_host::function::{BarInfo, IrqKind};

/// The behaviour of a simulated PCI function.
pub trait DeviceModel: std::any::Any + Send + Sync {
    /// The function's identity.
    fn identity(&self) -> Identity;

    /// The function's BARs (index 0 to 5; the slot after a 64-bit BAR stays `None`).
    fn bars(&self) -> [Option<BarInfo>; 6];

    /// How many vectors of `kind` the function supports.
    fn irq_count(&self, kind: IrqKind) -> u32;

    /// Whether the function is a PCI Express one, whose configuration space is the extended 4096
    /// bytes rather than conventional PCI's 256.
    fn pci_express(&self) -> bool {
        false
    }

    /// Handles a read of `width` bytes (1, 2, 4 or 8) at `offset` of BAR `bar`.
    fn read(&self, ctx: &SimContext, bar: u32, offset: usize, width: usize) -> u64;

    /// Handles a write of the low `width` bytes of `value` at `offset` of BAR `bar`.
    fn write(&self, ctx: &SimContext, bar: u32, offset: usize, width: usize, value: u64);
}

/// A model's access to its bus: DMA and interrupts.
///
/// Cloning is cheap; a model may keep a clone to complete work later from another thread.
#[derive(Clone)]
pub struct SimContext {
    pub(super) state: Arc<SimState>,
}

impl SimContext {
    /// Whether the driver has enabled bus mastering. Without it, DMA moves nothing and MSIs are
    /// not sent, as on hardware.
    pub fn bus_master(&self) -> bool {
        self.state.bus_master()
    }

    /// Reads memory at bus address `addr` into `buf`, as the device's DMA would.
    ///
    /// Without bus mastering, `buf` is filled with zeros. Untranslated addresses read as zeros and
    /// record a fault. Returns `false` if anything was not read from memory.
    pub fn dma_read(&self, addr: u64, buf: &mut [u8]) -> bool {
        if !self.bus_master() {
            buf.fill(0);
            return false;
        }
        self.state.iommu.read(addr, buf)
    }

    /// Writes `data` to memory at bus address `addr`, as the device's DMA would.
    ///
    /// Without bus mastering nothing is written; untranslated addresses record a fault. Returns
    /// `false` if anything was not written.
    pub fn dma_write(&self, addr: u64, data: &[u8]) -> bool {
        if !self.bus_master() {
            return false;
        }
        self.state.iommu.write(addr, data)
    }

    /// Whether every byte of the `len` bytes at bus address `addr` is DMA memory the driver
    /// allocated and has not freed. Memory freed back to the pool may stay mapped (DMA to it then
    /// succeeds), so a model checks with this that the memory it was given is still the
    /// driver's.
    pub fn dma_allocated(&self, addr: u64, len: usize) -> bool {
        self.state.dma.allocated(addr, len)
    }

    /// Whether MSI (or MSI-X) is enabled, so the model signals with messages rather than INTx.
    pub fn msi_enabled(&self) -> bool {
        self.state.msi_enabled()
    }

    /// Sends MSI (or MSI-X) message `vector`. Does nothing if messages are not enabled or bus
    /// mastering is off.
    pub fn raise_msi(&self, vector: u32) {
        self.state.raise_msi(vector);
    }

    /// Sets the level of the INTx pin: asserted while the device has an interrupt pending.
    pub fn set_intx(&self, asserted: bool) {
        self.state.set_intx(asserted);
    }

    /// Records that the model hit a condition on which the real device model aborts or misbehaves
    /// (for example edu's out-of-range DMA, which aborts QEMU 7.2); tests assert it never happens.
    pub fn report_fatal(&self, message: String) {
        log::error!(target: "drydock", "simulated device: {message}");
        self.state
            .fatal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(message);
    }
}

/// Errors a model reports through [`SimContext::report_fatal`], kept by the function.
pub(super) type FatalLog = Mutex<Vec<String>>;
