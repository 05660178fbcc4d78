// The good twin of `compile-fail/const_narrowing_does_not_fit.rs`.
use kernel::num::casts;

fn main() {
    assert_eq!(casts::usize_into_u8::<255>(), u8::MAX);
    assert_eq!(casts::u64_into_u32::<{ (1 << 32) - 1 }>(), u32::MAX);
}
