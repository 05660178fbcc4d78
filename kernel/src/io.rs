//! Memory-mapped I/O: typed views of device registers and DMA memory.
//!
//! Mirrors `rust/kernel/io.rs` of Linux 7.3. The same traits and types, with the same checks:
//!
//! - an I/O *view* is a cheap copyable handle on a region, typed by what the region holds: an
//!   untyped [`Region`] (a BAR, a configuration space), a struct, an array or a slice;
//! - an [`IoBackend`] says how a view is projected to a part of it, [`IoCapable<T>`] whether and
//!   how a value of type `T` is read and written in one access, [`IoCopyable`] how bytes are
//!   copied;
//! - [`Io`] gives every view (every [`IoBase`]) the accessors: `read32(offset)` and friends, whose
//!   offset is checked at build time, `try_read32(offset)` and friends, checked at run time
//!   (`EINVAL`), typed [`register!`] access, and `read_val`/`copy_read` on projected views;
//! - [`io_project!`], [`io_read!`] and [`io_write!`] project a view to a field or element.
//!
//! The backends are [`Mmio`] (ordered accesses, `readl()`/`writel()`), [`RelaxedMmio`] (relaxed
//! accesses, `readl_relaxed()`...), [`SysMem`] (plain memory shared with a device, such as a DMA
//! coherent buffer) and [`IoSysMap`] (either of `Mmio` and `SysMem`).
//!
//! Differences from the kernel:
//!
//! - [`Mmio`]'s accesses go through the host machinery (`drydock_host::mmio`) instead of the C
//!   `readl()` family: a BAR mapped into the process is accessed with volatile loads and stores, and
//!   a *trapped* region (a simulated device, or a VFIO region reached by `pread`/`pwrite`) is
//!   routed to its handler;
//! - [`MmioRaw::new`] gives its pointer the exposed provenance of the address, since in userspace
//!   the access really dereferences it;
//! - the build-time offset checks need optimisation (opt-level 1 or more), as
//!   [`build_assert!`](crate::build_assert::build_assert) explains;
//! - `io::mem` (`IoMem`, `IoRequest`: platform-device memory resources) is not mirrored: drydock
//!   has no platform bus.

use core::marker::PhantomData;
use core::mem::MaybeUninit;

use zerocopy::{FromBytes, IntoBytes};

use crate::{
    bindings,
    build_assert::{build_assert, const_assert},
    error::{code::EINVAL, Result},
    ptr::{Alignment, KnownSize},
};
use drydock_host::mmio;

pub mod poll;
pub mod register;
pub mod resource;

pub use crate::register;
pub use resource::Resource;

use register::LocatedRegister;

/// A physical address, as the C `phys_addr_t`.
///
/// Mirrors `kernel::io::PhysAddr`; `u64` here.
pub type PhysAddr = bindings::phys_addr_t;

/// The size of a bus resource, as the C `resource_size_t`.
///
/// Mirrors `kernel::io::ResourceSize`; `u64` here.
pub type ResourceSize = bindings::resource_size_t;

/// An untyped I/O region of at least `SIZE` bytes (its real size is known at run time).
///
/// Mirrors `kernel::io::Region`: the target type of a PCI BAR (`pci::Bar<SIZE>`) and of the PCI
/// configuration space. `SIZE` is what the accessors check offsets against at build time; the
/// run-time checked accessors use the real size. A region is only known to be 4-byte aligned
/// ([`KnownSize::MIN_ALIGN`]), so a 64-bit access on one fails the build, as in the kernel.
///
/// # Invariants
///
/// - The region's size is at least `SIZE`.
/// - The region's size is a multiple of 4.
#[repr(C, align(4))]
#[derive(FromBytes)]
pub struct Region<const SIZE: usize = 0> {
    inner: [u8],
}

impl<const SIZE: usize> Region<SIZE> {
    /// Returns a raw pointer to the region of `size` bytes at `base`, without checks.
    ///
    /// The pointer is only a valid region pointer if `size >= SIZE` and `base` and `size` are
    /// multiples of 4; creating one that is not is allowed (as for any raw pointer), using it is
    /// not.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::Region;
    ///
    /// let region = Region::<16>::ptr_from_raw_parts_mut(core::ptr::dangling_mut(), 32);
    /// assert_eq!((region as *mut [u8]).len(), 32);
    /// ```
    #[inline]
    pub fn ptr_from_raw_parts_mut(base: *mut u8, size: usize) -> *mut Self {
        core::ptr::slice_from_raw_parts_mut(base, size) as *mut Self
    }

    /// Returns a raw pointer to the region of `size` bytes at `base`, or `EINVAL` if `size` is
    /// smaller than `SIZE` or `base` or `size` is not a multiple of 4.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{error::code::EINVAL, io::Region};
    ///
    /// let base = core::ptr::without_provenance_mut::<u8>(0x1000);
    /// assert!(Region::<16>::ptr_try_from_raw_parts_mut(base, 16).is_ok());
    /// assert_eq!(Region::<16>::ptr_try_from_raw_parts_mut(base, 8).err(), Some(EINVAL));
    /// assert_eq!(Region::<16>::ptr_try_from_raw_parts_mut(base, 18).err(), Some(EINVAL));
    /// ```
    #[inline]
    pub fn ptr_try_from_raw_parts_mut(base: *mut u8, size: usize) -> Result<*mut Self> {
        if size < SIZE || !base.addr().is_multiple_of(4) || !size.is_multiple_of(4) {
            return Err(EINVAL);
        }
        Ok(Self::ptr_from_raw_parts_mut(base, size))
    }
}

impl<const SIZE: usize> KnownSize for Region<SIZE> {
    const MIN_SIZE: usize = SIZE;
    const MIN_ALIGN: Alignment = Alignment::new::<4>();

    #[inline(always)]
    fn size(p: *const Self) -> usize {
        (p as *const [u8]).len()
    }
}

// SAFETY: A region's bytes are always initialised (they are read from I/O), and by the type
// invariant its size is a multiple of its alignment, 4, so it has no padding. The derive cannot
// know the latter, hence this manual implementation.
unsafe impl<const SIZE: usize> IntoBytes for Region<SIZE> {
    // The method is only callable for sized types; the trait requires it all the same.
    #[allow(dead_code)]
    fn only_derive_is_allowed_to_implement_this_trait() {}
}

/// The address of an MMIO region, not yet known to be mapped: the C `T __iomem *`.
///
/// Mirrors `kernel::io::MmioRaw`. Holding one guarantees nothing; the bus code that mapped the
/// region turns it into an [`Mmio`] view (with [`Mmio::from_raw`]) while the mapping lives.
pub struct MmioRaw<T: ?Sized> {
    /// The region's I/O address and, for slices and regions, its length.
    ptr: *mut T,
}

impl<T: ?Sized> Copy for MmioRaw<T> {}

impl<T: ?Sized> Clone for MmioRaw<T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

// SAFETY: An `MmioRaw` is an address and a length; it grants no access by itself.
unsafe impl<T: ?Sized> Send for MmioRaw<T> {}

// SAFETY: An `MmioRaw` is an address and a length; it grants no access by itself.
unsafe impl<T: ?Sized> Sync for MmioRaw<T> {}

