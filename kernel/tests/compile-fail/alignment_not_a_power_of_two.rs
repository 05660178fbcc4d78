// `Alignment::new::<A>()` fails the build unless `A` is a power of two.
use kernel::ptr::Alignment;

fn main() {
    let _ = Alignment::new::<12>();
}
