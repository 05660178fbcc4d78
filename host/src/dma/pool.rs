//! A DMA memory pool: map large chunks once, carve small allocations out of them.
//!
//! Mapping memory into an IOMMU costs a system call and an IOTLB update per mapping
//! (`VFIO_IOMMU_MAP_DMA`), far more than the allocation itself. Drivers allocate many small
//! coherent buffers (queues, descriptors, bounce buffers), so the pool maps memory in chunks of
//! [`CHUNK_SIZE`] (2 MiB, one huge page when the machine reserved some: [`super::huge`]), each
//! one IOMMU mapping, and hands out page-granular pieces of
//! them; only an allocation larger than half a chunk gets a mapping of its own. Pieces are zeroed
//! when handed out. Chunks stay mapped while the pool lives, so a freed piece stays reachable by
//! a device that kept its address (the IOMMU reports nothing), while a freed dedicated mapping is
//! unmapped and faults: `docs/architecture.md`, "Freed small buffers stay mapped".
//!
//! The pool is generic over an [`IommuMapper`], so the VFIO backend and the simulated bus share
//! it: one maps with ioctls, the other records translations a device model reads through.

use std::ptr::NonNull;
use std::sync::Mutex;

use super::huge::chunk_memory;
use super::iova::IovaAllocator;
use super::memory::{PageMemory, HUGE_PAGE_SIZE, PAGE_SIZE};
use super::CoherentRegion;
use crate::error::HostError;

/// The size of a pool chunk.
pub const CHUNK_SIZE: usize = HUGE_PAGE_SIZE;

/// Pages per chunk.
const CHUNK_PAGES: usize = CHUNK_SIZE / PAGE_SIZE;

/// Installs and removes translations in an IOMMU (or its simulation).
pub trait IommuMapper: Send + Sync {
    /// Makes `len` bytes at `vaddr` reachable by devices at bus address `iova`.
    fn map(&self, iova: u64, vaddr: NonNull<u8>, len: usize) -> Result<(), HostError>;

    /// Removes the translation of `len` bytes at `iova` installed by [`IommuMapper::map`].
    fn unmap(&self, iova: u64, len: usize) -> Result<(), HostError>;

    /// Whether memory must be locked before mapping (true for a real IOMMU).
    fn needs_locked_memory(&self) -> bool;
}

/// A shared mapper maps as the mapper it shares.
impl<M: IommuMapper + ?Sized> IommuMapper for std::sync::Arc<M> {
    fn map(&self, iova: u64, vaddr: NonNull<u8>, len: usize) -> Result<(), HostError> {
        (**self).map(iova, vaddr, len)
    }

    fn unmap(&self, iova: u64, len: usize) -> Result<(), HostError> {
        (**self).unmap(iova, len)
    }

    fn needs_locked_memory(&self) -> bool {
        (**self).needs_locked_memory()
    }
}

/// Counters of the pool's work, for tests and diagnostics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Calls to [`IommuMapper::map`].
    pub maps: u64,
    /// Calls to [`IommuMapper::unmap`].
    pub unmaps: u64,
    /// Chunks currently mapped.
    pub chunks: usize,
    /// Coherent allocations currently live.
    pub live_allocations: usize,
    /// Mappings the space holds now: in a pool, its chunks, the large allocations' own mappings
    /// and the streaming mappings.
    pub mappings: usize,
    /// The bytes those mappings cover: what devices can reach (pieces of chunks not handed out
    /// included).
    pub mapped_bytes: u64,
}

/// A mapped chunk and which of its pages are in use.
struct Chunk {
    memory: PageMemory,
    iova: u64,
    used: [bool; CHUNK_PAGES],
}

impl Chunk {
    /// Finds `pages` contiguous free pages and marks them used; returns the first page's index.
    fn take(&mut self, pages: usize) -> Option<usize> {
        let mut run = 0;
        for index in 0..CHUNK_PAGES {
            run = if self.used[index] { 0 } else { run + 1 };
            if run == pages {
                let first = index + 1 - pages;
                self.used[first..=index].fill(true);
                return Some(first);
            }
        }
        None
    }
}

