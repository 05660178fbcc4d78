// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A null block device: `nulldisk0`, a disk of `capacity_mib` MiB whose every request succeeds
//! and moves no data.
//!
//! In Linux 7.3 a Rust driver's `block::mq::Request` has no accessors for its sectors or its
//! data, so a disk that keeps what is written to it cannot be written in Rust yet; this is the
//! disk that can: it ends each request it is given, at once in `queue_rq`, or, with
//! `deferred=1`, in `complete`, where a driver of real hardware ends its requests once the device
//! said they are done.
//!
//! The example of docs/devices.md: the file builds unchanged as a Linux 7.3 module.

use kernel::{
    block::{
        mq::{
            gen_disk::{GenDisk, GenDiskBuilder},
            Operations, Request, TagSet,
        },
        SECTOR_SHIFT,
    },
    prelude::*,
    sync::{aref::ARef, Arc},
};

module! {
    type: NullDiskModule,
    name: "nulldisk",
    authors: ["The drydock developers"],
    description: "A null block device on blk-mq",
    license: "Dual MIT/GPL",
    params: {
        capacity_mib: u64 {
            default: 16,
            description: "The disk's size, in MiB",
        },
        block_size: u32 {
            default: 512,
            description: "The disk's logical and physical block size, in bytes",
        },
        deferred: bool {
            default: false,
            description: "End the requests in complete() rather than in queue_rq()",
        },
    },
}

/// The module: the disk, for as long as the module is loaded; dropping it removes the disk.
///
/// A module is shared between threads: it must be `Send` and `Sync`. In 7.3 a `GenDisk` is
/// `Send` only if its `Arc<TagSet>` is, which it is not (`TagSet` is not `Sync`), so a struct
/// that holds one needs the two promises below (rnull keeps its disks in its configfs items,
/// which make them).
struct NullDiskModule {
    _disk: GenDisk<NullDisk>,
}

// SAFETY: a `GenDisk` owns its disk and a reference to its tag set, and the kernel deletes a disk
// and frees a tag set on any thread, which is all that dropping them does: the module may be
// dropped on another thread than the one that built it.
unsafe impl Send for NullDiskModule {}

// SAFETY: a shared `NullDiskModule` gives access to nothing: it has no methods, and its field is
// private.
unsafe impl Sync for NullDiskModule {}

impl kernel::Module for NullDiskModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _disk: NullDisk::build()?,
        })
    }
}

/// The disk's operations.
struct NullDisk;

/// Where the disk ends its requests: its queue data, which `queue_rq` and `commit_rqs` borrow.
enum Ending {
    /// In `queue_rq`, at once.
    InQueueRq,
    /// In `complete`, which `Request::complete` has the block layer call, as a driver of real
    /// hardware does from the device's interrupt.
    InComplete,
}

impl NullDisk {
    /// Builds and adds the disk that the module parameters describe.
    fn build() -> Result<GenDisk<Self>> {
        let capacity_mib = module_parameters::capacity_mib.value();
        let block_size = module_parameters::block_size.value();
        let ending = if module_parameters::deferred.value() {
            Ending::InComplete
        } else {
            Ending::InQueueRq
        };
        // One hardware queue of 64 requests (tags), on one NUMA node.
        let tagset = Arc::pin_init(TagSet::new(1, 64, 1), GFP_KERNEL)?;
        let sectors = capacity_mib
            .checked_mul(1 << (20 - SECTOR_SHIFT))
            .ok_or(EINVAL)?;
        pr_info!("nulldisk0: {capacity_mib} MiB in {block_size}-byte blocks\n");
        GenDiskBuilder::new()
            .capacity_sectors(sectors)
            .logical_block_size(block_size)?
            .physical_block_size(block_size)?
            .build(fmt!("nulldisk0"), tagset, KBox::new(ending, GFP_KERNEL)?)
    }
}

#[vtable]
impl Operations for NullDisk {
    type QueueData = KBox<Ending>;

    fn queue_rq(ending: &Ending, rq: ARef<Request<Self>>, _is_last: bool) -> Result {
        match ending {
            Ending::InQueueRq => end(rq),
            Ending::InComplete => Request::complete(rq),
        }
        Ok(())
    }

    /// Called after a batch of requests that stopped short of its last: a driver that queues
    /// requests to hardware would tell the device about them now. This one has nothing queued.
    fn commit_rqs(_ending: &Ending) {}

    fn complete(rq: ARef<Request<Self>>) {
        end(rq);
    }
}

/// Ends `rq` successfully. The driver keeps no reference to a request, so the block layer's is
/// the only one and `end_ok` does not fail; if it did, the request would be left unended.
fn end(rq: ARef<Request<NullDisk>>) {
    if Request::end_ok(rq).is_err() {
        pr_err!("a request was still referenced when it ended\n");
    }
}
