//! Read-copy-update: read-side critical sections and grace periods.
//!
//! Mirrors `rust/kernel/sync/rcu.rs` of Linux 7.3. A read-side critical section lasts as long as
//! a [`Guard`]; [`synchronize_rcu`] waits until every critical section that had begun when it was
//! called has ended. Readers never block. In drydock the mechanism is the one described in
//! [`drydock_host::rcu`] (the [`RCU`](drydock_host::rcu::RCU) domain): readers count themselves in
//! one of two counters, and a grace period switches new readers to the other counter and waits for
//! the first to drain. A reader may be
//! preempted or sleep inside its critical section here (in the kernel it may not), which only
//! lengthens grace periods.

use crate::types::NotThreadSafe;

/// Proof that the current thread is in an RCU read-side critical section, which ends when the
/// guard is dropped.
///
/// Mirrors `kernel::sync::rcu::Guard`. Not `Send`: the critical section belongs to the thread.
///
/// Difference from the kernel: the guard also remembers which of the two reader counters it
/// counts in (the kernel's guard is empty).
///
/// # Invariants
///
/// The thread is in a read-side critical section, entered with the phase `phase`, while the guard
/// exists.
pub struct Guard {
    phase: usize,
    _not_send: NotThreadSafe,
}

impl Guard {
    /// Enters a read-side critical section and returns its guard.
    #[inline]
    pub fn new() -> Self {
        // INVARIANT: The section was just entered with the returned phase.
        Self {
            phase: drydock_host::rcu::RCU.read_lock(),
            _not_send: NotThreadSafe,
        }
    }

    /// Leaves the read-side critical section (the same as dropping the guard).
    #[inline]
    pub fn unlock(self) {}
}

impl Default for Guard {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Guard {
    #[inline]
    fn drop(&mut self) {
        drydock_host::rcu::RCU.read_unlock(self.phase);
    }
}

/// Enters a read-side critical section (the kernel's `rcu_read_lock()`).
#[inline]
pub fn read_lock() -> Guard {
    Guard::new()
}

/// Waits until every callback queued with `call_rcu()` has run (the kernel's `rcu_barrier()`).
///
/// drydock has no `call_rcu()`, so nothing can be pending and this returns at once, which the
/// kernel's definition allows.
#[inline]
pub fn rcu_barrier() {}

/// Waits for a grace period: until every read-side critical section in progress when it was
/// called has ended (the kernel's `synchronize_rcu()`).
///
/// New critical sections may begin meanwhile; they are not waited for. Calling it inside a
/// read-side critical section deadlocks, as in the kernel.
#[inline]
pub fn synchronize_rcu() {
    drydock_host::rcu::RCU.synchronize();
}
