use pin_init::{pin_init, PinInit};

struct Foo {
    a: u32,
}

fn foo() -> impl PinInit<Foo> {
    pin_init!(Foo { a: 1 })
}

fn main() {
    let _ = foo();
}
