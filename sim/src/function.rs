//! A simulated PCI function: the [`PciFunction`] a [`DeviceModel`] is reached through.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};

use super::config::ConfigSpace;
use super::iommu::SimIommu;
use super::model::{DeviceModel, FatalLog, SimContext};
use drydock_host::dma::iova::{IovaAllocator, MSI_WINDOW};
use drydock_host::dma::pool::DmaPool;
use drydock_host::dma::DmaSpace;
use drydock_host::error::HostError;
use drydock_host::function::{
    BarInfo, BarKind, BarMapping, IrqChip, IrqKind, IrqSource, IrqSourceKind, PciFunction,
};
use drydock_host::irq::{eventfd, signal_eventfd};
use drydock_host::mmio::{TrappedIo, TrappedRegion};
use drydock_host::pci_config as cfg;

/// The IOMMU aperture of simulated devices: 39 address bits, as QEMU's emulated VT-d offers.
const APERTURE_BITS: u32 = 39;

/// Interrupt delivery state.
#[derive(Default)]
struct IrqState {
    kind: Option<IrqKind>,
    /// The process's end of each enabled vector (duplicates of the lines' eventfds); `None` while
    /// the interrupt core has it disconnected.
    vectors: Vec<Option<OwnedFd>>,
    /// INTx pin level, as the model sets it.
    intx_asserted: bool,
    /// INTx masked after firing, until the dispatcher unmasks it (as VFIO masks INTx).
    intx_masked: bool,
}

/// Everything a simulated function is made of.
pub(crate) struct SimState {
    pub(super) model: Arc<dyn DeviceModel>,
    config: Mutex<ConfigSpace>,
    pub(super) iommu: Arc<SimIommu>,
    /// The DMA memory pool drivers allocate from, mapping through `iommu`.
    pub(super) dma: Arc<DmaPool<Arc<SimIommu>>>,
    irq: Mutex<IrqState>,
    pub(super) fatal: FatalLog,
    bars: [Option<BarInfo>; 6],
    /// Set by [`SimFunction::surprise_remove`]: nothing answers any more.
    removed: AtomicBool,
}

impl SimState {
    fn removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }

    fn command(&self) -> u16 {
        self.config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .command()
    }

    /// Whether the function masters the bus: the driver enabled it, and the function is still
    /// there.
    pub(super) fn bus_master(&self) -> bool {
        !self.removed() && self.command() & cfg::COMMAND_MASTER != 0
    }

    fn irq(&self) -> std::sync::MutexGuard<'_, IrqState> {
        self.irq.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn msi_enabled(&self) -> bool {
        matches!(self.irq().kind, Some(IrqKind::Msi | IrqKind::MsiX))
    }

    pub(super) fn raise_msi(&self, vector: u32) {
        if !self.bus_master() {
            return;
        }
        let irq = self.irq();
        if !matches!(irq.kind, Some(IrqKind::Msi | IrqKind::MsiX)) {
            return;
        }
        if let Some(fd) = irq.vectors.get(vector as usize).and_then(Option::as_ref) {
            if let Err(err) = signal_eventfd(fd.as_fd()) {
                log::error!(target: "drydock", "simulated MSI: {err}");
            }
        }
    }

    pub(super) fn set_intx(&self, asserted: bool) {
        let disabled = self.intx_disabled();
        let mut irq = self.irq();
        irq.intx_asserted = asserted;
        Self::deliver_intx(&mut irq, disabled);
    }

    /// Whether the function may not assert INTx: the driver disabled it, or the function is gone.
    fn intx_disabled(&self) -> bool {
        self.removed() || self.command() & cfg::COMMAND_INTX_DISABLE != 0
    }

    /// Signals INTx if the pin is asserted, the vector enabled and the line unmasked.
    fn deliver_intx(irq: &mut IrqState, disabled: bool) {
        if irq.intx_asserted && !irq.intx_masked && !disabled && irq.kind == Some(IrqKind::Intx) {
            if let Some(fd) = irq.vectors.first().and_then(Option::as_ref) {
                if let Err(err) = signal_eventfd(fd.as_fd()) {
                    log::error!(target: "drydock", "simulated INTx: {err}");
                }
                irq.intx_masked = true;
            }
        }
    }

    fn unmask_intx(&self) {
        let disabled = self.intx_disabled();
        let mut irq = self.irq();
        irq.intx_masked = false;
        Self::deliver_intx(&mut irq, disabled);
    }
}

/// Duplicates an eventfd, for the model's end of a vector.
fn duplicate(fd: BorrowedFd<'_>) -> Result<OwnedFd, HostError> {
    fd.try_clone_to_owned()
        .map_err(|e| HostError::os("duplicating an eventfd", e))
}