/// A mapping of its own for a large allocation.
struct Dedicated {
    memory: PageMemory,
    iova: u64,
}

/// Mutable state of a [`DmaPool`].
struct PoolState {
    iova: IovaAllocator,
    chunks: Vec<Chunk>,
    dedicated: Vec<Dedicated>,
    /// Streaming mappings ([`DmaPool::map_external`]) live, and their bytes.
    external: (usize, u64),
    stats: PoolStats,
    locked_bytes: u64,
}

/// A pool of DMA memory mapped through an [`IommuMapper`].
pub struct DmaPool<M: IommuMapper> {
    mapper: M,
    state: Mutex<PoolState>,
}

impl<M: IommuMapper> DmaPool<M> {
    /// Creates a pool whose bus addresses come from `iova`.
    pub fn new(mapper: M, iova: IovaAllocator) -> Self {
        Self {
            mapper,
            state: Mutex::new(PoolState {
                iova,
                chunks: Vec::new(),
                dedicated: Vec::new(),
                external: (0, 0),
                stats: PoolStats::default(),
                locked_bytes: 0,
            }),
        }
    }

    /// Returns the mapper.
    pub fn mapper(&self) -> &M {
        &self.mapper
    }

    /// Returns the pool's counters.
    pub fn stats(&self) -> PoolStats {
        let state = self.lock();
        let dedicated: u64 = state.dedicated.iter().map(|d| d.memory.len() as u64).sum();
        PoolStats {
            mappings: state.chunks.len() + state.dedicated.len() + state.external.0,
            mapped_bytes: (state.chunks.len() * CHUNK_SIZE) as u64 + dedicated + state.external.1,
            ..state.stats
        }
    }

    /// Returns the bus address ranges the pool may map and has not, as inclusive `(first, last)`
    /// pairs, lowest first: a device access there has no translation and the IOMMU blocks it.
    pub fn unmapped_ranges(&self) -> Vec<(u64, u64)> {
        self.lock().iova.free_ranges()
    }

