//! An intrusive, circular, doubly linked list of reference-counted values.
//!
//! Mirrors `rust/kernel/list.rs` (with `list/arc.rs`, `list/arc_field.rs` and
//! `list/impl_list_item_mod.rs`) of Linux 7.3. The kernel's list is written in Rust over raw
//! pointers, without C; so is this one, and it behaves as the kernel's does.
//!
//! A value that can be in a [`List`] embeds the list's links ([`ListLinks`], or
//! [`ListLinksSelfPtr`] for lists of trait objects) and lives in an [`Arc`](crate::sync::Arc).
//! What a list holds is a [`ListArc`]: the one reference of its kind that may change the links,
//! so that a value is in at most one list per link field. [`impl_list_arc_safe!`] declares how a
//! type tracks its `ListArc` and [`impl_list_item!`] where its links are. A value may have several
//! link fields, told apart by the constant `ID`, and be in several lists at once.
//!
//! Difference from the kernel: `ListArc` derives `CoercePointee` (unstable) only with the crate's
//! `coerce-pointee` feature; without it a `ListArc<Wrapper<A>>` does not coerce to
//! `ListArc<Wrapper<dyn Trait>>` by itself: convert through the raw pointer,
//! `unsafe { ListArc::from_raw(ListArc::into_raw(a) as *const _) }`.
//!
//! # Examples
//!
//! ```
//! use kernel::list::{impl_list_arc_safe, impl_list_item, List, ListArc, ListLinks};
//! use kernel::prelude::*;
//!
//! #[pin_data]
//! struct Job {
//!     id: u32,
//!     #[pin]
//!     links: ListLinks,
//! }
//!
//! impl_list_arc_safe! {
//!     impl ListArcSafe<0> for Job { untracked; }
//! }
//! impl_list_item! {
//!     impl ListItem<0> for Job { using ListLinks { self.links }; }
//! }
//!
//! fn job(id: u32) -> Result<ListArc<Job>> {
//!     ListArc::pin_init(try_pin_init!(Job { id, links <- ListLinks::new() }), GFP_KERNEL)
//! }
//!
//! let mut queue = List::<Job>::new();
//! queue.push_back(job(1)?);
//! queue.push_back(job(2)?);
//! queue.push_front(job(0)?);
//! assert!(queue.iter().map(|j| j.id).eq([0, 1, 2]));
//! assert_eq!(queue.pop_front().map(|j| j.id), Some(0));
//! # Ok::<(), Error>(())
//! ```

use crate::sync::ArcBorrow;
use crate::types::Opaque;
use core::iter::{DoubleEndedIterator, FusedIterator};
use core::marker::PhantomData;
use core::ptr;
use pin_init::PinInit;

mod impl_list_item_mod;
#[doc(inline)]
pub use self::impl_list_item_mod::{
    impl_has_list_links, impl_has_list_links_self_ptr, impl_list_item, HasListLinks, HasSelfPtr,
};

mod arc;
#[doc(inline)]
pub use self::arc::{impl_list_arc_safe, AtomicTracker, ListArc, ListArcSafe, TryNewListArc};

mod arc_field;
#[doc(inline)]
pub use self::arc_field::{define_list_arc_field_getter, ListArcField};

