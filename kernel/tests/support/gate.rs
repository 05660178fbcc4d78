//! A gate a callback waits at until the test opens it, for tests of removal waiting for running
//! callbacks (`#[path = "support/gate.rs"] mod gate;`).

use std::sync::{Condvar, Mutex};

/// Two flags and their waiters: `(entered, released)` by convention, the callback setting the
/// first and waiting for the second.
#[derive(Default)]
pub struct Gate {
    state: Mutex<(bool, bool)>,
    changed: Condvar,
}

impl Gate {
    /// Changes the flags with `update` and wakes the waiters.
    pub fn set(&self, update: impl FnOnce(&mut (bool, bool))) {
        update(&mut self.state.lock().unwrap());
        self.changed.notify_all();
    }

    /// Waits until the flags satisfy `until`.
    pub fn wait(&self, until: impl Fn(&(bool, bool)) -> bool) {
        let state = self.state.lock().unwrap();
        drop(self.changed.wait_while(state, |s| !until(s)).unwrap());
    }
}
