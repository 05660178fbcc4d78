//! VFIO containers: the IOMMU context of a group, and DMA mappings in it.
//!
//! Each group the process opens gets a container of its own ([`Container::open`]), with its own
//! [`DmaPool`], so each group is its own DMA domain, as each device is in the kernel: memory mapped
//! for one group's devices is not reachable by another's. (VFIO would let one container hold
//! every group of a process, one IOVA space for all, but then any of the process's devices could
//! reach any other's buffers.) The container closes with its group.
//!
//! The IOMMU backend is type1 version 2 (`VFIO_TYPE1v2_IOMMU`). It is set when the group is
//! attached (the kernel requires a group first); then `VFIO_IOMMU_GET_INFO` tells which IOVA
//! ranges the IOMMU can translate, and the pool's [`IovaAllocator`] covers those ranges minus the
//! MSI window.
//!
//! A device without an IOMMU can still be reached through VFIO in its **no-IOMMU mode**
//! (`CONFIG_VFIO_NOIOMMU`, enabled at run time with `vfio.enable_unsafe_noiommu_mode=1`): vfio-pci
//! then puts the device in a group of its own named `vfio-noiommu`, whose node is
//! `/dev/vfio/noiommu-<N>`, and such groups go into containers with the `VFIO_NOIOMMU_IOMMU`
//! backend ([`IommuType::NoIommu`]). That backend maps nothing: the device reaches memory at
//! physical addresses, so the container's DMA space is the process's [`PhysDma`], as for UIO, and
//! the device is not isolated. The kernel allows it to processes with `CAP_SYS_RAWIO` only.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use vfio_bindings::bindings::vfio as sys;

use super::caps::IommuInfo;
use super::ioctl;
use super::mapper::{Domain, VfioMapper};
use crate::dma::iova::{IovaAllocator, MSI_WINDOW};
use crate::dma::pool::DmaPool;
use crate::dma::DmaSpace;
use crate::error::HostError;
use crate::uio::{dma::PhysDma, shared_phys_dma};

/// The container device node.
pub(super) const CONTAINER_PATH: &str = "/dev/vfio/vfio";

/// The IOVA width assumed when the kernel does not report IOVA ranges (Linux before 5.4): 39
/// bits, the narrowest address width of Intel VT-d implementations.
const FALLBACK_IOVA_BITS: u32 = 39;

/// Opens a device node read-write, explaining the usual failures.
pub(super) fn open_node(path: &str) -> Result<OwnedFd, HostError> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => Ok(file.into()),
        Err(err) if err.kind() == io::ErrorKind::PermissionDenied => Err(HostError::Permission {
            path: path.to_owned(),
        }),
        Err(err) => Err(HostError::os(format!("opening {path}"), err)),
    }
}

/// Converts an ioctl's errno into a host error.
pub(super) fn ioctl_error(what: impl Into<String>, errno: nix::errno::Errno) -> HostError {
    HostError::os(what, io::Error::from_raw_os_error(errno as i32))
}

/// The IOMMU backend of a container, which the kind of its groups decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuType {
    /// `VFIO_TYPE1v2_IOMMU`: DMA through the IOMMU, at IOVAs the container maps.
    Type1v2,
    /// `VFIO_NOIOMMU_IOMMU`: no IOMMU; DMA to physical addresses, no isolation.
    NoIommu,
}

impl IommuType {
    /// The backend's number in `<linux/vfio.h>`.
    fn raw(self) -> libc::c_int {
        (match self {
            IommuType::Type1v2 => sys::VFIO_TYPE1v2_IOMMU,
            IommuType::NoIommu => sys::VFIO_NOIOMMU_IOMMU,
        }) as libc::c_int
    }
}

/// The DMA space of a container, created with its IOMMU when the first group is attached.
#[derive(Clone)]
enum ContainerDma {
    /// IOVAs mapped in the IOMMU.
    Pool(Arc<DmaPool<VfioMapper>>),
    /// Physical addresses (no-IOMMU mode).
    Physical(Arc<PhysDma>),
}

/// Mutable state of a container.
struct ContainerState {
    /// Groups attached to the container.
    groups: usize,
    /// The DMA space, present while a group is attached.
    dma: Option<ContainerDma>,
}

/// A VFIO container with the type1v2 IOMMU, or in no-IOMMU mode.
pub struct Container {
    fd: Arc<OwnedFd>,
    iommu: IommuType,
    /// Groups attached, shared with the mapper: with none, the kernel has dropped every mapping.
    attached: Arc<AtomicUsize>,
    state: Mutex<ContainerState>,
}

