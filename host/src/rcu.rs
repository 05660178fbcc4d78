//! Read-copy-update in a process: read-side critical sections and grace periods.
//!
//! The kernel's RCU lets readers run without ever blocking and makes an updater wait, in
//! `synchronize_rcu()`, until every reader that was running when it started has finished. A
//! [`GracePeriods`] domain provides the same guarantee with two reader counters and a phase:
//!
//! - a reader increments the counter of the current phase, then checks that the phase did not
//!   change meanwhile (if it did, it backs out and retries on the new phase). Its critical section
//!   ends when it decrements that same counter. Readers never block, and read sections nest;
//! - [`GracePeriods::synchronize`] (serialised per domain) flips the phase, so that new readers
//!   count on the other counter, then waits until the counter of the old phase drops to zero.
//!
//! All operations on the phase and counters are sequentially consistent. A reader that entered
//! checked the phase *after* its increment; if that check came before the flip, the increment
//! precedes the flip and the updater sees it; if after, the reader saw the new phase and backed
//! out. So every reader that entered before the flip is waited for, and readers that enter after
//! it do not delay the updater. Waiting for the old counter sleeps in short steps (grace periods
//! are the slow path, as in the kernel).
//!
//! [`RCU`] is the domain of the kernel's global RCU (`rcu_read_lock()`, `synchronize_rcu()`); each
//! `Srcu` of the mirror is a domain of its own (`struct srcu_struct`).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

/// An RCU domain: its readers and its grace periods.
pub struct GracePeriods {
    /// The current phase, `0` or `1`.
    phase: AtomicUsize,
    /// The number of readers inside a read-side critical section, per phase.
    readers: [AtomicU32; 2],
    /// Serialises grace periods.
    grace_period: Mutex<()>,
}

/// The domain of the kernel's global RCU.
pub static RCU: GracePeriods = GracePeriods::new();

impl GracePeriods {
    /// Returns a domain without readers.
    pub const fn new() -> Self {
        Self {
            phase: AtomicUsize::new(0),
            readers: [AtomicU32::new(0), AtomicU32::new(0)],
            grace_period: Mutex::new(()),
        }
    }

    /// Enters a read-side critical section; returns the phase to pass to
    /// [`GracePeriods::read_unlock`].
    pub fn read_lock(&self) -> usize {
        loop {
            let phase = self.phase.load(SeqCst);
            self.readers[phase].fetch_add(1, SeqCst);
            if self.phase.load(SeqCst) == phase {
                return phase;
            }
            self.readers[phase].fetch_sub(1, SeqCst);
        }
    }

    /// Leaves the read-side critical section entered by the [`GracePeriods::read_lock`] that
    /// returned `phase`.
    pub fn read_unlock(&self, phase: usize) {
        self.readers[phase].fetch_sub(1, SeqCst);
    }

    /// Returns whether some thread is inside a read-side critical section of the domain.
    pub fn readers_active(&self) -> bool {
        self.readers.iter().any(|r| r.load(SeqCst) != 0)
    }

    /// Waits until every read-side critical section entered before the call has been left.
    ///
    /// Must not be called inside a read-side critical section of the same domain on the calling
    /// thread: that one would be waited for too, forever (in the kernel it is a bug as well).
    pub fn synchronize(&self) {
        let _serialised = self.grace_period.lock().unwrap_or_else(|e| e.into_inner());
        let old = self.phase.load(SeqCst);
        self.phase.store(1 - old, SeqCst);
        let mut pause = Duration::from_micros(1);
        while self.readers[old].load(SeqCst) != 0 {
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(1));
        }
    }
}

impl Default for GracePeriods {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn synchronize_waits_for_a_reader_that_entered_before() {
        let domain = Arc::new(GracePeriods::new());
        let entered = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicBool::new(false));
        let reader = {
            let (domain, entered, left) = (domain.clone(), entered.clone(), left.clone());
            std::thread::spawn(move || {
                let phase = domain.read_lock();
                entered.store(true, SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                left.store(true, SeqCst);
                domain.read_unlock(phase);
            })
        };
        while !entered.load(SeqCst) {
            std::thread::yield_now();
        }
        assert!(domain.readers_active());
        domain.synchronize();
        assert!(
            left.load(SeqCst),
            "the grace period ended while a reader was inside"
        );
        assert!(!domain.readers_active());
        reader.join().unwrap();
    }

    #[test]
    fn read_sections_nest_and_synchronize_returns_without_readers() {
        let domain = GracePeriods::new();
        let outer = domain.read_lock();
        let inner = domain.read_lock();
        domain.read_unlock(inner);
        domain.read_unlock(outer);
        domain.synchronize();
        domain.synchronize();
    }

    #[test]
    fn readers_entering_after_the_flip_do_not_delay_the_grace_period() {
        let domain = GracePeriods::new();
        let before = domain.read_lock();
        std::thread::scope(|s| {
            let updater = s.spawn(|| domain.synchronize());
            // Wait for the flip, then enter a reader on the new phase and keep it.
            while domain.phase.load(SeqCst) == before {
                std::thread::yield_now();
            }
            let after = domain.read_lock();
            domain.read_unlock(before);
            updater.join().unwrap();
            domain.read_unlock(after);
        });
    }
}
