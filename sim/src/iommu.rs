//! The simulated IOMMU: the translation table through which simulated devices reach memory.
//!
//! Drivers map memory with the same pool as on VFIO ([`DmaPool`](drydock_host::dma::pool)); here
//! "mapping" records `IOVA -> process address` in a table, and a device model's DMA goes through
//! [`SimIommu::read`] and [`SimIommu::write`], which translate page by page. An access to an
//! address with no translation is blocked as a real IOMMU blocks it: a read returns zeros, a write
//! is dropped, and a [`DmaFault`] is recorded for the test to inspect. A driver that hands the
//! device a wrong address is therefore caught, and never corrupts memory.

use std::collections::BTreeMap;
use std::ptr::NonNull;
use std::sync::Mutex;

use drydock_host::dma::pool::IommuMapper;
use drydock_host::error::HostError;

/// A blocked DMA access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DmaFault {
    /// The first untranslatable bus address.
    pub addr: u64,
    /// Whether the device was writing.
    pub write: bool,
}

/// A translation: `len` bytes at IOVA `start` are process memory at `vaddr`.
#[derive(Clone, Copy)]
struct Translation {
    len: u64,
    vaddr: usize,
}

/// The translation table and fault log of one simulated bus.
#[derive(Default)]
pub struct SimIommu {
    table: Mutex<BTreeMap<u64, Translation>>,
    faults: Mutex<Vec<DmaFault>>,
}

impl SimIommu {
    /// Returns the faults recorded so far.
    pub fn faults(&self) -> Vec<DmaFault> {
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Finds the translation covering `addr`: the process address and how many bytes remain in
    /// the mapping from there.
    fn translate(&self, addr: u64) -> Option<(usize, u64)> {
        let table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        let (&start, t) = table.range(..=addr).next_back()?;
        let offset = addr - start;
        (offset < t.len).then(|| (t.vaddr + offset as usize, t.len - offset))
    }

    fn fault(&self, addr: u64, write: bool) {
        log::debug!(target: "drydock", "simulated IOMMU blocked a DMA {} at {addr:#x}", if write { "write" } else { "read" });
        self.faults
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(DmaFault { addr, write });
    }

    /// Reads `buf.len()` bytes at bus address `addr` on behalf of a device. Untranslated bytes
    /// read as zero and record a fault; returns `false` if any byte faulted.
    pub fn read(&self, mut addr: u64, buf: &mut [u8]) -> bool {
        let mut done = 0;
        let mut ok = true;
        while done < buf.len() {
            let rest = &mut buf[done..];
            match self.translate(addr) {
                Some((vaddr, avail)) => {
                    let n = rest.len().min(avail as usize);
                    for (i, byte) in rest[..n].iter_mut().enumerate() {
                        let src = core::ptr::with_exposed_provenance::<u8>(vaddr + i);
                        // SAFETY: the translation table holds only mappings made by the DMA pool,
                        // whose memory stays mapped in the process while the translation exists;
                        // `n` bytes from `vaddr` are inside it. Device accesses are volatile.
                        *byte = unsafe { src.read_volatile() };
                    }
                    done += n;
                    addr += n as u64;
                }
                None => {
                    self.fault(addr, false);
                    ok = false;
                    // Skip to the next page.
                    let skip = (0x1000 - (addr & 0xfff)) as usize;
                    let n = rest.len().min(skip);
                    rest[..n].fill(0);
                    done += n;
                    addr += n as u64;
                }
            }
        }
        ok
    }

    /// Writes `data` at bus address `addr` on behalf of a device. Untranslated bytes are dropped
    /// and record a fault; returns `false` if any byte faulted.
    pub fn write(&self, mut addr: u64, data: &[u8]) -> bool {
        let mut done = 0;
        let mut ok = true;
        while done < data.len() {
            let rest = &data[done..];
            match self.translate(addr) {
                Some((vaddr, avail)) => {
                    let n = rest.len().min(avail as usize);
                    for (i, &byte) in rest[..n].iter().enumerate() {
                        // SAFETY: as in `read`: the bytes are inside a live DMA mapping.
                        unsafe {
                            core::ptr::with_exposed_provenance_mut::<u8>(vaddr + i)
                                .write_volatile(byte)
                        };
                    }
                    done += n;
                    addr += n as u64;
                }
                None => {
                    self.fault(addr, true);
                    ok = false;
                    let skip = (0x1000 - (addr & 0xfff)) as usize;
                    let n = rest.len().min(skip);
                    done += n;
                    addr += n as u64;
                }
            }
        }
        ok
    }
}

impl IommuMapper for SimIommu {
    fn map(&self, iova: u64, vaddr: NonNull<u8>, len: usize) -> Result<(), HostError> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        table.insert(
            iova,
            Translation {
                len: len as u64,
                vaddr: vaddr.as_ptr().expose_provenance(),
            },
        );
        Ok(())
    }

