//! A saturating reference count: [`Refcount`].
//!
//! Mirrors `rust/kernel/sync/refcount.rs` of Linux 7.3, and the semantics of the kernel's
//! `refcount_t` (`include/linux/refcount.h`): instead of wrapping, a count that overflows or is
//! used after reaching zero is set to a saturation value far from both zero and the maximum,
//! where it stays, and a warning is logged; the object then leaks instead of being freed early.

use crate::build_assert::build_assert;
use crate::sync::atomic::{Atomic, Relaxed, Release};
use core::sync::atomic::{fence, Ordering};

/// The value a misused count is set to and stays at (`REFCOUNT_SATURATED`, `INT_MIN / 2`).
const REFCOUNT_SATURATED: i32 = i32::MIN / 2;

/// An atomic reference count that saturates instead of overflowing.
///
/// Mirrors `kernel::sync::Refcount` (the kernel's `refcount_t`).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::Refcount;
///
/// let r = Refcount::new(1);
/// r.inc();
/// assert!(!r.dec_and_test());
/// assert!(r.dec_and_test());
/// ```
#[repr(transparent)]
pub struct Refcount(Atomic<i32>);

impl Refcount {
    /// Returns a count holding `value`, which must not be saturated (negative).
    ///
    /// As in the kernel, a negative `value` fails the build (`build_assert!`): the optimiser must
    /// prove `value >= 0`, so pass a constant or a value known to be in range.
    #[inline(always)]
    pub fn new(value: i32) -> Self {
        build_assert!(value >= 0, "initial value saturated");
        Self(Atomic::new(value))
    }

    /// Returns the count as an atomic integer, for operations `Refcount` does not provide.
    #[inline]
    pub fn as_atomic(&self) -> &Atomic<i32> {
        &self.0
    }

    /// Sets the count to `value`.
    #[inline]
    pub fn set(&self, value: i32) {
        self.0.store(value, Relaxed);
    }

    /// Increments the count.
    ///
    /// Incrementing a zero count (a use after free) or overflowing saturates it and warns.
    #[inline]
    pub fn inc(&self) {
        let old = self.0.fetch_add(1, Relaxed);
        if old == 0 {
            saturate(self, "increment on 0; use-after-free");
        } else if old < 0 || old.wrapping_add(1) < 0 {
            saturate(self, "saturated; leaking memory");
        }
    }

    /// Decrements the count, which must not reach zero (use [`Refcount::dec_and_test`] for
    /// that).
    ///
    /// Reaching zero or going below saturates the count and warns.
    #[inline]
    pub fn dec(&self) {
        let old = self.0.fetch_sub(1, Release);
        if old <= 1 {
            saturate(self, "decrement hit 0; leaking memory");
        }
    }

    /// Decrements the count and returns `true` if it reached zero.
    ///
    /// When it returns `true`, every access made by other threads before their own decrement is
    /// ordered before the return, so the caller may free the object. Decrementing a zero or
    /// saturated count saturates it, warns and returns `false`.
    #[inline]
    #[must_use = "use `dec` instead if you do not need to test if it is 0"]
    pub fn dec_and_test(&self) -> bool {
        let old = self.0.fetch_sub(1, Release);
        if old == 1 {
            fence(Ordering::Acquire);
            return true;
        }
        if old <= 0 {
            saturate(self, "underflow; use-after-free");
        }
        false
    }
}

/// Saturates `r` and warns, as the kernel's `refcount_warn_saturate()`.
#[cold]
fn saturate(r: &Refcount, what: &str) {
    r.0.store(REFCOUNT_SATURATED, Relaxed);
    crate::pr_warn!("refcount_t: {}\n", what);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_up_and_down() {
        let r = Refcount::new(1);
        r.inc();
        r.inc();
        r.dec();
        assert_eq!(r.as_atomic().load(Relaxed), 2);
        assert!(!r.dec_and_test());
        assert!(r.dec_and_test());
    }

    #[test]
    fn misuse_saturates_and_stays_saturated() {
        let r = Refcount::new(0);
        r.inc();
        assert_eq!(r.as_atomic().load(Relaxed), REFCOUNT_SATURATED);
        assert!(!r.dec_and_test());
        assert_eq!(r.as_atomic().load(Relaxed), REFCOUNT_SATURATED);

        let r = Refcount::new(i32::MAX);
        r.inc();
        assert_eq!(r.as_atomic().load(Relaxed), REFCOUNT_SATURATED);

        let r = Refcount::new(1);
        r.dec();
        assert_eq!(r.as_atomic().load(Relaxed), REFCOUNT_SATURATED);
    }
}
