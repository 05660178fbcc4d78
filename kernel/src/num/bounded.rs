//! [`Bounded`]: an integer that uses only its `N` low bits.
//!
//! Mirrors `rust/kernel/num/bounded.rs` of Linux 7.3; identical to the kernel's.

use core::{cmp, fmt, ops};

use pin_init::Zeroable;

use super::{Integer, Unsigned};

/// `true` if `$value` (of type `$int`) is representable in `$bits` bits of `$int`: shifting the
/// unused high bits out and back (arithmetically, for signed types) must give the value back.
/// Usable in `const` contexts.
macro_rules! fits_within {
    ($value:expr, $int:ty, $bits:expr) => {{
        let unused: u32 = <$int>::BITS - $bits;
        ($value << unused) >> unused == $value
    }};
}

/// The generic form of `fits_within!`.
#[inline(always)]
fn fits_within<T: Integer>(value: T, bits: u32) -> bool {
    let unused = T::BITS - bits;
    (value << unused) >> unused == value
}

/// An integer of type `T` whose value is representable in its `N` least significant bits (as an
/// unsigned or two's complement signed number, following `T`).
///
/// Mirrors `kernel::num::Bounded`. Register fields made by `bitfield!` and `register!` are
/// `Bounded`s of their width, so a value that does not fit a field cannot be written to it by
/// accident.
///
/// Values are made by [`Bounded::new`] (a constant, checked at compile time), [`Bounded::from_expr`]
/// (an expression the optimiser can bound, checked at link time), [`Bounded::try_new`] and
/// [`TryIntoBounded`] (checked at run time), or converted with [`From`] from a primitive or a
/// `bool` that always fits. They compare and compute with other `Bounded`s of the same backing
/// type and with plain `T`s; arithmetic gives a plain `T`.
///
/// # Invariants
///
/// - `0 < N <= T::BITS`;
/// - the value is representable in `N` bits.
///
/// # Examples
///
/// ```
/// use kernel::num::Bounded;
///
/// let nibble = Bounded::<u8, 4>::new::<0xa>();
/// assert_eq!(nibble.get(), 0xa);
/// assert!(Bounded::<u8, 4>::try_new(0x10).is_none());
///
/// let signed = Bounded::<i16, 5>::new::<-16>();
/// assert_eq!(*signed, -16);
/// assert!(Bounded::<i16, 5>::try_new(16).is_none());
///
/// let wide = Bounded::<u32, 12>::from(0xffu8);
/// assert_eq!(wide + nibble.cast::<u32>(), 0x109);
/// assert!(nibble < Bounded::<u8, 8>::new::<0xb>());
/// assert_eq!(u8::from(wide.try_shrink::<8>().unwrap()), 0xff);
/// ```
#[repr(transparent)]
#[derive(Clone, Copy, Debug, Default, Hash)]
pub struct Bounded<T: Integer, const N: u32>(T);

macro_rules! impl_const_new {
    ($($int:ty)*) => {$(
        impl<const N: u32> Bounded<$int, N> {
            /// Returns the constant `VALUE` as a `Bounded`; the build fails if it does not fit in
            /// `N` bits (or if `N` is 0 or wider than the type).
            ///
            /// Prefer it to [`Self::from_expr`] whenever the value is a constant.
            ///
            /// # Examples
            ///
            /// ```
            /// use kernel::num::Bounded;
            ///
            #[doc = concat!("const MAX: Bounded<", stringify!($int), ", 3> = Bounded::<", stringify!($int), ", 3>::new::<3>();")]
            /// assert_eq!(MAX.get(), 3);
            /// ```
            #[inline(always)]
            pub const fn new<const VALUE: $int>() -> Self {
                $crate::const_assert!(
                    fits_within!(VALUE, $int, N),
                    "the value does not fit in the `Bounded`'s number of bits"
                );
                // SAFETY: `VALUE` fits in `N` bits, asserted above.
                unsafe { Self::__new(VALUE) }
            }
        }
    )*};
}

impl_const_new!(u8 u16 u32 u64 usize i8 i16 i32 i64 isize);