    fn unmap(&self, iova: u64, len: usize) -> Result<(), HostError> {
        let mut table = self.table.lock().unwrap_or_else(|e| e.into_inner());
        match table.get(&iova) {
            Some(t) if t.len == len as u64 => {
                table.remove(&iova);
                Ok(())
            }
            _ => Err(HostError::os(
                format!("simulated IOMMU: unmapping {len} bytes at {iova:#x} that were not mapped"),
                std::io::Error::from_raw_os_error(libc::EINVAL),
            )),
        }
    }

    fn needs_locked_memory(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn translated_accesses_reach_memory_and_others_fault() {
        let iommu = Arc::new(SimIommu::default());
        let mut page = vec![0u8; 0x2000];
        let vaddr = NonNull::new(page.as_mut_ptr()).unwrap();
        iommu.map(0x10_0000, vaddr, 0x2000).unwrap();
        assert!(iommu.write(0x10_0ffe, &[1, 2, 3, 4]));
        assert_eq!(&page[0xffe..0x1002], &[1, 2, 3, 4]);
        let mut buf = [0xaa; 4];
        assert!(iommu.read(0x10_0ffe, &mut buf));
        assert_eq!(buf, [1, 2, 3, 4]);

        // Past the mapping: the write is dropped, the read gives zeros, both are recorded.
        assert!(!iommu.write(0x10_2000, &[9; 8]));
        assert!(!iommu.read(0x10_1ffe, &mut buf));
        assert_eq!(buf, [0, 0, 0, 0]);
        assert_eq!(
            iommu.faults(),
            vec![
                DmaFault {
                    addr: 0x10_2000,
                    write: true
                },
                DmaFault {
                    addr: 0x10_2000,
                    write: false
                }
            ]
        );
        iommu.unmap(0x10_0000, 0x2000).unwrap();
        assert!(!iommu.read(0x10_0000, &mut buf));
    }

    /// The DMA pool's named property (`docs/architecture.md`, "How a DMA allocation flows"): a
    /// freed small buffer stays mapped, so a device still holding its address writes there
    /// unhindered; a freed dedicated mapping is gone, and the same write faults.
    #[test]
    fn a_stale_write_reaches_a_freed_small_buffer_but_not_a_freed_dedicated_one() {
        use drydock_host::dma::iova::IovaAllocator;
        use drydock_host::dma::pool::{DmaPool, CHUNK_SIZE};

        let iommu = Arc::new(SimIommu::default());
        let pool = DmaPool::new(
            iommu.clone(),
            IovaAllocator::new(&[(0, (1 << 39) - 1)], &[]),
        );
        let small = pool.alloc(64, u64::MAX).unwrap();
        pool.free(&small);
        assert!(!pool.allocated(small.dma_addr, 64));
        assert!(
            iommu.write(small.dma_addr, &[0xa5; 64]),
            "the freed piece is still mapped"
        );
        assert!(iommu.faults().is_empty());
        // SAFETY: the chunk, and so the page, stays mapped in the process while the pool lives.
        let landed = unsafe { core::slice::from_raw_parts(small.cpu_addr.as_ptr(), 64) };
        assert_eq!(landed, [0xa5; 64]);
        // The page's next owner gets it zeroed, whatever was written meanwhile; a write after
        // that lands in the new owner's buffer, which the IOMMU cannot tell from a legitimate one.
        let next = pool.alloc(64, u64::MAX).unwrap();
        assert_eq!(next.dma_addr, small.dma_addr);
        // SAFETY: `next` is a live allocation of at least 64 bytes.
        let bytes = unsafe { core::slice::from_raw_parts(next.cpu_addr.as_ptr(), 64) };
        assert_eq!(bytes, [0; 64]);
        assert!(iommu.write(small.dma_addr, &[0x5a; 4]));
        // SAFETY: as above.
        let bytes = unsafe { core::slice::from_raw_parts(next.cpu_addr.as_ptr(), 4) };
        assert_eq!(bytes, [0x5a; 4]);
        pool.free(&next);

        let large = pool.alloc(CHUNK_SIZE, u64::MAX).unwrap();
        pool.free(&large);
        assert!(!iommu.write(large.dma_addr, &[0xa5; 64]));
        assert_eq!(
            iommu.faults(),
            [DmaFault {
                addr: large.dma_addr,
                write: true
            }]
        );
    }
}