impl<T> MmioRaw<T> {
    /// Returns the raw MMIO address `addr` of a `T`.
    ///
    /// Differs from the kernel, whose pointer carries no provenance (it is never dereferenced by
    /// Rust there): here the accessors really dereference the pointer of a mapped BAR, so it takes
    /// the exposed provenance of `addr` ([`core::ptr::with_exposed_provenance_mut`]). The code that
    /// mapped the region must have exposed it (as `mmap`'s result, or
    /// `expose_provenance()` on a pointer to the memory, does).
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::MmioRaw;
    ///
    /// let raw = MmioRaw::<u32>::new(0x1000);
    /// assert_eq!(raw.addr(), 0x1000);
    /// assert_eq!(raw.size(), 4);
    /// ```
    #[inline]
    pub fn new(addr: usize) -> Self {
        Self {
            ptr: core::ptr::with_exposed_provenance_mut(addr),
        }
    }
}

impl<const SIZE: usize> MmioRaw<Region<SIZE>> {
    /// Returns the raw MMIO region of `size` bytes at `addr`, or `EINVAL` if `size` is smaller
    /// than `SIZE` or `addr` or `size` is not a multiple of 4.
    ///
    /// Differs from the kernel as [`MmioRaw::new`] does: the pointer has the exposed provenance
    /// of `addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::{error::code::EINVAL, io::{MmioRaw, Region}};
    ///
    /// let bar = MmioRaw::<Region<0x100>>::new_region(0x10_0000, 0x1000)?;
    /// assert_eq!((bar.addr(), bar.size()), (0x10_0000, 0x1000));
    /// assert_eq!(MmioRaw::<Region<0x100>>::new_region(0x10_0000, 0x80).err(), Some(EINVAL));
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline]
    pub fn new_region(addr: usize, size: usize) -> Result<Self> {
        Ok(Self {
            ptr: Region::ptr_try_from_raw_parts_mut(
                core::ptr::with_exposed_provenance_mut(addr),
                size,
            )?,
        })
    }
}

impl<T: ?Sized + KnownSize> MmioRaw<T> {
    /// Returns the address of the region's first byte.
    #[inline]
    pub fn addr(&self) -> usize {
        self.ptr.addr()
    }

    /// Returns the size of the region in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        KnownSize::size(self.ptr)
    }
}

/// `true` if a `U` at `offset` lies within `size` bytes and is aligned for `U`, given that the
/// region starts at address `base` (pass 0 to check the offset's alignment only).
#[inline(always)]
const fn offset_valid<U>(base: usize, offset: usize, size: usize) -> bool {
    match offset.checked_add(size_of::<U>()) {
        Some(end) => end <= size && base.wrapping_add(offset).is_multiple_of(align_of::<U>()),
        None => false,
    }
}

/// Returns the view of the `U` at `offset` of `io`, checking the access at build time: the
/// alignment of `U` against the region's known alignment (a compile-time error), and the offset
/// against its known minimal size and `U`'s alignment (a link-time error).
#[inline(always)]
fn io_view_assert<'a, IO: Io<'a>, U>(
    io: IO,
    offset: usize,
) -> <IO::Backend as IoBackend>::View<'a, U> {
    // The region's base address is not known at build time; its known alignment is, and an
    // offset that is a multiple of `U`'s alignment keeps a base aligned that much aligned for `U`.
    const_assert!(
        Alignment::of::<U>().as_usize() <= IO::Target::MIN_ALIGN.as_usize(),
        "the access is wider than the I/O region's alignment"
    );
    build_assert!(
        offset_valid::<U>(0, offset, IO::Target::MIN_SIZE),
        "the I/O access is out of the region's bounds or misaligned"
    );
    let view = io.as_view();
    let ptr = IO::Backend::as_ptr(view)
        .cast::<U>()
        .wrapping_byte_add(offset);
    // SAFETY: The access lies within the region's minimal size and is aligned, checked above.
    unsafe { IO::Backend::project_view(view, ptr) }
}

/// Returns the view of the `U` at `offset` of `io`, or `EINVAL` if it is out of the region's
/// bounds or misaligned.
#[inline(always)]
fn io_view<'a, IO: Io<'a>, U>(
    io: IO,
    offset: usize,
) -> Result<<IO::Backend as IoBackend>::View<'a, U>> {
    let view = io.as_view();
    let base = IO::Backend::as_ptr(view);
    if !offset_valid::<U>(base.addr(), offset, KnownSize::size(base)) {
        return Err(EINVAL);
    }
    let ptr = base.cast::<U>().wrapping_byte_add(offset);
    // SAFETY: The access lies within the region and is aligned, checked above.
    Ok(unsafe { IO::Backend::project_view(view, ptr) })
}

/// How views of one kind of I/O (MMIO, configuration space, system memory...) are projected.
///
/// Mirrors `kernel::io::IoBackend`. Which accesses a backend supports is said by its
/// [`IoCapable`] and [`IoCopyable`] implementations.
pub trait IoBackend {
    /// The view type of this backend, for a region holding a `T`.
    type View<'a, T: ?Sized + KnownSize>: IoBase<'a, Backend = Self, Target = T>;

    /// Returns the pointer that describes `view` (address and length), for projection.
    ///
    /// It belongs to the backend and need not be dereferenceable (it may be an offset into a
    /// configuration space); do not dereference it.
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: Self::View<'a, T>) -> *mut T;

    /// Returns the view of the part of `view` that `ptr` describes.
    ///
    /// The result is valid if `view` is.
    ///
    /// # Safety
    ///
    /// `ptr` must be a projection of `Self::as_ptr(view)`: it describes an object lying within
    /// the one that pointer describes.
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U>;
}

/// A backend that reads and writes values of type `T` in one access.
///
/// Mirrors `kernel::io::IoCapable`. MMIO implements it for `u8`, `u16`, `u32` and `u64`; the PCI
/// configuration space for `u8`, `u16` and `u32` only.
pub trait IoCapable<T>: IoBackend {
    /// Reads the `T` at `view`.
    fn io_read<'a>(view: Self::View<'a, T>) -> T;

    /// Writes `value` at `view`.
    fn io_write<'a>(view: Self::View<'a, T>, value: T);
}