/// A doubly linked list of [`ListArc<T, ID>`] references, linked through the values' `ID` links.
///
/// Mirrors `kernel::list::List`. The list owns the `ListArc`s of its values: pushing one in gives
/// it to the list, popping or removing gives it back. Insertion and removal at either end, at a
/// [`Cursor`] or of a known value take constant time; nothing allocates.
///
/// # Examples
///
/// A list of trait objects needs [`ListLinksSelfPtr`], which records where the whole value is:
///
/// ```
/// use kernel::list::{impl_list_arc_safe, impl_list_item, List, ListArc, ListLinksSelfPtr};
/// use kernel::prelude::*;
///
/// trait Shape {
///     fn area(&self) -> u32;
/// }
/// struct Square(u32);
/// impl Shape for Square {
///     fn area(&self) -> u32 { self.0 * self.0 }
/// }
///
/// #[pin_data]
/// struct Entry<S: ?Sized> {
///     #[pin]
///     links: ListLinksSelfPtr<Entry<dyn Shape>>,
///     shape: S,
/// }
/// impl_list_arc_safe! {
///     impl{S: ?Sized} ListArcSafe<0> for Entry<S> { untracked; }
/// }
/// impl_list_item! {
///     impl ListItem<0> for Entry<dyn Shape> { using ListLinksSelfPtr { self.links }; }
/// }
///
/// let square = ListArc::pin_init(
///     try_pin_init!(Entry { links <- ListLinksSelfPtr::new(), shape: Square(3) }),
///     GFP_KERNEL,
/// )?;
/// // No implicit unsizing here (see the module documentation).
/// // SAFETY: The pointer comes from `into_raw`; the `ListArc` is given back at once.
/// let shape: ListArc<Entry<dyn Shape>> =
///     unsafe { ListArc::from_raw(ListArc::into_raw(square) as *const Entry<dyn Shape>) };
///
/// let mut shapes = List::<Entry<dyn Shape>>::new();
/// shapes.push_back(shape);
/// assert_eq!(shapes.iter().map(|e| e.shape.area()).sum::<u32>(), 9);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `first` is null if the list is empty, and otherwise points to the fields of the links of its
///   first value.
/// - The `next` and `prev` pointers of the values in the list are valid and form one cycle.
/// - The list owns the `ListArc<T, ID>` of each of its values and has exclusive access to their
///   `ID` links.
pub struct List<T: ?Sized + ListItem<ID>, const ID: u64 = 0> {
    first: *mut ListLinksFields,
    _ty: PhantomData<ListArc<T, ID>>,
}

// SAFETY: A list is a collection of `ListArc<T, ID>`; moving it to another thread moves them.
unsafe impl<T, const ID: u64> Send for List<T, ID>
where
    ListArc<T, ID>: Send,
    T: ?Sized + ListItem<ID>,
{
}

// SAFETY: A shared list gives only shared access to its `ListArc<T, ID>`s.
unsafe impl<T, const ID: u64> Sync for List<T, ID>
where
    ListArc<T, ID>: Sync,
    T: ?Sized + ListItem<ID>,
{
}

/// A type whose [`ListArc<Self, ID>`] can be put in a [`List<Self, ID>`]: it has `ID` links and
/// knows how to get from the value to them and back.
///
/// Mirrors `kernel::list::ListItem`. Implement it with [`impl_list_item!`].
///
/// # Safety
///
/// The implementation must provide what each method's "Guarantees" section says.
pub unsafe trait ListItem<const ID: u64 = 0>: ListArcSafe<ID> {
    /// Returns a pointer to the `ID` links of the value at `me`.
    ///
    /// # Guarantees
    ///
    /// Between a call to [`ListItem::prepare_to_insert`] and the next call to
    /// [`ListItem::post_remove`], this returns what `prepare_to_insert` returned. Otherwise it
    /// returns links whose two pointers are null, and which must only be read.
    ///
    /// # Safety
    ///
    /// `me` must point to a valid value (not necessarily in an `Arc`).
    unsafe fn view_links(me: *const Self) -> *mut ListLinks<ID>;

    /// Returns a pointer to the value whose links are at `me`, while it is in a list.
    ///
    /// # Guarantees
    ///
    /// The result is the pointer passed to the last call to [`ListItem::prepare_to_insert`], and
    /// stays valid until the next call to [`ListItem::post_remove`].
    ///
    /// # Safety
    ///
    /// `me` must come from the last call to `prepare_to_insert`, or from a call to `view_links`
    /// made after it, and `post_remove` must not have been called since.
    unsafe fn view_value(me: *mut ListLinks<ID>) -> *const Self;

    /// Called when the value at `me` is put in a [`List`]; returns its links.
    ///
    /// # Guarantees
    ///
    /// The caller has exclusive access to the returned links until it calls
    /// [`ListItem::post_remove`].
    ///
    /// # Safety
    ///
    /// - `me` must point to a valid value in an [`Arc`](crate::sync::Arc), whose [`ListArc`] the
    ///   caller owns and keeps until it has called `post_remove`.
    /// - Calls to `prepare_to_insert` and `post_remove` on a value must alternate.
    unsafe fn prepare_to_insert(me: *const Self) -> *mut ListLinks<ID>;

