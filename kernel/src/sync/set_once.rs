//! A container that can be set at most once: [`SetOnce`].
//!
//! Mirrors `rust/kernel/sync/set_once.rs` of Linux 7.3.

use super::atomic::{
    ordering::{Acquire, Relaxed, Release},
    Atomic,
};
use core::{cell::UnsafeCell, mem::MaybeUninit};

/// A value that can be set once, then read by any thread.
///
/// Mirrors `kernel::sync::SetOnce`. [`SetOnce::populate`] sets it, unless it was set already;
/// [`SetOnce::as_ref`] reads it once it is completely set.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::SetOnce;
///
/// let value = SetOnce::new();
/// assert_eq!(value.as_ref(), None);
/// assert!(value.populate(42u8));
/// assert!(!value.populate(43));
/// assert_eq!(value.copy(), Some(42));
/// ```
///
/// # Invariants
///
/// `init` is `0` while `value` is uninitialised, `1` while one thread writes it, and `2` once it
/// holds a valid `T`, which it then keeps until the container is dropped.
pub struct SetOnce<T> {
    init: Atomic<u32>,
    value: UnsafeCell<MaybeUninit<T>>,
}

impl<T> Default for SetOnce<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> SetOnce<T> {
    /// Returns an empty container.
    pub const fn new() -> Self {
        // INVARIANT: `init` is `0` and the value uninitialised.
        Self {
            value: UnsafeCell::new(MaybeUninit::uninit()),
            init: Atomic::new(0),
        }
    }

    /// Returns the value, or `None` if it is not (completely) set.
    pub fn as_ref(&self) -> Option<&T> {
        if self.init.load(Acquire) == 2 {
            // SAFETY: By the type invariant the value is initialised and never written again; the
            // acquire load orders its initialisation before this read.
            Some(unsafe { &*self.value.get().cast() })
        } else {
            None
        }
    }

    /// Sets the value to `value` and returns `true`, or returns `false` (dropping `value`) if it
    /// was set, or is being set, already.
    pub fn populate(&self, value: T) -> bool {
        if let Ok(0) = self.init.cmpxchg(0, 1, Relaxed) {
            // SAFETY: This thread moved `init` from `0` to `1`, so it alone writes the value, and
            // no reader looks at it before `init` is `2`.
            unsafe { core::ptr::write(self.value.get().cast(), value) };
            // INVARIANT: The value is initialised.
            self.init.store(2, Release);
            true
        } else {
            false
        }
    }

    /// Returns a copy of the value, or `None` if it is not set.
    pub fn copy(&self) -> Option<T>
    where
        T: Copy,
    {
        self.as_ref().copied()
    }
}

impl<T> Drop for SetOnce<T> {
    fn drop(&mut self) {
        if *self.init.get_mut() == 2 {
            // SAFETY: By the type invariant the value is initialised; it is dropped only here.
            unsafe { self.value.get_mut().assume_init_drop() };
        }
    }
}

// SAFETY: Sending the container sends the `T` in it.
unsafe impl<T: Send> Send for SetOnce<T> {}

// SAFETY: Sharing the container lets any thread set the value (sending a `T`) and read it
// (sharing a `T`).
unsafe impl<T: Send + Sync> Sync for SetOnce<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use core::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn one_of_many_racing_threads_wins() {
        let once = SetOnce::new();
        let winners = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for i in 0..4 {
                let (once, winners) = (&once, &winners);
                s.spawn(move || {
                    if once.populate(i) {
                        winners.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        assert_eq!(winners.load(Ordering::Relaxed), 1);
        assert!(once.copy().is_some_and(|v| v < 4));
    }

    #[test]
    fn the_value_is_dropped_once() {
        let drops = std::sync::Arc::new(());
        let once = SetOnce::new();
        assert!(once.populate(drops.clone()));
        assert!(!once.populate(drops.clone()));
        assert_eq!(std::sync::Arc::strong_count(&drops), 2);
        drop(once);
        assert_eq!(std::sync::Arc::strong_count(&drops), 1);
    }
}
