//! How a VFIO BAR region is made accessible: mapped whole, mapped in parts, or trapped.
//!
//! vfio-pci marks a region mappable (`VFIO_REGION_INFO_FLAG_MMAP`) when the BAR is memory and at
//! least a page (or alone on its page). It may narrow the mappable parts with a sparse-mmap
//! capability (historically, everything but the MSI-X table); since Linux 4.16 a region whose
//! MSI-X table may be mapped carries the MSI-X-mappable capability and no sparse areas. I/O port
//! BARs are never mappable. [`plan`] decides from the region information; [`map`] carries the
//! decision out with the host's `bar_file` module.

use super::caps::RegionInfo;
use super::device::VfioDevice;
use crate::bar_file::{FileRegion, MappedArea, MappedFile};
use crate::dma::memory::PAGE_SIZE;
use crate::error::HostError;
use crate::function::BarMapping;

/// How a region is made accessible.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum BarPlan {
    /// One mapping of the whole region (rounded up to whole pages).
    Whole,
    /// These `(offset, size)` areas are mapped, the rest is served with `pread`/`pwrite`.
    Sparse(Vec<(u64, u64)>),
    /// Every access is served with `pread`/`pwrite`.
    Trapped,
}

/// Decides how to reach `region`; `force_trap` serves it with `pread`/`pwrite` even when it could
/// be mapped (to test that path, or to watch every access).
pub(super) fn plan(region: &RegionInfo, force_trap: bool) -> BarPlan {
    if force_trap || !region.mappable() {
        return BarPlan::Trapped;
    }
    let Some(areas) = &region.sparse_areas else {
        return BarPlan::Whole;
    };
    let page = PAGE_SIZE as u64;
    // The region's end rounded up to a page; beyond the address space, no area ends past it.
    let region_end = region
        .size
        .checked_next_multiple_of(page)
        .unwrap_or(u64::MAX);
    let mut usable: Vec<(u64, u64)> = areas
        .iter()
        .copied()
        .filter(|&(offset, size)| {
            size > 0
                && offset.is_multiple_of(page)
                && offset
                    .checked_add(size)
                    .is_some_and(|end| end <= region_end)
        })
        .collect();
    usable.sort_unstable();
    // Areas that overlap (vfio-pci never reports such) are mapped once: an area starting inside
    // the one before it is dropped.
    let mut previous_end = 0;
    usable.retain(|&(offset, size)| {
        let keep = offset >= previous_end;
        if keep {
            previous_end = offset + size;
        }
        keep
    });
    match usable.as_slice() {
        [] => BarPlan::Trapped,
        [(0, size)] if *size >= region.size => BarPlan::Whole,
        _ => BarPlan::Sparse(usable),
    }
}

