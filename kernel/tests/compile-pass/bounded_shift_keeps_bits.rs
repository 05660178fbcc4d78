// The good twin of `compile-fail/bounded_shift_loses_bits.rs`.
use kernel::num::Bounded;

fn main() {
    let v = Bounded::<u32, 12>::new::<0xab0>();
    let low: Bounded<u32, 8> = v.shr::<4, _>();
    let high: Bounded<u32, 20> = v.shl::<8, _>();
    assert_eq!((low.get(), high.get()), (0xab, 0xab000));
}
