//! The callbacks of a blk-mq driver, and the table blk-mq calls them through.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use crate::{
    bindings,
    block::mq::{request::RequestDataWrapper, Request},
    error::{from_result, Result},
    prelude::*,
    sync::{aref::ARef, Refcount},
    types::ForeignOwnable,
};
use core::marker::PhantomData;

/// What `QueueData` lends a callback.
type ForeignBorrowed<'a, T> = <T as ForeignOwnable>::Borrowed<'a>;

/// The callbacks of a blk-mq block driver.
///
/// Mirrors `kernel::block::mq::Operations`. Implement it with `#[vtable]`; the [module
/// documentation](kernel::block::mq) shows a driver. There is no callback for a request going
/// away: the driver data the Rust side keeps with each request is dropped for it.
///
/// Difference from the kernel: the callbacks run on the threads of the host's front end, one per
/// hardware queue (see the module documentation).
#[macros::vtable]
pub trait Operations: Sized {
    /// The data of the disk's request queue, given to the disk when it is built and lent to
    /// [`Operations::queue_rq`] and [`Operations::commit_rqs`].
    type QueueData: ForeignOwnable + Sync;

    /// Gives the driver a request. If `is_last` is `false`, more requests follow in the same
    /// batch and the driver may wait for them (or for [`Operations::commit_rqs`]) before it
    /// submits them to its device.
    ///
    /// An error fails the request, except `ENOMEM` and `EBUSY`, which have blk-mq requeue it (run
    /// the queue again after a short delay, or when a request ends).
    fn queue_rq(
        queue_data: ForeignBorrowed<'_, Self::QueueData>,
        rq: ARef<Request<Self>>,
        is_last: bool,
    ) -> Result;