/// Makes the BAR `region` of `device` accessible, as [`plan`] decides.
pub(super) fn map(
    device: &VfioDevice,
    region: &RegionInfo,
    force_trap: bool,
) -> Result<BarMapping, HostError> {
    let name = format!("{} BAR{}", device.address(), region.index);
    let unsupported = || HostError::Unsupported {
        device: device.address().to_owned(),
        what: format!(
            "BAR{} of {:#x} bytes at {:#x} in this address space",
            region.index, region.size, region.offset
        ),
    };
    // The whole region, rounded up to a page, must have a place in the file and in memory.
    let len = usize::try_from(region.size)
        .ok()
        .filter(|len| {
            len.checked_next_multiple_of(PAGE_SIZE)
                .and_then(|mapped| region.offset.checked_add(mapped as u64))
                .is_some()
        })
        .ok_or_else(unsupported)?;
    let decision = plan(region, force_trap);
    log::debug!(target: "drydock", "{name}: {len:#x} bytes, {decision:?}");
    let areas = match decision {
        BarPlan::Whole => {
            let map = MappedFile::new(
                device.file(),
                region.offset,
                len.next_multiple_of(PAGE_SIZE),
                &name,
            )?;
            return Ok(BarMapping {
                addr: map.addr(),
                len,
                owner: Box::new(map),
            });
        }
        BarPlan::Sparse(areas) => areas,
        BarPlan::Trapped => Vec::new(),
    };
    let mapped = areas
        .into_iter()
        .map(|(offset, size)| {
            Ok(MappedArea {
                offset: offset as usize,
                map: MappedFile::new(device.file(), region.offset + offset, size as usize, &name)?,
            })
        })
        .collect::<Result<Vec<_>, HostError>>()?;
    FileRegion::new(device.shared_file(), region.offset, name, mapped).into_bar(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use vfio_bindings::bindings::vfio as sys;

    fn region(size: u64, flags: u32, sparse: Option<Vec<(u64, u64)>>) -> RegionInfo {
        RegionInfo {
            index: 0,
            flags,
            size,
            offset: 0,
            sparse_areas: sparse,
            msix_mappable: false,
            region_type: None,
        }
    }

    const RW: u32 = sys::VFIO_REGION_INFO_FLAG_READ | sys::VFIO_REGION_INFO_FLAG_WRITE;
    const MMAP: u32 = RW | sys::VFIO_REGION_INFO_FLAG_MMAP;

    #[test]
    fn mappable_regions_are_mapped_whole() {
        assert_eq!(plan(&region(1 << 20, MMAP, None), false), BarPlan::Whole);
        // A sub-page BAR alone on its page: one page is mapped.
        assert_eq!(plan(&region(256, MMAP, None), false), BarPlan::Whole);
        // A sparse capability that covers everything is a whole mapping.
        assert_eq!(
            plan(&region(0x4000, MMAP, Some(vec![(0, 0x4000)])), false),
            BarPlan::Whole
        );
    }

    #[test]
    fn unmappable_or_forced_regions_are_trapped() {
        // An I/O port BAR: readable and writable, never mappable.
        assert_eq!(plan(&region(256, RW, None), false), BarPlan::Trapped);
        assert_eq!(plan(&region(1 << 20, MMAP, None), true), BarPlan::Trapped);
        // Sparse areas that are all unusable (unaligned or empty) leave nothing to map.
        assert_eq!(
            plan(
                &region(0x4000, MMAP, Some(vec![(0x10, 0x1000), (0x2000, 0)])),
                false
            ),
            BarPlan::Trapped
        );
    }

    #[test]
    fn sparse_areas_are_honoured() {
        // The MSI-X table in the third page is excluded, as older kernels report it.
        let areas = vec![(0x3000, 0x1000), (0, 0x2000)];
        assert_eq!(
            plan(&region(0x4000, MMAP, Some(areas)), false),
            BarPlan::Sparse(vec![(0, 0x2000), (0x3000, 0x1000)])
        );
        // Areas running past the region are dropped.
        assert_eq!(
            plan(
                &region(0x4000, MMAP, Some(vec![(0, 0x1000), (0x3000, 0x2000)])),
                false
            ),
            BarPlan::Sparse(vec![(0, 0x1000)])
        );
    }

    #[test]
    fn overlapping_sparse_areas_are_mapped_once() {
        let areas = vec![(0x1000, 0x2000), (0, 0x2000), (0x3000, 0x1000)];
        assert_eq!(
            plan(&region(0x4000, MMAP, Some(areas)), false),
            BarPlan::Sparse(vec![(0, 0x2000), (0x3000, 0x1000)])
        );
    }

    #[test]
    fn a_region_at_the_end_of_the_address_space_is_planned_without_overflow() {
        let last = !0xfff - 0x1000;
        let areas = vec![(0, 0x1000), (last, 0x1000)];
        assert_eq!(
            plan(&region(u64::MAX, MMAP, Some(areas)), false),
            BarPlan::Sparse(vec![(0, 0x1000), (last, 0x1000)])
        );
    }

    #[test]
    fn a_parsed_region_with_sparse_areas_is_split() {
        let info = RegionInfo::parse(&super::super::caps::tests::sparse_region_info()).unwrap();
        assert_eq!(
            plan(&info, false),
            BarPlan::Sparse(vec![(0, 0x2000), (0x3000, 0x1000)])
        );
    }

    proptest! {
        #![proptest_config(drydock_sim::fuzz::config(1500))]

        /// Whatever a region-info answer holds, the plan maps only whole, non-empty, sorted
        /// pages inside the region (rounded up to a page), and maps it whole only if it may.
        #[test]
        fn a_plan_maps_only_pages_inside_the_region(
            buf in super::super::caps::tests::region_info_answer(),
            force_trap in proptest::bool::weighted(0.1),
        ) {
            let Some(info) = RegionInfo::parse(&buf) else {
                return Ok(());
            };
            let page = PAGE_SIZE as u64;
            match plan(&info, force_trap) {
                BarPlan::Trapped => {}
                BarPlan::Whole => prop_assert!(info.mappable() && !force_trap),
                BarPlan::Sparse(areas) => {
                    prop_assert!(info.mappable() && !force_trap && !areas.is_empty());
                    let mut previous_end = 0;
                    for (offset, size) in areas {
                        prop_assert!(offset % page == 0 && size > 0);
                        prop_assert!(offset >= previous_end, "unsorted or overlapping");
                        let end = offset.checked_add(size).unwrap();
                        prop_assert!(u128::from(end) <= u128::from(info.size).next_multiple_of(4096));
                        previous_end = end;
                    }
                }
            }
        }
    }
}