/// A backend that copies bytes to and from its regions.
///
/// Mirrors `kernel::io::IoCopyable`, with the same provided methods.
pub trait IoCopyable: IoBackend {
    /// Copies the bytes of `view` to `buffer`.
    ///
    /// # Safety
    ///
    /// - `buffer` must be valid for volatile writes of `view.size()` bytes.
    /// - `buffer` must not overlap `view`.
    unsafe fn copy_from_io(view: Self::View<'_, [u8]>, buffer: *mut u8);

    /// Copies `view.size()` bytes from `buffer` to `view`.
    ///
    /// # Safety
    ///
    /// - `buffer` must be valid for volatile reads of `view.size()` bytes.
    /// - `buffer` must not overlap `view`.
    unsafe fn copy_to_io(view: Self::View<'_, [u8]>, buffer: *const u8);

    /// Reads the `T` at `view` with a byte copy (no byte swapping, no single-access guarantee).
    #[inline]
    fn copy_read<T: FromBytes>(view: Self::View<'_, T>) -> T {
        let bytes =
            core::ptr::slice_from_raw_parts_mut(Self::as_ptr(view).cast::<u8>(), size_of::<T>());
        // SAFETY: The bytes of a `T` are the `T` itself: an identity projection.
        let bytes = unsafe { Self::project_view(view, bytes) };
        let mut value = MaybeUninit::<T>::uninit();
        // SAFETY: `value` is a local, so it is valid for `size_of::<T>()` bytes of writes and
        // cannot overlap the I/O region.
        unsafe { Self::copy_from_io(bytes, value.as_mut_ptr().cast()) };
        // SAFETY: Every byte of `value` was written, and every bit pattern is a `T: FromBytes`.
        unsafe { value.assume_init() }
    }

    /// Writes `value` at `view` with a byte copy (no byte swapping, no single-access guarantee).
    ///
    /// `value` is not dropped, as with [`zerocopy::transmute`].
    #[inline]
    fn copy_write<T: IntoBytes>(view: Self::View<'_, T>, value: T) {
        let bytes =
            core::ptr::slice_from_raw_parts_mut(Self::as_ptr(view).cast::<u8>(), size_of::<T>());
        // SAFETY: The bytes of a `T` are the `T` itself: an identity projection.
        let bytes = unsafe { Self::project_view(view, bytes) };
        let value = core::mem::ManuallyDrop::new(value);
        // SAFETY: `value` is a local of `size_of::<T>()` initialised bytes (`T: IntoBytes`), so it
        // is valid for reads and cannot overlap the I/O region.
        unsafe { Self::copy_to_io(bytes, (&raw const value).cast()) };
    }
}

/// A location in an I/O region whose base type is `Base`: an offset, the width of the access
/// ([`IoLoc::IoType`]) and the type `T` the value is converted from and to.
///
/// Mirrors `kernel::io::IoLoc`. A `usize` is the location of a `u8`, `u16`, `u32` or `u64` at that
/// offset of a [`Region`]; a [`register!`] type (or its location constant) is the location of the
/// register, with `T` the register type and `IoType` its storage.
pub trait IoLoc<Base: ?Sized, T> {
    /// The primitive read or written at the location.
    type IoType: Into<T> + From<T>;

    /// Returns the offset of the location in the region.
    fn offset(self) -> usize;
}

macro_rules! impl_usize_ioloc {
    ($($int:ty),*) => {$(
        /// A `usize` is the offset of a primitive in a [`Region`].
        impl<const SIZE: usize> IoLoc<Region<SIZE>, $int> for usize {
            type IoType = $int;

            #[inline(always)]
            fn offset(self) -> usize {
                self
            }
        }
    )*};
}

impl_usize_ioloc!(u8, u16, u32, u64);

/// A handle on an I/O region (a view, or a reference to a BAR...) that selects its backend.
///
/// Mirrors `kernel::io::IoBase`. Implement it on cheap copyable handles; the accessors come from
/// [`Io`], implemented for every `IoBase`.
pub trait IoBase<'a>: Copy {
    /// The backend that performs the accesses.
    type Backend: IoBackend;

    /// What the region holds; [`Region`] for untyped regions.
    type Target: ?Sized + KnownSize;

    /// Returns the view of the whole region.
    fn as_view(self) -> <Self::Backend as IoBackend>::View<'a, Self::Target>;
}

/// The accessors of every I/O region.
///
/// Mirrors `kernel::io::Io`, with the same methods; implemented for every [`IoBase`] (and only
/// through that blanket implementation, so the methods cannot be overridden).
///
/// - `readN`/`writeN`, [`read`](Io::read), [`write`](Io::write), [`write_reg`](Io::write_reg)
///   and [`update`](Io::update) check the access at build time: the offset must be a constant (or
///   provably in range), inside the region's minimal size `SIZE` and aligned for the access, and
///   the access no wider than the region's alignment; otherwise the build fails.
/// - `try_readN`/`try_writeN`, [`try_read`](Io::try_read), [`try_write`](Io::try_write),
///   [`try_write_reg`](Io::try_write_reg) and [`try_update`](Io::try_update) check at run time
///   against the real size and address, and return `EINVAL` for an access out of bounds or
///   misaligned.
///
/// Which widths are available depends on the backend's [`IoCapable`] implementations.
///
/// # Examples
///
/// ```
/// use kernel::io::{Io, Mmio, Region};
/// use kernel::prelude::*;
///
/// fn reset(io: Mmio<'_, Region<0x100>>) -> Result {
///     io.write32(1, 0x10);
///     assert_eq!(io.read32(0x10), 1);
///     io.update(0x10, |v: u32| v | 0x100);
///     // Past the 0x100 bytes known at build time, the access is checked at run time.
///     io.try_write32(2, 0x400)?;
///     assert_eq!(io.try_read32(0x800), Err(EINVAL));
///     assert_eq!(io.try_read32(0x12), Err(EINVAL));
///     Ok(())
/// }
/// # let mut bar = vec![0u32; 0x800 / 4];
/// # let raw = kernel::io::MmioRaw::<Region<0x100>>::new_region(
/// #     bar.as_mut_ptr().expose_provenance(), 0x800)?;
/// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
/// # reset(unsafe { Mmio::from_raw(raw) })?;
/// # assert_eq!((bar[4], bar[0x100]), (0x101, 2));
/// # Ok::<(), kernel::error::Error>(())
/// ```
pub trait Io<'a>: IoBase<'a> {
    /// Returns the size of the region in bytes.
    #[inline]
    fn size(self) -> usize {
        KnownSize::size(Self::Backend::as_ptr(self.as_view()))
    }

    /// Returns the number of elements of a slice region.
    #[inline]
    fn len<T>(self) -> usize
    where
        Self: Io<'a, Target = [T]>,
    {
        Self::Backend::as_ptr(self.as_view()).len()
    }

    /// Returns `true` if a slice region has no element.
    #[inline]
    fn is_empty<T>(self) -> bool
    where
        Self: Io<'a, Target = [T]>,
    {
        self.len() == 0
    }

    /// Returns the view of the region's start as a `U`, or `EINVAL` if the region is smaller than
    /// a `U` or not aligned for it.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::{Io, Mmio, Region};
    /// use kernel::prelude::*;
    ///
    /// #[derive(FromBytes, IntoBytes)]
    /// #[repr(C)]
    /// struct Header { magic: u32, version: u32 }
    ///
    /// fn header(io: Mmio<'_, Region>) -> Result<Mmio<'_, Header>> {
    ///     io.try_cast()
    /// }
    /// # let mut bar = [0x1234_5678u32, 2];
    /// # let raw = kernel::io::MmioRaw::<Region>::new_region(bar.as_mut_ptr().expose_provenance(), 8)?;
    /// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
    /// # let io = unsafe { Mmio::from_raw(raw) };
    /// # assert_eq!(kernel::io::io_read!(header(io)?, .magic), 0x1234_5678);
    /// # assert!(io.try_cast::<[u32; 3]>().is_err());
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline]
    fn try_cast<U>(self) -> Result<<Self::Backend as IoBackend>::View<'a, U>>
    where
        Self::Target: FromBytes + IntoBytes,
        U: FromBytes + IntoBytes,
    {
        let view = self.as_view();
        let ptr = Self::Backend::as_ptr(view);
        if size_of::<U>() > KnownSize::size(ptr) || !ptr.addr().is_multiple_of(align_of::<U>()) {
            return Err(EINVAL);
        }
        // SAFETY: The `U` lies within the region and is aligned, checked above.
        Ok(unsafe { Self::Backend::project_view(view, ptr.cast()) })
    }

