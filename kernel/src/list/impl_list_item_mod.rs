//! The macros that implement [`ListItem`] from the position of a type's links.
//!
//! Mirrors `rust/kernel/list/impl_list_item_mod.rs` of Linux 7.3.
//!
//! [`ListItem`]: crate::list::ListItem

/// A type with a [`ListLinks<ID>`] field, and where it is.
///
/// Mirrors `kernel::list::HasListLinks`. It exists to implement [`ListItem`] safely with
/// [`impl_list_item!`], which implements it with [`impl_has_list_links!`].
///
/// # Safety
///
/// [`HasListLinks::raw_get_list_links`] must return a pointer to the same field of the value at
/// `ptr` every time, computed without reading memory (only by offsetting `ptr`).
///
/// [`ListLinks<ID>`]: crate::list::ListLinks
/// [`ListItem`]: crate::list::ListItem
pub unsafe trait HasListLinks<const ID: u64 = 0> {
    /// Returns a pointer to the `ListLinks<ID>` field of the value at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid value.
    unsafe fn raw_get_list_links(ptr: *mut Self) -> *mut crate::list::ListLinks<ID>;
}

/// Implements [`HasListLinks`] for a type, given the path of its field.
///
/// Mirrors the kernel's `impl_has_list_links!`:
/// `impl{GENERICS} HasListLinks<ID> for TYPE { self.field.subfield }`. The path must not go
/// through a pointer (this is checked at build time).
#[macro_export]
#[doc(hidden)]
macro_rules! impl_has_list_links {
    ($(impl$({$($generics:tt)*})?
       HasListLinks$(<$id:tt>)?
       for $self:ty
       { self$(.$field:ident)* }
    )*) => {$(
        // SAFETY: The pointer is `ptr` offset to the field, and the field has the right type or
        // this does not compile.
        unsafe impl$(<$($generics)*>)? $crate::list::HasListLinks$(<$id>)? for $self {
            #[inline]
            unsafe fn raw_get_list_links(ptr: *mut Self) -> *mut $crate::list::ListLinks$(<$id>)? {
                // `offset_of!` accepts only a path of fields within the type: no dereference of a
                // `Box` or other pointer on the way. (Not a `const`: `Self` may be generic.)
                let _: usize = ::core::mem::offset_of!(Self, $($field).*);
                // SAFETY: `ptr` points to a valid value (caller's guarantee) and the path stays
                // inside it (checked above); no reference is made.
                unsafe { &raw mut (*ptr)$(.$field)* }
            }
        }
    )*};
}
pub use impl_has_list_links;

/// A type whose [`ListLinks<ID>`] field (as [`HasListLinks`] finds it) is the `inner` field of a
/// [`ListLinksSelfPtr<T, ID>`].
///
/// Mirrors `kernel::list::HasSelfPtr`.
///
/// # Safety
///
/// The field [`HasListLinks::raw_get_list_links`] returns must be inside a
/// `ListLinksSelfPtr<T, ID>`.
///
/// [`ListLinks<ID>`]: crate::list::ListLinks
/// [`ListLinksSelfPtr<T, ID>`]: crate::list::ListLinksSelfPtr
pub unsafe trait HasSelfPtr<T: ?Sized, const ID: u64 = 0>
where
    Self: HasListLinks<ID>,
{
}

/// Implements [`HasListLinks`] and [`HasSelfPtr`] for a type whose field is a
/// [`ListLinksSelfPtr`](crate::list::ListLinksSelfPtr).
///
/// Mirrors the kernel's `impl_has_list_links_self_ptr!`:
/// `impl{GENERICS} HasSelfPtr<ITEM, ID> for TYPE { self.field }`.
#[macro_export]
#[doc(hidden)]
macro_rules! impl_has_list_links_self_ptr {
    ($(impl$({$($generics:tt)*})?
       HasSelfPtr<$item_type:ty $(, $id:tt)?>
       for $self:ty
       { self$(.$field:ident)* }
    )*) => {$(
        // SAFETY: The field is a `ListLinksSelfPtr<$item_type, ID>` (the `let` below only compiles
        // if it is), whose first field (`repr(C)`) holds the links.
        unsafe impl$(<$($generics)*>)? $crate::list::HasSelfPtr<$item_type $(, $id)?> for $self {}

        // SAFETY: The pointer is `ptr` offset to the `inner` links of the field.
        unsafe impl$(<$($generics)*>)? $crate::list::HasListLinks$(<$id>)? for $self {
            #[inline]
            unsafe fn raw_get_list_links(ptr: *mut Self) -> *mut $crate::list::ListLinks$(<$id>)? {
                // SAFETY: `ptr` points to a valid value (caller's guarantee); no reference is made.
                let field: *mut $crate::list::ListLinksSelfPtr<$item_type $(, $id)?> =
                    unsafe { &raw mut (*ptr)$(.$field)* };
                // The links are at offset 0 of the `repr(C)` `ListLinksSelfPtr`.
                field.cast()
            }
        }
    )*};
}
pub use impl_has_list_links_self_ptr;

