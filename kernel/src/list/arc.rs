//! [`ListArc`]: the reference to an [`Arc`] value that a [`List`](crate::list::List) holds.
//!
//! Mirrors `rust/kernel/list/arc.rs` of Linux 7.3.

use crate::alloc::{AllocError, Flags};
use crate::init::InPlaceInit;
use crate::prelude::*;
use crate::sync::atomic::{ordering, AtomicFlag};
use crate::sync::{Arc, ArcBorrow, UniqueArc};
use core::marker::PhantomPinned;
use core::mem::ManuallyDrop;
use core::ops::Deref;
use core::pin::Pin;

/// A type that keeps track of whether a [`ListArc<Self, ID>`] exists, so that at most one does.
///
/// Mirrors `kernel::list::ListArcSafe`. Implement it with [`impl_list_arc_safe!`].
///
/// "The tracking" is how the type knows. It may err on one side only: it may believe a
/// `ListArc` exists when none does (which at worst refuses a `ListArc` that could have been made),
/// never the reverse (which could let two exist). So a type may track nothing and always believe
/// one exists (`untracked`): then a `ListArc` can only be made from a [`UniqueArc`], whose owner
/// knows there is no other reference at all. [`AtomicTracker`] tracks for real, which lets
/// [`ListArc::try_from_arc`] make one from any [`Arc`].
pub trait ListArcSafe<const ID: u64 = 0> {
    /// Tells the tracking that a `ListArc` now exists, made from a [`UniqueArc`].
    ///
    /// The tracking may already believe one exists (as long as none does).
    ///
    /// # Safety
    ///
    /// No `ListArc<Self, ID>` of this value may exist.
    unsafe fn on_create_list_arc_from_unique(self: Pin<&mut Self>);

    /// Tells the tracking that the `ListArc` is gone.
    ///
    /// # Safety
    ///
    /// No `ListArc<Self, ID>` of this value may exist, and the tracking must believe one does.
    unsafe fn on_drop_list_arc(&self);
}

/// A type that can tell, through a shared reference, whether a [`ListArc<Self, ID>`] may be made.
///
/// Mirrors `kernel::list::TryNewListArc`.
///
/// # Safety
///
/// [`TryNewListArc::try_new_list_arc`] must provide what its "Guarantees" section says.
pub unsafe trait TryNewListArc<const ID: u64 = 0>: ListArcSafe<ID> {
    /// Claims the right to make a `ListArc`; returns whether it did. Call it through
    /// [`ListArc::try_from_arc`].
    ///
    /// # Guarantees
    ///
    /// When it returns `true`, no `ListArc<Self, ID>` existed, and the tracking has gone from
    /// believing none exists to believing one does.
    fn try_new_list_arc(&self) -> bool;
}