/// One enabled vector of a simulated function, as the interrupt core controls it.
struct SimVector {
    state: Weak<SimState>,
    kind: IrqKind,
    index: u32,
}

impl IrqChip for SimVector {
    fn unmask(&self) -> Result<(), HostError> {
        if let (IrqKind::Intx, Some(state)) = (self.kind, self.state.upgrade()) {
            state.unmask_intx();
        }
        Ok(())
    }

    fn connect(&self, fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
        let Some(state) = self.state.upgrade() else {
            return Ok(());
        };
        let fd = fd.map(duplicate).transpose()?;
        let mut irq = state.irq();
        if irq.kind == Some(self.kind) {
            if let Some(slot) = irq.vectors.get_mut(self.index as usize) {
                *slot = fd;
            }
        }
        Ok(())
    }
}

/// Routes a trapped BAR's accesses to the model, honouring the decode enables.
struct BarHandler {
    state: Arc<SimState>,
    bar: u32,
    kind: BarKind,
}

impl BarHandler {
    fn decoding(&self) -> bool {
        let enable = match self.kind {
            BarKind::Io => cfg::COMMAND_IO,
            BarKind::Mem32 | BarKind::Mem64 => cfg::COMMAND_MEMORY,
        };
        !self.state.removed() && self.state.command() & enable != 0
    }
}

impl TrappedIo for BarHandler {
    fn read(&self, offset: usize, width: usize) -> u64 {
        if !self.decoding() {
            // Nothing answers: the bus returns all ones.
            return u64::MAX >> (64 - 8 * width);
        }
        let ctx = SimContext {
            state: self.state.clone(),
        };
        self.state.model.read(&ctx, self.bar, offset, width)
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        if self.decoding() {
            let ctx = SimContext {
                state: self.state.clone(),
            };
            self.state.model.write(&ctx, self.bar, offset, width, value);
        }
    }
}

/// A way a function stops answering its driver.
pub type Removal = fn(&SimFunction);

/// The ways a function stops answering its driver, by name, for tests that try each: pulled out
/// of the bus ([`SimFunction::surprise_remove`]), or its memory decoding switched off behind the
/// driver's back ([`SimFunction::switch_off_memory_decoding`]). Either way its registers read
/// all ones.
pub const REMOVALS: [(&str, Removal); 2] = [
    ("surprise removal", SimFunction::surprise_remove),
    (
        "memory decoding off",
        SimFunction::switch_off_memory_decoding,
    ),
];

/// A simulated PCI function.
pub struct SimFunction {
    state: Arc<SimState>,
    /// The eventfd [`SimFunction::request_release`] signals, made when first asked for (`None`
    /// if that failed).
    release_requests: OnceLock<Option<OwnedFd>>,
}

impl SimFunction {
    /// Creates the function for `model`, with its own simulated IOMMU domain.
    pub fn new(model: Arc<dyn DeviceModel>) -> Self {
        let bars = model.bars();
        let msi = model.irq_count(IrqKind::Msi);
        let config = ConfigSpace::new(model.identity(), bars, msi, model.pci_express());
        let iommu = Arc::new(SimIommu::default());
        let aperture = IovaAllocator::new(&[(0, (1 << APERTURE_BITS) - 1)], &[MSI_WINDOW]);
        Self {
            state: Arc::new(SimState {
                model,
                config: Mutex::new(config),
                dma: Arc::new(DmaPool::new(iommu.clone(), aperture)),
                iommu,
                irq: Mutex::new(IrqState::default()),
                fatal: Mutex::new(Vec::new()),
                bars,
                removed: AtomicBool::new(false),
            }),
            release_requests: OnceLock::new(),
        }
    }

    /// Asks for the function back, as the kernel does when a device bound to vfio-pci is removed
    /// or unbound (VFIO's device request interrupt): signals
    /// [`PciFunction::release_requests`]. The function goes on working; whoever drives it is
    /// expected to release it.
    pub fn request_release(&self) {
        if let Some(fd) = self.release_requests() {
            if let Err(err) = signal_eventfd(fd) {
                log::error!(target: "drydock", "simulated device request: {err}");
            }
        }
    }

    /// The model's context, for tests that drive the model directly.
    pub fn context(&self) -> SimContext {
        SimContext {
            state: self.state.clone(),
        }
    }

    /// The simulated IOMMU of this function.
    pub fn iommu(&self) -> &Arc<SimIommu> {
        &self.state.iommu
    }

