// The good twin of `compile-fail/register_alias_out_of_array.rs`.
use kernel::io::register;
use kernel::io::register::Register;

register! {
    SCRATCH(u32)[4] @ 0x10 {
        31:0 value;
    }

    SCRATCH_4(u32) => SCRATCH[3] {
        7:0 low;
    }

    SPREAD(u32)[4, stride = 4] @ 0x40 {
        31:0 value;
    }
}

fn main() {
    assert_eq!(<SCRATCH_4 as Register>::OFFSET, 0x1c);
    let _ = SPREAD::from(0);
}
