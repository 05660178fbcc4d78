//! Registering interrupt handlers: the userspace `request_irq()`.
//!
//! Mirrors `rust/kernel/irq/request.rs` of Linux 7.3.

use core::marker::{PhantomData, PhantomPinned};

use crate::device::{Bound, Device};
use crate::irq::flags::Flags;
use crate::prelude::*;
use crate::str::CStr;
use drydock_host::irq as host_irq;

/// What a hard interrupt handler reports.
///
/// Mirrors `kernel::irq::IrqReturn`.
#[repr(u32)]
pub enum IrqReturn {
    /// The interrupt was not from this device, or was not handled.
    None = host_irq::IRQ_NONE,
    /// The interrupt was handled.
    Handled = host_irq::IRQ_HANDLED,
}

/// An interrupt handler.
///
/// Mirrors `kernel::irq::Handler`. In userspace, `handle` runs on the vector's interrupt thread
/// rather than in hard interrupt context; it should still be short and must not block for long,
/// since the vector's next interrupt waits for it.
pub trait Handler: Sync {
    /// Handles an interrupt of the line this handler is registered on.
    fn handle(&self) -> IrqReturn;
}

/// A request for an interrupt line of a bound device: what a [`Registration`] registers on.
///
/// Mirrors `kernel::irq::IrqRequest`; obtained from a bus, for example
/// `pci::IrqVectorRegistration::index`.
///
/// # Invariants
///
/// `irq` is a valid IRQ number of the device for the lifetime `'a`.
pub struct IrqRequest<'a> {
    irq: u32,
    _dev: PhantomData<&'a Device<Bound>>,
}

impl<'a> IrqRequest<'a> {
    /// Creates a request for line `irq` of `dev`.
    ///
    /// # Safety
    ///
    /// `irq` must be a valid IRQ number of `dev`.
    pub(crate) unsafe fn new(_dev: &'a Device<Bound>, irq: u32) -> Self {
        // INVARIANT: by the safety requirements.
        IrqRequest {
            irq,
            _dev: PhantomData,
        }
    }

    /// Returns the IRQ number.
    #[inline]
    pub fn irq(&self) -> u32 {
        self.irq
    }
}

/// A registered interrupt handler; the handler is freed (and waited for) when this is dropped.
///
/// Mirrors `kernel::irq::Registration`.
///
/// # Invariants
///
/// While this value exists, `handler` is registered on `request.irq()` with this value's address
/// as its `dev_id`.
#[pin_data(PinnedDrop)]
pub struct Registration<'a, T: Handler> {
    request: IrqRequest<'a>,
    #[pin]
    handler: T,
    #[pin]
    _pin: PhantomPinned,
}

impl<'a, T: Handler> Registration<'a, T> {
    /// Registers `handler` on the line of `request`.
    ///
    /// `name` names the registration in diagnostics. With [`Flags::SHARED`], the line may carry
    /// other handlers that also asked for sharing; otherwise registering on a line in use fails
    /// with `EBUSY`.
    ///
    /// # Safety
    ///
    /// The returned registration must be dropped (not `mem::forget`-ed), since dropping it is what
    /// stops the handler from being called.
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
                // SAFETY: `this` is the registration being initialised; it is pinned, and its
                // `PinnedDrop` frees the handler before the memory goes away (the caller must not
                // forget it), so the `dev_id` stays valid while the handler is registered.
                unsafe {
                    host_irq::request_irq(
                        request.irq(),
                        handle_irq_callback::<T>,
                        None,
                        flags.contains(Flags::SHARED),
                        name,
                        this.as_ptr().cast(),
                    )
                }?;
            },
        })
    }

    /// Returns the handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// Waits until no handler of this line is running (`synchronize_irq()`).
    #[inline]
    pub fn synchronize(&self) {
        host_irq::synchronize_irq(self.request.irq());
    }
}

#[pinned_drop]
impl<T: Handler> PinnedDrop for Registration<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        let irq = self.request.irq();
        // SAFETY: we do not move out of `self`; we only take its address, the `dev_id` it was
        // registered with.
        let dev_id = core::ptr::from_mut(unsafe { self.get_unchecked_mut() });
        host_irq::free_irq(irq, dev_id.cast());
    }
}

