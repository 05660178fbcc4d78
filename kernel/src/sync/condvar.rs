//! A condition variable: [`CondVar`].
//!
//! Mirrors `rust/kernel/sync/condvar.rs` of Linux 7.3. In the kernel a condition variable is a
//! `struct wait_queue_head`; a waiter queues itself, releases the lock, sleeps and relocks. In
//! drydock it is a [`WaitQueue`]: a notification counter that waiters read before releasing the
//! lock and sleep on with `futex(2)` while it is unchanged, so no notification sent after the
//! waiter released the lock is missed. Waits may end spuriously, as in the kernel: callers re-check
//! their condition in a loop.
//!
//! A process has no signals in the kernel's sense, so the interruptible waits are never
//! interrupted and report no pending signal.

use super::{lock::Backend, lock::Guard, LockClassKey};
use crate::{
    ffi::c_long,
    str::CStr,
    time::{Instant, Jiffies, Monotonic},
    types::Opaque,
};
use core::{marker::PhantomPinned, pin::Pin};
use drydock_host::sync::WaitQueue;
use pin_init::{pin_data, pin_init, PinInit};

/// `MAX_SCHEDULE_TIMEOUT`: wait without a timeout.
const MAX_SCHEDULE_TIMEOUT: c_long = c_long::MAX;

/// Creates a [`CondVar`] initialiser with the given name (or one made of the source location)
/// and a new lock class.
///
/// Mirrors the kernel's `new_condvar!`.
#[macro_export]
macro_rules! new_condvar {
    ($($name:literal)?) => {
        $crate::sync::CondVar::new($crate::optional_name!($($name)?), $crate::static_lock_class!())
    };
}
pub use new_condvar;

/// A condition variable: threads wait on it, releasing a lock, until notified.
///
/// Mirrors `kernel::sync::CondVar`. A wait atomically releases the lock its guard holds and
/// sleeps, then reacquires the lock before returning. It returns when notified with
/// [`CondVar::notify_one`], [`CondVar::notify_all`] or [`CondVar::notify_sync`], or spuriously.
///
/// Difference from the kernel: the waiters sleep on a [`WaitQueue`], a notification counter
/// watched with `futex(2)`, instead of a `struct wait_queue_head`. A process has no signals in the
/// kernel's sense, so the interruptible waits are never interrupted and report no pending signal.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{new_condvar, new_mutex, Arc, CondVar, Mutex};
///
/// #[pin_data]
/// struct Example {
///     #[pin]
///     value: Mutex<u32>,
///     #[pin]
///     value_changed: CondVar,
/// }
///
/// let e = Arc::pin_init(
///     pin_init!(Example { value <- new_mutex!(0), value_changed <- new_condvar!() }),
///     GFP_KERNEL,
/// )?;
/// let other = e.clone();
/// let t = std::thread::spawn(move || {
///     *other.value.lock() = 7;
///     other.value_changed.notify_all();
/// });
/// let mut guard = e.value.lock();
/// while *guard != 7 {
///     e.value_changed.wait(&mut guard);
/// }
/// drop(guard);
/// t.join().unwrap();
/// # Ok::<(), Error>(())
/// ```
#[pin_data]
pub struct CondVar {
    /// The waiters (the kernel's `struct wait_queue_head`).
    #[pin]
    pub(crate) wait_queue_head: Opaque<WaitQueue>,

    /// The kernel's wait queue refers to itself, so it must not move.
    #[pin]
    _pin: PhantomPinned,
}

// SAFETY: The wait queue is used only through its atomic operations.
unsafe impl Send for CondVar {}

// SAFETY: The wait queue is used only through its atomic operations.
unsafe impl Sync for CondVar {}

impl CondVar {
    /// Returns an initialiser of a condition variable.
    ///
    /// `name` and `key` identify it for lockdep in the kernel; drydock ignores them.
    pub fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self> {
        let _ = (name, key);
        pin_init!(Self {
            _pin: PhantomPinned,
            // SAFETY: `slot` is valid for writes.
            wait_queue_head <- Opaque::ffi_init(|slot: *mut WaitQueue| unsafe { slot.write(WaitQueue::new()) }),
        })
    }

    /// Returns the wait queue.
    fn queue(&self) -> &WaitQueue {
        // SAFETY: The wait queue was initialised by `new` and is only used through `&`.
        unsafe { &*self.wait_queue_head.get() }
    }

