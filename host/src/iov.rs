//! The buffers of a read or a write (`struct iov_iter`), and the copies through them.
//!
//! In the kernel, a `read()` or `write()` reaches a driver's `read_iter` or `write_iter` with an
//! `iov_iter` over the caller's buffer (`ITER_UBUF`): `copy_to_iter()` and `copy_from_iter()` copy
//! through it with `copy_to_user()` and `copy_from_user()`, advancing it, and stop at memory that
//! is not there. An [`IovIter`] is the same over user memory the host lends the thread
//! ([`crate::uaccess`]): one buffer at a user address.

use core::ffi::c_void;
use core::ptr::{without_provenance, without_provenance_mut};

use crate::bindings::ITER_SOURCE;
use crate::uaccess::{copy_from_user, copy_to_user};

/// The userspace `struct iov_iter`, over one user buffer (`ITER_UBUF`).
///
/// # Invariants
///
/// `iov_offset + count` is the buffer's length: `iov_offset` bytes from `ubuf` were consumed,
/// `count` are left.
#[repr(C)]
pub struct IovIter {
    /// Whether the data is read from the buffer (a write's, `ITER_SOURCE`) or written to it
    /// (a read's, `ITER_DEST`).
    pub data_source: bool,
    /// How many bytes are left.
    pub count: usize,
    ubuf: usize,
    iov_offset: usize,
}

impl IovIter {
    /// An iterator over the `count` bytes of user memory at `ubuf`, in direction `direction`
    /// (`ITER_SOURCE` or `ITER_DEST`) (`iov_iter_ubuf()`).
    pub fn ubuf(direction: u32, ubuf: usize, count: usize) -> Self {
        // INVARIANT: nothing consumed yet.
        Self {
            data_source: direction == ITER_SOURCE,
            count,
            ubuf,
            iov_offset: 0,
        }
    }

    /// The user address of the next byte.
    fn next(&self) -> usize {
        self.ubuf.wrapping_add(self.iov_offset)
    }
}

/// Moves `i` forward by `bytes`, at most to its end (`iov_iter_advance()`).
///
/// # Safety
///
/// `i` must be valid for writes.
pub unsafe fn iov_iter_advance(i: *mut IovIter, bytes: usize) {
    // SAFETY: by the safety requirements.
    let i = unsafe { &mut *i };
    let bytes = bytes.min(i.count);
    // INVARIANT: moves `bytes <= count` from `count` to `iov_offset`.
    i.iov_offset += bytes;
    i.count -= bytes;
}

/// Moves `i` back by `bytes` (`iov_iter_revert()`).
///
/// # Safety
///
/// `i` must be valid for writes, and advanced by at least `bytes`.
pub unsafe fn iov_iter_revert(i: *mut IovIter, bytes: usize) {
    // SAFETY: by the safety requirements.
    let i = unsafe { &mut *i };
    // INVARIANT: `bytes <= iov_offset` (safety requirement) move back to `count`.
    i.iov_offset -= bytes;
    i.count += bytes;
}

/// Copies at most `bytes` from `addr` to a read's buffer `i`, advancing it; returns how many
/// bytes were copied, fewer if the buffer ends or its memory is not there (`_copy_to_iter()`).
///
/// # Safety
///
/// `addr` must be valid for reads of `bytes` bytes and not be user memory; `i` valid for writes.
pub unsafe fn _copy_to_iter(addr: *const c_void, bytes: usize, i: *mut IovIter) -> usize {
    // SAFETY: by the safety requirements.
    let it = unsafe { &mut *i };
    let n = bytes.min(it.count);
    // SAFETY: `addr` is valid for reads of `n <= bytes` bytes and is not user memory.
    let missed = unsafe { copy_to_user(without_provenance_mut(it.next()), addr, n) };
    // SAFETY: `i` is valid.
    unsafe { iov_iter_advance(i, n - missed) };
    n - missed
}

/// Copies at most `bytes` from a write's buffer `i` to `addr`, advancing it; returns how many
/// bytes were copied, fewer if the buffer ends or its memory is not there (`_copy_from_iter()`).
///
/// # Safety
///
/// `addr` must be valid for writes of `bytes` bytes and not be user memory; `i` valid for writes.
pub unsafe fn _copy_from_iter(addr: *mut c_void, bytes: usize, i: *mut IovIter) -> usize {
    // SAFETY: by the safety requirements.
    let it = unsafe { &mut *i };
    let n = bytes.min(it.count);
    // SAFETY: `addr` is valid for writes of `n <= bytes` bytes and is not user memory.
    let missed = unsafe { copy_from_user(addr, without_provenance(it.next()), n) };
    // SAFETY: `i` is valid.
    unsafe { iov_iter_advance(i, n - missed) };
    n - missed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::ITER_DEST;
    use crate::uaccess::UserMemory;

    #[test]
    fn copies_advance_and_stop_at_the_end_of_the_buffer() {
        let mut user = [0u8; 6];
        let window = UserMemory::writable(0x9000, &mut user);
        let mut iter = IovIter::ubuf(ITER_DEST, 0x9000, 6);
        let data = *b"abcd";
        let mut copy = || {
            // SAFETY: `data` is valid for reads of 4 bytes and is not user memory.
            unsafe { _copy_to_iter(data.as_ptr().cast(), 4, &mut iter) }
        };
        assert_eq!(copy(), 4);
        // Only two bytes are left.
        assert_eq!(copy(), 2);
        assert_eq!(iter.count, 0);
        // SAFETY: `iter` was advanced by 6.
        unsafe { iov_iter_revert(&mut iter, 3) };
        assert_eq!(iter.count, 3);
        drop(window);
        assert_eq!(&user, b"abcdab");
    }

    #[test]
    fn a_copy_stops_where_the_user_memory_ends() {
        let user = *b"xyz";
        let _window = UserMemory::readable(0x5000, &user);
        // The buffer claims 8 bytes, of which 3 are there.
        let mut iter = IovIter::ubuf(ITER_SOURCE, 0x5000, 8);
        assert!(iter.data_source);
        let mut out = [0u8; 8];
        // SAFETY: `out` is valid for writes of 8 bytes and is not user memory.
        let copied = unsafe { _copy_from_iter(out.as_mut_ptr().cast(), 8, &mut iter) };
        assert_eq!(copied, 3);
        assert_eq!((&out[..3], iter.count), (&b"xyz"[..], 5));
    }
}
