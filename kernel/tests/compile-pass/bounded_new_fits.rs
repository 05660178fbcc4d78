// The good twin of `compile-fail/bounded_new_does_not_fit.rs`.
use kernel::num::Bounded;

fn main() {
    assert_eq!(Bounded::<u8, 4>::new::<15>().get(), 15);
    assert_eq!(Bounded::<i8, 4>::new::<-8>().get(), -8);
}
