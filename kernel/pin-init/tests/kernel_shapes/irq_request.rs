//! Shaped like `Registration` in `rust/kernel/irq/request.rs` of Linux 7.3: `try_pin_init!` with
//! `&this in`, an earlier field (`request`) used in a fallible `_:` block that hands `this` to C.

use core::marker::{
    PhantomData,
    PhantomPinned, //
};

use crate::{
    bindings,
    device::{
        Bound,
        Device, //
    },
    error::to_result,
    prelude::*,
    str::CStr,
};

#[repr(u32)]
#[allow(dead_code)] // The tests' handler always handles the interrupt.
pub enum IrqReturn {
    None = bindings::irqreturn::IRQ_NONE.0,
    Handled = bindings::irqreturn::IRQ_HANDLED.0,
}

pub trait Handler: Sync {
    fn handle(&self) -> IrqReturn;
}

pub struct IrqRequest<'a> {
    irq: u32,
    _dev: PhantomData<&'a Device<Bound>>,
}

impl<'a> IrqRequest<'a> {
    /// # Safety
    ///
    /// `irq` is a valid IRQ number for `dev`.
    pub(crate) unsafe fn new(_dev: &'a Device<Bound>, irq: u32) -> Self {
        IrqRequest {
            irq,
            _dev: PhantomData,
        }
    }
}

pub struct Flags(core::ffi::c_ulong);

impl Flags {
    pub const SHARED: Flags = Flags(0x80);

    fn into_inner(self) -> core::ffi::c_ulong {
        self.0
    }
}

/// # Invariants
///
/// We own an irq handler registered via `request_irq` whose cookie is a pointer to `Self`.
#[pin_data(PinnedDrop)]
pub struct Registration<'a, T: Handler> {
    request: IrqRequest<'a>,

    #[pin]
    handler: T,

    /// Pinned because we need address stability so that we can pass a pointer
    /// to the callback.
    #[pin]
    _pin: PhantomPinned,
}

impl<'a, T: Handler> Registration<'a, T> {
    /// Registers the IRQ handler with the system for the given IRQ number.
    ///
    /// # Safety
    ///
    /// Callers must not `mem::forget()` the returned [`Registration`] or otherwise prevent its
    /// [`Drop`] implementation from running.
    pub unsafe fn new(
        request: IrqRequest<'a>,
        flags: Flags,
        name: &'static CStr,
        handler: impl PinInit<T, Error> + 'a,
    ) -> impl PinInit<Self, Error> + 'a
    where
        T: 'a,
    {
        try_pin_init!(&this in Self {
            handler <- handler,
            request,
            _pin: PhantomPinned,
            _: {
                // SAFETY:
                // - The callbacks are valid for use with request_irq.
                // - If this succeeds, the slot is guaranteed to be valid until the destructor of
                //   Self runs, which will deregister the callbacks before the memory location
                //   becomes invalid.
                // - All fields are already initialized, so it's safe for the callback to be
                //   called immediately.
                to_result(unsafe {
                    bindings::request_irq(
                        request.irq,
                        Some(handle_irq_callback::<T>),
                        flags.into_inner(),
                        name.as_char_ptr(),
                        this.as_ptr().cast::<c_void>(),
                    )
                })?;
            },
        })
    }

    /// Returns a reference to the handler that was registered with the system.
    pub fn handler(&self) -> &T {
        &self.handler
    }
}

#[pinned_drop]
impl<T: Handler> PinnedDrop for Registration<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: The cookie was set to a pointer to `Self` in `Registration::new()`.
        unsafe {
            bindings::free_irq(
                self.request.irq,
                core::ptr::from_mut::<Self>(self.get_unchecked_mut()).cast::<c_void>(),
            )
        };
    }
}

/// # Safety
///
/// This function should be only used as the callback in `request_irq`.
unsafe extern "C" fn handle_irq_callback<T: Handler>(
    _irq: i32,
    ptr: *mut c_void,
) -> bindings::irqreturn_t {
    let ptr = ptr.cast_const().cast::<Registration<'_, T>>();
    // SAFETY: `ptr` is a pointer to `Registration<'_, T>` set in `Registration::new()`.
    let registration = unsafe { &*ptr };

    bindings::irqreturn_t(T::handle(&registration.handler) as c_uint)
}