/// Implements [`ListArcSafe`] for a type.
///
/// Mirrors the kernel's `impl_list_arc_safe!`. Two ways of tracking:
///
/// - `untracked;`: nothing is tracked (the type always believes a `ListArc` exists), so
///   `ListArc`s are only made from [`UniqueArc`]s;
/// - `tracked_by field: FieldType;`: the tracking is the field's, which must implement
///   [`ListArcSafe`] and be structurally pinned (usually an [`AtomicTracker`]); if the field
///   implements [`TryNewListArc`], so does the type. As in the kernel, the expansion names
///   `TryNewListArc` without a path: import it where the macro is used.
///
/// # Examples
///
/// ```
/// use kernel::list::{impl_list_arc_safe, AtomicTracker, ListArc, TryNewListArc};
/// use kernel::prelude::*;
/// use kernel::sync::Arc;
///
/// #[pin_data]
/// struct Tracked {
///     #[pin]
///     tracker: AtomicTracker,
/// }
/// impl_list_arc_safe! {
///     impl ListArcSafe<0> for Tracked { tracked_by tracker: AtomicTracker; }
/// }
///
/// let arc = Arc::pin_init(pin_init!(Tracked { tracker <- AtomicTracker::new() }), GFP_KERNEL)?;
/// let list_arc = ListArc::<Tracked>::try_from_arc(arc.clone()).ok().expect("the first one");
/// assert!(ListArc::<Tracked>::try_from_arc(arc.clone()).is_err());
/// drop(list_arc);
/// assert!(ListArc::<Tracked>::try_from_arc(arc).is_ok());
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
#[doc(hidden)]
macro_rules! impl_list_arc_safe {
    (impl$({$($generics:tt)*})? ListArcSafe<$num:tt> for $t:ty { untracked; } $($rest:tt)*) => {
        impl$(<$($generics)*>)? $crate::list::ListArcSafe<$num> for $t {
            unsafe fn on_create_list_arc_from_unique(self: ::core::pin::Pin<&mut Self>) {}
            unsafe fn on_drop_list_arc(&self) {}
        }
        $crate::list::impl_list_arc_safe! { $($rest)* }
    };

    (impl$({$($generics:tt)*})? ListArcSafe<$num:tt> for $t:ty {
        tracked_by $field:ident : $fty:ty;
    } $($rest:tt)*) => {
        impl$(<$($generics)*>)? $crate::list::ListArcSafe<$num> for $t {
            unsafe fn on_create_list_arc_from_unique(self: ::core::pin::Pin<&mut Self>) {
                ::pin_init::assert_pinned!($t, $field, $fty, inline);
                // SAFETY: The field is structurally pinned (checked just above).
                let field = unsafe {
                    ::core::pin::Pin::map_unchecked_mut(self, |me| &mut me.$field)
                };
                // SAFETY: No `ListArc` exists (our caller's guarantee); the field tracks them.
                unsafe {
                    <$fty as $crate::list::ListArcSafe<$num>>::on_create_list_arc_from_unique(field)
                };
            }
            unsafe fn on_drop_list_arc(&self) {
                // SAFETY: No `ListArc` exists and the tracking, the field's, believes one does
                // (our caller's guarantee).
                unsafe {
                    <$fty as $crate::list::ListArcSafe<$num>>::on_drop_list_arc(&self.$field)
                };
            }
        }
        // SAFETY: The tracking is the field's, whose `try_new_list_arc` gives the guarantees.
        unsafe impl$(<$($generics)*>)? $crate::list::TryNewListArc<$num> for $t
        where
            $fty: TryNewListArc<$num>,
        {
            fn try_new_list_arc(&self) -> bool {
                <$fty as $crate::list::TryNewListArc<$num>>::try_new_list_arc(&self.$field)
            }
        }
        $crate::list::impl_list_arc_safe! { $($rest)* }
    };

    () => {};
}
pub use impl_list_arc_safe;

/// An [`Arc`] reference that is the only one of its kind (`ID`) for its value: the one that may
/// put the value in a [`List<T, ID>`](crate::list::List) and change its `ID` links.
///
/// Mirrors `kernel::list::ListArc`. Ordinary `Arc`s of the value may exist besides it. The value's
/// [`ListArcSafe`] tracking is told when a `ListArc` is made and dropped; converting it to and
/// from a raw pointer leaves the tracking as it is.
///
/// Difference from the kernel: `CoercePointee` only with the `coerce-pointee` feature (see the
/// [module documentation](super)).
///
/// # Examples
///
/// ```
/// use kernel::list::{impl_list_arc_safe, ListArc};
/// use kernel::prelude::*;
///
/// struct Untracked(u32);
/// impl_list_arc_safe! {
///     impl ListArcSafe<0> for Untracked { untracked; }
///     impl ListArcSafe<1> for Untracked { untracked; }
/// }
///
/// let list_arc = ListArc::<Untracked>::new(Untracked(4), GFP_KERNEL)?;
/// let other = list_arc.clone_arc();
/// assert_eq!(other.0, 4);
///
/// // One `ListArc` per id, made together from a unique reference.
/// let unique = kernel::sync::UniqueArc::new(Untracked(5), GFP_KERNEL)?;
/// let (a, b): (ListArc<Untracked, 0>, ListArc<Untracked, 1>) = ListArc::pair_from_unique(unique);
/// assert!(core::ptr::eq(&*a, &*b));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - A value has at most one `ListArc<_, ID>` for each `ID`.
/// - The tracking of the value believes this `ListArc` exists.
#[repr(transparent)]
#[cfg_attr(feature = "coerce-pointee", derive(core::marker::CoercePointee))]
pub struct ListArc<T, const ID: u64 = 0>
where
    T: ListArcSafe<ID> + ?Sized,
{
    arc: Arc<T>,
}

