//! DMA without an IOMMU: memory at known physical addresses.
//!
//! A device bound to `uio_pci_generic` reaches memory at bus addresses that are physical
//! addresses (on x86 without an IOMMU, or with the device in an identity domain: `iommu=pt`). So
//! the "mapping" step of [`DmaPool`](crate::dma::pool::DmaPool) does not exist here: the
//! bus address is not chosen but found, in `/proc/self/pagemap`, for memory that is locked so it
//! stays where it is. That is why [`PhysDma`] is a [`DmaSpace`] of its own rather than an
//! `IommuMapper` under the pool: the pool allocates an address first and maps memory there, which
//! physical memory cannot do.
//!
//! - A coherent allocation of up to one page uses a locked 4 KiB page, which is physically
//!   contiguous by definition. If its physical address is above the DMA mask, more pages are
//!   tried (a few dozen) before giving up.
//! - A larger allocation needs physically contiguous memory: it gets a 2 MiB huge page of its own,
//!   so huge pages must be reserved (`/proc/sys/vm/nr_hugepages`). Nothing larger is possible.
//! - Streaming mappings lock the caller's pages and must be physically contiguous.
//!
//! Reading physical addresses needs `CAP_SYS_ADMIN`: without it the kernel reports them as 0, and
//! allocations fail with [`HostError::NoPhysicalAddresses`].
//!
//! **No isolation**: the device can reach all of memory, and a wrong address written to it
//! corrupts whatever lives there. Use UIO only where VFIO is impossible.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::Mutex;

use crate::dma::memory::{PageMemory, HUGE_PAGE_SIZE, PAGE_SIZE};
use crate::dma::{CoherentRegion, DmaSpace, PoolStats};
use crate::error::HostError;

/// How many pages a one-page allocation tries before giving up on finding one under the mask.
const PAGE_ATTEMPTS: usize = 64;

/// Bit 63 of a pagemap entry: the page is present.
const PAGEMAP_PRESENT: u64 = 1 << 63;
/// Bits 0 to 54 of a pagemap entry: the page frame number.
const PAGEMAP_PFN_MASK: u64 = (1 << 55) - 1;

/// Decodes a `/proc/self/pagemap` entry into a page frame number (`None`: the page is not
/// present). A present page with PFN 0 means the kernel hides PFNs (no `CAP_SYS_ADMIN`).
pub fn decode_pagemap(entry: u64) -> Result<Option<u64>, HostError> {
    if entry & PAGEMAP_PRESENT == 0 {
        return Ok(None);
    }
    match entry & PAGEMAP_PFN_MASK {
        0 => Err(HostError::NoPhysicalAddresses),
        pfn => Ok(Some(pfn)),
    }
}

/// Returns the physical address of the byte at `vaddr` (in a present, locked page).
pub fn physical_address(pagemap: &File, vaddr: usize) -> Result<u64, HostError> {
    let mut entry = [0u8; 8];
    pagemap
        .read_exact_at(&mut entry, (vaddr / PAGE_SIZE * 8) as u64)
        .map_err(|err| HostError::os("reading /proc/self/pagemap", err))?;
    let pfn = decode_pagemap(u64::from_ne_bytes(entry))?.ok_or_else(|| {
        HostError::os(
            format!("the page at {vaddr:#x} is not present"),
            std::io::Error::from_raw_os_error(libc::EFAULT),
        )
    })?;
    Ok(pfn * PAGE_SIZE as u64 + (vaddr % PAGE_SIZE) as u64)
}

/// Returns the physical address of `len` bytes at `vaddr` if they are physically contiguous.
fn contiguous_address(pagemap: &File, vaddr: usize, len: usize) -> Result<Option<u64>, HostError> {
    let first = physical_address(pagemap, vaddr)?;
    for page in (PAGE_SIZE..len).step_by(PAGE_SIZE) {
        if physical_address(pagemap, vaddr + page)? != first + page as u64 {
            return Ok(None);
        }
    }
    Ok(Some(first))
}

/// Memory handed out as coherent DMA memory.
struct Allocation {
    memory: PageMemory,
    phys: u64,
}

