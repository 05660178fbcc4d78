// The good twin of `compile-fail/try_pin_init_without_pin_data.rs`.
use kernel::prelude::*;

#[pin_data]
struct Counter {
    value: u32,
}

fn main() {
    let counter = KBox::pin_init(try_pin_init!(Counter { value: 1 }), GFP_KERNEL).unwrap();
    assert_eq!(counter.value, 1);
}