    /// Undoes [`ListItem::prepare_to_insert`] when the value leaves its list; returns the value.
    ///
    /// # Guarantees
    ///
    /// The result is the pointer that was passed to `prepare_to_insert`.
    ///
    /// # Safety
    ///
    /// `me` must be what the last call to `prepare_to_insert` returned.
    unsafe fn post_remove(me: *mut ListLinks<ID>) -> *const Self;
}

/// The two pointers of a value's links.
#[repr(C)]
#[derive(Copy, Clone)]
struct ListLinksFields {
    next: *mut ListLinksFields,
    prev: *mut ListLinksFields,
}

/// The links of a value in a [`List`]: its next and previous neighbours.
///
/// Mirrors `kernel::list::ListLinks`. Embed one (pinned) in a type per list it can be in, and
/// name it in [`impl_list_item!`]. It cannot be read from outside the list.
///
/// # Invariants
///
/// Both pointers are null exactly when the value is in no list.
#[repr(transparent)]
pub struct ListLinks<const ID: u64 = 0> {
    // `Opaque` makes the type `!Unpin` and allows the list to write through shared access.
    inner: Opaque<ListLinksFields>,
}

// SAFETY: The pointers are only used by the owner of the value's `ListArc<_, ID>`, which is `Send`
// only when the value can be moved between threads.
unsafe impl<const ID: u64> Send for ListLinks<ID> {}

// SAFETY: Shared access to `ListLinks` exposes nothing: the type is opaque.
unsafe impl<const ID: u64> Sync for ListLinks<ID> {}

impl<const ID: u64> ListLinks<ID> {
    /// Returns an initialiser of links that are in no list.
    pub fn new() -> impl PinInit<Self> {
        // INVARIANT: The value is in no list: it is being initialised, so no `ListArc` of it can
        // exist yet.
        ListLinks {
            inner: Opaque::new(ListLinksFields {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
            }),
        }
    }

    /// Returns the pointer fields of the links at `me`.
    ///
    /// # Safety
    ///
    /// `me` must point to valid links.
    #[inline]
    unsafe fn fields(me: *mut Self) -> *mut ListLinksFields {
        // SAFETY: `me` is valid (caller's guarantee); no reference is made.
        Opaque::cast_into(unsafe { &raw const (*me).inner })
    }

    /// Returns the links whose pointer fields are at `me` (the inverse of [`ListLinks::fields`]).
    #[inline]
    fn from_fields(me: *mut ListLinksFields) -> *mut Self {
        // `ListLinks` is a transparent wrapper of the fields.
        me.cast()
    }
}

/// Links that also record where their whole value is, for lists of unsized values (trait objects).
///
/// Mirrors `kernel::list::ListLinksSelfPtr`. A pointer to a `dyn Trait` value carries its
/// vtable, which the links alone cannot give back; these links keep the full pointer while the
/// value is in a list.
#[repr(C)]
pub struct ListLinksSelfPtr<T: ?Sized, const ID: u64 = 0> {
    /// The links proper, public so that [`impl_has_list_links!`] can name them.
    pub inner: ListLinks<ID>,
    // An `Opaque` because a null `*const T` cannot be made for an unsized `T`: the pointer is
    // left uninitialised until the value is first inserted.
    self_ptr: Opaque<*const T>,
}

// SAFETY: The links and the pointer may move between threads when the value may.
unsafe impl<T: ?Sized + Send, const ID: u64> Send for ListLinksSelfPtr<T, ID> {}

// SAFETY: Shared access exposes nothing: both fields are opaque (`inner` is public, but opaque
// itself).
unsafe impl<T: ?Sized + Sync, const ID: u64> Sync for ListLinksSelfPtr<T, ID> {}

impl<T: ?Sized, const ID: u64> ListLinksSelfPtr<T, ID> {
    /// Returns an initialiser of links that are in no list.
    pub fn new() -> impl PinInit<Self> {
        // INVARIANT: As for `ListLinks::new`.
        Self {
            inner: ListLinks {
                inner: Opaque::new(ListLinksFields {
                    next: ptr::null_mut(),
                    prev: ptr::null_mut(),
                }),
            },
            self_ptr: Opaque::uninit(),
        }
    }