impl<T: ListArcSafe<ID>, const ID: u64> ListArc<T, ID> {
    /// Allocates a value and returns its `ListArc`.
    #[inline]
    pub fn new(contents: T, flags: Flags) -> Result<Self, AllocError> {
        Ok(Self::from(UniqueArc::new(contents, flags)?))
    }

    /// Allocates a value, initialises it in place with `init` and returns its `ListArc`.
    ///
    /// The value is pinned, as in every `Arc`.
    #[inline]
    pub fn pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        Ok(Self::from(UniqueArc::try_pin_init(init, flags)?))
    }

    /// As [`ListArc::pin_init`], for an initialiser that does not need the value pinned.
    #[inline]
    pub fn init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        Ok(Self::from(UniqueArc::try_init(init, flags)?))
    }
}

impl<T, const ID: u64> From<UniqueArc<T>> for ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    /// Makes the `ListArc` of a value nobody else refers to.
    #[inline]
    fn from(unique: UniqueArc<T>) -> Self {
        Self::from(Pin::from(unique))
    }
}

impl<T, const ID: u64> From<Pin<UniqueArc<T>>> for ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    /// Makes the `ListArc` of a pinned value nobody else refers to.
    #[inline]
    fn from(mut unique: Pin<UniqueArc<T>>) -> Self {
        // SAFETY: The reference is unique, so no `ListArc` of the value exists.
        unsafe { T::on_create_list_arc_from_unique(unique.as_mut()) };
        // SAFETY: No `ListArc` exists and the tracking was just told one does.
        unsafe { Self::transmute_from_arc(Arc::from(unique)) }
    }
}

