//! DMA memory: address spaces, bus address allocation, pooled coherent memory.
//!
//! Each device reaches memory through a [`DmaSpace`]: the VFIO container's IOMMU domain, the
//! physical address space for UIO, or the simulated bus's translation table. The mirror's
//! `kernel::dma` allocates through it and never sees how the mapping is done.

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

/// An address space through which a device performs DMA.
pub trait DmaSpace: Send + Sync {
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
