//! [`Vec`]: a growable array with an explicit allocator.
//!
//! Mirrors `rust/kernel/alloc/kvec.rs` of Linux 7.3.

use super::{
    allocator::{kvmalloc_is_vmalloc, KVmalloc, Kmalloc, Vmalloc, VmallocPageIter, PAGE_SIZE},
    flags::__GFP_ZERO,
    layout::ArrayLayout,
    AllocError, Allocator, Box, Flags, NumaNode,
};
use crate::{fmt, page::AsPageIter};
use core::{
    borrow::{Borrow, BorrowMut},
    marker::PhantomData,
    mem::{ManuallyDrop, MaybeUninit},
    ops::{Deref, DerefMut, Index, IndexMut},
    ptr::{self, NonNull},
    slice::{self, SliceIndex},
};
use pin_init::Zeroable;

mod errors;
pub use self::errors::{InsertError, PushError, RemoveError};

/// Creates a [`KVec`] holding the given elements, allocated with `GFP_KERNEL`.
///
/// Mirrors the kernel's `kvec!`. Like `std`'s `vec!` it accepts a list of elements or
/// `value; count`; unlike it, it returns a `Result`, since the allocation can fail. The empty form
/// `kvec![]` does not allocate and returns the vector itself. `GFP_KERNEL` must be in scope (the
/// prelude provides it), as in the kernel.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut v = kernel::kvec![1, 2, 3]?;
/// v.push(4, GFP_KERNEL)?;
/// assert_eq!(v, [1, 2, 3, 4]);
///
/// let zeros = kernel::kvec![0u8; 16]?;
/// assert_eq!(zeros.len(), 16);
///
/// let empty: KVec<u8> = kernel::kvec![];
/// assert!(empty.is_empty());
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
macro_rules! kvec {
    () => (
        $crate::alloc::KVec::new()
    );
    ($elem:expr; $n:expr) => (
        $crate::alloc::KVec::from_elem($elem, $n, GFP_KERNEL)
    );
    ($($x:expr),+ $(,)?) => (
        match $crate::alloc::KBox::new_uninit(GFP_KERNEL) {
            Ok(b) => Ok($crate::alloc::KVec::from($crate::alloc::KBox::write(b, [$($x),+]))),
            Err(e) => Err(e),
        }
    );
}

/// A contiguous, growable array of `T` in memory allocated by `A`.
///
/// Mirrors `kernel::alloc::Vec`. As in the kernel, and unlike `std`'s `Vec`, the allocator is a
/// type parameter and every function that may allocate takes [`Flags`] and returns a `Result`; a
/// failed growth leaves the vector as it was. [`KVec`], [`VVec`] and [`KVVec`] name the vectors
/// of [`Kmalloc`], [`Vmalloc`] and [`KVmalloc`].
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut v = KVec::new();
/// v.push(1, GFP_KERNEL)?;
/// assert_eq!(&v, &[1]);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// - `self.ptr` is aligned and either points to memory allocated with `A` and `self.layout`, or
///   is dangling when `self.layout` is empty or `T` is zero-sized;
/// - `self.layout` is empty when `T` is zero-sized;
/// - the first `self.len` elements are initialised, and `self.len <= self.capacity()`.
pub struct Vec<T, A: Allocator> {
    ptr: NonNull<T>,
    /// The layout of the allocation, whose length is the capacity of the vector (for non-ZSTs).
    layout: ArrayLayout<T>,
    len: usize,
    _p: PhantomData<A>,
}

/// A [`Vec`] whose memory comes from [`Kmalloc`].
///
/// Mirrors `kernel::alloc::KVec`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut v = KVec::new();
/// v.push(1, GFP_KERNEL)?;
/// assert_eq!(&v, &[1]);
/// # Ok::<(), Error>(())
/// ```
pub type KVec<T> = Vec<T, Kmalloc>;

/// A [`Vec`] whose memory comes from [`Vmalloc`].
///
/// Mirrors `kernel::alloc::VVec`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut v = VVec::new();
/// v.push(1, GFP_KERNEL)?;
/// assert_eq!(&v, &[1]);
/// # Ok::<(), Error>(())
/// ```
pub type VVec<T> = Vec<T, Vmalloc>;

/// A [`Vec`] whose memory comes from [`KVmalloc`].
///
/// Mirrors `kernel::alloc::KVVec`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let mut v = KVVec::new();
/// v.push(1, GFP_KERNEL)?;
/// assert_eq!(&v, &[1]);
/// # Ok::<(), Error>(())
/// ```
pub type KVVec<T> = Vec<T, KVmalloc>;

// SAFETY: A `Vec` owns its elements, so sending it sends them.
unsafe impl<T, A> Send for Vec<T, A>
where
    T: Send,
    A: Allocator,
{
}

// SAFETY: A `Vec` owns its elements, so sharing it shares them.
unsafe impl<T, A> Sync for Vec<T, A>
where
    T: Sync,
    A: Allocator,
{
}

