//! Scatter-gather tables: building them from pages and mapping them for DMA.
//!
//! The userspace counterparts of `sg_alloc_table_from_pages_segment()`, `sg_free_table()`,
//! `dma_map_sgtable()` and `dma_unmap_sgtable()`, which the mirror's `kernel::scatterlist` calls.
//! Pages are named by their address (see `bindings::page`); a run of virtually adjacent pages
//! becomes one segment, up to the device's maximum segment size. Mapping gives each segment a bus
//! address in the device's DMA space.

use std::ptr::NonNull;

use super::device::RawDevice;
use super::dma::memory::PAGE_SIZE;
use crate::bindings::{page, scatterlist, sg_table};
use crate::errno::Errno;

/// Builds `sgt` from `pages` holding `size` bytes, merging adjacent pages into segments of at
/// most `max_segment` bytes (`sg_alloc_table_from_pages_segment()`).
///
/// # Safety
///
/// `sgt` must be valid for writes and currently empty (zeroed or freed); `pages` must be page
/// addresses covering at least `size` bytes.
pub unsafe fn alloc_table_from_pages(
    sgt: *mut sg_table,
    pages: &[*mut page],
    size: usize,
    max_segment: u32,
) -> Result<(), Errno> {
    if pages.is_empty() || size == 0 || size > pages.len() * PAGE_SIZE {
        return Err(Errno::EINVAL);
    }
    let max_segment = (max_segment as usize).max(PAGE_SIZE) / PAGE_SIZE * PAGE_SIZE;
    let mut entries: Vec<scatterlist> = Vec::new();
    let mut remaining = size;
    for &p in pages {
        if remaining == 0 {
            break;
        }
        let len = remaining.min(PAGE_SIZE);
        remaining -= len;
        match entries.last_mut() {
            Some(last)
                if last.page.addr() + last.length as usize == p.addr()
                    && last.length as usize + len <= max_segment =>
            {
                last.length += len as u32;
            }
            _ => entries.push(scatterlist {
                page: p,
                offset: 0,
                length: len as u32,
                dma_address: 0,
                dma_length: 0,
            }),
        }
    }
    let count = u32::try_from(entries.len()).map_err(|_| Errno::ENOMEM)?;
    let sgl = Box::into_raw(entries.into_boxed_slice()).cast::<scatterlist>();
    // SAFETY: `sgt` is valid for writes (safety requirement).
    unsafe {
        sgt.write(sg_table {
            sgl,
            nents: count,
            orig_nents: count,
        })
    };
    Ok(())
}

/// Frees the entries of a table built by [`alloc_table_from_pages`] (`sg_free_table()`).
///
/// # Safety
///
/// `sgt` must be a table built by [`alloc_table_from_pages`] (or empty), not in use.
pub unsafe fn free_table(sgt: *mut sg_table) {
    // SAFETY: valid by the safety requirements.
    let table = unsafe { &mut *sgt };
    if !table.sgl.is_null() {
        let entries = core::ptr::slice_from_raw_parts_mut(table.sgl, table.orig_nents as usize);
        // SAFETY: `sgl` came from `Box::into_raw` of a boxed slice of `orig_nents` entries.
        drop(unsafe { Box::from_raw(entries) });
    }
    table.sgl = core::ptr::null_mut();
    table.nents = 0;
    table.orig_nents = 0;
}

/// Returns the table's entries.
///
/// # Safety
///
/// `sgt` must be a table built by [`alloc_table_from_pages`], alive for `'a` and not modified
/// meanwhile.
unsafe fn entries<'a>(sgt: *mut sg_table) -> &'a mut [scatterlist] {
    // SAFETY: by the safety requirements, `sgl` holds `orig_nents` entries.
    unsafe { core::slice::from_raw_parts_mut((*sgt).sgl, (*sgt).orig_nents as usize) }
}

/// Maps every segment of `sgt` for DMA by `dev`, under its streaming mask (`dma_map_sgtable()`).
///
/// On failure, the segments mapped so far are unmapped again.
///
/// # Safety
///
/// `sgt` must be a table built by [`alloc_table_from_pages`] whose pages stay alive and in place
/// until [`unmap_table`].
pub unsafe fn map_table(dev: &RawDevice, sgt: *mut sg_table) -> Result<(), Errno> {
    let space = dev.dma_space().ok_or(Errno::ENODEV)?;
    // SAFETY: by the safety requirements.
    let entries = unsafe { entries(sgt) };
    for index in 0..entries.len() {
        let entry = &mut entries[index];
        let len = (entry.length as usize).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        // A page address is never null.
        let vaddr = NonNull::new(entry.page.cast::<u8>()).ok_or(Errno::EINVAL)?;
        match space.map_pages(vaddr, len, dev.dma_mask()) {
            Ok(iova) => {
                entry.dma_address = iova + u64::from(entry.offset);
                entry.dma_length = entry.length;
                dev.account_dma(|usage| {
                    usage.streaming += 1;
                    usage.streaming_bytes += len as u64;
                });
            }
            Err(err) => {
                for mapped in &mut entries[..index] {
                    unmap_entry(dev, mapped);
                }
                return Err(err.into());
            }
        }
    }
    Ok(())
}

/// Removes the mappings made by [`map_table`] (`dma_unmap_sgtable()`).
///
/// # Safety
///
/// `sgt` must have been mapped with [`map_table`] for `dev`.
pub unsafe fn unmap_table(dev: &RawDevice, sgt: *mut sg_table) {
    // SAFETY: by the safety requirements.
    for entry in unsafe { entries(sgt) } {
        unmap_entry(dev, entry);
    }
}

fn unmap_entry(dev: &RawDevice, entry: &mut scatterlist) {
    if entry.dma_length == 0 {
        return;
    }
    if let Some(space) = dev.dma_space() {
        let len = (entry.length as usize).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        space.unmap_pages(entry.dma_address - u64::from(entry.offset), len);
        dev.account_dma(|usage| {
            usage.streaming -= 1;
            usage.streaming_bytes -= len as u64;
        });
    }
    entry.dma_length = 0;
}

/// Returns the largest single DMA mapping a device can have (`dma_max_mapping_size()`): behind an
/// IOMMU (real or simulated) there is no limit.
pub fn max_mapping_size(_dev: &RawDevice) -> u64 {
    u64::MAX
}
