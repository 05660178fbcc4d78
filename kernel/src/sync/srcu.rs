//! Sleepable read-copy update: [`Srcu`].
//!
//! Mirrors `rust/kernel/sync/srcu.rs` of Linux 7.3. Each [`Srcu`] is an RCU domain of its own,
//! whose readers may sleep; in drydock it is a [`GracePeriods`] domain (see
//! [`drydock_host::rcu`]), the mechanism of the global RCU, per instance.

use crate::{
    error::Error,
    str::CStr,
    sync::LockClassKey,
    try_pin_init,
    types::{NotThreadSafe, Opaque},
};
use core::pin::Pin;
use drydock_host::rcu::GracePeriods;
use pin_init::{pin_data, pinned_drop, PinInit};

/// Creates an [`Srcu`] initialiser with the given name (or one made of the source location) and
/// a new lock class.
///
/// Mirrors the kernel's `new_srcu!`.
#[doc(hidden)]
#[macro_export]
macro_rules! new_srcu {
    ($($name:literal)?) => {
        $crate::sync::Srcu::new($crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_srcu;

/// A sleepable RCU domain: readers may sleep inside their critical sections.
///
/// Mirrors `kernel::sync::Srcu`. Dropping it waits for active readers; if a reader's [`Guard`]
/// was leaked, dropping never returns, as in the kernel.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::srcu::new_srcu;
///
/// let srcu = KBox::pin_init(new_srcu!(), GFP_KERNEL)?;
/// let guard = srcu.read_lock();
/// // Readers may sleep.
/// std::thread::sleep(std::time::Duration::from_millis(1));
/// guard.unlock();
/// srcu.synchronize();
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `inner` holds a valid domain from initialisation until the pinned destructor runs.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub struct Srcu {
    #[pin]
    inner: Opaque<GracePeriods>,
}

impl Srcu {
    /// Returns an initialiser of a new domain.
    ///
    /// `name` and `key` identify it for lockdep in the kernel; drydock ignores them. It cannot fail
    /// here (the kernel's allocates).
    #[inline]
    pub fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self, Error> {
        let _ = (name, key);
        // INVARIANT: The domain is initialised.
        try_pin_init!(Self {
            inner <- Opaque::try_ffi_init(|ptr: *mut GracePeriods| {
                // SAFETY: `ptr` is valid for writes.
                unsafe { ptr.write(GracePeriods::new()) };
                Ok::<(), Error>(())
            }),
        })
    }

    /// Returns the domain.
    fn domain(&self) -> &GracePeriods {
        // SAFETY: By the type invariant the domain is valid while `self` is.
        unsafe { &*self.inner.get() }
    }

    /// Enters a read-side critical section, which lasts until the guard is dropped.
    ///
    /// Leaking the guard leaves the section active, and dropping the `Srcu` then never returns.
    #[inline]
    pub fn read_lock(&self) -> Guard<'_> {
        // INVARIANT: `idx` is the phase the section was entered with.
        Guard {
            srcu: self,
            idx: self.domain().read_lock(),
            _not_send: NotThreadSafe,
        }
    }

    /// Waits until every read-side critical section of this domain that had begun has ended.
    #[inline]
    pub fn synchronize(&self) {
        self.domain().synchronize();
    }

    /// As [`Srcu::synchronize`], with lower latency in the kernel; the same here.
    #[inline]
    pub fn synchronize_expedited(&self) {
        self.domain().synchronize();
    }
}

#[pinned_drop]
impl PinnedDrop for Srcu {
    fn drop(self: Pin<&mut Self>) {
        let domain = self.domain();
        if domain.readers_active() {
            crate::pr_warn!("WARNING: Srcu dropped with active readers; waiting for them\n");
            domain.synchronize();
        }
        // SAFETY: The domain is valid (type invariant), nobody uses it any more (no readers, and
        // `self` is being dropped), and it is dropped only here.
        unsafe { core::ptr::drop_in_place(self.inner.get()) };
    }
}

// SAFETY: The domain is made of atomics and a mutex, usable from any thread.
unsafe impl Send for Srcu {}

// SAFETY: The domain is made of atomics and a mutex, usable from any thread.
unsafe impl Sync for Srcu {}

/// An active read-side critical section of an [`Srcu`]; ends when dropped.
///
/// Mirrors `kernel::sync::srcu::Guard`.
///
/// # Invariants
///
/// `idx` is the phase returned when the section of `srcu` was entered.
#[must_use = "if unused, the lock will be immediately unlocked"]
pub struct Guard<'a> {
    srcu: &'a Srcu,
    idx: usize,
    _not_send: NotThreadSafe,
}

impl Guard<'_> {
    /// Ends the read-side critical section (the same as dropping the guard).
    #[inline]
    pub fn unlock(self) {}
}

impl Drop for Guard<'_> {
    #[inline]
    fn drop(&mut self) {
        self.srcu.domain().read_unlock(self.idx);
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use crate::sync::Arc;
    use core::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn synchronize_waits_for_a_sleeping_reader_of_the_same_domain_only() {
        let a = Arc::pin_init(new_srcu!("a"), GFP_KERNEL).unwrap();
        let b = Arc::pin_init(new_srcu!("b"), GFP_KERNEL).unwrap();
        let entered = std::sync::Arc::new(AtomicBool::new(false));
        let left = std::sync::Arc::new(AtomicBool::new(false));
        let reader = {
            let (a, entered, left) = (a.clone(), entered.clone(), left.clone());
            std::thread::spawn(move || {
                let guard = a.read_lock();
                entered.store(true, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(50));
                left.store(true, Ordering::SeqCst);
                drop(guard);
            })
        };
        while !entered.load(Ordering::SeqCst) {
            std::thread::yield_now();
        }
        // Another domain's grace period does not wait for `a`'s reader.
        b.synchronize_expedited();
        a.synchronize();
        assert!(left.load(Ordering::SeqCst));
        reader.join().unwrap();
    }
}