impl<T, A> Vec<T, A>
where
    A: Allocator,
{
    /// Returns whether `T` is zero-sized.
    #[inline]
    const fn is_zst() -> bool {
        core::mem::size_of::<T>() == 0
    }

    /// Returns how many elements the vector can hold without allocating.
    ///
    /// For zero-sized `T` this is `usize::MAX`.
    pub const fn capacity(&self) -> usize {
        if Self::is_zst() {
            usize::MAX
        } else {
            self.layout.len()
        }
    }

    /// Returns the number of elements in the vector.
    #[inline]
    pub const fn len(&self) -> usize {
        self.len
    }

    /// Declares `additional` more elements, after the current ones, initialised.
    ///
    /// # Safety
    ///
    /// - `additional` must be at most `self.capacity() - self.len()`;
    /// - the elements `self.len()..self.len() + additional` must be initialised.
    #[inline]
    pub const unsafe fn inc_len(&mut self, additional: usize) {
        debug_assert!(additional <= self.capacity() - self.len());
        // INVARIANT: By the caller's guarantees the new elements are initialised and fit.
        self.len += additional;
    }

    /// Forgets the last `count` elements without dropping them, and returns them as a slice
    /// that the caller now owns.
    ///
    /// # Safety
    ///
    /// `count` must be at most `self.len()`.
    unsafe fn dec_len(&mut self, count: usize) -> &mut [T] {
        debug_assert!(count <= self.len());
        // INVARIANT: Fewer elements are declared initialised; they still are.
        self.len -= count;
        // SAFETY: The `count` elements after the new length are initialised and inside the
        // allocation; the vector no longer considers them its own.
        unsafe { slice::from_raw_parts_mut(self.as_mut_ptr().add(self.len), count) }
    }

    /// Returns the elements as a slice.
    #[inline]
    pub fn as_slice(&self) -> &[T] {
        self
    }

    /// Returns the elements as a mutable slice.
    #[inline]
    pub fn as_mut_slice(&mut self) -> &mut [T] {
        self
    }

    /// Returns a raw pointer to the buffer (dangling if nothing is allocated).
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut T {
        self.ptr.as_ptr()
    }

    /// Returns a raw pointer to the buffer (dangling if nothing is allocated).
    #[inline]
    pub const fn as_ptr(&self) -> *const T {
        self.ptr.as_ptr()
    }

    /// Returns `true` if the vector has no elements.
    #[inline]
    pub const fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns an empty vector; nothing is allocated.
    #[inline]
    pub const fn new() -> Self {
        // INVARIANT: Nothing is allocated, no element is initialised.
        Self {
            ptr: NonNull::dangling(),
            layout: ArrayLayout::empty(),
            len: 0,
            _p: PhantomData::<A>,
        }
    }

    /// Returns the unused capacity, after the elements, as uninitialised memory.
    pub fn spare_capacity_mut(&mut self) -> &mut [MaybeUninit<T>] {
        // SAFETY: `len <= capacity`, so the pointer stays inside the allocation (or is dangling
        // and offset by zero bytes for ZSTs).
        let ptr = unsafe { self.as_mut_ptr().add(self.len) }.cast::<MaybeUninit<T>>();
        // SAFETY: The memory after the elements is allocated, aligned and unused.
        unsafe { slice::from_raw_parts_mut(ptr, self.capacity() - self.len) }
    }

    /// Appends `v`, growing the allocation if needed.
    ///
    /// If the growth fails, `v` is dropped and the vector is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVec::new();
    /// v.push(1, GFP_KERNEL)?;
    /// v.push(2, GFP_KERNEL)?;
    /// assert_eq!(&v, &[1, 2]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push(&mut self, v: T, flags: Flags) -> Result<(), AllocError> {
        self.reserve(1, flags)?;
        // SAFETY: `reserve` made room for one more element.
        unsafe { self.push_within_capacity_unchecked(v) };
        Ok(())
    }

    /// Appends `v` if there is room for it without allocating; otherwise returns it in the error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVec::with_capacity(1, GFP_KERNEL)?;
    /// assert!(v.push_within_capacity(1).is_ok());
    /// assert!(v.push_within_capacity(2).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn push_within_capacity(&mut self, v: T) -> Result<(), PushError<T>> {
        if self.len() < self.capacity() {
            // SAFETY: There is room, as just checked.
            unsafe { self.push_within_capacity_unchecked(v) };
            Ok(())
        } else {
            Err(PushError(v))
        }
    }

    /// Appends `v`.
    ///
    /// # Safety
    ///
    /// `self.len() < self.capacity()`.
    unsafe fn push_within_capacity_unchecked(&mut self, v: T) {
        let spare = self.spare_capacity_mut();
        // SAFETY: By the caller's guarantee there is at least one spare slot.
        unsafe { spare.get_unchecked_mut(0) }.write(v);
        // SAFETY: The slot after the elements was just initialised.
        unsafe { self.inc_len(1) };
    }

    /// Inserts `element` at `index`, shifting the following elements, if there is room without
    /// allocating. Otherwise, or if `index > len`, returns the element in the error.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVec::with_capacity(4, GFP_KERNEL)?;
    /// v.push(1, GFP_KERNEL)?;
    /// v.push(3, GFP_KERNEL)?;
    /// v.insert_within_capacity(1, 2).unwrap();
    /// assert_eq!(&v, &[1, 2, 3]);
    /// assert!(v.insert_within_capacity(9, 4).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn insert_within_capacity(
        &mut self,
        index: usize,
        element: T,
    ) -> Result<(), InsertError<T>> {
        let len = self.len();
        if index > len {
            return Err(InsertError::IndexOutOfBounds(element));
        }
        if len >= self.capacity() {
            return Err(InsertError::OutOfCapacity(element));
        }
        // SAFETY: `index <= len < capacity`, so the pointer is inside the allocation.
        let p = unsafe { self.as_mut_ptr().add(index) };
        // SAFETY: The `len - index` elements from `p` move one slot up, which stays within
        // capacity; `ptr::copy` allows the overlap.
        unsafe { ptr::copy(p, p.add(1), len - index) };
        // SAFETY: `p` is inside the allocation; its old value was moved up, so nothing is lost.
        unsafe { ptr::write(p, element) };
        // SAFETY: One more element is initialised, and `len < capacity`.
        unsafe { self.inc_len(1) };
        Ok(())
    }

    /// Removes the last element and returns it, or `None` if the vector is empty.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2]?;
    /// assert_eq!(v.pop(), Some(2));
    /// assert_eq!(v.pop(), Some(1));
    /// assert_eq!(v.pop(), None);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pop(&mut self) -> Option<T> {
        if self.is_empty() {
            return None;
        }
        // SAFETY: The vector has at least one element.
        let removed: *mut T = unsafe { self.dec_len(1) }.as_mut_ptr();
        // SAFETY: The element is initialised and no longer owned by the vector.
        Some(unsafe { removed.read() })
    }

    /// Removes the element at `i`, shifting the following ones down, and returns it.
    ///
    /// # Errors
    ///
    /// [`RemoveError`] if `i` is out of bounds.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2, 3]?;
    /// assert_eq!(v.remove(1)?, 2);
    /// assert_eq!(v, [1, 3]);
    /// assert!(v.remove(2).is_err());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn remove(&mut self, i: usize) -> Result<T, RemoveError> {
        let value = {
            let value_ref = self.get(i).ok_or(RemoveError)?;
            // SAFETY: The element is initialised; the gap it leaves is closed below, so it is not
            // dropped twice.
            unsafe { ptr::read(value_ref) }
        };
        // SAFETY: `i < len`, so the pointer is inside the allocation.
        let p = unsafe { self.as_mut_ptr().add(i) };
        // SAFETY: The `len - i - 1` elements after `p` move one slot down, inside the vector.
        unsafe { ptr::copy(p.add(1), p, self.len - i - 1) };
        // SAFETY: The vector has at least one element; the last slot now holds a moved-out copy,
        // which the vector must forget.
        unsafe { self.dec_len(1) };
        Ok(value)
    }

    /// Returns an empty vector with room for at least `capacity` elements.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let v = KVec::<u32>::with_capacity(20, GFP_KERNEL)?;
    /// assert!(v.is_empty());
    /// assert!(v.capacity() >= 20);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn with_capacity(capacity: usize, flags: Flags) -> Result<Self, AllocError> {
        let mut v = Vec::new();
        v.reserve(capacity, flags)?;
        Ok(v)
    }

    /// Returns a vector of `n` elements that are all zeroes, allocated with [`__GFP_ZERO`].
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let v = KVec::<u64>::zeroed(4, GFP_KERNEL)?;
    /// assert_eq!(v, [0; 4]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn zeroed(n: usize, flags: Flags) -> Result<Self, AllocError>
    where
        T: Zeroable,
    {
        let mut v = Self::with_capacity(n, flags | __GFP_ZERO)?;
        // SAFETY: The allocation has room for `n` elements and is zeroed, which is a valid `T`
        // (`T: Zeroable`).
        unsafe { v.inc_len(n) };
        Ok(v)
    }

    /// Rebuilds a vector from the parts [`Vec::into_raw_parts`] returned.
    ///
    /// # Safety
    ///
    /// - if `T` is zero-sized, `ptr` is dangling and aligned and `capacity` is anything;
    /// - otherwise `ptr` is dangling and aligned with `capacity == 0`, or points to memory
    ///   allocated with `A` for exactly `capacity` elements;
    /// - the first `length` elements are initialised, and `length <= capacity`;
    /// - the allocation is owned by the caller, who gives it to the vector.
    pub unsafe fn from_raw_parts(ptr: *mut T, length: usize, capacity: usize) -> Self {
        let layout = if Self::is_zst() {
            ArrayLayout::empty()
        } else {
            // SAFETY: By the caller's guarantee an allocation of `capacity` elements exists, so
            // its size fits in `isize`.
            unsafe { ArrayLayout::new_unchecked(capacity) }
        };
        // INVARIANT: Guaranteed by the caller.
        Self {
            // SAFETY: By the caller's guarantee `ptr` is valid or dangling, never null.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
            layout,
            len: length,
            _p: PhantomData::<A>,
        }
    }

    /// Gives up the vector and returns its pointer, length and capacity, for
    /// [`Vec::from_raw_parts`]. The elements are not dropped and the memory is not freed.
    pub fn into_raw_parts(self) -> (*mut T, usize, usize) {
        let mut me = ManuallyDrop::new(self);
        let len = me.len();
        let capacity = me.capacity();
        let ptr = me.as_mut_ptr();
        (ptr, len, capacity)
    }

    /// Drops every element, keeping the allocation.
    #[inline]
    pub fn clear(&mut self) {
        self.truncate(0);
    }

    /// Makes room for at least `additional` more elements.
    ///
    /// The capacity at least doubles when it grows. If the growth fails, the vector is unchanged.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVec::<u16>::new();
    /// v.reserve(10, GFP_KERNEL)?;
    /// assert!(v.capacity() >= 10);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn reserve(&mut self, additional: usize, flags: Flags) -> Result<(), AllocError> {
        let len = self.len();
        let cap = self.capacity();
        if cap - len >= additional {
            return Ok(());
        }
        if Self::is_zst() {
            // Zero-sized elements have a capacity of `usize::MAX` that cannot grow.
            return Err(AllocError);
        }

        let wanted = len.checked_add(additional).ok_or(AllocError)?;
        let new_cap = core::cmp::max(cap.saturating_mul(2), wanted);
        let layout = ArrayLayout::new(new_cap).map_err(|_| AllocError)?;
        // SAFETY: `self.ptr` is dangling with an empty layout, or the allocation made with `A`
        // and `self.layout`.
        let ptr = unsafe {
            A::realloc(
                Some(self.ptr.cast()),
                layout.into(),
                self.layout.into(),
                flags,
                NumaNode::NO_NODE,
            )?
        };
        // INVARIANT: `ptr` is an allocation of `A` for `layout`; the elements moved with it.
        self.ptr = ptr.cast();
        self.layout = layout;
        Ok(())
    }

    /// Drops the elements from index `len` on, keeping the allocation. Does nothing if the
    /// vector has `len` elements or fewer.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2, 3]?;
    /// v.truncate(1);
    /// assert_eq!(v, [1]);
    /// v.truncate(3);
    /// assert_eq!(v, [1]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn truncate(&mut self, len: usize) {
        if let Some(count) = self.len().checked_sub(len) {
            // SAFETY: `count <= self.len()`.
            let tail: *mut [T] = unsafe { self.dec_len(count) };
            // SAFETY: The tail elements are initialised and no longer owned by the vector.
            unsafe { ptr::drop_in_place(tail) };
        }
    }

    /// Removes every element and returns an iterator that yields them by value; elements the
    /// iterator did not yield are dropped with it. The allocation is kept.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2, 3]?;
    /// let mut total = 0;
    /// for x in v.drain_all() {
    ///     total += x;
    /// }
    /// assert_eq!(total, 6);
    /// assert!(v.is_empty());
    /// # Ok::<(), Error>(())
    /// ```
    pub fn drain_all(&mut self) -> DrainAll<'_, T> {
        // SAFETY: `self.len() <= self.len()`.
        let elements = unsafe { self.dec_len(self.len()) };
        DrainAll {
            elements: elements.iter_mut(),
        }
    }

    /// Keeps only the elements for which `f` returns `true`, in their order.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2, 3, 4]?;
    /// v.retain(|i| *i % 2 == 0);
    /// assert_eq!(v, [2, 4]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn retain(&mut self, mut f: impl FnMut(&mut T) -> bool) {
        let mut kept = 0;
        for i in 0..self.len() {
            if f(&mut self[i]) {
                self.swap(kept, i);
                kept += 1;
            }
        }
        self.truncate(kept);
    }
}

