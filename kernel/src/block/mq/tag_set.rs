//! The tag set of a blk-mq driver: its hardware queues and their requests.
//!
//! C header: [`include/linux/blk-mq.h`](srctree/include/linux/blk-mq.h)

use core::pin::Pin;

use crate::{
    bindings,
    block::mq::{operations::OperationsVTable, request::RequestDataWrapper, Operations},
    error::{self, Result},
    prelude::try_pin_init,
    types::Opaque,
};
use core::{convert::TryInto, marker::PhantomData};
use pin_init::{pin_data, pinned_drop, PinInit};

/// The hardware queues of a driver and the requests (tags) of each (a C `struct
/// blk_mq_tag_set`).
///
/// Mirrors `kernel::block::mq::TagSet`. It is pinned, as the C structure is, and may serve
/// several disks.
///
/// As blk-mq: a depth above `BLK_MQ_MAX_DEPTH` (10240) is reduced to it, and the hardware queues
/// to the number of CPUs; `num_maps` above 1 is a kernel `BUG()` (a panic), since 7.3's Rust
/// drivers have no `map_queues`. Difference from the kernel: with ublk, a disk has at most 4096
/// tags per queue, ublk's limit, and building a disk on a deeper tag set fails.
///
/// # Invariants
///
/// `inner` is an initialised tag set, allocated by `blk_mq_alloc_tag_set`.
#[pin_data(PinnedDrop)]
#[repr(transparent)]
pub struct TagSet<T: Operations> {
    #[pin]
    inner: Opaque<bindings::blk_mq_tag_set>,
    _p: PhantomData<T>,
}

impl<T: Operations> TagSet<T> {
    /// Creates a tag set of `nr_hw_queues` hardware queues with `num_tags` requests each, and
    /// `num_maps` queue maps.
    pub fn new(
        nr_hw_queues: u32,
        num_tags: u32,
        num_maps: u32,
    ) -> impl PinInit<Self, error::Error> {
        let tag_set: Result<_> = core::mem::size_of::<RequestDataWrapper>()
            .try_into()
            .map(|cmd_size| bindings::blk_mq_tag_set {
                ops: OperationsVTable::<T>::build(),
                nr_hw_queues,
                // 0: blk-mq's default timeout.
                timeout: 0,
                numa_node: bindings::NUMA_NO_NODE,
                queue_depth: num_tags,
                cmd_size,
                flags: 0,
                driver_data: core::ptr::null_mut::<crate::ffi::c_void>(),
                nr_maps: num_maps,
                ..Default::default()
            })
            .map(Opaque::new)
            .map_err(|e| e.into());

        try_pin_init!(TagSet {
            inner <- tag_set.pin_chain(|tag_set| {
                // SAFETY: Nothing is moved out of `tag_set`.
                let tag_set: &mut Opaque<_> = unsafe { Pin::get_unchecked_mut(tag_set) };
                // SAFETY: `tag_set` is an initialised tag set, pinned from now on, whose `ops`
                // is a `'static` table of callbacks sound for blk-mq to call.
                unsafe { drydock_host::block::mq::blk_mq_alloc_tag_set(tag_set.get()) }
                    .map_err(error::Error::from)
            }),
            _p: PhantomData,
        })
    }

    /// The C tag set.
    pub(crate) fn raw_tag_set(&self) -> *mut bindings::blk_mq_tag_set {
        self.inner.get()
    }
}

#[pinned_drop]
impl<T: Operations> PinnedDrop for TagSet<T> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: `inner` was allocated by `blk_mq_alloc_tag_set` (type invariant); the disks on
        // it hold an `Arc` to the tag set, so none is left.
        unsafe { drydock_host::block::mq::blk_mq_free_tag_set(self.inner.get()) };
    }
}