    /// Reads the value of a view of a primitive, in one access.
    #[inline]
    fn read_val(self) -> Self::Target
    where
        Self::Backend: IoCapable<Self::Target>,
        Self::Target: Sized,
    {
        Self::Backend::io_read(self.as_view())
    }

    /// Writes the value of a view of a primitive, in one access.
    #[inline]
    fn write_val(self, value: Self::Target)
    where
        Self::Backend: IoCapable<Self::Target>,
        Self::Target: Sized,
    {
        Self::Backend::io_write(self.as_view(), value)
    }

    /// Reads the value of a view by copying its bytes.
    ///
    /// Unlike [`read_val`](Io::read_val), the read is not one access and bytes are not swapped
    /// (on `Mmio`, `read_val` of a `u32` is `readl()`, little-endian).
    #[inline]
    fn copy_read(self) -> Self::Target
    where
        Self::Backend: IoCopyable,
        Self::Target: Sized + FromBytes,
    {
        Self::Backend::copy_read(self.as_view())
    }

    /// Writes the value of a view by copying its bytes.
    ///
    /// Unlike [`write_val`](Io::write_val), the write is not one access and bytes are not
    /// swapped.
    #[inline]
    fn copy_write(self, value: Self::Target)
    where
        Self::Backend: IoCopyable,
        Self::Target: Sized + IntoBytes,
    {
        Self::Backend::copy_write(self.as_view(), value)
    }

    /// Copies `data` into a byte-slice view.
    ///
    /// # Panics
    ///
    /// Panics if `data` and the view differ in length, as [`<[u8]>::copy_from_slice`] does.
    #[inline]
    fn copy_from_slice(self, data: &[u8])
    where
        Self::Backend: IoCopyable,
        Self: Io<'a, Target = [u8]>,
    {
        assert_eq!(
            self.len(),
            data.len(),
            "the I/O view and the slice differ in length"
        );
        // SAFETY: `data` is valid for reads of its length, the view's size; a shared slice of
        // memory cannot overlap an I/O region the view grants access to.
        unsafe { Self::Backend::copy_to_io(self.as_view(), data.as_ptr()) }
    }

    /// Copies a byte-slice view into `data`.
    ///
    /// # Panics
    ///
    /// Panics if `data` and the view differ in length, as [`<[u8]>::copy_from_slice`] does.
    #[inline]
    fn copy_to_slice(self, data: &mut [u8])
    where
        Self::Backend: IoCopyable,
        Self: Io<'a, Target = [u8]>,
    {
        assert_eq!(
            self.len(),
            data.len(),
            "the I/O view and the slice differ in length"
        );
        // SAFETY: `data` is valid for writes of its length, the view's size; an exclusive slice of
        // memory cannot overlap an I/O region the view grants access to.
        unsafe { Self::Backend::copy_from_io(self.as_view(), data.as_mut_ptr()) }
    }

    /// Reads the `u8` at `offset`, or `EINVAL` if it is out of bounds.
    #[inline(always)]
    fn try_read8(self, offset: usize) -> Result<u8>
    where
        usize: IoLoc<Self::Target, u8, IoType = u8>,
        Self::Backend: IoCapable<u8>,
    {
        self.try_read(offset)
    }

    /// Reads the `u16` at `offset`, or `EINVAL` if it is out of bounds or misaligned.
    #[inline(always)]
    fn try_read16(self, offset: usize) -> Result<u16>
    where
        usize: IoLoc<Self::Target, u16, IoType = u16>,
        Self::Backend: IoCapable<u16>,
    {
        self.try_read(offset)
    }

    /// Reads the `u32` at `offset`, or `EINVAL` if it is out of bounds or misaligned.
    #[inline(always)]
    fn try_read32(self, offset: usize) -> Result<u32>
    where
        usize: IoLoc<Self::Target, u32, IoType = u32>,
        Self::Backend: IoCapable<u32>,
    {
        self.try_read(offset)
    }

    /// Reads the `u64` at `offset`, or `EINVAL` if it is out of bounds or misaligned.
    #[inline(always)]
    fn try_read64(self, offset: usize) -> Result<u64>
    where
        usize: IoLoc<Self::Target, u64, IoType = u64>,
        Self::Backend: IoCapable<u64>,
    {
        self.try_read(offset)
    }

    /// Writes the `u8` `value` at `offset`, or returns `EINVAL` if it is out of bounds.
    #[inline(always)]
    fn try_write8(self, value: u8, offset: usize) -> Result
    where
        usize: IoLoc<Self::Target, u8, IoType = u8>,
        Self::Backend: IoCapable<u8>,
    {
        self.try_write(offset, value)
    }

    /// Writes the `u16` `value` at `offset`, or returns `EINVAL` if it is out of bounds or
    /// misaligned.
    #[inline(always)]
    fn try_write16(self, value: u16, offset: usize) -> Result
    where
        usize: IoLoc<Self::Target, u16, IoType = u16>,
        Self::Backend: IoCapable<u16>,
    {
        self.try_write(offset, value)
    }

    /// Writes the `u32` `value` at `offset`, or returns `EINVAL` if it is out of bounds or
    /// misaligned.
    #[inline(always)]
    fn try_write32(self, value: u32, offset: usize) -> Result
    where
        usize: IoLoc<Self::Target, u32, IoType = u32>,
        Self::Backend: IoCapable<u32>,
    {
        self.try_write(offset, value)
    }

    /// Writes the `u64` `value` at `offset`, or returns `EINVAL` if it is out of bounds or
    /// misaligned.
    #[inline(always)]
    fn try_write64(self, value: u64, offset: usize) -> Result
    where
        usize: IoLoc<Self::Target, u64, IoType = u64>,
        Self::Backend: IoCapable<u64>,
    {
        self.try_write(offset, value)
    }

    /// Reads the `u8` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn read8(self, offset: usize) -> u8
    where
        usize: IoLoc<Self::Target, u8, IoType = u8>,
        Self::Backend: IoCapable<u8>,
    {
        self.read(offset)
    }

    /// Reads the `u16` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn read16(self, offset: usize) -> u16
    where
        usize: IoLoc<Self::Target, u16, IoType = u16>,
        Self::Backend: IoCapable<u16>,
    {
        self.read(offset)
    }

    /// Reads the `u32` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn read32(self, offset: usize) -> u32
    where
        usize: IoLoc<Self::Target, u32, IoType = u32>,
        Self::Backend: IoCapable<u32>,
    {
        self.read(offset)
    }

    /// Reads the `u64` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn read64(self, offset: usize) -> u64
    where
        usize: IoLoc<Self::Target, u64, IoType = u64>,
        Self::Backend: IoCapable<u64>,
    {
        self.read(offset)
    }

