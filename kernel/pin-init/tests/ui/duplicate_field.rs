use pin_init::{init, pin_data, pin_init, Init, PinInit};

#[pin_data]
struct Foo {
    a: u32,
    b: u32,
}

fn pinned() -> impl PinInit<Foo> {
    pin_init!(Foo { a: 1, b: 2, a: 3 })
}

fn unpinned() -> impl Init<Foo> {
    init!(Foo { a: 1, b <- 2, b: 3 })
}

fn main() {
    let _ = pinned();
    let _ = unpinned();
}