/// Implements [`ListItem`] for a type, given the path of its links.
///
/// Mirrors the kernel's `impl_list_item!`, in its two forms:
///
/// - `impl{GENERICS} ListItem<ID> for TYPE { using ListLinks { self.path }; }`, where the field is
///   a [`ListLinks<ID>`](crate::list::ListLinks);
/// - `impl{GENERICS} ListItem<ID> for TYPE { using ListLinksSelfPtr { self.path }; }`, where it is
///   a [`ListLinksSelfPtr<TYPE, ID>`](crate::list::ListLinksSelfPtr); `TYPE` may then be unsized
///   (a trait object).
///
/// It also implements [`HasListLinks`] (and [`HasSelfPtr`]). The type must implement
/// [`ListArcSafe<ID>`](crate::list::ListArcSafe) (see
/// [`impl_list_arc_safe!`](crate::list::impl_list_arc_safe)).
///
/// # Examples
///
/// ```
/// use kernel::list::{impl_list_arc_safe, impl_list_item, List, ListArc, ListLinks};
/// use kernel::prelude::*;
///
/// // Links nested in another struct, and two lists with different ids.
/// #[pin_data]
/// struct Nested {
///     #[pin]
///     links: ListLinks<1>,
/// }
/// #[pin_data]
/// struct Node<T> {
///     value: T,
///     #[pin]
///     all: ListLinks<0>,
///     #[pin]
///     nested: Nested,
/// }
/// impl_list_arc_safe! {
///     impl{T} ListArcSafe<0> for Node<T> { untracked; }
///     impl{T} ListArcSafe<1> for Node<T> { untracked; }
/// }
/// impl_list_item! {
///     impl{T} ListItem<0> for Node<T> { using ListLinks { self.all }; }
///     impl{T} ListItem<1> for Node<T> { using ListLinks { self.nested.links }; }
/// }
///
/// let unique = kernel::sync::UniqueArc::pin_init(
///     try_pin_init!(Node {
///         value: 7u8,
///         all <- ListLinks::new(),
///         nested <- pin_init!(Nested { links <- ListLinks::new() }),
///     }),
///     GFP_KERNEL,
/// )?;
/// let (zero, one) = ListArc::<Node<u8>, 0>::pair_from_pin_unique::<1>(unique);
/// let (mut all, mut nested) = (List::<Node<u8>, 0>::new(), List::<Node<u8>, 1>::new());
/// all.push_back(zero);
/// nested.push_back(one);
/// assert_eq!(all.iter().next().map(|n| n.value), Some(7));
/// assert_eq!(nested.iter().next().map(|n| n.value), Some(7));
/// # Ok::<(), Error>(())
/// ```
///
/// [`ListItem`]: crate::list::ListItem
#[macro_export]
#[doc(hidden)]
macro_rules! impl_list_item {
    (
        $(impl$({$($generics:tt)*})? ListItem<$num:tt> for $self:ty {
            using ListLinks { self$(.$field:ident)* };
        })*
    ) => {$(
        $crate::list::impl_has_list_links! {
            impl$({$($generics)*})? HasListLinks<$num> for $self { self$(.$field)* }
        }

        // SAFETY: The links are a field found by offsetting the value's address, and the value
        // is found back by the inverse offset. The guarantees of each method follow (see the
        // comments there).
        unsafe impl$(<$($generics)*>)? $crate::list::ListItem<$num> for $self {
            // The field, which `prepare_to_insert` returns too; by the invariant of `ListLinks`
            // its pointers are null while the value is in no list.
            unsafe fn view_links(me: *const Self) -> *mut $crate::list::ListLinks<$num> {
                // SAFETY: `me` points to a valid value (caller's guarantee).
                unsafe {
                    <Self as $crate::list::HasListLinks<$num>>::raw_get_list_links(me.cast_mut())
                }
            }

            // The inverse of `raw_get_list_links`, so the pointer given to `prepare_to_insert`;
            // it stays valid until `post_remove`, as the inserter keeps the `ListArc` until then.
            unsafe fn view_value(me: *mut $crate::list::ListLinks<$num>) -> *const Self {
                // SAFETY: `me` is the field of a value of type `Self` (it came from
                // `prepare_to_insert`), so stepping back to the value stays in its allocation.
                unsafe { $crate::container_of!(me, Self, $($field).*) }
            }

            // The caller gets exclusive access to the field until `post_remove`: insertions and
            // removals alternate, and no other `ListItem<$num>` implementation uses the field
            // (its type names the id).
            unsafe fn prepare_to_insert(me: *const Self) -> *mut $crate::list::ListLinks<$num> {
                // SAFETY: `me` points to a valid value (caller's guarantee).
                unsafe { <Self as $crate::list::ListItem<$num>>::view_links(me) }
            }

            // The inverse offset, as in `view_value`.
            unsafe fn post_remove(me: *mut $crate::list::ListLinks<$num>) -> *const Self {
                // SAFETY: As in `view_value`.
                unsafe { $crate::container_of!(me, Self, $($field).*) }
            }
        }
    )*};

    (
        $(impl$({$($generics:tt)*})? ListItem<$num:tt> for $self:ty {
            using ListLinksSelfPtr { self$(.$field:ident)* };
        })*
    ) => {$(
        $crate::list::impl_has_list_links_self_ptr! {
            impl$({$($generics)*})? HasSelfPtr<$self> for $self { self$(.$field)* }
        }

        // SAFETY: The links are found from the value by offsetting; the value is found back
        // through the pointer to it that insertion records next to the links. The guarantees of
        // each method follow (see the comments there).
        unsafe impl$(<$($generics)*>)? $crate::list::ListItem<$num> for $self {
            // Records `me`, the full (possibly wide) pointer to the value, next to the links,
            // and gives the caller exclusive access to the links until `post_remove` (insertions
            // and removals alternate; the field's type names the id).
            unsafe fn prepare_to_insert(me: *const Self) -> *mut $crate::list::ListLinks<$num> {
                // SAFETY: `me` points to a valid value (caller's guarantee).
                let links = unsafe { <Self as $crate::list::ListItem<$num>>::view_links(me) };
                // SAFETY: By `HasSelfPtr`, the links are the `inner` field of a
                // `ListLinksSelfPtr<Self, $num>`, in the value.
                let container = unsafe {
                    $crate::container_of!(
                        links, $crate::list::ListLinksSelfPtr<Self, $num>, inner
                    )
                };
                // SAFETY: `container` points to a valid `ListLinksSelfPtr`.
                let slot = unsafe { $crate::list::ListLinksSelfPtr::raw_get_self_ptr(container) };
                // SAFETY: Only `prepare_to_insert`, `view_value` and `post_remove` use the slot,
                // and their callers never run them concurrently with this call: no data race.
                unsafe { ::core::ptr::write($crate::types::Opaque::cast_into(slot), me) };
                links
            }

            // The field; by the invariant of `ListLinks` its pointers are null while the value
            // is in no list, and it is what `prepare_to_insert` returns.
            unsafe fn view_links(me: *const Self) -> *mut $crate::list::ListLinks<$num> {
                // SAFETY: `me` points to a valid value (caller's guarantee).
                unsafe {
                    <Self as $crate::list::HasListLinks<$num>>::raw_get_list_links(me.cast_mut())
                }
            }

            // The pointer the last `prepare_to_insert` recorded, which nothing changed since; it
            // stays valid until `post_remove`, as the inserter keeps the `ListArc` until then.
            // `post_remove` calls this too, with its own (weaker) requirements, which are enough:
            // the slot was written by the `prepare_to_insert` that returned `links`.
            unsafe fn view_value(links: *mut $crate::list::ListLinks<$num>) -> *const Self {
                // SAFETY: `links` came from `prepare_to_insert`, so it is the `inner` field of a
                // `ListLinksSelfPtr<Self, $num>` in a live value.
                let container = unsafe {
                    $crate::container_of!(
                        links, $crate::list::ListLinksSelfPtr<Self, $num>, inner
                    )
                };
                // SAFETY: `container` points to a valid `ListLinksSelfPtr`.
                let slot = unsafe { $crate::list::ListLinksSelfPtr::raw_get_self_ptr(container) };
                // SAFETY: `prepare_to_insert` initialised the slot; it is not written
                // concurrently (see there).
                unsafe { ::core::ptr::read($crate::types::Opaque::cast_into(slot)) }
            }

            // What `view_value` returns: the pointer given to `prepare_to_insert`.
            unsafe fn post_remove(me: *mut $crate::list::ListLinks<$num>) -> *const Self {
                // SAFETY: `me` came from the last `prepare_to_insert`, which is all this
                // implementation of `view_value` needs.
                unsafe { <Self as $crate::list::ListItem<$num>>::view_value(me) }
            }
        }
    )*};
}
pub use impl_list_item;
