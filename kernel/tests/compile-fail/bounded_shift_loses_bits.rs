// `Bounded::shr` and `Bounded::shl` fail the build if the shift is as wide as the type or the
// result type has too few bits for what the shift leaves.
use kernel::num::Bounded;

fn main() {
    let v = Bounded::<u32, 12>::new::<0xab0>();
    let _: Bounded<u32, 12> = v.shr::<32, _>();
    let _: Bounded<u32, 7> = v.shr::<4, _>();
    let _: Bounded<u32, 19> = v.shl::<8, _>();
}
