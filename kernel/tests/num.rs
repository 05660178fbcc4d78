//! Tests of `kernel::num`: `Bounded` edge cases and the lossless casts.

use kernel::num::casts::{self, arch::IntoSafeCastArch, FromSafeCast, IntoSafeCast};
use kernel::num::{Bounded, TryIntoBounded};

#[test]
fn single_bit_and_full_width() {
    assert_eq!(Bounded::<u8, 1>::try_new(1).map(Bounded::get), Some(1));
    assert_eq!(Bounded::<u8, 1>::try_new(2), None);
    assert_eq!(
        Bounded::<u64, 64>::try_new(u64::MAX).map(Bounded::get),
        Some(u64::MAX)
    );
    assert_eq!(Bounded::<u8, 8>::new::<255>().get(), 255);
    assert_eq!(
        Bounded::<i8, 8>::try_new(i8::MIN).map(Bounded::get),
        Some(i8::MIN)
    );
    assert_eq!(Bounded::<i64, 64>::new::<{ i64::MAX }>().get(), i64::MAX);
    // One signed bit holds 0 and -1 only.
    assert_eq!(Bounded::<i32, 1>::try_new(-1).map(Bounded::get), Some(-1));
    assert_eq!(Bounded::<i32, 1>::try_new(1), None);
    assert!(bool::from(Bounded::<u16, 1>::from(true)));
    assert!(!Bounded::<u16, 1>::from(false).into_bool());
}

#[test]
fn signed_limits() {
    for (value, fits) in [
        (-16, true),
        (15, true),
        (-17, false),
        (16, false),
        (0, true),
    ] {
        assert_eq!(Bounded::<i16, 5>::try_new(value).is_some(), fits, "{value}");
    }
    assert_eq!(Bounded::<i32, 8>::from(-128i8).get(), -128);
    assert_eq!(i8::from(Bounded::<i64, 8>::new::<-1>()), -1);
    assert_eq!(-Bounded::<i32, 4>::new::<-8>(), 8);
}

#[test]
fn constructors_and_width_changes() {
    let masked = Bounded::<u32, 4>::from_expr(std::hint::black_box(0xdead_beef) & 0xf);
    assert_eq!(masked.get(), 0xf);
    let v = Bounded::<u32, 12>::new::<0x7ff>();
    assert_eq!(v.extend::<32>().get(), 0x7ff);
    assert_eq!(v.try_shrink::<11>().map(Bounded::get), Some(0x7ff));
    assert_eq!(v.try_shrink::<10>(), None);
    assert_eq!(v.cast::<u16>().get(), 0x7ffu16);
    assert_eq!(v.shl::<4, 16>().get(), 0x7ff0);
    assert_eq!(v.shr::<8, 4>().get(), 0x7);
    assert_eq!(v.shr_exact::<1, 11>(), None);
    assert_eq!(
        Bounded::<u32, 12>::new::<0x700>()
            .shr_exact::<8, 4>()
            .map(Bounded::get),
        Some(7)
    );
    assert_eq!(*v, 0x7ff);
    assert_eq!(Bounded::<u64, 3>::default().get(), 0);
}

#[test]
fn conversions() {
    assert_eq!(Bounded::<u32, 8>::from(0xffu8).get(), 0xff);
    assert_eq!(Bounded::<u64, 16>::from(0xffffu16).get(), 0xffff);
    assert_eq!(u8::from(Bounded::<u32, 6>::new::<63>()), 63);
    assert_eq!(u16::from(Bounded::<u64, 16>::new::<0xffff>()), 0xffff);
    let fits: Option<Bounded<u16, 8>> = 255u64.try_into_bounded();
    assert_eq!(fits.map(Bounded::get), Some(255));
    let too_big: Option<Bounded<u16, 8>> = 256u64.try_into_bounded();
    assert_eq!(too_big, None);
    let negative: Option<Bounded<u32, 32>> = (-1i64).try_into_bounded();
    assert_eq!(negative, None);
    let signed: Option<Bounded<i8, 3>> = (-4i64).try_into_bounded();
    assert_eq!(signed.map(Bounded::get), Some(-4));
}

#[test]
fn comparisons_arithmetic_and_formatting() {
    let a = Bounded::<u32, 8>::new::<200>();
    let b = Bounded::<u32, 4>::new::<15>();
    assert!(a > b);
    assert!(b < a);
    assert_ne!(a, b);
    assert_eq!(a, Bounded::<u32, 32>::new::<200>());
    assert!(a == 200 && a > 199 && a < 201);
    assert_eq!(
        a.cmp(&Bounded::<u32, 8>::new::<100>()),
        core::cmp::Ordering::Greater
    );
    assert_eq!(a + b, 215);
    assert_eq!(a - b, 185);
    assert_eq!(a * b, 3000);
    assert_eq!(a / b, 13);
    assert_eq!(a % b, 5);
    assert_eq!(a & b, 8);
    assert_eq!(a | b, 207);
    assert_eq!(a ^ b, 199);
    assert_eq!(a + 1, 201);
    assert_eq!(a - 1, 199);
    assert_eq!(a * 2, 400);
    assert_eq!(a / 2, 100);
    assert_eq!(a % 7, 4);
    assert_eq!(a & 0xf, 8);
    assert_eq!(a | 1, 201);
    assert_eq!(a ^ 0xff, 55);
    assert_eq!(!b, !15u32);
    assert_eq!(
        format!("{a} {a:x} {a:X} {a:o} {a:b} {a:?}"),
        "200 c8 C8 310 11001000 Bounded(200)"
    );
    assert_eq!(format!("{:e}", Bounded::<u32, 16>::new::<1500>()), "1.5e3");
}

#[test]
fn lossless_casts() {
    const LEN: usize = casts::u32_as_usize(0x1000);
    assert_eq!(LEN, 0x1000);
    assert_eq!(casts::usize_as_u64(usize::MAX), u64::MAX);
    assert_eq!(casts::u8_as_u64(0xff), 0xff);
    assert_eq!(casts::u64_into_u8::<0xff>(), 0xff);
    assert_eq!(casts::usize_into_u32::<{ u32::MAX as usize }>(), u32::MAX);
    assert_eq!(u64::from_safe_cast(7usize), 7);
    let len: usize = 9u32.into_safe_cast();
    assert_eq!(len, 9);
    let arch: usize = u64::MAX.into_safe_cast_arch();
    assert_eq!(arch, usize::MAX);
}
