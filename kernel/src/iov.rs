//! I/O vectors: the buffers of a read or a write.
//!
//! Mirrors `rust/kernel/iov.rs` of Linux 7.3. A driver's `read_iter` writes its data to an
//! [`IovIterDest`], and its `write_iter` takes the data from an [`IovIterSource`]; both advance as
//! they copy, and copy less than asked where the buffer ends or its memory is not there.
//!
//! Difference from the kernel: the buffer is always the caller's one user buffer, as for a
//! `read()` or `write()` (`ITER_UBUF`), lent by the host as user memory; see `kernel::uaccess`.
//!
//! # Examples
//!
//! What a misc device's `read_iter` does with the text it serves:
//!
//! ```
//! use kernel::iov::IovIterDest;
//! use kernel::prelude::*;
//!
//! fn read(iov: &mut IovIterDest<'_>, pos: &mut i64) -> Result<usize> {
//!     iov.simple_read_from_buffer(pos, b"hello\n")
//! }
//! # use kernel::bindings::{iov_iter, ITER_DEST};
//! # let mut caller = [0u8; 4];
//! # let _lent = drydock_host::uaccess::UserMemory::writable(0x7000, &mut caller);
//! # let mut raw = iov_iter::ubuf(ITER_DEST, 0x7000, 4);
//! # // SAFETY: a read's `iov_iter` over the memory lent above.
//! # let iov = unsafe { IovIterDest::from_raw(&mut raw) };
//! let mut pos = 3;
//! // From position 3, the rest of the text, as much as fits the 4-byte buffer.
//! assert_eq!(read(iov, &mut pos)?, 3);
//! assert_eq!(pos, 6);
//! assert_eq!(read(iov, &mut pos)?, 0);
//! # drop(_lent);
//! # assert_eq!(&caller[..3], b"lo\n");
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::{Allocator, Flags},
    bindings,
    prelude::*,
    types::Opaque,
};
use core::{marker::PhantomData, mem::MaybeUninit, ptr, slice};
use drydock_host::iov as host;

const ITER_SOURCE: bool = bindings::ITER_SOURCE != 0;
const ITER_DEST: bool = bindings::ITER_DEST != 0;

const _: () = assert!(
    ITER_SOURCE != ITER_DEST,
    "ITER_DEST and ITER_SOURCE should be different."
);

/// The methods of both directions, over the `iov_iter` each wraps (`$left`: what a call may do
/// with fewer bytes than [`len`](IovIterSource::len) says).
macro_rules! impl_iov_iter {
    ($ty:ident, $left:literal) => {
        impl $ty<'_> {
            /// The host's `struct iov_iter`.
            #[inline]
            pub fn as_raw(&mut self) -> *mut bindings::iov_iter {
                self.iov.get()
            }

            #[doc = concat!(
                        "How many bytes are left; ", $left, ", if the caller's memory ends first."
                    )]
            #[inline]
            pub fn len(&self) -> usize {
                // SAFETY: valid (type invariant), and shared access may read `count`.
                unsafe { (*self.iov.get()).count }
            }

            /// Whether no bytes are left (see [`len`](Self::len)).
            #[inline]
            pub fn is_empty(&self) -> bool {
                self.len() == 0
            }

            /// Moves forward by `bytes`, at most to the end.
            #[inline]
            pub fn advance(&mut self, bytes: usize) {
                // SAFETY: valid (type invariant).
                unsafe { host::iov_iter_advance(self.as_raw(), bytes) };
            }

            /// Moves back by `bytes`.
            ///
            /// # Safety
            ///
            /// Not before the beginning: it must have advanced by at least `bytes`.
            #[inline]
            pub unsafe fn revert(&mut self, bytes: usize) {
                // SAFETY: valid (type invariant), and advanced by `bytes` (safety requirement).
                unsafe { host::iov_iter_revert(self.as_raw(), bytes) };
            }
        }
    };
}

impl_iov_iter!(IovIterSource, "reading may give fewer");
impl_iov_iter!(IovIterDest, "writing may take fewer");

/// An I/O vector the data is read from: a write's buffer.
///
/// Mirrors `kernel::iov::IovIterSource`. Reading the same bytes twice (after
/// [`revert`](IovIterSource::revert)) may give other bytes: the caller's memory may change. Not
/// `Send`: the buffer is user memory of the thread serving the call.
///
/// # Invariants
///
/// Holds a valid `struct iov_iter` with `data_source` `ITER_SOURCE`, which may be read from with
/// the host's copies for `'data`.
#[repr(transparent)]
pub struct IovIterSource<'data> {
    iov: Opaque<bindings::iov_iter>,
    /// The data it reads, which it does not own.
    _source: PhantomData<&'data [u8]>,
}

