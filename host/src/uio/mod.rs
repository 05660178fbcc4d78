//! The UIO backend: PCI devices bound to `uio_pci_generic`, without an IOMMU.
//!
//! `uio_pci_generic` gives a process a device with nothing between them: config space through
//! sysfs `config`, BARs by mapping sysfs `resourceN` (the `/dev/uioN` maps list only 32-bit
//! non-prefetchable memory BARs, so they are not used), and the device's INTx through `/dev/uioN`.
//! There is no MSI or MSI-X, no reset beyond sysfs `reset`, and **no DMA isolation**: the device
//! reaches memory at physical addresses ([`dma::PhysDma`]) and can reach all of it. VFIO is the
//! backend to use wherever there is an IOMMU; UIO is for machines without one.
//!
//! # Interrupts
//!
//! The kernel's handler masks INTx (sets `PCI_COMMAND.INTX_DISABLE`) when the device asserts it
//! and counts the interrupt; reading `/dev/uioN` returns the count. After the driver's handler has
//! acknowledged the device, the dispatcher re-enables INTx by clearing `INTX_DISABLE` with a
//! 2-byte read-modify-write of the command register (`uio_pci_generic` has no `irqcontrol`, so
//! writing to `/dev/uioN` fails).

pub mod dma;

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::BorrowedFd;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use super::bar_file::{FileRegion, MappedFile};
use super::dma::memory::PAGE_SIZE;
use super::dma::DmaSpace;
use super::error::HostError;
use super::function::{
    BarInfo, BarKind, BarMapping, IrqChip, IrqKind, IrqSource, IrqSourceKind, PciFunction,
};
use super::pci::{PciDeviceRef, RawPciDevice};
use super::pci_config as cfg;
use super::pci_id::canonical_address;
use super::sysfs::Sysfs;
use dma::PhysDma;

/// The driver a device must be bound to for UIO.
pub const UIO_DRIVER: &str = "uio_pci_generic";

/// The process's physical DMA space, shared by every UIO device and VFIO no-IOMMU container while
/// one is open.
static PHYS_DMA: Mutex<Weak<PhysDma>> = Mutex::new(Weak::new());

/// Returns the process's physical DMA space, creating it if none is in use.
pub(crate) fn shared_phys_dma() -> Result<Arc<PhysDma>, HostError> {
    let mut slot = PHYS_DMA.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(dma) = slot.upgrade() {
        return Ok(dma);
    }
    let dma = Arc::new(PhysDma::new()?);
    *slot = Arc::downgrade(&dma);
    Ok(dma)
}

/// Opens a file read-write, explaining a permission problem.
fn open_rw(path: &std::path::Path) -> Result<File, HostError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|err| match err.kind() {
            io::ErrorKind::PermissionDenied => HostError::Permission {
                path: path.display().to_string(),
            },
            _ => HostError::os(format!("opening {}", path.display()), err),
        })
}

/// Config space through sysfs `config`, shared with the INTx vector's [`UioIntx`].
struct Config {
    file: File,
    address: String,
}

impl Config {
    fn read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError> {
        self.file
            .read_exact_at(data, u64::from(offset))
            .map_err(|err| {
                HostError::os(
                    format!(
                        "{}: reading {} bytes of config space at {offset:#x}",
                        self.address,
                        data.len()
                    ),
                    err,
                )
            })
    }

    fn write(&self, offset: u16, data: &[u8]) -> Result<(), HostError> {
        self.file
            .write_all_at(data, u64::from(offset))
            .map_err(|err| {
                HostError::os(
                    format!(
                        "{}: writing {} bytes of config space at {offset:#x}",
                        self.address,
                        data.len()
                    ),
                    err,
                )
            })
    }

    /// Sets or clears `PCI_COMMAND.INTX_DISABLE` (2-byte read-modify-write).
    fn set_intx_disabled(&self, disabled: bool) -> Result<(), HostError> {
        let mut command = [0u8; 2];
        self.read(cfg::COMMAND, &mut command)?;
        let command = u16::from_le_bytes(command);
        let new = if disabled {
            command | cfg::COMMAND_INTX_DISABLE
        } else {
            command & !cfg::COMMAND_INTX_DISABLE
        };
        if new != command {
            self.write(cfg::COMMAND, &new.to_le_bytes())?;
        }
        Ok(())
    }
}

/// The INTx vector of a UIO function: `uio_pci_generic` masks INTx in the command register when
/// it fires (`pci_check_and_mask_intx()`), and the same bit unmasks it, turns it off and on.
struct UioIntx {
    config: Arc<Config>,
}

impl IrqChip for UioIntx {
    fn unmask(&self) -> Result<(), HostError> {
        self.config.set_intx_disabled(false)
    }

    fn connect(&self, fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
        // The UIO node is the only file an interrupt reaches; connecting is letting it assert.
        self.config.set_intx_disabled(fd.is_none())
    }
}

/// A PCI function bound to `uio_pci_generic`.
pub struct UioFunction {
    config: Arc<Config>,
    config_size: usize,
    device_dir: PathBuf,
    bars: [Option<BarInfo>; 6],
    uio_node: Option<PathBuf>,
    intx_pin: bool,
    dma: Arc<PhysDma>,
    intx_enabled: Mutex<bool>,
}