    /// Submits the requests queued so far: the last batch ended without a request marked last.
    fn commit_rqs(queue_data: ForeignBorrowed<'_, Self::QueueData>);

    /// Finishes a request completed with [`Request::complete`], on the hardware queue's context.
    fn complete(rq: ARef<Request<Self>>);

    /// Polls the device for completed requests; used only for poll queues.
    ///
    /// As in 7.3, a tag set built with [`TagSet::new`](super::TagSet::new) has no poll queues,
    /// so blk-mq never calls it.
    fn poll() -> bool {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The callbacks blk-mq calls, for a driver's [`Operations`], and the `blk_mq_ops` table of them.
pub(crate) struct OperationsVTable<T: Operations>(PhantomData<T>);

impl<T: Operations> OperationsVTable<T> {
    /// Hands a request to the driver's `queue_rq`.
    ///
    /// # Safety
    ///
    /// - `bd` must be valid for reads for the duration of the call;
    /// - `hctx` must be a live hardware queue context of a queue built by
    ///   [`GenDiskBuilder::build`](super::gen_disk::GenDiskBuilder::build);
    /// - `(*bd).rq` must be a request set up by `init_request_callback`, not torn down, that
    ///   blk-mq gives the driver until it ends it.
    unsafe extern "C" fn queue_rq_callback(
        hctx: *mut bindings::blk_mq_hw_ctx,
        bd: *const bindings::blk_mq_queue_data,
    ) -> bindings::blk_status_t {
        // SAFETY: `bd` and its request are valid (the caller's guarantee).
        let request = unsafe { &*(*bd).rq.cast::<Request<T>>() };

        // The request is the driver's now: one reference for being in flight, one for the
        // `ARef` made below.
        request.wrapper_ref().refcount().set(2);

        // SAFETY: The reference taken above goes to the `ARef`; the request is a valid request
        // with its driver data set up, and stays so until the driver ends it.
        let rq = unsafe { Request::aref_from_raw((*bd).rq) };

        // SAFETY: `hctx` and its queue are live.
        let queue_data = unsafe { (*(*hctx).queue).queuedata };

        // SAFETY: `queuedata` came from `ForeignOwnable::into_foreign` in `GenDiskBuilder::build`
        // and is converted back only when the disk is dropped, after its requests ended.
        let queue_data = unsafe { T::QueueData::borrow(queue_data) };

        // SAFETY: The refcount was just set to 2: this is the only `ARef`.
        unsafe { Request::start_unchecked(&rq) };

        // SAFETY: `bd` is valid.
        let is_last = unsafe { (*bd).last };
        match T::queue_rq(queue_data, rq, is_last) {
            Ok(()) => bindings::BLK_STS_OK,
            Err(e) => e.to_blk_status(),
        }
    }

    /// Calls the driver's `commit_rqs`.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only, with a live `hctx` of a queue built by `GenDiskBuilder::build`.
    unsafe extern "C" fn commit_rqs_callback(hctx: *mut bindings::blk_mq_hw_ctx) {
        // SAFETY: `hctx` and its queue are live.
        let queue_data = unsafe { (*(*hctx).queue).queuedata };

        // SAFETY: As in `queue_rq_callback`, `queuedata` is the queue data's foreign form, alive
        // until the disk is dropped.
        let queue_data = unsafe { T::QueueData::borrow(queue_data) };
        T::commit_rqs(queue_data)
    }

    /// Calls the driver's `complete`.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only, for a request completed with `Request::complete`, which left its
    /// reference for this call.
    unsafe extern "C" fn complete_callback(rq: *mut bindings::request) {
        // SAFETY: `Request::complete` gave up an `ARef` for this call; it is taken back here.
        let aref = unsafe { Request::aref_from_raw(rq) };
        T::complete(aref);
    }

    /// Calls the driver's `poll`.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only.
    unsafe extern "C" fn poll_callback(
        _hctx: *mut bindings::blk_mq_hw_ctx,
        _iob: *mut bindings::io_comp_batch,
    ) -> crate::ffi::c_int {
        T::poll().into()
    }

    /// Sets up a hardware queue context: there is nothing to set up.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only, once per context before `exit_hctx_callback`.
    unsafe extern "C" fn init_hctx_callback(
        _hctx: *mut bindings::blk_mq_hw_ctx,
        _tagset_data: *mut crate::ffi::c_void,
        _hctx_idx: crate::ffi::c_uint,
    ) -> crate::ffi::c_int {
        from_result(|| Ok(0))
    }

    /// Tears down a hardware queue context: there is nothing to tear down.
    ///
    /// # Safety
    ///
    /// Called by blk-mq only.
    unsafe extern "C" fn exit_hctx_callback(
        _hctx: *mut bindings::blk_mq_hw_ctx,
        _hctx_idx: crate::ffi::c_uint,
    ) {
    }

    /// Sets up the driver data of a new request: its reference count, 0 (the block layer's).
    ///
    /// # Safety
    ///
    /// - Called by blk-mq only;
    /// - `_set` must be a `TagSet<T>`'s tag set;
    /// - `rq` must be a request allocated with room for a [`RequestDataWrapper`] after it.
    unsafe extern "C" fn init_request_callback(
        _set: *mut bindings::blk_mq_tag_set,
        rq: *mut bindings::request,
        _hctx_idx: crate::ffi::c_uint,
        _numa_node: crate::ffi::c_int,
    ) -> crate::ffi::c_int {
        from_result(|| {
            // SAFETY: The request has room for the wrapper after it (the caller's guarantee).
            let pdu = unsafe { Request::wrapper_ptr(rq.cast::<Request<T>>()) };

            // SAFETY: The wrapper's memory is allocated, not initialised: written, not read.
            unsafe { RequestDataWrapper::refcount_ptr(pdu.as_ptr()).write(Refcount::new(0)) };

            Ok(0)
        })
    }

    /// Drops the driver data of a request going away.
    ///
    /// # Safety
    ///
    /// - Called by blk-mq only;
    /// - `_set` must be a `TagSet<T>`'s tag set;
    /// - `rq` must be a request set up by `init_request_callback`.
    unsafe extern "C" fn exit_request_callback(
        _set: *mut bindings::blk_mq_tag_set,
        rq: *mut bindings::request,
        _hctx_idx: crate::ffi::c_uint,
    ) {
        // A `TagSet<T>` allocates every request with a `RequestDataWrapper` after it.
        let pdu = drydock_host::block::mq::blk_mq_rq_to_pdu(rq).cast::<RequestDataWrapper>();

        // SAFETY: `init_request_callback` initialised the wrapper, which nothing uses any more.
        unsafe { core::ptr::drop_in_place(pdu) };
    }

    const VTABLE: bindings::blk_mq_ops = bindings::blk_mq_ops {
        queue_rq: Some(Self::queue_rq_callback),
        commit_rqs: Some(Self::commit_rqs_callback),
        poll: if T::HAS_POLL {
            Some(Self::poll_callback)
        } else {
            None
        },
        complete: Some(Self::complete_callback),
        init_hctx: Some(Self::init_hctx_callback),
        exit_hctx: Some(Self::exit_hctx_callback),
        init_request: Some(Self::init_request_callback),
        exit_request: Some(Self::exit_request_callback),
    };

    /// The driver's `blk_mq_ops` table.
    pub(crate) const fn build() -> &'static bindings::blk_mq_ops {
        &Self::VTABLE
    }
}
