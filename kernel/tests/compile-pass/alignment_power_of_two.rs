// The good twin of `compile-fail/alignment_not_a_power_of_two.rs`.
use kernel::ptr::Alignment;

fn main() {
    assert_eq!(Alignment::new::<16>().as_usize(), 16);
    assert_eq!(Alignment::new::<1>().log2(), 0);
}
