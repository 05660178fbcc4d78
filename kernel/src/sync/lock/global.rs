//! Locks in `static`s: [`GlobalLock`] and the [`global_lock!`](crate::sync::global_lock) macro.
//!
//! Mirrors `rust/kernel/sync/lock/global.rs` of Linux 7.3.

use crate::{
    str::{CStr, CStrExt as _},
    sync::lock::{Backend, Guard, Lock},
    sync::{LockClassKey, LockedBy},
    types::Opaque,
};
use core::{
    cell::UnsafeCell,
    marker::{PhantomData, PhantomPinned},
    pin::Pin,
};

/// Describes a global lock: its name, data type, backend and lock class.
///
/// Mirrors `kernel::sync::lock::GlobalLockBackend`; implemented by [`global_lock!`].
pub trait GlobalLockBackend {
    /// The name of the lock.
    const NAME: &'static CStr;
    /// The type of the protected data.
    type Item: 'static;
    /// The locking primitive.
    type Backend: Backend + 'static;
    /// Returns the lock class of the lock.
    fn get_lock_class() -> Pin<&'static LockClassKey>;
}

/// A lock in a `static`, defined with [`global_lock!`].
///
/// Mirrors `kernel::sync::lock::GlobalLock`.
pub struct GlobalLock<B: GlobalLockBackend> {
    inner: Lock<B::Item, B::Backend>,
}

impl<B: GlobalLockBackend> GlobalLock<B> {
    /// Returns a lock protecting `data`, whose state is not initialised yet.
    ///
    /// # Safety
    ///
    /// [`GlobalLock::init`] must be called before the lock is used.
    pub const unsafe fn new(data: B::Item) -> Self {
        Self {
            inner: Lock {
                state: Opaque::uninit(),
                data: UnsafeCell::new(data),
                _pin: PhantomPinned,
            },
        }
    }

    /// Initialises the state of the lock.
    ///
    /// # Safety
    ///
    /// Must be called once, before any other use of the lock.
    pub unsafe fn init(&'static self) {
        // SAFETY: The state lives in a `static`, so it is pinned and valid forever; the caller
        // guarantees nobody uses it meanwhile. The name and lock class are `'static`.
        unsafe {
            B::Backend::init(
                self.inner.state.get(),
                B::NAME.as_char_ptr(),
                B::get_lock_class().as_ptr(),
            )
        }
    }

    /// Acquires the lock and returns a guard giving access to the data.
    #[inline]
    pub fn lock(&'static self) -> GlobalGuard<B> {
        GlobalGuard {
            inner: self.inner.lock(),
        }
    }

    /// Acquires the lock if it is free; returns `None` otherwise.
    #[must_use = "if unused, the lock will be immediately unlocked"]
    #[inline]
    pub fn try_lock(&'static self) -> Option<GlobalGuard<B>> {
        Some(GlobalGuard {
            inner: self.inner.try_lock()?,
        })
    }
}

/// The guard of a held [`GlobalLock`].
///
/// Mirrors `kernel::sync::lock::GlobalGuard`.
#[must_use = "the lock unlocks immediately when the guard is unused"]
pub struct GlobalGuard<B: GlobalLockBackend> {
    inner: Guard<'static, B::Item, B::Backend>,
}

impl<B: GlobalLockBackend> core::ops::Deref for GlobalGuard<B> {
    type Target = B::Item;

    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<B: GlobalLockBackend> core::ops::DerefMut for GlobalGuard<B>
where
    B::Item: Unpin,
{
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.inner
    }
}

/// Data protected by the global lock `B`, stored elsewhere.
///
/// Mirrors `kernel::sync::lock::GlobalLockedBy`: like [`LockedBy`], but no run-time check is
/// needed, since the lock is known from the type.
pub struct GlobalLockedBy<T: ?Sized, B: GlobalLockBackend> {
    _backend: PhantomData<B>,
    value: UnsafeCell<T>,
}

