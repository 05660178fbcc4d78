//! Device-managed resources: values revoked and dropped when the device's driver unbinds.
//!
//! Mirrors `rust/kernel/devres.rs` of Linux 7.3. A [`Devres<T>`] owns a `T` that must not outlive
//! the device's binding (a BAR mapping, a DMA mapping...): when the driver unbinds, the driver
//! core revokes it (waiting for accesses in progress) and drops it, even if the `Devres` itself is
//! kept elsewhere, for instance in an `Arc` shared with another thread. Later accesses through
//! [`Devres::try_access`] find nothing.
//!
//! In userspace the device's list of managed resources is kept by the host machinery
//! (`drydock_host::device`), which releases it at unbind in the kernel's order: after `remove()`
//! and after the driver's data is dropped.

use crate::{
    alloc::Flags,
    device::{Bound, Device},
    prelude::*,
    revocable::{Revocable, RevocableGuard},
    sync::{aref::ARef, rcu, Arc, Completion},
    types::{CovariantForLt, ForLt},
};

/// The shared state of a [`Devres`]: the revocable value and a completion that signals when a
/// revocation started by the other side (owner or driver core) has finished.
#[pin_data]
struct Inner<T> {
    #[pin]
    data: Revocable<T>,
    #[pin]
    revocation: Completion,
}

/// The reference to a [`Devres`]'s state that the driver core's release action holds.
struct ReleaseHandle<T>(Arc<Inner<T>>);

// SAFETY: the release action only revokes the value (dropping it, which `T: Send` allows on any
// thread) and signals the completion; it never hands out a `&T`, so `T: Sync` is not needed.
unsafe impl<T: Send> Send for ReleaseHandle<T> {}

impl<T> ReleaseHandle<T> {
    /// Returns the state. A method, so the closure captures the whole `Send` wrapper.
    fn get(&self) -> &Inner<T> {
        &self.0
    }
}

/// A device-managed resource.
///
/// Mirrors `kernel::devres::Devres`.
///
/// # Examples
///
/// ```no_run
/// # use kernel::{device::{Bound, Device}, devres::Devres, prelude::*};
/// fn keep_counter(dev: &Device<Bound>) -> Result<Devres<u32>> {
///     let counter = Devres::new(dev, 7u32)?;
///     assert_eq!(*counter.access(dev)?, 7);
///     Ok(counter)
/// }
/// ```
///
/// # Invariants
///
/// Until the value is revoked, a release action that revokes it is registered with `dev` under the
/// key `Arc::as_ptr(&inner)`.
pub struct Devres<T: Send + 'static> {
    dev: ARef<Device>,
    inner: Arc<Inner<T>>,
}

impl<T: Send + 'static> Devres<T> {
    /// Creates a resource managed by `dev`.
    pub fn new<E>(dev: &Device<Bound>, data: impl PinInit<T, E>) -> Result<Self>
    where
        Error: From<E>,
    {
        let inner = Arc::pin_init::<Error>(
            try_pin_init!(Inner {
                data <- Revocable::new(data),
                revocation <- Completion::new(),
            }),
            GFP_KERNEL,
        )?;
        let release = ReleaseHandle(inner.clone());
        dev.raw().devres_add(
            Self::key(&inner),
            std::boxed::Box::new(move || {
                let release = release.get();
                if release.data.revoke() {
                    release.revocation.complete_all();
                } else {
                    // The owner is dropping the value right now; wait until it is gone.
                    release.revocation.wait_for_completion();
                }
            }),
        );
        // INVARIANT: the release action is registered under the key.
        Ok(Self {
            dev: dev.into(),
            inner,
        })
    }

    fn key(inner: &Arc<Inner<T>>) -> usize {
        Arc::as_ptr(inner).addr()
    }

    fn data(&self) -> &Revocable<T> {
        &self.inner.data
    }

    /// Returns the device that manages the resource.
    pub fn device(&self) -> &Device {
        &self.dev
    }

    /// Accesses the value, with a bound device as proof that it has not been revoked.
    ///
    /// Fails with `EINVAL` if `dev` is not the managing device. This costs nothing beyond the
    /// comparison: no reader lock is taken.
    pub fn access<'a>(&'a self, dev: &'a Device<Bound>) -> Result<&'a T> {
        if self.dev.as_raw() != dev.as_raw() {
            return Err(EINVAL);
        }
        // SAFETY: `dev` is bound for `'a`, and the value is only revoked when it unbinds.
        Ok(unsafe { self.data().access() })
    }

    /// Accesses the value if it has not been revoked.
    pub fn try_access(&self) -> Option<RevocableGuard<'_, T>> {
        self.data().try_access()
    }

    /// Calls `f` with the value if it has not been revoked.
    pub fn try_access_with<R, F: FnOnce(&T) -> R>(&self, f: F) -> Option<R> {
        self.data().try_access_with(f)
    }

    /// Accesses the value under an existing read-side guard.
    pub fn try_access_with_guard<'a>(&'a self, guard: &'a rcu::Guard) -> Option<&'a T> {
        self.data().try_access_with_guard(guard)
    }
}

