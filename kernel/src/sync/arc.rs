//! A reference-counted pointer: [`Arc`], [`ArcBorrow`] and [`UniqueArc`].
//!
//! Mirrors `rust/kernel/sync/arc.rs` of Linux 7.3. Compared with `std`'s `Arc`, the kernel's:
//! counts with a saturating [`Refcount`]; has no weak references; has no `get_mut`, so the value
//! is always pinned; allocates with [`KBox`] and explicit flags, fallibly.
//!
//! Difference from the kernel: the kernel derives `CoercePointee`, so `Arc<Foo>` coerces to
//! `Arc<dyn Trait>` implicitly; the derive is unstable, so drydock derives it only with the
//! `coerce-pointee` feature of the crate (which needs `RUSTC_BOOTSTRAP=1`, as the kernel's build
//! has). Without it, the coercion is done through the raw pointer:
//! `unsafe { Arc::from_raw(Arc::into_raw(a) as *const dyn Trait) }`.

use crate::{
    alloc::{AllocError, Flags, KBox},
    ffi::c_void,
    fmt,
    init::InPlaceInit,
    sync::Refcount,
    try_init,
    types::ForeignOwnable,
};
use core::{
    alloc::Layout,
    borrow::{Borrow, BorrowMut},
    marker::PhantomData,
    mem::{ManuallyDrop, MaybeUninit},
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr::NonNull,
};
use pin_init::{self, pin_data, InPlaceWrite, Init, PinInit};

mod std_vendor;

/// A pointer to a value shared by several owners; the value is dropped with the last owner.
///
/// Mirrors `kernel::sync::Arc`. The value is pinned: it never moves while shared, so it may hold
/// locks and other pinned types (build it with [`Arc::pin_init`]).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::Arc;
///
/// struct Example {
///     a: u32,
/// }
///
/// let obj = Arc::new(Example { a: 10 }, GFP_KERNEL)?;
/// let cloned = obj.clone();
/// assert!(Arc::ptr_eq(&obj, &cloned));
/// assert_eq!(cloned.a, 10);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `ptr` points to a valid `ArcInner<T>` allocated with [`KBox`], whose reference count counts
/// this `Arc` among its owners.
#[repr(transparent)]
#[cfg_attr(feature = "coerce-pointee", derive(core::marker::CoercePointee))]
pub struct Arc<#[cfg_attr(feature = "coerce-pointee", pointee)] T: ?Sized> {
    ptr: NonNull<ArcInner<T>>,
    _p: PhantomData<ArcInner<T>>,
}

/// The allocation behind an [`Arc`]: the count, then the value.
#[pin_data]
#[repr(C)]
struct ArcInner<T: ?Sized> {
    refcount: Refcount,
    data: T,
}

impl<T: ?Sized> ArcInner<T> {
    /// Returns the `ArcInner` whose `data` is at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the `data` field of a valid `ArcInner<T>`.
    unsafe fn container_of(ptr: *const T) -> NonNull<ArcInner<T>> {
        let refcount_layout = Layout::new::<Refcount>();
        // SAFETY: The caller guarantees `ptr` points to a valid `T`.
        let val_layout = Layout::for_value(unsafe { &*ptr });
        // SAFETY: The layout of an existing `ArcInner<T>` was computed this way (`repr(C)`), so it
        // cannot overflow.
        let val_offset = unsafe { refcount_layout.extend(val_layout).unwrap_unchecked().1 };
        // Keep the metadata of `ptr` (for unsized `T`), which `ArcInner<T>` shares.
        let ptr = ptr as *const ArcInner<T>;
        // SAFETY: `data` is `val_offset` bytes into its `ArcInner<T>`, so stepping back stays
        // within the allocation.
        let ptr = unsafe { ptr.byte_sub(val_offset) };
        // SAFETY: It points to the valid `ArcInner<T>`, so it is not null.
        unsafe { NonNull::new_unchecked(ptr.cast_mut()) }
    }
}

// SAFETY: An `Arc<T>` gives shared access to `T` on any thread (`T: Sync`) and may drop it on any
// thread (`T: Send`).
unsafe impl<T: ?Sized + Sync + Send> Send for Arc<T> {}

// SAFETY: Sharing an `Arc<T>` lets other threads clone it, with the same consequences as sending.
unsafe impl<T: ?Sized + Sync + Send> Sync for Arc<T> {}

