//! [`Box`]: a heap allocation holding one value, with an explicit allocator.
//!
//! Mirrors `rust/kernel/alloc/kbox.rs` of Linux 7.3.

#[allow(unused_imports)] // Used in doc comments.
use super::allocator::{KVmalloc, Kmalloc, Vmalloc, VmallocPageIter};
use super::{flags::__GFP_ZERO, AllocError, Allocator, Flags, NumaNode};
use crate::{ffi::c_void, fmt, init::InPlaceInit, page::AsPageIter, types::ForeignOwnable};
use core::{
    alloc::Layout,
    borrow::{Borrow, BorrowMut},
    marker::PhantomData,
    mem::{ManuallyDrop, MaybeUninit},
    ops::{Deref, DerefMut},
    pin::Pin,
    ptr::NonNull,
};
use pin_init::{InPlaceWrite, Init, PinInit, Zeroable, ZeroableOption};

/// A heap allocation holding one value of type `T`, made by the allocator `A`.
///
/// Mirrors `kernel::alloc::Box`. As in the kernel, and unlike `std`'s `Box`, the allocator is a
/// type parameter, every allocating function takes [`Flags`] and returns a `Result`, and moving
/// part of the value out of the box is not supported. [`KBox`], [`VBox`] and [`KVBox`] name the
/// boxes of [`Kmalloc`], [`Vmalloc`] and [`KVmalloc`]. Dropping a box drops the value and frees the
/// memory.
///
/// Difference from the kernel: the kernel derives `CoercePointee`, so `KBox<Foo>` coerces to
/// `KBox<dyn Trait>` implicitly; the derive is unstable, so drydock derives it only with the
/// `coerce-pointee` feature (which needs `RUSTC_BOOTSTRAP=1`, as the kernel's build has). Without
/// it, the coercion is done through the raw pointer:
/// `unsafe { KBox::from_raw(KBox::into_raw(b) as *mut dyn Trait) }`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let b = KBox::<u64>::new(24_u64, GFP_KERNEL)?;
/// assert_eq!(*b, 24_u64);
/// # Ok::<(), Error>(())
/// ```
///
/// # Invariants
///
/// `self.0` is properly aligned and either points to a valid `T` in memory allocated with `A`, or,
/// if `T` is zero-sized, is a dangling, aligned pointer.
#[repr(transparent)]
#[cfg_attr(feature = "coerce-pointee", derive(core::marker::CoercePointee))]
pub struct Box<#[cfg_attr(feature = "coerce-pointee", pointee)] T: ?Sized, A: Allocator>(
    NonNull<T>,
    PhantomData<A>,
);

/// A [`Box`] whose memory comes from [`Kmalloc`].
///
/// Mirrors `kernel::alloc::KBox`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let b = KBox::new(24_u64, GFP_KERNEL)?;
/// assert_eq!(*b, 24_u64);
/// # Ok::<(), Error>(())
/// ```
pub type KBox<T> = Box<T, super::allocator::Kmalloc>;

/// A [`Box`] whose memory comes from [`Vmalloc`].
///
/// Mirrors `kernel::alloc::VBox`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let b = VBox::new(24_u64, GFP_KERNEL)?;
/// assert_eq!(*b, 24_u64);
/// # Ok::<(), Error>(())
/// ```
pub type VBox<T> = Box<T, super::allocator::Vmalloc>;

/// A [`Box`] whose memory comes from [`KVmalloc`].
///
/// Mirrors `kernel::alloc::KVBox`.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// let b = KVBox::new(24_u64, GFP_KERNEL)?;
/// assert_eq!(*b, 24_u64);
/// # Ok::<(), Error>(())
/// ```
pub type KVBox<T> = Box<T, super::allocator::KVmalloc>;

// SAFETY: A `Box` is a non-null pointer, so all zeroes is the `None` of `Option<Box<T, A>>`.
unsafe impl<T, A: Allocator> ZeroableOption for Box<T, A> {}

// SAFETY: A `Box` owns its `T`, so sending the box sends the `T`.
unsafe impl<T, A> Send for Box<T, A>
where
    T: Send + ?Sized,
    A: Allocator,
{
}

// SAFETY: A `Box` owns its `T`, so sharing the box shares the `T`.
unsafe impl<T, A> Sync for Box<T, A>
where
    T: Sync + ?Sized,
    A: Allocator,
{
}