impl<T> Vec<T, KVmalloc> {
    /// Shrinks the capacity to `max(self.len(), min_capacity)`, if that frees memory.
    ///
    /// `kmalloc`-placed buffers are resized; `vmalloc`-placed ones (larger than 4 MiB here) are
    /// only moved when that releases at least one page. A failed move leaves the vector as it was.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVVec::<u8>::with_capacity(4096, GFP_KERNEL)?;
    /// v.push(1, GFP_KERNEL)?;
    /// v.shrink_to(16, GFP_KERNEL)?;
    /// assert!(v.capacity() >= 16 && v.capacity() < 4096);
    /// assert_eq!(v, [1]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn shrink_to(&mut self, min_capacity: usize, flags: Flags) -> Result<(), AllocError> {
        let target_cap = core::cmp::max(self.len(), min_capacity);
        if self.capacity() <= target_cap || Self::is_zst() {
            return Ok(());
        }

        let vmalloc_placed = kvmalloc_is_vmalloc(self.layout.into());
        if vmalloc_placed {
            let size_of = core::mem::size_of::<T>();
            let current_pages = (self.capacity() * size_of).div_ceil(PAGE_SIZE);
            let target_pages = (target_cap * size_of).div_ceil(PAGE_SIZE);
            if current_pages <= target_pages {
                return Ok(());
            }
        }