    /// Fatal conditions the model reported.
    pub fn fatal_errors(&self) -> Vec<String> {
        self.state
            .fatal
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current command register.
    pub fn command(&self) -> u16 {
        self.state.command()
    }

    /// Switches memory space decoding off behind the driver's back, as a reset or another agent
    /// writing the command register does: the memory BARs read all ones and ignore writes, as a
    /// removed function's do, while the function stays on the bus, answers configuration
    /// requests and, if the driver enabled it, still masters the bus (DMA, MSI).
    pub fn switch_off_memory_decoding(&self) {
        let command = self.command() & !cfg::COMMAND_MEMORY;
        self.state
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(cfg::COMMAND, &command.to_le_bytes());
    }

    /// Takes the function off the bus without telling its driver, as a device that is pulled out
    /// or whose link goes down: from now on its configuration space and BARs read all ones and
    /// ignore writes, and it neither masters the bus (no DMA, no MSI) nor asserts INTx. Its
    /// model keeps its state but never reaches the process again. The host's device stays on the
    /// bus until [`SimDevice::unplug`](crate::SimDevice::unplug) removes it, as the kernel's
    /// does until its hotplug driver notices.
    pub fn surprise_remove(&self) {
        self.state.removed.store(true, Ordering::Release);
        self.state.irq().intx_asserted = false;
    }
}

impl PciFunction for SimFunction {
    fn backend(&self) -> &'static str {
        "simulated"
    }

    fn config_read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError> {
        if self.state.removed() {
            // Nothing answers: the read completes with all ones.
            data.fill(0xff);
            return Ok(());
        }
        self.state
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .read(offset, data);
        Ok(())
    }

    fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), HostError> {
        if self.state.removed() {
            return Ok(());
        }
        self.state
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write(offset, data);
        // Clearing INTx Disable may deliver a pending INTx.
        let disabled = self.state.intx_disabled();
        SimState::deliver_intx(&mut self.state.irq(), disabled);
        Ok(())
    }

    fn config_size(&self) -> usize {
        self.state
            .config
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }

    fn bar(&self, index: u32) -> Option<BarInfo> {
        self.state.bars.get(index as usize).copied().flatten()
    }

    fn map_bar(&self, index: u32) -> Result<BarMapping, HostError> {
        let info = self.bar(index).ok_or_else(|| HostError::Unsupported {
            device: "simulated device".into(),
            what: format!("BAR {index}"),
        })?;
        let handler = Arc::new(BarHandler {
            state: self.state.clone(),
            bar: index,
            kind: info.kind,
        });
        let len = info.size as usize;
        let region = TrappedRegion::new(handler, len).map_err(|e| {
            HostError::os(
                "trapping a simulated BAR",
                std::io::Error::from_raw_os_error(-e.to_errno()),
            )
        })?;
        Ok(BarMapping {
            addr: region.addr(),
            len,
            owner: Box::new(region),
        })
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        self.state.model.irq_count(kind)
    }

    fn enable_irqs(&self, kind: IrqKind, count: u32) -> Result<Vec<IrqSource>, HostError> {
        let mut irq = self.state.irq();
        if irq.kind.is_some() || count == 0 || count > self.state.model.irq_count(kind) {
            return Err(HostError::Unsupported {
                device: "simulated device".into(),
                what: format!("{count} {kind:?} vectors"),
            });
        }
        let mut sources = Vec::with_capacity(count as usize);
        let mut vectors = Vec::with_capacity(count as usize);
        for index in 0..count {
            let fd = eventfd()?;
            vectors.push(Some(duplicate(fd.as_fd())?));
            sources.push(IrqSource {
                fd,
                kind: IrqSourceKind::EventFd,
                chip: Box::new(SimVector {
                    state: Arc::downgrade(&self.state),
                    kind,
                    index,
                }),
            });
        }
        irq.kind = Some(kind);
        irq.vectors = vectors;
        irq.intx_masked = false;
        Ok(sources)
    }

    fn disable_irqs(&self, kind: IrqKind) -> Result<(), HostError> {
        let mut irq = self.state.irq();
        if irq.kind == Some(kind) {
            irq.kind = None;
            irq.vectors.clear();
        }
        Ok(())
    }

    fn dma_space(&self) -> Arc<dyn DmaSpace> {
        self.state.dma.clone()
    }

    fn reset(&self) -> Result<(), HostError> {
        Err(HostError::Unsupported {
            device: "simulated device".into(),
            what: "function reset".into(),
        })
    }

    fn release_requests(&self) -> Option<BorrowedFd<'_>> {
        self.release_requests
            .get_or_init(|| {
                eventfd()
                    .inspect_err(|err| log::error!(target: "drydock", "simulated device: {err}"))
                    .ok()
            })
            .as_ref()
            .map(AsFd::as_fd)
    }
}
