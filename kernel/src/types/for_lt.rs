//! Types generic over a lifetime: the [`trait@ForLt`] and [`trait@CovariantForLt`] traits and the
//! [`ForLt!`](macro@ForLt) and [`CovariantForLt!`](macro@CovariantForLt) macros.
//!
//! Mirrors `rust/kernel/types/for_lt.rs` of Linux 7.3, and the `ForLt!`/`CovariantForLt!`
//! procedural macros of the kernel's `macros` crate, which drydock implements as `macro_rules!`
//! macros accepting the same syntax. Differences:
//!
//! - the kernel's `CovariantForLt!` proves covariance syntactically where it can and asks the
//!   compiler otherwise; drydock always asks the compiler. The answer is the same, except for types
//!   that name generic parameters of the enclosing function (such as `&T`), which the kernel can
//!   prove syntactically and drydock cannot compile;
//! - the kernel also makes the compiler check that the type is well-formed for every lifetime;
//!   drydock does that for the short-hand syntax only.

use core::marker::PhantomData;

/// A type constructor that takes one lifetime: `Of<'a>` is the type for the lifetime `'a`.
///
/// Mirrors `kernel::types::ForLt`. Obtain implementations with the [`ForLt!`](macro@ForLt)
/// macro rather than implementing the trait:
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::types::ForLt;
/// # fn expect_lt<F: ForLt>() {}
/// struct Borrowing<'a>(&'a ());
///
/// expect_lt::<ForLt!(for<'a> Borrowing<'a>)>();
/// // Short-hand syntax, as with lifetime elision:
/// expect_lt::<ForLt!(Borrowing<'_>)>(); // `for<'a> Borrowing<'a>`
/// expect_lt::<ForLt!(&u32)>(); // `for<'a> &'a u32`
/// expect_lt::<ForLt!(u32)>(); // `for<'a> u32`
/// ```
pub trait ForLt {
    /// The type for the lifetime `'a`.
    type Of<'a>: 'a;
}

/// A [`trait@ForLt`] whose type is covariant in its lifetime, so a reference to `Of<'long>` can
/// be used as one to `Of<'short>`.
///
/// Mirrors `kernel::types::CovariantForLt`. Obtain implementations with the
/// [`CovariantForLt!`](macro@CovariantForLt) macro, which has the syntax of
/// [`ForLt!`](macro@ForLt) and fails to compile if the type is not covariant:
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::types::CovariantForLt;
/// # fn expect_lt<F: CovariantForLt>() {}
/// struct Borrowing<'a>(&'a ());
///
/// expect_lt::<CovariantForLt!(for<'a> Borrowing<'a>)>();
/// expect_lt::<CovariantForLt!(&u32)>();
/// ```
///
/// ```compile_fail
/// use kernel::types::CovariantForLt;
/// # fn expect_lt<F: CovariantForLt>() {}
/// expect_lt::<CovariantForLt!(fn(&u32))>(); // Contravariant.
/// ```
///
/// # Safety
///
/// `Self::Of<'a>` must be covariant in `'a`.
pub unsafe trait CovariantForLt: ForLt {
    /// Shortens the lifetime of the referenced value's type.
    #[inline(always)]
    fn cast_ref<'r, 'short: 'r, 'long: 'short>(long: &'r Self::Of<'long>) -> &'r Self::Of<'short> {
        // SAFETY: `Of` is covariant in its lifetime (the trait's guarantee), so an `Of<'long>` is
        // a valid `Of<'short>`, with the same layout.
        unsafe { core::mem::transmute(long) }
    }
}

/// The type the macros return; not to be named by users.
///
/// `T` is `dyn for<'a> WithLt<'a, Of = ...>`, `WF` a type the macro wants checked for
/// well-formedness, and `N` is `1` when the macro proved covariance (in a const block that only
/// compiles if it holds), `0` otherwise.
#[doc(hidden)]
pub struct UnsafeForLtImpl<T: ?Sized, WF, const N: usize>(PhantomData<(WF, T)>);

/// Helper for the macros, to express a type for every lifetime with a higher-ranked bound.
#[doc(hidden)]
pub trait WithLt<'a> {
    /// The type for the lifetime `'a`.
    type Of: 'a;
}

impl<T: ?Sized + for<'a> WithLt<'a>, WF, const N: usize> ForLt for UnsafeForLtImpl<T, WF, N> {
    type Of<'a> = <T as WithLt<'a>>::Of;
}

// SAFETY: `CovariantForLt!` only produces `N = 1` inside a const block holding a function that
// converts `Of<'long>` into `Of<'short>` without a cast, which compiles only for covariant types.
unsafe impl<T: ?Sized + for<'a> WithLt<'a>, WF> CovariantForLt for UnsafeForLtImpl<T, WF, 1> {}

/// Returns a type implementing [`trait@ForLt`] for a type with one lifetime.
///
/// Mirrors the kernel's `ForLt!`; see [`trait@ForLt`] for the syntax.
#[macro_export]
macro_rules! ForLt {
    ($($ty:tt)+) => {
        $crate::__for_lt!(0, $($ty)+)
    };
}
pub use crate::ForLt;