/// Calls the handler of the [`Registration`] at `dev_id`.
///
/// # Safety
///
/// `dev_id` must point to a live, registered `Registration<'_, T>`.
unsafe fn handle_irq_callback<T: Handler>(dev_id: *mut c_void) -> u32 {
    // SAFETY: by the safety requirements; `free_irq` in `PinnedDrop` ensures no call happens after
    // the registration is gone.
    let registration = unsafe { &*dev_id.cast_const().cast::<Registration<'_, T>>() };
    T::handle(&registration.handler) as u32
}

/// What the hard part of a threaded interrupt handler reports.
///
/// Mirrors `kernel::irq::ThreadedIrqReturn`.
#[repr(u32)]
pub enum ThreadedIrqReturn {
    /// The interrupt was not from this device, or was not handled.
    None = host_irq::IRQ_NONE,
    /// The interrupt was handled; the threaded part need not run.
    Handled = host_irq::IRQ_HANDLED,
    /// Run the threaded part.
    WakeThread = host_irq::IRQ_WAKE_THREAD,
}

/// An interrupt handler split into a short hard part and a threaded part that may sleep.
///
/// Mirrors `kernel::irq::ThreadedHandler`. The threaded part runs on a worker thread of the
/// registration, after the hard part returned [`ThreadedIrqReturn::WakeThread`]; an INTx line
/// stays masked until it finished.
pub trait ThreadedHandler: Sync {
    /// The hard part; by default it asks for the threaded part.
    fn handle(&self) -> ThreadedIrqReturn {
        ThreadedIrqReturn::WakeThread
    }

    /// The threaded part.
    fn handle_threaded(&self) -> IrqReturn;
}

/// A registered threaded interrupt handler, freed when this is dropped.
///
/// Mirrors `kernel::irq::ThreadedRegistration`.
///
/// # Invariants
///
/// While this value exists, `handler` is registered on `request.irq()` with this value's address
/// as its `dev_id`.
#[pin_data(PinnedDrop)]
pub struct ThreadedRegistration<'a, T: ThreadedHandler> {
    request: IrqRequest<'a>,
    #[pin]
    handler: T,
    #[pin]
    _pin: PhantomPinned,
}

impl<'a, T: ThreadedHandler> ThreadedRegistration<'a, T> {
    /// Registers the threaded `handler` on the line of `request`; see [`Registration::new`].
    ///
    /// # Safety
    ///
    /// The returned registration must be dropped (not `mem::forget`-ed).
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
                // SAFETY: as in `Registration::new`.
                unsafe {
                    host_irq::request_irq(
                        request.irq(),
                        handle_threaded_irq_callback::<T>,
                        Some(thread_fn_callback::<T>),
                        flags.contains(Flags::SHARED),
                        name,
                        this.as_ptr().cast(),
                    )
                }?;
            },
        })
    }

    /// Returns the handler.
    pub fn handler(&self) -> &T {
        &self.handler
    }

    /// Waits until no handler of this line is running (`synchronize_irq()`).
    #[inline]
    pub fn synchronize(&self) {
        host_irq::synchronize_irq(self.request.irq());
    }
}

#[pinned_drop]
impl<T: ThreadedHandler> PinnedDrop for ThreadedRegistration<'_, T> {
    fn drop(self: Pin<&mut Self>) {
        let irq = self.request.irq();
        // SAFETY: we do not move out of `self`; we only take its address, the `dev_id` it was
        // registered with.
        let dev_id = core::ptr::from_mut(unsafe { self.get_unchecked_mut() });
        host_irq::free_irq(irq, dev_id.cast());
    }
}

/// Calls the hard part of the [`ThreadedRegistration`] at `dev_id`.
///
/// # Safety
///
/// `dev_id` must point to a live, registered `ThreadedRegistration<'_, T>`.
unsafe fn handle_threaded_irq_callback<T: ThreadedHandler>(dev_id: *mut c_void) -> u32 {
    // SAFETY: by the safety requirements.
    let registration = unsafe { &*dev_id.cast_const().cast::<ThreadedRegistration<'_, T>>() };
    T::handle(&registration.handler) as u32
}

/// Calls the threaded part of the [`ThreadedRegistration`] at `dev_id`.
///
/// # Safety
///
/// `dev_id` must point to a live, registered `ThreadedRegistration<'_, T>`.
unsafe fn thread_fn_callback<T: ThreadedHandler>(dev_id: *mut c_void) -> u32 {
    // SAFETY: by the safety requirements.
    let registration = unsafe { &*dev_id.cast_const().cast::<ThreadedRegistration<'_, T>>() };
    T::handle_threaded(&registration.handler) as u32
}