    /// Writes the `u8` `value` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn write8(self, value: u8, offset: usize)
    where
        usize: IoLoc<Self::Target, u8, IoType = u8>,
        Self::Backend: IoCapable<u8>,
    {
        self.write(offset, value)
    }

    /// Writes the `u16` `value` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn write16(self, value: u16, offset: usize)
    where
        usize: IoLoc<Self::Target, u16, IoType = u16>,
        Self::Backend: IoCapable<u16>,
    {
        self.write(offset, value)
    }

    /// Writes the `u32` `value` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn write32(self, value: u32, offset: usize)
    where
        usize: IoLoc<Self::Target, u32, IoType = u32>,
        Self::Backend: IoCapable<u32>,
    {
        self.write(offset, value)
    }

    /// Writes the `u64` `value` at the constant `offset`, checked at build time.
    #[inline(always)]
    fn write64(self, value: u64, offset: usize)
    where
        usize: IoLoc<Self::Target, u64, IoType = u64>,
        Self::Backend: IoCapable<u64>,
    {
        self.write(offset, value)
    }

    /// Reads the value at `location`, or returns `EINVAL` if it is out of bounds or misaligned.
    ///
    /// `location` is an offset (with the width given by the result type) or a register location.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::{Io, Mmio, Region};
    /// use kernel::prelude::*;
    ///
    /// fn status(io: Mmio<'_, Region>, offset: usize) -> Result<u16> {
    ///     io.try_read(offset)
    /// }
    /// # let mut bar = [0xabcd_u16, 0, 0, 0];
    /// # let raw = kernel::io::MmioRaw::<Region>::new_region(bar.as_mut_ptr().expose_provenance(), 8)?;
    /// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
    /// # let io = unsafe { Mmio::from_raw(raw) };
    /// # assert_eq!(status(io, 0)?, 0xabcd);
    /// # assert_eq!(status(io, 8), Err(EINVAL));
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline(always)]
    fn try_read<T, L>(self, location: L) -> Result<T>
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        let view = io_view::<Self, L::IoType>(self, location.offset())?;
        Ok(Self::Backend::io_read(view).into())
    }

    /// Writes `value` at `location`, or returns `EINVAL` if it is out of bounds or misaligned.
    #[inline(always)]
    fn try_write<T, L>(self, location: L, value: T) -> Result
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        let view = io_view::<Self, L::IoType>(self, location.offset())?;
        Self::Backend::io_write(view, value.into());
        Ok(())
    }

    /// Writes a register value that carries its own location (a fixed [`register!`]), or returns
    /// `EINVAL` if it is out of bounds.
    #[inline(always)]
    fn try_write_reg<T, L, V>(self, value: V) -> Result
    where
        L: IoLoc<Self::Target, T>,
        V: LocatedRegister<Self::Target, Location = L, Value = T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        let (location, value) = value.into_io_op();
        self.try_write(location, value)
    }

    /// Reads the value at `location`, replaces it with `f` of it, or returns `EINVAL` (without
    /// calling `f`) if it is out of bounds or misaligned.
    ///
    /// Nothing makes the read and the write atomic; serialise them if others access the location.
    #[inline(always)]
    fn try_update<T, L, F>(self, location: L, f: F) -> Result
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
        F: FnOnce(T) -> T,
    {
        let view = io_view::<Self, L::IoType>(self, location.offset())?;
        let value = f(Self::Backend::io_read(view).into());
        Self::Backend::io_write(view, value.into());
        Ok(())
    }

    /// Reads the value at `location`, checked at build time.
    #[inline(always)]
    fn read<T, L>(self, location: L) -> T
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        Self::Backend::io_read(io_view_assert::<Self, L::IoType>(self, location.offset())).into()
    }

    /// Writes `value` at `location`, checked at build time.
    #[inline(always)]
    fn write<T, L>(self, location: L, value: T)
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        let view = io_view_assert::<Self, L::IoType>(self, location.offset());
        Self::Backend::io_write(view, value.into())
    }

    /// Writes a register value that carries its own location (a fixed [`register!`]), checked at
    /// build time.
    #[inline(always)]
    fn write_reg<T, L, V>(self, value: V)
    where
        L: IoLoc<Self::Target, T>,
        V: LocatedRegister<Self::Target, Location = L, Value = T>,
        Self::Backend: IoCapable<L::IoType>,
    {
        let (location, value) = value.into_io_op();
        self.write(location, value)
    }

    /// Reads the value at `location` and replaces it with `f` of it, checked at build time.
    ///
    /// Nothing makes the read and the write atomic; serialise them if others access the location.
    #[inline(always)]
    fn update<T, L, F>(self, location: L, f: F)
    where
        L: IoLoc<Self::Target, T>,
        Self::Backend: IoCapable<L::IoType>,
        F: FnOnce(T) -> T,
    {
        let view = io_view_assert::<Self, L::IoType>(self, location.offset());
        let value = f(Self::Backend::io_read(view).into());
        Self::Backend::io_write(view, value.into())
    }
}

// The only implementation: the provided methods, which the checks above rely on, cannot be
// overridden.
impl<'a, T: IoBase<'a>> Io<'a> for T {}

/// A view of a memory-mapped I/O region holding a `T`, with ordered accessors (`readl()`,
/// `writel()`...).
///
/// Mirrors `kernel::io::Mmio`. Reads are ordered before later memory accesses and writes after
/// earlier ones, so a driver may read a completion status then the DMA buffer it describes, or
/// fill a descriptor then ring a doorbell. Differs in how accesses are made: through
/// `drydock_host::mmio` (volatile accesses on a mapped BAR, or the handler of a trapped region).
///
/// # Invariants
///
/// `ptr` describes a valid, aligned, memory-mapped I/O region (mapped in this process or trapped)
/// for the lifetime `'a`.
pub struct Mmio<'a, T: ?Sized> {
    ptr: *mut T,
    phantom: PhantomData<&'a ()>,
}

impl<T: ?Sized> Copy for Mmio<'_, T> {}

impl<T: ?Sized> Clone for Mmio<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ?Sized> Mmio<'a, T> {
    /// Returns the view of the region `raw` describes.
    ///
    /// # Safety
    ///
    /// `raw` must describe a valid, aligned, memory-mapped I/O region (a BAR mapping of this
    /// process or a live `drydock_host::mmio::TrappedRegion`) for as long as `'a` lasts.
    #[inline]
    pub unsafe fn from_raw(raw: MmioRaw<T>) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            ptr: raw.ptr,
            phantom: PhantomData,
        }
    }

    /// Returns a view of the same region whose accessors are relaxed (`readl_relaxed()`...).
    ///
    /// Relaxed accesses are not ordered against memory accesses (DMA buffers); use them where
    /// that ordering does not matter.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::{Io, Mmio, Region};
    /// use kernel::prelude::*;
    ///
    /// fn counter(io: Mmio<'_, Region<0x100>>) -> u32 {
    ///     io.relaxed().read32(0x10)
    /// }
    /// # let mut bar = [0u32; 0x40];
    /// # bar[4] = 7;
    /// # let raw = kernel::io::MmioRaw::<Region<0x100>>::new_region(
    /// #     bar.as_mut_ptr().expose_provenance(), 0x100)?;
    /// # // SAFETY: `bar` is plain memory standing in for a mapped BAR, alive while `raw` is used.
    /// # assert_eq!(counter(unsafe { Mmio::from_raw(raw) }), 7);
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline]
    pub fn relaxed(self) -> RelaxedMmio<'a, T> {
        RelaxedMmio(self)
    }
}

