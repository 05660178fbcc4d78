//! The block layer: blk-mq's tag sets, hardware queues and requests, and the disks they serve.
//!
//! In the kernel, a blk-mq driver allocates a tag set (`blk_mq_alloc_tag_set()`: the requests of
//! each hardware queue, one per tag), allocates a disk on it (`__blk_mq_alloc_disk()`) and adds
//! the disk (`device_add_disk()`); the block layer then turns the I/O of the disk's users into
//! requests and calls the driver's `queue_rq`, `commit_rqs` and `complete`, and the driver ends
//! each request (`blk_mq_end_request()`). Deleting the disk (`del_gendisk()`) waits for the
//! requests in flight.
//!
//! This module does the same in a process. [`mq`] is blk-mq's C side (the tag set, the requests
//! and their states), [`genhd`] the disks, and the requests of a disk come from one of two
//! *front ends*, chosen with [`set_frontend`] before the disk is added:
//!
//! - [`Frontend::Ublk`]: the kernel's userspace block driver. The disk is a real block device,
//!   `/dev/ublkbN`, whose I/O the kernel's blk-mq hands to this process ([`ublk`]); a driver
//!   process serves its disks this way.
//! - [`Frontend::InProcess`] (the default): the disk exists in the process only, where a test
//!   opens it by name and submits reads and writes ([`local`]). It needs nothing from the kernel.
//!
//! Both feed the same dispatch code (`dispatch`): tags, `queue_rq` in batches with `last` set on
//! the last request, `commit_rqs` when a batch stops short, completions through `complete` on the
//! hardware queue's thread, and the wait for requests in flight when the disk goes.

// The C types keep their C names, as in `bindings`.
#![allow(non_camel_case_types)]

pub mod genhd;
pub mod local;
pub mod mq;
pub mod ublk;

mod dispatch;

use core::ffi::c_int;
use std::sync::Mutex;

use crate::errno::Errno;

/// `sector_t`: a position or length in 512-byte sectors.
pub type sector_t = u64;
/// `blk_status_t`: the outcome of a request.
pub type blk_status_t = u8;
/// `blk_opf_t`: a request's operation (low 8 bits) and flags.
pub type blk_opf_t = u32;
/// `blk_features_t`: a queue's features (`BLK_FEAT_*`).
pub type blk_features_t = u32;

/// Pages are `1 << PAGE_SHIFT` bytes (x86_64).
const PAGE_SHIFT: u32 = 12;

/// Sectors are `1 << SECTOR_SHIFT` bytes.
pub const SECTOR_SHIFT: u32 = 9;
/// The size of a sector.
pub const SECTOR_SIZE: u32 = 1 << SECTOR_SHIFT;
/// `PAGE_SHIFT - SECTOR_SHIFT`: sectors per page, as a power of two.
pub const PAGE_SECTORS_SHIFT: u32 = PAGE_SHIFT - SECTOR_SHIFT;
/// The sectors in a page.
pub const PAGE_SECTORS: u32 = 1 << PAGE_SECTORS_SHIFT;
/// `PAGE_SECTORS - 1`.
pub const SECTOR_MASK: u32 = PAGE_SECTORS - 1;

/// The mask of a request's operation in its `cmd_flags`.
pub const REQ_OP_MASK: blk_opf_t = (1 << 8) - 1;
/// Read sectors.
pub const REQ_OP_READ: blk_opf_t = 0;
/// Write sectors.
pub const REQ_OP_WRITE: blk_opf_t = 1;
/// Flush the volatile write cache.
pub const REQ_OP_FLUSH: blk_opf_t = 2;
/// Discard sectors.
pub const REQ_OP_DISCARD: blk_opf_t = 3;
/// Write zeroes to sectors.
pub const REQ_OP_WRITE_ZEROES: blk_opf_t = 9;

/// The medium rotates (`BLK_FEAT_ROTATIONAL`).
pub const BLK_FEAT_ROTATIONAL: blk_features_t = 1 << 2;