        // SAFETY: `target_cap < capacity`, whose layout is valid, so this one is too.
        let new_layout = unsafe { ArrayLayout::<T>::new_unchecked(target_cap) };
        // SAFETY: `self.ptr` is the allocation made with `KVmalloc` and `self.layout`; resizing to
        // zero frees it and returns a dangling pointer.
        let ptr = unsafe {
            KVmalloc::realloc(
                Some(self.ptr.cast()),
                new_layout.into(),
                self.layout.into(),
                flags,
                NumaNode::NO_NODE,
            )?
        };
        // INVARIANT: The elements (at most `target_cap`) moved to the new allocation, or the
        // vector is empty and the pointer dangling with an empty layout.
        self.ptr = ptr.cast();
        self.layout = new_layout;
        Ok(())
    }
}

impl<T: Clone, A: Allocator> Vec<T, A> {
    /// Appends `n` clones of `value` (the last one is `value` itself).
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1]?;
    /// v.extend_with(2, 7, GFP_KERNEL)?;
    /// assert_eq!(v, [1, 7, 7]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn extend_with(&mut self, n: usize, value: T, flags: Flags) -> Result<(), AllocError> {
        if n == 0 {
            return Ok(());
        }
        self.reserve(n, flags)?;
        let spare = self.spare_capacity_mut();
        for item in spare.iter_mut().take(n - 1) {
            item.write(value.clone());
        }
        spare[n - 1].write(value);
        // SAFETY: `n` elements after the current ones were just initialised, within capacity.
        unsafe { self.inc_len(n) };
        Ok(())
    }

    /// Appends clones of the elements of `other`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = KVec::new();
    /// v.extend_from_slice(&[1, 2, 3], GFP_KERNEL)?;
    /// assert_eq!(v, [1, 2, 3]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn extend_from_slice(&mut self, other: &[T], flags: Flags) -> Result<(), AllocError> {
        self.reserve(other.len(), flags)?;
        for (slot, item) in core::iter::zip(self.spare_capacity_mut(), other) {
            slot.write(item.clone());
        }
        // SAFETY: `other.len()` elements after the current ones were just initialised.
        unsafe { self.inc_len(other.len()) };
        Ok(())
    }

    /// Returns a vector of `n` clones of `value`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let v = KVec::from_elem(7u8, 3, GFP_KERNEL)?;
    /// assert_eq!(v, [7, 7, 7]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn from_elem(value: T, n: usize, flags: Flags) -> Result<Self, AllocError> {
        let mut v = Self::with_capacity(n, flags)?;
        v.extend_with(n, value, flags)?;
        Ok(v)
    }

    /// Grows the vector to `new_len` elements with clones of `value`, or truncates it to
    /// `new_len`.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let mut v = kernel::kvec![1, 2, 3]?;
    /// v.resize(1, 0, GFP_KERNEL)?;
    /// assert_eq!(v, [1]);
    /// v.resize(3, 0, GFP_KERNEL)?;
    /// assert_eq!(v, [1, 0, 0]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn resize(&mut self, new_len: usize, value: T, flags: Flags) -> Result<(), AllocError> {
        match new_len.checked_sub(self.len()) {
            Some(n) => self.extend_with(n, value, flags),
            None => {
                self.truncate(new_len);
                Ok(())
            }
        }
    }
}