/// Caller memory locked for streaming DMA.
struct Streaming {
    phys: u64,
    vaddr: usize,
    len: usize,
}

struct PhysState {
    allocations: Vec<Allocation>,
    streaming: Vec<Streaming>,
    stats: PoolStats,
}

/// The physical address space, as devices without an IOMMU see it.
pub struct PhysDma {
    pagemap: File,
    state: Mutex<PhysState>,
}

impl PhysDma {
    /// Opens `/proc/self/pagemap`.
    pub fn new() -> Result<Self, HostError> {
        let pagemap = File::open("/proc/self/pagemap")
            .map_err(|err| HostError::os("opening /proc/self/pagemap", err))?;
        Ok(Self {
            pagemap,
            state: Mutex::new(PhysState {
                allocations: Vec::new(),
                streaming: Vec::new(),
                stats: PoolStats::default(),
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PhysState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Finds locked, physically contiguous memory of `size` bytes whose last byte is at most
    /// `mask`.
    fn find_memory(&self, size: usize, mask: u64) -> Result<Allocation, HostError> {
        let fits = |phys: u64| phys + size as u64 - 1 <= mask;
        if size <= PAGE_SIZE {
            // Pages above the mask are kept until the search ends, so they are not found again.
            let mut rejected = Vec::new();
            for _ in 0..PAGE_ATTEMPTS {
                let memory = PageMemory::new(PAGE_SIZE, false, true)?;
                let phys = physical_address(&self.pagemap, memory.as_ptr().as_ptr().addr())?;
                if fits(phys) {
                    return Ok(Allocation { memory, phys });
                }
                rejected.push(memory);
            }
            return Err(HostError::PhysicalAboveMask { mask });
        }
        if size > HUGE_PAGE_SIZE {
            return Err(HostError::Unsupported {
                device: "UIO DMA".into(),
                what: format!(
                    "coherent allocations of {size} bytes (without an IOMMU, memory must be \
                     physically contiguous: at most one {HUGE_PAGE_SIZE}-byte huge page)"
                ),
            });
        }
        let memory = PageMemory::new(HUGE_PAGE_SIZE, true, true).map_err(|err| match err {
            HostError::Os { .. } => HostError::Unsupported {
                device: "UIO DMA".into(),
                what: format!(
                    "coherent allocations of {size} bytes without huge pages (without an IOMMU, \
                     they must be physically contiguous): reserve some with \
                     `echo 64 > /proc/sys/vm/nr_hugepages`"
                ),
            },
            other => other,
        })?;
        let phys = contiguous_address(
            &self.pagemap,
            memory.as_ptr().as_ptr().addr(),
            HUGE_PAGE_SIZE,
        )?
        .ok_or_else(|| {
            HostError::os(
                "a huge page is not physically contiguous",
                std::io::Error::from_raw_os_error(libc::EFAULT),
            )
        })?;
        if !fits(phys) {
            return Err(HostError::PhysicalAboveMask { mask });
        }
        Ok(Allocation { memory, phys })
    }
}

impl DmaSpace for PhysDma {
    fn alloc_coherent(&self, size: usize, mask: u64) -> Result<CoherentRegion, HostError> {
        let size = crate::dma::page_aligned(size);
        crate::dma::memory::check_memlock(
            self.lock()
                .allocations
                .iter()
                .map(|a| a.memory.len() as u64)
                .sum(),
            size as u64,
        )?;
        let allocation = self.find_memory(size, mask)?;
        let region = CoherentRegion {
            cpu_addr: allocation.memory.as_ptr(),
            dma_addr: allocation.phys,
            size,
        };
        let mut state = self.lock();
        state.allocations.push(allocation);
        state.stats.maps += 1;
        state.stats.live_allocations += 1;
        Ok(region)
    }

    fn free_coherent(&self, region: &CoherentRegion) {
        let mut state = self.lock();
        match state
            .allocations
            .iter()
            .position(|a| a.phys == region.dma_addr)
        {
            Some(index) => {
                drop(state.allocations.swap_remove(index));
                state.stats.unmaps += 1;
                state.stats.live_allocations -= 1;
            }
            None => {
                log::error!(target: "drydock", "freeing DMA memory at {:#x} that was not allocated here", region.dma_addr)
            }
        }
    }

    fn map_pages(&self, vaddr: NonNull<u8>, len: usize, mask: u64) -> Result<u64, HostError> {
        let addr = vaddr.as_ptr().addr();
        // SAFETY: locking pages of the caller's memory has no effect on its contents.
        if unsafe { libc::mlock(vaddr.as_ptr().cast(), len) } != 0 {
            return Err(HostError::last_os(format!("locking {len} bytes for DMA")));
        }
        let unlock = || {
            // SAFETY: undoing the lock above.
            unsafe { libc::munlock(vaddr.as_ptr().cast(), len) };
        };
        let phys = match contiguous_address(&self.pagemap, addr, len) {
            Ok(Some(phys)) if phys + len as u64 - 1 <= mask => phys,
            Ok(Some(_)) => {
                unlock();
                return Err(HostError::PhysicalAboveMask { mask });
            }
            Ok(None) => {
                unlock();
                return Err(HostError::Unsupported {
                    device: "UIO DMA".into(),
                    what: format!(
                        "streaming DMA of {len} bytes that are not physically contiguous (that \
                         needs an IOMMU: use VFIO)"
                    ),
                });
            }
            Err(err) => {
                unlock();
                return Err(err);
            }
        };
        let mut state = self.lock();
        state.streaming.push(Streaming {
            phys,
            vaddr: addr,
            len,
        });
        state.stats.maps += 1;
        Ok(phys)
    }

    fn unmap_pages(&self, iova: u64, len: usize) {
        let mut state = self.lock();
        match state
            .streaming
            .iter()
            .position(|s| s.phys == iova && s.len == len)
        {
            Some(index) => {
                let mapping = state.streaming.swap_remove(index);
                state.stats.unmaps += 1;
                // SAFETY: undoing the lock taken by `map_pages` on the caller's live memory.
                unsafe {
                    libc::munlock(
                        core::ptr::with_exposed_provenance::<libc::c_void>(mapping.vaddr),
                        mapping.len,
                    )
                };
            }
            None => {
                log::error!(target: "drydock", "unmapping {len} bytes at {iova:#x} that were not mapped here")
            }
        }
    }

    fn stats(&self) -> PoolStats {
        let state = self.lock();
        let allocated: u64 = state
            .allocations
            .iter()
            .map(|a| a.memory.len() as u64)
            .sum();
        let streaming: u64 = state.streaming.iter().map(|s| s.len as u64).sum();
        PoolStats {
            mappings: state.allocations.len() + state.streaming.len(),
            mapped_bytes: allocated + streaming,
            ..state.stats
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pagemap_entries_decode() {
        assert_eq!(decode_pagemap(0).unwrap(), None);
        assert_eq!(
            decode_pagemap(PAGEMAP_PRESENT | 0x1234).unwrap(),
            Some(0x1234)
        );
        // Soft-dirty and exclusive bits (55, 56) are not part of the PFN.
        assert_eq!(
            decode_pagemap(PAGEMAP_PRESENT | (3 << 55) | 0x42).unwrap(),
            Some(0x42)
        );
        let hidden = decode_pagemap(PAGEMAP_PRESENT).unwrap_err();
        assert!(matches!(hidden, HostError::NoPhysicalAddresses));
        assert!(hidden.to_string().contains("CAP_SYS_ADMIN"));
    }

    #[test]
    fn page_allocations_have_physical_addresses_or_say_why_not() {
        let dma = PhysDma::new().unwrap();
        match dma.alloc_coherent(64, u64::MAX) {
            Ok(region) => {
                assert_eq!(region.dma_addr % PAGE_SIZE as u64, 0);
                assert_ne!(region.dma_addr, 0);
                assert_eq!(dma.stats().live_allocations, 1);
                dma.free_coherent(&region);
                assert_eq!(dma.stats().live_allocations, 0);
            }
            // Without CAP_SYS_ADMIN, or with a memory-lock limit too low for a page.
            Err(HostError::NoPhysicalAddresses | HostError::MemlockTooLow { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
}