/// `BLK_STS_OK`: Success.
pub const BLK_STS_OK: blk_status_t = 0;
/// `BLK_STS_NOTSUPP`: The operation is not supported.
pub const BLK_STS_NOTSUPP: blk_status_t = 1;
/// `BLK_STS_TIMEOUT`: The request timed out.
pub const BLK_STS_TIMEOUT: blk_status_t = 2;
/// `BLK_STS_NOSPC`: No space left.
pub const BLK_STS_NOSPC: blk_status_t = 3;
/// `BLK_STS_TRANSPORT`: A recoverable transport error.
pub const BLK_STS_TRANSPORT: blk_status_t = 4;
/// `BLK_STS_TARGET`: A critical target error.
pub const BLK_STS_TARGET: blk_status_t = 5;
/// `BLK_STS_RESV_CONFLICT`: A reservation conflict.
pub const BLK_STS_RESV_CONFLICT: blk_status_t = 6;
/// `BLK_STS_MEDIUM`: A critical medium error.
pub const BLK_STS_MEDIUM: blk_status_t = 7;
/// `BLK_STS_PROTECTION`: A protection information error.
pub const BLK_STS_PROTECTION: blk_status_t = 8;
/// `BLK_STS_RESOURCE`: Out of a resource of the system: try again later (the request is requeued).
pub const BLK_STS_RESOURCE: blk_status_t = 9;
/// `BLK_STS_IOERR`: An I/O error.
pub const BLK_STS_IOERR: blk_status_t = 10;
/// `BLK_STS_DM_REQUEUE`: device-mapper's internal retry.
pub const BLK_STS_DM_REQUEUE: blk_status_t = 11;
/// `BLK_STS_AGAIN`: Would block: try again.
pub const BLK_STS_AGAIN: blk_status_t = 12;
/// `BLK_STS_DEV_RESOURCE`: Out of a resource of the device: try again when a request
/// completes (the request is requeued).
pub const BLK_STS_DEV_RESOURCE: blk_status_t = 13;
/// `BLK_STS_ZONE_OPEN_RESOURCE`: Too many open zones.
pub const BLK_STS_ZONE_OPEN_RESOURCE: blk_status_t = 14;
/// `BLK_STS_ZONE_ACTIVE_RESOURCE`: Too many active zones.
pub const BLK_STS_ZONE_ACTIVE_RESOURCE: blk_status_t = 15;
/// `BLK_STS_OFFLINE`: The device is offline.
pub const BLK_STS_OFFLINE: blk_status_t = 16;
/// `BLK_STS_DURATION_LIMIT`: A command duration limit was exceeded.
pub const BLK_STS_DURATION_LIMIT: blk_status_t = 17;
/// `BLK_STS_INVAL`: An invalid request.
pub const BLK_STS_INVAL: blk_status_t = 19;

/// The errno of each status, as `block/blk-core.c`'s `blk_errors[]` pairs them.
const BLK_ERRORS: [(blk_status_t, c_int); 19] = [
    (BLK_STS_OK, 0),
    (BLK_STS_NOTSUPP, -95),              // EOPNOTSUPP
    (BLK_STS_TIMEOUT, -110),             // ETIMEDOUT
    (BLK_STS_NOSPC, -28),                // ENOSPC
    (BLK_STS_TRANSPORT, -67),            // ENOLINK
    (BLK_STS_TARGET, -121),              // EREMOTEIO
    (BLK_STS_RESV_CONFLICT, -52),        // EBADE
    (BLK_STS_MEDIUM, -61),               // ENODATA
    (BLK_STS_PROTECTION, -84),           // EILSEQ
    (BLK_STS_RESOURCE, -12),             // ENOMEM
    (BLK_STS_DEV_RESOURCE, -16),         // EBUSY
    (BLK_STS_AGAIN, -11),                // EAGAIN
    (BLK_STS_OFFLINE, -19),              // ENODEV
    (BLK_STS_DM_REQUEUE, -78),           // EREMCHG
    (BLK_STS_ZONE_OPEN_RESOURCE, -109),  // ETOOMANYREFS
    (BLK_STS_ZONE_ACTIVE_RESOURCE, -75), // EOVERFLOW
    (BLK_STS_DURATION_LIMIT, -62),       // ETIME
    (BLK_STS_INVAL, -22),                // EINVAL
    (BLK_STS_IOERR, -5),                 // EIO
];

/// The status of an errno (`errno_to_blk_status()`): `BLK_STS_IOERR` for one without its own.
pub fn errno_to_blk_status(errno: c_int) -> blk_status_t {
    BLK_ERRORS
        .iter()
        .find(|&&(_, e)| e == errno)
        .map_or(BLK_STS_IOERR, |&(status, _)| status)
}

/// The errno of a status (`blk_status_to_errno()`): `-EIO` for an unknown one.
pub fn blk_status_to_errno(status: blk_status_t) -> c_int {
    BLK_ERRORS
        .iter()
        .find(|&&(s, _)| s == status)
        .map_or(Errno::EIO.to_errno(), |&(_, errno)| errno)
}

/// Where the requests of the disks added from now on come from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Frontend {
    /// The process: tests submit I/O through [`local`]. Needs nothing from the kernel.
    #[default]
    InProcess,
    /// The kernel's ublk driver: each disk is a block device, `/dev/ublkbN` ([`ublk`]).
    Ublk,
}

static FRONTEND: Mutex<Frontend> = Mutex::new(Frontend::InProcess);

/// Chooses the front end of the disks added from now on (a driver process chooses ublk before it
/// loads its module).
pub fn set_frontend(frontend: Frontend) {
    *FRONTEND.lock().unwrap_or_else(|e| e.into_inner()) = frontend;
}

/// The front end of the disks added from now on.
pub fn frontend() -> Frontend {
    *FRONTEND.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_errnos_pair_as_in_blk_core() {
        assert_eq!(errno_to_blk_status(-12), BLK_STS_RESOURCE);
        assert_eq!(errno_to_blk_status(-16), BLK_STS_DEV_RESOURCE);
        assert_eq!(errno_to_blk_status(0), BLK_STS_OK);
        assert_eq!(errno_to_blk_status(-1), BLK_STS_IOERR);
        assert_eq!(blk_status_to_errno(BLK_STS_NOTSUPP), -95);
        assert_eq!(blk_status_to_errno(BLK_STS_IOERR), -5);
        assert_eq!(blk_status_to_errno(200), -5);
    }
}
