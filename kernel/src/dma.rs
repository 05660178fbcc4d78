//! Direct memory access: coherent buffers a device and the driver share.
//!
//! Mirrors `rust/kernel/dma.rs` of Linux 7.3. A driver sets its device's DMA mask with the
//! [`Device`] trait, allocates [`Coherent`] memory (CPU and device see the same bytes, at
//! [`Coherent::as_ptr`] and [`Coherent::dma_address`]), fills it through `io_project!`/`io_read!`/
//! `io_write!` (which use volatile accesses, since the device may access the memory concurrently),
//! and hands the DMA address to the device.
//!
//! In userspace the memory comes from the host machinery's DMA pool: page-aligned, locked, zeroed,
//! mapped into the IOMMU at a bus address under the device's coherent mask (see
//! `drydock_host::dma`). A device can reach only memory allocated this way for it: the IOMMU blocks
//! everything else.
//!
//! Differences from the kernel: allocations are rounded up to whole pages (as the kernel's
//! coherent allocator also does on x86 with an IOMMU); `gfp_flags` other than `__GFP_ZERO` have no
//! effect, and memory is always zeroed.

use core::ops::{Deref, DerefMut};
use core::ptr::NonNull;

use crate::{
    bindings, debugfs,
    device::{self, Bound, Core},
    fs::file,
    io::{IoBackend, IoBase, IoCapable, IoCopyable, SysMem, SysMemBackend},
    prelude::*,
    ptr::KnownSize,
    sync::aref::ARef,
    transmute::{AsBytes, FromBytes},
    uaccess::UserSliceWriter,
};

/// A bus address for DMA (`dma_addr_t`).
///
/// Mirrors `kernel::dma::DmaAddress`.
pub type DmaAddress = bindings::dma_addr_t;

/// A device that can perform DMA; implemented by bus devices in the [`Core`] context.
///
/// Mirrors `kernel::dma::Device`.
pub trait Device<'a>: AsRef<device::Device<Core<'a>>> {
    /// Sets the streaming DMA mask.
    ///
    /// # Safety
    ///
    /// Must not run concurrently with DMA allocations or mappings for the device.
    unsafe fn dma_set_mask(&self, mask: DmaMask) -> Result {
        drydock_host::dma::set_mask(self.as_ref().raw(), mask.value(), true, false)
            .map_err(Error::from)
    }

    /// Sets the coherent DMA mask, which bounds the bus addresses of [`Coherent`] allocations.
    ///
    /// # Safety
    ///
    /// Must not run concurrently with DMA allocations or mappings for the device.
    unsafe fn dma_set_coherent_mask(&self, mask: DmaMask) -> Result {
        drydock_host::dma::set_mask(self.as_ref().raw(), mask.value(), false, true)
            .map_err(Error::from)
    }

    /// Sets both masks.
    ///
    /// # Safety
    ///
    /// Must not run concurrently with DMA allocations or mappings for the device.
    unsafe fn dma_set_mask_and_coherent(&self, mask: DmaMask) -> Result {
        drydock_host::dma::set_mask(self.as_ref().raw(), mask.value(), true, true)
            .map_err(Error::from)
    }

    /// Sets the largest DMA segment the device accepts.
    ///
    /// # Safety
    ///
    /// Must not run concurrently with DMA allocations or mappings for the device.
    unsafe fn dma_set_max_seg_size(&self, size: u32) {
        self.as_ref().raw().set_max_seg_size(size)
    }
}

/// A DMA mask: the lowest `n` bits set.
///
/// Mirrors `kernel::dma::DmaMask`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DmaMask(u64);

