// `try_pin_init!` needs `#[pin_data]` on the struct it initialises, in 7.3 and here.
use kernel::prelude::*;

struct Counter {
    value: u32,
}

fn main() {
    let _ = KBox::pin_init(try_pin_init!(Counter { value: 1 }), GFP_KERNEL);
}
