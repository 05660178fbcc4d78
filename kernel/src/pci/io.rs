//! PCI BARs and configuration space.
//!
//! Mirrors `rust/kernel/pci/io.rs` of Linux 7.3.

use super::Device;
use crate::{
    device,
    devres::DevresLt,
    io::{IoBackend, IoBase, IoCapable, Mmio, MmioBackend, MmioRaw, Region},
    prelude::*,
    ptr::KnownSize,
    types::{CovariantForLt, ForLt},
};

/// The size of a function's configuration space.
///
/// Mirrors `kernel::pci::ConfigSpaceSize`.
#[repr(usize)]
#[derive(Eq, PartialEq)]
pub enum ConfigSpaceSize {
    /// The 256-byte space of conventional PCI.
    Normal = 256,
    /// The 4096-byte extended space of PCI Express.
    Extended = 4096,
}

impl ConfigSpaceSize {
    /// Returns the size in bytes.
    #[inline(always)]
    pub const fn into_raw(self) -> usize {
        self as usize
    }
}

/// The 256-byte conventional configuration space.
///
/// Mirrors `kernel::pci::Normal`.
pub type Normal = Region<256>;

/// The 4096-byte extended configuration space.
///
/// Mirrors `kernel::pci::Extended`.
pub type Extended = Region<4096>;

/// A view of a device's configuration space, or of a typed part of it.
///
/// Mirrors `kernel::pci::ConfigSpace`: it implements `kernel::io::Io` with 8-, 16- and 32-bit
/// accessors, so config registers are read with `read8`/`read16`/`read32` or with `register!`
/// types. As in the kernel, the infallible accessors ignore failures of the underlying access; a
/// failed read returns all ones and is logged by the host machinery.
///
/// # Invariants
///
/// `ptr`'s address is an offset into configuration space, aligned, and the range
/// `offset..offset + KnownSize::size(ptr)` is inside `0..pdev.cfg_size()`.
pub struct ConfigSpace<'a, T: ?Sized = Extended> {
    pub(crate) pdev: &'a Device<device::Bound>,
    ptr: *mut T,
}

impl<T: ?Sized> Copy for ConfigSpace<'_, T> {}
impl<T: ?Sized> Clone for ConfigSpace<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

// SAFETY: `ConfigSpace<'_, T>` is conceptually a `&T` in configuration space.
unsafe impl<T: ?Sized + Sync> Send for ConfigSpace<'_, T> {}
// SAFETY: as above.
unsafe impl<T: ?Sized + Sync> Sync for ConfigSpace<'_, T> {}

/// The I/O backend of configuration space.
///
/// Mirrors `kernel::pci::ConfigSpaceBackend` (not re-exported by `kernel::pci`, as in the
/// kernel).
pub struct ConfigSpaceBackend;

impl IoBackend for ConfigSpaceBackend {
    type View<'a, T: ?Sized + KnownSize> = ConfigSpace<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: ConfigSpace<'a, T>) -> *mut T {
        view.ptr
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        // INVARIANT: `ptr` is a projection of `view` (the safety requirement), so it stays inside
        // configuration space.
        ConfigSpace {
            pdev: view.pdev,
            ptr,
        }
    }
}

/// Implements [`IoCapable`] on the configuration space backend for one width.
macro_rules! impl_config_space_io_capable {
    ($ty:ty) => {
        impl IoCapable<$ty> for ConfigSpaceBackend {
            fn io_read(view: ConfigSpace<'_, $ty>) -> $ty {
                // CAST: configuration space offsets are below 4096 (type invariant).
                let offset = view.ptr.addr() as u16;
                <$ty>::from_le_bytes(view.pdev.raw().config_read(offset))
            }

            fn io_write(view: ConfigSpace<'_, $ty>, value: $ty) {
                // CAST: as above.
                let offset = view.ptr.addr() as u16;
                if let Err(err) = view.pdev.raw().config_write(offset, value.to_le_bytes()) {
                    // Infallible, as the kernel's accessor: the failure is only reported.
                    dev_err!(view.pdev, "config write at {:#x} failed: {}\n", offset, err);
                }
            }
        }
    };
}

impl_config_space_io_capable!(u8);
impl_config_space_io_capable!(u16);
impl_config_space_io_capable!(u32);

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for ConfigSpace<'a, T> {
    type Backend = ConfigSpaceBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> ConfigSpace<'a, T> {
        self
    }
}

/// A mapped PCI BAR, whose region is claimed for the driver while the `Bar` lives.
///
/// Mirrors `kernel::pci::Bar`. `SIZE` is the size the driver needs: accesses below it are checked
/// when the driver is built, others at run time; mapping fails with `EINVAL` if the BAR is
/// smaller. Registers are little-endian, as on the bus.
///
/// # Invariants
///
/// `io` describes the mapping of BAR `num` of `pdev`, claimed with a region request, valid until
/// the `Bar` is dropped.
pub struct Bar<'a, const SIZE: usize = 0> {
    pdev: &'a Device<device::Bound>,
    io: MmioRaw<Region<SIZE>>,
    num: i32,
}

impl<const SIZE: usize> ForLt for Bar<'static, SIZE> {
    type Of<'a> = Bar<'a, SIZE>;
}

// SAFETY: `Bar<'a, SIZE>` is covariant in `'a`: it holds a `&'a Device<Bound>`.
unsafe impl<const SIZE: usize> CovariantForLt for Bar<'static, SIZE> {}