impl DmaMask {
    /// The mask of the lowest `N` bits; a mask over 64 bits fails the build.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::dma::DmaMask;
    ///
    /// assert_eq!(DmaMask::new::<0>().value(), 0);
    /// assert_eq!(DmaMask::new::<28>().value(), 0x0fff_ffff);
    /// assert_eq!(DmaMask::new::<64>().value(), u64::MAX);
    /// // `DmaMask::new::<100>()` does not build.
    /// ```
    #[inline]
    pub const fn new<const N: u32>() -> Self {
        const { assert!(N <= 64, "Invalid DMA Mask.") };
        match Self::try_new(N) {
            Ok(mask) => mask,
            Err(_) => panic!("unreachable: checked above"),
        }
    }

    /// The mask of the lowest `n` bits; `EINVAL` for more than 64.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::dma::DmaMask;
    ///
    /// assert_eq!(DmaMask::try_new(1)?.value(), 1);
    /// assert!(DmaMask::try_new(100).is_err());
    /// # Ok::<(), kernel::error::Error>(())
    /// ```
    #[inline]
    pub const fn try_new(n: u32) -> Result<Self> {
        Ok(Self(match n {
            0 => 0,
            1..=64 => u64::MAX >> (64 - n),
            _ => return Err(EINVAL),
        }))
    }

    /// Returns the mask.
    #[inline]
    pub const fn value(&self) -> u64 {
        self.0
    }
}

/// DMA allocation attributes (`DMA_ATTR_*`).
///
/// Mirrors `kernel::dma::Attrs`. The attributes are accepted and have no effect in userspace:
/// coherent memory is always cached, zeroed and mapped read-write.
#[derive(Clone, Copy, PartialEq)]
#[repr(transparent)]
pub struct Attrs(u32);

impl Attrs {
    /// Whether every attribute of `flags` is set.
    pub fn contains(self, flags: Attrs) -> bool {
        (self & flags) == flags
    }
}

impl core::ops::BitOr for Attrs {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self::Output {
        Self(self.0 | rhs.0)
    }
}

impl core::ops::BitAnd for Attrs {
    type Output = Self;
    fn bitand(self, rhs: Self) -> Self::Output {
        Self(self.0 & rhs.0)
    }
}

impl core::ops::Not for Attrs {
    type Output = Self;
    fn not(self) -> Self::Output {
        Self(!self.0)
    }
}

/// The DMA attribute values.
///
/// Mirrors `kernel::dma::attrs`.
pub mod attrs {
    use super::Attrs;
    use crate::bindings;

    /// Writes may be reordered.
    pub const DMA_ATTR_WEAK_ORDERING: Attrs = Attrs(bindings::DMA_ATTR_WEAK_ORDERING);
    /// Map with write combining.
    pub const DMA_ATTR_WRITE_COMBINE: Attrs = Attrs(bindings::DMA_ATTR_WRITE_COMBINE);
    /// Skip CPU cache synchronisation.
    pub const DMA_ATTR_SKIP_CPU_SYNC: Attrs = Attrs(bindings::DMA_ATTR_SKIP_CPU_SYNC);
    /// Physically contiguous memory.
    pub const DMA_ATTR_FORCE_CONTIGUOUS: Attrs = Attrs(bindings::DMA_ATTR_FORCE_CONTIGUOUS);
    /// Allocate single pages.
    pub const DMA_ATTR_ALLOC_SINGLE_PAGES: Attrs = Attrs(bindings::DMA_ATTR_ALLOC_SINGLE_PAGES);
    /// Do not warn on allocation failure.
    pub const DMA_ATTR_NO_WARN: Attrs = Attrs(bindings::DMA_ATTR_NO_WARN);
    /// Privileged access only.
    pub const DMA_ATTR_PRIVILEGED: Attrs = Attrs(bindings::DMA_ATTR_PRIVILEGED);
    /// The memory is MMIO.
    pub const DMA_ATTR_MMIO: Attrs = Attrs(bindings::DMA_ATTR_MMIO);
}