impl<T: Integer, const N: u32> Bounded<T, N> {
    /// Wraps `value`, checking at compile time that `N` is a valid width for `T`.
    ///
    /// # Safety
    ///
    /// `value` must be representable in `N` bits.
    #[inline(always)]
    const unsafe fn __new(value: T) -> Self {
        crate::const_assert!(N != 0, "a `Bounded` needs at least one bit");
        crate::const_assert!(
            N <= T::BITS,
            "a `Bounded` cannot be wider than its backing type"
        );
        // INVARIANT: `N` was checked above; the caller guarantees that `value` fits.
        Self(value)
    }

    /// Returns `value` as a `Bounded` if it fits in `N` bits, `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// assert_eq!(Bounded::<u16, 10>::try_new(1023).map(Bounded::get), Some(1023));
    /// assert_eq!(Bounded::<u16, 10>::try_new(1024), None);
    /// assert_eq!(Bounded::<i8, 3>::try_new(-4).map(Bounded::get), Some(-4));
    /// assert_eq!(Bounded::<i8, 3>::try_new(-5), None);
    /// assert_eq!(Bounded::<i8, 3>::try_new(4), None);
    /// ```
    #[inline]
    pub fn try_new(value: T) -> Option<Self> {
        if fits_within(value, N) {
            // SAFETY: `value` fits in `N` bits, checked just above.
            Some(unsafe { Self::__new(value) })
        } else {
            None
        }
    }

    /// Returns `expr` as a `Bounded`; the build (link) fails unless the optimiser proves that it
    /// fits in `N` bits.
    ///
    /// Meant for simple expressions such as a masked value; see the [`build_assert!`] caveats.
    /// Prefer [`Self::new`] for constants and [`Self::try_new`] when no proof is possible.
    ///
    /// [`build_assert!`]: crate::build_assert::build_assert
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    /// # fn status() -> u32 { 0x1234_5678 }
    ///
    /// let low = Bounded::<u32, 8>::from_expr(status() & 0xff);
    /// assert_eq!(low.get(), 0x78);
    /// ```
    #[inline(always)]
    pub fn from_expr(expr: T) -> Self {
        crate::build_assert::build_assert!(
            fits_within(expr, N),
            "the value does not fit in the `Bounded`'s number of bits"
        );
        // SAFETY: `expr` fits in `N` bits, asserted above.
        unsafe { Self::__new(expr) }
    }

    /// Returns the value as its backing type.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// assert_eq!(Bounded::<u64, 40>::new::<{ 1 << 39 }>().get(), 1 << 39);
    /// ```
    #[inline(always)]
    pub const fn get(self) -> T {
        self.0
    }

    /// Returns the same value with `M >= N` usable bits; the build fails if `M < N`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let narrow = Bounded::<u32, 3>::new::<5>();
    /// let wide: Bounded<u32, 20> = narrow.extend();
    /// assert_eq!(wide, narrow);
    /// ```
    #[inline(always)]
    pub const fn extend<const M: u32>(self) -> Bounded<T, M> {
        crate::const_assert!(M >= N, "`extend` cannot reduce the number of bits");
        // SAFETY: The value fits in `N <= M` bits.
        unsafe { Bounded::__new(self.0) }
    }

    /// Returns the same value with `M` usable bits if it fits in them, `None` otherwise.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let v = Bounded::<u32, 16>::new::<0x80>();
    /// assert_eq!(v.try_shrink::<8>().map(Bounded::get), Some(0x80));
    /// assert_eq!(v.try_shrink::<7>(), None);
    /// ```
    #[inline]
    pub fn try_shrink<const M: u32>(self) -> Option<Bounded<T, M>> {
        Bounded::try_new(self.0)
    }

