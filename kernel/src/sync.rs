//! Synchronisation primitives: reference counting, locks, condition variables, completions,
//! atomics, RCU.
//!
//! Mirrors `rust/kernel/sync.rs` of Linux 7.3. Threads in drydock are the process's threads; the
//! sleeping primitives sleep in the host kernel (`futex(2)`), see [`drydock_host::sync`].
//!
//! Not yet mirrored: `sync::poll` (poll tables of files).

use crate::types::Opaque;
use core::pin::Pin;
use pin_init::{pin_data, pin_init, pinned_drop, PinInit};

mod arc;
pub mod aref;
pub mod atomic;
pub mod barrier;
pub mod completion;
mod condvar;
pub mod lock;
mod locked_by;
pub mod rcu;
mod refcount;
mod set_once;
pub mod srcu;

pub use arc::{Arc, ArcBorrow, UniqueArc};
pub use completion::Completion;
pub use condvar::{new_condvar, CondVar, CondVarTimeoutResult};
pub use lock::global::{global_lock, GlobalGuard, GlobalLock, GlobalLockBackend, GlobalLockedBy};
pub use lock::mutex::{new_mutex, Mutex, MutexGuard};
pub use lock::spinlock::{
    new_spinlock, new_spinlock_irq, SpinLock, SpinLockGuard, SpinLockIrq, SpinLockIrqGuard,
};
pub use locked_by::LockedBy;
pub use refcount::Refcount;
pub use set_once::SetOnce;
pub use srcu::Srcu;

/// A lock class, which lockdep uses in the kernel to check locking rules.
///
/// Mirrors `kernel::sync::LockClassKey`. drydock has no lockdep: the key holds nothing and
/// registering or unregistering it does nothing; it exists so that code creating locks compiles
/// unchanged.
#[repr(transparent)]
#[pin_data(PinnedDrop)]
pub struct LockClassKey {
    #[pin]
    inner: Opaque<crate::bindings::lock_class_key>,
}

// SAFETY: The key holds no data.
unsafe impl Send for LockClassKey {}

// SAFETY: The key holds no data.
unsafe impl Sync for LockClassKey {}

impl LockClassKey {
    /// Returns a key for a `static`; used by [`static_lock_class!`].
    ///
    /// # Safety
    ///
    /// - The key must be pinned in a `static` before it is used;
    /// - its destructor must never run.
    pub const unsafe fn new_static() -> Self {
        LockClassKey {
            inner: Opaque::uninit(),
        }
    }

    /// Returns an initialiser of a key in dynamically allocated memory.
    ///
    /// For keys in `static`s, use [`static_lock_class!`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// use kernel::sync::{LockClassKey, SpinLock};
    ///
    /// let key = KBox::pin_init(LockClassKey::new_dynamic(), GFP_KERNEL)?;
    /// // A lock class key must outlive the locks using it; leaking makes it `'static`.
    /// let key: Pin<&'static LockClassKey> = Pin::static_ref(KBox::leak(
    ///     // SAFETY: The key is leaked, so it never moves again.
    ///     unsafe { Pin::into_inner_unchecked(key) },
    /// ));
    /// let lock = KBox::pin_init(SpinLock::new(0u32, c"my_spinlock", key), GFP_KERNEL)?;
    /// assert_eq!(*lock.lock(), 0);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new_dynamic() -> impl PinInit<Self> {
        // `lockdep_register_key()` has nothing to do without lockdep.
        pin_init!(Self {
            inner <- Opaque::ffi_init(|_| {})
        })
    }

    /// Returns a raw pointer to the key, as the kernel's C locking functions take it.
    pub fn as_ptr(&self) -> *mut crate::bindings::lock_class_key {
        self.inner.get()
    }
}

#[pinned_drop]
impl PinnedDrop for LockClassKey {
    fn drop(self: Pin<&mut Self>) {
        // `lockdep_unregister_key()` has nothing to do without lockdep.
    }
}

/// Defines a new static lock class and returns a pinned reference to it.
///
/// Mirrors the kernel's `static_lock_class!`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{static_lock_class, Arc, SpinLock};
///
/// fn new_locked_int() -> Result<Arc<SpinLock<u32>>> {
///     Arc::pin_init(SpinLock::new(42, c"new_locked_int", static_lock_class!()), GFP_KERNEL)
/// }
/// assert_eq!(*new_locked_int()?.lock(), 42);
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
macro_rules! static_lock_class {
    () => {{
        static CLASS: $crate::sync::LockClassKey =
            // SAFETY: The key is in a `static`, so it is pinned and never dropped.
            unsafe { $crate::sync::LockClassKey::new_static() };
        $crate::prelude::Pin::static_ref(&CLASS)
    }};
}
pub use static_lock_class;

/// Returns the given string literal as a C string, or, without one, a name made of the source
/// file and line.
#[doc(hidden)]
#[macro_export]
macro_rules! optional_name {
    () => {
        $crate::c_str!(::core::concat!(::core::file!(), ":", ::core::line!()))
    };
    ($name:literal) => {
        $crate::c_str!($name)
    };
}