/// The direction of a DMA mapping.
///
/// Mirrors `kernel::dma::DataDirection`.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
#[repr(u32)]
pub enum DataDirection {
    /// Both ways.
    Bidirectional = bindings::DMA_BIDIRECTIONAL.0,
    /// From memory to the device.
    ToDevice = bindings::DMA_TO_DEVICE.0,
    /// From the device to memory.
    FromDevice = bindings::DMA_FROM_DEVICE.0,
    /// No transfer (debugging).
    None = bindings::DMA_NONE.0,
}

impl From<DataDirection> for bindings::dma_data_direction {
    fn from(direction: DataDirection) -> Self {
        bindings::dma_data_direction(direction as u32)
    }
}

/// Coherent memory the CPU owns alone: its DMA address is not exposed, so it can be used through
/// ordinary references. Convert it into a [`Coherent`] to give it to the device.
///
/// Mirrors `kernel::dma::CoherentBox`.
pub struct CoherentBox<T: KnownSize + ?Sized>(Coherent<T>);

impl<T: AsBytes + FromBytes> CoherentBox<[T]> {
    /// Allocates `count` zeroed elements with attributes.
    #[inline]
    pub fn zeroed_slice_with_attrs(
        dev: &device::Device<Bound>,
        count: usize,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        Coherent::zeroed_slice_with_attrs(dev, count, gfp_flags, dma_attrs).map(Self)
    }

    /// Allocates `count` zeroed elements.
    #[inline]
    pub fn zeroed_slice(
        dev: &device::Device<Bound>,
        count: usize,
        gfp_flags: kernel::alloc::Flags,
    ) -> Result<Self> {
        Self::zeroed_slice_with_attrs(dev, count, gfp_flags, Attrs(0))
    }

    /// Initialises element `i` in place; `EINVAL` if out of range.
    pub fn init_at<E>(&mut self, i: usize, init: impl Init<T, E>) -> Result
    where
        Error: From<E>,
    {
        if i >= self.0.len() {
            return Err(EINVAL);
        }
        let ptr = &raw mut self[i];
        // SAFETY: `ptr` is a valid, exclusively borrowed element; the old value needs no drop
        // (`T: FromBytes` types are plain data).
        unsafe { pin_init::raw_try_init(ptr, init)? };
        Ok(())
    }

    /// Allocates a copy of `data` with attributes.
    pub fn from_slice_with_attrs(
        dev: &device::Device<Bound>,
        data: &[T],
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self>
    where
        T: Copy,
    {
        let mut slice = Self(Coherent::<T>::alloc_slice_with_attrs(
            dev,
            data.len(),
            gfp_flags,
            dma_attrs,
        )?);
        slice.copy_from_slice(data);
        Ok(slice)
    }

    /// Allocates a copy of `data`.
    #[inline]
    pub fn from_slice(
        dev: &device::Device<Bound>,
        data: &[T],
        gfp_flags: kernel::alloc::Flags,
    ) -> Result<Self>
    where
        T: Copy,
    {
        Self::from_slice_with_attrs(dev, data, gfp_flags, Attrs(0))
    }
}

impl<T: AsBytes + FromBytes> CoherentBox<T> {
    /// Allocates a zeroed `T` with attributes.
    #[inline]
    pub fn zeroed_with_attrs(
        dev: &device::Device<Bound>,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        Coherent::zeroed_with_attrs(dev, gfp_flags, dma_attrs).map(Self)
    }

    /// Allocates a zeroed `T`.
    #[inline]
    pub fn zeroed(dev: &device::Device<Bound>, gfp_flags: kernel::alloc::Flags) -> Result<Self> {
        Self::zeroed_with_attrs(dev, gfp_flags, Attrs(0))
    }
}

impl<T: KnownSize + ?Sized> Deref for CoherentBox<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &Self::Target {
        // SAFETY: the DMA address was never exposed, so no device accesses the memory.
        unsafe { self.0.as_ref() }
    }
}

