//! Block device drivers on blk-mq, the multi-queue block layer.
//!
//! Mirrors `kernel::block::mq` of Linux 7.3. A driver:
//!
//! - implements [`Operations`] (with `#[vtable]`): `queue_rq` receives each request, `commit_rqs`
//!   tells it to submit what it queued, `complete` finishes a request completed with
//!   [`Request::complete`];
//! - creates a [`TagSet`]: how many hardware queues, and how many requests (tags) each has;
//! - builds a [`GenDisk`] with a [`GenDiskBuilder`] (capacity, block sizes, rotational), which
//!   adds the disk; dropping the `GenDisk` removes it, after the requests in flight ended.
//!
//! Requests reach the driver as [`ARef<Request<T>>`](crate::sync::aref::ARef); the driver ends
//! each with [`Request::end_ok`] (which needs the only reference) or [`Request::complete`]. As
//! in the kernel, the Rust side counts the references to a request so that a request handed back
//! to the block layer cannot be used, and one tag set may serve several disks.
//!
//! # Where the disk appears
//!
//! In the kernel, a built disk is a block device named as the driver asked. In a drydock process
//! its requests come from one of the host's two front ends (`drydock_host::block`):
//!
//! - in a driver process, **ublk**: the disk is the block device `/dev/ublkbN` (ublk chooses the
//!   name; the process logs which disk got which name), with the hardware queues, depth, block
//!   sizes, capacity and rotational flag the driver asked for; the kernel's blk-mq, in front of
//!   ublk, hands its requests to this process, where `queue_rq`, `commit_rqs` and `complete` are
//!   called as blk-mq calls them, on one thread per hardware queue;
//! - in tests, the **in-process** front end: the disk has the name asked for, and a test submits
//!   reads and writes to it through `drydock_host::block::local`, with the same dispatch.
//!
//! `Request` has no data accessors in 7.3, so a driver never sees the data: with ublk the data
//! stays in the kernel's pages, untouched, as with a driver that does not map its requests.
//!
//! [`GenDisk`]: gen_disk::GenDisk
//! [`GenDiskBuilder`]: gen_disk::GenDiskBuilder
//!
//! # Examples
//!
//! ```
//! use kernel::{
//!     alloc::flags,
//!     block::mq::*,
//!     prelude::*,
//!     sync::{aref::ARef, Arc},
//! };
//! # struct LocalModule;
//! # impl kernel::ModuleMetadata for LocalModule {
//! #     const NAME: &'static CStr = c"doc";
//! #     // SAFETY: A null pointer is the placeholder of a module that is not loaded.
//! #     const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
//! # }
//!
//! struct NullDisk;
//!
//! #[vtable]
//! impl Operations for NullDisk {
//!     type QueueData = ();
//! #   // What `#[vtable]` sets at a driver crate's root (the doc test has none).
//! #   type OwnerModule = LocalModule;
//!
//!     fn queue_rq(_queue_data: (), rq: ARef<Request<Self>>, _is_last: bool) -> Result {
//!         // Nothing to do: the request succeeds at once.
//!         Request::end_ok(rq).map_err(|_rq| EIO)
//!     }
//!
//!     fn commit_rqs(_queue_data: ()) {}
//!
//!     fn complete(rq: ARef<Request<Self>>) {
//!         let _ = Request::end_ok(rq);
//!     }
//! }
//!
//! let tagset: Arc<TagSet<NullDisk>> = Arc::pin_init(TagSet::new(1, 64, 1), flags::GFP_KERNEL)?;
//! let disk = gen_disk::GenDiskBuilder::new()
//!     .capacity_sectors(4096)
//!     .build(fmt!("nulldisk{}", 0), tagset, ())?;
//! // Dropping the disk removes it.
//! drop(disk);
//! # Ok::<(), Error>(())
//! ```

pub mod gen_disk;
mod operations;
mod request;
mod tag_set;

pub use operations::Operations;
pub use request::Request;
pub use tag_set::TagSet;
