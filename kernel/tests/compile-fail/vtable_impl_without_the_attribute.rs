// An implementation of a `#[vtable]` trait must carry the attribute too, as in 7.3: without it,
// the constants the attribute defines are missing and the implementation does not build.
use kernel::prelude::*;

#[vtable]
trait Operations {
    fn open(&self) {}
}

struct Device;

impl Operations for Device {
    fn open(&self) {}
}

fn main() {}
