//! Disks: building one on a tag set, and removing it when it is dropped.
//!
//! C header: [`include/linux/blkdev.h`](srctree/include/linux/blkdev.h)
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::{
    bindings,
    block::mq::{Operations, TagSet},
    error::{self, Result},
    fmt::{self, Write},
    prelude::*,
    static_lock_class,
    str::NullTerminatedFormatter,
    sync::Arc,
    types::{ForeignOwnable, ScopeGuard},
};

/// Configures a [`GenDisk`] and adds it.
///
/// Mirrors `kernel::block::mq::gen_disk::GenDiskBuilder`. By default the disk is empty (0
/// sectors), not rotational, with logical and physical blocks of a page.
pub struct GenDiskBuilder {
    rotational: bool,
    logical_block_size: u32,
    physical_block_size: u32,
    capacity_sectors: u64,
}

impl Default for GenDiskBuilder {
    fn default() -> Self {
        Self {
            rotational: false,
            logical_block_size: crate::page::PAGE_SIZE as u32,
            physical_block_size: crate::page::PAGE_SIZE as u32,
            capacity_sectors: 0,
        }
    }
}

impl GenDiskBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets whether the disk's medium rotates.
    pub fn rotational(mut self, rotational: bool) -> Self {
        self.rotational = rotational;
        self
    }

    /// Checks that `size` can be a block size: a power of two from 512 to `PAGE_SIZE`;
    /// `EINVAL` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::block::mq::gen_disk::GenDiskBuilder;
    ///
    /// assert!(GenDiskBuilder::validate_block_size(4096).is_ok());
    /// assert!(GenDiskBuilder::validate_block_size(1000).is_err());
    /// assert!(GenDiskBuilder::validate_block_size(8192).is_err());
    /// ```
    pub fn validate_block_size(size: u32) -> Result {
        if !(512..=crate::page::PAGE_SIZE as u32).contains(&size) || !size.is_power_of_two() {
            Err(error::code::EINVAL)
        } else {
            Ok(())
        }
    }

    /// Sets the logical block size, the smallest unit the disk addresses; fails and keeps the
    /// previous one if [`GenDiskBuilder::validate_block_size`] refuses it.
    pub fn logical_block_size(mut self, block_size: u32) -> Result<Self> {
        Self::validate_block_size(block_size)?;
        self.logical_block_size = block_size;
        Ok(self)
    }

    /// Sets the physical block size, the smallest unit the disk writes atomically (at least the
    /// logical block size: a smaller one is raised to it); fails and keeps the previous one if
    /// [`GenDiskBuilder::validate_block_size`] refuses it.
    pub fn physical_block_size(mut self, block_size: u32) -> Result<Self> {
        Self::validate_block_size(block_size)?;
        self.physical_block_size = block_size;
        Ok(self)
    }

    /// Sets the capacity in 512-byte sectors.
    pub fn capacity_sectors(mut self, capacity: u64) -> Self {
        self.capacity_sectors = capacity;
        self
    }

    /// Builds the disk on `tagset`, with `queue_data` for the driver's callbacks, and adds it.
    ///
    /// Difference from the kernel: the disk is added through the host's front end (see
    /// [`kernel::block::mq`]). With ublk its block device is `/dev/ublkbN`, not `name`: ublk
    /// names its disks; the process logs the name given with the device's. In process, the disk
    /// is found by `name`.
    pub fn build<T: Operations>(
        self,
        name: fmt::Arguments<'_>,
        tagset: Arc<TagSet<T>>,
        queue_data: T::QueueData,
    ) -> Result<GenDisk<T>> {
        let data = queue_data.into_foreign();
        let recover_data = ScopeGuard::new(|| {
            // SAFETY: `data` came from `into_foreign()` above and was not converted back.
            drop(unsafe { T::QueueData::from_foreign(data) });
        });

        let mut lim = bindings::queue_limits {
            logical_block_size: self.logical_block_size,
            physical_block_size: self.physical_block_size,
            ..Default::default()
        };
        if self.rotational {
            lim.features = bindings::BLK_FEAT_ROTATIONAL;
        }

        // SAFETY: `tagset` is an allocated tag set, kept alive by the `GenDisk` (and so longer
        // than the disk); `lim` is a local.
        let gendisk = unsafe {
            drydock_host::block::genhd::__blk_mq_alloc_disk(
                tagset.raw_tag_set(),
                &mut lim,
                data,
                static_lock_class!().as_ptr(),
            )
        }?;

        let cleanup_failure = ScopeGuard::new_with_data((gendisk, data), |(gendisk, data)| {
            // SAFETY: `gendisk` came from `__blk_mq_alloc_disk()` above and was not added.
            unsafe { drydock_host::block::genhd::put_disk(gendisk) };
            // SAFETY: `data` came from `into_foreign()` above and was not converted back.
            drop(unsafe { T::QueueData::from_foreign(data) });
        });

        // `cleanup_failure` releases the queue data from now on.
        recover_data.dismiss();

        let mut writer = NullTerminatedFormatter::new(
            // SAFETY: `gendisk` is valid, and only this thread knows it until it is added.
            unsafe { &mut (*gendisk).disk_name },
        )
        .ok_or(EINVAL)?;
        writer.write_fmt(name)?;

        // SAFETY: `gendisk` is valid and not added yet.
        unsafe { drydock_host::block::genhd::set_capacity(gendisk, self.capacity_sectors) };

        // SAFETY: `gendisk` is valid, not added yet, and named.
        unsafe { drydock_host::block::genhd::device_add_disk(gendisk) }?;

        cleanup_failure.dismiss();

        // INVARIANT: `gendisk` was allocated and added above, with `data` as its queue data.
        Ok(GenDisk {
            _tagset: tagset,
            gendisk,
        })
    }
}

/// A disk of a blk-mq driver, removed when dropped (a C `struct gendisk`).
///
/// Mirrors `kernel::block::mq::gen_disk::GenDisk`. Dropping it waits for the requests in flight
/// to end, as `del_gendisk()` does; with ublk, it also removes `/dev/ublkbN`.
///
/// # Invariants
///
/// - `gendisk` is a valid disk from `__blk_mq_alloc_disk`;
/// - it was added with `device_add_disk`;
/// - its queue's `queuedata` came from `ForeignOwnable::into_foreign` of a `T::QueueData`.
pub struct GenDisk<T: Operations> {
    _tagset: Arc<TagSet<T>>,
    gendisk: *mut bindings::gendisk,
}

// SAFETY: A `GenDisk` owns its disk and holds an `Arc` of its tag set; it may move to another
// thread if those may.
unsafe impl<T> Send for GenDisk<T>
where
    T: Operations,
    T::QueueData: Send,
    Arc<TagSet<T>>: Send,
{
}

impl<T: Operations> Drop for GenDisk<T> {
    fn drop(&mut self) {
        // SAFETY: `self.gendisk` and its queue are valid (type invariant).
        let queue_data = unsafe { (*(*self.gendisk).queue).queuedata };

        // SAFETY: `self.gendisk` is valid and was added (type invariants).
        unsafe { drydock_host::block::genhd::del_gendisk(self.gendisk) };

        // SAFETY: `self.gendisk` was removed just above and is not used again.
        unsafe { drydock_host::block::genhd::put_disk(self.gendisk) };

        // SAFETY: `queue_data` came from `into_foreign` in `GenDiskBuilder::build` (type
        // invariant); the disk is gone, so no callback borrows it any more.
        drop(unsafe { T::QueueData::from_foreign(queue_data) });
    }
}