// SAFETY: An `Mmio<'_, T>` is, in I/O memory, what a `&T` is in memory.
unsafe impl<T: ?Sized + Sync> Send for Mmio<'_, T> {}

// SAFETY: An `Mmio<'_, T>` is, in I/O memory, what a `&T` is in memory.
unsafe impl<T: ?Sized + Sync> Sync for Mmio<'_, T> {}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for Mmio<'a, T> {
    type Backend = MmioBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> Mmio<'a, T> {
        self
    }
}

/// The backend of [`Mmio`]: ordered memory-mapped I/O.
///
/// Mirrors `kernel::io::MmioBackend`.
pub struct MmioBackend;

impl IoBackend for MmioBackend {
    type View<'a, T: ?Sized + KnownSize> = Mmio<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: Mmio<'a, T>) -> *mut T {
        view.ptr
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        _view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        // INVARIANT: By the safety requirements `ptr` lies within `_view`'s region, which is valid
        // for `'a`.
        Mmio {
            ptr,
            phantom: PhantomData,
        }
    }
}

/// Implements [`IoCapable`] for an MMIO backend with the `drydock_host::mmio` accessors given.
macro_rules! impl_mmio_io_capable {
    ($backend:ident, $read:ident, $write:ident: $($int:ty),*) => {$(
        impl IoCapable<$int> for $backend {
            #[inline(always)]
            fn io_read(view: <$backend as IoBackend>::View<'_, $int>) -> $int {
                // SAFETY: By the view's invariant the pointer is an aligned `$int` in a live
                // mapped or trapped I/O region.
                unsafe { mmio::$read($backend::as_ptr(view).cast_const()) }
            }

            #[inline(always)]
            fn io_write(view: <$backend as IoBackend>::View<'_, $int>, value: $int) {
                // SAFETY: By the view's invariant the pointer is an aligned `$int` in a live
                // mapped or trapped I/O region.
                unsafe { mmio::$write($backend::as_ptr(view), value) }
            }
        }
    )*};
}

impl_mmio_io_capable!(MmioBackend, read, write: u8, u16, u32);
// 64-bit accesses exist on 64-bit machines only, as `readq()` in the kernel.
#[cfg(target_pointer_width = "64")]
impl_mmio_io_capable!(MmioBackend, read, write: u64);

impl IoCopyable for MmioBackend {
    #[inline]
    unsafe fn copy_from_io(view: Mmio<'_, [u8]>, buffer: *mut u8) {
        // SAFETY: By the view's invariant its bytes are a live I/O region; the caller guarantees
        // that `buffer` is valid for that many bytes and does not overlap it.
        unsafe { mmio::copy_from_io(buffer, view.ptr.cast_const().cast(), view.size()) }
    }

    #[inline]
    unsafe fn copy_to_io(view: Mmio<'_, [u8]>, buffer: *const u8) {
        // SAFETY: By the view's invariant its bytes are a live I/O region; the caller guarantees
        // that `buffer` is valid for that many bytes and does not overlap it.
        unsafe { mmio::copy_to_io(view.ptr.cast(), buffer, view.size()) }
    }
}

/// An [`Mmio`] view whose accessors are relaxed: not ordered against memory accesses.
///
/// Mirrors `kernel::io::RelaxedMmio`; made by [`Mmio::relaxed`].
pub struct RelaxedMmio<'a, T: ?Sized>(Mmio<'a, T>);

impl<T: ?Sized> Copy for RelaxedMmio<'_, T> {}

impl<T: ?Sized> Clone for RelaxedMmio<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

/// The backend of [`RelaxedMmio`]: relaxed memory-mapped I/O.
///
/// Mirrors `kernel::io::RelaxedMmioBackend`.
pub struct RelaxedMmioBackend;

impl IoBackend for RelaxedMmioBackend {
    type View<'a, T: ?Sized + KnownSize> = RelaxedMmio<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: RelaxedMmio<'a, T>) -> *mut T {
        MmioBackend::as_ptr(view.0)
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        // SAFETY: The caller's guarantee is the one `MmioBackend::project_view` needs.
        RelaxedMmio(unsafe { MmioBackend::project_view(view.0, ptr) })
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for RelaxedMmio<'a, T> {
    type Backend = RelaxedMmioBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> RelaxedMmio<'a, T> {
        self
    }
}

impl_mmio_io_capable!(RelaxedMmioBackend, read_relaxed, write_relaxed: u8, u16, u32);
#[cfg(target_pointer_width = "64")]
impl_mmio_io_capable!(RelaxedMmioBackend, read_relaxed, write_relaxed: u64);

/// The backend of [`SysMem`]: memory of this process shared with a device.
///
/// Mirrors `kernel::io::SysMemBackend`.
pub struct SysMemBackend;

impl IoBackend for SysMemBackend {
    type View<'a, T: ?Sized + KnownSize> = SysMem<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: SysMem<'a, T>) -> *mut T {
        view.ptr
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        _view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        // INVARIANT: By the safety requirements `ptr` lies within `_view`'s memory, which is valid
        // for `'a`.
        SysMem {
            ptr,
            phantom: PhantomData,
        }
    }
}

macro_rules! impl_sysmem_io_capable {
    ($($int:ty),*) => {$(
        impl IoCapable<$int> for SysMemBackend {
            #[inline(always)]
            fn io_read(view: SysMem<'_, $int>) -> $int {
                // SAFETY: By the view's invariant `ptr` is valid and aligned. The access is
                // volatile because the device may change the memory at any time (the kernel
                // memory model, which drivers follow, allows this race; Rust's does not define it).
                unsafe { view.ptr.read_volatile() }
            }

            #[inline(always)]
            fn io_write(view: SysMem<'_, $int>, value: $int) {
                // SAFETY: As for `io_read`.
                unsafe { view.ptr.write_volatile(value) }
            }
        }
    )*};
}

impl_sysmem_io_capable!(u8, u16, u32);
#[cfg(target_pointer_width = "64")]
impl_sysmem_io_capable!(u64);

/// Copies `len` bytes from `src` to `dst` with volatile accesses, word by word where both are
/// word aligned.
///
/// # Safety
///
/// `src` must be valid for `len` bytes of reads and `dst` for `len` bytes of writes, and they must
/// not overlap.
unsafe fn volatile_copy(dst: *mut u8, src: *const u8, len: usize) {
    const WORD: usize = size_of::<usize>();
    let mut done = 0;
    if dst.addr().is_multiple_of(WORD) && src.addr().is_multiple_of(WORD) {
        while len - done >= WORD {
            // SAFETY: `done + WORD <= len`, so both words are in bounds, and they are aligned.
            unsafe {
                let word = src.add(done).cast::<usize>().read_volatile();
                dst.add(done).cast::<usize>().write_volatile(word);
            }
            done += WORD;
        }
    }
    while done < len {
        // SAFETY: `done < len`, so both bytes are in bounds.
        unsafe { dst.add(done).write_volatile(src.add(done).read_volatile()) };
        done += 1;
    }
}

