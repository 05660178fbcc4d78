//! The block layer: sector sizes, and block device drivers on blk-mq ([`mq`]).
//!
//! Mirrors `kernel::block` of Linux 7.3. The constants have the kernel's values; where the disks
//! of a drydock process appear is described in [`mq`].
//!
//! C header: [`include/linux/blk_types.h`](srctree/include/linux/blk_types.h)

pub mod mq;

use crate::bindings;

/// The sectors in a page, less one: masks a sector number to its offset in a page.
///
/// Mirrors `kernel::block::SECTOR_MASK`.
pub const SECTOR_MASK: u32 = bindings::SECTOR_MASK;

/// A sector is `1 << SECTOR_SHIFT` bytes.
///
/// Mirrors `kernel::block::SECTOR_SHIFT`.
///
/// # Examples
///
/// ```
/// use kernel::block::{SECTOR_SHIFT, SECTOR_SIZE};
///
/// // A capacity of 4 MiB, in sectors.
/// assert_eq!(4u64 << (20 - SECTOR_SHIFT), 8192);
/// assert_eq!(1 << SECTOR_SHIFT, SECTOR_SIZE);
/// ```
pub const SECTOR_SHIFT: u32 = bindings::SECTOR_SHIFT;

/// The size of a sector in bytes (512).
///
/// Mirrors `kernel::block::SECTOR_SIZE`.
pub const SECTOR_SIZE: u32 = bindings::SECTOR_SIZE;

/// How many sectors a page holds, as a power of two (`PAGE_SHIFT - SECTOR_SHIFT`).
///
/// Mirrors `kernel::block::PAGE_SECTORS_SHIFT`.
pub const PAGE_SECTORS_SHIFT: u32 = bindings::PAGE_SECTORS_SHIFT;