impl<T: AsBytes + FromBytes + KnownSize + ?Sized> DerefMut for CoherentBox<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: the DMA address was never exposed, and we have exclusive access.
        unsafe { self.0.as_mut() }
    }
}

impl<T: AsBytes + FromBytes + KnownSize + ?Sized> From<CoherentBox<T>> for Coherent<T> {
    #[inline]
    fn from(value: CoherentBox<T>) -> Self {
        value.0
    }
}

/// Coherent DMA memory holding a `T` (or a slice, `Coherent<[T]>`), freed when dropped.
///
/// Mirrors `kernel::dma::Coherent`. The device must have stopped using the memory before it is
/// dropped.
///
/// # Invariants
///
/// `cpu_addr` points to a live allocation of `dev`'s DMA space, of `T::size(cpu_addr)` bytes
/// (rounded up to pages), reachable by the device at `dma_addr`.
pub struct Coherent<T: KnownSize + ?Sized> {
    dev: ARef<device::Device>,
    dma_addr: DmaAddress,
    cpu_addr: NonNull<T>,
}

impl<T: KnownSize + ?Sized> Coherent<T> {
    /// Returns the size in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        T::size(self.cpu_addr.as_ptr())
    }

    /// Returns the CPU address.
    #[inline]
    pub fn as_ptr(&self) -> *const T {
        self.cpu_addr.as_ptr()
    }

    /// Returns the CPU address, for writing.
    #[inline]
    pub fn as_mut_ptr(&self) -> *mut T {
        self.cpu_addr.as_ptr()
    }

    /// Returns the bus address the device uses.
    #[inline]
    pub fn dma_address(&self) -> DmaAddress {
        self.dma_addr
    }

    /// Returns a reference to the memory.
    ///
    /// # Safety
    ///
    /// No device or CPU may write the memory while the reference lives.
    #[inline]
    pub unsafe fn as_ref(&self) -> &T {
        // SAFETY: by the safety requirements and the type invariant.
        unsafe { &*self.as_ptr() }
    }

    /// Returns a mutable reference to the memory.
    ///
    /// # Safety
    ///
    /// No device or CPU may access the memory while the reference lives.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub unsafe fn as_mut(&self) -> &mut T {
        // SAFETY: by the safety requirements and the type invariant.
        unsafe { &mut *self.as_mut_ptr() }
    }
}

impl<T: AsBytes + FromBytes> Coherent<T> {
    fn alloc_with_attrs(
        dev: &device::Device<Bound>,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        const {
            assert!(
                size_of::<T>() > 0,
                "It doesn't make sense for the allocated type to be a ZST"
            )
        };
        let _ = (gfp_flags, dma_attrs);
        let (cpu, dma_addr) = drydock_host::dma::alloc_coherent(dev.raw(), size_of::<T>())?;
        // INVARIANT: a fresh allocation of at least `size_of::<T>()` bytes of `dev`.
        Ok(Self {
            dev: dev.into(),
            dma_addr,
            cpu_addr: cpu.cast(),
        })
    }

    /// Allocates a zeroed `T` with attributes.
    #[inline]
    pub fn zeroed_with_attrs(
        dev: &device::Device<Bound>,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        Self::alloc_with_attrs(dev, gfp_flags | __GFP_ZERO, dma_attrs)
    }

    /// Allocates a zeroed `T`.
    #[inline]
    pub fn zeroed(dev: &device::Device<Bound>, gfp_flags: kernel::alloc::Flags) -> Result<Self> {
        Self::zeroed_with_attrs(dev, gfp_flags, Attrs(0))
    }

    /// Allocates a `T` initialised by `init`, with attributes.
    pub fn init_with_attrs<E>(
        dev: &device::Device<Bound>,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
        init: impl Init<T, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        let memory = Self::alloc_with_attrs(dev, gfp_flags, dma_attrs)?;
        // SAFETY: the memory is valid for a `T` and not yet exposed to the device; `T` needs no
        // drop of the old (zeroed) contents.
        unsafe { pin_init::raw_try_init(memory.as_mut_ptr(), init)? };
        Ok(memory)
    }