    /// Whether every page of the `len` bytes at bus address `iova` belongs to a live allocation
    /// (one [`DmaPool::alloc`] returned and [`DmaPool::free`] has not taken back). A freed piece
    /// of a chunk stays mapped, so this, not the IOMMU, tells memory the device may still use
    /// from memory the pool may hand out again.
    pub fn allocated(&self, iova: u64, len: usize) -> bool {
        let state = self.lock();
        let first = iova - iova % PAGE_SIZE as u64;
        let end = iova.saturating_add(len.max(1) as u64);
        (first..end).step_by(PAGE_SIZE).all(|page| {
            let in_chunk = state.chunks.iter().find_map(|chunk| {
                let offset = page.checked_sub(chunk.iova)?;
                (offset < CHUNK_SIZE as u64).then(|| chunk.used[offset as usize / PAGE_SIZE])
            });
            in_chunk.unwrap_or_else(|| {
                state
                    .dedicated
                    .iter()
                    .any(|d| (d.iova..d.iova + d.memory.len() as u64).contains(&page))
            })
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Allocates `size` bytes of zeroed memory mapped at a bus address range whose last byte is
    /// at most `mask`.
    pub fn alloc(&self, size: usize, mask: u64) -> Result<CoherentRegion, HostError> {
        let size = super::page_aligned(size);
        let mut state = self.lock();
        let region = if size > CHUNK_SIZE / 2 {
            self.alloc_dedicated(&mut state, size, mask)?
        } else {
            self.alloc_from_chunk(&mut state, size, mask)?
        };
        state.stats.live_allocations += 1;
        Ok(region)
    }

    fn alloc_from_chunk(
        &self,
        state: &mut PoolState,
        size: usize,
        mask: u64,
    ) -> Result<CoherentRegion, HostError> {
        let pages = size / PAGE_SIZE;
        let fits = |chunk: &Chunk| chunk.iova + CHUNK_SIZE as u64 - 1 <= mask;
        let found = state
            .chunks
            .iter_mut()
            .enumerate()
            .filter(|(_, chunk)| fits(chunk))
            .find_map(|(index, chunk)| chunk.take(pages).map(|first| (index, first)));
        let (index, first) = match found {
            Some(found) => found,
            None => {
                let (memory, iova) = self.new_mapping(state, CHUNK_SIZE, mask)?;
                let mut chunk = Chunk {
                    memory,
                    iova,
                    used: [false; CHUNK_PAGES],
                };
                let first = chunk.take(pages).expect("a fresh chunk has room");
                state.chunks.push(chunk);
                state.stats.chunks = state.chunks.len();
                (state.chunks.len() - 1, first)
            }
        };
        let chunk = &state.chunks[index];
        let offset = first * PAGE_SIZE;
        chunk.memory.zero(offset, size);
        // SAFETY: `offset` is inside the chunk's mapping, so the result is in bounds and non-null.
        let cpu = unsafe { NonNull::new_unchecked(chunk.memory.as_ptr().as_ptr().add(offset)) };
        Ok(CoherentRegion {
            cpu_addr: cpu,
            dma_addr: chunk.iova + offset as u64,
            size,
        })
    }

    fn alloc_dedicated(
        &self,
        state: &mut PoolState,
        size: usize,
        mask: u64,
    ) -> Result<CoherentRegion, HostError> {
        let size = if size >= HUGE_PAGE_SIZE {
            size.div_ceil(HUGE_PAGE_SIZE) * HUGE_PAGE_SIZE
        } else {
            size
        };
        let (memory, iova) = self.new_mapping(state, size, mask)?;
        let region = CoherentRegion {
            cpu_addr: memory.as_ptr(),
            dma_addr: iova,
            size,
        };
        state.dedicated.push(Dedicated { memory, iova });
        Ok(region)
    }

    /// Maps fresh memory of `size` bytes under `mask`; returns it with its bus address.
    fn new_mapping(
        &self,
        state: &mut PoolState,
        size: usize,
        mask: u64,
    ) -> Result<(PageMemory, u64), HostError> {
        let lock = self.mapper.needs_locked_memory();
        if lock {
            super::memory::check_memlock(state.locked_bytes, size as u64)?;
        }
        let align = if size.is_multiple_of(HUGE_PAGE_SIZE) {
            HUGE_PAGE_SIZE
        } else {
            PAGE_SIZE
        } as u64;
        let iova = state
            .iova
            .alloc(size as u64, align, mask)
            .ok_or(HostError::IovaExhausted {
                size: size as u64,
                mask,
            })?;
        let memory = if size.is_multiple_of(HUGE_PAGE_SIZE) {
            chunk_memory(size, lock)
        } else {
            PageMemory::new(size, false, lock)
        };
        let memory = match memory {
            Ok(memory) => memory,
            Err(err) => {
                state.iova.free(iova, size as u64);
                return Err(err);
            }
        };
        state.stats.maps += 1;
        if let Err(err) = self.mapper.map(iova, memory.as_ptr(), size) {
            state.iova.free(iova, size as u64);
            return Err(err);
        }
        if lock {
            state.locked_bytes += size as u64;
        }
        Ok((memory, iova))
    }

    /// Frees an allocation returned by [`DmaPool::alloc`].
    ///
    /// The device must no longer access it. Pieces of chunks return to their chunk, which stays
    /// mapped; dedicated mappings are unmapped from the IOMMU and then from the process.
    pub fn free(&self, region: &CoherentRegion) {
        let mut state = self.lock();
        state.stats.live_allocations -= 1;
        let dma = region.dma_addr;
        if let Some(chunk) = state
            .chunks
            .iter_mut()
            .find(|c| (c.iova..c.iova + CHUNK_SIZE as u64).contains(&dma))
        {
            let first = ((dma - chunk.iova) as usize) / PAGE_SIZE;
            chunk.used[first..first + region.size / PAGE_SIZE].fill(false);
            return;
        }
        if let Some(index) = state.dedicated.iter().position(|d| d.iova == dma) {
            let dedicated = state.dedicated.swap_remove(index);
            let len = dedicated.memory.len();
            state.stats.unmaps += 1;
            if let Err(err) = self.mapper.unmap(dedicated.iova, len) {
                // The translation may still exist: keep the memory mapped and the IOVA reserved
                // rather than let the device reach memory that is reused.
                log::error!(target: "drydock", "DMA unmap failed, leaking the buffer: {err}");
                core::mem::forget(dedicated.memory);
                return;
            }
            state.iova.free(dedicated.iova, len as u64);
            if self.mapper.needs_locked_memory() {
                state.locked_bytes -= len as u64;
            }
            return;
        }
        log::error!(target: "drydock", "freeing DMA memory at {dma:#x} that this pool did not allocate");
    }
}

impl<M: IommuMapper> DmaPool<M> {
    /// Maps `len` bytes of the caller's memory at `vaddr` (page aligned, whole pages) for
    /// streaming DMA under `mask`; returns the bus address.
    ///
    /// The caller keeps the memory alive and in place until [`DmaPool::unmap_external`].
    pub fn map_external(
        &self,
        vaddr: NonNull<u8>,
        len: usize,
        mask: u64,
    ) -> Result<u64, HostError> {
        debug_assert!(
            vaddr.as_ptr().addr().is_multiple_of(PAGE_SIZE) && len.is_multiple_of(PAGE_SIZE)
        );
        let mut state = self.lock();
        let iova = state.iova.alloc(len as u64, PAGE_SIZE as u64, mask).ok_or(
            HostError::IovaExhausted {
                size: len as u64,
                mask,
            },
        )?;
        state.stats.maps += 1;
        if let Err(err) = self.mapper.map(iova, vaddr, len) {
            state.iova.free(iova, len as u64);
            return Err(err);
        }
        state.external.0 += 1;
        state.external.1 += len as u64;
        Ok(iova)
    }

    /// Removes a mapping made by [`DmaPool::map_external`].
    pub fn unmap_external(&self, iova: u64, len: usize) {
        let mut state = self.lock();
        state.stats.unmaps += 1;
        match self.mapper.unmap(iova, len) {
            Ok(()) => {
                state.iova.free(iova, len as u64);
                state.external.0 -= 1;
                state.external.1 -= len as u64;
            }
            // Keep the IOVA reserved: the translation may still exist.
            Err(err) => log::error!(target: "drydock", "DMA unmap of {iova:#x} failed: {err}"),
        }
    }
}

impl<M: IommuMapper + 'static> super::DmaSpace for DmaPool<M> {
    fn alloc_coherent(&self, size: usize, mask: u64) -> Result<CoherentRegion, HostError> {
        self.alloc(size, mask)
    }

    fn free_coherent(&self, region: &CoherentRegion) {
        self.free(region)
    }

    fn map_pages(&self, vaddr: NonNull<u8>, len: usize, mask: u64) -> Result<u64, HostError> {
        self.map_external(vaddr, len, mask)
    }

    fn unmap_pages(&self, iova: u64, len: usize) {
        self.unmap_external(iova, len)
    }

    fn stats(&self) -> PoolStats {
        DmaPool::stats(self)
    }
}

impl<M: IommuMapper> Drop for DmaPool<M> {
    fn drop(&mut self) {
        let state = self.state.get_mut().unwrap_or_else(|e| e.into_inner());
        let mappings = state
            .chunks
            .drain(..)
            .map(|c| (c.iova, c.memory))
            .chain(state.dedicated.drain(..).map(|d| (d.iova, d.memory)));
        for (iova, memory) in mappings {
            if let Err(err) = self.mapper.unmap(iova, memory.len()) {
                log::error!(target: "drydock", "DMA unmap at pool teardown failed, leaking: {err}");
                core::mem::forget(memory);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::iova::MSI_WINDOW;
    use super::*;
    use proptest::prelude::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    /// Records mappings, as an IOMMU would hold them.
    #[derive(Default)]
    struct FakeIommu {
        maps: AtomicU64,
        live: std::sync::Arc<Mutex<Vec<(u64, usize)>>>,
    }

    impl IommuMapper for FakeIommu {
        fn map(&self, iova: u64, _vaddr: NonNull<u8>, len: usize) -> Result<(), HostError> {
            self.maps.fetch_add(1, Ordering::Relaxed);
            self.live.lock().unwrap().push((iova, len));
            Ok(())
        }
        fn unmap(&self, iova: u64, len: usize) -> Result<(), HostError> {
            let mut live = self.live.lock().unwrap();
            let index = live.iter().position(|m| *m == (iova, len)).expect("mapped");
            live.remove(index);
            Ok(())
        }
        fn needs_locked_memory(&self) -> bool {
            false
        }
    }

    fn pool() -> DmaPool<FakeIommu> {
        DmaPool::new(
            FakeIommu::default(),
            IovaAllocator::new(&[(0, (1 << 39) - 1)], &[MSI_WINDOW]),
        )
    }

    #[test]
    fn many_small_allocations_cost_one_mapping() {
        let pool = pool();
        let regions: Vec<_> = (0..100)
            .map(|_| pool.alloc(64, u64::MAX).unwrap())
            .collect();
        assert_eq!(pool.mapper().maps.load(Ordering::Relaxed), 1);
        assert_eq!(pool.stats().chunks, 1);
        // Page granular, disjoint, and inside the one mapping.
        let mut addrs: Vec<u64> = regions.iter().map(|r| r.dma_addr).collect();
        addrs.sort_unstable();
        addrs
            .windows(2)
            .for_each(|w| assert!(w[1] - w[0] >= PAGE_SIZE as u64));
        for r in &regions {
            assert_eq!(r.dma_addr % PAGE_SIZE as u64, 0);
            pool.free(r);
        }
        assert_eq!(pool.stats().live_allocations, 0);
    }

    #[test]
    fn unmapped_ranges_are_the_complement_of_the_live_mappings() {
        let pool = pool();
        let small = pool.alloc(4096, (1 << 28) - 1).unwrap();
        let large = pool.alloc(4 * CHUNK_SIZE, u64::MAX).unwrap();
        let unmapped = pool.unmapped_ranges();
        let live = pool.mapper().live.lock().unwrap().clone();
        assert_eq!(live.len(), 2);
        for &(iova, len) in &live {
            let last = iova + len as u64 - 1;
            assert!(
                unmapped
                    .iter()
                    .all(|&(first, end)| last < first || iova > end),
                "mapping {iova:#x}..={last:#x} is reported unmapped"
            );
        }
        let aperture = 1u64 << 39;
        let msi_window = MSI_WINDOW.1 - MSI_WINDOW.0 + 1;
        let covered: u64 = unmapped
            .iter()
            .map(|(first, last)| last - first + 1)
            .sum::<u64>()
            + live.iter().map(|&(_, len)| len as u64).sum::<u64>();
        assert_eq!(covered, aperture - msi_window);
        pool.free(&small);
        pool.free(&large);
    }

    #[test]
    fn allocations_respect_the_mask() {
        let pool = pool();
        let narrow = pool.alloc(4096, (1 << 28) - 1).unwrap();
        assert!(narrow.dma_addr + 4095 < 1 << 28);
        let wide = pool.alloc(4096, u64::MAX).unwrap();
        // The wide allocation may share the narrow chunk: any address is fine for it.
        let narrow2 = pool.alloc(4096, (1 << 28) - 1).unwrap();
        assert!(narrow2.dma_addr + 4095 < 1 << 28);
        for r in [&narrow, &wide, &narrow2] {
            pool.free(r);
        }
    }

    #[test]
    fn memory_is_zeroed_when_reused() {
        let pool = pool();
        let r = pool.alloc(4096, u64::MAX).unwrap();
        // SAFETY: the region is 4096 bytes of memory owned by the allocation.
        unsafe { core::ptr::write_bytes(r.cpu_addr.as_ptr(), 0x5a, 4096) };
        pool.free(&r);
        let again = pool.alloc(4096, u64::MAX).unwrap();
        assert_eq!(again.dma_addr, r.dma_addr, "the freed page is reused");
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(again.cpu_addr.as_ptr(), 4096) };
        assert!(bytes.iter().all(|&b| b == 0));
        pool.free(&again);
    }

    #[test]
    fn large_allocations_get_their_own_mapping_and_are_unmapped() {
        let pool = pool();
        let big = pool.alloc(3 << 20, u64::MAX).unwrap();
        assert_eq!(big.size, 4 << 20);
        assert_eq!(pool.mapper().live.lock().unwrap().len(), 1);
        pool.free(&big);
        assert!(pool.mapper().live.lock().unwrap().is_empty());
        assert_eq!(pool.stats().unmaps, 1);
    }

    #[test]
    fn allocated_tells_live_memory_from_freed_memory_that_stays_mapped() {
        let pool = pool();
        let small = pool.alloc(2 * PAGE_SIZE, u64::MAX).unwrap();
        let large = pool.alloc(3 << 20, u64::MAX).unwrap();
        let (small_addr, large_addr) = (small.dma_addr, large.dma_addr);
        assert!(pool.allocated(small_addr, small.size));
        assert!(pool.allocated(small_addr + 100, 16), "inside, unaligned");
        assert!(
            !pool.allocated(small_addr, small.size + 1),
            "one byte beyond"
        );
        assert!(pool.allocated(large_addr, large.size));
        pool.free(&small);
        pool.free(&large);
        assert!(
            !pool.allocated(small_addr, 1),
            "freed, though its chunk stays mapped"
        );
        assert_eq!(pool.mapper().live.lock().unwrap().len(), 1);
        assert!(!pool.allocated(large_addr, 1));
    }

    #[test]
    fn the_counts_follow_what_the_iommu_holds() {
        let pool = pool();
        let small = pool.alloc(PAGE_SIZE, u64::MAX).unwrap();
        let large = pool.alloc(3 << 20, u64::MAX).unwrap();
        let page = PageMemory::new(2 * PAGE_SIZE, false, false).unwrap();
        let streaming = pool
            .map_external(page.as_ptr(), 2 * PAGE_SIZE, u64::MAX)
            .unwrap();
        let stats = pool.stats();
        assert_eq!((stats.mappings, stats.live_allocations), (3, 2));
        let held: u64 = pool
            .mapper()
            .live
            .lock()
            .unwrap()
            .iter()
            .map(|m| m.1 as u64)
            .sum();
        assert_eq!(stats.mapped_bytes, held);
        assert_eq!(held, (CHUNK_SIZE + (4 << 20) + 2 * PAGE_SIZE) as u64);
        pool.unmap_external(streaming, 2 * PAGE_SIZE);
        pool.free(&large);
        pool.free(&small);
        // The chunk stays mapped.
        let stats = pool.stats();
        assert_eq!((stats.mappings, stats.mapped_bytes), (1, CHUNK_SIZE as u64));
        assert_eq!((stats.maps, stats.unmaps), (3, 2));
    }

    #[test]
    fn an_exhausted_aperture_is_an_error() {
        let pool = DmaPool::new(
            FakeIommu::default(),
            IovaAllocator::new(&[(0, CHUNK_SIZE as u64 - 1)], &[]),
        );
        let first = pool.alloc(CHUNK_SIZE / 2, u64::MAX).unwrap();
        let err = pool.alloc(CHUNK_SIZE, u64::MAX).unwrap_err();
        assert!(matches!(err, HostError::IovaExhausted { .. }));
        pool.free(&first);
    }

    #[test]
    fn dropping_the_pool_unmaps_everything() {
        let pool = pool();
        let _small = pool.alloc(4096, u64::MAX).unwrap();
        let _large = pool.alloc((1 << 20) + 1, u64::MAX).unwrap();
        let live = pool.mapper().live.clone();
        assert_eq!(live.lock().unwrap().len(), 2);
        drop(pool);
        assert!(live.lock().unwrap().is_empty());
    }

    /// One step of a pool's life in the property test.
    #[derive(Clone, Debug)]
    enum Step {
        /// Allocates `size` bytes, under edu's 28-bit mask when `narrow`.
        Alloc { size: usize, narrow: bool },
        /// Frees the live allocation at this index (modulo their number).
        Free(usize),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (1usize..=3 * PAGE_SIZE, any::<bool>())
                .prop_map(|(size, narrow)| Step::Alloc { size, narrow }),
            1 => (CHUNK_SIZE / 2 + 1..=CHUNK_SIZE + PAGE_SIZE, any::<bool>())
                .prop_map(|(size, narrow)| Step::Alloc { size, narrow }),
            5 => any::<usize>().prop_map(Step::Free),
        ]
    }

    /// The bytes of a live region.
    fn bytes(region: &CoherentRegion) -> &[u8] {
        // SAFETY: the region is live (the test frees it only after its last use) and the pool
        // owns its `size` bytes; nothing writes them while this borrow exists.
        unsafe { core::slice::from_raw_parts(region.cpu_addr.as_ptr(), region.size) }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Whatever the sequence of allocations and frees: every allocation is page aligned,
        /// large enough, zeroed, under its mask, outside the MSI window and inside a live
        /// mapping; live allocations never overlap, in bus or in CPU addresses, and keep what was
        /// written to them; small allocations share chunks (one mapping per chunk); and dropping
        /// the pool leaves nothing mapped.
        #[test]
        fn allocations_are_disjoint_zeroed_mapped_and_kept(
            steps in proptest::collection::vec(step(), 1..48)
        ) {
            let pool = pool();
            let narrow_mask = (1u64 << 28) - 1;
            let mut live: Vec<(CoherentRegion, u8)> = Vec::new();
            let mut large_allocations = 0u64;
            for (tag, step) in (1u8..).zip(steps) {
                match step {
                    Step::Alloc { size, narrow } => {
                        let mask = if narrow { narrow_mask } else { u64::MAX };
                        let region = pool.alloc(size, mask).unwrap();
                        prop_assert!(region.size >= size);
                        prop_assert_eq!(region.size % PAGE_SIZE, 0);
                        prop_assert_eq!(region.dma_addr % PAGE_SIZE as u64, 0);
                        let last = region.dma_addr + region.size as u64 - 1;
                        prop_assert!(last <= mask, "{:#x} beyond {:#x}", last, mask);
                        prop_assert!(last < MSI_WINDOW.0 || region.dma_addr > MSI_WINDOW.1);
                        prop_assert!(bytes(&region).iter().all(|&b| b == 0), "not zeroed");
                        large_allocations += u64::from(size > CHUNK_SIZE / 2);
                        // SAFETY: the region is live and owned by this test's allocation.
                        unsafe { core::ptr::write_bytes(region.cpu_addr.as_ptr(), tag, region.size) };
                        live.push((region, tag));
                    }
                    Step::Free(index) => {
                        if !live.is_empty() {
                            let (region, _) = live.swap_remove(index % live.len());
                            pool.free(&region);
                        }
                    }
                }
                let mappings = pool.mapper().live.lock().unwrap().clone();
                for (i, (a, tag)) in live.iter().enumerate() {
                    prop_assert!(bytes(a).iter().all(|b| b == tag), "allocation {} changed", i);
                    let (first, last) = (a.dma_addr, a.dma_addr + a.size as u64 - 1);
                    prop_assert!(
                        mappings
                            .iter()
                            .any(|&(iova, len)| iova <= first && last < iova + len as u64),
                        "{:#x}..={:#x} is not mapped", first, last
                    );
                    for b in &live[i + 1..] {
                        let b = &b.0;
                        prop_assert!(
                            last < b.dma_addr || b.dma_addr + b.size as u64 - 1 < first,
                            "bus addresses overlap"
                        );
                        let (cpu_a, cpu_b) = (a.cpu_addr.as_ptr() as usize, b.cpu_addr.as_ptr() as usize);
                        prop_assert!(cpu_a + a.size <= cpu_b || cpu_b + b.size <= cpu_a, "memory overlaps");
                    }
                }
                let stats = pool.stats();
                prop_assert_eq!(stats.live_allocations, live.len());
                // What the pool says it has mapped is what the IOMMU holds.
                prop_assert_eq!(stats.mappings, mappings.len());
                prop_assert_eq!(
                    stats.mapped_bytes,
                    mappings.iter().map(|&(_, len)| len as u64).sum::<u64>()
                );
                // One mapping per chunk (chunks stay mapped), plus one per large allocation.
                prop_assert_eq!(stats.maps, stats.chunks as u64 + large_allocations);
            }
            for (region, _) in &live {
                pool.free(region);
            }
            let mappings = pool.mapper().live.clone();
            drop(pool);
            prop_assert!(mappings.lock().unwrap().is_empty(), "the dropped pool left mappings");
        }
    }
}
