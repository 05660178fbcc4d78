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
    let mut usable: Vec<(u64, u64)> = areas
        .iter()
        .copied()
        .filter(|&(offset, size)| {
            size > 0
                && offset.is_multiple_of(page)
                && offset
                    .checked_add(size)
                    .is_some_and(|end| end <= region.size.next_multiple_of(page))
        })
        .collect();
    usable.sort_unstable();
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
    let len = usize::try_from(region.size).map_err(|_| HostError::Unsupported {
        device: device.address().to_owned(),
        what: format!(
            "BAR{} of {:#x} bytes in this address space",
            region.index, region.size
        ),
    })?;
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
    fn a_parsed_region_with_sparse_areas_is_split() {
        let info = RegionInfo::parse(&super::super::caps::tests::sparse_region_info()).unwrap();
        assert_eq!(
            plan(&info, false),
            BarPlan::Sparse(vec![(0, 0x2000), (0x3000, 0x1000)])
        );
    }
}
