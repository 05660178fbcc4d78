//! Counting the driver callbacks running on an object that can be removed under them.
//!
//! A file a driver serves (a debugfs file, a misc device) is removed while other threads may be
//! calling the driver's operations on it. The kernel counts those calls (debugfs's
//! `debugfs_file_get()`/`debugfs_file_put()`; for a misc device, the module reference an open file
//! holds), so that the data the operations use may be freed once the removal returned. An
//! [`ActiveUsers`] does the same: each call holds an [`ActiveUse`] from [`ActiveUsers::get`],
//! which fails once removal began, and [`ActiveUsers::remove`] waits until none is held.
//!
//! A panicking callback is caught by [`guarded`], so that the thread serving the request goes on.

use core::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::errno::Errno;

/// How many callbacks run, and whether the object was removed.
#[derive(Default)]
struct Users {
    active: usize,
    removed: bool,
}

/// The callbacks running on an object, and whether it was removed.
#[derive(Default)]
pub(crate) struct ActiveUsers {
    users: Mutex<Users>,
    drained: Condvar,
}

impl ActiveUsers {
    fn users(&self) -> MutexGuard<'_, Users> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a callback about to run; `None` once the object is being removed.
    pub(crate) fn get(&self) -> Option<ActiveUse<'_>> {
        let mut users = self.users();
        if users.removed {
            return None;
        }
        users.active += 1;
        Some(ActiveUse(self))
    }

    /// Marks the object removed and waits until no callback runs on it. Must not be called from a
    /// callback counted here, which it would wait for forever.
    pub(crate) fn remove(&self) {
        let mut users = self.users();
        users.removed = true;
        while users.active > 0 {
            users = self
                .drained
                .wait(users)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// A callback running on an object, counted until dropped.
pub(crate) struct ActiveUse<'a>(&'a ActiveUsers);

impl Drop for ActiveUse<'_> {
    fn drop(&mut self) {
        let mut users = self.0.users();
        users.active -= 1;
        if users.active == 0 {
            self.0.drained.notify_all();
        }
    }
}

/// Runs a driver's callback for a request: a panic (an oops, in the kernel) is logged with
/// `what` (`"debugfs: a read"`) and answered with `EIO`, so the serving thread goes on.
pub(crate) fn guarded<R>(
    what: impl fmt::Display,
    f: impl FnOnce() -> Result<R, Errno>,
) -> Result<R, Errno> {
    catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        log::error!(target: "drydock", "{what}: the driver's callback panicked");
        Err(Errno::EIO)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[test]
    fn removal_waits_for_running_callbacks_and_refuses_new_ones() {
        let users = ActiveUsers::default();
        let finished = AtomicBool::new(false);
        std::thread::scope(|s| {
            let running = users.get().expect("not removed yet");
            let remover = s.spawn(|| {
                users.remove();
                // The callback's end was recorded before it stopped counting.
                assert!(finished.load(Ordering::SeqCst));
            });
            std::thread::sleep(Duration::from_millis(50));
            assert!(
                !remover.is_finished(),
                "removal waits for the running callback"
            );
            finished.store(true, Ordering::SeqCst);
            drop(running);
            remover.join().unwrap();
        });
        assert!(users.get().is_none());
    }

    #[test]
    fn a_panicking_callback_fails_with_eio() {
        assert_eq!(
            guarded("test", || -> Result<(), Errno> { panic!("oops") }),
            Err(Errno::EIO)
        );
        assert_eq!(guarded("test", || Ok(7)), Ok(7));
    }
}