impl<T> InPlaceInit<T> for Arc<T> {
    type PinnedSelf = Self;

    #[inline]
    fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, E>
    where
        E: From<AllocError>,
    {
        UniqueArc::try_pin_init(init, flags).map(|u| u.into())
    }

    #[inline]
    fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        UniqueArc::try_init(init, flags).map(|u| u.into())
    }
}

impl<T> Arc<T> {
    /// Allocates an `Arc` holding `contents`.
    pub fn new(contents: T, flags: Flags) -> Result<Self, AllocError> {
        let value = ArcInner {
            refcount: Refcount::new(1),
            data: contents,
        };
        let inner = KBox::leak(KBox::new(value, flags)?).into();
        // SAFETY: `inner` is a new `ArcInner` allocated with `KBox`, counting one owner.
        Ok(unsafe { Self::from_inner(inner) })
    }

    /// The offset of the value from the start of the allocation.
    pub const DATA_OFFSET: usize = core::mem::offset_of!(ArcInner<T>, data);
}

impl<T: ?Sized> Arc<T> {
    /// Makes an `Arc` of an allocation.
    ///
    /// # Safety
    ///
    /// `inner` must point to a valid `ArcInner<T>` allocated with [`KBox`], and the caller gives
    /// one of the owners its count includes to the new `Arc`.
    unsafe fn from_inner(inner: NonNull<ArcInner<T>>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Arc {
            ptr: inner,
            _p: PhantomData,
        }
    }

    /// Gives up the `Arc` without dropping its reference and returns a pointer to the value.
    ///
    /// [`Arc::from_raw`] turns the pointer back into an `Arc`.
    pub fn into_raw(self) -> *const T {
        let ptr = self.ptr.as_ptr();
        core::mem::forget(self);
        // SAFETY: By the type invariant `ptr` points to a valid `ArcInner<T>`.
        unsafe { core::ptr::addr_of!((*ptr).data) }
    }

    /// Returns a pointer to the value.
    pub fn as_ptr(this: &Self) -> *const T {
        let ptr = this.ptr.as_ptr();
        // SAFETY: By the type invariant `ptr` points to a valid `ArcInner<T>`.
        unsafe { core::ptr::addr_of!((*ptr).data) }
    }

    /// Takes back the reference given up by [`Arc::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Arc::into_raw`] (possibly with a different but compatible pointee
    /// type, such as a trait object of the same value), and each such pointer may be passed here
    /// once.
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: `ptr` points to the `data` of a valid `ArcInner<T>` (from `into_raw`).
        let ptr = unsafe { ArcInner::container_of(ptr) };
        // SAFETY: The reference given up by `into_raw` is taken back.
        unsafe { Self::from_inner(ptr) }
    }

    /// Borrows the `Arc` as an [`ArcBorrow`], which can be copied without touching the count.
    #[inline]
    pub fn as_arc_borrow(&self) -> ArcBorrow<'_, T> {
        // SAFETY: The borrow cannot outlive `self`, which keeps the value alive.
        unsafe { ArcBorrow::new(self.ptr) }
    }

    /// Returns whether two `Arc`s point to the same allocation.
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        core::ptr::eq(this.ptr.as_ptr(), other.ptr.as_ptr())
    }

    /// Turns the `Arc` into a [`UniqueArc`] if it is the only owner; drops it otherwise.
    ///
    /// Among `Arc`s dropped this way concurrently, exactly the last one returns `Some`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// use kernel::sync::Arc;
    ///
    /// let a = Arc::new(5, GFP_KERNEL)?;
    /// let b = a.clone();
    /// assert!(Arc::into_unique_or_drop(a).is_none());
    /// let unique = Arc::into_unique_or_drop(b).expect("the last owner");
    /// assert_eq!(*unique, 5);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn into_unique_or_drop(this: Self) -> Option<Pin<UniqueArc<T>>> {
        let this = ManuallyDrop::new(this);
        // SAFETY: By the type invariant the `ArcInner` is valid.
        let refcount = unsafe { &this.ptr.as_ref().refcount };
        if refcount.dec_and_test() {
            // The count reached zero: this thread has the only access. Make it one owner again.
            refcount.set(1);
            // INVARIANT: The only owner is the new `UniqueArc`.
            Some(Pin::from(UniqueArc {
                inner: ManuallyDrop::into_inner(this),
            }))
        } else {
            None
        }
    }
}