    /// Returns the same value in another backing type `U` of the same signedness; the build fails
    /// if `U` has fewer than `N` bits.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let v = Bounded::<u64, 9>::new::<300>();
    /// let narrow: Bounded<u16, 9> = v.cast();
    /// assert_eq!(narrow.get(), 300u16);
    /// ```
    #[inline]
    pub fn cast<U>(self) -> Bounded<U, N>
    where
        U: TryFrom<T> + Integer,
        T: Integer,
        U: Integer<Signedness = T::Signedness>,
    {
        // `Bounded::<U, N>::__new` fails the build unless `N <= U::BITS`; with the same signedness,
        // every value representable in `N` bits is then a value of `U`.
        let Ok(value) = U::try_from(self.0) else {
            unreachable!("a value of `N` bits fits in a type of the same signedness and `N` bits")
        };
        // SAFETY: The value is unchanged, so it still fits in `N` bits.
        unsafe { Bounded::__new(value) }
    }

    /// Returns the value shifted right by `SHIFT`, as a `Bounded` of `RES` bits; the build fails
    /// unless `SHIFT < T::BITS` and `RES >= N - SHIFT`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let v = Bounded::<u32, 12>::new::<0xab0>();
    /// let high: Bounded<u32, 8> = v.shr::<4, _>();
    /// assert_eq!(high.get(), 0xab);
    /// ```
    #[inline(always)]
    pub fn shr<const SHIFT: u32, const RES: u32>(self) -> Bounded<T, RES> {
        crate::const_assert!(SHIFT < T::BITS, "shift wider than the type");
        crate::const_assert!(RES + SHIFT >= N, "the result needs more bits");
        // SAFETY: Shifting right by `SHIFT` leaves at most `N - SHIFT <= RES` significant bits.
        unsafe { Bounded::__new(self.0 >> SHIFT) }
    }

    /// Like [`Self::shr`], but returns `None` if a set bit would be shifted out.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let v = Bounded::<u32, 12>::new::<0xab0>();
    /// assert_eq!(v.shr_exact::<4, 8>().map(Bounded::get), Some(0xab));
    /// assert_eq!(v.shr_exact::<5, 8>(), None);
    /// ```
    #[inline]
    pub fn shr_exact<const SHIFT: u32, const RES: u32>(self) -> Option<Bounded<T, RES>> {
        let shifted = self.shr::<SHIFT, RES>();
        (shifted.0 << SHIFT == self.0).then_some(shifted)
    }

    /// Returns the value shifted left by `SHIFT`, as a `Bounded` of `RES` bits; the build fails
    /// unless `RES >= N + SHIFT`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// let v = Bounded::<u32, 4>::new::<0xf>();
    /// let shifted: Bounded<u32, 12> = v.shl::<8, _>();
    /// assert_eq!(shifted.get(), 0xf00);
    /// ```
    #[inline(always)]
    pub fn shl<const SHIFT: u32, const RES: u32>(self) -> Bounded<T, RES> {
        crate::const_assert!(RES >= N + SHIFT, "the result needs more bits");
        // SAFETY: Shifting left by `SHIFT` gives at most `N + SHIFT <= RES` significant bits, and
        // `RES <= T::BITS` is checked by `__new`, so no bit is lost.
        unsafe { Bounded::__new(self.0 << SHIFT) }
    }
}

impl<T: Integer, const N: u32> ops::Deref for Bounded<T, N> {
    type Target = T;

    #[inline(always)]
    fn deref(&self) -> &T {
        if !fits_within(self.0, N) {
            // SAFETY: By the type invariant the value fits; telling the optimiser so lets it drop
            // range checks on the dereferenced value.
            unsafe { core::hint::unreachable_unchecked() }
        }
        &self.0
    }
}

/// Fallible conversion of an integer into a [`Bounded`] of any backing type and width.
///
/// Mirrors `kernel::num::TryIntoBounded` (a separate trait, as `TryFrom` would conflict with the
/// infallible [`From`] conversions).
///
/// # Examples
///
/// ```
/// use kernel::num::{Bounded, TryIntoBounded};
///
/// let fits: Option<Bounded<u8, 6>> = 63u64.try_into_bounded();
/// assert_eq!(fits.map(Bounded::get), Some(63));
/// let too_wide: Option<Bounded<u8, 6>> = 64u64.try_into_bounded();
/// assert_eq!(too_wide, None);
/// let negative: Option<Bounded<u8, 8>> = (-1i32).try_into_bounded();
/// assert_eq!(negative, None);
/// ```
pub trait TryIntoBounded<T: Integer, const N: u32> {
    /// Returns `self` as a `Bounded<T, N>`, or `None` if it is not a value of `T` or does not fit
    /// in `N` bits.
    fn try_into_bounded(self) -> Option<Bounded<T, N>>;
}

