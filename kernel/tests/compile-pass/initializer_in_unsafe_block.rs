// Initialisers written inside the user's own `unsafe` block, as upstream's
// `rust_driver_auxiliary` writes the data of `Registration::new_with_lt`: the `unsafe` blocks the
// macros generate for each field are the macros', so rustc does not report them as nested in the
// user's block. The twin `compile-fail/needless_unsafe_in_initializer.rs` shows the user's own
// needless `unsafe` is still reported.
#![deny(unused_unsafe)]

use kernel::prelude::*;

#[pin_data]
struct Inner {
    value: u32,
}

#[pin_data]
struct Outer {
    #[pin]
    inner: Inner,
    value: u32,
}

struct Plain {
    value: u32,
}

/// Takes an initialiser and must be called in an `unsafe` block.
///
/// # Safety
///
/// None: it only needs an `unsafe` block around the initialisers.
unsafe fn keep<I>(init: I) -> I {
    init
}

fn main() {
    // SAFETY: `keep` has no requirements.
    let outer = unsafe {
        keep(try_pin_init!(Outer {
            inner <- pin_init!(Inner { value: 1 }),
            value: 2,
        }))
    };
    let outer = KBox::pin_init(outer, GFP_KERNEL).unwrap();
    assert_eq!((outer.inner.value, outer.value), (1, 2));
    // SAFETY: as above.
    let plain = unsafe { keep(init!(Plain { value: 3 })) };
    let plain = KBox::init(plain, GFP_KERNEL).unwrap();
    assert_eq!(plain.value, 3);
}
