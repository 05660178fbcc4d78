//! [`ListArcField`]: a field of a reference-counted value that only its [`ListArc`] may use.
//!
//! Mirrors `rust/kernel/list/arc_field.rs` of Linux 7.3.
//!
//! [`ListArc`]: crate::list::ListArc

use core::cell::UnsafeCell;

/// A field that belongs to the holder of the value's [`ListArc<_, ID>`]: shared access to the
/// `ListArc` gives shared access to the field, exclusive access exclusive access.
///
/// Mirrors `kernel::list::ListArcField`. [`define_list_arc_field_getter!`] writes the accessors.
///
/// # Examples
///
/// ```
/// use kernel::list::{impl_list_arc_safe, ListArc, ListArcField};
/// use kernel::prelude::*;
///
/// struct Request {
///     retries: ListArcField<u32>,
/// }
/// impl_list_arc_safe! {
///     impl ListArcSafe<0> for Request { untracked; }
/// }
///
/// let request = Request { retries: ListArcField::new(0) };
/// let mut request = ListArc::<Request>::new(request, GFP_KERNEL)?;
/// // SAFETY: `request` is borrowed mutably while the reference lives.
/// *unsafe { request.retries.assert_mut() } += 1;
/// // SAFETY: `request` is borrowed while the reference lives.
/// assert_eq!(*unsafe { request.retries.assert_ref() }, 1);
/// # Ok::<(), Error>(())
/// ```
///
/// [`ListArc<_, ID>`]: crate::list::ListArc
pub struct ListArcField<T, const ID: u64 = 0> {
    value: UnsafeCell<T>,
}

// SAFETY: The field is reached through a `ListArc` from any thread that holds it, so it must be
// both `Send` and `Sync`.
unsafe impl<T: Send + Sync, const ID: u64> Send for ListArcField<T, ID> {}

// SAFETY: As for `Send`.
unsafe impl<T: Send + Sync, const ID: u64> Sync for ListArcField<T, ID> {}

impl<T, const ID: u64> ListArcField<T, ID> {
    /// Returns a field holding `value`.
    pub fn new(value: T) -> Self {
        Self {
            value: UnsafeCell::new(value),
        }
    }

    /// Returns the value, given exclusive access to the field (for example through a
    /// [`UniqueArc`](crate::sync::UniqueArc)).
    pub fn get_mut(&mut self) -> &mut T {
        self.value.get_mut()
    }

    /// Returns the value, on the caller's word that it has shared access to the `ListArc`.
    ///
    /// # Safety
    ///
    /// The caller must have shared access to the `ListArc<_, ID>` of the value holding this field
    /// for as long as the returned reference lives.
    pub unsafe fn assert_ref(&self) -> &T {
        // SAFETY: Shared access to the `ListArc` (caller's guarantee) excludes mutable access to
        // the field.
        unsafe { &*self.value.get() }
    }

    /// Returns the value mutably, on the caller's word that it has exclusive access to the
    /// `ListArc`.
    ///
    /// # Safety
    ///
    /// The caller must have exclusive access to the `ListArc<_, ID>` of the value holding this
    /// field for as long as the returned reference lives.
    #[expect(clippy::mut_from_ref)]
    pub unsafe fn assert_mut(&self) -> &mut T {
        // SAFETY: Exclusive access to the `ListArc` (caller's guarantee) excludes any other access
        // to the field.
        unsafe { &mut *self.value.get() }
    }
}

/// Defines methods on `ListArc<Self, ID>` that return a [`ListArcField`] of `Self`.
///
/// Mirrors the kernel's `define_list_arc_field_getter!`. Used in an `impl` block of the type, each
/// definition is `VIS fn NAME(&self<ID>) -> &TYPE { FIELD }` or
/// `VIS fn NAME(&mut self<ID>) -> &mut TYPE { FIELD }` (the `<ID>` may be left out for id 0), and
/// becomes a method of `ListArc<Self, ID>` returning the field's value.
///
/// Difference from the kernel: the methods have `self: &ListArc<Self, ID>` receivers, which need
/// the unstable `arbitrary_self_types` feature in the crate that uses the macro; the kernel enables
/// it for every crate, stable Rust does not. Without it, call [`ListArcField::assert_ref`] and
/// [`ListArcField::assert_mut`] as the methods would.
#[macro_export]
#[doc(hidden)]
macro_rules! define_list_arc_field_getter {
    ($pub:vis fn $name:ident(&self $(<$id:tt>)?) -> &$typ:ty { $field:ident }
     $($rest:tt)*
    ) => {
        $pub fn $name<'a>(self: &'a $crate::list::ListArc<Self $(, $id)?>) -> &'a $typ {
            let field = &(&**self).$field;
            // SAFETY: `self` is shared access to the `ListArc` for `'a`.
            unsafe { $crate::list::ListArcField::<$typ $(, $id)?>::assert_ref(field) }
        }

        $crate::list::define_list_arc_field_getter!($($rest)*);
    };

    ($pub:vis fn $name:ident(&mut self $(<$id:tt>)?) -> &mut $typ:ty { $field:ident }
     $($rest:tt)*
    ) => {
        $pub fn $name<'a>(self: &'a mut $crate::list::ListArc<Self $(, $id)?>) -> &'a mut $typ {
            let field = &(&**self).$field;
            // SAFETY: `self` is exclusive access to the `ListArc` for `'a`.
            unsafe { $crate::list::ListArcField::<$typ $(, $id)?>::assert_mut(field) }
        }

        $crate::list::define_list_arc_field_getter!($($rest)*);
    };

    () => {};
}
pub use define_list_arc_field_getter;
