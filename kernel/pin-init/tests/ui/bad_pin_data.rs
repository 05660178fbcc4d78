use pin_init::{pin_data, pinned_drop};

#[pin_data]
struct Tuple(u32);

#[pin_data]
enum Enum {
    A,
}

#[pin_data(Drop)]
struct WrongArgument {
    a: u32,
}

#[pin_data]
struct DoublePin {
    #[pin]
    #[pin]
    a: u32,
}

#[pin_data(PinnedDrop)]
struct Foo {
    a: u32,
}

#[pinned_drop]
unsafe impl PinnedDrop for Foo {
    fn drop(self: core::pin::Pin<&mut Self>) {}
}

fn main() {}
