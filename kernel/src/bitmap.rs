//! Bitmaps: [`Bitmap`], a borrowed C bitmap, and [`BitmapVec`], an owned one.
//!
//! Mirrors `rust/kernel/bitmap.rs` of Linux 7.3. A C bitmap is an array of `unsigned long`
//! words; the bit operations and searches are the C ones (`__set_bit()`, `set_bit()`,
//! `find_next_bit()`...), here the host's [`drydock_host::bitops`] and [`drydock_host::bitmap`].
//!
//! Difference from the kernel: it behaves as a kernel built without
//! `CONFIG_RUST_BITMAP_HARDENED` (the default), which drydock does not offer: an index out of
//! range logs an error and the operation does nothing, instead of panicking. `fill_random`
//! (only with `CONFIG_FIND_BIT_BENCHMARK_RUST`) is not provided.
//!
//! C header: `include/linux/bitmap.h`.

use crate::alloc::{AllocError, Flags};
use crate::pr_err;
use core::cell::UnsafeCell;
use core::mem::ManuallyDrop;
use core::ptr::NonNull;
use drydock_host::bitmap::{bitmap_copy_and_extend, bitmap_free, bitmap_zalloc};
use drydock_host::bitops::{
    __clear_bit, __set_bit, _find_last_bit, _find_next_bit, _find_next_zero_bit, clear_bit, set_bit,
};

/// A C bitmap, borrowed: `len()` bits in an array of `usize` words.
///
/// Mirrors `kernel::bitmap::Bitmap`. It is a dynamically sized type whose (zero-sized) contents
/// stand for the bits: a `&Bitmap` is the address of the words and the number of bits.
/// Methods that take `&mut self` are plain accesses; the `_atomic` ones, which take `&self`, may
/// run concurrently with each other (and with the searches) from several threads.
///
/// # Invariants
///
/// The address refers to an array of words holding at least `data.len()` bits, and
/// `data.len() <= i32::MAX`, so that lengths and offsets fit the `int` and `unsigned int`
/// arguments of the C functions.
#[cfg_attr(target_pointer_width = "64", repr(align(8)))]
#[cfg_attr(not(target_pointer_width = "64"), repr(align(4)))]
pub struct Bitmap {
    data: [()],
}

impl Bitmap {
    /// Borrows the C bitmap of `nbits` bits at `ptr`.
    ///
    /// # Safety
    ///
    /// - `ptr` must point to an initialised array of words holding at least `nbits` bits, which
    ///   lives for `'a`;
    /// - `nbits` must be at most `i32::MAX`;
    /// - while the borrow lives, the words may be accessed concurrently only by atomic operations.
    pub unsafe fn from_raw<'a>(ptr: *const usize, nbits: usize) -> &'a Bitmap {
        let data: *const [()] = core::ptr::slice_from_raw_parts(ptr.cast(), nbits);
        // INVARIANT: The caller's guarantees.
        // SAFETY: `Bitmap` is a `[()]` with a larger alignment, so the pointer with `nbits` as
        // its length metadata is a valid (zero-sized) `Bitmap` at the array, which is aligned as
        // a word, and lives for `'a` (caller's guarantee).
        unsafe { &*(data as *const Bitmap) }
    }

    /// Borrows the C bitmap of `nbits` bits at `ptr` exclusively.
    ///
    /// # Safety
    ///
    /// As [`Bitmap::from_raw`], and nothing else may access the words while the borrow lives.
    pub unsafe fn from_raw_mut<'a>(ptr: *mut usize, nbits: usize) -> &'a mut Bitmap {
        let data: *mut [()] = core::ptr::slice_from_raw_parts_mut(ptr.cast(), nbits);
        // INVARIANT: The caller's guarantees.
        // SAFETY: As in `from_raw`; the access is exclusive (caller's guarantee).
        unsafe { &mut *(data as *mut Bitmap) }
    }