    /// Allocates a `T` initialised by `init`.
    #[inline]
    pub fn init<E>(
        dev: &device::Device<Bound>,
        gfp_flags: kernel::alloc::Flags,
        init: impl Init<T, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        Self::init_with_attrs(dev, gfp_flags, Attrs(0), init)
    }

    fn alloc_slice_with_attrs(
        dev: &device::Device<Bound>,
        len: usize,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Coherent<[T]>> {
        const {
            assert!(
                size_of::<T>() > 0,
                "It doesn't make sense for the allocated type to be a ZST"
            )
        };
        if len == 0 {
            return Err(EINVAL);
        }
        let _ = (gfp_flags, dma_attrs);
        let size = size_of::<T>().checked_mul(len).ok_or(ENOMEM)?;
        let (cpu, dma_addr) = drydock_host::dma::alloc_coherent(dev.raw(), size)?;
        // INVARIANT: a fresh allocation of `size` bytes of `dev`.
        Ok(Coherent {
            dev: dev.into(),
            dma_addr,
            cpu_addr: NonNull::slice_from_raw_parts(cpu.cast(), len),
        })
    }

    /// Allocates `len` zeroed elements with attributes; `EINVAL` for 0.
    #[inline]
    pub fn zeroed_slice_with_attrs(
        dev: &device::Device<Bound>,
        len: usize,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Coherent<[T]>> {
        Coherent::alloc_slice_with_attrs(dev, len, gfp_flags | __GFP_ZERO, dma_attrs)
    }

    /// Allocates `len` zeroed elements; `EINVAL` for 0.
    #[inline]
    pub fn zeroed_slice(
        dev: &device::Device<Bound>,
        len: usize,
        gfp_flags: kernel::alloc::Flags,
    ) -> Result<Coherent<[T]>> {
        Self::zeroed_slice_with_attrs(dev, len, gfp_flags, Attrs(0))
    }

    /// Allocates a copy of `data` with attributes.
    #[inline]
    pub fn from_slice_with_attrs(
        dev: &device::Device<Bound>,
        data: &[T],
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Coherent<[T]>>
    where
        T: Copy,
    {
        CoherentBox::from_slice_with_attrs(dev, data, gfp_flags, dma_attrs).map(Into::into)
    }

    /// Allocates a copy of `data`.
    #[inline]
    pub fn from_slice(
        dev: &device::Device<Bound>,
        data: &[T],
        gfp_flags: kernel::alloc::Flags,
    ) -> Result<Coherent<[T]>>
    where
        T: Copy,
    {
        Self::from_slice_with_attrs(dev, data, gfp_flags, Attrs(0))
    }
}

impl<T> Coherent<[T]> {
    /// Returns the number of elements (never 0).
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.cpu_addr.len()
    }
}

impl<T: KnownSize + ?Sized> Drop for Coherent<T> {
    fn drop(&mut self) {
        let size = T::size(self.cpu_addr.as_ptr());
        drydock_host::dma::free_coherent(self.dev.raw(), size, self.cpu_addr.cast(), self.dma_addr);
    }
}

// SAFETY: the allocation can be freed from any thread; access to `T` follows `T: Send`.
unsafe impl<T: KnownSize + Send + ?Sized> Send for Coherent<T> {}

// SAFETY: shared access only goes through volatile I/O views or `unsafe` accessors.
unsafe impl<T: KnownSize + ?Sized + AsBytes + FromBytes + Sync> Sync for Coherent<T> {}

impl<T: KnownSize + AsBytes + ?Sized> debugfs::BinaryWriter for Coherent<T> {
    /// Copies the allocation's bytes from `*offset` as the device left them, as many as `writer`
    /// takes; nothing at or past the end, `EINVAL` for a negative position.
    fn write_to_slice(
        &self,
        writer: &mut UserSliceWriter,
        offset: &mut file::Offset,
    ) -> Result<usize> {
        let start = usize::try_from(*offset).map_err(|_| EINVAL)?;
        let count = self.size().saturating_sub(start).min(writer.len());
        if count == 0 {
            return Ok(0);
        }
        writer.write_dma(self, start, count)?;
        // CAST: at most the allocation's size, which fits an `i64`.
        *offset += count as file::Offset;
        Ok(count)
    }
}

/// Coherent memory without CPU access: only its DMA address is available.
///
/// Mirrors `kernel::dma::CoherentHandle`.
///
/// # Invariants
///
/// `cpu_handle` is a live allocation of `size` bytes of `dev`'s DMA space at `dma_addr`.
pub struct CoherentHandle {
    dev: ARef<device::Device>,
    dma_addr: DmaAddress,
    cpu_handle: NonNull<u8>,
    size: usize,
}

impl CoherentHandle {
    /// Allocates `size` bytes with attributes; `EINVAL` for 0.
    pub fn alloc_with_attrs(
        dev: &device::Device<Bound>,
        size: usize,
        gfp_flags: kernel::alloc::Flags,
        dma_attrs: Attrs,
    ) -> Result<Self> {
        if size == 0 {
            return Err(EINVAL);
        }
        // The handle never exposes the CPU address, which is what `DMA_ATTR_NO_KERNEL_MAPPING`
        // means; the other attributes and the flags have no effect here.
        let _ = (gfp_flags, dma_attrs);
        let (cpu_handle, dma_addr) = drydock_host::dma::alloc_coherent(dev.raw(), size)?;
        // INVARIANT: a fresh allocation of `size` bytes.
        Ok(Self {
            dev: dev.into(),
            dma_addr,
            cpu_handle,
            size,
        })
    }

    /// Allocates `size` bytes; `EINVAL` for 0.
    #[inline]
    pub fn alloc(
        dev: &device::Device<Bound>,
        size: usize,
        gfp_flags: kernel::alloc::Flags,
    ) -> Result<Self> {
        Self::alloc_with_attrs(dev, size, gfp_flags, Attrs(0))
    }

    /// Returns the bus address.
    #[inline]
    pub fn dma_address(&self) -> DmaAddress {
        self.dma_addr
    }

    /// Returns the size in bytes.
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }
}

impl Drop for CoherentHandle {
    fn drop(&mut self) {
        drydock_host::dma::free_coherent(self.dev.raw(), self.size, self.cpu_handle, self.dma_addr);
    }
}

// SAFETY: a handle offers no access to the memory; it can be dropped from any thread.
unsafe impl Send for CoherentHandle {}
// SAFETY: as above.
unsafe impl Sync for CoherentHandle {}

/// A view of part of a [`Coherent`] allocation, as I/O projections produce it.
///
/// Mirrors `kernel::dma::CoherentView`.
pub struct CoherentView<'a, T: ?Sized> {
    cpu_addr: SysMem<'a, T>,
    dma_addr: DmaAddress,
}