impl<T, A> Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    /// Rebuilds a box from a pointer returned by [`Box::into_raw`].
    ///
    /// # Safety
    ///
    /// If `T` is not zero-sized, `raw` points to memory allocated with `A`, aligned for and
    /// holding a valid `T`, whose ownership passes to the box. If `T` is zero-sized, `raw` is a
    /// dangling, aligned pointer.
    #[inline]
    pub const unsafe fn from_raw(raw: *mut T) -> Self {
        // INVARIANT: Guaranteed by the caller.
        // SAFETY: The caller guarantees that `raw` is valid or dangling, so not null.
        Self(unsafe { NonNull::new_unchecked(raw) }, PhantomData)
    }

    /// Gives up the box and returns the pointer to its value, which is neither dropped nor freed.
    ///
    /// [`Box::from_raw`] turns the pointer back into a box.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let x = KBox::new(24, GFP_KERNEL)?;
    /// let ptr = KBox::into_raw(x);
    /// // SAFETY: `ptr` comes from `KBox::into_raw`.
    /// let x = unsafe { KBox::from_raw(ptr) };
    /// assert_eq!(*x, 24);
    /// # Ok::<(), Error>(())
    /// ```
    #[inline]
    pub fn into_raw(b: Self) -> *mut T {
        ManuallyDrop::new(b).0.as_ptr()
    }

    /// Gives up the box and returns a mutable reference to its value, which lives forever.
    #[inline]
    pub fn leak<'a>(b: Self) -> &'a mut T {
        // SAFETY: `into_raw` returns an aligned pointer to a valid `T` that nothing else owns.
        unsafe { &mut *Box::into_raw(b) }
    }
}

impl<T, A> Box<MaybeUninit<T>, A>
where
    A: Allocator,
{
    /// Converts a box of uninitialised memory into a box of `T`.
    ///
    /// # Safety
    ///
    /// The memory must hold a valid `T`.
    pub unsafe fn assume_init(self) -> Box<T, A> {
        let raw = Self::into_raw(self);
        // SAFETY: `raw` comes from `into_raw` and, by the caller's guarantee, holds a valid `T`;
        // `MaybeUninit<T>` has the layout of `T`.
        unsafe { Box::from_raw(raw.cast()) }
    }

    /// Writes `value` into the box and returns it as a box of `T`.
    pub fn write(mut self, value: T) -> Box<T, A> {
        (*self).write(value);
        // SAFETY: The value was just written.
        unsafe { self.assume_init() }
    }
}

