use pin_init::{pin_data, pin_init, PinInit};

#[pin_data]
struct Foo {
    a: u32,
    b: u32,
}

fn foo() -> impl PinInit<Foo> {
    pin_init!(Foo {
        a: 1,
        // Returning success before all fields are initialized is impossible.
        _: { return Ok(()); },
        b: 2,
    })
}

fn main() {
    let _ = foo();
}