impl Container {
    /// Opens a new container and checks that it offers the backend `iommu`.
    pub fn open(iommu: IommuType) -> Result<Self, HostError> {
        if !std::path::Path::new(CONTAINER_PATH).exists() {
            return Err(HostError::NoVfio {
                path: CONTAINER_PATH.into(),
            });
        }
        let fd = open_node(CONTAINER_PATH)?;
        // SAFETY: `fd` is a VFIO container.
        let version = unsafe { ioctl::get_api_version(fd.as_raw_fd()) }
            .map_err(|e| ioctl_error("VFIO_GET_API_VERSION", e))?;
        if version != sys::VFIO_API_VERSION as i32 {
            return Err(HostError::Unsupported {
                device: CONTAINER_PATH.into(),
                what: format!(
                    "VFIO API version {version} (drydock speaks version {})",
                    sys::VFIO_API_VERSION
                ),
            });
        }
        // SAFETY: `fd` is a VFIO container.
        let offered = unsafe { ioctl::check_extension(fd.as_raw_fd(), iommu.raw()) }
            .map_err(|e| ioctl_error("VFIO_CHECK_EXTENSION", e))?;
        if offered <= 0 {
            return Err(HostError::Unsupported {
                device: CONTAINER_PATH.into(),
                what: match iommu {
                    IommuType::Type1v2 => {
                        "the type1v2 IOMMU backend (load the vfio_iommu_type1 module)"
                    }
                    // VFIO offers the backend only while the mode is on.
                    IommuType::NoIommu => {
                        "the no-IOMMU backend: VFIO's no-IOMMU mode is off (write 1 to \
                         /sys/module/vfio/parameters/enable_unsafe_noiommu_mode, or boot with \
                         vfio.enable_unsafe_noiommu_mode=1)"
                    }
                }
                .into(),
            });
        }
        Ok(Self {
            fd: Arc::new(fd),
            iommu,
            attached: Arc::new(AtomicUsize::new(0)),
            state: Mutex::new(ContainerState {
                groups: 0,
                dma: None,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ContainerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Attaches the group `group` (number `number`) to the container; the first one also sets
    /// the IOMMU up and creates the DMA pool.
    pub(super) fn attach(&self, group: &OwnedFd, number: u32) -> Result<(), HostError> {
        let mut state = self.lock();
        let container_fd: libc::c_int = self.fd.as_raw_fd();
        // SAFETY: `group` is a VFIO group and the argument points to a container fd.
        unsafe { ioctl::group_set_container(group.as_raw_fd(), &container_fd) }.map_err(
            |e| match (self.iommu, e) {
                (IommuType::NoIommu, nix::errno::Errno::EPERM) => HostError::NoIommuGroup {
                    group: number,
                    reason: "the kernel lets only processes with CAP_SYS_RAWIO use no-IOMMU \
                             groups: run the driver as root",
                },
                _ => ioctl_error(
                    format!("attaching IOMMU group {number} to the container"),
                    e,
                ),
            },
        )?;
        if state.groups == 0 {
            // On failure, the caller closes the group, which detaches it again.
            self.set_up_iommu(&mut state)?;
        }
        state.groups += 1;
        self.attached.store(state.groups, Ordering::Release);
        Ok(())
    }

    /// Sets the container's IOMMU backend and creates its DMA space: for type1v2, the pool over
    /// its IOVA ranges; in no-IOMMU mode, the process's physical DMA space.
    fn set_up_iommu(&self, state: &mut ContainerState) -> Result<(), HostError> {
        if self.iommu == IommuType::NoIommu {
            // SAFETY: `fd` is a VFIO container with a group attached.
            unsafe { ioctl::set_iommu(self.fd.as_raw_fd(), self.iommu.raw()) }
                .map_err(|e| ioctl_error("VFIO_SET_IOMMU(no-IOMMU)", e))?;
            state.dma = Some(ContainerDma::Physical(shared_phys_dma()?));
            return Ok(());
        }
        // SAFETY: `fd` is a VFIO container with a group attached.
        unsafe { ioctl::set_iommu(self.fd.as_raw_fd(), self.iommu.raw()) }.map_err(
            |e| match e {
                // The kernel refuses the IOMMU without interrupt remapping.
                nix::errno::Errno::EPERM => HostError::Unsupported {
                    device: CONTAINER_PATH.into(),
                    what: "the type1v2 IOMMU on this platform: it has no interrupt remapping \
                           (enable it, e.g. `intremap=on` for QEMU's intel-iommu, or load \
                           vfio_iommu_type1 with allow_unsafe_interrupts=1 if you accept the risk)"
                        .into(),
                },
                e => ioctl_error("VFIO_SET_IOMMU(type1v2)", e),
            },
        )?;
        let info = self.iommu_info()?;
        let ranges = info.iova_ranges.clone().unwrap_or_else(|| {
            log::warn!(
                target: "drydock",
                "VFIO reports no IOVA ranges (kernel before 5.4?): assuming {FALLBACK_IOVA_BITS} address bits"
            );
            vec![(0, (1u64 << FALLBACK_IOVA_BITS) - 1)]
        });
        log::debug!(target: "drydock", "VFIO IOMMU: page sizes {:#x}, IOVA ranges {ranges:#x?}", info.page_sizes);
        let mapper = VfioMapper::new(Domain::Container {
            fd: self.fd.clone(),
            attached: self.attached.clone(),
        });
        state.dma = Some(ContainerDma::Pool(Arc::new(DmaPool::new(
            mapper,
            IovaAllocator::new(&ranges, &[MSI_WINDOW]),
        ))));
        Ok(())
    }

    /// Detaches and closes a group attached with [`Container::attach`].
    ///
    /// With the last group, the DMA space is released first, while the IOMMU still exists to unmap
    /// from (if something else still holds the pool, its later unmaps are no-ops: the kernel drops
    /// every mapping of a container whose last group leaves).
    pub(super) fn detach(&self, group: OwnedFd) {
        let mut state = self.lock();
        let dma = if state.groups == 1 {
            state.dma.take()
        } else {
            None
        };
        drop(dma);
        drop(group);
        state.groups = state.groups.saturating_sub(1);
        self.attached.store(state.groups, Ordering::Release);
    }

    /// Queries the IOMMU (`VFIO_IOMMU_GET_INFO`), with its capability chain.
    pub fn iommu_info(&self) -> Result<IommuInfo, HostError> {
        let buf = self.iommu_info_bytes()?;
        IommuInfo::parse(&buf).ok_or_else(|| {
            HostError::os(
                "VFIO_IOMMU_GET_INFO returned a malformed answer",
                io::Error::from(io::ErrorKind::InvalidData),
            )
        })
    }

    /// Returns the raw answer of `VFIO_IOMMU_GET_INFO`, capabilities included.
    pub fn iommu_info_bytes(&self) -> Result<Vec<u8>, HostError> {
        let mut argsz = size_of::<sys::vfio_iommu_type1_info>();
        loop {
            // A u64 buffer keeps the structure aligned.
            let mut buf = vec![0u64; argsz.div_ceil(8)];
            let info = buf.as_mut_ptr().cast::<sys::vfio_iommu_type1_info>();
            // SAFETY: the buffer is aligned and large enough for the structure.
            unsafe { (*info).argsz = argsz as u32 };
            // SAFETY: `info` points to `argsz` writable, aligned bytes starting with the structure.
            unsafe { ioctl::iommu_get_info(self.fd.as_raw_fd(), info) }
                .map_err(|e| ioctl_error("VFIO_IOMMU_GET_INFO", e))?;
            // SAFETY: the kernel filled the structure in.
            let needed = unsafe { (*info).argsz } as usize;
            let bytes: Vec<u8> = buf.iter().flat_map(|w| w.to_ne_bytes()).collect();
            if needed <= argsz {
                return Ok(bytes[..argsz].to_vec());
            }
            argsz = needed;
        }
    }

    /// Returns the container's IOMMU backend.
    pub fn iommu_type(&self) -> IommuType {
        self.iommu
    }

    /// Returns the DMA pool of the container's IOVA space (`None` before a group is attached, and
    /// in no-IOMMU mode, which has no IOVA space).
    pub fn dma_pool(&self) -> Option<Arc<DmaPool<VfioMapper>>> {
        match self.lock().dma.clone()? {
            ContainerDma::Pool(pool) => Some(pool),
            ContainerDma::Physical(_) => None,
        }
    }

    /// Returns the DMA space devices in the container allocate from (`None` before a group is
    /// attached).
    pub fn dma_space(&self) -> Option<Arc<dyn DmaSpace>> {
        Some(match self.lock().dma.clone()? {
            ContainerDma::Pool(pool) => pool,
            ContainerDma::Physical(phys) => phys,
        })
    }
}