impl<T, A> Box<T, A>
where
    A: Allocator,
{
    /// Allocates memory with `A` and moves `x` into it.
    ///
    /// Fails if the allocation fails. Zero-sized values need no memory.
    pub fn new(x: T, flags: Flags) -> Result<Self, AllocError> {
        Ok(Box::write(Self::new_uninit(flags)?, x))
    }

    /// Allocates memory for a `T` with `A`, without initialising it.
    ///
    /// Fails if the allocation fails. Zero-sized values need no memory.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let b = KBox::<u64>::new_uninit(GFP_KERNEL)?;
    /// let b = KBox::write(b, 24);
    /// assert_eq!(*b, 24_u64);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn new_uninit(flags: Flags) -> Result<Box<MaybeUninit<T>, A>, AllocError> {
        let block = A::alloc(Layout::new::<MaybeUninit<T>>(), flags, NumaNode::NO_NODE)?;
        // INVARIANT: `block` is allocated with `A` and fits a `T` (or is dangling for a ZST).
        Ok(Box(block.cast(), PhantomData))
    }

    /// Allocates memory for a `T` with `A` and [`__GFP_ZERO`], so the value is all zeroes.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let b = KBox::<[u8; 128]>::zeroed(GFP_KERNEL)?;
    /// assert_eq!(*b, [0; 128]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn zeroed(flags: Flags) -> Result<Self, AllocError>
    where
        T: Zeroable,
    {
        let b = Self::new_uninit(flags | __GFP_ZERO)?;
        // SAFETY: `__GFP_ZERO` zeroed the memory, and all zeroes is a valid `T` (`T: Zeroable`).
        Ok(unsafe { b.assume_init() })
    }

    /// Allocates memory with `A`, moves `x` into it and pins it there.
    #[inline]
    pub fn pin(x: T, flags: Flags) -> Result<Pin<Box<T, A>>, AllocError>
    where
        A: 'static,
    {
        Ok(Self::new(x, flags)?.into())
    }

    /// Allocates a pinned slice of `len` values, the `i`-th initialised by `init(i)`.
    ///
    /// Useful for arrays of structs that contain locks. If the allocation or an initialiser fails,
    /// the values already initialised are dropped, the memory is freed and the error returned.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// use kernel::sync::{new_spinlock, SpinLock};
    ///
    /// struct Inner {
    ///     a: u32,
    /// }
    ///
    /// #[pin_data]
    /// struct Example {
    ///     c: u32,
    ///     #[pin]
    ///     d: SpinLock<Inner>,
    /// }
    ///
    /// let s = KBox::pin_slice(
    ///     |i| try_pin_init!(Example { c: i as u32, d <- new_spinlock!(Inner { a: 20 }) }),
    ///     10,
    ///     GFP_KERNEL,
    /// )?;
    /// assert_eq!(s[5].c, 5);
    /// assert_eq!(s[3].d.lock().a, 20);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn pin_slice<Func, Item, E>(
        mut init: Func,
        len: usize,
        flags: Flags,
    ) -> Result<Pin<Box<[T], A>>, E>
    where
        Func: FnMut(usize) -> Item,
        Item: PinInit<T, E>,
        E: From<AllocError>,
    {
        let mut buffer = super::Vec::<T, A>::with_capacity(len, flags)?;
        for i in 0..len {
            let slot = buffer.spare_capacity_mut().as_mut_ptr().cast::<T>();
            // SAFETY: `slot` is valid, uninitialised memory for a `T` (`i < len <= capacity`);
            // it is not used if the initialiser fails, and the buffer never moves its elements,
            // so the value stays pinned.
            unsafe { pin_init::raw_try_init(slot, init(i))? };
            // SAFETY: The element at index `len()` was just initialised and is within capacity.
            unsafe { buffer.inc_len(1) };
        }
        let (ptr, _, _) = buffer.into_raw_parts();
        let slice = core::ptr::slice_from_raw_parts_mut(ptr, len);
        // SAFETY: `slice` is the allocation of `buffer`, made with `A`, holding `len` valid `T`s;
        // a full `Vec` allocation has exactly the layout of `[T; len]`.
        Ok(Pin::from(unsafe { Box::from_raw(slice) }))
    }

    /// Pins a box. Same as `Pin::from(this)`.
    pub fn into_pin(this: Self) -> Pin<Self> {
        this.into()
    }

    /// Keeps the allocation but forgets the value without dropping it.
    fn forget_contents(this: Self) -> Box<MaybeUninit<T>, A> {
        let ptr = Self::into_raw(this);
        // SAFETY: `ptr` comes from `into_raw`; `MaybeUninit<T>` has the layout of `T`.
        unsafe { Box::from_raw(ptr.cast()) }
    }

    /// Drops the value but keeps the allocation, for reuse.
    ///
    /// # Examples
    ///
    /// ```
    /// # use kernel::prelude::*;
    /// let value = KBox::new([0; 32], GFP_KERNEL)?;
    /// let value = KBox::drop_contents(value);
    /// let value = KBox::write(value, [1; 32]);
    /// assert_eq!(*value, [1; 32]);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn drop_contents(this: Self) -> Box<MaybeUninit<T>, A> {
        // SAFETY: By the type invariant the pointer is valid; the value is not used again, since
        // the box is turned into one of uninitialised memory right after.
        unsafe { core::ptr::drop_in_place(this.0.as_ptr()) };
        Self::forget_contents(this)
    }

    /// Moves the value out of the box and frees the allocation.
    pub fn into_inner(b: Self) -> T {
        // SAFETY: By the type invariant `&*b` is valid for reads; the value is then forgotten by
        // the box, so it is not dropped twice.
        let value = unsafe { core::ptr::read(&*b) };
        let _ = Self::forget_contents(b);
        value
    }
}

impl<T, A> From<Box<T, A>> for Pin<Box<T, A>>
where
    T: ?Sized,
    A: Allocator,
{
    /// Pins a box; the value does not move and nothing is allocated.
    fn from(b: Box<T, A>) -> Self {
        // SAFETY: The value lives in its own allocation; a `Pin<Box<T, A>>` never hands out a
        // way to move it unless `T: Unpin`.
        unsafe { Pin::new_unchecked(b) }
    }
}