impl<T, A> Drop for Vec<T, A>
where
    A: Allocator,
{
    fn drop(&mut self) {
        // SAFETY: The first `len` elements are initialised and dropped only here.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.as_mut_ptr(), self.len)) };
        // SAFETY: `self.ptr` is the allocation made with `A` and `self.layout`, or dangling with
        // an empty layout.
        unsafe { A::free(self.ptr.cast(), self.layout.into()) };
    }
}

impl<T, A, const N: usize> From<Box<[T; N], A>> for Vec<T, A>
where
    A: Allocator,
{
    /// Turns a boxed array into a vector without copying; the capacity is `N`.
    fn from(b: Box<[T; N], A>) -> Vec<T, A> {
        let len = b.len();
        let ptr = Box::into_raw(b);
        // SAFETY: The box's memory was allocated with `A` for `[T; N]`, which is the layout of `N`
        // elements, all initialised; the box gave it up.
        unsafe { Vec::from_raw_parts(ptr.cast(), len, len) }
    }
}

impl<T, A: Allocator> Default for Vec<T, A> {
    #[inline]
    fn default() -> Self {
        Self::new()
    }
}

impl<T: fmt::Debug, A: Allocator> fmt::Debug for Vec<T, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T, A> Deref for Vec<T, A>
where
    A: Allocator,
{
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        // SAFETY: The first `len` elements are initialised and the pointer is aligned.
        unsafe { slice::from_raw_parts(self.as_ptr(), self.len) }
    }
}

impl<T, A> DerefMut for Vec<T, A>
where
    A: Allocator,
{
    #[inline]
    fn deref_mut(&mut self) -> &mut [T] {
        // SAFETY: The first `len` elements are initialised, the pointer is aligned, and the vector
        // is borrowed exclusively.
        unsafe { slice::from_raw_parts_mut(self.as_mut_ptr(), self.len) }
    }
}

impl<T, A> Borrow<[T]> for Vec<T, A>
where
    A: Allocator,
{
    fn borrow(&self) -> &[T] {
        self.as_slice()
    }
}

impl<T, A> BorrowMut<[T]> for Vec<T, A>
where
    A: Allocator,
{
    fn borrow_mut(&mut self) -> &mut [T] {
        self.as_mut_slice()
    }
}

impl<T: Eq, A> Eq for Vec<T, A> where A: Allocator {}

impl<T, I: SliceIndex<[T]>, A> Index<I> for Vec<T, A>
where
    A: Allocator,
{
    type Output = I::Output;

    #[inline]
    fn index(&self, index: I) -> &Self::Output {
        Index::index(&**self, index)
    }
}

impl<T, I: SliceIndex<[T]>, A> IndexMut<I> for Vec<T, A>
where
    A: Allocator,
{
    #[inline]
    fn index_mut(&mut self, index: I) -> &mut Self::Output {
        IndexMut::index_mut(&mut **self, index)
    }
}

/// Implements `PartialEq` between vectors, slices and arrays by comparing their elements.
macro_rules! impl_slice_eq {
    ($([$($vars:tt)*] $lhs:ty, $rhs:ty,)*) => {
        $(
            impl<T, U, $($vars)*> PartialEq<$rhs> for $lhs
            where
                T: PartialEq<U>,
            {
                #[inline]
                fn eq(&self, other: &$rhs) -> bool { self[..] == other[..] }
            }
        )*
    }
}