// SAFETY: `into_foreign` returns the pointer to the `KBox`-allocated `ArcInner<T>`, which is
// aligned as `KBox<ArcInner<T>>` promises.
unsafe impl<T: 'static> ForeignOwnable for Arc<T> {
    const FOREIGN_ALIGN: usize = <KBox<ArcInner<T>> as ForeignOwnable>::FOREIGN_ALIGN;

    type Borrowed<'a> = ArcBorrow<'a, T>;
    type BorrowedMut<'a> = Self::Borrowed<'a>;

    fn into_foreign(self) -> *mut c_void {
        ManuallyDrop::new(self).ptr.as_ptr().cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: The caller guarantees `ptr` comes from `into_foreign`, so it is not null.
        let inner = unsafe { NonNull::new_unchecked(ptr.cast::<ArcInner<T>>()) };
        // SAFETY: The reference given up by `into_foreign` is taken back.
        unsafe { Self::from_inner(inner) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> ArcBorrow<'a, T> {
        // SAFETY: The caller guarantees `ptr` comes from `into_foreign`, so it is not null.
        let inner = unsafe { NonNull::new_unchecked(ptr.cast::<ArcInner<T>>()) };
        // SAFETY: The caller guarantees `from_foreign` is not called while the borrow lives, so
        // the reference given up by `into_foreign` keeps the value alive.
        unsafe { ArcBorrow::new(inner) }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> ArcBorrow<'a, T> {
        // SAFETY: The requirements of `borrow_mut` include those of `borrow`.
        unsafe { <Self as ForeignOwnable>::borrow(ptr) }
    }
}

impl<T: ?Sized> Deref for Arc<T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariant the `ArcInner` is valid while this owner lives.
        unsafe { &self.ptr.as_ref().data }
    }
}

impl<T: ?Sized> AsRef<T> for Arc<T> {
    fn as_ref(&self) -> &T {
        self.deref()
    }
}

impl<T: ?Sized> Borrow<T> for Arc<T> {
    fn borrow(&self) -> &T {
        self.deref()
    }
}

impl<T: ?Sized> Clone for Arc<T> {
    fn clone(&self) -> Self {
        // SAFETY: By the type invariant the `ArcInner` is valid.
        unsafe { self.ptr.as_ref() }.refcount.inc();
        // SAFETY: The count now includes the new owner.
        unsafe { Self::from_inner(self.ptr) }
    }
}

impl<T: ?Sized> Drop for Arc<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the `ArcInner` is valid.
        let is_zero = unsafe { self.ptr.as_ref() }.refcount.dec_and_test();
        if is_zero {
            // The last owner is gone: free the allocation, dropping the value.
            // SAFETY: The allocation was made with `KBox`, and nobody else owns it.
            unsafe { drop(KBox::from_raw(self.ptr.as_ptr())) };
        }
    }
}

impl<T: ?Sized> From<UniqueArc<T>> for Arc<T> {
    fn from(item: UniqueArc<T>) -> Self {
        item.inner
    }
}

impl<T: ?Sized> From<Pin<UniqueArc<T>>> for Arc<T> {
    fn from(item: Pin<UniqueArc<T>>) -> Self {
        // SAFETY: An `Arc` never moves its value, so the value stays pinned.
        unsafe { Pin::into_inner_unchecked(item).inner }
    }
}

/// A borrowed [`Arc`]: gives access to the value, and can make new `Arc`s, without the cost of
/// a reference-count update. It is `Copy`.
///
/// Mirrors `kernel::sync::ArcBorrow`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{Arc, ArcBorrow};
///
/// fn keep(e: ArcBorrow<'_, u32>) -> Arc<u32> {
///     e.into()
/// }
///
/// let obj = Arc::new(7, GFP_KERNEL)?;
/// let kept = keep(obj.as_arc_borrow());
/// assert!(Arc::ptr_eq(&obj, &kept));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `inner` points to a valid `ArcInner<T>` kept alive by some owner for at least `'a`.
#[repr(transparent)]
#[cfg_attr(feature = "coerce-pointee", derive(core::marker::CoercePointee))]
pub struct ArcBorrow<'a, #[cfg_attr(feature = "coerce-pointee", pointee)] T: ?Sized + 'a> {
    inner: NonNull<ArcInner<T>>,
    _p: PhantomData<&'a ()>,
}