impl<T, A> InPlaceWrite<T> for Box<MaybeUninit<T>, A>
where
    A: Allocator + 'static,
{
    type Initialized = Box<T, A>;

    #[inline]
    fn write_init<E>(mut self, init: impl Init<T, E>) -> Result<Self::Initialized, E> {
        let slot = self.as_mut_ptr();
        // SAFETY: `slot` is valid, uninitialised memory; if `init` fails the box frees the memory
        // without dropping a value.
        unsafe { pin_init::raw_try_init(slot, init)? };
        // SAFETY: The value was just initialised.
        Ok(unsafe { Box::assume_init(self) })
    }

    #[inline]
    fn write_pin_init<E>(mut self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E> {
        let slot = self.as_mut_ptr();
        // SAFETY: `slot` is valid, uninitialised memory that does not move: the box is pinned
        // right after. If `init` fails the box frees the memory without dropping a value.
        unsafe { pin_init::raw_try_init(slot, init)? };
        // SAFETY: The value was just initialised.
        Ok(unsafe { Box::assume_init(self) }.into())
    }
}

impl<T, A> InPlaceInit<T> for Box<T, A>
where
    A: Allocator + 'static,
{
    type PinnedSelf = Pin<Self>;

    #[inline]
    fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Pin<Self>, E>
    where
        E: From<AllocError>,
    {
        Box::<_, A>::new_uninit(flags)?.write_pin_init(init)
    }

    #[inline]
    fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        Box::<_, A>::new_uninit(flags)?.write_init(init)
    }
}

/// `Box::<T, A>::FOREIGN_ALIGN`: the alignment of `T`, but at least the allocator's.
const fn foreign_align<T, A: Allocator>() -> usize {
    if core::mem::align_of::<T>() < A::MIN_ALIGN {
        A::MIN_ALIGN
    } else {
        core::mem::align_of::<T>()
    }
}

// SAFETY: `into_foreign` returns the box's pointer, which is aligned for `T` and to the
// allocator's minimum alignment, hence to `FOREIGN_ALIGN`; the other functions rebuild or borrow
// the box from that pointer.
unsafe impl<T, A> ForeignOwnable for Box<T, A>
where
    A: Allocator,
{
    const FOREIGN_ALIGN: usize = foreign_align::<T, A>();

    type Borrowed<'a>
        = &'a T
    where
        Self: 'a;
    type BorrowedMut<'a>
        = &'a mut T
    where
        Self: 'a;

    fn into_foreign(self) -> *mut c_void {
        Box::into_raw(self).cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: The caller guarantees `ptr` comes from `into_foreign` of a `Box<T, A>`.
        unsafe { Box::from_raw(ptr.cast()) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> &'a T {
        // SAFETY: The caller guarantees the value is alive and not mutated for `'a`.
        unsafe { &*ptr.cast() }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> &'a mut T {
        // SAFETY: The caller guarantees the value is alive and not otherwise accessed for `'a`.
        unsafe { &mut *ptr.cast() }
    }
}

// SAFETY: As for `Box<T, A>`; the value is never moved out.
unsafe impl<T, A> ForeignOwnable for Pin<Box<T, A>>
where
    A: Allocator,
{
    const FOREIGN_ALIGN: usize = foreign_align::<T, A>();

    type Borrowed<'a>
        = Pin<&'a T>
    where
        Self: 'a;
    type BorrowedMut<'a>
        = Pin<&'a mut T>
    where
        Self: 'a;

    fn into_foreign(self) -> *mut c_void {
        // SAFETY: The pointer is only turned back into a `Pin<Box>` or borrowed pinned, so the
        // value stays pinned.
        Box::into_raw(unsafe { Pin::into_inner_unchecked(self) }).cast()
    }

    unsafe fn from_foreign(ptr: *mut c_void) -> Self {
        // SAFETY: The caller guarantees `ptr` comes from `into_foreign` of a `Pin<Box<T, A>>`.
        unsafe { Pin::new_unchecked(Box::from_raw(ptr.cast())) }
    }

    unsafe fn borrow<'a>(ptr: *mut c_void) -> Pin<&'a T> {
        // SAFETY: The caller guarantees the value is alive and not mutated for `'a`; it was
        // pinned in its box, so the reference is pinned too.
        unsafe { Pin::new_unchecked(&*ptr.cast()) }
    }

    unsafe fn borrow_mut<'a>(ptr: *mut c_void) -> Pin<&'a mut T> {
        // SAFETY: The caller guarantees the value is alive and not otherwise accessed for `'a`;
        // it was pinned in its box, so the reference is pinned too.
        unsafe { Pin::new_unchecked(&mut *ptr.cast()) }
    }
}

impl<T, A> Deref for Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: By the type invariant `self.0` points to a valid, aligned `T`.
        unsafe { self.0.as_ref() }
    }
}

