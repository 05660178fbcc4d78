// `bits::bit_u32` is a `const fn` checked with `build_assert!`, as in 7.3: evaluated at compile
// time with a bit index out of range, the build fails.
const TOO_HIGH: u32 = kernel::bits::bit_u32(32);

fn main() {
    let _ = TOO_HIGH;
}