impl UioFunction {
    /// Opens the device at `address`, which must be bound to `uio_pci_generic`.
    pub fn open(address: &str, sysfs: &Sysfs) -> Result<Self, HostError> {
        let address = canonical_address(address)?;
        let info = sysfs.device(&address)?;
        if info.driver.as_deref() != Some(UIO_DRIVER) {
            return Err(HostError::WrongDriver {
                bdf: address,
                current: info.driver,
                wanted: UIO_DRIVER,
            });
        }
        let device_dir = sysfs.device_dir(&address);
        let config_path = device_dir.join("config");
        let file = open_rw(&config_path)?;
        let config_size = file
            .metadata()
            .map_err(|err| HostError::os(format!("reading {}", config_path.display()), err))?
            .len() as usize;
        let config = Arc::new(Config { file, address });
        let mut pin = [0u8; 1];
        config.read(cfg::INTERRUPT_PIN, &mut pin)?;
        let bars = core::array::from_fn(|index| {
            let resource = info.bar(index)?;
            let kind = if resource.is_io() {
                BarKind::Io
            } else if resource.is_64bit() {
                BarKind::Mem64
            } else {
                BarKind::Mem32
            };
            Some(BarInfo {
                size: resource.size(),
                start: resource.start,
                kind,
                prefetchable: resource.is_prefetchable(),
            })
        });
        let uio_node = sysfs
            .uio_nodes(&config.address)?
            .first()
            .map(|name| sysfs.path("dev").join(name));
        Ok(Self {
            config,
            config_size,
            device_dir,
            bars,
            uio_node,
            intx_pin: pin[0] != 0,
            dma: shared_phys_dma()?,
            intx_enabled: Mutex::new(false),
        })
    }

    fn address(&self) -> &str {
        &self.config.address
    }

    fn unsupported(&self, what: impl Into<String>) -> HostError {
        HostError::Unsupported {
            device: self.address().to_owned(),
            what: what.into(),
        }
    }
}

impl PciFunction for UioFunction {
    fn backend(&self) -> &'static str {
        "uio"
    }

    fn config_read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError> {
        self.config.read(offset, data)
    }

    fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), HostError> {
        self.config.write(offset, data)
    }

    fn config_size(&self) -> usize {
        self.config_size
    }

    fn bar(&self, index: u32) -> Option<BarInfo> {
        self.bars.get(index as usize).copied().flatten()
    }

    fn map_bar(&self, index: u32) -> Result<BarMapping, HostError> {
        let info = self
            .bar(index)
            .ok_or_else(|| self.unsupported(format!("BAR{index}")))?;
        let path = self.device_dir.join(format!("resource{index}"));
        let file = open_rw(&path)?;
        let len = info.size as usize;
        let name = format!("{} BAR{index}", self.address());
        match info.kind {
            BarKind::Io => FileRegion::new(file, 0, name, Vec::new()).into_bar(len),
            BarKind::Mem32 | BarKind::Mem64 => {
                let map = MappedFile::new(&file, 0, len.next_multiple_of(PAGE_SIZE), &name)?;
                Ok(BarMapping {
                    addr: map.addr(),
                    len,
                    owner: Box::new(map),
                })
            }
        }
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        u32::from(kind == IrqKind::Intx && self.intx_pin && self.uio_node.is_some())
    }

    fn enable_irqs(&self, kind: IrqKind, count: u32) -> Result<Vec<IrqSource>, HostError> {
        if count != 1 || self.irq_count(kind) != 1 {
            return Err(self.unsupported(format!(
                "{count} {kind:?} vectors (uio_pci_generic offers one INTx vector, and only for a \
                 device with an interrupt pin)"
            )));
        }
        let node = self.uio_node.as_ref().expect("counted above");
        let fd = File::open(node).map_err(|err| match err.kind() {
            io::ErrorKind::PermissionDenied => HostError::Permission {
                path: node.display().to_string(),
            },
            _ => HostError::os(format!("opening {}", node.display()), err),
        })?;
        // INTx may still be disabled from an earlier user: enable it.
        self.config.set_intx_disabled(false)?;
        *self.intx_enabled.lock().unwrap_or_else(|e| e.into_inner()) = true;
        Ok(vec![IrqSource {
            fd: fd.into(),
            kind: IrqSourceKind::Uio,
            chip: Box::new(UioIntx {
                config: self.config.clone(),
            }),
        }])
    }

    fn disable_irqs(&self, kind: IrqKind) -> Result<(), HostError> {
        let mut enabled = self.intx_enabled.lock().unwrap_or_else(|e| e.into_inner());
        if kind == IrqKind::Intx && *enabled {
            self.config.set_intx_disabled(true)?;
            *enabled = false;
        }
        Ok(())
    }

    fn dma_space(&self) -> Arc<dyn DmaSpace> {
        self.dma.clone()
    }

    fn reset(&self) -> Result<(), HostError> {
        let path = self.device_dir.join("reset");
        if !path.exists() {
            return Err(
                self.unsupported("function reset (the kernel knows no reset method for it)")
            );
        }
        std::fs::write(&path, "1").map_err(|err| match err.kind() {
            io::ErrorKind::PermissionDenied => HostError::Permission {
                path: path.display().to_string(),
            },
            _ => HostError::os(format!("writing 1 to {}", path.display()), err),
        })
    }
}

/// Opens the device at `address` (bound to `uio_pci_generic`) as a PCI device for a bus.
pub fn open(address: &str, sysfs: &Sysfs) -> Result<PciDeviceRef, HostError> {
    let function = UioFunction::open(address, sysfs)?;
    let name = function.address().to_owned();
    RawPciDevice::create(&name, Arc::new(function))
}