// SAFETY: the value is moved to whichever thread drops the `Devres` or unbinds the device.
unsafe impl<T: Send> Send for Devres<T> {}

// SAFETY: `&Devres<T>` only hands out `&T`.
unsafe impl<T: Send + Sync> Sync for Devres<T> {}

impl<T: Send + 'static> Drop for Devres<T> {
    fn drop(&mut self) {
        // SAFETY: no reader can hold the value: the only way to reach it is through `self`, which
        // is being dropped, so no grace period is needed.
        if unsafe { self.data().revoke_nosync() } {
            self.inner.revocation.complete_all();
            // Unregister the release action (dropping its reference to `inner`); if the driver
            // core has already taken it, the action finds the value revoked and returns.
            self.dev.raw().devres_remove(Self::key(&self.inner));
        } else {
            // The driver core is releasing it: wait until the value is dropped.
            self.inner.revocation.wait_for_completion();
        }
    }
}

/// A guard that gives access to the value of a [`DevresLt`], with its lifetime shortened to the
/// guard's.
///
/// Mirrors `kernel::devres::DevresGuard`.
pub struct DevresGuard<'a, F: CovariantForLt>(RevocableGuard<'a, F::Of<'static>>);

impl<'a, F: CovariantForLt> core::ops::Deref for DevresGuard<'a, F> {
    type Target = F::Of<'a>;

    #[inline]
    fn deref(&self) -> &Self::Target {
        F::cast_ref(&*self.0)
    }
}

/// A device-managed resource whose type borrows the device for a lifetime (such as
/// `pci::Bar<'a>`), stored with that lifetime erased and given back shortened.
///
/// Mirrors `kernel::devres::DevresLt`.
pub struct DevresLt<F: ForLt>(Devres<F::Of<'static>>)
where
    for<'a> F::Of<'a>: Send;

impl<F: ForLt> DevresLt<F>
where
    for<'a> F::Of<'a>: Send,
{
    /// Creates the resource.
    ///
    /// # Safety
    ///
    /// Everything `data` borrows for `'a` must stay valid for as long as the device is bound.
    pub unsafe fn new<'a, E>(
        dev: &'a Device<Bound>,
        data: impl PinInit<F::Of<'a>, E>,
    ) -> Result<Self>
    where
        Error: From<E>,
    {
        // SAFETY: the value lives at most until unbind (`Devres`), and what it borrows lives that
        // long (the safety requirement), so erasing the lifetime is sound; `F::Of<'a>` and
        // `F::Of<'static>` have the same layout.
        let data = unsafe { pin_init::cast_pin_init(data) };
        Ok(Self(Devres::new(dev, data)?))
    }

    /// Returns the managing device.
    #[inline]
    pub fn device(&self) -> &Device {
        self.0.device()
    }

    /// Calls `f` with the value, with a bound device as proof it is not revoked.
    #[inline]
    pub fn access_with<R, G>(&self, dev: &Device<Bound>, f: G) -> Result<R>
    where
        G: for<'a> FnOnce(&F::Of<'a>) -> R,
    {
        self.0.access(dev).map(f)
    }

    /// Calls `f` with the value if it has not been revoked.
    #[inline]
    pub fn try_access_with<R, G>(&self, f: G) -> Option<R>
    where
        G: for<'a> FnOnce(&F::Of<'a>) -> R,
    {
        self.0.data().try_access_with(f)
    }
}

impl<F: CovariantForLt> DevresLt<F>
where
    for<'a> F::Of<'a>: Send,
{
    /// Accesses the value, with a bound device as proof it is not revoked.
    #[inline]
    pub fn access<'a>(&'a self, dev: &'a Device<Bound>) -> Result<&'a F::Of<'a>> {
        self.0.access(dev).map(F::cast_ref)
    }

    /// Accesses the value if it has not been revoked.
    #[inline]
    pub fn try_access(&self) -> Option<DevresGuard<'_, F>> {
        self.0.data().try_access().map(DevresGuard)
    }
}

/// Hands `data` to `dev`: it is dropped when the driver unbinds (`devm_add_action()` with a drop).
///
/// Mirrors `kernel::devres::register`.
pub fn register<T, E>(dev: &Device<Bound>, data: impl PinInit<T, E>, flags: Flags) -> Result
where
    T: Send + 'static,
    Error: From<E>,
{
    let data = KBox::pin_init(data, flags)?;
    let key = core::ptr::from_ref::<T>(&data).addr();
    dev.raw()
        .devres_add(key, std::boxed::Box::new(move || drop(data)));
    Ok(())
}
