use pin_init::{assert_pinned, pin_data};

#[pin_data]
struct Foo {
    #[pin]
    pinned: u32,
    plain: u64,
}

assert_pinned!(Foo, pinned, u32);
assert_pinned!(Foo, plain, u64);

fn main() {}
