//! Projections of raw pointers to fields and elements, for [`project!`](crate::ptr::project).
//!
//! Mirrors `rust/kernel/ptr/projection.rs` of Linux 7.3. A projection computes, from a pointer to
//! a struct, array or slice, the pointer to one of its fields or elements, without dereferencing
//! anything: the base pointer need not point to memory of this process at all (an MMIO view's
//! pointer is an I/O address). `io_project!`, `io_read!` and `io_write!` are built on it.

use core::mem::MaybeUninit;
use core::ops::{Deref, Range, RangeFrom, RangeFull, RangeTo};

use crate::error::{code::ERANGE, Error};

/// The error of a `[try: i]` projection whose index is out of bounds.
///
/// Mirrors `kernel::ptr::projection::OutOfBound`; as in the kernel, `?` turns it into
/// [`ERANGE`].
pub struct OutOfBound;

impl From<OutOfBound> for Error {
    #[inline(always)]
    fn from(_: OutOfBound) -> Self {
        ERANGE
    }
}

/// Index projection of a pointer to a slice or array: the raw-pointer, fallible counterpart of
/// [`core::slice::SliceIndex`].
///
/// Mirrors the kernel's hidden `ProjectIndex`, with the same implementations (`usize` and the
/// `usize` ranges `a..b`, `..b`, `a..` and `..`, on slices and, through them, on arrays).
///
/// # Safety
///
/// For an input pointer `slice`, a pointer `out` returned by `get` (as `Some`), `index` or
/// `build_index` must have the provenance of `slice`, and the object it describes must lie within
/// the one `slice` describes: `out.byte_offset_from(slice)` is in
/// `0..=KnownSize::size(slice) - KnownSize::size(out)`. A valid input thus gives a valid output.
#[diagnostic::on_unimplemented(message = "`{Self}` cannot be used to index `{T}`")]
#[doc(hidden)]
pub unsafe trait ProjectIndex<T: ?Sized>: Sized {
    /// The type of the projected place: an element or a sub-slice.
    type Output: ?Sized;

    /// Returns the projected pointer, or `None` if the index is out of bounds.
    fn get(self, slice: *mut T) -> Option<*mut Self::Output>;

    /// Returns the projected pointer; panics if the index is out of bounds.
    fn index(self, slice: *mut T) -> *mut Self::Output;

    /// Returns the projected pointer; the build fails unless the optimiser proves the index in
    /// bounds.
    #[inline(always)]
    fn build_index(self, slice: *mut T) -> *mut Self::Output {
        match self.get(slice) {
            Some(projected) => projected,
            None => crate::build_error!("projection index out of bounds"),
        }
    }
}

// SAFETY: The array is projected as the slice of its elements, whose implementation upholds the
// requirements; an array and the slice of its elements describe the same bytes.
unsafe impl<T, I, const N: usize> ProjectIndex<[T; N]> for I
where
    I: ProjectIndex<[T]>,
{
    type Output = I::Output;

    #[inline(always)]
    fn get(self, array: *mut [T; N]) -> Option<*mut Self::Output> {
        <I as ProjectIndex<[T]>>::get(self, array)
    }

    #[inline(always)]
    #[track_caller]
    fn index(self, array: *mut [T; N]) -> *mut Self::Output {
        <I as ProjectIndex<[T]>>::index(self, array)
    }

    #[inline(always)]
    fn build_index(self, array: *mut [T; N]) -> *mut Self::Output {
        <I as ProjectIndex<[T]>>::build_index(self, array)
    }
}

/// Panics for an index projection out of bounds, with the message slice indexing gives.
#[cold]
#[track_caller]
fn out_of_bounds(what: core::fmt::Arguments<'_>, len: usize) -> ! {
    panic!("{what} out of range for slice of length {len}")
}

// SAFETY: `get` offsets the slice's pointer (keeping its provenance) by `self < len` elements, so
// the element lies inside the slice; `index` returns what `get` returns or panics.
unsafe impl<T> ProjectIndex<[T]> for usize {
    type Output = T;

    #[inline(always)]
    fn get(self, slice: *mut [T]) -> Option<*mut T> {
        (self < slice.len()).then(|| slice.cast::<T>().wrapping_add(self))
    }

    #[inline(always)]
    #[track_caller]
    fn index(self, slice: *mut [T]) -> *mut T {
        match self.get(slice) {
            Some(element) => element,
            None => out_of_bounds(format_args!("index {self}"), slice.len()),
        }
    }
}

