// `Bounded::new::<V>()` fails the build if `V` does not fit in the bits.
use kernel::num::Bounded;

fn main() {
    let _ = Bounded::<u8, 4>::new::<16>();
    let _ = Bounded::<i8, 4>::new::<8>();
}
