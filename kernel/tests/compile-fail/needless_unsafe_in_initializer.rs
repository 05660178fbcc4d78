// A needless `unsafe` block the user writes in a field's value, inside an `unsafe` block of their
// own, is reported as rustc reports it anywhere else; the blocks the initialiser macros generate
// are not (see `compile-pass/initializer_in_unsafe_block.rs`).
#![deny(unused_unsafe)]

use kernel::prelude::*;

#[pin_data]
struct Counter {
    value: u32,
}

/// Takes an initialiser and must be called in an `unsafe` block.
///
/// # Safety
///
/// None: it only needs an `unsafe` block around the initialiser.
unsafe fn keep<I>(init: I) -> I {
    init
}

fn main() {
    // SAFETY: `keep` has no requirements.
    let counter = unsafe { keep(try_pin_init!(Counter { value: unsafe { 1 } })) };
    let _ = KBox::pin_init(counter, GFP_KERNEL);
}