impl<T, U, const N: u32> TryIntoBounded<T, N> for U
where
    T: Integer,
    U: TryInto<T>,
{
    #[inline]
    fn try_into_bounded(self) -> Option<Bounded<T, N>> {
        Bounded::try_new(self.try_into().ok()?)
    }
}

impl<T, U, const N: u32, const M: u32> PartialEq<Bounded<U, M>> for Bounded<T, N>
where
    T: Integer + PartialEq<U>,
    U: Integer,
{
    #[inline]
    fn eq(&self, other: &Bounded<U, M>) -> bool {
        self.0 == other.0
    }
}

impl<T: Integer, const N: u32> Eq for Bounded<T, N> {}

impl<T, U, const N: u32, const M: u32> PartialOrd<Bounded<U, M>> for Bounded<T, N>
where
    T: Integer + PartialOrd<U>,
    U: Integer,
{
    #[inline]
    fn partial_cmp(&self, other: &Bounded<U, M>) -> Option<cmp::Ordering> {
        self.0.partial_cmp(&other.0)
    }
}

impl<T: Integer + Ord, const N: u32> Ord for Bounded<T, N> {
    #[inline]
    fn cmp(&self, other: &Self) -> cmp::Ordering {
        self.0.cmp(&other.0)
    }
}

impl<T: Integer + PartialEq, const N: u32> PartialEq<T> for Bounded<T, N> {
    #[inline]
    fn eq(&self, other: &T) -> bool {
        self.0 == *other
    }
}

impl<T: Integer + PartialOrd, const N: u32> PartialOrd<T> for Bounded<T, N> {
    #[inline]
    fn partial_cmp(&self, other: &T) -> Option<cmp::Ordering> {
        self.0.partial_cmp(other)
    }
}

/// Implements a binary operator between `Bounded`s of one backing type (any widths) and between a
/// `Bounded` and its backing type; the result is the backing type.
macro_rules! impl_binary_op {
    ($($op:ident::$method:ident),* $(,)?) => {$(
        impl<T, const N: u32, const M: u32> ops::$op<Bounded<T, M>> for Bounded<T, N>
        where
            T: Integer + ops::$op<Output = T>,
        {
            type Output = T;

            #[inline]
            fn $method(self, rhs: Bounded<T, M>) -> T {
                ops::$op::$method(self.0, rhs.0)
            }
        }

        impl<T, const N: u32> ops::$op<T> for Bounded<T, N>
        where
            T: Integer + ops::$op<Output = T>,
        {
            type Output = T;

            #[inline]
            fn $method(self, rhs: T) -> T {
                ops::$op::$method(self.0, rhs)
            }
        }
    )*};
}

impl_binary_op!(
    Add::add,
    BitAnd::bitand,
    BitOr::bitor,
    BitXor::bitxor,
    Div::div,
    Mul::mul,
    Rem::rem,
    Sub::sub,
);

impl<T: Integer + ops::Neg<Output = T>, const N: u32> ops::Neg for Bounded<T, N> {
    type Output = T;

    #[inline]
    fn neg(self) -> T {
        -self.0
    }
}

impl<T: Integer + ops::Not<Output = T>, const N: u32> ops::Not for Bounded<T, N> {
    type Output = T;

    #[inline]
    fn not(self) -> T {
        !self.0
    }
}

/// Formats a `Bounded` as its value, for each `core::fmt` trait listed.
macro_rules! impl_fmt {
    ($($trait:ident),* $(,)?) => {$(
        impl<T: Integer + fmt::$trait, const N: u32> fmt::$trait for Bounded<T, N> {
            #[inline]
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::$trait::fmt(&self.0, f)
            }
        }
    )*};
}

impl_fmt!(Display, Binary, LowerExp, LowerHex, Octal, UpperExp, UpperHex);