impl<T, A> DerefMut for Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: By the type invariant `self.0` points to a valid, aligned `T` that the box owns.
        unsafe { self.0.as_mut() }
    }
}

impl<T, A> Borrow<T> for Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    fn borrow(&self) -> &T {
        self.deref()
    }
}

impl<T, A> BorrowMut<T> for Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    fn borrow_mut(&mut self) -> &mut T {
        self.deref_mut()
    }
}

impl<T, A> fmt::Display for Box<T, A>
where
    T: ?Sized + fmt::Display,
    A: Allocator,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        <T as fmt::Display>::fmt(&**self, f)
    }
}

impl<T, A> fmt::Debug for Box<T, A>
where
    T: ?Sized + fmt::Debug,
    A: Allocator,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        <T as fmt::Debug>::fmt(&**self, f)
    }
}

impl<T, A> Drop for Box<T, A>
where
    T: ?Sized,
    A: Allocator,
{
    fn drop(&mut self) {
        let layout = Layout::for_value::<T>(self);
        // SAFETY: By the type invariant the value is valid, and it is not used again.
        unsafe { core::ptr::drop_in_place::<T>(self.deref_mut()) };
        // SAFETY: By the type invariant the memory was allocated with `A` and the layout of the
        // value (or is dangling with a zero-sized layout).
        unsafe { A::free(self.0.cast(), layout) };
    }
}

/// The pages of a [`VBox`]'s allocation.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// use kernel::page::{AsPageIter, PAGE_SIZE};
///
/// let mut empty = VBox::new((), GFP_KERNEL)?;
/// assert!(empty.page_iter().next().is_none());
///
/// let mut vbox = VBox::<[u8; PAGE_SIZE + 1]>::new_uninit(GFP_KERNEL)?;
/// assert_eq!(vbox.page_iter().count(), 2);
/// let page = vbox.page_iter().next().expect("at least one page");
/// // SAFETY: Nothing else reads or writes the page meanwhile.
/// unsafe { page.fill_zero_raw(0, PAGE_SIZE)? };
/// # Ok::<(), Error>(())
/// ```
impl<T> AsPageIter for VBox<T> {
    type Iter<'a>
        = VmallocPageIter<'a>
    where
        T: 'a;

    fn page_iter(&mut self) -> Self::Iter<'_> {
        let ptr = self.0.cast();
        let size = core::mem::size_of::<T>();
        // SAFETY: `ptr` is the start of the box's `Vmalloc` allocation (page aligned), of `size`
        // bytes, borrowed mutably for the iterator's lifetime.
        unsafe { VmallocPageIter::new(ptr, size) }
    }
}

#[cfg(test)]
mod tests {
    use crate::{alloc::AllocError, prelude::*, types::ForeignOwnable};
    use core::sync::atomic::{AtomicUsize, Ordering};
    use drydock_host::fault::AllocFailure;