    /// Returns the address of the words.
    pub fn as_ptr(&self) -> *const usize {
        core::ptr::from_ref::<Bitmap>(self).cast::<usize>()
    }

    /// Returns the address of the words, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut usize {
        core::ptr::from_mut::<Bitmap>(self).cast::<usize>()
    }

    /// Returns the number of bits.
    #[expect(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Returns whether bit `index` is in the bitmap; logs an error if it is not.
    ///
    /// The check of a kernel without `CONFIG_RUST_BITMAP_HARDENED`, where it is not a panic.
    fn in_range(&self, index: usize) -> bool {
        let in_range = index < self.len();
        if !in_range {
            pr_err!("Bit `index` must be < {}, was {}\n", self.len(), index);
        }
        in_range
    }

    /// Sets bit `index` (the C `__set_bit()`: not atomic, despite the name of the C `set_bit()`).
    ///
    /// An `index` out of range logs an error and changes nothing.
    #[inline]
    pub fn set_bit(&mut self, index: usize) {
        if !self.in_range(index) {
            return;
        }
        // SAFETY: Bit `index` is in the bitmap (type invariant), borrowed exclusively.
        unsafe { __set_bit(index, self.as_mut_ptr()) };
    }

    /// Sets bit `index` atomically, without ordering (the C `set_bit()`).
    ///
    /// An `index` out of range logs an error and changes nothing.
    #[inline]
    pub fn set_bit_atomic(&self, index: usize) {
        if !self.in_range(index) {
            return;
        }
        // SAFETY: Bit `index` is in the bitmap; concurrent accesses through `&self` are atomic
        // (non-atomic ones need `&mut self`, or are excluded by `from_raw`'s caller).
        unsafe { set_bit(index, self.as_ptr().cast_mut()) };
    }

    /// Clears bit `index` (the C `__clear_bit()`: not atomic).
    ///
    /// An `index` out of range logs an error and changes nothing.
    #[inline]
    pub fn clear_bit(&mut self, index: usize) {
        if !self.in_range(index) {
            return;
        }
        // SAFETY: Bit `index` is in the bitmap, borrowed exclusively.
        unsafe { __clear_bit(index, self.as_mut_ptr()) };
    }

    /// Clears bit `index` atomically, without ordering (the C `clear_bit()`).
    ///
    /// An `index` out of range logs an error and changes nothing.
    #[inline]
    pub fn clear_bit_atomic(&self, index: usize) {
        if !self.in_range(index) {
            return;
        }
        // SAFETY: As in `set_bit_atomic`.
        unsafe { clear_bit(index, self.as_ptr().cast_mut()) };
    }

    /// Copies the bits of `src` (as many as fit) to the start of this bitmap and clears the
    /// bits after them.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::bitmap::BitmapVec;
    /// use kernel::prelude::*;
    ///
    /// let mut wide = BitmapVec::new(200, GFP_KERNEL)?;
    /// wide.set_bit(150);
    /// let mut narrow = BitmapVec::new(10, GFP_KERNEL)?;
    /// narrow.set_bit(3);
    /// wide.copy_and_extend(&narrow);
    /// assert_eq!((wide.next_bit(0), wide.last_bit()), (Some(3), Some(3)));
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn copy_and_extend(&mut self, src: &Bitmap) {
        let count = core::cmp::min(src.len(), self.len());
        // SAFETY: `count` bits are in `src` and `self.len()` in `self` (type invariants), which
        // is borrowed exclusively and so distinct from `src`. Both lengths are at most
        // `i32::MAX`, so the casts are lossless.
        unsafe {
            bitmap_copy_and_extend(
                self.as_mut_ptr(),
                src.as_ptr(),
                count as u32,
                self.len() as u32,
            )
        };
    }

    /// Returns the index of the last set bit, or `None` if no bit is set.
    #[inline]
    pub fn last_bit(&self) -> Option<usize> {
        // SAFETY: The bitmap holds `len()` bits (type invariant); concurrent accesses through
        // `&self` are atomic.
        let index = unsafe { _find_last_bit(self.as_ptr(), self.len()) };
        (index < self.len()).then_some(index)
    }

    /// Returns the index of the first set bit from `start` on, or `None` if there is none (and
    /// if `start` is out of range).
    #[inline]
    pub fn next_bit(&self, start: usize) -> Option<usize> {
        // SAFETY: As in `last_bit`; the search stops at `len()` whatever `start` is.
        let index = unsafe { _find_next_bit(self.as_ptr(), self.len(), start) };
        (index < self.len()).then_some(index)
    }

    /// Returns the index of the first clear bit from `start` on, or `None` if there is none (and
    /// if `start` is out of range).
    #[inline]
    pub fn next_zero_bit(&self, start: usize) -> Option<usize> {
        // SAFETY: As in `next_bit`.
        let index = unsafe { _find_next_zero_bit(self.as_ptr(), self.len(), start) };
        (index < self.len()).then_some(index)
    }
}