impl_slice_eq! {
    [A1: Allocator, A2: Allocator] Vec<T, A1>, Vec<U, A2>,
    [A: Allocator] Vec<T, A>, &[U],
    [A: Allocator] Vec<T, A>, &mut [U],
    [A: Allocator] &[T], Vec<U, A>,
    [A: Allocator] &mut [T], Vec<U, A>,
    [A: Allocator] Vec<T, A>, [U],
    [A: Allocator] [T], Vec<U, A>,
    [A: Allocator, const N: usize] Vec<T, A>, [U; N],
    [A: Allocator, const N: usize] Vec<T, A>, &[U; N],
}

impl<'a, T, A> IntoIterator for &'a Vec<T, A>
where
    A: Allocator,
{
    type Item = &'a T;
    type IntoIter = slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl<'a, T, A: Allocator> IntoIterator for &'a mut Vec<T, A>
where
    A: Allocator,
{
    type Item = &'a mut T;
    type IntoIter = slice::IterMut<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter_mut()
    }
}

/// The pages of a [`VVec`]'s allocation (its whole capacity).
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::page::{AsPageIter, PAGE_SIZE};
///
/// let mut v = VVec::<u8>::with_capacity(3 * PAGE_SIZE, GFP_KERNEL)?;
/// assert_eq!(v.page_iter().count(), 3);
/// assert_eq!(VVec::<u8>::new().page_iter().count(), 0);
/// # Ok::<(), Error>(())
/// ```
impl<T> AsPageIter for VVec<T> {
    type Iter<'a>
        = VmallocPageIter<'a>
    where
        T: 'a;

    fn page_iter(&mut self) -> Self::Iter<'_> {
        let ptr = self.ptr.cast();
        let size = self.layout.size();
        // SAFETY: `ptr` is the start of the vector's `Vmalloc` allocation (page aligned) of `size`
        // bytes, or dangling with a size of zero; it is borrowed mutably for the iterator's
        // lifetime.
        unsafe { VmallocPageIter::new(ptr, size) }
    }
}

/// An iterator that moves the elements out of a [`Vec`].
///
/// Mirrors `kernel::alloc::IntoIter`; created by `Vec::into_iter`.
///
/// # Invariants
///
/// - `buf` is the vector's buffer, allocated with `A` and `layout` (or dangling with an empty
///   layout);
/// - `ptr` points into `buf`, and the `len` elements from `ptr` are initialised and not yet
///   yielded.
pub struct IntoIter<T, A: Allocator> {
    ptr: *mut T,
    buf: NonNull<T>,
    len: usize,
    layout: ArrayLayout<T>,
    _p: PhantomData<A>,
}

impl<T, A> IntoIter<T, A>
where
    A: Allocator,
{
    /// Gives up the iterator and returns `(ptr, buf, len, capacity)`.
    fn into_raw_parts(self) -> (*mut T, NonNull<T>, usize, usize) {
        let me = ManuallyDrop::new(self);
        (me.ptr, me.buf, me.len, me.layout.len())
    }

    /// Turns the elements not yet yielded back into a [`Vec`], reusing the buffer.
    ///
    /// If some elements were already yielded, the remaining ones move to the front of the buffer,
    /// which is then shrunk to fit them; if that shrink fails, the vector keeps the old capacity.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let v = kernel::kvec![1, 2, 3]?;
    /// let mut it = v.into_iter();
    /// assert_eq!(it.next(), Some(1));
    /// let v = it.collect(GFP_KERNEL);
    /// assert_eq!(v, [2, 3]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn collect(self, flags: Flags) -> Vec<T, A> {
        let old_layout = self.layout;
        let (mut ptr, buf, len, mut cap) = self.into_raw_parts();
        let has_advanced = ptr != buf.as_ptr();

        if has_advanced {
            // SAFETY: The `len` remaining elements move to the start of the same buffer; the
            // regions may overlap, which `ptr::copy` allows.
            unsafe { ptr::copy(ptr, buf.as_ptr(), len) };
            ptr = buf.as_ptr();

            // SAFETY: `len` is at most the capacity, whose layout is valid.
            let layout = unsafe { ArrayLayout::<T>::new_unchecked(len) };
            // SAFETY: `buf` was allocated with `A` and `old_layout`. On failure it stays valid
            // and keeps its capacity.
            let shrunk = unsafe {
                A::realloc(
                    Some(buf.cast()),
                    layout.into(),
                    old_layout.into(),
                    flags,
                    NumaNode::NO_NODE,
                )
            };
            if let Ok(shrunk) = shrunk {
                cap = len;
                ptr = shrunk.as_ptr().cast();
            }
        }

        // SAFETY: `ptr` is the buffer, allocated with `A` for `cap` elements (or dangling), and its
        // first `len` elements are initialised; the iterator gave up ownership.
        unsafe { Vec::from_raw_parts(ptr, len, cap) }
    }
}

