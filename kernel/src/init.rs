//! Initialising values in place, with allocation flags: [`InPlaceInit`],
//! [`try_init!`](crate::try_init!) and [`try_pin_init!`](crate::try_pin_init!).
//!
//! Mirrors `rust/kernel/init.rs` of Linux 7.3, which extends the `pin-init` crate (drydock's own
//! `pin_init` crate provides the same API). Types that must not move once initialised, such as
//! the locks of [`sync`](crate::sync), are built with `pin_init!` or [`try_pin_init!`](crate::try_pin_init!) and placed
//! in their final memory by [`InPlaceInit`] (for [`KBox`](crate::alloc::KBox),
//! [`Arc`](crate::sync::Arc), [`UniqueArc`](crate::sync::UniqueArc)), which allocates that memory
//! with explicit [`Flags`].
//!
//! # Examples
//!
//! ```
//! # use kernel::prelude::*;
//! use kernel::sync::{new_mutex, Mutex};
//!
//! #[pin_data]
//! struct Device {
//!     id: u32,
//!     #[pin]
//!     state: Mutex<u64>,
//! }
//!
//! impl Device {
//!     fn new(id: u32) -> impl PinInit<Self, Error> {
//!         try_pin_init!(Self {
//!             id: if id < 16 { id } else { return Err(EINVAL) },
//!             state <- new_mutex!(0),
//!         })
//!     }
//! }
//!
//! let dev = KBox::pin_init(Device::new(3), GFP_KERNEL)?;
//! assert_eq!(dev.id, 3);
//! assert_eq!(KBox::pin_init(Device::new(99), GFP_KERNEL).err(), Some(EINVAL));
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::{AllocError, Flags},
    error::{self, Error},
};
use pin_init::{init_from_closure, pin_init_from_closure, Init, PinInit};

/// Smart pointers that can allocate their memory and initialise a value in it, in place.
///
/// Mirrors `kernel::init::InPlaceInit`: unlike `pin_init::InPlaceInit`, every function takes
/// allocation [`Flags`].
pub trait InPlaceInit<T>: Sized {
    /// The pinned form of `Self`: `Pin<Self>`, or `Self` for pointers that always pin (such as
    /// [`Arc`](crate::sync::Arc)).
    type PinnedSelf;

    /// Allocates with `flags` and pin-initialises the value with `init`.
    ///
    /// Fails with `init`'s error, or with the allocation's converted to `E`.
    fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, E>
    where
        E: From<AllocError>;

    /// Allocates with `flags` and pin-initialises the value with `init`, failing with an
    /// [`Error`] (`ENOMEM` if the allocation fails).
    #[inline]
    fn pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> error::Result<Self::PinnedSelf>
    where
        Error: From<E>,
    {
        // SAFETY: The closure only forwards to `init`, which upholds the initialiser contract;
        // errors are converted, not acted upon.
        let init = unsafe {
            pin_init_from_closure(|slot| {
                pin_init::raw_try_init(slot, init).map_err(|e| Error::from(e))
            })
        };
        Self::try_pin_init(init, flags)
    }

    /// Allocates with `flags` and initialises the value with `init`.
    ///
    /// Fails with `init`'s error, or with the allocation's converted to `E`.
    fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
    where
        E: From<AllocError>;

    /// Allocates with `flags` and initialises the value with `init`, failing with an [`Error`]
    /// (`ENOMEM` if the allocation fails).
    #[inline]
    fn init<E>(init: impl Init<T, E>, flags: Flags) -> error::Result<Self>
    where
        Error: From<E>,
    {
        // SAFETY: The closure only forwards to `init`, which upholds the initialiser contract
        // (and does not need the slot pinned); errors are converted, not acted upon.
        let init = unsafe {
            init_from_closure(|slot| pin_init::raw_try_init(slot, init).map_err(|e| Error::from(e)))
        };
        Self::try_init(init, flags)
    }
}

/// Builds an initialiser for a struct, fallibly, with the error type defaulting to
/// [`Error`](crate::error::Error).
///
/// Mirrors the kernel's `try_init!`: `pin_init::init!` with `#[default_error(Error)]`. Write
/// `}? OtherError` after the struct to use another error type.
///
/// # Examples
///
/// ```
/// # use kernel::prelude::*;
/// struct Buffer {
///     len: usize,
///     data: KVec<u8>,
/// }
///
/// fn buffer(len: usize) -> impl Init<Buffer, Error> {
///     try_init!(Buffer {
///         data: KVec::from_elem(0, len, GFP_KERNEL)?,
///         len,
///     })
/// }
///
/// let b = KBox::init(buffer(8), GFP_KERNEL)?;
/// assert_eq!(b.data.len(), b.len);
/// # Ok::<(), Error>(())
/// ```
#[macro_export]
macro_rules! try_init {
    ($($args:tt)*) => {
        ::pin_init::init!(
            #[default_error($crate::error::Error)]
            $($args)*
        )
    }
}

/// Builds a pin-initialiser for a struct, fallibly, with the error type defaulting to
/// [`Error`](crate::error::Error).
///
/// Mirrors the kernel's `try_pin_init!`: `pin_init::pin_init!` with `#[default_error(Error)]`.
/// Write `}? OtherError` after the struct to use another error type. See the
/// [module documentation](self) for an example.
#[macro_export]
macro_rules! try_pin_init {
    ($($args:tt)*) => {
        ::pin_init::pin_init!(
            #[default_error($crate::error::Error)]
            $($args)*
        )
    }
}
