//! Bit operations on arrays of `unsigned long`: the C side of `kernel::bitmap`'s bit accesses and
//! searches (`include/linux/bitops.h`, `include/linux/find.h`, `lib/find_bit.c`).
//!
//! Bit `n` of an array is bit `n % BITS_PER_LONG` of word `n / BITS_PER_LONG`. [`__set_bit`] and
//! [`__clear_bit`] are plain read-modify-writes; [`set_bit`] and [`clear_bit`] are atomic and
//! relaxed (no ordering with other memory), as the kernel documents them. The searches read each
//! word with a relaxed atomic load (a plain load on x86-64 and arm64, as in C), so that they may
//! run while other threads change bits with the atomic operations. They return the index found,
//! or `size` if there is none, as in C; bits at `size` and above in the last word are ignored.

use core::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// `BITS_PER_LONG`.
const BITS: usize = usize::BITS as usize;

/// Returns the index of the word holding bit `nr`, and the mask of the bit in it.
fn word_and_mask(nr: usize) -> (usize, usize) {
    (nr / BITS, 1 << (nr % BITS))
}

/// Returns the atomic view of word `index` of the array at `addr`.
///
/// # Safety
///
/// `addr` must point to an array of at least `index + 1` words, valid while the view is used,
/// which no one accesses non-atomically meanwhile unless the view only reads and the other
/// accesses are reads too.
unsafe fn word<'a>(addr: *const usize, index: usize) -> &'a AtomicUsize {
    // SAFETY: The word is in the array, aligned as a `usize` (hence as an `AtomicUsize`) and not
    // accessed non-atomically concurrently (caller's guarantee).
    unsafe { AtomicUsize::from_ptr(addr.add(index).cast_mut()) }
}

/// Reads word `index` of the array at `addr` with a relaxed atomic load.
///
/// # Safety
///
/// As [`word`].
pub(crate) unsafe fn load_word(addr: *const usize, index: usize) -> usize {
    // SAFETY: The caller's guarantee.
    unsafe { word(addr, index) }.load(Relaxed)
}

/// Sets bit `nr` of the array at `addr` (`__set_bit()`; not atomic).
///
/// # Safety
///
/// `addr` must point to an array holding bit `nr`, which no one else accesses during the call.
pub unsafe fn __set_bit(nr: usize, addr: *mut usize) {
    let (index, mask) = word_and_mask(nr);
    // SAFETY: The word is in the array and accessed by no one else (caller's guarantee).
    unsafe { *addr.add(index) |= mask };
}

/// Clears bit `nr` of the array at `addr` (`__clear_bit()`; not atomic).
///
/// # Safety
///
/// As [`__set_bit`].
pub unsafe fn __clear_bit(nr: usize, addr: *mut usize) {
    let (index, mask) = word_and_mask(nr);
    // SAFETY: The word is in the array and accessed by no one else (caller's guarantee).
    unsafe { *addr.add(index) &= !mask };
}

/// Sets bit `nr` of the array at `addr` atomically, with no ordering (`set_bit()`).
///
/// # Safety
///
/// `addr` must point to an array holding bit `nr`, which no one accesses non-atomically during
/// the call.
pub unsafe fn set_bit(nr: usize, addr: *mut usize) {
    let (index, mask) = word_and_mask(nr);
    // SAFETY: The caller's guarantee.
    unsafe { word(addr, index) }.fetch_or(mask, Relaxed);
}

/// Clears bit `nr` of the array at `addr` atomically, with no ordering (`clear_bit()`).
///
/// # Safety
///
/// As [`set_bit`].
pub unsafe fn clear_bit(nr: usize, addr: *mut usize) {
    let (index, mask) = word_and_mask(nr);
    // SAFETY: The caller's guarantee.
    unsafe { word(addr, index) }.fetch_and(!mask, Relaxed);
}

/// Returns the first bit from `offset` on, below `size`, that is set in `word ^ invert` for the
/// words of the array, or `size`.
///
/// # Safety
///
/// `addr` must point to an array of at least `size` bits that no one accesses non-atomically
/// during the call.
unsafe fn find_next(addr: *const usize, size: usize, offset: usize, invert: usize) -> usize {
    if offset >= size {
        return size;
    }
    let mut index = offset / BITS;
    // SAFETY: Word `index` holds bit `offset < size`, so it is in the array.
    let mut bits = (unsafe { load_word(addr, index) } ^ invert) & (!0 << (offset % BITS));
    while bits == 0 {
        index += 1;
        if index * BITS >= size {
            return size;
        }
        // SAFETY: Word `index` holds bit `index * BITS < size`, so it is in the array.
        bits = unsafe { load_word(addr, index) } ^ invert;
    }
    // A bit found in the last word may lie beyond `size`.
    size.min(index * BITS + bits.trailing_zeros() as usize)
}

