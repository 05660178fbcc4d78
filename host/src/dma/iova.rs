//! Allocation of bus addresses (IOVAs) for DMA mappings.
//!
//! Behind an IOMMU, the device sees memory at IOVAs the driver chooses, inside the ranges the IOMMU
//! can translate (`VFIO_IOMMU_GET_INFO` reports them) and outside the reserved ones (the MSI window
//! `0xfee00000..=0xfeefffff` on x86, where writes are interrupts, not memory). An allocation must
//! also fit under the device's DMA mask: edu, for example, only drives 28 address bits.
//!
//! [`IovaAllocator`] keeps the free ranges and allocates **top-down below the limit**, as the
//! kernel's IOVA allocator does, so devices with wide masks take high addresses and leave the low
//! ones to devices with narrow masks.

use std::collections::BTreeMap;

/// The x86 MSI window, which no DMA mapping may cover.
pub const MSI_WINDOW: (u64, u64) = (0xfee0_0000, 0xfeef_ffff);

/// A set of free IOVA ranges from which aligned blocks are allocated.
///
/// # Invariants
///
/// `free` maps the start of each free range to its end (exclusive); ranges are non-empty, disjoint
/// and not adjacent (adjacent ranges are merged).
#[derive(Debug, Clone)]
pub struct IovaAllocator {
    free: BTreeMap<u64, u64>,
}

impl IovaAllocator {
    /// Creates an allocator over `ranges` (inclusive `(first, last)` pairs), minus `reserved`
    /// (also inclusive pairs).
    pub fn new(ranges: &[(u64, u64)], reserved: &[(u64, u64)]) -> Self {
        let mut allocator = Self {
            free: BTreeMap::new(),
        };
        for &(first, last) in ranges {
            if first <= last {
                allocator.insert(first, last.saturating_add(1));
            }
        }
        for &(first, last) in reserved {
            allocator.take(first, last.saturating_add(1));
        }
        allocator
    }

    /// Allocates `size` bytes aligned to `align` (a power of two), with every address of the
    /// block at most `limit`, choosing the highest such block. Returns its first address.
    pub fn alloc(&mut self, size: u64, align: u64, limit: u64) -> Option<u64> {
        debug_assert!(align.is_power_of_two());
        if size == 0 {
            return None;
        }
        // The highest start such that the block ends at or below `limit`.
        let highest_start = limit.checked_sub(size - 1)?;
        let found = self
            .free
            .range(..=highest_start)
            .rev()
            .find_map(|(&start, &end)| {
                // The block's last address must be in the range and at most `limit`.
                let top = end.min(limit.saturating_add(1));
                let candidate = top.checked_sub(size)? & !(align - 1);
                (candidate >= start).then_some(candidate)
            })?;
        self.take(found, found + size);
        Some(found)
    }

    /// Returns a block to the free set. The block must have come from [`IovaAllocator::alloc`]
    /// with the same size and must not be freed twice.
    pub fn free(&mut self, iova: u64, size: u64) {
        self.insert(iova, iova + size);
    }

    /// Returns the number of free bytes.
    pub fn free_bytes(&self) -> u64 {
        self.free.iter().map(|(start, end)| end - start).sum()
    }

    /// Returns the free ranges as inclusive `(first, last)` pairs, lowest first.
    pub fn free_ranges(&self) -> Vec<(u64, u64)> {
        self.free.iter().map(|(&s, &e)| (s, e - 1)).collect()
    }

    /// Adds `[start, end)` to the free set, merging with neighbours.
    fn insert(&mut self, mut start: u64, mut end: u64) {
        debug_assert!(start < end);
        if let Some((&prev_start, &prev_end)) = self.free.range(..=start).next_back() {
            debug_assert!(prev_end <= start, "double free of IOVA {start:#x}");
            if prev_end == start {
                self.free.remove(&prev_start);
                start = prev_start;
            }
        }
        if let Some(&next_end) = self.free.get(&end) {
            self.free.remove(&end);
            end = next_end;
        }
        self.free.insert(start, end);
    }

