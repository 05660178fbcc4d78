// The constant narrowing casts of `kernel::num::casts` fail the build if the constant does not fit
// in the target type.
use kernel::num::casts;

fn main() {
    let _ = casts::usize_into_u8::<256>();
    let _ = casts::u64_into_u32::<{ 1 << 32 }>();
}
