//! Helpers in the style of the standard library: [`dbg!`](crate::dbg).
//!
//! Mirrors `rust/kernel/std_vendor.rs` of Linux 7.3 (there adapted from the standard library;
//! written anew here).

/// Prints an expression and its value at info level, with the source location, and returns the
/// value.
///
/// Mirrors the kernel's `dbg!`, which prints through `pr_info!` instead of to stderr as `std`'s
/// does; drydock prints through [`pr_info!`](crate::pr_info), hence the `log` crate. Without
/// arguments, it prints the location only; with several, it returns a tuple.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let a = 2;
/// let b = kernel::dbg!(a * 2) + 1;
/// assert_eq!(b, 5);
/// let (x, y) = kernel::dbg!(1, "two");
/// assert_eq!((x, y), (1, "two"));
/// kernel::dbg!();
/// ```
#[macro_export]
macro_rules! dbg {
    () => {
        $crate::pr_info!("[{}:{}:{}]\n", ::core::file!(), ::core::line!(), ::core::column!())
    };
    ($val:expr $(,)?) => {
        // `match` keeps temporaries in `$val` alive for the whole expression.
        match $val {
            value => {
                $crate::pr_info!(
                    "[{}:{}:{}] {} = {:#?}\n",
                    ::core::file!(),
                    ::core::line!(),
                    ::core::column!(),
                    ::core::stringify!($val),
                    &value
                );
                value
            }
        }
    };
    ($($val:expr),+ $(,)?) => {
        ($($crate::dbg!($val)),+,)
    };
}