    /// Counts its drops in the given counter.
    struct Counted<'a>(&'a AtomicUsize);

    impl Drop for Counted<'_> {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    #[test]
    fn every_constructor_reports_allocation_failure() {
        let failure = AllocFailure::next(usize::MAX);
        assert_eq!(KBox::new(1u32, GFP_KERNEL).err(), Some(AllocError));
        assert!(VBox::<u32>::new_uninit(GFP_KERNEL).is_err());
        assert!(KVBox::<u32>::zeroed(GFP_KERNEL).is_err());
        assert!(KBox::pin(1u32, GFP_KERNEL).is_err());
        assert_eq!(
            KBox::<u32>::pin_slice(|_| Ok::<u32, Error>(0), 3, GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(
            KBox::init(pin_init::init_zeroed::<u32>(), GFP_KERNEL).err(),
            Some(ENOMEM)
        );
        assert_eq!(failure.injected(), 6);
        // A zero-sized value needs no memory, so it cannot fail.
        assert!(KBox::new((), GFP_KERNEL).is_ok());
    }

    #[test]
    fn drop_drops_the_value_once() {
        let drops = AtomicUsize::new(0);
        let b = KBox::new(Counted(&drops), GFP_KERNEL).unwrap();
        let raw = KBox::into_raw(b);
        assert_eq!(drops.load(Ordering::Relaxed), 0);
        // SAFETY: `raw` comes from `into_raw`.
        drop(unsafe { KBox::from_raw(raw) });
        assert_eq!(drops.load(Ordering::Relaxed), 1);

        let b = KBox::new(Counted(&drops), GFP_KERNEL).unwrap();
        let empty = KBox::drop_contents(b);
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        drop(empty);
        assert_eq!(drops.load(Ordering::Relaxed), 2);

        let inner = KBox::into_inner(KBox::new(Counted(&drops), GFP_KERNEL).unwrap());
        assert_eq!(drops.load(Ordering::Relaxed), 2);
        drop(inner);
        assert_eq!(drops.load(Ordering::Relaxed), 3);
    }

    #[test]
    fn zeroed_is_zero_even_in_reused_memory() {
        for _ in 0..8 {
            let mut b = VBox::<[u64; 64]>::zeroed(GFP_KERNEL).unwrap();
            assert!(b.iter().all(|&w| w == 0));
            b.fill(u64::MAX);
        }
    }

    #[test]
    fn pin_slice_drops_initialised_elements_on_failure() {
        let drops = AtomicUsize::new(0);
        let res = KBox::pin_slice(
            |i| {
                let value = Counted(&drops);
                // SAFETY: The closure writes a valid value or fails without writing.
                unsafe {
                    pin_init::pin_init_from_closure(move |slot: *mut Counted<'_>| {
                        if i == 3 {
                            return Err(EINVAL);
                        }
                        slot.write(value);
                        Ok(())
                    })
                }
            },
            5,
            GFP_KERNEL,
        );
        assert_eq!(res.err(), Some(EINVAL));
        // The three initialised elements and the value captured by the failing initialiser.
        assert_eq!(drops.load(Ordering::Relaxed), 4);
    }

    #[test]
    fn foreign_ownable_round_trips() {
        let ptr = KBox::new(5u8, GFP_KERNEL).unwrap().into_foreign();
        assert_eq!(ptr.addr() % <KBox<u8> as ForeignOwnable>::FOREIGN_ALIGN, 0);
        assert_eq!(<KBox<u8> as ForeignOwnable>::FOREIGN_ALIGN, 8);
        // SAFETY: `ptr` comes from `into_foreign` and nothing else uses it meanwhile.
        unsafe { *<KBox<u8> as ForeignOwnable>::borrow_mut(ptr) += 1 };
        // SAFETY: As above.
        assert_eq!(*unsafe { <KBox<u8> as ForeignOwnable>::borrow(ptr) }, 6);
        // SAFETY: `ptr` comes from `into_foreign` and is not used afterwards.
        let b = unsafe { <KBox<u8> as ForeignOwnable>::from_foreign(ptr) };
        assert_eq!(*b, 6);

        let pinned = KBox::pin(7u16, GFP_KERNEL).unwrap();
        let ptr = pinned.into_foreign();
        // SAFETY: `ptr` comes from `into_foreign` of a `Pin<KBox<u16>>`.
        let borrowed: Pin<&u16> = unsafe { <Pin<KBox<u16>> as ForeignOwnable>::borrow(ptr) };
        assert_eq!(*borrowed, 7);
        // SAFETY: As above; the borrow has ended.
        drop(unsafe { <Pin<KBox<u16>> as ForeignOwnable>::from_foreign(ptr) });
        // SAFETY: A null pointer asks for `None`.
        let none = unsafe { <KBox<u8> as ForeignOwnable>::try_from_foreign(core::ptr::null_mut()) };
        assert!(none.is_none());
    }

    #[test]
    fn trait_objects_through_raw_pointers() {
        trait Speak {
            fn word(&self) -> &'static str;
        }
        struct Dog;
        impl Speak for Dog {
            fn word(&self) -> &'static str {
                "woof"
            }
        }
        let raw = KBox::into_raw(KBox::new(Dog, GFP_KERNEL).unwrap()) as *mut dyn Speak;
        // SAFETY: `raw` comes from `into_raw`, with only its pointee type unsized.
        let b: KBox<dyn Speak> = unsafe { KBox::from_raw(raw) };
        assert_eq!(b.word(), "woof");
    }
}
