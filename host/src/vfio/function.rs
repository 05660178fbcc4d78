//! A PCI function reached through VFIO: the [`PciFunction`] the PCI core drives.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex};

use vfio_bindings::bindings::vfio as sys;

use super::bar;
use super::container::{ioctl_error, IommuType, CONTAINER_PATH};
use super::device::{Attachment, IrqAction, VfioDevice};
use super::group::Group;
use super::holders::in_use;
use super::interface::{choose, Choice, Interface, Offer};
use super::iommufd;
use super::mapper::VfioMapper;
use crate::dma::pool::DmaPool;
use crate::dma::DmaSpace;
use crate::error::HostError;
use crate::function::{
    BarInfo, BarKind, BarMapping, IrqChip, IrqKind, IrqSource, IrqSourceKind, PciFunction,
};
use crate::irq::eventfd;
use crate::pci_config as cfg;
use crate::pci_id::canonical_address;
use crate::sysfs::{PciDeviceInfo, Sysfs};
use crate::uio::shared_phys_dma;
use crate::user::current_user;

/// The driver a device must be bound to for VFIO.
pub const VFIO_DRIVER: &str = "vfio-pci";

/// How a VFIO function is opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VfioOptions {
    /// Serve every BAR with `pread`/`pwrite` through a trapped region, even when it could be
    /// mapped: slower, but every access is a system call that can be watched.
    pub trap_bars: bool,
    /// The VFIO interface to use; `None` leaves it to `DRYDOCK_VFIO_INTERFACE`, else to drydock,
    /// which takes the device cdev with iommufd where the kernel offers it (see
    /// [`Interface`]).
    pub interface: Option<Interface>,
}

/// The error for a refused `VFIO_DEVICE_BIND_IOMMUFD` of the cdev `node` of the device at
/// `address` in IOMMU group `group`. The kernel says `EINVAL` while another file has the device
/// open, `EBUSY` while its group is open, and `EPERM` while the group's DMA belongs to someone
/// else: a kernel driver of another member (the group is not viable), or another process's
/// iommufd. So whoever holds the device or its group is named, else the members that keep the
/// group from being viable.
fn bind_refused(
    sysfs: &Sysfs,
    address: &str,
    group: u32,
    node: &str,
    errno: nix::errno::Errno,
) -> HostError {
    use nix::errno::Errno::{EBUSY, EINVAL, EPERM};
    if matches!(errno, EBUSY | EINVAL | EPERM) {
        let err = in_use(sysfs, address, group);
        let held = matches!(&err, HostError::DeviceInUse { holders, .. } if !holders.is_empty());
        if held {
            return err;
        }
        if errno != EINVAL {
            return match sysfs.group_blockers(group) {
                Ok(others) if !others.is_empty() => HostError::GroupNotViable { group, others },
                _ => err,
            };
        }
    }
    ioctl_error(format!("VFIO_DEVICE_BIND_IOMMUFD of {node}"), errno)
}

/// One enabled vector of a VFIO device, as the interrupt core controls it.
struct VfioVector {
    device: Arc<VfioDevice>,
    kind: IrqKind,
    index: u32,
    /// VFIO masks the vector when it fires (INTx); the dispatcher unmasks it once the handlers
    /// have acknowledged the device.
    automasked: bool,
}

impl IrqChip for VfioVector {
    fn unmask(&self) -> Result<(), HostError> {
        if !self.automasked {
            return Ok(());
        }
        self.device
            .irq_action(self.kind, IrqAction::Unmask, self.index, 1)
    }

    fn connect(&self, fd: Option<BorrowedFd<'_>>) -> Result<(), HostError> {
        match self.kind {
            // Releasing INTx's trigger frees the host's handler on some kernels (6.1 does), and a
            // level interrupt asserted with no handler is trouble for whatever shares the pin:
            // INTx is masked instead, which every kernel offers (with INTx Disable in the device
            // when it supports PCI 2.3 masking, else by disabling the host's interrupt line).
            IrqKind::Intx => {
                let action = if fd.is_some() {
                    IrqAction::Unmask
                } else {
                    IrqAction::Mask
                };
                self.device.irq_action(self.kind, action, self.index, 1)
            }
            // One vector's trigger at a time (`start` = the vector, `count` = 1); -1 releases it,
            // and the kernel frees the host interrupt behind it.
            IrqKind::Msi | IrqKind::MsiX => {
                let fd = fd.map_or(-1, |fd| fd.as_raw_fd());
                self.device.set_irq_eventfds(self.kind, self.index, &[fd])
            }
        }
    }
}