impl<T: ?Sized> Clone for ArcBorrow<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for ArcBorrow<'_, T> {}

impl<T: ?Sized> ArcBorrow<'_, T> {
    /// Makes a borrow of an allocation.
    ///
    /// # Safety
    ///
    /// `inner` must point to a valid `ArcInner<T>` that some owner keeps alive for the lifetime
    /// of the borrow.
    unsafe fn new(inner: NonNull<ArcInner<T>>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self {
            inner,
            _p: PhantomData,
        }
    }

    /// Borrows the value of an [`Arc`] given up with [`Arc::into_raw`].
    ///
    /// # Safety
    ///
    /// `ptr` must come from [`Arc::into_raw`], and [`Arc::from_raw`] must not be called on it
    /// while the borrow lives.
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: `ptr` points to the `data` of a valid `ArcInner<T>` (from `into_raw`).
        let ptr = unsafe { ArcInner::container_of(ptr) };
        // SAFETY: The reference given up by `into_raw` keeps it alive while the borrow lives.
        unsafe { Self::new(ptr) }
    }
}

impl<T: ?Sized> From<ArcBorrow<'_, T>> for Arc<T> {
    fn from(b: ArcBorrow<'_, T>) -> Self {
        // SAFETY: `b.inner` is a valid `ArcInner`; the temporary `Arc` is never dropped, so the
        // count is only changed by the `clone`, which takes a new reference.
        ManuallyDrop::new(unsafe { Arc::from_inner(b.inner) })
            .deref()
            .clone()
    }
}

impl<T: ?Sized> Deref for ArcBorrow<'_, T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        // SAFETY: By the type invariant the `ArcInner` is alive for the borrow's lifetime.
        unsafe { &self.inner.as_ref().data }
    }
}

/// An [`Arc`] known to be the only owner, so the value can be mutated (or initialised) in place.
///
/// Mirrors `kernel::sync::UniqueArc`. It turns into an `Arc` with `into()`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::sync::{Arc, UniqueArc};
///
/// let mut x = UniqueArc::new(10, GFP_KERNEL)?;
/// *x += 1;
/// let shared: Arc<u32> = x.into();
/// assert_eq!(*shared, 11);
///
/// let uninit = UniqueArc::<u64>::new_uninit(GFP_KERNEL)?;
/// let ready: Arc<u64> = uninit.write(42).into();
/// assert_eq!(*ready, 42);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `inner` is the only owner of its allocation.
pub struct UniqueArc<T: ?Sized> {
    inner: Arc<T>,
}

impl<T> InPlaceInit<T> for UniqueArc<T> {
    type PinnedSelf = Pin<Self>;

    #[inline]
    fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, E>
    where
        E: From<AllocError>,
    {
        UniqueArc::new_uninit(flags)?.write_pin_init(init)
    }

    #[inline]
    fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        UniqueArc::new_uninit(flags)?.write_init(init)
    }
}

impl<T> InPlaceWrite<T> for UniqueArc<MaybeUninit<T>> {
    type Initialized = UniqueArc<T>;

    #[inline]
    fn write_init<E>(mut self, init: impl Init<T, E>) -> Result<Self::Initialized, E> {
        let slot = self.as_mut_ptr();
        // SAFETY: `slot` is valid, uninitialised memory owned by this `UniqueArc`; if `init`
        // fails, the allocation is freed without dropping a value.
        unsafe { pin_init::raw_try_init(slot, init)? };
        // SAFETY: The value was just initialised.
        Ok(unsafe { self.assume_init() })
    }

    #[inline]
    fn write_pin_init<E>(mut self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E> {
        let slot = self.as_mut_ptr();
        // SAFETY: `slot` is valid, uninitialised memory that never moves (an `Arc` allocation);
        // if `init` fails, the allocation is freed without dropping a value.
        unsafe { pin_init::raw_try_init(slot, init)? };
        // SAFETY: The value was just initialised.
        Ok(unsafe { self.assume_init() }.into())
    }
}

impl<T> UniqueArc<T> {
    /// Allocates a `UniqueArc` holding `value`.
    pub fn new(value: T, flags: Flags) -> Result<Self, AllocError> {
        // INVARIANT: A new `Arc` has a single owner.
        Ok(Self {
            inner: Arc::new(value, flags)?,
        })
    }