// SAFETY: The same conditions as `LockedBy`, whose reasoning applies.
unsafe impl<T, B> Send for GlobalLockedBy<T, B>
where
    T: ?Sized,
    B: GlobalLockBackend,
    LockedBy<T, B::Item>: Send,
{
}

// SAFETY: The same conditions as `LockedBy`, whose reasoning applies.
unsafe impl<T, B> Sync for GlobalLockedBy<T, B>
where
    T: ?Sized,
    B: GlobalLockBackend,
    LockedBy<T, B::Item>: Sync,
{
}

impl<T, B: GlobalLockBackend> GlobalLockedBy<T, B> {
    /// Wraps `val`, to be protected by the global lock `B`.
    pub fn new(val: T) -> Self {
        Self {
            value: UnsafeCell::new(val),
            _backend: PhantomData,
        }
    }
}

impl<T: ?Sized, B: GlobalLockBackend> GlobalLockedBy<T, B> {
    /// Returns the data, given a guard of the lock.
    pub fn as_ref<'a>(&'a self, _guard: &'a GlobalGuard<B>) -> &'a T {
        // SAFETY: The guard proves the lock is held for `'a`, so nobody mutates the data.
        unsafe { &*self.value.get() }
    }

    /// Returns the data mutably, given a mutable guard of the lock.
    pub fn as_mut<'a>(&'a self, _guard: &'a mut GlobalGuard<B>) -> &'a mut T {
        // SAFETY: The exclusively borrowed guard proves the lock is held, and nobody else can use
        // the guard meanwhile.
        unsafe { &mut *self.value.get() }
    }

    /// Returns the data mutably; the exclusive borrow makes the lock unnecessary.
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }
}

/// Defines a `static` lock.
///
/// Mirrors the kernel's `global_lock!`. The lock must be initialised with `init` before use,
/// hence the `unsafe(uninit)` in the syntax; `$kind` is `Mutex`, `SpinLock` or `SpinLockIrq`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// kernel::sync::global_lock! {
///     // SAFETY: Initialised at the start of `main` (here: right below).
///     unsafe(uninit) static COUNTER: Mutex<u32> = 0;
/// }
///
/// // SAFETY: Called once, before any other use.
/// unsafe { COUNTER.init() };
/// *COUNTER.lock() += 1;
/// assert_eq!(*COUNTER.lock(), 1);
/// ```
#[macro_export]
macro_rules! global_lock {
    {
        $(#[$meta:meta])* $pub:vis
        unsafe(uninit) static $name:ident: $kind:ident<$valuety:ty> = $value:expr;
    } => {
        #[doc = ::core::concat!(
            "Backend type used by [`",
            ::core::stringify!($name),
            "`](static@",
            ::core::stringify!($name),
            ")."
        )]
        #[allow(non_camel_case_types, unreachable_pub, clippy::upper_case_acronyms)]
        $pub enum $name {}

        impl $crate::sync::lock::GlobalLockBackend for $name {
            const NAME: &'static $crate::str::CStr = $crate::c_str!(::core::stringify!($name));
            type Item = $valuety;
            type Backend = $crate::global_lock_inner!(backend $kind);

            fn get_lock_class() -> $crate::prelude::Pin<&'static $crate::sync::LockClassKey> {
                $crate::static_lock_class!()
            }
        }

        $(#[$meta])*
        $pub static $name: $crate::sync::lock::GlobalLock<$name> = {
            let init: $valuety = $value;
            // SAFETY: The macro's caller promised, with `unsafe(uninit)`, to call `init` first.
            unsafe { $crate::sync::lock::GlobalLock::new(init) }
        };
    };
}
pub use global_lock;

/// Maps a lock kind of [`global_lock!`] to its backend.
#[doc(hidden)]
#[macro_export]
macro_rules! global_lock_inner {
    (backend Mutex) => {
        $crate::sync::lock::mutex::MutexBackend
    };
    (backend SpinLock) => {
        $crate::sync::lock::spinlock::SpinLockBackend
    };
    (backend SpinLockIrq) => {
        $crate::sync::lock::spinlock::SpinLockIrqBackend
    };
}
