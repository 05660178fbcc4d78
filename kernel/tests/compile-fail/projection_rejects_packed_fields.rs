// Projections refuse unaligned (packed) fields: not every user (DMA, MMIO) can access them.
use kernel::ptr::project;

#[repr(C, packed)]
struct Packed {
    tag: u8,
    value: u32,
}

fn main() {
    let p: *const Packed = core::ptr::dangling();
    let _ = project!(p, .value);
}