    /// Returns a pointer to the recorded pointer to the whole value.
    ///
    /// # Safety
    ///
    /// `me` must point to a valid `ListLinksSelfPtr`.
    pub unsafe fn raw_get_self_ptr(me: *const Self) -> *const Opaque<*const T> {
        // SAFETY: `me` is valid (caller's guarantee); no reference is made.
        unsafe { &raw const (*me).self_ptr }
    }
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> List<T, ID> {
    /// Returns an empty list.
    pub const fn new() -> Self {
        // INVARIANT: An empty list has a null `first`.
        Self {
            first: ptr::null_mut(),
            _ty: PhantomData,
        }
    }

    /// Returns whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.first.is_null()
    }

    /// Links `item` into the cycle just before `next`, or as the only element if the list is
    /// empty; returns its fields. `first` is left unchanged unless the list was empty.
    ///
    /// # Safety
    ///
    /// `next` must be a value of this list, or null if and only if the list is empty.
    unsafe fn insert_inner(
        &mut self,
        item: ListArc<T, ID>,
        next: *mut ListLinksFields,
    ) -> *mut ListLinksFields {
        let value = ListArc::into_raw(item);
        // SAFETY: `value` is in an `Arc` and this list now owns its `ListArc` (given up by
        // `into_raw`), which it keeps until `remove_internal_inner` calls `post_remove`; a
        // `ListArc` in nobody's list has had `post_remove` called after any previous insertion.
        let links = unsafe { T::prepare_to_insert(value) };
        // SAFETY: The links are valid until `post_remove`.
        let fields = unsafe { ListLinks::fields(links) };
        if next.is_null() {
            // INVARIANT: A single value forms a cycle by itself.
            // SAFETY: `prepare_to_insert` gave the list exclusive access to `fields`.
            unsafe {
                fields.write(ListLinksFields {
                    next: fields,
                    prev: fields,
                })
            };
            self.first = fields;
        } else {
            // SAFETY: `next` is a value of the list (caller's guarantee), so it and its `prev`
            // are valid and the list has exclusive access to them and to `fields`.
            // INVARIANT: `fields` goes between `prev` and `next` in the cycle.
            unsafe {
                let prev = (*next).prev;
                fields.write(ListLinksFields { next, prev });
                (*prev).next = fields;
                (*next).prev = fields;
            }
        }
        fields
    }

    /// Appends `item` at the back of the list.
    pub fn push_back(&mut self, item: ListArc<T, ID>) {
        // SAFETY: `first` is a value of the list, null exactly when the list is empty; inserting
        // before the first value of a cycle makes it the last.
        unsafe { self.insert_inner(item, self.first) };
    }

    /// Puts `item` at the front of the list.
    pub fn push_front(&mut self, item: ListArc<T, ID>) {
        // SAFETY: As in `push_back`.
        let fields = unsafe { self.insert_inner(item, self.first) };
        // INVARIANT: The new value, last of the cycle, becomes its first.
        self.first = fields;
    }

