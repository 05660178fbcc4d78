use pin_init::{pin_data, pin_init, PinInit};

#[pin_data]
struct Foo {
    #[pin]
    a: u32,
    b: String,
}

fn foo() -> impl PinInit<Foo> {
    pin_init!(Foo {
        a <- "not a u32 initializer",
        b <- 17u64,
    })
}

fn main() {
    let _ = foo();
}
