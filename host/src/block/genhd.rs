//! Disks: allocating a disk on a tag set, adding it, removing it (`block/genhd.c`).
//!
//! [`__blk_mq_alloc_disk`] creates a disk and its queue on a tag set (calling the driver's
//! `init_hctx` for each hardware queue), [`device_add_disk`] makes it available through the
//! front end chosen with [`set_frontend`](super::set_frontend), [`del_gendisk`] takes it away
//! after the requests in flight ended, and [`put_disk`] frees it (calling `exit_hctx`).

use core::ffi::{c_uint, c_void};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::dispatch::Queue;
use super::mq::{blk_mq_tag_set, request_queue};
use super::{blk_features_t, local, ublk, Frontend, BLK_FEAT_ROTATIONAL, SECTOR_SIZE};
use crate::bindings::lock_class_key;
use crate::errno::Errno;
use crate::print::{printk, Level};

/// The longest disk name, with its NUL (`DISK_NAME_LEN`).
pub const DISK_NAME_LEN: usize = 32;

/// The limits and features of a queue that a driver chooses (`struct queue_limits`), those the
/// host uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct queue_limits {
    /// `BLK_FEAT_*` features.
    pub features: blk_features_t,
    /// The smallest unit the device addresses, in bytes (0 for 512).
    pub logical_block_size: c_uint,
    /// The smallest unit the device writes atomically, in bytes (raised to the logical block
    /// size if smaller).
    pub physical_block_size: c_uint,
}

/// A disk (`struct gendisk`).
pub struct gendisk {
    /// Its name, NUL-terminated, which the driver writes before adding it.
    pub disk_name: [u8; DISK_NAME_LEN],
    /// Its queue.
    pub queue: *mut request_queue,
    limits: queue_limits,
    capacity: AtomicU64,
    frontend: Mutex<Option<Box<dyn Started>>>,
}

/// A disk as its front end serves it: what the driver asked for, after blk-mq's adjustments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DiskParams {
    /// The name the driver gave it.
    pub name: String,
    /// Its capacity in 512-byte sectors.
    pub sectors: u64,
    /// The logical block size in bytes.
    pub logical_block_size: u32,
    /// The physical block size in bytes.
    pub physical_block_size: u32,
    /// Whether the medium rotates.
    pub rotational: bool,
    /// The number of hardware queues.
    pub nr_hw_queues: u32,
    /// The tags of each hardware queue.
    pub queue_depth: u32,
}

/// A front end serving a disk.
pub(crate) trait Started: Send {
    /// Stops serving the disk, which has no request in flight and takes no new one.
    fn stop(self: Box<Self>);
}

