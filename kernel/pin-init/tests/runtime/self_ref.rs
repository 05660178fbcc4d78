//! Values that depend on their own address: a self-referential buffer and a small mutex that
//! checks it is never moved, shared between threads.

use core::{
    cell::UnsafeCell,
    marker::PhantomPinned,
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr,
    sync::atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::{sync::Arc, thread};

use pin_init::{pin_data, pin_init, pinned_drop, stack_pin_init, InPlaceInit, PinInit, Wrapper};

/// A buffer with a cursor that points into the buffer itself.
#[pin_data]
struct SelfRef {
    buf: [u8; 32],
    /// Always points into `buf`.
    cursor: *mut u8,
    #[pin]
    _pin: PhantomPinned,
}

impl SelfRef {
    fn new(fill: u8, offset: usize) -> impl PinInit<Self> {
        assert!(offset < 32);
        pin_init!(&this in Self {
            buf: [fill; 32],
            // SAFETY: `this` points to the struct under initialization; taking the address of a
            // field creates no reference. `offset < 32` keeps the pointer inside `buf`.
            cursor: unsafe { ptr::addr_of_mut!((*this.as_ptr()).buf).cast::<u8>().add(offset) },
            _pin: PhantomPinned,
        })
    }

    fn read(&self) -> u8 {
        // SAFETY: `cursor` points into `buf`, which is initialized and not moved (pinned).
        unsafe { *self.cursor }
    }

    fn cursor_offset(&self) -> usize {
        self.cursor as usize - self.buf.as_ptr() as usize
    }
}

#[test]
fn self_referential_struct_sees_its_final_address() {
    let boxed: Pin<Box<SelfRef>> = Box::pin_init(SelfRef::new(0xab, 5)).unwrap();
    assert_eq!(boxed.cursor_offset(), 5);
    assert_eq!(boxed.read(), 0xab);
    // Moving the box moves the pointer, not the pinned value.
    let moved = boxed;
    assert_eq!(moved.cursor_offset(), 5);

    stack_pin_init!(let on_stack = SelfRef::new(0x11, 31));
    assert_eq!(on_stack.cursor_offset(), 31);
    assert_eq!(on_stack.read(), 0x11);

    let in_arc: Pin<Arc<SelfRef>> = Arc::pin_init(SelfRef::new(0x22, 0)).unwrap();
    let other = Pin::clone(&in_arc);
    assert_eq!(other.cursor_offset(), 0);
    assert_eq!(other.read(), 0x22);
}

/// A spin lock protecting a `T`, which records its own address when initialized and checks on
/// every lock that it was not moved since.
///
/// # Invariants
///
/// - `home` is the address the mutex was initialized at,
/// - `data` is only accessed while `locked` is held (set by a successful compare-exchange).
#[pin_data(PinnedDrop)]
struct SpinMutex<T> {
    locked: AtomicBool,
    home: *const SpinMutex<T>,
    #[pin]
    data: UnsafeCell<T>,
    #[pin]
    _pin: PhantomPinned,
    lock_count: AtomicUsize,
}

// SAFETY: Access to `data` is serialized by `locked`; `home` is only compared, never
// dereferenced.
unsafe impl<T: Send> Send for SpinMutex<T> {}
// SAFETY: As above.
unsafe impl<T: Send> Sync for SpinMutex<T> {}

impl<T> SpinMutex<T> {
    fn new(value: impl PinInit<T>) -> impl PinInit<Self> {
        pin_init!(&this in Self {
            locked: AtomicBool::new(false),
            home: this.as_ptr().cast_const(),
            data <- UnsafeCell::pin_init(value),
            _pin: PhantomPinned,
            lock_count: AtomicUsize::new(0),
        })
    }

    fn lock(&self) -> Guard<'_, T> {
        assert_eq!(self.home, ptr::from_ref(self), "the mutex was moved");
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            std::hint::spin_loop();
            thread::yield_now();
        }
        self.lock_count.fetch_add(1, Ordering::Relaxed);
        Guard { mutex: self }
    }
}

#[pinned_drop]
impl<T> PinnedDrop for SpinMutex<T> {
    fn drop(self: Pin<&mut Self>) {
        assert!(!self.locked.load(Ordering::Relaxed), "dropped while locked");
        assert_eq!(
            self.home,
            ptr::from_ref::<Self>(&self),
            "the mutex was moved"
        );
    }
}

/// # Invariants
///
/// The guard holds the lock of `mutex`.
struct Guard<'a, T> {
    mutex: &'a SpinMutex<T>,
}

impl<T> Deref for Guard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: We hold the lock.
        unsafe { &*self.mutex.data.get() }
    }
}

impl<T> DerefMut for Guard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: We hold the lock, and have the guard borrowed mutably.
        unsafe { &mut *self.mutex.data.get() }
    }
}

impl<T> Drop for Guard<'_, T> {
    fn drop(&mut self) {
        self.mutex.locked.store(false, Ordering::Release);
    }
}

#[test]
fn mutex_shared_between_threads() {
    const THREADS: usize = 4;
    let per_thread: usize = if cfg!(miri) { 20 } else { 2000 };

    let mutex: Pin<Arc<SpinMutex<Vec<usize>>>> = Arc::pin_init(SpinMutex::new(Vec::new())).unwrap();
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let mutex = Pin::clone(&mutex);
            thread::spawn(move || {
                for i in 0..per_thread {
                    let mut guard = mutex.lock();
                    // A non-atomic read-modify-write: only correct under mutual exclusion.
                    let len = guard.len();
                    guard.push(t * per_thread + i);
                    assert_eq!(guard.len(), len + 1);
                }
            })
        })
        .collect();
    for handle in handles {
        handle.join().unwrap();
    }
    let mut all = mutex.lock().clone();
    assert_eq!(all.len(), THREADS * per_thread);
    all.sort_unstable();
    assert!(all.iter().enumerate().all(|(i, &v)| i == v));
    assert_eq!(
        mutex.lock_count.load(Ordering::Relaxed),
        THREADS * per_thread + 1
    );
}

#[pin_data]
struct TwoLocks {
    #[pin]
    a: SpinMutex<u32>,
    #[pin]
    b: SpinMutex<u32>,
}

#[test]
fn nested_pinned_mutexes_on_the_stack() {
    stack_pin_init!(let locks = pin_init!(TwoLocks {
        a <- SpinMutex::new(1),
        b <- SpinMutex::new(2),
    }));
    *locks.a.lock() += 10;
    let sum = *locks.a.lock() + *locks.b.lock();
    assert_eq!(sum, 13);
}