/// Where the bits of a [`BitmapVec`] are: in the word itself, or in an allocated array.
#[repr(C)]
union BitmapRepr {
    // An `UnsafeCell`, because atomic operations write through shared references.
    bitmap: ManuallyDrop<UnsafeCell<usize>>,
    ptr: NonNull<usize>,
}

/// An owned C bitmap of a fixed number of bits, all clear at first.
///
/// Mirrors `kernel::bitmap::BitmapVec`. Up to [`BitmapVec::MAX_INLINE_LEN`] bits are kept in the
/// value itself, without allocating; longer bitmaps are allocated by the C side
/// (`bitmap_zalloc()`). It dereferences to [`Bitmap`], which has the operations.
///
/// # Examples
///
/// ```
/// use kernel::bitmap::BitmapVec;
/// use kernel::prelude::*;
///
/// let mut b = BitmapVec::new(100, GFP_KERNEL)?;
/// for i in (0..100).step_by(10) {
///     b.set_bit(i);
/// }
/// b.clear_bit(0);
/// assert_eq!(b.next_bit(0), Some(10));
/// assert_eq!(b.next_zero_bit(10), Some(11));
/// assert_eq!(b.last_bit(), Some(90));
/// assert_eq!(b.len(), 100);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `nbits <= MAX_LEN`;
/// - if `nbits <= MAX_INLINE_LEN`, `repr` is the inline word (`bitmap`);
/// - otherwise `repr.ptr` is an array of words holding `nbits` bits from `bitmap_zalloc`, owned by
///   the value.
pub struct BitmapVec {
    /// The bits, or where they are.
    repr: BitmapRepr,
    /// The number of bits.
    nbits: usize,
}

impl BitmapVec {
    /// Returns the address of the words.
    fn words(&self) -> *mut usize {
        if self.nbits <= BitmapVec::MAX_INLINE_LEN {
            // SAFETY: The bits are inline (type invariant): `bitmap` is the active field.
            unsafe { self.repr.bitmap.get() }
        } else {
            // SAFETY: The bits are allocated (type invariant): `ptr` is the active field.
            unsafe { self.repr.ptr.as_ptr() }
        }
    }
}

impl core::ops::Deref for BitmapVec {
    type Target = Bitmap;

    fn deref(&self) -> &Bitmap {
        // SAFETY: `words()` holds `nbits <= MAX_LEN` bits (type invariant; an inline bitmap is an
        // array of one word), which live as long as `self`; shared access only allows atomic
        // writes.
        unsafe { Bitmap::from_raw(self.words(), self.nbits) }
    }
}

impl core::ops::DerefMut for BitmapVec {
    fn deref_mut(&mut self) -> &mut Bitmap {
        // SAFETY: As in `deref`, and the access is exclusive.
        unsafe { Bitmap::from_raw_mut(self.words(), self.nbits) }
    }
}

