//! The kernel's C locking and waiting objects, done in a process.
//!
//! The mirror's [`sync`](crate::sync) types wrap these exactly as the kernel's wrap `struct mutex`,
//! `spinlock_t`, `struct wait_queue_head` and `struct completion`:
//!
//! - [`RawMutex`]: a sleeping lock. Contended lockers sleep in the kernel through `futex(2)`;
//! - [`RawSpinLock`]: a busy-waiting lock. Lockers spin on the word; since the holder can be
//!   preempted here (the kernel disables preemption instead), a locker that has spun for a while
//!   yields its time slice before spinning again, so the holder can run;
//! - [`WaitQueue`]: what a condition variable sleeps on: a wake-up counter that sleepers watch;
//! - [`CompletionState`]: a "done" flag with sleepers.
//!
//! All of them are plain words, valid when zeroed, so they can be set up in place by the mirror's
//! pinned initialisers and also live in `static`s.

use super::futex;
use core::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// `struct mutex`: a lock whose contended lockers sleep.
///
/// The word is `0` when unlocked, `1` when locked and `2` when locked with sleepers possibly
/// waiting, so an uncontended unlock needs no system call.
pub struct RawMutex {
    state: AtomicU32,
}

impl RawMutex {
    /// Unlocked.
    const UNLOCKED: u32 = 0;
    /// Locked, nobody sleeping.
    const LOCKED: u32 = 1;
    /// Locked, and some locker may be sleeping.
    const CONTENDED: u32 = 2;

    /// Returns an unlocked mutex (the all-zeroes value).
    pub const fn new() -> Self {
        Self {
            state: AtomicU32::new(Self::UNLOCKED),
        }
    }

    /// Acquires the mutex, sleeping while another thread holds it.
    pub fn lock(&self) {
        if self.try_lock() {
            return;
        }
        // Announce a sleeper by setting `CONTENDED`; whoever unlocks will then wake one.
        while self.state.swap(Self::CONTENDED, Ordering::Acquire) != Self::UNLOCKED {
            futex::wait(&self.state, Self::CONTENDED, None);
        }
    }

    /// Acquires the mutex if it is free; returns whether it did.
    pub fn try_lock(&self) -> bool {
        self.state
            .compare_exchange(
                Self::UNLOCKED,
                Self::LOCKED,
                Ordering::Acquire,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Releases the mutex and wakes a sleeping locker, if any.
    pub fn unlock(&self) {
        if self.state.swap(Self::UNLOCKED, Ordering::Release) == Self::CONTENDED {
            futex::wake(&self.state, 1);
        }
    }

    /// Returns whether some thread holds the mutex.
    pub fn is_locked(&self) -> bool {
        self.state.load(Ordering::Relaxed) != Self::UNLOCKED
    }
}

impl Default for RawMutex {
    fn default() -> Self {
        Self::new()
    }
}

/// `spinlock_t`: a lock whose contended lockers busy-wait.
pub struct RawSpinLock {
    locked: AtomicU32,
}

impl RawSpinLock {
    /// Spins on a held lock before yielding the processor to let its holder run.
    const SPINS_BEFORE_YIELD: u32 = 128;

    /// Returns an unlocked spin lock (the all-zeroes value).
    pub const fn new() -> Self {
        Self {
            locked: AtomicU32::new(0),
        }
    }

    /// Acquires the lock, spinning while another thread holds it.
    pub fn lock(&self) {
        let mut spins = 0;
        while !self.try_lock() {
            // Spin on a plain load so the cache line stays shared until the holder releases it.
            while self.is_locked() {
                if spins < Self::SPINS_BEFORE_YIELD {
                    spins += 1;
                    core::hint::spin_loop();
                } else {
                    spins = 0;
                    std::thread::yield_now();
                }
            }
        }
    }

    /// Acquires the lock if it is free; returns whether it did.
    pub fn try_lock(&self) -> bool {
        self.locked
            .compare_exchange(0, 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Releases the lock.
    pub fn unlock(&self) {
        self.locked.store(0, Ordering::Release);
    }

    /// Returns whether some thread holds the lock.
    pub fn is_locked(&self) -> bool {
        self.locked.load(Ordering::Relaxed) != 0
    }
}

impl Default for RawSpinLock {
    fn default() -> Self {
        Self::new()
    }
}

/// `struct wait_queue_head`: sleepers waiting for a notification.
///
/// The word counts notifications. A sleeper reads it with [`WaitQueue::prepare`] *before* it
/// releases the lock protecting its condition, then sleeps with [`WaitQueue::sleep`] only while
/// the count is unchanged, so a notification sent in between is never lost.
pub struct WaitQueue {
    notifications: AtomicU32,
}

impl WaitQueue {
    /// Returns an empty wait queue (the all-zeroes value).
    pub const fn new() -> Self {
        Self {
            notifications: AtomicU32::new(0),
        }
    }

    /// Returns the ticket a later [`WaitQueue::sleep`] waits on.
    pub fn prepare(&self) -> u32 {
        self.notifications.load(Ordering::Acquire)
    }

    /// Sleeps until a notification newer than `ticket`, a spurious wake-up, or the end of
    /// `timeout` (never if `None`). Returns `false` if it returned because the timeout elapsed.
    pub fn sleep(&self, ticket: u32, timeout: Option<Duration>) -> bool {
        futex::wait(&self.notifications, ticket, timeout)
    }

    /// Wakes up to `count` sleepers (`i32::MAX` for all of them).
    pub fn wake(&self, count: i32) {
        self.notifications.fetch_add(1, Ordering::Release);
        futex::wake(&self.notifications, count);
    }
}

impl Default for WaitQueue {
    fn default() -> Self {
        Self::new()
    }
}

/// `struct completion`, for completions that are only ever completed for all waiters.
pub struct CompletionState {
    done: AtomicU32,
}

impl CompletionState {
    /// Returns a completion that has not completed (the all-zeroes value).
    pub const fn new() -> Self {
        Self {
            done: AtomicU32::new(0),
        }
    }

    /// Marks the completion done and wakes every waiter, present and future.
    pub fn complete_all(&self) {
        self.done.store(1, Ordering::Release);
        futex::wake(&self.done, i32::MAX);
    }

    /// Sleeps until the completion is done.
    pub fn wait(&self) {
        while self.done.load(Ordering::Acquire) == 0 {
            futex::wait(&self.done, 0, None);
        }
    }
}

impl Default for CompletionState {
    fn default() -> Self {
        Self::new()
    }
}