// SAFETY: `get` keeps the provenance and checks `start <= end <= len`, so the sub-slice lies
// inside the slice; `index` returns what `get` returns or panics.
unsafe impl<T> ProjectIndex<[T]> for Range<usize> {
    type Output = [T];

    #[inline(always)]
    fn get(self, slice: *mut [T]) -> Option<*mut [T]> {
        let len = self.end.checked_sub(self.start)?;
        (self.end <= slice.len()).then(|| {
            core::ptr::slice_from_raw_parts_mut(slice.cast::<T>().wrapping_add(self.start), len)
        })
    }

    #[inline(always)]
    #[track_caller]
    fn index(self, slice: *mut [T]) -> *mut [T] {
        let (start, end) = (self.start, self.end);
        match self.get(slice) {
            Some(sub) => sub,
            None => out_of_bounds(format_args!("range {start}..{end}"), slice.len()),
        }
    }
}

// SAFETY: Forwarded to the `Range` implementation with the same bounds.
unsafe impl<T> ProjectIndex<[T]> for RangeTo<usize> {
    type Output = [T];

    #[inline(always)]
    fn get(self, slice: *mut [T]) -> Option<*mut [T]> {
        (0..self.end).get(slice)
    }

    #[inline(always)]
    #[track_caller]
    fn index(self, slice: *mut [T]) -> *mut [T] {
        (0..self.end).index(slice)
    }
}

// SAFETY: Forwarded to the `Range` implementation with the same bounds.
unsafe impl<T> ProjectIndex<[T]> for RangeFrom<usize> {
    type Output = [T];

    #[inline(always)]
    fn get(self, slice: *mut [T]) -> Option<*mut [T]> {
        (self.start..slice.len()).get(slice)
    }

    #[inline(always)]
    #[track_caller]
    fn index(self, slice: *mut [T]) -> *mut [T] {
        (self.start..slice.len()).index(slice)
    }
}

// SAFETY: The slice itself is returned: same provenance, offset 0, same size.
unsafe impl<T> ProjectIndex<[T]> for RangeFull {
    type Output = [T];

    #[inline(always)]
    fn get(self, slice: *mut [T]) -> Option<*mut [T]> {
        Some(slice)
    }

    #[inline(always)]
    fn index(self, slice: *mut [T]) -> *mut [T] {
        slice
    }
}

/// Field projection of a pointer to a struct.
///
/// Mirrors the kernel's hidden `ProjectField`. The `DEREF` parameter exists to reject types that
/// implement [`Deref`]: they get both implementations, so the parameter cannot be inferred and the
/// projection does not compile (through `Deref`, `(*p).field` could name a field of another
/// object). Leave `DEREF` to inference.
///
/// # Safety
///
/// `proj` calls `f` only with a pointer to a live allocation of a `Self`.
#[doc(hidden)]
pub unsafe trait ProjectField<const DEREF: bool> {
    /// Projects `base` to the field that `f` selects.
    ///
    /// `f` receives a pointer to a valid (but uninitialised) `Self`, on which `&raw mut` field
    /// accesses are allowed, which `base` itself may not allow (it may not point to memory of this
    /// process); the field's offset found that way is applied to `base`.
    ///
    /// # Safety
    ///
    /// `f` must return a pointer to a field inside the object it is given.
    unsafe fn proj<F>(base: *mut Self, f: impl FnOnce(*mut Self) -> *mut F) -> *mut F;
}

// SAFETY: `f` is called with a pointer to a local `MaybeUninit<T>`, a live allocation of a `T`.
unsafe impl<T> ProjectField<false> for T {
    #[inline(always)]
    unsafe fn proj<F>(base: *mut Self, f: impl FnOnce(*mut Self) -> *mut F) -> *mut F {
        // The local is never read or written; the optimiser removes it.
        let mut scratch = MaybeUninit::<T>::uninit();
        let scratch_ptr = scratch.as_mut_ptr();
        let field = f(scratch_ptr);
        // SAFETY: By the caller's guarantee, `field` points inside `scratch`, the same allocation
        // as `scratch_ptr`.
        let offset = unsafe { field.byte_offset_from(scratch_ptr) };
        // `base` need not point to an allocation of this process, hence the wrapping offset.
        base.wrapping_byte_offset(offset).cast()
    }
}

// SAFETY: `proj` never calls `f` (it never returns: the build fails if it is reachable).
unsafe impl<T: Deref> ProjectField<true> for T {
    #[inline(always)]
    unsafe fn proj<F>(_: *mut Self, _: impl FnOnce(*mut Self) -> *mut F) -> *mut F {
        crate::build_error!("field projection through a `Deref` type")
    }
}

