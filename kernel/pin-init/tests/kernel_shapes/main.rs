//! Kernel-shaped code compiled against drydock's `pin-init`.
//!
//! This test crate plays the role of the `kernel` crate (`extern crate self as kernel`): it has a
//! tiny fake of the kernel APIs that the two driver-shaped files below need, and its own
//! `try_pin_init!`, which, like the kernel's, forwards to `pin_init::pin_init!` with
//! `#[default_error(...)]`. The driver-shaped files use the same `pin-init` syntax as
//! `samples/rust/rust_dma.rs` and `rust/kernel/irq/request.rs` of Linux 7.3; the tests at the
//! bottom run them and check drop/cleanup behavior on success and failure.

// Test helpers are neither public API nor documented items.
#![allow(missing_docs, unreachable_pub)]

// Makes `kernel::...` paths work everywhere in this test crate, as they do in the kernel.
extern crate self as kernel;

mod fake;
mod irq_request;
mod rust_dma;

pub use fake::{alloc, bindings, device, dma, error, page, pci, scatterlist, str, sync};

/// The kernel-side allocation trait, as in `rust/kernel/init.rs`: `pin-init`'s initializers plus
/// allocation flags, built on `pin_init::raw_try_init`.
pub mod init {
    use crate::{
        alloc::{AllocError, Flags},
        error::Error,
    };
    use pin_init::{init_from_closure, pin_init_from_closure, Init, PinInit};

    pub trait InPlaceInit<T>: Sized {
        type PinnedSelf;

        fn try_pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, E>
        where
            E: From<AllocError>;

        fn pin_init<E>(init: impl PinInit<T, E>, flags: Flags) -> Result<Self::PinnedSelf, Error>
        where
            Error: From<E>,
        {
            // SAFETY: Delegates to `init`, only converting the error.
            let init = unsafe {
                // The guarantees our caller gives for `slot` are passed on to `init`.
                pin_init_from_closure(|slot| {
                    pin_init::raw_try_init(slot, init).map_err(Error::from)
                })
            };
            Self::try_pin_init(init, flags)
        }

        fn try_init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, E>
        where
            E: From<AllocError>;

        fn init<E>(init: impl Init<T, E>, flags: Flags) -> Result<Self, Error>
        where
            Error: From<E>,
        {
            // SAFETY: Delegates to `init`, only converting the error.
            let init = unsafe {
                // The guarantees our caller gives for `slot` are passed on to `init`.
                init_from_closure(|slot| pin_init::raw_try_init(slot, init).map_err(Error::from))
            };
            Self::try_init(init, flags)
        }
    }

    impl<T> InPlaceInit<T> for Box<T> {
        type PinnedSelf = core::pin::Pin<Box<T>>;

        fn try_pin_init<E>(init: impl PinInit<T, E>, _flags: Flags) -> Result<Self::PinnedSelf, E>
        where
            E: From<AllocError>,
        {
            let mut memory = Box::<T>::new_uninit();
            // SAFETY: Fresh, exclusively owned, uninitialized memory that is pinned on success
            // and freed without dropping on failure.
            unsafe { pin_init::raw_try_init(memory.as_mut_ptr(), init)? };
            // SAFETY: Initialized above.
            Ok(Box::into_pin(unsafe { memory.assume_init() }))
        }

        fn try_init<E>(init: impl Init<T, E>, _flags: Flags) -> Result<Self, E>
        where
            E: From<AllocError>,
        {
            let mut memory = Box::<T>::new_uninit();
            // SAFETY: As above; `init` does not need pinning.
            unsafe { pin_init::raw_try_init(memory.as_mut_ptr(), init)? };
            // SAFETY: Initialized above.
            Ok(unsafe { memory.assume_init() })
        }
    }

    /// The kernel's `try_pin_init!`: `pin_init!` with `Error` as the default error type.
    #[macro_export]
    macro_rules! try_pin_init {
        ($($args:tt)*) => {
            ::pin_init::pin_init!(#[default_error($crate::error::Error)] $($args)*)
        };
    }

    /// The kernel's `try_init!`: `init!` with `Error` as the default error type.
    #[macro_export]
    macro_rules! try_init {
        ($($args:tt)*) => {
            ::pin_init::init!(#[default_error($crate::error::Error)] $($args)*)
        };
    }
}

pub mod prelude {
    pub use crate::{
        alloc::{flags::*, KBox, VVec},
        dev_info,
        error::{code::*, Error, Result},
        init::InPlaceInit,
        str::CStrExt as _,
        try_init, try_pin_init,
    };
    pub use core::{
        ffi::{c_char, c_int, c_uint, c_void, CStr},
        pin::Pin,
    };
    pub use pin_init::{
        init, pin_data, pin_init, pinned_drop, InPlaceWrite, Init, PinInit, Zeroable,
    };
}

mod tests;