/// A PCI function opened through VFIO.
pub struct VfioFunction {
    device: Arc<VfioDevice>,
    bars: [Option<BarInfo>; 6],
    dma: Arc<dyn DmaSpace>,
    enabled: Mutex<Option<IrqKind>>,
    options: VfioOptions,
    /// The eventfd of the device request interrupt, if VFIO took it.
    release_requests: Option<OwnedFd>,
}

/// Warns that the device at `address`, opened in VFIO's no-IOMMU mode, is not isolated.
fn warn_no_isolation(address: &str) {
    log::warn!(
        target: "drydock",
        "{address}: VFIO no-IOMMU mode: the device reaches memory at physical addresses, with no \
         isolation"
    );
}

impl VfioFunction {
    /// Opens the device at `address` through VFIO, over the interface [`choose`] picks (and
    /// logs).
    ///
    /// The errors say what to do: no IOMMU (the kernel parameter), a device not bound to vfio-pci
    /// (`drydock bind`), no permission on a node, a group that is not viable (the other devices
    /// and their drivers), a device or group open in another process, a forced interface the
    /// kernel lacks.
    ///
    /// A device in a no-IOMMU group (VFIO's no-IOMMU mode) opens too, through its no-IOMMU cdev
    /// where the kernel offers one and its group otherwise, with a warning: its DMA goes to
    /// physical addresses, unchecked.
    pub fn open(address: &str, sysfs: &Sysfs, options: VfioOptions) -> Result<Self, HostError> {
        let address = canonical_address(address)?;
        let info = sysfs.device(&address)?;
        if !sysfs.has_iommu_groups()? {
            return Err(HostError::NoIommu);
        }
        if info.driver.as_deref() != Some(VFIO_DRIVER) {
            return Err(HostError::WrongDriver {
                bdf: address,
                current: info.driver,
                wanted: VFIO_DRIVER,
            });
        }
        let group = info.iommu_group.ok_or(HostError::NoIommu)?;
        let offer = Offer::of(sysfs, &address, Some(group));
        let choice = choose(&address, Interface::requested(options.interface)?, &offer)?;
        let opened = Self::open_through(sysfs, &address, group, &offer, &choice);
        let (device, dma) = opened.map_err(|err| match err {
            // The device's own nodes and /dev/iommu are what `drydock bind --user` hands over;
            // the container, open to all by default, has its own fix.
            HostError::Permission { path } if path != CONTAINER_PATH => HostError::NodePermission {
                bdf: address.clone(),
                path,
                user: current_user(),
            },
            other => other,
        })?;
        Self::from_device(device, dma, &info, options)
    }