impl<'data> IovIterSource<'data> {
    /// The I/O vector at `ptr`.
    ///
    /// # Safety
    ///
    /// - The `struct iov_iter` at `ptr` must be valid, and used only through the returned
    ///   reference, for `'iov`.
    /// - Its `data_source` must be `ITER_SOURCE`.
    /// - It must be readable with the host's copies for `'data`.
    #[track_caller]
    #[inline]
    pub unsafe fn from_raw<'iov>(ptr: *mut bindings::iov_iter) -> &'iov mut IovIterSource<'data> {
        // SAFETY: valid (safety requirements).
        let data_source = unsafe { (*ptr).data_source };
        assert_eq!(data_source, ITER_SOURCE);
        // INVARIANT: by the safety requirements.
        // SAFETY: valid and exclusive for `'iov`; `IovIterSource` is a transparent `iov_iter`.
        unsafe { &mut *ptr.cast::<IovIterSource<'data>>() }
    }

    /// Reads into `out`; returns how many bytes were read.
    #[inline]
    pub fn copy_from_iter(&mut self, out: &mut [u8]) -> usize {
        // SAFETY: `copy_from_iter_raw` writes only initialised bytes, so `out` stays a valid
        // `[u8]`.
        let out = unsafe { &mut *(ptr::from_mut(out) as *mut [MaybeUninit<u8>]) };
        self.copy_from_iter_raw(out).len()
    }

    /// Reads what is left, appending it to `out`; returns how many bytes were read.
    #[inline]
    pub fn copy_from_iter_vec<A: Allocator>(
        &mut self,
        out: &mut Vec<u8, A>,
        flags: Flags,
    ) -> Result<usize> {
        out.reserve(self.len(), flags)?;
        let len = self.copy_from_iter_raw(out.spare_capacity_mut()).len();
        // SAFETY: `len` bytes of the spare capacity, at most all of it, were initialised.
        unsafe { out.inc_len(len) };
        Ok(len)
    }

    /// Reads into `out`, which may be uninitialised; returns the part of `out` that was written,
    /// shorter than `out` only if the I/O vector ended. Never writes uninitialised bytes.
    #[inline]
    pub fn copy_from_iter_raw(&mut self, out: &mut [MaybeUninit<u8>]) -> &mut [u8] {
        let capacity = out.len();
        let out = out.as_mut_ptr().cast::<u8>();
        // SAFETY: readable (type invariant); `out` is valid for writes of `capacity` bytes and is
        // kernel memory, not user memory.
        let len = unsafe { host::_copy_from_iter(out.cast(), capacity, self.as_raw()) };
        // SAFETY: the host initialised the first `len <= capacity` bytes.
        unsafe { slice::from_raw_parts_mut(out, len) }
    }
}

/// An I/O vector the data is written to: a read's buffer.
///
/// Mirrors `kernel::iov::IovIterDest`. Not `Send`: the buffer is user memory of the thread
/// serving the call.
///
/// # Invariants
///
/// Holds a valid `struct iov_iter` with `data_source` `ITER_DEST`, which may be written to with
/// the host's copies for `'data`.
#[repr(transparent)]
pub struct IovIterDest<'data> {
    iov: Opaque<bindings::iov_iter>,
    /// The memory it writes, which it does not own.
    _source: PhantomData<&'data mut [u8]>,
}

impl<'data> IovIterDest<'data> {
    /// The I/O vector at `ptr`.
    ///
    /// # Safety
    ///
    /// - The `struct iov_iter` at `ptr` must be valid, and used only through the returned
    ///   reference, for `'iov`.
    /// - Its `data_source` must be `ITER_DEST`.
    /// - It must be writable with the host's copies for `'data`.
    #[track_caller]
    #[inline]
    pub unsafe fn from_raw<'iov>(ptr: *mut bindings::iov_iter) -> &'iov mut IovIterDest<'data> {
        // SAFETY: valid (safety requirements).
        let data_source = unsafe { (*ptr).data_source };
        assert_eq!(data_source, ITER_DEST);
        // INVARIANT: by the safety requirements.
        // SAFETY: valid and exclusive for `'iov`; `IovIterDest` is a transparent `iov_iter`.
        unsafe { &mut *ptr.cast::<IovIterDest<'data>>() }
    }

    /// Writes `input`; returns how many bytes were written, fewer than `input.len()` only if no
    /// more can be.
    #[inline]
    pub fn copy_to_iter(&mut self, input: &[u8]) -> usize {
        // SAFETY: writable (type invariant); `input` is valid for reads of its length and is
        // kernel memory.
        unsafe { host::_copy_to_iter(input.as_ptr().cast(), input.len(), self.as_raw()) }
    }

    /// Serves a read of a file whose whole content is `contents`, at position `*ppos`: writes the
    /// part from there on that fits, and moves `*ppos` past it, so that successive reads see the
    /// file as `contents` (C's `simple_read_from_buffer()`). `EINVAL` for a negative position; 0
    /// at or past the end.
    #[inline]
    pub fn simple_read_from_buffer(&mut self, ppos: &mut i64, contents: &[u8]) -> Result<usize> {
        if *ppos < 0 {
            return Err(EINVAL);
        }
        let Ok(pos) = usize::try_from(*ppos) else {
            return Ok(0);
        };
        let Some(rest) = contents.get(pos..).filter(|rest| !rest.is_empty()) else {
            return Ok(0);
        };
        let written = self.copy_to_iter(rest);
        // CAST: `pos + written <= contents.len() <= isize::MAX`, which fits an `i64`.
        *ppos = (pos + written) as i64;
        Ok(written)
    }
}
