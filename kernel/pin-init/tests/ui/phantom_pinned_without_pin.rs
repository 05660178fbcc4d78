#![deny(deprecated)]

use core::marker::PhantomPinned;
use pin_init::pin_data;

#[pin_data]
struct Foo {
    // Without `#[pin]`, this does not make `Foo` `!Unpin`: warned about.
    _pin: PhantomPinned,
}

fn main() {}
