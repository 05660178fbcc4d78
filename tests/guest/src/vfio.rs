//! The few VFIO ioctls the harness's own end-to-end proof needs: open a device through a
//! type1 container and map one of its BARs.
//!
//! This is deliberately minimal and lives only in the test runner. Drivers use the `drydock`
//! crate's VFIO layer; this module exists so the harness can show, independently of that
//! layer, that VFIO works in the guest.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;

/// `_IO(VFIO_TYPE, VFIO_BASE + n)` from `<linux/vfio.h>`.
const fn vfio_io(n: u64) -> u64 {
    ((b';' as u64) << 8) | (100 + n)
}

const VFIO_GET_API_VERSION: u64 = vfio_io(0);
const VFIO_CHECK_EXTENSION: u64 = vfio_io(1);
const VFIO_SET_IOMMU: u64 = vfio_io(2);
const VFIO_GROUP_GET_STATUS: u64 = vfio_io(3);
const VFIO_GROUP_SET_CONTAINER: u64 = vfio_io(4);
const VFIO_GROUP_GET_DEVICE_FD: u64 = vfio_io(6);
const VFIO_DEVICE_GET_INFO: u64 = vfio_io(7);
const VFIO_DEVICE_GET_REGION_INFO: u64 = vfio_io(8);

/// The VFIO API version every kernel reports.
pub const VFIO_API_VERSION: i32 = 0;
/// The type1 IOMMU backend, version 2.
pub const VFIO_TYPE1V2_IOMMU: u64 = 3;
const VFIO_GROUP_FLAGS_VIABLE: u32 = 1 << 0;
const VFIO_DEVICE_FLAGS_PCI: u32 = 1 << 1;
const VFIO_REGION_INFO_FLAG_MMAP: u32 = 1 << 2;

#[repr(C)]
#[derive(Default)]
struct GroupStatus {
    argsz: u32,
    flags: u32,
}

#[repr(C)]
#[derive(Default)]
struct DeviceInfo {
    argsz: u32,
    flags: u32,
    num_regions: u32,
    num_irqs: u32,
}

#[repr(C)]
#[derive(Default)]
struct RegionInfo {
    argsz: u32,
    flags: u32,
    index: u32,
    cap_offset: u32,
    size: u64,
    offset: u64,
}

fn ioctl(fd: RawFd, request: u64, arg: usize, what: &str) -> Result<i32, String> {
    // SAFETY: every caller passes a request whose argument is either an integer or a pointer to
    // a live, correctly sized `repr(C)` struct (or C string) of the layout the kernel expects.
    let ret = unsafe { libc::ioctl(fd, request as _, arg) };
    if ret < 0 {
        Err(format!("{what}: {}", io::Error::last_os_error()))
    } else {
        Ok(ret)
    }
}

fn open(path: &str) -> Result<File, String> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {path}: {e}"))
}

/// A VFIO container: the IOMMU context devices are attached through.
pub struct Container {
    file: File,
}

impl Container {
    /// Opens `/dev/vfio/vfio` and checks the API version.
    pub fn open() -> Result<Self, String> {
        let file = open("/dev/vfio/vfio")?;
        let version = ioctl(
            file.as_raw_fd(),
            VFIO_GET_API_VERSION,
            0,
            "VFIO_GET_API_VERSION",
        )?;
        if version != VFIO_API_VERSION {
            return Err(format!(
                "VFIO_GET_API_VERSION returned {version}, expected {VFIO_API_VERSION}"
            ));
        }
        Ok(Container { file })
    }

    /// Whether the container supports IOMMU backend `extension`.
    pub fn has_extension(&self, extension: u64) -> Result<bool, String> {
        let ret = ioctl(
            self.file.as_raw_fd(),
            VFIO_CHECK_EXTENSION,
            extension as usize,
            "VFIO_CHECK_EXTENSION",
        )?;
        Ok(ret > 0)
    }
}

/// An opened VFIO device together with the group and container that keep it open.
pub struct Device {
    // Field order is drop order: device, then group, then container.
    device: OwnedFd,
    _group: File,
    _container: Container,
    /// Number of regions (BARs, ROM, config space, ...).
    pub num_regions: u32,
    /// Number of interrupt types.
    pub num_irqs: u32,
}