impl<T, A> Iterator for IntoIter<T, A>
where
    A: Allocator,
{
    type Item = T;

    fn next(&mut self) -> Option<T> {
        if self.len == 0 {
            return None;
        }
        let current = self.ptr;
        // INVARIANT: The element at `current` is yielded, so the remaining ones start after it.
        // SAFETY: At least one element remains, so the next position is within the buffer or one
        // past its last element.
        self.ptr = unsafe { self.ptr.add(1) };
        self.len -= 1;
        // SAFETY: `current` points to an initialised element that is now yielded exactly once.
        Some(unsafe { current.read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.len, Some(self.len))
    }
}

impl<T, A> Drop for IntoIter<T, A>
where
    A: Allocator,
{
    fn drop(&mut self) {
        // SAFETY: The `len` elements from `ptr` are initialised and not yielded.
        unsafe { ptr::drop_in_place(ptr::slice_from_raw_parts_mut(self.ptr, self.len)) };
        // SAFETY: `buf` was allocated with `A` and `layout` (or is dangling with an empty one).
        unsafe { A::free(self.buf.cast(), self.layout.into()) };
    }
}

impl<T, A> IntoIterator for Vec<T, A>
where
    A: Allocator,
{
    type Item = T;
    type IntoIter = IntoIter<T, A>;

    /// Returns an iterator that moves the elements out of the vector, front to back.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let v = kernel::kvec![1, 2, 3]?;
    /// let mut it = v.into_iter();
    /// assert_eq!(it.next(), Some(1));
    /// assert_eq!(it.next(), Some(2));
    /// assert_eq!(it.next(), Some(3));
    /// assert_eq!(it.next(), None);
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    fn into_iter(self) -> Self::IntoIter {
        let buf = self.ptr;
        let layout = self.layout;
        let (ptr, len, _) = self.into_raw_parts();
        // INVARIANT: The vector's buffer, layout and elements pass to the iterator.
        IntoIter {
            ptr,
            buf,
            len,
            layout,
            _p: PhantomData::<A>,
        }
    }
}

/// An iterator that moves every element out of a [`Vec`], returned by [`Vec::drain_all`].
///
/// Mirrors `kernel::alloc::kvec::DrainAll`. Elements it does not yield are dropped with it.
pub struct DrainAll<'vec, T> {
    /// The elements not yet yielded; the vector no longer owns them.
    elements: slice::IterMut<'vec, T>,
}

impl<'vec, T> Iterator for DrainAll<'vec, T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let elem: *mut T = self.elements.next()?;
        // SAFETY: The element is initialised, owned by this iterator and yielded once.
        Some(unsafe { elem.read() })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.elements.size_hint()
    }
}

