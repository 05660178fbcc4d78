// An alias of an element outside its register array, and an array stride smaller than its
// registers, fail the build.
use kernel::io::register;

register! {
    SCRATCH(u32)[4] @ 0x10 {
        31:0 value;
    }

    SCRATCH_5(u32) => SCRATCH[4] {
        7:0 low;
    }

    PACKED(u32)[4, stride = 2] @ 0x40 {
        31:0 value;
    }
}

fn main() {}