impl Device {
    /// Opens PCI device `address` (bound to vfio-pci, in IOMMU group `group`) through a new
    /// type1v2 container.
    pub fn open(address: &str, group: u32) -> Result<Self, String> {
        let container = Container::open()?;
        if !container.has_extension(VFIO_TYPE1V2_IOMMU)? {
            return Err("the VFIO container does not support the type1v2 IOMMU".into());
        }
        let group_path = format!("/dev/vfio/{group}");
        let group_file = open(&group_path)?;
        let mut status = GroupStatus {
            argsz: size_of::<GroupStatus>() as u32,
            ..Default::default()
        };
        ioctl(
            group_file.as_raw_fd(),
            VFIO_GROUP_GET_STATUS,
            &mut status as *mut _ as usize,
            "VFIO_GROUP_GET_STATUS",
        )?;
        if status.flags & VFIO_GROUP_FLAGS_VIABLE == 0 {
            return Err(format!(
                "{group_path} is not viable: some device in the group is not bound to vfio-pci"
            ));
        }
        let container_fd: RawFd = container.file.as_raw_fd();
        ioctl(
            group_file.as_raw_fd(),
            VFIO_GROUP_SET_CONTAINER,
            &container_fd as *const RawFd as usize,
            "VFIO_GROUP_SET_CONTAINER",
        )?;
        ioctl(
            container_fd,
            VFIO_SET_IOMMU,
            VFIO_TYPE1V2_IOMMU as usize,
            "VFIO_SET_IOMMU(type1v2)",
        )?;
        let name = std::ffi::CString::new(address).map_err(|_| "bad device address")?;
        let fd = ioctl(
            group_file.as_raw_fd(),
            VFIO_GROUP_GET_DEVICE_FD,
            name.as_ptr() as usize,
            "VFIO_GROUP_GET_DEVICE_FD",
        )?;
        // SAFETY: the ioctl returned a new file descriptor that nothing else owns.
        let device = unsafe { OwnedFd::from_raw_fd(fd) };
        let mut info = DeviceInfo {
            argsz: size_of::<DeviceInfo>() as u32,
            ..Default::default()
        };
        ioctl(
            device.as_raw_fd(),
            VFIO_DEVICE_GET_INFO,
            &mut info as *mut _ as usize,
            "VFIO_DEVICE_GET_INFO",
        )?;
        if info.flags & VFIO_DEVICE_FLAGS_PCI == 0 {
            return Err(format!("VFIO says {address} is not a PCI device"));
        }
        Ok(Device {
            device,
            _group: group_file,
            _container: container,
            num_regions: info.num_regions,
            num_irqs: info.num_irqs,
        })
    }

    /// Maps PCI BAR `index` (a memory BAR that VFIO allows to be mapped).
    pub fn map_bar(&self, index: u32) -> Result<Bar, String> {
        let mut region = RegionInfo {
            argsz: size_of::<RegionInfo>() as u32,
            index,
            ..Default::default()
        };
        ioctl(
            self.device.as_raw_fd(),
            VFIO_DEVICE_GET_REGION_INFO,
            &mut region as *mut _ as usize,
            "VFIO_DEVICE_GET_REGION_INFO",
        )?;
        if region.flags & VFIO_REGION_INFO_FLAG_MMAP == 0 || region.size == 0 {
            return Err(format!(
                "BAR{index} cannot be mapped (flags {:#x}, size {:#x})",
                region.flags, region.size
            ));
        }
        let len = usize::try_from(region.size).map_err(|_| "BAR too large")?;
        // SAFETY: mapping a device region with a fresh address; the kernel validates the
        // offset and length against the region.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                self.device.as_raw_fd(),
                region.offset as libc::off_t,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(format!(
                "mmap of BAR{index}: {}",
                io::Error::last_os_error()
            ));
        }
        Ok(Bar {
            ptr: NonNull::new(ptr.cast()).expect("mmap does not return null on success"),
            len,
        })
    }
}

/// A mapped BAR, accessed with 32-bit volatile loads and stores.
pub struct Bar {
    ptr: NonNull<u8>,
    len: usize,
}

impl Bar {
    /// The BAR's size in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    fn register(&self, offset: usize) -> *mut u32 {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.len,
            "register offset {offset:#x} outside the {:#x}-byte BAR",
            self.len
        );
        // SAFETY: in bounds, as just checked.
        unsafe { self.ptr.as_ptr().add(offset).cast() }
    }

    /// Reads the 32-bit register at `offset`.
    pub fn read32(&self, offset: usize) -> u32 {
        // SAFETY: an aligned, in-bounds address inside a live device mapping.
        unsafe { self.register(offset).read_volatile() }
    }

    /// Writes the 32-bit register at `offset`.
    pub fn write32(&self, offset: usize, value: u32) {
        // SAFETY: an aligned, in-bounds address inside a live device mapping.
        unsafe { self.register(offset).write_volatile(value) }
    }
}

impl Drop for Bar {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping created in `map_bar`, which nothing else uses.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}
