//! Completions: waiting for an event that happens once.
//!
//! Mirrors `rust/kernel/sync/completion.rs` of Linux 7.3 (and `include/linux/completion.h`). In
//! drydock the state is a [`CompletionState`]: a "done" word that waiters sleep on with
//! `futex(2)`.

use crate::types::Opaque;
use drydock_host::sync::CompletionState;
use pin_init::{pin_data, pin_init, PinInit};

/// An event that threads can wait for, and that is signalled once for all of them.
///
/// Mirrors `kernel::sync::Completion`. [`Completion::complete_all`] marks it done and wakes every
/// waiter; later calls to [`Completion::wait_for_completion`] return at once.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{Arc, Completion};
///
/// let done = Arc::pin_init(Completion::new(), GFP_KERNEL)?;
/// let other = done.clone();
/// let worker = std::thread::spawn(move || other.complete_all());
/// done.wait_for_completion();
/// worker.join().unwrap();
/// # Ok::<(), Error>(())
/// ```
#[pin_data]
pub struct Completion {
    #[pin]
    inner: Opaque<CompletionState>,
}

// SAFETY: The state is used only through its atomic operations.
unsafe impl Send for Completion {}

// SAFETY: The state is used only through its atomic operations.
unsafe impl Sync for Completion {}

impl Completion {
    /// Returns an initialiser of a completion that is not done.
    pub fn new() -> impl PinInit<Self> {
        pin_init!(Self {
            // SAFETY: `slot` is valid for writes.
            inner <- Opaque::ffi_init(|slot: *mut CompletionState| unsafe {
                slot.write(CompletionState::new())
            }),
        })
    }

    /// Returns the state.
    fn state(&self) -> &CompletionState {
        // SAFETY: The state was initialised by `new` and is only used through `&`.
        unsafe { &*self.inner.get() }
    }

    /// Marks the completion done and wakes every waiter, current and future.
    #[inline]
    pub fn complete_all(&self) {
        self.state().complete_all();
    }

    /// Waits, uninterruptibly, until the completion is done.
    #[inline]
    pub fn wait_for_completion(&self) {
        self.state().wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prelude::*;
    use crate::sync::Arc;
    use core::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn waiters_on_several_threads_are_released_by_complete_all() {
        let done = Arc::pin_init(Completion::new(), GFP_KERNEL).unwrap();
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let waiters: std::vec::Vec<_> = (0..3)
            .map(|_| {
                let (done, flag) = (done.clone(), flag.clone());
                std::thread::spawn(move || {
                    done.wait_for_completion();
                    // Whatever the completer did before `complete_all` is visible.
                    assert!(flag.load(Ordering::Relaxed));
                })
            })
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(20));
        assert!(waiters.iter().all(|w| !w.is_finished()));
        flag.store(true, Ordering::Relaxed);
        done.complete_all();
        for w in waiters {
            w.join().unwrap();
        }
        // Later waits return at once.
        done.wait_for_completion();
    }
}