    /// Releases the lock of `guard`, sleeps until notified or for at most `timeout_in_jiffies`
    /// (forever if it is `MAX_SCHEDULE_TIMEOUT`), and reacquires the lock. Returns the jiffies
    /// left of the timeout, `0` if it elapsed (as the kernel's `schedule_timeout()`).
    fn wait_internal<T: ?Sized, B: Backend>(
        &self,
        guard: &mut Guard<'_, T, B>,
        timeout_in_jiffies: c_long,
    ) -> c_long {
        let queue = self.queue();
        // Read the ticket with the lock held: a notification after the unlock changes it.
        let ticket = queue.prepare();
        if timeout_in_jiffies == MAX_SCHEDULE_TIMEOUT {
            guard.do_unlocked(|| queue.sleep(ticket, None));
            return MAX_SCHEDULE_TIMEOUT;
        }
        let deadline =
            Instant::<Monotonic>::now() + crate::time::jiffies_to_delta(timeout_in_jiffies);
        let woken = guard.do_unlocked(|| {
            let left = deadline - Instant::<Monotonic>::now();
            !left.is_negative() && queue.sleep(ticket, Some(crate::time::delta_to_duration(left)))
        });
        let left = deadline - Instant::<Monotonic>::now();
        match (woken, crate::time::delta_to_jiffies(left)) {
            (true, jiffies) => jiffies,
            (false, _) => 0,
        }
    }

    /// Releases the lock and waits for a notification, uninterruptibly.
    ///
    /// The lock is reacquired before returning. The wait may end spuriously.
    pub fn wait<T: ?Sized, B: Backend>(&self, guard: &mut Guard<'_, T, B>) {
        self.wait_internal(guard, MAX_SCHEDULE_TIMEOUT);
    }

    /// Releases the lock and waits for a notification or a signal.
    ///
    /// Returns whether a signal is pending; drydock has no signals, so this is always `false`.
    #[must_use = "wait_interruptible returns if a signal is pending, so the caller must check the return value"]
    pub fn wait_interruptible<T: ?Sized, B: Backend>(&self, guard: &mut Guard<'_, T, B>) -> bool {
        self.wait_internal(guard, MAX_SCHEDULE_TIMEOUT);
        false
    }

    /// Releases the lock and waits for a notification or a signal, allowing the task to be
    /// frozen meanwhile.
    ///
    /// Returns whether a signal is pending; always `false` in drydock, which has neither signals
    /// nor freezing.
    #[must_use = "wait_interruptible_freezable returns if a signal is pending, so the caller must check the return value"]
    pub fn wait_interruptible_freezable<T: ?Sized, B: Backend>(
        &self,
        guard: &mut Guard<'_, T, B>,
    ) -> bool {
        self.wait_internal(guard, MAX_SCHEDULE_TIMEOUT);
        false
    }

    /// Releases the lock and waits for a notification, a signal or the end of `jiffies`.
    ///
    /// Returns [`CondVarTimeoutResult::Timeout`] if the time ran out, and otherwise
    /// [`CondVarTimeoutResult::Woken`] with the jiffies left (drydock has no signals, so never
    /// [`CondVarTimeoutResult::Signal`]). A timeout too large for the kernel's `long` means no
    /// timeout, as in the kernel.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// use kernel::sync::{new_condvar, new_mutex, CondVar, CondVarTimeoutResult, Mutex};
    /// use kernel::time::msecs_to_jiffies;
    /// use pin_init::stack_pin_init;
    ///
    /// stack_pin_init!(let lock = new_mutex!(()));
    /// stack_pin_init!(let cv = new_condvar!());
    /// let mut guard = lock.lock();
    /// // Nobody notifies: the wait times out (or ends spuriously, so loop until it does).
    /// while !matches!(
    ///     cv.wait_interruptible_timeout(&mut guard, msecs_to_jiffies(10)),
    ///     CondVarTimeoutResult::Timeout
    /// ) {}
    /// ```
    #[must_use = "wait_interruptible_timeout returns if a signal is pending, so the caller must check the return value"]
    pub fn wait_interruptible_timeout<T: ?Sized, B: Backend>(
        &self,
        guard: &mut Guard<'_, T, B>,
        jiffies: Jiffies,
    ) -> CondVarTimeoutResult {
        let jiffies = jiffies.try_into().unwrap_or(MAX_SCHEDULE_TIMEOUT);
        match self.wait_internal(guard, jiffies) {
            0 => CondVarTimeoutResult::Timeout,
            // CAST: a non-negative `c_long` fits in the unsigned `Jiffies`.
            left => CondVarTimeoutResult::Woken {
                jiffies: left as Jiffies,
            },
        }
    }