/// Projects a raw pointer to a field or element of what it points to.
///
/// Mirrors the kernel's `ptr::project!` (exported as `project_pointer!` and re-exported as
/// `kernel::ptr::project`); same syntax and behaviour.
///
/// `project!(ptr, proj...)` takes a `*const` pointer and returns one; `project!(mut ptr, proj...)`
/// takes and returns a `*mut`. The pointer is never dereferenced, so it may be an I/O address; if
/// it is valid, the projected pointer is valid too. A projection is a sequence of:
///
/// - `.field` (or `.0` for tuple fields): a field; packed (unaligned) fields and types that
///   implement [`Deref`] are rejected at compile time;
/// - `[try: i]`: an element (`i: usize`) or sub-slice (`a..b`, `..b`, `a..`, `..`) of an array or
///   slice; out of bounds, the enclosing function returns `Err(OutOfBound)` through `?`, which
///   converts to [`ERANGE`];
/// - `[panic: i]`: the same, panicking when out of bounds;
/// - `[build: i]`: the same, failing the build (link) unless the optimiser proves `i` in bounds.
///
/// # Examples
///
/// ```
/// use kernel::ptr::project;
///
/// #[repr(C)]
/// struct Desc { addr: u64, len: u32, flags: u16, next: u16 }
///
/// let ring: *const [Desc; 8] = core::ptr::dangling();
/// let len: *const u32 = project!(ring, [build: 3].len);
/// assert_eq!(len.addr() - ring.addr(), 3 * 16 + 8);
///
/// let pair: *mut (u8, u32) = core::ptr::dangling_mut();
/// let second: *mut u32 = project!(mut pair, .1);
/// assert_eq!(second.addr() - pair.addr(), 4);
///
/// let out_of_range = || -> kernel::error::Result<*const Desc> { Ok(project!(ring, [try: 8])) };
/// assert_eq!(out_of_range().err(), Some(kernel::error::code::ERANGE));
/// ```
///
/// ```should_panic
/// let ring: *const [u32; 4] = core::ptr::dangling();
/// let _ = kernel::ptr::project!(ring, [panic: 4]);
/// ```
#[macro_export]
macro_rules! project_pointer {
    (@gen $ptr:ident, ) => {};
    (@gen $ptr:ident, .$field:tt $($rest:tt)*) => {
        // SAFETY: The closure returns a pointer to a field of the object it is given.
        let $ptr = unsafe {
            $crate::ptr::projection::ProjectField::proj($ptr, |ptr| {
                // Rejects packed fields: a reference to an unaligned field does not compile, and
                // not every user of a projection (DMA, MMIO) can access an unaligned place.
                if false {
                    let _ = &(*ptr).$field;
                }
                // `ptr` points to a live object (see `ProjectField::proj`), and no `Deref` can be
                // involved: for a `Deref` type, `ProjectField`'s parameter cannot be inferred.
                &raw mut (*ptr).$field
            })
        };
        $crate::ptr::project!(@gen $ptr, $($rest)*)
    };
    (@gen $ptr:ident, [try: $index:expr] $($rest:tt)*) => {
        let $ptr = $crate::ptr::projection::ProjectIndex::get($index, $ptr)
            .ok_or($crate::ptr::projection::OutOfBound)?;
        $crate::ptr::project!(@gen $ptr, $($rest)*)
    };
    (@gen $ptr:ident, [panic: $index:expr] $($rest:tt)*) => {
        let $ptr = $crate::ptr::projection::ProjectIndex::index($index, $ptr);
        $crate::ptr::project!(@gen $ptr, $($rest)*)
    };
    (@gen $ptr:ident, [build: $index:expr] $($rest:tt)*) => {
        let $ptr = $crate::ptr::projection::ProjectIndex::build_index($index, $ptr);
        $crate::ptr::project!(@gen $ptr, $($rest)*)
    };
    (mut $ptr:expr, $($proj:tt)*) => {{
        let ptr: *mut _ = $ptr;
        $crate::ptr::project!(@gen ptr, $($proj)*);
        ptr
    }};
    ($ptr:expr, $($proj:tt)*) => {{
        // Projection always works on `*mut`; the result is made `*const` again.
        let ptr = <*const _>::cast_mut($ptr);
        $crate::ptr::project!(@gen ptr, $($proj)*);
        ptr.cast_const()
    }};
}
