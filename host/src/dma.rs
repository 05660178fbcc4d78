//! DMA memory: address spaces, bus address allocation, pooled coherent memory.
//!
//! Each device reaches memory through a [`DmaSpace`]: the VFIO container's IOMMU domain, the
//! physical address space for UIO, or the simulated bus's translation table. The mirror's
//! `kernel::dma` allocates through it and never sees how the mapping is done.

pub mod huge;
pub mod iova;
pub mod memory;
pub mod pool;

use std::ptr::NonNull;

use super::error::HostError;
pub use pool::PoolStats;

/// A piece of coherent DMA memory: reachable by the CPU at `cpu_addr` and by the device at
/// `dma_addr`.
#[derive(Debug)]
pub struct CoherentRegion {
    /// The CPU address of the first byte.
    pub cpu_addr: NonNull<u8>,
    /// The bus address of the first byte.
    pub dma_addr: u64,
    /// The size in bytes (whole pages).
    pub size: usize,
}

// SAFETY: a region is an address range; the memory it describes is owned by the pool that handed
// it out, which is itself `Send + Sync`.
unsafe impl Send for CoherentRegion {}
// SAFETY: as above; `&CoherentRegion` only exposes addresses.
unsafe impl Sync for CoherentRegion {}

/// The DMA memory a device's driver holds: what it allocated and mapped for the device and has
/// not freed yet ([`super::device::RawDevice::dma_usage`]). Sizes are in whole pages, as the
/// memory is handed out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaUsage {
    /// Coherent allocations live ([`alloc_coherent`]).
    pub coherent: usize,
    /// Their bytes.
    pub coherent_bytes: u64,
    /// Streaming mappings live: segments of scatter-gather tables mapped for the device
    /// ([`super::sg::map_table`]).
    pub streaming: usize,
    /// Their bytes.
    pub streaming_bytes: u64,
}

/// `size` bytes in whole pages, as DMA memory is handed out.
pub(crate) fn page_aligned(size: usize) -> usize {
    size.max(1).div_ceil(memory::PAGE_SIZE) * memory::PAGE_SIZE
}

/// An address space through which a device performs DMA (`Any`, so that a backend can find its
/// own kind of space behind a device's).
pub trait DmaSpace: std::any::Any + Send + Sync {
    /// Allocates `size` bytes of zeroed, page-aligned memory whose every bus address is at most
    /// `mask` (the kernel's `dma_alloc_attrs()`).
    fn alloc_coherent(&self, size: usize, mask: u64) -> Result<CoherentRegion, HostError>;

    /// Frees memory from [`DmaSpace::alloc_coherent`] (`dma_free_attrs()`); the device must no
    /// longer access it.
    fn free_coherent(&self, region: &CoherentRegion);

    /// Maps `len` bytes of existing memory at `vaddr` (page aligned, whole pages) for streaming
    /// DMA under `mask` and returns the bus address (`dma_map_sgtable()` for one segment).
    fn map_pages(&self, vaddr: NonNull<u8>, len: usize, mask: u64) -> Result<u64, HostError>;

    /// Removes a mapping made by [`DmaSpace::map_pages`].
    fn unmap_pages(&self, iova: u64, len: usize);

    /// Returns counters of the space's mapping work.
    fn stats(&self) -> PoolStats;
}

/// Allocates `size` bytes of coherent memory for `dev` under its coherent DMA mask
/// (`dma_alloc_attrs()`); returns the CPU address and the bus address. Like every allocation, it
/// fails on purpose when a test armed [`super::fault`].
///
/// Failures are converted at the kernel API boundary: the full reason is logged and the errno
/// returned (`ENOMEM` for exhausted memory or bus addresses, `ENODEV` for a device that cannot
/// master the bus).
pub fn alloc_coherent(
    dev: &super::device::RawDevice,
    size: usize,
) -> Result<(NonNull<u8>, u64), crate::errno::Errno> {
    let space = dev.dma_space().ok_or(crate::errno::Errno::ENODEV)?;
    if super::fault::alloc_should_fail() {
        return Err(crate::errno::Errno::ENOMEM);
    }
    let region = space.alloc_coherent(size, dev.coherent_dma_mask())?;
    dev.account_dma(|usage| {
        usage.coherent += 1;
        usage.coherent_bytes += page_aligned(size) as u64;
    });
    Ok((region.cpu_addr, region.dma_addr))
}

/// Frees memory from [`alloc_coherent`] (`dma_free_attrs()`); `size` is the size asked for.
pub fn free_coherent(
    dev: &super::device::RawDevice,
    size: usize,
    cpu_addr: NonNull<u8>,
    dma_addr: u64,
) {
    if let Some(space) = dev.dma_space() {
        space.free_coherent(&CoherentRegion {
            cpu_addr,
            dma_addr,
            size: page_aligned(size),
        });
        dev.account_dma(|usage| {
            usage.coherent -= 1;
            usage.coherent_bytes -= page_aligned(size) as u64;
        });
    }
}

/// Sets the streaming and/or coherent DMA masks of `dev` (`dma_set_mask()` and friends).
///
/// Fails with `EIO`, as the kernel does for an unsupported mask, if the mask cannot address even
/// one page.
pub fn set_mask(
    dev: &super::device::RawDevice,
    mask: u64,
    streaming: bool,
    coherent: bool,
) -> Result<(), crate::errno::Errno> {
    if mask < memory::PAGE_SIZE as u64 - 1 {
        return Err(crate::errno::Errno::EIO);
    }
    if streaming {
        dev.set_dma_mask(mask);
    }
    if coherent {
        dev.set_coherent_dma_mask(mask);
    }
    Ok(())
}