// SAFETY: The value owns its bits, wherever they are.
unsafe impl Send for BitmapVec {}

// SAFETY: Shared access only reads the bits or changes them atomically.
unsafe impl Sync for BitmapVec {}

impl Drop for BitmapVec {
    fn drop(&mut self) {
        if self.nbits <= BitmapVec::MAX_INLINE_LEN {
            return;
        }
        // SAFETY: The bits were allocated by `bitmap_zalloc` and are owned by the value, which is
        // going away.
        unsafe { bitmap_free(self.repr.ptr.as_ptr()) };
    }
}

impl BitmapVec {
    /// The largest number of bits a `BitmapVec` can have (`i32::MAX`).
    pub const MAX_LEN: usize = i32::MAX as usize;

    /// The largest number of bits kept inline, without allocating (the bits of a `usize`).
    pub const MAX_INLINE_LEN: usize = usize::BITS as usize;

    /// Returns an inline bitmap of [`BitmapVec::MAX_INLINE_LEN`] bits.
    #[inline]
    pub fn new_inline() -> Self {
        // INVARIANT: `MAX_INLINE_LEN` bits are kept inline.
        BitmapVec {
            repr: BitmapRepr {
                bitmap: ManuallyDrop::new(UnsafeCell::new(0)),
            },
            nbits: BitmapVec::MAX_INLINE_LEN,
        }
    }

    /// Returns a bitmap of `nbits` clear bits.
    ///
    /// Fails with [`AllocError`] if the memory cannot be allocated, and if `nbits` is above
    /// [`BitmapVec::MAX_LEN`].
    #[inline]
    pub fn new(nbits: usize, flags: Flags) -> Result<Self, AllocError> {
        if nbits <= BitmapVec::MAX_INLINE_LEN {
            // INVARIANT: Few enough bits to keep inline.
            return Ok(BitmapVec {
                repr: BitmapRepr {
                    bitmap: ManuallyDrop::new(UnsafeCell::new(0)),
                },
                nbits,
            });
        }
        if nbits > Self::MAX_LEN {
            return Err(AllocError);
        }
        // CAST: `nbits <= MAX_LEN = i32::MAX`, which fits.
        let ptr = NonNull::new(bitmap_zalloc(nbits as u32, flags.as_raw())).ok_or(AllocError)?;
        // INVARIANT: `ptr` holds `nbits` bits, `MAX_INLINE_LEN < nbits <= MAX_LEN`.
        Ok(BitmapVec {
            repr: BitmapRepr { ptr },
            nbits,
        })
    }

    /// Returns the number of bits.
    #[allow(clippy::len_without_is_empty)]
    #[inline]
    pub fn len(&self) -> usize {
        self.nbits
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use drydock_host::fault::AllocFailure;

    #[test]
    fn only_allocated_bitmaps_can_fail_to_allocate() {
        let failure = AllocFailure::next(usize::MAX);
        let inline = BitmapVec::new(BitmapVec::MAX_INLINE_LEN, GFP_KERNEL).unwrap();
        assert_eq!(inline.len(), 64);
        assert_eq!(failure.injected(), 0);
        assert_eq!(BitmapVec::new(65, GFP_KERNEL).err(), Some(AllocError));
        assert_eq!(failure.injected(), 1);
        drop(failure);
        assert_eq!(BitmapVec::new(65, GFP_KERNEL).unwrap().len(), 65);
    }

    #[test]
    fn too_long_bitmaps_are_refused_without_allocating() {
        let failure = AllocFailure::next(usize::MAX);
        assert!(BitmapVec::new(BitmapVec::MAX_LEN + 1, GFP_KERNEL).is_err());
        assert!(BitmapVec::new(usize::MAX, GFP_KERNEL).is_err());
        assert_eq!(failure.injected(), 0);
    }
}
