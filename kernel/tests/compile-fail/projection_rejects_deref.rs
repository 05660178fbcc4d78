// Projections refuse types that implement `Deref`: `(*p).field` could reach another object.
use kernel::ptr::project;

fn main() {
    let b: *const Box<(u32, u32)> = core::ptr::dangling();
    let _ = project!(b, .0);
}