    /// Removes the value at the back of the list and returns it, if there is one.
    pub fn pop_back(&mut self) -> Option<ListArc<T, ID>> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: The list is not empty, so `first` is valid; its `prev` is the last value.
        Some(unsafe { self.remove_internal((*self.first).prev) })
    }

    /// Removes the value at the front of the list and returns it, if there is one.
    pub fn pop_front(&mut self) -> Option<ListArc<T, ID>> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: The list is not empty, so `first` is a value of the list.
        Some(unsafe { self.remove_internal(self.first) })
    }

    /// Removes `item` from this list and returns its `ListArc`, or `None` if it is in no list.
    ///
    /// Beware of `core::mem::take` and `core::mem::swap` on lists: they make it easy to call this
    /// on the wrong list.
    ///
    /// # Safety
    ///
    /// `item` must not be in another list with the same `ID`.
    pub unsafe fn remove(&mut self, item: &T) -> Option<ListArc<T, ID>> {
        // SAFETY: `item` is a valid value.
        let fields = unsafe { ListLinks::fields(T::view_links(item)) };
        // SAFETY: The links are valid. No data race: if `item` is in no list they are null and
        // only read; if it is in a list, that is this one (caller's guarantee), to which we have
        // exclusive access.
        let ListLinksFields { next, prev } = unsafe { fields.read() };
        debug_assert_eq!(next.is_null(), prev.is_null());
        if next.is_null() {
            return None;
        }
        // The value is in this list. Reach its fields through its neighbour rather than through
        // `item`, a shared reference, so that the pointer used to modify them is one the list
        // derived from the pointer it was given at insertion.
        // SAFETY: `next` is a value of this list.
        let fields = unsafe { (*next).prev };
        // SAFETY: `fields` is a value of this list with these neighbours.
        Some(unsafe { self.remove_internal_inner(fields, next, prev) })
    }

    /// Removes the value whose fields are at `item` from the list.
    ///
    /// # Safety
    ///
    /// `item` must be a value of this list.
    unsafe fn remove_internal(&mut self, item: *mut ListLinksFields) -> ListArc<T, ID> {
        // SAFETY: `item` is a value of this list, to which we have exclusive access.
        let ListLinksFields { next, prev } = unsafe { item.read() };
        // SAFETY: `next` and `prev` are the neighbours of `item`.
        unsafe { self.remove_internal_inner(item, next, prev) }
    }

    /// Unlinks `item`, whose neighbours are `next` and `prev`, and gives back its `ListArc`.
    ///
    /// # Safety
    ///
    /// `item` must be a value of this list with `(*item).next == next` and `(*item).prev == prev`.
    unsafe fn remove_internal_inner(
        &mut self,
        item: *mut ListLinksFields,
        next: *mut ListLinksFields,
        prev: *mut ListLinksFields,
    ) -> ListArc<T, ID> {
        // INVARIANT: Join the neighbours (a no-op if `item` is alone: both are `item`), and make
        // the links of `item` null: it is in no list any more.
        // SAFETY: The three are values of this list, to which we have exclusive access.
        unsafe {
            (*next).prev = prev;
            (*prev).next = next;
            item.write(ListLinksFields {
                next: ptr::null_mut(),
                prev: ptr::null_mut(),
            });
        }
        if self.first == item {
            // INVARIANT: The next value becomes the first, or none if `item` was alone (then
            // `next` is `item`, whose links are now null).
            // SAFETY: `prev` is still a value of this list, or `item` itself if it was alone.
            self.first = unsafe { (*prev).next };
        }
        // SAFETY: `item` was in this list, so its links came from `prepare_to_insert`.
        let value = unsafe { T::post_remove(ListLinks::from_fields(item)) };
        // SAFETY: `value` is the pointer `insert_inner` gave up with `ListArc::into_raw`; the
        // tracking still counts that `ListArc`, and `post_remove` was called.
        unsafe { ListArc::from_raw(value) }
    }

    /// Moves all the values of `other`, in order, to the back of this list; `other` is left empty.
    pub fn push_all_back(&mut self, other: &mut List<T, ID>) {
        if self.is_empty() {
            // INVARIANT: The values of `other` become this list's.
            self.first = other.first;
        } else if !other.is_empty() {
            // Splice the two cycles: this list's last value is followed by `other`'s first, and
            // `other`'s last by this list's first.
            // SAFETY: Both lists are non-empty, so their `first` values and those values' `prev`
            // are valid, and we have exclusive access to both lists.
            unsafe {
                let (self_first, other_first) = (self.first, other.first);
                let self_last = (*self_first).prev;
                let other_last = (*other_first).prev;
                (*self_last).next = other_first;
                (*other_first).prev = self_last;
                (*other_last).next = self_first;
                (*self_first).prev = other_last;
            }
        }
        // INVARIANT: Its values now belong to this list.
        other.first = ptr::null_mut();
    }

    /// Returns a cursor before the first value of the list.
    pub fn cursor_front(&mut self) -> Cursor<'_, T, ID> {
        // INVARIANT: `first` is null or a value of the list.
        Cursor {
            next: self.first,
            list: self,
        }
    }

    /// Returns a cursor after the last value of the list.
    pub fn cursor_back(&mut self) -> Cursor<'_, T, ID> {
        // INVARIANT: A null `next` is the position after the last value.
        Cursor {
            next: ptr::null_mut(),
            list: self,
        }
    }

    /// Returns an iterator over the values of the list, front to back.
    pub fn iter(&self) -> Iter<'_, T, ID> {
        // INVARIANT: Both pointers are the list's `first`.
        Iter {
            current: self.first,
            stop: self.first,
            _ty: PhantomData,
        }
    }
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> Default for List<T, ID> {
    fn default() -> Self {
        List::new()
    }
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> Drop for List<T, ID> {
    fn drop(&mut self) {
        // Give back (and drop) every `ListArc`, leaving the values' links null.
        while self.pop_front().is_some() {}
    }
}

/// An iterator over the values of a [`List`], as [`ArcBorrow`]s.
///
/// Mirrors `kernel::list::Iter`.
///
/// # Invariants
///
/// - A [`List`] is borrowed (shared) for `'a`.
/// - `current` is null or a value of that list.
/// - `stop` is that list's `first`.
#[derive(Clone)]
pub struct Iter<'a, T: ?Sized + ListItem<ID>, const ID: u64 = 0> {
    current: *mut ListLinksFields,
    stop: *mut ListLinksFields,
    _ty: PhantomData<&'a ListArc<T, ID>>,
}

