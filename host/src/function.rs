//! The seam between the PCI core and the ways a process can reach a device.
//!
//! A [`PciFunction`] is one PCI function as a backend exposes it: VFIO (`/dev/vfio`, behind the
//! IOMMU), UIO (`/dev/uioN` and sysfs, without one), or the simulated bus. The PCI core in
//! [`super::pci`] builds everything the kernel API offers (config space, BARs, interrupt vectors,
//! DMA) on these few operations, so the mirror works the same over every backend.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::sync::Arc;

use super::dma::DmaSpace;
use super::error::HostError;

/// The kind of a BAR, from its low bits in config space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BarKind {
    /// Memory space, 32-bit decoder.
    Mem32,
    /// Memory space, 64-bit decoder (the BAR takes two slots).
    Mem64,
    /// I/O port space.
    Io,
}

/// What a backend knows about one BAR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarInfo {
    /// The BAR's size in bytes.
    pub size: u64,
    /// The bus address it decodes, as the kernel's `pci_resource_start()` reports it (0 when the
    /// backend cannot tell, such as on the simulated bus).
    pub start: u64,
    /// The BAR's kind.
    pub kind: BarKind,
    /// Whether the BAR is prefetchable.
    pub prefetchable: bool,
}

/// A BAR made accessible to the process; unmapped when dropped.
pub struct BarMapping {
    /// The address of the BAR's first byte: a mapping in this process, or a trapped region
    /// ([`super::mmio`]).
    pub addr: usize,
    /// The number of accessible bytes.
    pub len: usize,
    /// Keeps the mapping alive; dropping it unmaps.
    pub owner: Box<dyn Send + Sync>,
}

/// An interrupt type, as the PCI core allocates vectors of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IrqKind {
    /// The legacy pin (INTx): level triggered, one vector.
    Intx,
    /// Message Signalled Interrupts.
    Msi,
    /// MSI-X.
    MsiX,
}

impl IrqKind {
    /// The name the PCI specification gives it: `INTx`, `MSI`, `MSI-X`.
    pub fn name(self) -> &'static str {
        match self {
            IrqKind::Intx => "INTx",
            IrqKind::Msi => "MSI",
            IrqKind::MsiX => "MSI-X",
        }
    }
}

/// How an interrupt vector reaches the process.
pub struct IrqSource {
    /// Becomes readable when the vector fires.
    pub fd: OwnedFd,
    /// What the file descriptor is, which decides how it is read and how a waiting dispatcher is
    /// woken up to stop.
    pub kind: IrqSourceKind,
    /// How the backend turns the vector on and off and re-enables it after it fired.
    pub chip: Box<dyn IrqChip>,
}

/// What the interrupt core asks of the backend behind one vector: the userspace counterpart of
/// the few `struct irq_chip` operations a PCI vector needs in the kernel.
///
/// A vector is *connected* when the backend enables it ([`PciFunction::enable_irqs`]): its
/// interrupts signal the source's file descriptor from then on. The interrupt core disconnects it
/// when the last handler of its line is freed and connects it again when a handler is requested,
/// as the kernel shuts a vector down in `free_irq()` and starts it up in `request_irq()`.
pub trait IrqChip: Send + Sync {
    /// Re-enables a level-triggered vector after its handlers ran (`irq_unmask`): the backend
    /// masks INTx when it fires, as the kernel masks a level interrupt until it is handled. An
    /// edge-triggered vector (MSI, MSI-X) needs nothing, which is what the default does.
    fn unmask(&self) -> Result<(), HostError> {
        Ok(())
    }

    /// Connects the vector's interrupts to `fd` (`irq_startup`), or disconnects them
    /// (`irq_shutdown`) when `fd` is `None`: a disconnected vector no longer reaches the process.
    fn connect(&self, fd: Option<BorrowedFd<'_>>) -> Result<(), HostError>;
}

/// The kind of file descriptor an [`IrqSource`] signals through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IrqSourceKind {
    /// An eventfd: read 8 bytes to consume; writable by the process too.
    EventFd,
    /// A UIO device node: read 4 bytes (the interrupt count) to consume; not writable.
    Uio,
}

/// One PCI function, as a backend reaches it.
///
/// Implementations are the VFIO, UIO and simulated backends. All methods may be called from any
/// thread; the PCI core serialises what the kernel serialises.
pub trait PciFunction: Send + Sync {
    /// How the process reaches the function, as its state shows it (`drydock/devices`,
    /// [`crate::state`]): `vfio` (through its group), `vfio-cdev` (through its device cdev, with
    /// iommufd), `vfio-noiommu` (VFIO without an IOMMU: no DMA isolation), `uio` or `simulated`.
    fn backend(&self) -> &'static str;

    /// Reads `data.len()` bytes of configuration space at `offset`.
    fn config_read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError>;

    /// Writes `data` to configuration space at `offset`.
    fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), HostError>;

    /// Returns the size of configuration space: 256, or 4096 for PCI Express functions.
    fn config_size(&self) -> usize;

    /// Describes BAR `index` (0 to 5), or `None` if it is not implemented.
    fn bar(&self, index: u32) -> Option<BarInfo>;

    /// Makes BAR `index` accessible to the process.
    fn map_bar(&self, index: u32) -> Result<BarMapping, HostError>;

    /// Returns how many vectors of `kind` the function supports (0 if none).
    fn irq_count(&self, kind: IrqKind) -> u32;

    /// Enables `count` vectors of `kind` and returns how each reaches the process.
    ///
    /// Only one kind is enabled at a time; the PCI core disables one before enabling another.
    fn enable_irqs(&self, kind: IrqKind, count: u32) -> Result<Vec<IrqSource>, HostError>;

    /// Disables the vectors of `kind` enabled by [`PciFunction::enable_irqs`].
    fn disable_irqs(&self, kind: IrqKind) -> Result<(), HostError>;

    /// Returns the DMA address space the function's bus mastering goes through.
    fn dma_space(&self) -> Arc<dyn DmaSpace>;

    /// Resets the function, if it supports a reset.
    fn reset(&self) -> Result<(), HostError>;

    /// Becomes readable when the kernel asks for the function back, if the backend can tell: the
    /// device is being removed (`echo 1 > .../remove`, a hot unplug) or unbound from the kernel
    /// driver the backend needs. VFIO signals its device request interrupt
    /// (`VFIO_PCI_REQ_IRQ_INDEX`) to this eventfd, and the kernel waits until the process closes
    /// the device. Whoever waits on it reads it (8 bytes) and releases the function: unbinds its
    /// driver, then closes it. `None`, the default, for a backend that cannot tell (UIO).
    fn release_requests(&self) -> Option<BorrowedFd<'_>> {
        None
    }
}
