//! Types of bit flags: a set type and the enumeration of its flags.
//!
//! Mirrors `rust/kernel/impl_flags.rs` of Linux 7.3, which provides
//! [`impl_flags!`](macro@crate::impl_flags).

/// Declares a set of bit flags: a transparent struct over an integer for the set, an enumeration
/// for the single flags, and the operators between them.
///
/// Mirrors the kernel's `impl_flags!`. Given `$vis struct Flags(T);` and `$vis enum Flag { A = a,
/// B = b, ... }`, it generates:
///
/// - `Flags` as `#[repr(transparent)]` over `T` and `Flag` as `#[repr(T)]`, with their attributes
///   (derive `Clone` and `Copy` on `Flags`: the assigning operators need them);
/// - `From<Flag> for Flags` and `From<Flags> for T`;
/// - `|`, `&`, `^` between sets and between a set and a flag (with their `=` forms), `!` on a set,
///   and `|`, `&`, `^`, `!` on flags, giving a set; `^` and `!` keep only the declared bits;
/// - `Flags::empty()`, `Flags::all_bits()` (every declared bit), `contains(flag)`,
///   `contains_any(flags)` and `contains_all(flags)`.
///
/// # Examples
///
/// ```
/// use kernel::{bits::bit_u32, impl_flags};
///
/// impl_flags!(
///     /// Access rights.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub struct Access(u32);
///
///     /// One access right.
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum Right {
///         /// Reading.
///         Read = bit_u32(0),
///         /// Writing.
///         Write = bit_u32(1),
///     }
/// );
///
/// let mut access = Access::empty() | Right::Read;
/// assert!(access.contains(Right::Read) && !access.contains(Right::Write));
/// access |= Right::Write;
/// assert!(access.contains_all(Right::Read | Right::Write));
/// assert_eq!(u32::from(!Access::from(Right::Read)), 0b10);
/// assert_eq!(Access::all_bits(), 0b11);
/// ```
#[macro_export]
macro_rules! impl_flags {
    (
        $(#[$outer_flags:meta])*
        $vis_flags:vis struct $flags:ident($ty:ty);

        $(#[$outer_flag:meta])*
        $vis_flag:vis enum $flag:ident {
            $(
                $(#[$inner_flag:meta])*
                $name:ident = $value:expr
            ),+ $( , )?
        }
    ) => {
        $(#[$outer_flags])*
        #[repr(transparent)]
        $vis_flags struct $flags($ty);

        $(#[$outer_flag])*
        #[repr($ty)]
        $vis_flag enum $flag {
            $(
                $(#[$inner_flag])*
                $name = $value
            ),+
        }

        impl ::core::convert::From<$flag> for $flags {
            #[inline]
            fn from(value: $flag) -> Self {
                Self(value as $ty)
            }
        }

        impl ::core::convert::From<$flags> for $ty {
            #[inline]
            fn from(value: $flags) -> Self {
                value.0
            }
        }

        $crate::impl_flags!(@binary $flags, $flag, $ty, BitOr bitor BitOrAssign bitor_assign, |,
            |value: $ty| value);
        $crate::impl_flags!(@binary $flags, $flag, $ty, BitAnd bitand BitAndAssign bitand_assign, &,
            |value: $ty| value);
        $crate::impl_flags!(@binary $flags, $flag, $ty, BitXor bitxor BitXorAssign bitxor_assign, ^,
            |value: $ty| value & $flags::all_bits());

        impl ::core::ops::Not for $flags {
            type Output = Self;
            #[inline]
            fn not(self) -> Self::Output {
                Self(!self.0 & Self::all_bits())
            }
        }

        impl ::core::ops::Not for $flag {
            type Output = $flags;
            #[inline]
            fn not(self) -> Self::Output {
                !$flags::from(self)
            }
        }

        impl $flags {
            /// The empty set.
            #[inline]
            pub const fn empty() -> Self {
                Self(0)
            }

            /// Every declared flag's bits.
            #[inline]
            pub const fn all_bits() -> $ty {
                0 $( | $value )+
            }

            /// Whether `flag` is in the set.
            #[inline]
            pub fn contains(self, flag: $flag) -> bool {
                self.0 & flag as $ty == flag as $ty
            }

            /// Whether any flag of `flags` is in the set.
            #[inline]
            pub fn contains_any(self, flags: $flags) -> bool {
                self.0 & flags.0 != 0
            }

            /// Whether every flag of `flags` is in the set.
            #[inline]
            pub fn contains_all(self, flags: $flags) -> bool {
                self.0 & flags.0 == flags.0
            }
        }
    };
    // One binary operator: between sets (the result passed through `$keep`, which drops bits no
    // flag declares where the operator could set them), a set and a flag, and two flags; and its
    // assigning forms.
    (@binary $flags:ident, $flag:ident, $ty:ty,
        $op:ident $method:ident $op_assign:ident $method_assign:ident, $sym:tt, $keep:expr) => {
        impl ::core::ops::$op for $flags {
            type Output = Self;
            #[inline]
            // `^` keeps only the declared bits with a `&`, as the kernel's does.
            #[allow(clippy::suspicious_arithmetic_impl)]
            fn $method(self, rhs: Self) -> Self::Output {
                Self(($keep)(self.0 $sym rhs.0))
            }
        }

        impl ::core::ops::$op<$flag> for $flags {
            type Output = Self;
            #[inline]
            fn $method(self, rhs: $flag) -> Self::Output {
                self $sym Self::from(rhs)
            }
        }

        impl ::core::ops::$op for $flag {
            type Output = $flags;
            #[inline]
            fn $method(self, rhs: Self) -> Self::Output {
                $flags::from(self) $sym rhs
            }
        }

        impl ::core::ops::$op_assign for $flags {
            #[inline]
            fn $method_assign(&mut self, rhs: Self) {
                *self = *self $sym rhs;
            }
        }

        impl ::core::ops::$op_assign<$flag> for $flags {
            #[inline]
            fn $method_assign(&mut self, rhs: $flag) {
                *self = *self $sym rhs;
            }
        }
    };
}

// The generated methods are `pub`, as the kernel's are, on types that are private here.
#[allow(unreachable_pub)]
#[cfg(test)]
mod tests {
    crate::impl_flags!(
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        struct Modes(u8);

        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        enum Mode {
            A = 0b001,
            B = 0b010,
            C = 0b100,
        }
    );

    #[test]
    fn operators_combine_sets_and_flags() {
        let ab = Mode::A | Mode::B;
        assert_eq!(u8::from(ab), 0b011);
        assert_eq!(u8::from(ab & Mode::B), 0b010);
        assert_eq!(u8::from(Mode::A & Mode::B), 0);
        assert_eq!(u8::from(ab ^ Mode::C), 0b111);
        assert_eq!(u8::from(Mode::A ^ Mode::A), 0);
        let mut set = Modes::empty();
        set |= Mode::C;
        set |= Modes::from(Mode::A);
        set &= Mode::A | Mode::B;
        assert_eq!(set, Modes::from(Mode::A));
        set ^= Mode::B;
        set ^= Modes::from(Mode::A);
        assert_eq!(set, Modes::from(Mode::B));
        assert!(ab.contains(Mode::A) && !ab.contains(Mode::C));
        assert!(ab.contains_any(Mode::B | Mode::C) && !ab.contains_any(Modes::from(Mode::C)));
        assert!(ab.contains_all(ab) && !ab.contains_all(Mode::A | Mode::C));
    }

    #[test]
    fn complement_and_difference_keep_only_declared_bits() {
        assert_eq!(Modes::all_bits(), 0b111);
        assert_eq!(u8::from(!Modes::from(Mode::A)), 0b110);
        assert_eq!(u8::from(!Mode::B), 0b101);
        // A set holding an undeclared bit loses it through `^`, as in the kernel.
        assert_eq!(u8::from(Modes(0b1000_0001) ^ Modes::from(Mode::B)), 0b011);
        assert_eq!(u8::from(Modes(0b1000_0001) | Mode::B), 0b1000_0011);
    }
}