impl<T: ?Sized> Copy for CoherentView<'_, T> {}
impl<T: ?Sized> Clone for CoherentView<'_, T> {
    #[inline]
    fn clone(&self) -> Self {
        *self
    }
}

impl<'a, T: ?Sized> CoherentView<'a, T> {
    /// Returns the view as plain system memory.
    #[inline]
    pub fn as_sys_mem(self) -> SysMem<'a, T> {
        self.cpu_addr
    }

    /// Returns the bus address of the viewed part.
    #[inline]
    pub fn dma_address(self) -> DmaAddress {
        self.dma_addr
    }

    /// Returns a reference to the viewed memory.
    ///
    /// # Safety
    ///
    /// No device or CPU may write the memory while the reference lives.
    #[inline]
    pub unsafe fn as_ref(self) -> &'a T {
        // SAFETY: by the safety requirements; the view is valid for `'a`.
        unsafe { &*self.cpu_addr.as_ptr() }
    }

    /// Returns a mutable reference to the viewed memory.
    ///
    /// # Safety
    ///
    /// No device or CPU may access the memory while the reference lives.
    #[inline]
    pub unsafe fn as_mut(self) -> &'a mut T {
        // SAFETY: by the safety requirements; the view is valid for `'a`.
        unsafe { &mut *self.cpu_addr.as_ptr() }
    }
}