impl<'a, T: ?Sized + ListItem<ID>, const ID: u64> Iterator for Iter<'a, T, ID> {
    type Item = ArcBorrow<'a, T>;

    fn next(&mut self) -> Option<ArcBorrow<'a, T>> {
        if self.current.is_null() {
            return None;
        }
        let current = self.current;
        // SAFETY: `current` is a value of the list, which is borrowed, so nobody modifies it.
        let next = unsafe { (*current).next };
        // INVARIANT: Coming back to the first value ends the walk.
        self.current = if next == self.stop {
            ptr::null_mut()
        } else {
            next
        };
        // SAFETY: `current` is a value of the list, whose links came from `prepare_to_insert`.
        let value = unsafe { T::view_value(ListLinks::from_fields(current)) };
        // SAFETY: The values of a list are in `Arc`s, and the list holds their `ListArc`s (so no
        // `UniqueArc` of them exists); the list is borrowed for `'a`, so the value stays in it,
        // and alive, for `'a`.
        Some(unsafe { ArcBorrow::from_raw(value) })
    }
}

impl<'a, T: ?Sized + ListItem<ID>, const ID: u64> FusedIterator for Iter<'a, T, ID> {}

impl<'a, T: ?Sized + ListItem<ID>, const ID: u64> IntoIterator for &'a List<T, ID> {
    type IntoIter = Iter<'a, T, ID>;
    type Item = ArcBorrow<'a, T>;

    fn into_iter(self) -> Iter<'a, T, ID> {
        self.iter()
    }
}

/// A position in a [`List`]: between two values, or at an end. There is no current value.
///
/// Mirrors `kernel::list::Cursor`. The values on either side can be looked at, and removed,
/// with [`Cursor::peek_next`] and [`Cursor::peek_prev`]; values can be inserted on either side.
///
/// # Examples
///
/// Keeping a list sorted while inserting:
///
/// ```
/// use kernel::list::{impl_list_arc_safe, impl_list_item, List, ListArc, ListLinks};
/// use kernel::prelude::*;
///
/// #[pin_data]
/// struct Num {
///     n: u32,
///     #[pin]
///     links: ListLinks,
/// }
/// impl_list_arc_safe! { impl ListArcSafe<0> for Num { untracked; } }
/// impl_list_item! { impl ListItem<0> for Num { using ListLinks { self.links }; } }
///
/// fn insert_sorted(list: &mut List<Num>, n: u32) -> Result {
///     let init = try_pin_init!(Num { n, links <- ListLinks::new() });
///     let item = ListArc::pin_init(init, GFP_KERNEL)?;
///     let mut cursor = list.cursor_front();
///     while cursor.peek_next().is_some_and(|next| next.n < n) {
///         cursor.move_next();
///     }
///     cursor.insert(item);
///     Ok(())
/// }
///
/// let mut list = List::new();
/// for n in [5, 1, 4, 2] {
///     insert_sorted(&mut list, n)?;
/// }
/// let mut cursor = list.cursor_back();
/// assert_eq!(cursor.remove_prev().map(|v| v.n), Some(5));
/// assert!(list.iter().map(|v| v.n).eq([1, 2, 4]));
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `next` is null (the position after the last value) or a value of `list`.
pub struct Cursor<'a, T: ?Sized + ListItem<ID>, const ID: u64 = 0> {
    list: &'a mut List<T, ID>,
    next: *mut ListLinksFields,
}