    /// Allocates a `UniqueArc` whose value is not initialised yet.
    pub fn new_uninit(flags: Flags) -> Result<UniqueArc<MaybeUninit<T>>, AllocError> {
        let inner = KBox::try_init::<AllocError>(
            try_init!(ArcInner {
                refcount: Refcount::new(1),
                data <- pin_init::uninit::<T, AllocError>(),
            }? AllocError),
            flags,
        )?;
        // INVARIANT: A new allocation with a count of one has a single owner.
        Ok(UniqueArc {
            // SAFETY: The allocation was made with `KBox` and counts one owner.
            inner: unsafe { Arc::from_inner(KBox::leak(inner).into()) },
        })
    }
}

impl<T: ?Sized> UniqueArc<T> {
    /// Returns a pointer to the value.
    #[inline]
    pub fn as_ptr(this: &Self) -> *const T {
        Arc::as_ptr(&this.inner)
    }
}

impl<T> UniqueArc<MaybeUninit<T>> {
    /// Writes `value` and returns the initialised `UniqueArc`.
    pub fn write(mut self, value: T) -> UniqueArc<T> {
        self.deref_mut().write(value);
        // SAFETY: The value was just written.
        unsafe { self.assume_init() }
    }

    /// Declares the value initialised.
    ///
    /// # Safety
    ///
    /// The value must be initialised.
    pub unsafe fn assume_init(self) -> UniqueArc<T> {
        let inner = ManuallyDrop::new(self).inner.ptr;
        // INVARIANT: The single owner passes to the new `UniqueArc`.
        UniqueArc {
            // SAFETY: The allocation is valid and its value initialised (caller's guarantee);
            // `MaybeUninit<T>` has the layout of `T`. The reference passes from `self`.
            inner: unsafe { Arc::from_inner(inner.cast()) },
        }
    }

    /// Initialises the value with `init`.
    #[inline]
    pub fn init_with<E>(mut self, init: impl Init<T, E>) -> core::result::Result<UniqueArc<T>, E> {
        // SAFETY: The value is uninitialised memory owned by this `UniqueArc`; on error it is
        // freed without dropping a value.
        match unsafe { pin_init::raw_try_init(self.as_mut_ptr(), init) } {
            // SAFETY: The value was just initialised.
            Ok(()) => Ok(unsafe { self.assume_init() }),
            Err(err) => Err(err),
        }
    }

    /// Pin-initialises the value with `init`.
    #[inline]
    pub fn pin_init_with<E>(
        mut self,
        init: impl PinInit<T, E>,
    ) -> core::result::Result<Pin<UniqueArc<T>>, E> {
        // SAFETY: The value is uninitialised memory owned by this `UniqueArc`, which never moves;
        // on error it is freed without dropping a value.
        match unsafe { pin_init::raw_try_init(self.as_mut_ptr(), init) } {
            // SAFETY: The value was just initialised.
            Ok(()) => Ok(unsafe { self.assume_init() }.into()),
            Err(err) => Err(err),
        }
    }
}

impl<T: ?Sized> From<UniqueArc<T>> for Pin<UniqueArc<T>> {
    fn from(obj: UniqueArc<T>) -> Self {
        // SAFETY: The value lives in an `Arc` allocation, which never moves it, and a
        // `Pin<UniqueArc<T>>` hands out no way to move it unless `T: Unpin`.
        unsafe { Pin::new_unchecked(obj) }
    }
}

impl<T: ?Sized> Deref for UniqueArc<T> {
    type Target = T;

    fn deref(&self) -> &Self::Target {
        self.inner.deref()
    }
}

impl<T: ?Sized> DerefMut for UniqueArc<T> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        // SAFETY: By the type invariant this is the only owner, so nobody else accesses the value.
        unsafe { &mut self.inner.ptr.as_mut().data }
    }
}

impl<T: ?Sized> Borrow<T> for UniqueArc<T> {
    fn borrow(&self) -> &T {
        self.deref()
    }
}

impl<T: ?Sized> BorrowMut<T> for UniqueArc<T> {
    fn borrow_mut(&mut self) -> &mut T {
        self.deref_mut()
    }
}

impl<T: fmt::Display + ?Sized> fmt::Display for UniqueArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.deref(), f)
    }
}

impl<T: fmt::Display + ?Sized> fmt::Display for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self.deref(), f)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for UniqueArc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.deref(), f)
    }
}

