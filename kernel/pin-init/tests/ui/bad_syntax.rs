use pin_init::{pin_data, pin_init};

#[pin_data]
struct Foo<T> {
    a: T,
}

fn main() {
    let _ = pin_init!(Foo<u8> { a: 1 });
    let _ = pin_init!(Foo::<u8> { a: 1, ..Default::default() });
    let _ = pin_init!(Foo::<u8> { a = 1 });
    let _ = pin_init!(#[unknown] Foo::<u8> { a: 1 });
    let _ = pin_init!(Foo::<u8> { 0: 1 });
    let _ = pin_init!(Foo::<u8> { _: 1 });
}