/// A device-managed BAR mapping, which may outlive the probe's borrow.
///
/// Mirrors `kernel::pci::DevresBar`; see [`Bar::into_devres`].
pub type DevresBar<const SIZE: usize = 0> = DevresLt<Bar<'static, SIZE>>;

impl<'a, const SIZE: usize> Bar<'a, SIZE> {
    pub(super) fn new(
        pdev: &'a Device<device::Bound>,
        num: u32,
        name: &'static CStr,
    ) -> Result<Self> {
        let len = pdev.resource_len(num)?;
        if len == 0 {
            return Err(ENOMEM);
        }
        let raw = pdev.raw();
        raw.request_region(num, name)?;
        let num = i32::try_from(num)?;
        let (addr, mapped) = match raw.iomap(num as u32) {
            Ok(mapping) => mapping,
            Err(err) => {
                raw.release_region(num as u32);
                dev_err!(pdev, "mapping BAR {} failed: {:?}\n", num, err);
                return Err(ENOMEM);
            }
        };
        let io = match MmioRaw::new_region(addr, mapped) {
            Ok(io) => io,
            Err(err) => {
                // SAFETY: `addr` is the mapping of BAR `num` just made.
                unsafe { Self::do_release(pdev, addr, num) };
                return Err(err);
            }
        };
        // INVARIANT: the region is claimed and mapped at `io`.
        Ok(Bar { pdev, io, num })
    }

    /// Unmaps BAR `num` at `ioptr` and releases its region.
    ///
    /// # Safety
    ///
    /// `ioptr` must be the mapping of BAR `num` of `pdev`, which nothing uses any more.
    unsafe fn do_release(pdev: &Device, ioptr: usize, num: i32) {
        pdev.raw().iounmap(ioptr);
        pdev.raw().release_region(num as u32);
    }

    fn release(&self) {
        // SAFETY: by the type invariant, `self.io` is the mapping of BAR `self.num`, and `self` is
        // being dropped.
        unsafe { Self::do_release(self.pdev, self.io.addr(), self.num) };
    }

    /// Turns the `Bar` into a device-managed resource, which can be stored beyond the probe's
    /// borrow; access to it is revoked when the device is unbound.
    pub fn into_devres(self) -> Result<DevresBar<SIZE>> {
        let pdev = self.pdev;
        // SAFETY: the `Bar` holds only the device (bound for as long as the devres lives) and a
        // mapping released with it, so extending its lifetime to the devres's is sound.
        unsafe { DevresLt::new(pdev.as_ref(), self) }
    }
}

impl Bar<'_> {
    /// Whether `index` names a resource of a PCI function.
    #[inline]
    pub(super) fn index_is_valid(index: u32) -> bool {
        index < crate::bindings::PCI_NUM_RESOURCES
    }
}

impl<const SIZE: usize> Drop for Bar<'_, SIZE> {
    fn drop(&mut self) {
        self.release();
    }
}

impl<'a, const SIZE: usize> IoBase<'a> for &'a Bar<'_, SIZE> {
    type Backend = MmioBackend;
    type Target = Region<SIZE>;

    #[inline]
    fn as_view(self) -> Mmio<'a, Self::Target> {
        // SAFETY: by the type invariant, `self.io` is mapped while `self` lives.
        unsafe { Mmio::from_raw(self.io) }
    }
}

impl Device<device::Bound> {
    /// Claims and maps BAR `bar`; accesses below `SIZE` are checked when the driver is built.
    ///
    /// Fails with `EINVAL` for an invalid BAR or one smaller than `SIZE`, `ENOMEM` for an absent
    /// BAR, and `EBUSY` if the BAR is already claimed.
    pub fn iomap_region_sized<'a, const SIZE: usize>(
        &'a self,
        bar: u32,
        name: &'static CStr,
    ) -> Result<Bar<'a, SIZE>> {
        Bar::new(self, bar, name)
    }

    /// Claims and maps BAR `bar`, with runtime-checked accesses only.
    pub fn iomap_region<'a>(&'a self, bar: u32, name: &'static CStr) -> Result<Bar<'a>> {
        self.iomap_region_sized::<0>(bar, name)
    }

    /// Returns the size of the configuration space.
    pub fn cfg_size(&self) -> ConfigSpaceSize {
        match self.raw().cfg_size() {
            4096 => ConfigSpaceSize::Extended,
            _ => ConfigSpaceSize::Normal,
        }
    }

    /// Returns a view of the first 256 bytes of configuration space.
    pub fn config_space<'a>(&'a self) -> ConfigSpace<'a, Normal> {
        // INVARIANT: offset 0 (a null address) is aligned, and the size is the space's.
        ConfigSpace {
            pdev: self,
            ptr: Normal::ptr_from_raw_parts_mut(core::ptr::null_mut(), 256),
        }
    }

    /// Returns a view of the extended (4096-byte) configuration space; `EINVAL` for a function
    /// without one.
    pub fn config_space_extended<'a>(&'a self) -> Result<ConfigSpace<'a, Extended>> {
        if self.cfg_size() != ConfigSpaceSize::Extended {
            return Err(EINVAL);
        }
        // INVARIANT: offset 0 is aligned, and the space is 4096 bytes (checked above).
        Ok(ConfigSpace {
            pdev: self,
            ptr: Extended::ptr_from_raw_parts_mut(core::ptr::null_mut(), 4096),
        })
    }
}
