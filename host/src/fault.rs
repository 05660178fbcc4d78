//! Fault injection: making allocations fail on purpose, so tests can prove failure paths.
//!
//! Every allocator of the `kernel` crate (`kmalloc()`, `vmalloc()`, `alloc_pages()`, the DMA
//! allocations) asks [`alloc_should_fail`] before it allocates or grows a block (freeing never
//! fails). A test arms the hook with an [`AllocFailure`] guard, which makes a chosen run of the
//! *calling thread's* allocations fail with `AllocError` (or `ENOMEM`), exactly as an
//! out-of-memory condition would in the kernel; other threads (including other tests running in
//! parallel) are not affected. Dropping the guard disarms the hook again.
//!
//! # Examples
//!
//! ```
//! use drydock_host::fault::{alloc_should_fail, AllocFailure};
//!
//! // Let one allocation of this thread through, then fail the next.
//! let failure = AllocFailure::after(1, 1);
//! assert!(!alloc_should_fail());
//! assert!(alloc_should_fail());
//! assert!(!alloc_should_fail());
//! assert_eq!(failure.injected(), 1);
//! drop(failure);
//! assert!(!alloc_should_fail());
//! ```

use std::cell::Cell;
use std::marker::PhantomData;

/// The armed state of the calling thread: allocations to let through, then allocations to fail.
#[derive(Clone, Copy, Default)]
struct Plan {
    /// Allocations that still succeed before the failures start.
    skip: usize,
    /// Allocations that fail once `skip` has run out.
    fail: usize,
    /// Failures injected since the plan was armed.
    injected: usize,
}

thread_local! {
    static PLAN: Cell<Plan> = const { Cell::new(Plan { skip: 0, fail: 0, injected: 0 }) };
}

/// Arms allocation failures on the current thread until dropped.
///
/// Guards nest: dropping one restores the plan that was armed when it was created.
#[must_use = "the failures are disarmed when the guard is dropped"]
pub struct AllocFailure {
    previous: Plan,
    /// The guard describes the current thread's state, so it must stay on that thread.
    _not_send: PhantomData<*mut ()>,
}

impl AllocFailure {
    /// Makes the next `count` allocations of this thread fail.
    pub fn next(count: usize) -> Self {
        Self::after(0, count)
    }

    /// Lets `skip` allocations of this thread succeed, then makes the following `count` fail.
    ///
    /// This reaches a failure in the middle of an operation that allocates several times.
    pub fn after(skip: usize, count: usize) -> Self {
        let previous = PLAN.with(|plan| {
            plan.replace(Plan {
                skip,
                fail: count,
                injected: 0,
            })
        });
        Self {
            previous,
            _not_send: PhantomData,
        }
    }

    /// Returns how many allocations have been made to fail since this guard was armed.
    ///
    /// Tests use it to prove that the path under test really reached the allocator.
    pub fn injected(&self) -> usize {
        PLAN.with(|plan| plan.get().injected)
    }
}

impl Drop for AllocFailure {
    fn drop(&mut self) {
        PLAN.with(|plan| plan.set(self.previous));
    }
}

/// Decides whether the allocation about to be made by the calling thread must fail.
///
/// Called by the allocators once per allocation or growth; consumes one step of the plan.
pub fn alloc_should_fail() -> bool {
    PLAN.with(|cell| {
        let mut plan = cell.get();
        let fail = if plan.skip > 0 {
            plan.skip -= 1;
            false
        } else if plan.fail > 0 {
            plan.fail -= 1;
            plan.injected += 1;
            true
        } else {
            false
        };
        cell.set(plan);
        fail
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_skips_then_fails_then_disarms() {
        let guard = AllocFailure::after(2, 2);
        let seen: std::vec::Vec<bool> = (0..6).map(|_| alloc_should_fail()).collect();
        assert_eq!(seen, [false, false, true, true, false, false]);
        assert_eq!(guard.injected(), 2);
        drop(guard);
        assert!(!alloc_should_fail());
    }

    #[test]
    fn guards_nest() {
        let outer = AllocFailure::next(5);
        {
            let _inner = AllocFailure::next(0);
            assert!(!alloc_should_fail());
        }
        assert!(alloc_should_fail());
        assert_eq!(outer.injected(), 1);
    }

    #[test]
    fn other_threads_are_not_affected() {
        let _guard = AllocFailure::next(usize::MAX);
        assert!(!std::thread::spawn(alloc_should_fail).join().unwrap());
        assert!(alloc_should_fail());
    }
}
