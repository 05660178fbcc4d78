//! Tests of `kernel::ptr`: alignments, `KnownSize` and pointer projections.

use kernel::error::code::ERANGE;
use kernel::error::Result;
use kernel::io::Region;
use kernel::ptr::{const_align_up, project, Alignable, Alignment, KnownSize};

#[test]
fn alignments() {
    let page = Alignment::new::<4096>();
    assert_eq!(
        (page.as_usize(), page.log2(), page.mask()),
        (4096, 12, !0xfff)
    );
    assert_eq!(Alignment::new_checked(4096), Some(page));
    assert_eq!(Alignment::new_checked(4095), None);
    assert_eq!(Alignment::of::<u64>(), Alignment::new::<8>());
    assert!(Alignment::new::<2>() < Alignment::new::<4>());
    assert_eq!(0x1fffu32.align_down(page), 0x1000);
    assert_eq!(0x1001u64.align_up(page), Some(0x2000));
    assert_eq!(u16::MAX.align_up(Alignment::new::<2>()), None);
    assert_eq!(0x10u8.align_up(Alignment::new::<0x100>()), None);
    assert_eq!(0x80u8.align_down(Alignment::new::<0x100>()), 0);
    assert_eq!(const_align_up(4097, page), Some(8192));
    assert_eq!(const_align_up(usize::MAX - 10, page), None);
}

#[test]
fn known_sizes() {
    assert_eq!((u32::MIN_SIZE, u32::MIN_ALIGN.as_usize()), (4, 4));
    assert_eq!(<[u16]>::MIN_SIZE, 0);
    let slice: *const [u16] = core::ptr::slice_from_raw_parts(core::ptr::null(), 5);
    assert_eq!(KnownSize::size(slice), 10);
    assert_eq!(Region::<64>::MIN_SIZE, 64);
    assert_eq!(Region::<64>::MIN_ALIGN.as_usize(), 4);
    let region = Region::<64>::ptr_from_raw_parts_mut(core::ptr::dangling_mut(), 128);
    assert_eq!(KnownSize::size(region), 128);
}

#[repr(C)]
struct Packet {
    header: (u8, u32),
    payload: [u16; 8],
}

fn payload_word(p: *const [Packet], i: usize, j: usize) -> Result<*const u16> {
    Ok(project!(p, [try: i].payload[try: j]))
}

#[test]
fn projections_are_pure_address_arithmetic() -> Result {
    // An address no mapping can have: projection never dereferences.
    let base = core::ptr::without_provenance_mut::<[Packet; 4]>(0x4000_0000);
    let second_word: *mut u16 = project!(mut base, [build: 1].payload[build: 2]);
    assert_eq!(second_word.addr(), 0x4000_0000 + 24 + 8 + 4);
    let tag: *mut u32 = project!(mut base, [panic: 3].header.1);
    assert_eq!(tag.addr(), 0x4000_0000 + 3 * 24 + 4);
    let slice: *const [Packet] = project!(base.cast_const(), [try: 1..3]);
    assert_eq!((slice.addr(), slice.len()), (0x4000_0000 + 24, 2));
    assert_eq!(payload_word(slice, 1, 7)?.addr(), 0x4000_0000 + 48 + 8 + 14);
    assert_eq!(payload_word(slice, 2, 0).err(), Some(ERANGE));
    assert_eq!(payload_word(slice, 0, 8).err(), Some(ERANGE));
    let all: *const [Packet] = project!(slice, [build: ..]);
    assert_eq!(all.len(), 2);
    let head: *const [Packet] = project!(slice, [try: ..1]);
    assert_eq!(head.len(), 1);
    Ok(())
}

#[test]
#[should_panic(expected = "range 2..5 out of range for slice of length 4")]
fn panicking_range_projection() {
    let base = core::ptr::without_provenance::<[u8; 4]>(0x1000);
    let end = std::hint::black_box(5);
    let _ = project!(base, [panic: 2..end]);
}