/// Returns a type implementing [`trait@CovariantForLt`] for a type with one lifetime, and fails
/// to compile if the type is not covariant in it.
///
/// Mirrors the kernel's `CovariantForLt!`; see [`trait@CovariantForLt`] for the syntax.
#[macro_export]
macro_rules! CovariantForLt {
    ($($ty:tt)+) => {
        $crate::__for_lt!(1, $($ty)+)
    };
}
pub use crate::CovariantForLt;

/// Common part of [`ForLt!`] and [`CovariantForLt!`]: `$n` is `0` or `1` (prove covariance).
#[doc(hidden)]
#[macro_export]
macro_rules! __for_lt {
    ($n:tt, for<$lt:lifetime> $($ty:tt)+) => {
        $crate::__for_lt_emit!($n, $lt, [$($ty)+], ())
    };
    // Short-hand: name the elided lifetimes once, and spell the type a second time with
    // `'static` for the well-formedness check.
    ($n:tt, $($ty:tt)+) => {
        $crate::__for_lt_elide!('__elided, [first, $n, [$($ty)+]], [], [$($ty)+], [])
    };
}

/// Emits the [`UnsafeForLtImpl`] type for `$ty`, with `$wf` to check for well-formedness and,
/// if `$n` is `1`, a covariance proof.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_lt_emit {
    (0, $lt:lifetime, [$($ty:tt)+], $wf:ty) => {
        $crate::types::for_lt::UnsafeForLtImpl::<
            dyn for<$lt> $crate::types::for_lt::WithLt<$lt, Of = $($ty)+>,
            $wf,
            0,
        >
    };
    (1, $lt:lifetime, [$($ty:tt)+], $wf:ty) => {
        $crate::types::for_lt::UnsafeForLtImpl::<
            dyn for<$lt> $crate::types::for_lt::WithLt<$lt, Of = $($ty)+>,
            $wf,
            {
                #[allow(dead_code)]
                struct ProveCovariant<$lt>(::core::marker::PhantomData<&$lt ()>, $($ty)+);
                #[allow(dead_code)]
                fn prove_covariant<'__short, '__long: '__short>(
                    long: ProveCovariant<'__long>,
                ) -> ProveCovariant<'__short> {
                    long
                }
                1
            },
        >
    };
}

/// Rewrites a type written with elided lifetimes (`'_` and `&` without a lifetime) to use the
/// lifetime `$lt`: first with a fresh lifetime, then with `'static` (the type whose
/// well-formedness is checked), then calls [`__for_lt_emit!`].
///
/// State: `$lt, [continuation], [output], [input], [stack of enclosing groups]`.
#[doc(hidden)]
#[macro_export]
macro_rules! __for_lt_elide {
    // `&&` is one token; split it into two references.
    ($lt:lifetime, $k:tt, [$($out:tt)*], [&& $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)*], [& & $($in)*], $stack)
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], [& '_ $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* & $lt], [$($in)*], $stack)
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], [& $l:lifetime $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* & $l], [$($in)*], $stack)
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], [& $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* & $lt], [$($in)*], $stack)
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], ['_ $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* $lt], [$($in)*], $stack)
    };
    // Enter a group: remember what surrounds it.
    ($lt:lifetime, $k:tt, [$($out:tt)*], [($($inner:tt)*) $($in:tt)*], [$($stack:tt)*]) => {
        $crate::__for_lt_elide!($lt, $k, [], [$($inner)*], [(paren [$($out)*] [$($in)*]) $($stack)*])
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], [[$($inner:tt)*] $($in:tt)*], [$($stack:tt)*]) => {
        $crate::__for_lt_elide!($lt, $k, [], [$($inner)*], [(bracket [$($out)*] [$($in)*]) $($stack)*])
    };
    ($lt:lifetime, $k:tt, [$($out:tt)*], [$t:tt $($in:tt)*], $stack:tt) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* $t], [$($in)*], $stack)
    };
    // Leave a group.
    ($lt:lifetime, $k:tt, [$($inner:tt)*], [], [(paren [$($out:tt)*] [$($in:tt)*]) $($stack:tt)*]) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* ($($inner)*)], [$($in)*], [$($stack)*])
    };
    ($lt:lifetime, $k:tt, [$($inner:tt)*], [], [(bracket [$($out:tt)*] [$($in:tt)*]) $($stack:tt)*]) => {
        $crate::__for_lt_elide!($lt, $k, [$($out)* [$($inner)*]], [$($in)*], [$($stack)*])
    };
    // First pass done: spell the original type again, with `'static`, for the check.
    ($lt:lifetime, [first, $n:tt, [$($orig:tt)*]], [$($out:tt)*], [], []) => {
        $crate::__for_lt_elide!('static, [second, $n, $lt, [$($out)*]], [], [$($orig)*], [])
    };
    // Second pass done: emit.
    ($_static:lifetime, [second, $n:tt, $lt:lifetime, [$($ty:tt)*]], [$($wf:tt)*], [], []) => {
        $crate::__for_lt_emit!($n, $lt, [$($ty)*], $($wf)*)
    };
}
