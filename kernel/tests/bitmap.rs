//! Tests of `kernel::bitmap`: borrowed and owned bitmaps, inline and allocated, set, clear and
//! search across word boundaries, atomic changes from several threads, copying, and indices out
//! of range (logged and ignored, as in a kernel without `CONFIG_RUST_BITMAP_HARDENED`).

use drydock_runner::logger;
use kernel::bitmap::{Bitmap, BitmapVec};
use kernel::prelude::*;

#[test]
fn borrowed_bitmaps_read_and_write_the_callers_words() {
    let words = [0usize, 1 << 5];
    // SAFETY: `words` holds 128 bits and is only read while borrowed.
    let b = unsafe { Bitmap::from_raw(words.as_ptr(), 128) };
    assert_eq!(b.len(), 128);
    assert_eq!(b.as_ptr(), words.as_ptr());
    assert_eq!(b.next_bit(0), Some(69));
    assert_eq!(b.last_bit(), Some(69));

    let mut words = [usize::MAX; 2];
    // Only the first 70 bits belong to the bitmap.
    // SAFETY: `words` holds 70 bits and nothing else uses it while borrowed.
    let b = unsafe { Bitmap::from_raw_mut(words.as_mut_ptr(), 70) };
    assert_eq!(b.next_zero_bit(0), None);
    assert_eq!(b.last_bit(), Some(69));
    b.clear_bit(64);
    assert_eq!(b.next_zero_bit(0), Some(64));
    assert_eq!(words, [usize::MAX, !1]);
}

#[test]
fn lengths_up_to_a_word_are_inline_and_others_allocated() {
    for nbits in [0, 3, 64, 65, 1024, 100_000] {
        let b = BitmapVec::new(nbits, GFP_KERNEL).unwrap();
        assert_eq!((b.len(), b.next_bit(0), b.last_bit()), (nbits, None, None));
        assert_eq!(b.next_zero_bit(0), (nbits > 0).then_some(0));
    }
    assert!(BitmapVec::new(BitmapVec::MAX_LEN + 1, GFP_KERNEL).is_err());
    assert_eq!(BitmapVec::MAX_INLINE_LEN, 64);
    let inline = BitmapVec::new_inline();
    assert_eq!(inline.len(), BitmapVec::MAX_INLINE_LEN);
    let b = BitmapVec::new(64, GFP_KERNEL).unwrap();
    // The bits of an inline bitmap are in the value itself.
    let start = &raw const b as usize;
    assert!((start..start + size_of::<BitmapVec>()).contains(&(b.as_ptr() as usize)));
}

#[test]
fn set_clear_and_search_across_words() {
    // An inline bitmap, and an allocated one whose bits straddle three words.
    for nbits in [64, 130] {
        let mut b = BitmapVec::new(nbits, GFP_KERNEL).unwrap();
        let (mid, last) = (63.min(nbits - 2), nbits - 1);
        for i in [0, mid, last] {
            b.set_bit(i);
        }
        assert_eq!(b.next_bit(0), Some(0));
        assert_eq!(b.next_bit(1), Some(mid));
        assert_eq!(b.next_bit(mid + 1), Some(last));
        assert_eq!(b.last_bit(), Some(last));
        assert_eq!(b.next_zero_bit(mid), (last > mid + 1).then_some(mid + 1));
        b.clear_bit(last);
        b.clear_bit(0);
        assert_eq!(b.last_bit(), Some(mid));
        assert_eq!(b.next_bit(0), Some(mid));
        assert_eq!(b.next_bit(mid + 1), None);
        for i in 0..nbits {
            b.set_bit(i);
        }
        assert_eq!(b.next_zero_bit(0), None);
        b.clear_bit_atomic(nbits / 2);
        assert_eq!(b.next_zero_bit(0), Some(nbits / 2));
        b.set_bit_atomic(nbits / 2);
        assert_eq!(b.next_zero_bit(0), None);
    }
}

#[test]
fn atomic_changes_from_several_threads_are_all_kept() {
    let b = BitmapVec::new(1000, GFP_KERNEL).unwrap();
    let b = &b;
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                for i in (t..1000).step_by(4) {
                    b.set_bit_atomic(i);
                }
                for i in (t..1000).step_by(8) {
                    b.clear_bit_atomic(i);
                }
            });
        }
    });
    for i in 0..1000 {
        let cleared = i % 8 < 4;
        assert_eq!(b.next_zero_bit(i) == Some(i), cleared, "bit {i}");
    }
}

#[test]
fn copy_and_extend_truncates_or_clears_the_rest() {
    let mut long = BitmapVec::new(300, GFP_KERNEL).unwrap();
    long.set_bit(1);
    long.set_bit(299);
    let mut short = BitmapVec::new(70, GFP_KERNEL).unwrap();
    short.set_bit(5);
    short.set_bit(69);
    short.copy_and_extend(&long);
    assert_eq!((short.next_bit(0), short.last_bit()), (Some(1), Some(1)));

    short.set_bit(69);
    long.copy_and_extend(&short);
    assert_eq!(long.next_bit(0), Some(1));
    assert_eq!(long.next_bit(2), Some(69));
    assert_eq!(
        long.last_bit(),
        Some(69),
        "bits beyond the source are cleared"
    );
}

#[test]
fn out_of_range_indices_are_logged_and_ignored() {
    let log = logger::capture();
    let mut b = BitmapVec::new(128, GFP_KERNEL).unwrap();
    b.set_bit(2048);
    b.set_bit_atomic(128);
    assert_eq!(b.last_bit(), None);
    assert!(log.contains("Bit `index` must be < 128, was 2048"));
    assert!(log.contains("Bit `index` must be < 128, was 128"));
    b.set_bit(127);
    b.clear_bit(128);
    b.clear_bit_atomic(4096);
    assert_eq!(b.last_bit(), Some(127));
    assert_eq!(b.next_bit(128), None);
    assert_eq!(b.next_zero_bit(4096), None);
}
