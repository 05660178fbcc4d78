//! In-place initialization for the smart pointers of the standard library.

use core::{convert::Infallible, mem::MaybeUninit, pin::Pin};
use std::{boxed::Box, rc::Rc, sync::Arc};

use crate::{InPlaceWrite, Init, PinInit, ZeroableOption};

/// The allocation error of the standard smart pointers.
///
/// On stable Rust, `Box::new_uninit` and friends abort on allocation failure instead of returning
/// an error, so allocating cannot fail observably. (The upstream crate uses the unstable
/// `core::alloc::AllocError` when built with its nightly-only `alloc` feature.)
type AllocError = Infallible;

// SAFETY: `Box<T>` is covered by the "null pointer optimization" guarantee documented in
// `core::option`: an all-zero `Option<Box<T>>` is `None`.
unsafe impl<T> ZeroableOption for Box<T> {}

/// Smart pointers that can allocate memory and initialize a `T` in it in place.
///
/// Implemented for [`Box`], [`Arc`] and [`Rc`]. (The kernel has its own trait of the same name
/// in `kernel::init`, which takes allocation flags; this one is the flag-less variant of the
/// standalone `pin-init` crate, which kernel builds of `pin-init` do not contain.)
///
/// # Examples
///
/// ```
/// use core::pin::Pin;
/// use std::sync::Arc;
/// use pin_init::{pin_data, pin_init, InPlaceInit};
///
/// #[pin_data]
/// struct Stats {
///     packets: u64,
/// }
///
/// let stats: Pin<Arc<Stats>> = Arc::pin_init(pin_init!(Stats { packets: 0 })).unwrap();
/// assert_eq!(stats.packets, 0);
/// ```
pub trait InPlaceInit<T>: Sized {
    /// Allocates, then pin-initializes a `T` with `init`; returns the pinned pointer or the
    /// initializer's error (the allocation is freed again).
    fn try_pin_init<E>(init: impl PinInit<T, E>) -> Result<Pin<Self>, E>
    where
        E: From<AllocError>;

    /// Allocates, then pin-initializes a `T` with the infallible `init`.
    #[inline]
    fn pin_init(init: impl PinInit<T>) -> Result<Pin<Self>, AllocError> {
        Self::try_pin_init(init)
    }

    /// Allocates, then initializes a `T` with `init`; returns the pointer or the initializer's
    /// error (the allocation is freed again).
    fn try_init<E>(init: impl Init<T, E>) -> Result<Self, E>
    where
        E: From<AllocError>;

    /// Allocates, then initializes a `T` with the infallible `init`.
    #[inline]
    fn init(init: impl Init<T>) -> Result<Self, AllocError> {
        Self::try_init(init)
    }
}

impl<T> InPlaceInit<T> for Box<T> {
    #[inline]
    fn try_pin_init<E>(init: impl PinInit<T, E>) -> Result<Pin<Self>, E>
    where
        E: From<AllocError>,
    {
        Box::new_uninit().write_pin_init(init)
    }

    #[inline]
    fn try_init<E>(init: impl Init<T, E>) -> Result<Self, E>
    where
        E: From<AllocError>,
    {
        Box::new_uninit().write_init(init)
    }
}

/// Generates the [`InPlaceInit`] implementation of a reference counted pointer (`Rc` or `Arc`).
macro_rules! rc_in_place_init {
    ($rc:ident) => {
        impl<T> InPlaceInit<T> for $rc<T> {
            #[inline]
            fn try_pin_init<E>(init: impl PinInit<T, E>) -> Result<Pin<Self>, E>
            where
                E: From<AllocError>,
            {
                let mut memory = $rc::<T>::new_uninit();
                let Some(slot) = $rc::get_mut(&mut memory) else {
                    unreachable!("a new reference counted allocation is unique")
                };
                // SAFETY: The memory is valid, aligned, uninitialized and exclusively ours (the
                // pointer is unique). It is pinned: on success it is only handed out as
                // `Pin<$rc<T>>`, and on error it is freed without being dropped.
                unsafe { init.__init(slot.as_mut_ptr())? };
                // SAFETY: `init` succeeded, so the memory holds a valid `T`.
                let value = unsafe { memory.assume_init() };
                // SAFETY: The value was initialized as pinned and is only reachable through the
                // returned `Pin`.
                Ok(unsafe { Pin::new_unchecked(value) })
            }

            #[inline]
            fn try_init<E>(init: impl Init<T, E>) -> Result<Self, E>
            where
                E: From<AllocError>,
            {
                let mut memory = $rc::<T>::new_uninit();
                let Some(slot) = $rc::get_mut(&mut memory) else {
                    unreachable!("a new reference counted allocation is unique")
                };
                // SAFETY: The memory is valid, aligned, uninitialized and exclusively ours; `init`
                // does not require pinning. On error it is freed without being dropped.
                unsafe { init.__init(slot.as_mut_ptr())? };
                // SAFETY: `init` succeeded, so the memory holds a valid `T`.
                Ok(unsafe { memory.assume_init() })
            }
        }
    };
}

rc_in_place_init!(Arc);
rc_in_place_init!(Rc);

impl<T> InPlaceWrite<T> for Box<MaybeUninit<T>> {
    type Initialized = Box<T>;

    #[inline]
    fn write_init<E>(mut self, init: impl Init<T, E>) -> Result<Self::Initialized, E> {
        // SAFETY: The memory is valid, aligned and owned by the box, and considered
        // uninitialized; `init` does not require pinning. On error the box frees it without
        // dropping the contents.
        unsafe { init.__init(self.as_mut_ptr())? };
        // SAFETY: `init` succeeded, so the memory holds a valid `T`.
        Ok(unsafe { self.assume_init() })
    }

    #[inline]
    fn write_pin_init<E>(mut self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E> {
        // SAFETY: As in `write_init`. The memory is pinned: on success the box is immediately
        // turned into a `Pin<Box<T>>`.
        unsafe { init.__init(self.as_mut_ptr())? };
        // SAFETY: `init` succeeded, so the memory holds a valid `T`.
        Ok(Box::into_pin(unsafe { self.assume_init() }))
    }
}