impl<T, const ID: u64> ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    /// Makes the `ListArc`s of two different ids of a value nobody else refers to.
    ///
    /// `ID` and `ID2` must differ (checked at build time).
    #[inline]
    pub fn pair_from_unique<const ID2: u64>(unique: UniqueArc<T>) -> (Self, ListArc<T, ID2>)
    where
        T: ListArcSafe<ID2>,
    {
        Self::pair_from_pin_unique(Pin::from(unique))
    }

    /// As [`ListArc::pair_from_unique`], for a pinned reference.
    #[inline]
    pub fn pair_from_pin_unique<const ID2: u64>(
        mut unique: Pin<UniqueArc<T>>,
    ) -> (Self, ListArc<T, ID2>)
    where
        T: ListArcSafe<ID2>,
    {
        build_assert!(ID != ID2);
        // SAFETY: The reference is unique, so no `ListArc` of either id exists.
        unsafe {
            <T as ListArcSafe<ID>>::on_create_list_arc_from_unique(unique.as_mut());
            <T as ListArcSafe<ID2>>::on_create_list_arc_from_unique(unique.as_mut());
        }
        let first = Arc::from(unique);
        let second = first.clone();
        // SAFETY: For each of the two (different) ids, no `ListArc` exists and the tracking was
        // told one does.
        unsafe {
            (
                Self::transmute_from_arc(first),
                ListArc::transmute_from_arc(second),
            )
        }
    }

    /// Makes the `ListArc` of `arc`'s value if it has none; gives `arc` back otherwise.
    pub fn try_from_arc(arc: Arc<T>) -> Result<Self, Arc<T>>
    where
        T: TryNewListArc<ID>,
    {
        if arc.try_new_list_arc() {
            // SAFETY: `try_new_list_arc` returned `true`: no `ListArc` existed and the tracking
            // now believes one does.
            Ok(unsafe { Self::transmute_from_arc(arc) })
        } else {
            Err(arc)
        }
    }

    /// Makes the `ListArc` of the borrowed value if it has none (taking a new reference).
    pub fn try_from_arc_borrow(arc: ArcBorrow<'_, T>) -> Option<Self>
    where
        T: TryNewListArc<ID>,
    {
        if arc.try_new_list_arc() {
            // SAFETY: As in `try_from_arc`.
            Some(unsafe { Self::transmute_from_arc(Arc::from(arc)) })
        } else {
            None
        }
    }

    /// Makes the `ListArc` of `arc`'s value if it has none, or if `arc` is its last reference.
    ///
    /// Otherwise `arc` is dropped; as it is not the last reference, that never drops the value.
    pub fn try_from_arc_or_drop(arc: Arc<T>) -> Option<Self>
    where
        T: TryNewListArc<ID>,
    {
        // The last reference is unique, so it may become the `ListArc` whatever the tracking says.
        Self::try_from_arc(arc)
            .map_or_else(|arc| Arc::into_unique_or_drop(arc).map(Self::from), Some)
    }

    /// Wraps `arc` without telling the tracking.
    ///
    /// # Safety
    ///
    /// No `ListArc<T, ID>` of the value may exist, and the tracking must believe one does.
    #[inline]
    unsafe fn transmute_from_arc(arc: Arc<T>) -> Self {
        // INVARIANT: The caller's guarantee.
        Self { arc }
    }

    /// Unwraps the `Arc` without telling the tracking, which still believes a `ListArc` exists.
    #[inline]
    fn transmute_to_arc(self) -> Arc<T> {
        let this = ManuallyDrop::new(self);
        // SAFETY: `this` is never used or dropped again, so the `Arc` is moved out once.
        unsafe { core::ptr::read(&this.arc) }
    }

    /// Gives up the `ListArc` and returns a pointer to the value, as [`Arc::into_raw`] does.
    ///
    /// The tracking still believes the `ListArc` exists: [`ListArc::from_raw`] takes it back.
    #[inline]
    pub fn into_raw(self) -> *const T {
        Arc::into_raw(Self::transmute_to_arc(self))
    }

    /// Takes back a `ListArc` given up with [`ListArc::into_raw`].
    ///
    /// # Safety
    ///
    /// - `ptr` must meet the requirements of [`Arc::from_raw`].
    /// - No `ListArc<T, ID>` of the value may exist, and the tracking must believe one does.
    #[inline]
    pub unsafe fn from_raw(ptr: *const T) -> Self {
        // SAFETY: The caller's guarantee.
        unsafe { Self::transmute_from_arc(Arc::from_raw(ptr)) }
    }

    /// Turns the `ListArc` into an ordinary [`Arc`], telling the tracking.
    #[inline]
    pub fn into_arc(self) -> Arc<T> {
        let arc = Self::transmute_to_arc(self);
        // SAFETY: The `ListArc` is gone; the tracking still believes it exists.
        unsafe { T::on_drop_list_arc(&arc) };
        arc
    }

    /// Returns a new ordinary [`Arc`] of the value.
    #[inline]
    pub fn clone_arc(&self) -> Arc<T> {
        self.arc.clone()
    }

    /// Returns the `ListArc` as a reference to an [`Arc`] (for methods with an `&Arc` receiver).
    #[inline]
    pub fn as_arc(&self) -> &Arc<T> {
        &self.arc
    }

    /// Returns an [`ArcBorrow`] of the value.
    #[inline]
    pub fn as_arc_borrow(&self) -> ArcBorrow<'_, T> {
        self.arc.as_arc_borrow()
    }

    /// Returns whether two `ListArc`s refer to the same value.
    #[inline]
    pub fn ptr_eq(this: &Self, other: &Self) -> bool {
        Arc::ptr_eq(&this.arc, &other.arc)
    }
}

impl<T, const ID: u64> Deref for ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    type Target = T;

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.arc
    }
}

