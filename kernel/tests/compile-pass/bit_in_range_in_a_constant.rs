// The good twin of `bit_out_of_range_in_a_constant`: the highest bit of a `u32` builds.
const HIGHEST: u32 = kernel::bits::bit_u32(31);

fn main() {
    assert_eq!(HIGHEST, 0x8000_0000);
}
