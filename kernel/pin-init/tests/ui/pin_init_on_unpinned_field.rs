use core::marker::PhantomPinned;
use pin_init::{pin_data, pin_init, PinInit};

#[pin_data]
struct Inner {
    #[pin]
    _pin: PhantomPinned,
}

#[pin_data]
struct Outer {
    // Not `#[pin]`: this field may be moved, so it cannot take a pin-initializer.
    inner: Inner,
}

fn outer() -> impl PinInit<Outer> {
    pin_init!(Outer {
        inner <- pin_init!(Inner { _pin: PhantomPinned }),
    })
}

fn main() {
    let _ = outer();
}