impl IoCopyable for SysMemBackend {
    #[inline]
    unsafe fn copy_from_io(view: SysMem<'_, [u8]>, buffer: *mut u8) {
        // SAFETY: By the view's invariant its bytes are valid memory; the caller guarantees that
        // `buffer` is valid for that many bytes and does not overlap it.
        unsafe { volatile_copy(buffer, view.ptr.cast_const().cast(), view.ptr.len()) }
    }

    #[inline]
    unsafe fn copy_to_io(view: SysMem<'_, [u8]>, buffer: *const u8) {
        // SAFETY: By the view's invariant its bytes are valid memory; the caller guarantees that
        // `buffer` is valid for that many bytes and does not overlap it.
        unsafe { volatile_copy(view.ptr.cast(), buffer, view.ptr.len()) }
    }

    #[inline]
    fn copy_read<T: FromBytes>(view: SysMem<'_, T>) -> T {
        // SAFETY: By the view's invariant `ptr` is valid and aligned, and every bit pattern is a
        // `T: FromBytes`. Volatile, as the device may change the memory at any time.
        unsafe { view.ptr.read_volatile() }
    }

    #[inline]
    fn copy_write<T: IntoBytes>(view: SysMem<'_, T>, value: T) {
        // SAFETY: By the view's invariant `ptr` is valid and aligned. Volatile, as the device may
        // read the memory at any time.
        unsafe { view.ptr.write_volatile(value) }
    }
}

/// A view of memory of this process holding a `T`, accessed with volatile operations because a
/// device shares it (a DMA coherent buffer, for instance).
///
/// Mirrors `kernel::io::SysMem`; identical to the kernel's.
///
/// # Invariants
///
/// The `KnownSize::size(ptr)` bytes at `ptr` are valid, aligned memory for the lifetime `'a`.
pub struct SysMem<'a, T: ?Sized> {
    ptr: *mut T,
    phantom: PhantomData<&'a ()>,
}

impl<T: ?Sized> Copy for SysMem<'_, T> {}

impl<T: ?Sized> Clone for SysMem<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

// SAFETY: A `SysMem<'_, T>` is, for memory shared with a device, what a `&T` is.
unsafe impl<T: ?Sized + Sync> Send for SysMem<'_, T> {}

// SAFETY: A `SysMem<'_, T>` is, for memory shared with a device, what a `&T` is.
unsafe impl<T: ?Sized + Sync> Sync for SysMem<'_, T> {}

impl<'a, T: ?Sized> SysMem<'a, T> {
    /// Returns the view of the memory at `ptr`.
    ///
    /// # Safety
    ///
    /// The `KnownSize::size(ptr)` bytes at `ptr` must be valid, aligned memory for the lifetime
    /// `'a`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::io::{io_read, io_write, Io, SysMem};
    ///
    /// let mut ring = [0u32; 8];
    /// // SAFETY: `ring` is valid, aligned memory that outlives the view.
    /// let view = unsafe { SysMem::new(&raw mut ring) };
    /// io_write!(view, [build: 2], 0xfeed);
    /// assert_eq!(io_read!(view, [build: 2]), 0xfeed);
    /// assert_eq!(view.size(), 32);
    /// ```
    #[inline]
    pub unsafe fn new(ptr: *mut T) -> Self {
        // INVARIANT: By the safety requirements.
        Self {
            ptr,
            phantom: PhantomData,
        }
    }

    /// Returns the pointer to the memory.
    #[inline]
    pub fn as_ptr(self) -> *mut T {
        self.ptr
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for SysMem<'a, T> {
    type Backend = SysMemBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> SysMem<'a, T> {
        self
    }
}

/// The backend of [`IoSysMap`].
///
/// Mirrors `kernel::io::IoSysMapBackend`.
pub struct IoSysMapBackend;

/// A view that is either I/O memory ([`Mmio`]) or system memory ([`SysMem`]), for code that
/// handles both without being generic over the backend (the C `struct iosys_map`).
///
/// Mirrors `kernel::io::IoSysMap`; identical to the kernel's.
pub enum IoSysMap<'a, T: ?Sized> {
    /// I/O memory.
    Io(Mmio<'a, T>),
    /// System memory.
    Sys(SysMem<'a, T>),
}

impl<T: ?Sized> Copy for IoSysMap<'_, T> {}

impl<T: ?Sized> Clone for IoSysMap<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ?Sized> From<Mmio<'a, T>> for IoSysMap<'a, T> {
    #[inline]
    fn from(view: Mmio<'a, T>) -> Self {
        IoSysMap::Io(view)
    }
}

impl<'a, T: ?Sized> From<SysMem<'a, T>> for IoSysMap<'a, T> {
    #[inline]
    fn from(view: SysMem<'a, T>) -> Self {
        IoSysMap::Sys(view)
    }
}

impl IoBackend for IoSysMapBackend {
    type View<'a, T: ?Sized + KnownSize> = IoSysMap<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: IoSysMap<'a, T>) -> *mut T {
        match view {
            IoSysMap::Io(view) => MmioBackend::as_ptr(view),
            IoSysMap::Sys(view) => SysMemBackend::as_ptr(view),
        }
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        match view {
            // SAFETY: `ptr` is a projection of `view`'s pointer, which is this view's.
            IoSysMap::Io(view) => IoSysMap::Io(unsafe { MmioBackend::project_view(view, ptr) }),
            // SAFETY: `ptr` is a projection of `view`'s pointer, which is this view's.
            IoSysMap::Sys(view) => IoSysMap::Sys(unsafe { SysMemBackend::project_view(view, ptr) }),
        }
    }
}

impl<T> IoCapable<T> for IoSysMapBackend
where
    MmioBackend: IoCapable<T>,
    SysMemBackend: IoCapable<T>,
{
    #[inline]
    fn io_read(view: IoSysMap<'_, T>) -> T {
        match view {
            IoSysMap::Io(view) => MmioBackend::io_read(view),
            IoSysMap::Sys(view) => SysMemBackend::io_read(view),
        }
    }

    #[inline]
    fn io_write(view: IoSysMap<'_, T>, value: T) {
        match view {
            IoSysMap::Io(view) => MmioBackend::io_write(view, value),
            IoSysMap::Sys(view) => SysMemBackend::io_write(view, value),
        }
    }
}

impl IoCopyable for IoSysMapBackend {
    #[inline]
    unsafe fn copy_from_io(view: IoSysMap<'_, [u8]>, buffer: *mut u8) {
        match view {
            // SAFETY: The caller's guarantees are the ones the inner backend needs.
            IoSysMap::Io(view) => unsafe { MmioBackend::copy_from_io(view, buffer) },
            // SAFETY: The caller's guarantees are the ones the inner backend needs.
            IoSysMap::Sys(view) => unsafe { SysMemBackend::copy_from_io(view, buffer) },
        }
    }