/// The limits as blk-mq validates them (`blk_validate_limits()`): a logical block size of 0
/// means 512, and must otherwise be a power of two from 512 to a page; the physical block size is
/// raised to the logical one, and must be a power of two.
fn validate_limits(lim: &mut queue_limits) -> Result<(), Errno> {
    if lim.logical_block_size == 0 {
        lim.logical_block_size = SECTOR_SIZE;
    } else if !lim.logical_block_size.is_power_of_two()
        || !(SECTOR_SIZE..=4096).contains(&lim.logical_block_size)
    {
        printk(
            Level::Warning,
            "block",
            None,
            format_args!("Invalid logical block size ({})\n", lim.logical_block_size),
        );
        return Err(Errno::EINVAL);
    }
    if lim.physical_block_size < lim.logical_block_size {
        lim.physical_block_size = lim.logical_block_size;
    } else if !lim.physical_block_size.is_power_of_two() {
        printk(
            Level::Warning,
            "block",
            None,
            format_args!(
                "Invalid physical block size ({})\n",
                lim.physical_block_size
            ),
        );
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Allocates a disk and its queue on `set`, with the limits `lim` and the driver's `queuedata`
/// (`__blk_mq_alloc_disk()`), and calls the driver's `init_hctx` for each hardware queue.
///
/// Fails with `EINVAL` for invalid limits (see `blk_validate_limits()`), or the error of
/// `init_hctx` (after `exit_hctx` for those set up). `lkclass` is lockdep's, unused here.
///
/// # Safety
///
/// `set` must be an allocated tag set that outlives the disk, and `lim` valid for reads and
/// writes.
pub unsafe fn __blk_mq_alloc_disk(
    set: *mut blk_mq_tag_set,
    lim: *mut queue_limits,
    queuedata: *mut c_void,
    _lkclass: *mut lock_class_key,
) -> Result<*mut gendisk, Errno> {
    // SAFETY: The caller guarantees `lim` is valid.
    let lim = unsafe { &mut *lim };
    validate_limits(lim)?;
    // SAFETY: The caller guarantees `set` is an allocated tag set.
    let tags = unsafe { (*set).tags.clone() }.ok_or(Errno::EINVAL)?;
    let ops = tags.ops;
    // SAFETY: The caller guarantees `set` is valid.
    let driver_data = unsafe { (*set).driver_data };

    let q = Box::into_raw(Box::<core::mem::MaybeUninit<request_queue>>::new_uninit()).cast();
    let mq = Arc::new(Queue::new(q, tags));
    // SAFETY: `q` was just allocated for a `request_queue`.
    unsafe {
        q.write(request_queue {
            queuedata,
            tag_set: set,
            mq: Arc::clone(&mq),
        })
    };
    let disk = Box::into_raw(Box::new(gendisk {
        disk_name: [0; DISK_NAME_LEN],
        queue: q,
        limits: *lim,
        capacity: AtomicU64::new(0),
        frontend: Mutex::new(None),
    }));
    if let Some(init_hctx) = ops.init_hctx {
        for i in 0..mq.nr_hw_queues() {
            // SAFETY: The context is live and, until the disk is added, only this thread's.
            let ret = unsafe { init_hctx(mq.hctx_ptr(i), driver_data, i) };
            if ret != 0 {
                // SAFETY: The disk was never added; `exit_hctx` runs for the `i` contexts set up.
                unsafe { release(disk, i) };
                return Err(Errno::from_errno(ret).unwrap_or(Errno::EINVAL));
            }
        }
    }
    Ok(disk)
}

/// Sets the disk's capacity, in 512-byte sectors (`set_capacity()`).
///
/// # Safety
///
/// `disk` must be a disk from [`__blk_mq_alloc_disk`] that was not put.
pub unsafe fn set_capacity(disk: *mut gendisk, sectors: u64) {
    // SAFETY: The caller guarantees `disk` is valid.
    unsafe { &(*disk).capacity }.store(sectors, Ordering::Relaxed);
}

/// Adds the disk (`device_add_disk()`): from now on its front end hands its I/O to the driver.
///
/// With [`Frontend::Ublk`] the disk is a ublk block device, named by ublk (`/dev/ublkbN`, logged
/// with the driver's name for it); with [`Frontend::InProcess`], a disk of the process that
/// [`local::Disk::open`] finds by its name, which must not be taken (`EEXIST`).
///
/// # Safety
///
/// `disk` must be a disk from [`__blk_mq_alloc_disk`], not added yet, whose name is set.
pub unsafe fn device_add_disk(disk: *mut gendisk) -> Result<(), Errno> {
    // SAFETY: The caller guarantees `disk` is valid; its name and queue are not written any more.
    let d = unsafe { &*disk };
    // SAFETY: A disk's queue lives as long as the disk.
    let mq = unsafe { Arc::clone(&(*d.queue).mq) };
    let name_len = d
        .disk_name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(DISK_NAME_LEN);
    let params = DiskParams {
        name: String::from_utf8_lossy(&d.disk_name[..name_len]).into_owned(),
        sectors: d.capacity.load(Ordering::Relaxed),
        logical_block_size: d.limits.logical_block_size,
        physical_block_size: d.limits.physical_block_size,
        rotational: d.limits.features & BLK_FEAT_ROTATIONAL != 0,
        nr_hw_queues: mq.nr_hw_queues(),
        queue_depth: mq.queue_depth(),
    };
    let started = match super::frontend() {
        Frontend::InProcess => local::start(params, mq)?,
        Frontend::Ublk => ublk::start(params, mq)?,
    };
    *d.frontend.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
    Ok(())
}

/// Removes the disk (`del_gendisk()`): new I/O fails, the requests in flight are waited for, and
/// the front end stops.
///
/// # Safety
///
/// `disk` must be a disk added with [`device_add_disk`], not removed yet.
pub unsafe fn del_gendisk(disk: *mut gendisk) {
    // SAFETY: The caller guarantees `disk` is valid; its queue lives as long as it.
    let (d, mq) = unsafe { (&*disk, &(*(*disk).queue).mq) };
    mq.freeze();
    let started = d.frontend.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(started) = started {
        started.stop();
    }
}

/// Drops the last reference to the disk (`put_disk()`): calls the driver's `exit_hctx` for each
/// hardware queue and frees the disk and its queue.
///
/// # Safety
///
/// `disk` must be a disk from [`__blk_mq_alloc_disk`], removed with [`del_gendisk`] if it was
/// added, and not used afterwards.
pub unsafe fn put_disk(disk: *mut gendisk) {
    // SAFETY: The caller guarantees `disk` is valid and unused.
    let nr = unsafe { (*(*disk).queue).mq.nr_hw_queues() };
    // SAFETY: As above; every context was set up.
    unsafe { release(disk, nr) };
}

/// Calls `exit_hctx` on the first `nr_init` hardware queue contexts and frees the disk.
///
/// # Safety
///
/// `disk` must be a valid disk that nothing uses any more, whose first `nr_init` contexts were
/// set up by `init_hctx`.
unsafe fn release(disk: *mut gendisk, nr_init: u32) {
    // SAFETY: The caller guarantees `disk` is valid and unused; it came from `Box::into_raw`.
    let disk = unsafe { Box::from_raw(disk) };
    // SAFETY: The queue came from `__blk_mq_alloc_disk`, initialised, and is unused.
    let q = unsafe { Box::from_raw(disk.queue) };
    if let Some(exit_hctx) = q.mq.tags.ops.exit_hctx {
        for i in 0..nr_init {
            // SAFETY: Context `i` was set up by `init_hctx` and is not used any more.
            unsafe { exit_hctx(q.mq.hctx_ptr(i), i) };
        }
    }
    drop(q);
    drop(disk);
}