    /// Opens the device at `address`, in IOMMU group `group`, through the interface chosen.
    fn open_through(
        sysfs: &Sysfs,
        address: &str,
        group: u32,
        offer: &Offer,
        choice: &Choice,
    ) -> Result<(VfioDevice, Arc<dyn DmaSpace>), HostError> {
        let address = address.to_owned();
        Ok(match choice.interface {
            Interface::Group => {
                let group = Group::open(group, sysfs, &address)?;
                let dma = group
                    .container()
                    .dma_space()
                    .expect("an attached container has its DMA space");
                if group.container().iommu_type() == IommuType::NoIommu {
                    warn_no_isolation(&address);
                }
                log::info!(
                    target: "drydock",
                    "{address}: through VFIO group {} ({})",
                    group.number(),
                    choice.reason
                );
                (VfioDevice::open(group, &address)?, dma)
            }
            Interface::Cdev if offer.noiommu => {
                let (node, _) = offer.cdev.as_ref().expect("a chosen cdev is offered");
                let fd = iommufd::open_noiommu_device(sysfs, node, |e| {
                    bind_refused(sysfs, &address, group, node, e)
                })
                .map_err(|err| match err {
                    // Root's node, and the kernel's CAP_SYS_RAWIO check behind it: `drydock bind
                    // --user` is no fix, as for a no-IOMMU group.
                    HostError::Permission { path } if path.ends_with(node.as_str()) => {
                        HostError::NoIommuGroup {
                            group,
                            reason: "the kernel lets only processes with CAP_SYS_RAWIO open \
                                     no-IOMMU devices: run the driver as root",
                        }
                    }
                    other => other,
                })?;
                warn_no_isolation(&address);
                log::info!(
                    target: "drydock",
                    "{address}: through the VFIO no-IOMMU device cdev {node}, bound to an iommufd \
                     of its own with no IOAS ({})",
                    choice.reason
                );
                let dma: Arc<dyn DmaSpace> = shared_phys_dma()?;
                (
                    VfioDevice::from_fd(fd, &address, Attachment::NoIommuCdev)?,
                    dma,
                )
            }
            Interface::Cdev => {
                let (node, _) = offer.cdev.as_ref().expect("a chosen cdev is offered");
                let (fd, ioas) = iommufd::open_device(sysfs, &address, node, |e| {
                    bind_refused(sysfs, &address, group, node, e)
                })?;
                log::info!(
                    target: "drydock",
                    "{address}: through the VFIO device cdev {node}, in IOAS {} of its own \
                     iommufd ({})",
                    ioas.id(),
                    choice.reason
                );
                let dma: Arc<dyn DmaSpace> = ioas.dma_pool().clone();
                (
                    VfioDevice::from_fd(fd, &address, Attachment::Cdev(ioas))?,
                    dma,
                )
            }
        })
    }

    /// Reads the BARs of the device just opened and takes its device request interrupt.
    fn from_device(
        device: VfioDevice,
        dma: Arc<dyn DmaSpace>,
        info: &PciDeviceInfo,
        options: VfioOptions,
    ) -> Result<Self, HostError> {
        let device = Arc::new(device);
        let mut bars = [None; 6];
        let mut config = [0u8; 24];
        device.config_read(cfg::BASE_ADDRESS_0, &mut config)?;
        for (index, slot) in bars.iter_mut().enumerate() {
            let Some(region) = device.region(index as u32).filter(|r| r.size > 0) else {
                continue;
            };
            let low = u32::from_le_bytes(config[index * 4..index * 4 + 4].try_into().unwrap());
            let kind = if low & cfg::BAR_SPACE_IO != 0 {
                BarKind::Io
            } else if low & cfg::BAR_MEM_TYPE_MASK == cfg::BAR_MEM_TYPE_64 {
                BarKind::Mem64
            } else {
                BarKind::Mem32
            };
            *slot = Some(BarInfo {
                size: region.size,
                start: info.bar(index).map_or(0, |r| r.start),
                kind,
                prefetchable: kind != BarKind::Io && low & cfg::BAR_MEM_PREFETCH != 0,
            });
        }
        let release_requests = request_eventfd(&device);
        Ok(Self {
            device,
            bars,
            dma,
            enabled: Mutex::new(None),
            options,
            release_requests,
        })
    }

    /// Returns the VFIO device.
    pub fn device(&self) -> &VfioDevice {
        &self.device
    }

    /// Returns the group the device was opened through (group interface only).
    pub fn group(&self) -> Option<&Arc<Group>> {
        self.device.group()
    }

    /// Returns the DMA pool of the device's IOMMU domain (its group's container, or its IOAS), or
    /// `None` in no-IOMMU mode, where DMA goes to physical addresses.
    pub fn dma_pool(&self) -> Option<Arc<DmaPool<VfioMapper>>> {
        match self.device.ioas() {
            Some(ioas) => Some(ioas.dma_pool().clone()),
            None => self.group()?.container().dma_pool(),
        }
    }

    fn unsupported(&self, what: String) -> HostError {
        HostError::Unsupported {
            device: self.device.address().to_owned(),
            what,
        }
    }
}