impl<'a, T: ?Sized + ListItem<ID>, const ID: u64> Cursor<'a, T, ID> {
    /// Returns the value before the cursor, or null at the front.
    fn prev_ptr(&self) -> *mut ListLinksFields {
        let first = self.list.first;
        if self.next == first {
            // At the front (which, in an empty list, is also the back).
            return ptr::null_mut();
        }
        // At the back, the value before is the last one: the first one's `prev`.
        let after = if self.next.is_null() {
            first
        } else {
            self.next
        };
        // SAFETY: `after` is not null: either `next` is, and then `first` is not (they differ);
        // or it is `next`. So it is a value of the list, which the cursor borrows exclusively.
        unsafe { (*after).prev }
    }

    /// Returns the value after the cursor, if there is one.
    pub fn peek_next(&mut self) -> Option<CursorPeek<'_, 'a, T, true, ID>> {
        if self.next.is_null() {
            return None;
        }
        // INVARIANT: `next` is a value of the list, and the one after the cursor.
        Some(CursorPeek {
            ptr: self.next,
            cursor: self,
        })
    }

    /// Returns the value before the cursor, if there is one.
    pub fn peek_prev(&mut self) -> Option<CursorPeek<'_, 'a, T, false, ID>> {
        let prev = self.prev_ptr();
        if prev.is_null() {
            return None;
        }
        // INVARIANT: `prev` is a value of the list, the one before the cursor, so not `next`.
        Some(CursorPeek {
            ptr: prev,
            cursor: self,
        })
    }

    /// Moves the cursor past the next value; returns `false` (and stays) at the back.
    pub fn move_next(&mut self) -> bool {
        if self.next.is_null() {
            return false;
        }
        // SAFETY: `next` is a value of the list, which the cursor borrows exclusively.
        let after = unsafe { (*self.next).next };
        // INVARIANT: Past the last value (whose `next` is the first) is the back: null.
        self.next = if after == self.list.first {
            ptr::null_mut()
        } else {
            after
        };
        true
    }

    /// Moves the cursor back past the previous value; returns `false` (and stays) at the front.
    pub fn move_prev(&mut self) -> bool {
        if self.next == self.list.first {
            return false;
        }
        // INVARIANT: `prev_ptr` returns a value of the list (not null, as we are not at the
        // front).
        self.next = self.prev_ptr();
        true
    }

    /// Inserts `item` at the cursor's position; returns its fields.
    fn insert_inner(&mut self, item: ListArc<T, ID>) -> *mut ListLinksFields {
        // Inserting before `next`, or at the back: before the first value of the cycle.
        let before = if self.next.is_null() {
            self.list.first
        } else {
            self.next
        };
        // SAFETY: `before` is a value of the list, or null when `first` is: when it is empty.
        let fields = unsafe { self.list.insert_inner(item, before) };
        if self.next == self.list.first {
            // INVARIANT: Inserted at the front (or into an empty list), the value is the first.
            self.list.first = fields;
        }
        fields
    }

    /// Inserts `item` at the cursor's position, consuming the cursor.
    pub fn insert(mut self, item: ListArc<T, ID>) {
        self.insert_inner(item);
    }

    /// Inserts `item` at the cursor's position; it becomes the value after the cursor.
    pub fn insert_next(&mut self, item: ListArc<T, ID>) {
        // INVARIANT: The new value is in the list.
        self.next = self.insert_inner(item);
    }

