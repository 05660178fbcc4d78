//! A blk-mq request, as the driver holds it.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::{
    bindings,
    block::mq::Operations,
    error::Result,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        atomic::Relaxed,
        Refcount,
    },
    types::Opaque,
};
use core::{marker::PhantomData, ptr::NonNull};

/// One I/O request of a blk-mq disk (a C `struct request`).
///
/// Mirrors `kernel::block::mq::Request`. As in 7.3 it has no accessors: a driver ends it with
/// [`Request::end_ok`] or completes it with [`Request::complete`].
///
/// # Reference counting
///
/// The driver data after each request holds a count (in the `RequestDataWrapper` after it) that
/// tells who owns the request:
///
/// - 0: the block layer;
/// - 1: the driver, with no [`ARef`] to it;
/// - 2: the driver, with one `ARef`, which may end it;
/// - more: the driver, with several `ARef`s; none may end it until the others are dropped.
///
/// `queue_rq` receives the request with a count of 2; ending it drops the count from 2 to 0 in
/// one step, so that it fails while another `ARef` exists.
///
/// # Invariants
///
/// - `self.0` is a valid `struct request` allocated by blk-mq;
/// - the driver data after it is an initialised `RequestDataWrapper`;
/// - `self` is reference counted through that wrapper's `refcount`.
#[repr(transparent)]
pub struct Request<T>(Opaque<bindings::request>, PhantomData<T>);

impl<T: Operations> Request<T> {
    /// Makes an [`ARef`] of a raw request.
    ///
    /// # Safety
    ///
    /// - The caller must own a reference to `ptr`'s request, which it gives to the `ARef`;
    /// - the type invariants of [`Request`] must hold for it.
    pub(crate) unsafe fn aref_from_raw(ptr: *mut bindings::request) -> ARef<Self> {
        // INVARIANT: The caller guarantees the invariants.
        // SAFETY: The caller gives its reference to the `ARef`; `ptr` is valid, so not null.
        unsafe { ARef::from_raw(NonNull::new_unchecked(ptr.cast())) }
    }

    /// Tells the block layer the driver starts processing the request
    /// (`blk_mq_start_request()`), as every driver must.
    ///
    /// # Safety
    ///
    /// The caller must own the request exclusively: its count is 2.
    pub(crate) unsafe fn start_unchecked(this: &ARef<Self>) {
        // SAFETY: `this.0` is a valid request (type invariant) that the caller owns.
        unsafe { drydock_host::block::mq::blk_mq_start_request(this.0.get()) };
    }

    /// Takes `this` back from the driver by dropping the count from 2 to 0, or gives it back if
    /// another [`ARef`] exists.
    fn try_set_end(this: ARef<Self>) -> Result<*mut bindings::request, ARef<Self>> {
        // One compare-and-exchange: another thread may take a new `ARef` meanwhile (from a
        // `&Request`), and `Refcount` cannot go from 2 to 0 atomically.
        if let Err(_old) = this
            .wrapper_ref()
            .refcount()
            .as_atomic()
            .cmpxchg(2, 0, Relaxed)
        {
            return Err(this);
        }

        let request_ptr = this.0.get();
        // The count is 0 now: the `ARef` must not decrement it.
        core::mem::forget(this);

        Ok(request_ptr)
    }

    /// Ends the request successfully and hands it back to the block layer
    /// (`blk_mq_end_request()` with `BLK_STS_OK`).
    ///
    /// Fails, giving `this` back, if another [`ARef`] to the request exists.
    pub fn end_ok(this: ARef<Self>) -> Result<(), ARef<Self>> {
        let request_ptr = Self::try_set_end(this)?;

        // SAFETY: `request_ptr` is a valid request (type invariant), and no `ARef` to it is left
        // (`try_set_end` succeeded): the block layer may take it back.
        unsafe { drydock_host::block::mq::blk_mq_end_request(request_ptr, bindings::BLK_STS_OK) };

        Ok(())
    }

