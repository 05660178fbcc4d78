//! Bitmaps: allocating, freeing and copying them; the C side of `kernel::bitmap::BitmapVec`
//! (`include/linux/bitmap.h`, `lib/bitmap.c`). The bit operations are in [`crate::bitops`].
//!
//! A bitmap is an array of `unsigned long` words. [`bitmap_zalloc`] takes its memory from the C
//! allocator (`calloc(3)`), as `kmalloc()` would give it in the kernel, and asks the
//! fault-injection hook ([`crate::fault`]) first, so tests can make it fail. Difference from C:
//! the flags are not used; in particular a failure is not logged, with or without
//! `__GFP_NOWARN`.

use crate::bindings::gfp_t;
use crate::bitops::load_word;
use crate::fault;
use core::ffi::c_uint;

/// Returns the number of words that hold `nbits` bits (`BITS_TO_LONGS()`).
fn words(nbits: usize) -> usize {
    nbits.div_ceil(usize::BITS as usize)
}

/// Allocates a bitmap of `nbits` bits, all clear (`bitmap_zalloc()`); returns null if the
/// allocation fails. Free it with [`bitmap_free`].
///
/// Allocating never touches other memory, so unlike the binding of the C function, this one is
/// safe to call.
pub fn bitmap_zalloc(nbits: c_uint, flags: gfp_t) -> *mut usize {
    let _ = flags;
    if fault::alloc_should_fail() {
        return core::ptr::null_mut();
    }
    // At least one word, so that an empty bitmap is a valid, non-null allocation, as `kmalloc()`'s
    // `ZERO_SIZE_PTR` is.
    let count = words(nbits as usize).max(1);
    // SAFETY: `calloc` has no requirements; it returns null or zeroed memory for `count` words,
    // aligned for any fundamental type.
    unsafe { libc::calloc(count, size_of::<usize>()) }.cast()
}

/// Frees a bitmap allocated by [`bitmap_zalloc`] (`bitmap_free()`). A null pointer is ignored.
///
/// # Safety
///
/// `bitmap` must be null or come from [`bitmap_zalloc`], not freed yet, and not used afterwards.
pub unsafe fn bitmap_free(bitmap: *const usize) {
    // SAFETY: `bitmap` is null or a live `calloc` allocation (caller's guarantee).
    unsafe { libc::free(bitmap.cast_mut().cast()) };
}

/// Copies the first `count` bits of `from` to `to` and clears the bits of `to` from `count` up to
/// `size` (`bitmap_copy_and_extend()`).
///
/// # Safety
///
/// `to` must point to a bitmap of at least `size` bits that no one else accesses during the call;
/// `from` to one of at least `count` bits that no one accesses non-atomically during the call;
/// `count <= size`; the two must not overlap.
pub unsafe fn bitmap_copy_and_extend(
    to: *mut usize,
    from: *const usize,
    count: c_uint,
    size: c_uint,
) {
    let (count, size) = (count as usize, size as usize);
    let copied = words(count);
    for index in 0..words(size) {
        let word = if index < copied {
            // SAFETY: Word `index` holds bits below `count`, so it is in `from`.
            unsafe { load_word(from, index) }
        } else {
            0
        };
        // In the last word copied, keep only the bits below `count`.
        let keep = if index + 1 == copied && count % usize::BITS as usize != 0 {
            !0 >> (usize::BITS as usize - count % usize::BITS as usize)
        } else {
            !0
        };
        // SAFETY: Word `index` holds bits below `size`, so it is in `to`, which only this call
        // accesses.
        unsafe { *to.add(index) = word & keep };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fault::AllocFailure;

    #[test]
    fn zalloc_gives_cleared_words_and_fails_on_injection() {
        let bitmap = bitmap_zalloc(130, 0);
        assert!(!bitmap.is_null());
        // SAFETY: 130 bits take three words, all allocated and only read.
        assert!((0..3).all(|i| unsafe { *bitmap.add(i) } == 0));
        // SAFETY: The bitmap came from `bitmap_zalloc`.
        unsafe { bitmap_free(bitmap) };

        let failure = AllocFailure::next(1);
        assert!(bitmap_zalloc(130, 0).is_null());
        assert_eq!(failure.injected(), 1);
        let empty = bitmap_zalloc(0, 0);
        assert!(!empty.is_null());
        // SAFETY: As above.
        unsafe { bitmap_free(empty) };
    }

    #[test]
    fn copy_and_extend_truncates_and_clears_the_rest() {
        let from = [!0usize, !0, !0];
        let mut to = [0x55usize; 3];
        // SAFETY: Both arrays hold 192 bits and are distinct.
        unsafe { bitmap_copy_and_extend(to.as_mut_ptr(), from.as_ptr(), 70, 192) };
        assert_eq!(to, [!0, 0x3f, 0]);
        to[2] = 0x55;
        // SAFETY: As above.
        unsafe { bitmap_copy_and_extend(to.as_mut_ptr(), from.as_ptr(), 128, 128) };
        assert_eq!(to, [!0, !0, 0x55], "words beyond `size` are untouched");
    }
}