impl<T: fmt::Debug + ?Sized> fmt::Debug for Arc<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.deref(), f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{prelude::*, sync::new_mutex};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use drydock_host::fault::AllocFailure;

    /// Counts its drops in the given counter.
    struct Counted {
        drops: &'static AtomicUsize,
    }

    impl Drop for Counted {
        fn drop(&mut self) {
            self.drops.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn count(a: &Arc<impl ?Sized>) -> i32 {
        // SAFETY: The `Arc` keeps its `ArcInner` valid.
        unsafe { a.ptr.as_ref() }
            .refcount
            .as_atomic()
            .load(crate::sync::atomic::Relaxed)
    }

    #[test]
    fn clones_and_drops_count_and_the_last_drop_frees() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let a = Arc::new(Counted { drops: &DROPS }, GFP_KERNEL).unwrap();
        let b = a.clone();
        let c = Arc::from(b.as_arc_borrow());
        assert_eq!(count(&a), 3);
        drop(b);
        drop(c);
        assert_eq!(count(&a), 1);
        assert_eq!(DROPS.load(Ordering::Relaxed), 0);
        let raw = a.into_raw();
        // SAFETY: `raw` comes from `into_raw`.
        let borrowed = unsafe { ArcBorrow::from_raw(raw) };
        assert!(core::ptr::eq(&*borrowed, raw));
        // SAFETY: `raw` comes from `into_raw`, used once.
        drop(unsafe { Arc::from_raw(raw) });
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn allocation_failures_are_reported() {
        let failure = AllocFailure::next(usize::MAX);
        assert!(Arc::new(1u8, GFP_KERNEL).is_err());
        assert!(UniqueArc::new(1u8, GFP_KERNEL).is_err());
        assert!(UniqueArc::<u8>::new_uninit(GFP_KERNEL).is_err());
        assert_eq!(
            Arc::pin_init(new_mutex!(1u8), GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(failure.injected(), 4);
    }

    #[test]
    fn unique_arc_conversions() {
        static DROPS: AtomicUsize = AtomicUsize::new(0);
        let mut u = UniqueArc::new(1u32, GFP_KERNEL).unwrap();
        *u += 1;
        let a: Arc<u32> = u.into();
        assert_eq!(*a, 2);
        assert_eq!(count(&a), 1);

        let pinned = UniqueArc::<Counted>::new_uninit(GFP_KERNEL)
            .unwrap()
            .pin_init_with(pin_init::init!(Counted { drops: &DROPS }))
            .unwrap();
        let shared: Arc<Counted> = pinned.into();
        let other = shared.clone();
        assert!(Arc::into_unique_or_drop(shared).is_none());
        assert_eq!(DROPS.load(Ordering::Relaxed), 0);
        let back = Arc::into_unique_or_drop(other).unwrap();
        assert_eq!(count(&Arc::from(back)), 1);
        assert_eq!(DROPS.load(Ordering::Relaxed), 1);

        let failing = UniqueArc::<u32>::new_uninit(GFP_KERNEL)
            .unwrap()
            .init_with(Err::<u32, Error>(EBUSY));
        assert_eq!(failing.err(), Some(EBUSY));
    }

    #[test]
    fn foreign_ownable_round_trips_and_trait_objects() {
        let a = Arc::new(9u16, GFP_KERNEL).unwrap();
        let ptr = a.clone().into_foreign();
        assert_eq!(ptr.addr() % <Arc<u16> as ForeignOwnable>::FOREIGN_ALIGN, 0);
        // SAFETY: `ptr` comes from `into_foreign`.
        let borrowed = unsafe { <Arc<u16> as ForeignOwnable>::borrow(ptr) };
        assert_eq!(*borrowed, 9);
        assert_eq!(count(&a), 2);
        // SAFETY: As above; the borrow is over.
        drop(unsafe { <Arc<u16> as ForeignOwnable>::from_foreign(ptr) });
        assert_eq!(count(&a), 1);

        let any = Arc::new(5u64, GFP_KERNEL).unwrap();
        let any: Arc<dyn core::any::Any + Send + Sync> =
            // SAFETY: The pointer comes from `into_raw`, unsized to a trait object.
            unsafe { Arc::from_raw(Arc::into_raw(any) as *const (dyn core::any::Any + Send + Sync)) };
        let any = any.downcast::<u32>().unwrap_err();
        assert_eq!(*any.downcast::<u64>().unwrap(), 5);
    }
}
