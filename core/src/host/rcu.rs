//! Read-copy-update in a process: read-side critical sections and grace periods.
//!
//! The kernel's RCU lets readers run without ever blocking and makes an updater wait, in
//! `synchronize_rcu()`, until every reader that was running when it started has finished. This
//! module provides the same guarantee with two reader counters and a phase:
//!
//! - a reader increments the counter of the current phase, then checks that the phase did not
//!   change meanwhile (if it did, it backs out and retries on the new phase). Its critical section
//!   ends when it decrements that same counter. Readers never block, and read sections nest;
//! - [`synchronize`] (serialised by a mutex) flips the phase, so that new readers count on the
//!   other counter, then waits until the counter of the old phase drops to zero.
//!
//! All operations on the phase and counters are sequentially consistent. A reader that entered
//! checked the phase *after* its increment; if that check came before the flip, the increment
//! precedes the flip and the updater sees it; if after, the reader saw the new phase and backed
//! out. So every reader that entered before the flip is waited for, and readers that enter after
//! it do not delay the updater. Waiting for the old counter sleeps in short steps (grace periods
//! are the slow path, as in the kernel).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::Mutex;
use std::time::Duration;

/// The current phase, `0` or `1`.
static PHASE: AtomicUsize = AtomicUsize::new(0);

/// The number of readers inside a read-side critical section, per phase.
static READERS: [AtomicU32; 2] = [AtomicU32::new(0), AtomicU32::new(0)];

/// Serialises grace periods.
static GRACE_PERIOD: Mutex<()> = Mutex::new(());

/// Enters a read-side critical section; returns the phase to pass to [`read_unlock`].
pub fn read_lock() -> usize {
    loop {
        let phase = PHASE.load(SeqCst);
        READERS[phase].fetch_add(1, SeqCst);
        if PHASE.load(SeqCst) == phase {
            return phase;
        }
        READERS[phase].fetch_sub(1, SeqCst);
    }
}

/// Leaves the read-side critical section entered by the [`read_lock`] that returned `phase`.
pub fn read_unlock(phase: usize) {
    READERS[phase].fetch_sub(1, SeqCst);
}

/// Waits until every read-side critical section entered before the call has been left.
///
/// Must not be called inside a read-side critical section of the calling thread: that one would
/// be waited for too, forever (in the kernel it is a bug as well).
pub fn synchronize() {
    let _serialised = GRACE_PERIOD.lock().unwrap_or_else(|e| e.into_inner());
    let old = PHASE.load(SeqCst);
    PHASE.store(1 - old, SeqCst);
    let mut pause = Duration::from_micros(1);
    while READERS[old].load(SeqCst) != 0 {
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicBool;
    use std::sync::Arc;

    #[test]
    fn synchronize_waits_for_a_reader_that_entered_before() {
        let entered = Arc::new(AtomicBool::new(false));
        let left = Arc::new(AtomicBool::new(false));
        let reader = {
            let (entered, left) = (entered.clone(), left.clone());
            std::thread::spawn(move || {
                let phase = read_lock();
                entered.store(true, SeqCst);
                std::thread::sleep(Duration::from_millis(50));
                left.store(true, SeqCst);
                read_unlock(phase);
            })
        };
        while !entered.load(SeqCst) {
            std::thread::yield_now();
        }
        synchronize();
        assert!(
            left.load(SeqCst),
            "the grace period ended while a reader was inside"
        );
        reader.join().unwrap();
    }

    #[test]
    fn read_sections_nest_and_synchronize_returns_without_readers() {
        let outer = read_lock();
        let inner = read_lock();
        read_unlock(inner);
        read_unlock(outer);
        synchronize();
    }
}
