//! The part of the FUSE wire format (`include/uapi/linux/fuse.h`) a CUSE server speaks.
//!
//! Every request the kernel writes to `/dev/cuse` starts with a [`fuse_in_header`], followed by
//! the operation's arguments; every reply starts with a [`fuse_out_header`]. The structures are
//! the kernel's, field for field; `zerocopy` reads and writes them without `unsafe`.
//!
//! The `fuser` crate has these structures too, but keeps them private to itself, and speaks FUSE
//! only: it answers `CUSE_INIT` with `ENOSYS` and cannot ask for an ioctl's memory
//! (`FUSE_IOCTL_RETRY`).

#![allow(non_camel_case_types)]

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// The FUSE protocol's major version.
pub(super) const FUSE_KERNEL_VERSION: u32 = 7;
/// The minor version this server speaks: 7.31 (Linux 5.2), whose structures are those below.
pub(super) const FUSE_KERNEL_MINOR_VERSION: u32 = 31;

/// `FUSE_OPEN`: a process opens the device.
pub(super) const FUSE_OPEN: u32 = 14;
/// `FUSE_READ`.
pub(super) const FUSE_READ: u32 = 15;
/// `FUSE_WRITE`.
pub(super) const FUSE_WRITE: u32 = 16;
/// `FUSE_RELEASE`: the last descriptor of an open file was closed.
pub(super) const FUSE_RELEASE: u32 = 18;
/// `FUSE_INTERRUPT`: the caller of an earlier request got a signal.
pub(super) const FUSE_INTERRUPT: u32 = 36;
/// `FUSE_IOCTL`.
pub(super) const FUSE_IOCTL: u32 = 39;
/// `CUSE_INIT`: the first request on `/dev/cuse`, answered with the device to create.
pub(super) const CUSE_INIT: u32 = 4096;

/// `CUSE_UNRESTRICTED_IOCTL`: the server tells the kernel which memory each ioctl copies.
pub(super) const CUSE_UNRESTRICTED_IOCTL: u32 = 1 << 0;

/// `FUSE_IOCTL_COMPAT`: the ioctl comes from a 32-bit process.
pub(super) const FUSE_IOCTL_COMPAT: u32 = 1 << 0;
/// `FUSE_IOCTL_RETRY`: the reply lists the memory to copy, and the kernel asks again with it.
pub(super) const FUSE_IOCTL_RETRY: u32 = 1 << 2;

/// `struct fuse_in_header`: what every request starts with.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct fuse_in_header {
    pub(super) len: u32,
    pub(super) opcode: u32,
    pub(super) unique: u64,
    pub(super) nodeid: u64,
    pub(super) uid: u32,
    pub(super) gid: u32,
    pub(super) pid: u32,
    pub(super) total_extlen: u16,
    pub(super) padding: u16,
}

/// `struct fuse_out_header`: what every reply starts with.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct fuse_out_header {
    pub(super) len: u32,
    pub(super) error: i32,
    pub(super) unique: u64,
}

/// `struct cuse_init_in`.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct cuse_init_in {
    pub(super) major: u32,
    pub(super) minor: u32,
    pub(super) unused: u32,
    pub(super) flags: u32,
}

/// `struct cuse_init_out`, followed in the reply by the device's `KEY=VALUE\0` strings.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct cuse_init_out {
    pub(super) major: u32,
    pub(super) minor: u32,
    pub(super) unused: u32,
    pub(super) flags: u32,
    pub(super) max_read: u32,
    pub(super) max_write: u32,
    pub(super) dev_major: u32,
    pub(super) dev_minor: u32,
    pub(super) spare: [u32; 10],
}

/// `struct fuse_open_in`.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct fuse_open_in {
    pub(super) flags: u32,
    pub(super) open_flags: u32,
}

/// `struct fuse_open_out`.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct fuse_open_out {
    pub(super) fh: u64,
    pub(super) open_flags: u32,
    pub(super) backing_id: i32,
}

/// `struct fuse_read_in`; `struct fuse_write_in` has the same layout, and the data follows it.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct fuse_read_in {
    pub(super) fh: u64,
    pub(super) offset: u64,
    pub(super) size: u32,
    pub(super) read_flags: u32,
    pub(super) lock_owner: u64,
    pub(super) flags: u32,
    pub(super) padding: u32,
}

/// `struct fuse_write_out`.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct fuse_write_out {
    pub(super) size: u32,
    pub(super) padding: u32,
}

/// `struct fuse_release_in`.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct fuse_release_in {
    pub(super) fh: u64,
    pub(super) flags: u32,
    pub(super) release_flags: u32,
    pub(super) lock_owner: u64,
}

/// `struct fuse_ioctl_in`, followed by the `in_size` bytes the kernel copied in.
#[repr(C)]
#[derive(FromBytes, KnownLayout, Immutable)]
pub(super) struct fuse_ioctl_in {
    pub(super) fh: u64,
    pub(super) flags: u32,
    pub(super) cmd: u32,
    pub(super) arg: u64,
    pub(super) in_size: u32,
    pub(super) out_size: u32,
}

/// `struct fuse_ioctl_out`, followed by the bytes to copy out, or, with `FUSE_IOCTL_RETRY`, by
/// `in_iovs + out_iovs` [`fuse_ioctl_iovec`]s.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct fuse_ioctl_out {
    pub(super) result: i32,
    pub(super) flags: u32,
    pub(super) in_iovs: u32,
    pub(super) out_iovs: u32,
}

/// `struct fuse_ioctl_iovec`: a range of the caller's memory.
#[repr(C)]
#[derive(IntoBytes, KnownLayout, Immutable)]
pub(super) struct fuse_ioctl_iovec {
    pub(super) base: u64,
    pub(super) len: u64,
}