    /// Inserts `item` at the cursor's position; it becomes the value before the cursor.
    pub fn insert_prev(&mut self, item: ListArc<T, ID>) {
        self.insert_inner(item);
    }

    /// Removes the value after the cursor and returns it, if there is one.
    pub fn remove_next(&mut self) -> Option<ListArc<T, ID>> {
        self.peek_next().map(CursorPeek::remove)
    }

    /// Removes the value before the cursor and returns it, if there is one.
    pub fn remove_prev(&mut self) -> Option<ListArc<T, ID>> {
        self.peek_prev().map(CursorPeek::remove)
    }
}

/// A value next to a [`Cursor`]: the one after it if `ISNEXT`, the one before otherwise.
///
/// Mirrors `kernel::list::CursorPeek`. It dereferences to the value, and can remove it.
///
/// # Invariants
///
/// - `ptr` is a value of the cursor's list.
/// - `ptr` is the cursor's `next` exactly when `ISNEXT`.
pub struct CursorPeek<'a, 'b, T: ?Sized + ListItem<ID>, const ISNEXT: bool, const ID: u64> {
    cursor: &'a mut Cursor<'b, T, ID>,
    ptr: *mut ListLinksFields,
}

impl<'a, 'b, T: ?Sized + ListItem<ID>, const ISNEXT: bool, const ID: u64>
    CursorPeek<'a, 'b, T, ISNEXT, ID>
{
    /// Removes the value from the list and returns it; the cursor stays between its neighbours.
    pub fn remove(self) -> ListArc<T, ID> {
        if ISNEXT {
            // Step over the value so that the cursor's `next` does not point to it afterwards.
            self.cursor.move_next();
        }
        // SAFETY: `ptr` is a value of the cursor's list; it is not the cursor's `next` any more.
        unsafe { self.cursor.list.remove_internal(self.ptr) }
    }

    /// Returns the value as an [`ArcBorrow`].
    pub fn arc(&self) -> ArcBorrow<'_, T> {
        // SAFETY: `ptr` is a value of the list, whose links came from `prepare_to_insert`.
        let value = unsafe { T::view_value(ListLinks::from_fields(self.ptr)) };
        // SAFETY: The value is in an `Arc` whose `ListArc` the list holds (so no `UniqueArc`
        // exists). It stays in the list while the borrow lives: removing it needs mutable access
        // to this `CursorPeek`, its cursor or the list, all borrowed through `self`.
        unsafe { ArcBorrow::from_raw(value) }
    }
}

impl<'a, 'b, T: ?Sized + ListItem<ID>, const ISNEXT: bool, const ID: u64> core::ops::Deref
    for CursorPeek<'a, 'b, T, ISNEXT, ID>
{
    // Not `ArcBorrow<'a, T>`: a borrow for `'a` would outlive a `remove` of the value.
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `ptr` is a value of the list, whose links came from `prepare_to_insert`.
        let value = unsafe { T::view_value(ListLinks::from_fields(self.ptr)) };
        // SAFETY: The value stays in the list, hence alive, while `self` is borrowed (see `arc`).
        unsafe { &*value }
    }
}

/// An iterator that takes the values out of a [`List`], front to back (or back to front).
///
/// Mirrors `kernel::list::IntoIter`.
pub struct IntoIter<T: ?Sized + ListItem<ID>, const ID: u64 = 0> {
    list: List<T, ID>,
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> Iterator for IntoIter<T, ID> {
    type Item = ListArc<T, ID>;

    fn next(&mut self) -> Option<ListArc<T, ID>> {
        self.list.pop_front()
    }
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> FusedIterator for IntoIter<T, ID> {}

impl<T: ?Sized + ListItem<ID>, const ID: u64> DoubleEndedIterator for IntoIter<T, ID> {
    fn next_back(&mut self) -> Option<ListArc<T, ID>> {
        self.list.pop_back()
    }
}

impl<T: ?Sized + ListItem<ID>, const ID: u64> IntoIterator for List<T, ID> {
    type IntoIter = IntoIter<T, ID>;
    type Item = ListArc<T, ID>;

    fn into_iter(self) -> IntoIter<T, ID> {
        IntoIter { list: self }
    }
}