impl PciFunction for VfioFunction {
    fn backend(&self) -> &'static str {
        match self.group() {
            // Opened through its cdev, in an IOAS of its own.
            None if self.device.ioas().is_some() => "vfio-cdev",
            // Opened through its no-IOMMU cdev: no isolation, as through a no-IOMMU group.
            None => "vfio-noiommu",
            Some(group) => match group.container().iommu_type() {
                IommuType::Type1v2 => "vfio",
                IommuType::NoIommu => "vfio-noiommu",
            },
        }
    }

    fn config_read(&self, offset: u16, data: &mut [u8]) -> Result<(), HostError> {
        self.device.config_read(offset, data)
    }

    fn config_write(&self, offset: u16, data: &[u8]) -> Result<(), HostError> {
        self.device.config_write(offset, data)
    }

    fn config_size(&self) -> usize {
        self.device.config_size()
    }

    fn bar(&self, index: u32) -> Option<BarInfo> {
        self.bars.get(index as usize).copied().flatten()
    }

    fn map_bar(&self, index: u32) -> Result<BarMapping, HostError> {
        let region = self
            .bar(index)
            .and(self.device.region(index))
            .ok_or_else(|| self.unsupported(format!("BAR{index}")))?;
        bar::map(&self.device, region, self.options.trap_bars)
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        self.device.irq_count(kind)
    }

    fn enable_irqs(&self, kind: IrqKind, count: u32) -> Result<Vec<IrqSource>, HostError> {
        let mut enabled = self.enabled.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(other) = *enabled {
            return Err(self.unsupported(format!(
                "enabling {kind:?} while {other:?} vectors are enabled"
            )));
        }
        if count == 0 || count > self.device.irq_count(kind) {
            return Err(self.unsupported(format!(
                "{count} {kind:?} vectors (it has {})",
                self.device.irq_count(kind)
            )));
        }
        let fds = (0..count)
            .map(|_| eventfd())
            .collect::<Result<Vec<_>, _>>()?;
        let raw: Vec<i32> = fds.iter().map(AsRawFd::as_raw_fd).collect();
        self.device.set_irq_eventfds(kind, 0, &raw)?;
        *enabled = Some(kind);
        let automasked = self.device.irq_info(kind).flags & sys::VFIO_IRQ_INFO_AUTOMASKED != 0;
        Ok(fds
            .into_iter()
            .zip(0..)
            .map(|(fd, index)| IrqSource {
                fd,
                kind: IrqSourceKind::EventFd,
                chip: Box::new(VfioVector {
                    device: self.device.clone(),
                    kind,
                    index,
                    automasked,
                }),
            })
            .collect())
    }

    fn disable_irqs(&self, kind: IrqKind) -> Result<(), HostError> {
        let mut enabled = self.enabled.lock().unwrap_or_else(|e| e.into_inner());
        if *enabled == Some(kind) {
            self.device.disable_irqs(kind)?;
            *enabled = None;
        }
        Ok(())
    }

    fn dma_space(&self) -> Arc<dyn DmaSpace> {
        self.dma.clone()
    }

    fn reset(&self) -> Result<(), HostError> {
        self.device.reset()
    }

    fn release_requests(&self) -> Option<BorrowedFd<'_>> {
        self.release_requests.as_ref().map(AsFd::as_fd)
    }
}

/// Routes `device`'s request interrupt to a new eventfd and returns it; `None`, with a warning
/// that says what follows, if the device has no such interrupt or VFIO refuses it.
fn request_eventfd(device: &VfioDevice) -> Option<OwnedFd> {
    let address = device.address();
    let unheard = "removing the device or unbinding vfio-pci will wait until this process exits";
    if !device.has_request_irq() {
        let missing = "VFIO offers no device request interrupt";
        log::warn!(target: "drydock", "{address}: {missing}: {unheard}");
        return None;
    }
    let registered = eventfd().and_then(|fd| {
        device.set_request_eventfd(fd.as_raw_fd())?;
        Ok(fd)
    });
    registered
        .inspect_err(|err| log::warn!(target: "drydock", "{address}: {err}: {unheard}"))
        .ok()
}
