// A `Bounded` cannot be wider than its type, and `extend` cannot narrow it.
use kernel::num::Bounded;

fn main() {
    let _ = Bounded::<u8, 9>::try_new(1);
    let _ = Bounded::<u32, 8>::new::<1>().extend::<4>();
}