/// Holds for the `Bounded`s that have at least `BITS` usable bits.
trait AtLeastBits<const BITS: u32> {}

/// Holds for the `Bounded`s that have at most `BITS` usable bits.
trait AtMostBits<const BITS: u32> {}

/// Implements `$trait<$bits>` for the `Bounded`s of each listed width.
macro_rules! impl_width_rule {
    ($trait:ident<$bits:literal>: $($width:literal)*) => {$(
        impl<T: Integer> $trait<$bits> for Bounded<T, $width> {}
    )*};
}

impl_width_rule!(AtLeastBits<8>: 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29
    30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
    62 63 64);
impl_width_rule!(AtLeastBits<16>: 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36
    37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61 62 63 64);
impl_width_rule!(AtLeastBits<32>: 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52
    53 54 55 56 57 58 59 60 61 62 63 64);
impl_width_rule!(AtLeastBits<64>: 64);

impl_width_rule!(AtMostBits<8>: 1 2 3 4 5 6 7 8);
impl_width_rule!(AtMostBits<16>: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16);
impl_width_rule!(AtMostBits<32>: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25
    26 27 28 29 30 31 32);
impl_width_rule!(AtMostBits<64>: 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25
    26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57
    58 59 60 61 62 63 64);

/// Implements the infallible conversions between each primitive and the `Bounded`s (of the same
/// signedness) that can hold all of its values, both ways.
macro_rules! impl_primitive_conversions {
    ($($int:ty),*) => {$(
        #[doc = concat!("Converts any [`", stringify!($int), "`] into a [`Bounded`] of the same ")]
        #[doc = "signedness with enough bits for all its values."]
        impl<T, const N: u32> From<$int> for Bounded<T, N>
        where
            T: Integer<Signedness = <$int as Integer>::Signedness> + From<$int>,
            Self: AtLeastBits<{ <$int>::BITS }>,
        {
            #[inline]
            fn from(value: $int) -> Self {
                // SAFETY: `N >= <$int>::BITS` and the signedness is the same, so every value of
                // the source type fits in `N` bits of `T`.
                unsafe { Self::__new(T::from(value)) }
            }
        }

        #[doc = concat!("Converts a [`Bounded`] of the same signedness as [`", stringify!($int))]
        #[doc = "`], and no more bits than it has, into it."]
        impl<T, const N: u32> From<Bounded<T, N>> for $int
        where
            T: Integer<Signedness = <$int as Integer>::Signedness>,
            $int: TryFrom<T>,
            Bounded<T, N>: AtMostBits<{ <$int>::BITS }>,
        {
            #[inline]
            fn from(value: Bounded<T, N>) -> $int {
                match <$int>::try_from(value.0) {
                    Ok(converted) => converted,
                    // `N` bits of the same signedness always fit in the target type.
                    Err(_) => unreachable!(),
                }
            }
        }
    )*};
}

impl_primitive_conversions!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Converts a single-bit unsigned `Bounded` into `false` (0) or `true` (1).
impl<T: Integer<Signedness = Unsigned> + Zeroable> From<Bounded<T, 1>> for bool {
    #[inline]
    fn from(value: Bounded<T, 1>) -> bool {
        value.0 != T::zeroed()
    }
}

/// Converts `false` into 0 and `true` into 1.
impl<T, const N: u32> From<bool> for Bounded<T, N>
where
    T: Integer<Signedness = Unsigned> + From<bool>,
{
    #[inline]
    fn from(value: bool) -> Self {
        // SAFETY: 0 and 1 fit in any unsigned width of at least one bit.
        unsafe { Self::__new(T::from(value)) }
    }
}

impl<T: Integer<Signedness = Unsigned> + Zeroable> Bounded<T, 1> {
    /// Returns `true` if the bit is set: a shorthand for `bool::from(self)`.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::num::Bounded;
    ///
    /// assert!(Bounded::<u32, 1>::new::<1>().into_bool());
    /// assert!(!Bounded::<u32, 1>::from(false).into_bool());
    /// ```
    #[inline]
    pub fn into_bool(self) -> bool {
        self.into()
    }
}
