//! Parsing integers written in decimal, or in hexadecimal, octal or binary with a `0x`, `0o`
//! (or plain leading `0`) or `0b` prefix.
//!
//! Mirrors `rust/kernel/str/parse_int.rs` of Linux 7.3.

use crate::error::{code::EINVAL, Result};
use crate::str::BStr;
use core::ops::Deref;

mod private {
    use crate::error::Result;
    use crate::str::BStr;

    /// Parsing operations every [`ParseInt`](super::ParseInt) type provides.
    pub trait FromStrRadix: Sized {
        /// Parses `src`, digits in `radix` with an optional `+` sign.
        fn from_str_radix(src: &BStr, radix: u32) -> Result<Self>;

        /// Returns `-value`, if it fits.
        fn from_u64_negated(value: u64) -> Result<Self>;
    }
}

/// Splits the radix prefix off `src`: `0x`/`0X` (16), `0o`/`0O` (8), `0b`/`0B` (2), a plain
/// leading `0` (8, the `0` kept as a digit), or none (10).
fn strip_radix(src: &BStr) -> (u32, &BStr) {
    match src.deref() {
        [b'0', b'x' | b'X', rest @ ..] => (16, rest.as_ref()),
        [b'0', b'o' | b'O', rest @ ..] => (8, rest.as_ref()),
        [b'0', b'b' | b'B', rest @ ..] => (2, rest.as_ref()),
        [b'0', ..] => (8, src),
        _ => (10, src),
    }
}

/// Integers that can be parsed from a [`BStr`].
///
/// Mirrors `kernel::str::parse_int::ParseInt`, implemented for every primitive integer type.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::str::{parse_int::ParseInt, BStr};
///
/// assert_eq!(u8::from_str(BStr::from_bytes(b"0xa2")), Ok(0xa2));
/// assert_eq!(i8::from_str(BStr::from_bytes(b"-128")), Ok(-128));
/// assert_eq!(i32::from_str(BStr::from_bytes(b"-0o17")), Ok(-15));
/// assert_eq!(u32::from_str(BStr::from_bytes(b"017")), Ok(15));
/// assert_eq!(u8::from_str(BStr::from_bytes(b"256")), Err(EINVAL));
/// assert_eq!(u8::from_str(BStr::from_bytes(b"-1")), Err(EINVAL));
/// ```
pub trait ParseInt: private::FromStrRadix + TryFrom<u64> {
    /// Parses `src`: an optional `-`, an optional radix prefix, then digits.
    ///
    /// Fails with `EINVAL` on malformed input or a value out of range.
    fn from_str(src: &BStr) -> Result<Self> {
        match src.deref() {
            [b'-', rest @ ..] => {
                let (radix, digits) = strip_radix(rest.as_ref());
                // Parse the magnitude as `u64`, which holds that of every type's minimum.
                let digits = core::str::from_utf8(digits).map_err(|_| EINVAL)?;
                let value = u64::from_str_radix(digits, radix).map_err(|_| EINVAL)?;
                Self::from_u64_negated(value)
            }
            _ => {
                let (radix, digits) = strip_radix(src);
                Self::from_str_radix(digits, radix).map_err(|_| EINVAL)
            }
        }
    }
}

/// Implements [`ParseInt`] for the given integer types.
macro_rules! impl_parse_int {
    ($($ty:ty),*) => {
        $(
            impl private::FromStrRadix for $ty {
                fn from_str_radix(src: &BStr, radix: u32) -> Result<Self> {
                    <$ty>::from_str_radix(core::str::from_utf8(src).map_err(|_| EINVAL)?, radix)
                        .map_err(|_| EINVAL)
                }

                fn from_u64_negated(value: u64) -> Result<Self> {
                    // The magnitude of the type's minimum (zero for unsigned types).
                    const ABS_MIN: u64 = {
                        #[allow(unused_comparisons)]
                        if <$ty>::MIN < 0 {
                            1u64 << (<$ty>::BITS - 1)
                        } else {
                            0
                        }
                    };
                    if value > ABS_MIN {
                        return Err(EINVAL);
                    }
                    if value == ABS_MIN {
                        return Ok(<$ty>::MIN);
                    }
                    // `value < ABS_MIN`, which fits the type, so the conversion succeeds; the
                    // two's complement negation of a value below the minimum's magnitude fits.
                    let value: Self = value.try_into().map_err(|_| EINVAL)?;
                    Ok((!value).wrapping_add(1))
                }
            }

            impl ParseInt for $ty {}
        )*
    };
}

impl_parse_int![i8, u8, i16, u16, i32, u32, i64, u64, isize, usize];

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<T: ParseInt>(s: &str) -> Result<T> {
        T::from_str(BStr::from_bytes(s.as_bytes()))
    }

    #[test]
    fn radixes_signs_and_limits() {
        assert_eq!(parse::<u8>("0b101"), Ok(5));
        assert_eq!(parse::<u64>("0XfF"), Ok(255));
        assert_eq!(parse::<i64>("-9223372036854775808"), Ok(i64::MIN));
        assert_eq!(parse::<i64>("-9223372036854775809"), Err(EINVAL));
        assert_eq!(parse::<u16>("-0"), Ok(0));
        assert_eq!(parse::<i16>("+7"), Ok(7));
        assert_eq!(parse::<usize>(""), Err(EINVAL));
        assert_eq!(parse::<u32>("0x"), Err(EINVAL));
        assert_eq!(parse::<i32>("08"), Err(EINVAL));
    }
}