    /// Completes the request: the driver's [`Operations::complete`] runs on the hardware
    /// queue's context (`blk_mq_complete_request_remote()`), or here, now, if blk-mq says so.
    ///
    /// Difference from the kernel: the hardware queue's context is the front end's thread of
    /// that queue (blk-mq: a softirq, or an IPI to the submitting CPU). From that thread, a disk
    /// with one hardware queue completes after the current dispatch, one with more in place.
    pub fn complete(this: ARef<Self>) {
        let ptr = ARef::into_raw(this).cast::<bindings::request>().as_ptr();
        // SAFETY: `ptr` is a valid request (type invariant) that the driver owns; the reference
        // released above goes with it.
        if !unsafe { drydock_host::block::mq::blk_mq_complete_request_remote(ptr) } {
            // SAFETY: The reference released above was not handed on: it is taken back here.
            let this = unsafe { Request::aref_from_raw(ptr) };
            T::complete(this);
        }
    }

    /// The [`RequestDataWrapper`] after the request.
    ///
    /// # Safety
    ///
    /// `this` must point to an allocation with room for a request and a `RequestDataWrapper`
    /// after it.
    pub(crate) unsafe fn wrapper_ptr(this: *mut Self) -> NonNull<RequestDataWrapper> {
        let request_ptr = this.cast::<bindings::request>();
        let wrapper_ptr =
            drydock_host::block::mq::blk_mq_rq_to_pdu(request_ptr).cast::<RequestDataWrapper>();
        // SAFETY: An address after a valid allocation's start is not null.
        unsafe { NonNull::new_unchecked(wrapper_ptr) }
    }

    /// The [`RequestDataWrapper`] after the request, by reference.
    pub(crate) fn wrapper_ref(&self) -> &RequestDataWrapper {
        // SAFETY: `self` is a valid request whose driver data is an initialised wrapper (type
        // invariants), which lives at least as long as `&self`.
        unsafe { Self::wrapper_ptr(core::ptr::from_ref(self).cast_mut()).as_ref() }
    }
}

/// The data the Rust side keeps after each C `struct request` (its driver data).
pub(crate) struct RequestDataWrapper {
    /// Who owns the request: 0, the block layer; 1, the driver without an [`ARef`]; 2 and
    /// more, the driver with that many `ARef`s plus one.
    refcount: Refcount,
}

impl RequestDataWrapper {
    /// The request's reference count.
    pub(crate) fn refcount(&self) -> &Refcount {
        &self.refcount
    }

    /// A pointer to the reference count of the wrapper at `this`.
    ///
    /// # Safety
    ///
    /// `this` must point to a live allocation of at least the size of `Self`.
    pub(crate) unsafe fn refcount_ptr(this: *mut Self) -> *mut Refcount {
        // SAFETY: `this` is in bounds of an allocation large enough (the caller's guarantee).
        unsafe { &raw mut (*this).refcount }
    }
}

// SAFETY: A `Request` may be ended or completed from any thread: the block layer's functions are
// thread-safe, and the reference count is atomic.
unsafe impl<T: Operations> Send for Request<T> {}

// SAFETY: `&Request` only reaches the atomic reference count.
unsafe impl<T: Operations> Sync for Request<T> {}

// SAFETY: The reference count lives in the request's driver data; a request is not handed back
// to the block layer while a reference exists (`end_ok` needs the count at 2, the single `ARef`),
// so the memory stays valid while a reference does.
unsafe impl<T: Operations> AlwaysRefCounted for Request<T> {
    fn inc_ref(&self) {
        self.wrapper_ref().refcount().inc();
    }

    unsafe fn dec_ref(obj: core::ptr::NonNull<Self>) {
        // SAFETY: `obj` is a valid request (the caller's guarantee), with room for the wrapper.
        let wrapper_ptr = unsafe { Self::wrapper_ptr(obj.as_ptr()).as_ptr() };
        // SAFETY: The wrapper is initialised (type invariant).
        let refcount = unsafe { &*RequestDataWrapper::refcount_ptr(wrapper_ptr) };

        #[cfg_attr(not(CONFIG_DEBUG_MISC), allow(unused_variables))]
        let is_zero = refcount.dec_and_test();

        #[cfg(CONFIG_DEBUG_MISC)]
        if is_zero {
            panic!("Request reached refcount zero in Rust abstractions");
        }
    }
}