impl<T, const ID: u64> Drop for ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    #[inline]
    fn drop(&mut self) {
        // SAFETY: This `ListArc` is going away; by the type invariant the tracking believes it
        // exists.
        unsafe { T::on_drop_list_arc(&self.arc) };
    }
}

impl<T, const ID: u64> AsRef<Arc<T>> for ListArc<T, ID>
where
    T: ListArcSafe<ID> + ?Sized,
{
    #[inline]
    fn as_ref(&self) -> &Arc<T> {
        self.as_arc()
    }
}

/// Tracking for [`ListArcSafe`] with an atomic flag, which supports [`TryNewListArc`].
///
/// Mirrors `kernel::list::AtomicTracker`. Embed one (pinned) and name it with `tracked_by` in
/// [`impl_list_arc_safe!`].
///
/// # Invariants
///
/// If the flag is `false`, no `ListArc<_, ID>` of the value exists.
#[repr(transparent)]
pub struct AtomicTracker<const ID: u64 = 0> {
    inner: AtomicFlag,
    // Pinned so that the tracker cannot be moved out of (or into) a value that has a `ListArc`,
    // which would break the invariant.
    _pin: PhantomPinned,
}

impl<const ID: u64> AtomicTracker<ID> {
    /// Returns an initialiser of a tracker that believes no `ListArc` exists.
    pub fn new() -> impl PinInit<Self> {
        // INVARIANT: The value is being initialised, so no `ListArc` of it exists yet.
        Self {
            inner: AtomicFlag::new(false),
            _pin: PhantomPinned,
        }
    }

    /// Returns the flag of a pinned tracker.
    fn project_inner(self: Pin<&mut Self>) -> &mut AtomicFlag {
        // SAFETY: The flag is not structurally pinned: it may be accessed mutably.
        unsafe { &mut Pin::into_inner_unchecked(self).inner }
    }
}

impl<const ID: u64> ListArcSafe<ID> for AtomicTracker<ID> {
    unsafe fn on_create_list_arc_from_unique(self: Pin<&mut Self>) {
        // INVARIANT: A `ListArc` now exists; the flag may be `true`.
        *self.project_inner().get_mut() = true;
    }

    unsafe fn on_drop_list_arc(&self) {
        // INVARIANT: The caller guarantees that no `ListArc` exists. Release: what the owner of
        // the `ListArc` did happens before the next owner's successful `try_new_list_arc`.
        self.inner.store(false, ordering::Release);
    }
}

// SAFETY: The exchange succeeds only if the flag was `false`, so (by the type invariant) no
// `ListArc` existed, and it sets the flag; the acquire pairs with the release of the previous
// `ListArc`'s drop.
unsafe impl<const ID: u64> TryNewListArc<ID> for AtomicTracker<ID> {
    fn try_new_list_arc(&self) -> bool {
        self.inner.cmpxchg(false, true, ordering::Acquire).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_host::fault::AllocFailure;

    struct Untracked(u8);
    impl_list_arc_safe! {
        impl ListArcSafe<0> for Untracked { untracked; }
    }

    #[test]
    fn allocation_failures_are_reported_and_leave_no_list_arc() {
        let failure = AllocFailure::next(3);
        assert_eq!(
            ListArc::<Untracked>::new(Untracked(1), GFP_KERNEL).err(),
            Some(AllocError)
        );
        assert_eq!(
            ListArc::<Untracked>::pin_init(Ok::<_, Error>(Untracked(2)), GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(
            ListArc::<Untracked>::init(Ok::<_, Error>(Untracked(3)), GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(failure.injected(), 3);
        drop(failure);
        let made = ListArc::<Untracked>::init(Ok::<_, Error>(Untracked(4)), GFP_KERNEL).unwrap();
        assert_eq!(made.0, 4);
    }

    #[test]
    fn a_failing_initialiser_is_reported() {
        let result = ListArc::<Untracked>::pin_init(Err::<Untracked, _>(EBUSY), GFP_KERNEL);
        assert_eq!(result.err(), Some(EBUSY));
    }
}
