use pin_init::pin_data;

#[pin_data]
struct Foo {
    a: u32,
}

impl Drop for Foo {
    fn drop(&mut self) {}
}

fn main() {}