/// The I/O backend of coherent memory: volatile system-memory accesses that also track the bus
/// address of the viewed part.
///
/// Mirrors `kernel::dma::CoherentIoBackend`.
pub struct CoherentIoBackend;

impl IoBackend for CoherentIoBackend {
    type View<'a, T: ?Sized + KnownSize> = CoherentView<'a, T>;

    #[inline]
    fn as_ptr<'a, T: ?Sized + KnownSize>(view: Self::View<'a, T>) -> *mut T {
        SysMemBackend::as_ptr(view.cpu_addr)
    }

    #[inline]
    unsafe fn project_view<'a, T: ?Sized + KnownSize, U: ?Sized + KnownSize>(
        view: Self::View<'a, T>,
        ptr: *mut U,
    ) -> Self::View<'a, U> {
        let offset = ptr.addr() - view.cpu_addr.as_ptr().addr();
        CoherentView {
            dma_addr: view.dma_addr + offset as DmaAddress,
            // SAFETY: `ptr` is a projection of the view (the caller's guarantee).
            cpu_addr: unsafe { SysMemBackend::project_view(view.cpu_addr, ptr) },
        }
    }
}

impl<T> IoCapable<T> for CoherentIoBackend
where
    SysMemBackend: IoCapable<T>,
{
    #[inline]
    fn io_read<'a>(view: Self::View<'a, T>) -> T {
        SysMemBackend::io_read(view.cpu_addr)
    }

    #[inline]
    fn io_write<'a>(view: Self::View<'a, T>, value: T) {
        SysMemBackend::io_write(view.cpu_addr, value)
    }
}

impl IoCopyable for CoherentIoBackend {
    #[inline]
    unsafe fn copy_from_io(view: Self::View<'_, [u8]>, buffer: *mut u8) {
        // SAFETY: the caller's guarantees are `SysMemBackend::copy_from_io`'s.
        unsafe { SysMemBackend::copy_from_io(view.cpu_addr, buffer) }
    }

    #[inline]
    unsafe fn copy_to_io(view: Self::View<'_, [u8]>, buffer: *const u8) {
        // SAFETY: the caller's guarantees are `SysMemBackend::copy_to_io`'s.
        unsafe { SysMemBackend::copy_to_io(view.cpu_addr, buffer) }
    }

    #[inline]
    fn copy_read<T: zerocopy::FromBytes>(view: Self::View<'_, T>) -> T {
        SysMemBackend::copy_read(view.cpu_addr)
    }

    #[inline]
    fn copy_write<T: zerocopy::IntoBytes>(view: Self::View<'_, T>, value: T) {
        SysMemBackend::copy_write(view.cpu_addr, value)
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for CoherentView<'a, T> {
    type Backend = CoherentIoBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> CoherentView<'a, Self::Target> {
        self
    }
}

impl<'a, T: ?Sized + KnownSize> IoBase<'a> for &'a Coherent<T> {
    type Backend = CoherentIoBackend;
    type Target = T;

    #[inline]
    fn as_view(self) -> CoherentView<'a, Self::Target> {
        CoherentView {
            // SAFETY: by the type invariant, the allocation is valid and aligned for `T` while
            // `self` (and so `'a`) lives.
            cpu_addr: unsafe { SysMem::new(self.cpu_addr.as_ptr()) },
            dma_addr: self.dma_addr,
        }
    }
}