impl<'vec, T> Drop for DrainAll<'vec, T> {
    fn drop(&mut self) {
        if core::mem::needs_drop::<T>() {
            let rest: *mut [T] = core::mem::take(&mut self.elements).into_slice();
            // SAFETY: These elements are initialised, owned by this iterator and not yielded.
            unsafe { ptr::drop_in_place(rest) };
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::{alloc::AllocError, prelude::*};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use drydock_host::fault::AllocFailure;

    /// Counts its drops in the given counter.
    #[derive(Clone)]
    struct Counted<'a>(&'a AtomicUsize, u32);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn push_grows_and_a_failed_push_keeps_the_data() {
        let mut v = KVec::new();
        for i in 0..100u32 {
            v.push(i, GFP_KERNEL).unwrap();
            assert!(v.capacity() >= v.len());
        }
        let cap = v.capacity();
        v.resize(cap, 0, GFP_KERNEL).unwrap();

        let failure = AllocFailure::next(1);
        assert_eq!(v.push(1000, GFP_KERNEL), Err(AllocError));
        assert_eq!(failure.injected(), 1);
        drop(failure);
        assert_eq!(v.len(), cap);
        assert_eq!(v.capacity(), cap);
        assert!(v[..100].iter().copied().eq(0..100));
        v.push(1000, GFP_KERNEL).unwrap();
        assert_eq!(v.last(), Some(&1000));
    }

    #[test]
    fn every_growing_function_reports_allocation_failure() {
        let _failure = AllocFailure::next(usize::MAX);
        let mut v = VVec::<u8>::new();
        assert!(v.reserve(1, GFP_KERNEL).is_err());
        assert!(v.push(1, GFP_KERNEL).is_err());
        assert!(v.extend_from_slice(&[1, 2], GFP_KERNEL).is_err());
        assert!(v.extend_with(2, 0, GFP_KERNEL).is_err());
        assert!(v.resize(4, 0, GFP_KERNEL).is_err());
        assert!(KVVec::<u8>::with_capacity(4, GFP_KERNEL).is_err());
        assert!(KVec::<u8>::zeroed(4, GFP_KERNEL).is_err());
        assert!(KVec::from_elem(1u8, 4, GFP_KERNEL).is_err());
        assert!(kvec![1, 2].is_err());
        assert!(v.is_empty());
        // Nothing needs memory: these cannot fail.
        assert!(v.reserve(0, GFP_KERNEL).is_ok());
        assert!(v.resize(0, 0, GFP_KERNEL).is_ok());
    }

    #[test]
    fn zst_vectors_never_allocate() {
        let mut v = KVec::<()>::new();
        let _failure = AllocFailure::next(usize::MAX);
        assert_eq!(v.capacity(), usize::MAX);
        for _ in 0..10 {
            v.push((), GFP_KERNEL).unwrap();
        }
        assert_eq!(v.len(), 10);
        assert_eq!(v.reserve(usize::MAX, GFP_KERNEL), Err(AllocError));
    }

    #[test]
    fn elements_are_dropped_exactly_once() {
        let drops = AtomicUsize::new(0);
        let d = &drops;
        let mut v = KVec::new();
        for i in 0..10 {
            v.push(Counted(d, i), GFP_KERNEL).unwrap();
        }
        v.truncate(8);
        assert_eq!(d.load(Ordering::Relaxed), 2);
        let popped = v.pop().unwrap();
        assert_eq!(popped.1, 7);
        drop(popped);
        assert_eq!(d.load(Ordering::Relaxed), 3);
        let removed = v.remove(0).unwrap();
        assert_eq!(removed.1, 0);
        drop(removed);
        assert_eq!(d.load(Ordering::Relaxed), 4);
        assert_eq!(
            v.iter().map(|c| c.1).collect::<std::vec::Vec<_>>(),
            [1, 2, 3, 4, 5, 6]
        );

        v.retain(|c| c.1 % 2 == 0);
        assert_eq!(d.load(Ordering::Relaxed), 7);
        // Dropping a partially consumed drain drops the rest.
        let mut drain = v.drain_all();
        assert_eq!(drain.next().map(|c| c.1), Some(2));
        drop(drain);
        assert_eq!(d.load(Ordering::Relaxed), 10);
        assert!(v.is_empty());

        v.extend_from_slice(&[Counted(d, 1)], GFP_KERNEL).unwrap();
        // The temporary array's element and its clone.
        assert_eq!(d.load(Ordering::Relaxed), 11);
        v.resize(3, Counted(d, 9), GFP_KERNEL).unwrap();
        let mut it = v.into_iter();
        assert_eq!(it.next().map(|c| c.1), Some(1));
        let rest = it.collect(GFP_KERNEL);
        assert_eq!(rest.len(), 2);
        drop(rest);
        assert_eq!(d.load(Ordering::Relaxed), 14);
    }

    #[test]
    fn collect_keeps_the_capacity_when_shrinking_fails() {
        let v = kvec![1u32, 2, 3, 4].unwrap();
        let mut it = v.into_iter();
        assert_eq!(it.next(), Some(1));
        let failure = AllocFailure::next(1);
        let rest = it.collect(GFP_KERNEL);
        assert_eq!(failure.injected(), 1);
        assert_eq!(rest, [2, 3, 4]);
        assert_eq!(rest.capacity(), 4);

        let mut it = rest.into_iter();
        assert_eq!(it.next(), Some(2));
        drop(failure);
        let rest = it.collect(GFP_KERNEL);
        assert_eq!(rest, [3, 4]);
        assert_eq!(rest.capacity(), 2);
    }

    #[test]
    fn zeroed_vectors_are_zero() {
        let mut v = KVVec::<u32>::zeroed(1000, GFP_KERNEL).unwrap();
        assert!(v.iter().all(|&x| x == 0));
        v.fill(u32::MAX);
        drop(v);
        let v = KVVec::<u32>::zeroed(1000, GFP_KERNEL).unwrap();
        assert!(v.iter().all(|&x| x == 0));
    }

    #[test]
    fn insert_within_capacity_reports_both_errors() {
        let mut v = KVec::with_capacity(2, GFP_KERNEL).unwrap();
        v.push(1, GFP_KERNEL).unwrap();
        assert!(matches!(
            v.insert_within_capacity(5, 9),
            Err(InsertError::IndexOutOfBounds(9))
        ));
        v.insert_within_capacity(0, 0).unwrap();
        let cap = v.capacity();
        v.resize(cap, 7, GFP_KERNEL).unwrap();
        assert!(matches!(
            v.insert_within_capacity(0, 9),
            Err(InsertError::OutOfCapacity(9))
        ));
        assert_eq!(&v[..2], &[0, 1]);
        let err: Error = v.push_within_capacity(3).unwrap_err().into();
        assert_eq!(err, EINVAL);
    }

    use crate::alloc::kvec::InsertError;

    #[test]
    #[cfg_attr(miri, ignore = "allocates and copies 4 MiB, too slow under Miri")]
    fn kvvec_shrink_to() {
        let mut v = KVVec::<u8>::with_capacity(4096 * 4, GFP_KERNEL).unwrap();
        v.extend_from_slice(&[1, 2, 3], GFP_KERNEL).unwrap();
        v.shrink_to(4096, GFP_KERNEL).unwrap();
        assert!(v.capacity() >= 4096 && v.capacity() < 4096 * 4);
        v.shrink_to(0, GFP_KERNEL).unwrap();
        assert_eq!(v.capacity(), 3);
        assert_eq!(v, [1, 2, 3]);
        // Growing past `min_capacity` is not shrinking.
        v.shrink_to(100, GFP_KERNEL).unwrap();
        assert_eq!(v.capacity(), 3);

        let mut empty = KVVec::<u8>::with_capacity(16, GFP_KERNEL).unwrap();
        empty.shrink_to(0, GFP_KERNEL).unwrap();
        assert_eq!(empty.capacity(), 0);

        // A `vmalloc`-placed buffer only moves when that frees a page.
        let big = (4 << 20) + 4096;
        let mut v = KVVec::<u8>::with_capacity(big, GFP_KERNEL).unwrap();
        v.shrink_to(big - 1, GFP_KERNEL).unwrap();
        assert_eq!(v.capacity(), big);
        let failure = AllocFailure::next(1);
        assert!(v.shrink_to(big - 4096, GFP_KERNEL).is_err());
        assert_eq!(failure.injected(), 1);
        drop(failure);
        assert_eq!(v.capacity(), big);
        v.shrink_to(big - 4096, GFP_KERNEL).unwrap();
        assert_eq!(v.capacity(), big - 4096);
    }
}
