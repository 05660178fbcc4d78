// Projections refuse unaligned (packed) fields and types that implement `Deref`.
use kernel::ptr::project;

#[repr(C, packed)]
struct Packed {
    tag: u8,
    value: u32,
}

fn main() {
    let p: *const Packed = core::ptr::dangling();
    let _ = project!(p, .value);
    let b: *const Box<(u32, u32)> = core::ptr::dangling();
    let _ = project!(b, .0);
}