    #[inline]
    unsafe fn copy_to_io(view: IoSysMap<'_, [u8]>, buffer: *const u8) {
        match view {
            // SAFETY: The caller's guarantees are the ones the inner backend needs.
            IoSysMap::Io(view) => unsafe { MmioBackend::copy_to_io(view, buffer) },
            // SAFETY: The caller's guarantees are the ones the inner backend needs.
            IoSysMap::Sys(view) => unsafe { SysMemBackend::copy_to_io(view, buffer) },
        }
    }

    #[inline]
    fn copy_read<T: FromBytes>(view: IoSysMap<'_, T>) -> T {
        match view {
            IoSysMap::Io(view) => MmioBackend::copy_read(view),
            IoSysMap::Sys(view) => SysMemBackend::copy_read(view),
        }
    }

    #[inline]
    fn copy_write<T: IntoBytes>(view: IoSysMap<'_, T>, value: T) {
        match view {
            IoSysMap::Io(view) => MmioBackend::copy_write(view, value),
            IoSysMap::Sys(view) => SysMemBackend::copy_write(view, value),
        }
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for IoSysMap<'a, T> {
    type Backend = IoSysMapBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> IoSysMap<'a, T> {
        self
    }
}

/// Gives [`io_project!`] the backend's associated functions as methods, so that the macro can
/// call them on a view whose type it cannot name.
///
/// Mirrors the kernel's hidden `ProjectHelper`; not for direct use.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct ProjectHelper<T>(pub T);

impl<'a, T> ProjectHelper<T>
where
    T: Io<'a, Backend: IoBackend<View<'a, T::Target> = T>>,
{
    /// [`IoBackend::as_ptr`] of the view.
    #[inline(always)]
    pub fn as_ptr(self) -> *mut T::Target {
        T::Backend::as_ptr(self.0)
    }

    /// [`IoBackend::project_view`] of the view.
    ///
    /// # Safety
    ///
    /// As for [`IoBackend::project_view`]: `ptr` must be a projection of `self.as_ptr()`.
    #[inline(always)]
    pub unsafe fn project_view<U: ?Sized + KnownSize>(
        self,
        ptr: *mut U,
    ) -> <T::Backend as IoBackend>::View<'a, U> {
        // SAFETY: By the caller's guarantee.
        unsafe { T::Backend::project_view::<T::Target, U>(self.0, ptr) }
    }
}

/// Projects an I/O view to the view of a field or element: `io_project!(io, projection)`.
///
/// Mirrors the kernel's `io_project!`; same syntax and behaviour. `io` is an expression of a type
/// implementing [`Io`] and `projection` a sequence of `.field`, `[try: i]`, `[panic: i]` and
/// `[build: i]` (see [`project!`](crate::ptr::project)); `[try: i]` out of bounds returns
/// `Err(ERANGE)` from the enclosing function.
///
/// # Examples
///
/// ```
/// use kernel::io::{io_project, Io, Mmio};
/// use kernel::prelude::*;
///
/// #[repr(C)]
/// struct Queue { head: u32, tail: u32 }
///
/// fn tail_of(queues: Mmio<'_, [Queue]>, i: usize) -> Result<u32> {
///     let queue: Mmio<'_, Queue> = io_project!(queues, [try: i]);
///     let tail: Mmio<'_, u32> = io_project!(queue, .tail);
///     Ok(tail.read_val())
/// }
/// # let mut mem = [0u32, 11, 0, 22];
/// # let raw = kernel::io::MmioRaw::<[Queue; 2]>::new(mem.as_mut_ptr().expose_provenance());
/// # // SAFETY: `mem` is plain memory standing in for I/O memory, alive while `raw` is used.
/// # let array = unsafe { Mmio::from_raw(raw) };
/// # let queues: Mmio<'_, [Queue]> = io_project!(array, [panic: ..]);
/// # assert_eq!(tail_of(queues, 1)?, 22);
/// # assert_eq!(tail_of(queues, 2), Err(ERANGE));
/// # Ok::<(), kernel::error::Error>(())
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! io_project {
    ($io:expr, $($proj:tt)*) => {{
        #[allow(unused_imports)]
        use $crate::io::IoBase as _;
        let view = $crate::io::ProjectHelper($io.as_view());
        let ptr = $crate::ptr::project!(mut view.as_ptr(), $($proj)*);
        #[allow(unused_unsafe)]
        // SAFETY: `ptr` is a projection of the view's pointer.
        unsafe { view.project_view(ptr) }
    }};
}

#[doc(inline)]
pub use crate::io_project;

/// Reads a field or element of an I/O view: `io_read!(io, projection)`.
///
/// Mirrors the kernel's `io_read!`: [`io_project!`] followed by [`Io::read_val`].
///
/// # Examples
///
/// ```
/// use kernel::io::{io_read, SysMem};
/// use kernel::prelude::*;
///
/// #[repr(C)]
/// struct Desc { addr: u64, len: u32, flags: u32 }
///
/// let mut ring = [Desc { addr: 0, len: 0, flags: 0 }, Desc { addr: 0x1000, len: 64, flags: 1 }];
/// // SAFETY: `ring` is valid, aligned memory that outlives the view.
/// let view = unsafe { SysMem::new(&raw mut ring) };
/// assert_eq!(io_read!(view, [build: 1].len), 64);
/// let read_len = |i: usize| -> Result<u32> { Ok(io_read!(view, [try: i].len)) };
/// assert_eq!(read_len(2), Err(ERANGE));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! io_read {
    ($io:expr, $($proj:tt)*) => {
        $crate::io::Io::read_val($crate::io_project!($io, $($proj)*))
    };
}

#[doc(inline)]
pub use crate::io_read;

/// Writes a field or element of an I/O view: `io_write!(io, projection, value)`.
///
/// Mirrors the kernel's `io_write!`: [`io_project!`] followed by [`Io::write_val`].
///
/// # Examples
///
/// ```
/// use kernel::io::{io_write, SysMem};
///
/// #[repr(C)]
/// struct Desc { addr: u64, len: u32, flags: u32 }
///
/// let mut ring = [Desc { addr: 0, len: 0, flags: 0 }, Desc { addr: 0, len: 0, flags: 0 }];
/// // SAFETY: `ring` is valid, aligned memory that outlives the view.
/// let view = unsafe { SysMem::new(&raw mut ring) };
/// io_write!(view, [panic: 1].addr, 0x2000);
/// io_write!(view, [build: 0].flags, 3);
/// assert_eq!((ring[1].addr, ring[0].flags), (0x2000, 3));
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! io_write {
    (@split [$io:expr] [$($proj:tt)*] [, $value:expr]) => {
        $crate::io::Io::write_val($crate::io_project!($io, $($proj)*), $value)
    };
    (@split [$io:expr] [$($proj:tt)*] [.$field:tt $($rest:tt)*]) => {
        $crate::io_write!(@split [$io] [$($proj)* .$field] [$($rest)*])
    };
    (@split [$io:expr] [$($proj:tt)*] [[$flavor:ident: $index:expr] $($rest:tt)*]) => {
        $crate::io_write!(@split [$io] [$($proj)* [$flavor: $index]] [$($rest)*])
    };
    ($io:expr, $($rest:tt)*) => {
        $crate::io_write!(@split [$io] [] [$($rest)*])
    };
}

#[doc(inline)]
pub use crate::io_write;