    /// Wakes one waiter, hinting that the caller is about to sleep (the kernel's
    /// `wake_up_sync()`). In drydock the same as [`CondVar::notify_one`].
    #[inline]
    pub fn notify_sync(&self) {
        self.queue().wake(1);
    }

    /// Wakes one waiter, if any.
    ///
    /// A notification is not remembered: if nobody waits, it is lost.
    #[inline]
    pub fn notify_one(&self) {
        self.queue().wake(1);
    }

    /// Wakes every waiter, if any.
    ///
    /// A notification is not remembered: if nobody waits, it is lost.
    #[inline]
    pub fn notify_all(&self) {
        self.queue().wake(i32::MAX);
    }
}

/// The outcome of [`CondVar::wait_interruptible_timeout`].
///
/// Mirrors `kernel::sync::CondVarTimeoutResult`.
#[derive(Debug)]
pub enum CondVarTimeoutResult {
    /// The timeout elapsed.
    Timeout,
    /// The waiter was woken.
    Woken {
        /// The jiffies left of the timeout.
        jiffies: Jiffies,
    },
    /// A signal is pending (never, in drydock).
    Signal {
        /// The jiffies left of the timeout.
        jiffies: Jiffies,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::sync::{new_mutex, Arc, Mutex};
    use crate::time::{msecs_to_jiffies, Delta};

    #[pin_data]
    struct Mailbox {
        #[pin]
        value: Mutex<u32>,
        #[pin]
        changed: CondVar,
    }

    fn mailbox() -> Arc<Mailbox> {
        Arc::pin_init(
            pin_init!(Mailbox { value <- new_mutex!(0), changed <- new_condvar!("mailbox") }),
            GFP_KERNEL,
        )
        .unwrap()
    }

    #[test]
    fn notify_all_wakes_every_waiter() {
        let mb = mailbox();
        let waiters: std::vec::Vec<_> = (0..3)
            .map(|_| {
                let mb = mb.clone();
                std::thread::spawn(move || {
                    let mut guard = mb.value.lock();
                    while *guard == 0 {
                        mb.changed.wait(&mut guard);
                    }
                    *guard
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        *mb.value.lock() = 9;
        mb.changed.notify_all();
        for w in waiters {
            assert_eq!(w.join().unwrap(), 9);
        }
    }

    #[test]
    fn ping_pong_with_notify_one_and_notify_sync() {
        let mb = mailbox();
        let other = mb.clone();
        let ponger = std::thread::spawn(move || {
            let mut guard = other.value.lock();
            for round in 0..50 {
                while *guard != 2 * round + 1 {
                    other.changed.wait(&mut guard);
                }
                *guard += 1;
                other.changed.notify_sync();
            }
        });
        let mut guard = mb.value.lock();
        for round in 0..50 {
            *guard = 2 * round + 1;
            mb.changed.notify_one();
            while *guard != 2 * round + 2 {
                assert!(!mb.changed.wait_interruptible(&mut guard));
            }
        }
        drop(guard);
        ponger.join().unwrap();
    }

    #[test]
    fn timed_wait_times_out_after_at_least_the_timeout() {
        let mb = mailbox();
        let mut guard = mb.value.lock();
        let start = crate::time::Instant::<crate::time::Monotonic>::now();
        // A wait may end spuriously; count only the time until it reports a timeout.
        loop {
            match mb
                .changed
                .wait_interruptible_timeout(&mut guard, msecs_to_jiffies(20))
            {
                CondVarTimeoutResult::Timeout => break,
                CondVarTimeoutResult::Woken { .. } => continue,
                CondVarTimeoutResult::Signal { .. } => panic!("drydock has no signals"),
            }
        }
        assert!(start.elapsed() >= Delta::from_millis(20));
        // The lock is held again after the wait.
        assert!(mb.value.try_lock().is_none());
    }

    #[test]
    fn timed_wait_woken_reports_the_time_left() {
        let mb = mailbox();
        let other = mb.clone();
        let mut guard = mb.value.lock();
        let notifier = std::thread::spawn(move || {
            *other.value.lock() = 1;
            other.changed.notify_one();
        });
        let ten_seconds = msecs_to_jiffies(10_000);
        while *guard == 0 {
            match mb
                .changed
                .wait_interruptible_timeout(&mut guard, ten_seconds)
            {
                CondVarTimeoutResult::Woken { jiffies } => assert!(jiffies <= ten_seconds),
                other => panic!("unexpected {other:?}"),
            }
        }
        drop(guard);
        notifier.join().unwrap();
    }
}
