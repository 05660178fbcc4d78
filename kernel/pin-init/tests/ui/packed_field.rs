use pin_init::{init, Init};

#[repr(C, packed)]
struct Packed {
    a: u8,
    b: u32,
}

fn packed() -> impl Init<Packed> {
    init!(Packed { a: 1, b <- 2u32 })
}

fn main() {
    let _ = packed();
}