    /// Removes `[start, end)` from the free set (the part of it that is free).
    fn take(&mut self, start: u64, end: u64) {
        let overlapping: Vec<(u64, u64)> = self
            .free
            .range(..end)
            .filter(|(_, &e)| e > start)
            .map(|(&s, &e)| (s, e))
            .collect();
        for (s, e) in overlapping {
            self.free.remove(&s);
            if s < start {
                self.free.insert(s, start);
            }
            if e > end {
                self.free.insert(end, e);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIB: u64 = 1 << 20;

    #[test]
    fn allocates_top_down_under_the_limit() {
        let mut a = IovaAllocator::new(&[(0, (1 << 39) - 1)], &[MSI_WINDOW]);
        let high = a.alloc(2 * MIB, 2 * MIB, u64::MAX).unwrap();
        assert_eq!(high, (1 << 39) - 2 * MIB);
        let edu = a.alloc(2 * MIB, 2 * MIB, (1 << 28) - 1).unwrap();
        assert_eq!(edu, (1 << 28) - 2 * MIB);
        assert!(edu + 2 * MIB - 1 < 1 << 28);
    }

    #[test]
    fn never_hands_out_the_msi_window() {
        // Only the 32-bit space, so the allocator must step around the window.
        let mut a = IovaAllocator::new(&[(0, u64::from(u32::MAX))], &[MSI_WINDOW]);
        let first = a.alloc(MIB, MIB, u64::from(u32::MAX)).unwrap();
        assert!(first > MSI_WINDOW.1, "{first:#x}");
        // Exhaust everything above the window, then the next block must be below it.
        while let Some(iova) = a.alloc(MIB, MIB, u64::from(u32::MAX)) {
            assert!(
                iova + MIB - 1 < MSI_WINDOW.0 || iova > MSI_WINDOW.1,
                "{iova:#x}"
            );
        }
    }

    #[test]
    fn fails_when_nothing_fits() {
        let mut a = IovaAllocator::new(&[(0x1000, 0x2fff)], &[]);
        assert_eq!(a.alloc(0x3000, 0x1000, u64::MAX), None);
        assert_eq!(a.alloc(0x1000, 0x1000, 0xfff), None);
        assert_eq!(a.alloc(0x2000, 0x1000, u64::MAX), Some(0x1000));
        assert_eq!(a.alloc(0x1000, 0x1000, u64::MAX), None);
    }

    #[test]
    fn freed_blocks_merge_back() {
        let mut a = IovaAllocator::new(&[(0, 0xffff)], &[]);
        let blocks: Vec<u64> = (0..16)
            .map(|_| a.alloc(0x1000, 0x1000, u64::MAX).unwrap())
            .collect();
        assert_eq!(a.free_bytes(), 0);
        // Free every other block first, so the second pass has to merge on both sides.
        for b in blocks
            .iter()
            .step_by(2)
            .chain(blocks.iter().skip(1).step_by(2))
        {
            a.free(*b, 0x1000);
        }
        assert_eq!(a.free_ranges(), vec![(0, 0xffff)]);
    }

    proptest! {
        /// Whatever the sequence of allocations and frees, an allocation succeeds exactly when
        /// the free space holds a suitable block, and returns the highest one; live blocks are
        /// aligned, under their limit, inside the aperture, outside the reserved window, and
        /// never overlap; and freeing everything restores the initial free space.
        #[test]
        fn blocks_are_valid_and_disjoint(
            ops in proptest::collection::vec((1u64..64, 0u32..4, any::<bool>(), 0usize..8), 1..200)
        ) {
            let aperture = (0u64, (1u64 << 32) - 1);
            let mut a = IovaAllocator::new(&[aperture], &[MSI_WINDOW]);
            let initial = a.free_bytes();
            let limits = [u64::MAX, (1 << 28) - 1, (1 << 31) - 1, 0xfef0_0000 + (1 << 20)];
            let mut live: Vec<(u64, u64)> = Vec::new();
            for (pages, align_log, free_one, limit_idx) in ops {
                if free_one && !live.is_empty() {
                    let (iova, size) = live.remove(pages as usize % live.len());
                    a.free(iova, size);
                    continue;
                }
                let size = pages * 0x1000;
                let align = 0x1000u64 << (align_log * 3);
                let limit = limits[limit_idx % limits.len()];
                // The oracle: the highest aligned start of a block inside one free range that
                // ends at or below the limit.
                let best = a
                    .free_ranges()
                    .iter()
                    .filter_map(|&(first, last)| {
                        let start = last.min(limit).checked_sub(size - 1)? & !(align - 1);
                        (start >= first).then_some(start)
                    })
                    .max();
                let got = a.alloc(size, align, limit);
                prop_assert_eq!(got, best);
                if let Some(iova) = got {
                    prop_assert_eq!(iova % align, 0);
                    prop_assert!(iova + size - 1 <= limit);
                    prop_assert!(iova + size - 1 <= aperture.1);
                    prop_assert!(iova + size - 1 < MSI_WINDOW.0 || iova > MSI_WINDOW.1);
                    for &(other, other_size) in &live {
                        prop_assert!(iova + size <= other || other + other_size <= iova);
                    }
                    live.push((iova, size));
                }
            }
            for (iova, size) in live {
                a.free(iova, size);
            }
            prop_assert_eq!(a.free_bytes(), initial);
        }
    }
}