/// Returns the index of the first set bit from `offset` on, or `size` if there is none
/// (`_find_next_bit()`).
///
/// # Safety
///
/// `addr` must point to an array of at least `size` bits that no one accesses non-atomically
/// during the call.
pub unsafe fn _find_next_bit(addr: *const usize, size: usize, offset: usize) -> usize {
    // SAFETY: The caller's guarantee.
    unsafe { find_next(addr, size, offset, 0) }
}

/// Returns the index of the first clear bit from `offset` on, or `size` if there is none
/// (`_find_next_zero_bit()`).
///
/// # Safety
///
/// As [`_find_next_bit`].
pub unsafe fn _find_next_zero_bit(addr: *const usize, size: usize, offset: usize) -> usize {
    // SAFETY: The caller's guarantee.
    unsafe { find_next(addr, size, offset, !0) }
}

/// Returns the index of the last set bit below `size`, or `size` if there is none
/// (`_find_last_bit()`).
///
/// # Safety
///
/// As [`_find_next_bit`].
pub unsafe fn _find_last_bit(addr: *const usize, size: usize) -> usize {
    if size == 0 {
        return size;
    }
    let mut index = (size - 1) / BITS;
    // Keep the bits of the last word that are below `size`.
    let mask = !0 >> ((BITS - size % BITS) % BITS);
    // SAFETY: Word `index` holds bit `size - 1`, so it is in the array.
    let mut bits = unsafe { load_word(addr, index) } & mask;
    while bits == 0 {
        if index == 0 {
            return size;
        }
        index -= 1;
        // SAFETY: Words below one in the array are in the array.
        bits = unsafe { load_word(addr, index) };
    }
    index * BITS + (BITS - 1 - bits.leading_zeros() as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The reference: the set bits of `words` below `size`.
    fn set_bits(words: &[usize], size: usize) -> Vec<usize> {
        (0..size)
            .filter(|&n| words[n / BITS] & (1 << (n % BITS)) != 0)
            .collect()
    }

    proptest! {
        #[test]
        fn searches_agree_with_a_bit_by_bit_scan(
            words in prop::collection::vec(any::<usize>(), 1..4),
            size_cut in 0usize..=BITS,
            offset in 0usize..300,
        ) {
            // Sizes that end inside the last word, so the bits above `size` must be ignored.
            let size = (words.len() - 1) * BITS + size_cut;
            let set = set_bits(&words, size);
            let clear: Vec<usize> = (0..size).filter(|n| !set.contains(n)).collect();
            let p = words.as_ptr();
            // SAFETY: `words` holds at least `size` bits and is only read.
            unsafe {
                let next = set.iter().copied().find(|&n| n >= offset).unwrap_or(size);
                prop_assert_eq!(_find_next_bit(p, size, offset), next);
                let zero = clear.iter().copied().find(|&n| n >= offset).unwrap_or(size);
                prop_assert_eq!(_find_next_zero_bit(p, size, offset), zero);
                prop_assert_eq!(_find_last_bit(p, size), set.last().copied().unwrap_or(size));
            }
        }
    }

    #[test]
    fn set_and_clear_touch_one_bit() {
        let mut words = [0usize; 2];
        let p = words.as_mut_ptr();
        // SAFETY: Bits 0 to 127 are in the array, used by this thread alone.
        unsafe {
            __set_bit(70, p);
            set_bit(3, p);
            set_bit(127, p);
            assert_eq!(words, [1 << 3, (1 << 6) | (1 << 63)]);
            __clear_bit(127, p);
            clear_bit(3, p);
            assert_eq!(words, [0, 1 << 6]);
        }
    }

    #[test]
    fn atomic_sets_from_many_threads_are_not_lost() {
        let words: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        let p = words.as_ptr().cast::<usize>().cast_mut() as usize;
        std::thread::scope(|s| {
            for t in 0..4 {
                s.spawn(move || {
                    for n in (t..256).step_by(4) {
                        // SAFETY: The array holds 256 bits, accessed atomically only.
                        unsafe { set_bit(n, p as *mut usize) };
                    }
                });
            }
        });
        assert!(words.iter().all(|w| w.load(Relaxed) == !0));
    }
}
