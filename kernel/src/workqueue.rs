//! Work queues: running work later, on a worker thread.
//!
//! Mirrors `rust/kernel/workqueue.rs` of Linux 7.3 (C header `include/linux/workqueue.h`). The
//! C side is the host's [`drydock_host::workqueue`]: every queue has worker threads of the
//! process, and the kernel's guarantees hold: an item that is pending is not queued a second time
//! ([`Queue::enqueue`] hands it back, for [`Arc`]), an item runs on one worker at a time, and a
//! delayed item runs no earlier than its delay.
//!
//! # Two layers
//!
//! - The raw layer is [`RawWorkItem`] (and [`RawDelayedWorkItem`]): a pointer type that knows how
//!   to hand a `work_struct` to the C function that queues it. Few users implement it.
//! - The usual layer: a struct embeds a [`Work`] (or a [`DelayedWork`]) field, declares it with
//!   [`impl_has_work!`] (or [`impl_has_delayed_work!`]), and implements [`WorkItem`], choosing the
//!   pointer it is queued through ([`Arc`], `Pin<KBox<_>>` or [`ARef`]), which implements
//!   [`WorkItemPointer`].
//!
//! A struct may hold several `Work` fields: each gets its own `ID` (a `u64` const generic whose
//! value only has to differ between the fields of one struct), and its own `WorkItem<ID>`.
//!
//! # Examples
//!
//! A counter that is bumped by a work item, queued through an [`Arc`]:
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::sync::atomic::{ordering::Relaxed, Atomic};
//! use kernel::sync::{Arc, Completion};
//! use kernel::workqueue::{self, impl_has_work, new_work, Work, WorkItem};
//!
//! #[pin_data]
//! struct Bump {
//!     count: Atomic<u32>,
//!     #[pin]
//!     done: Completion,
//!     #[pin]
//!     work: Work<Bump>,
//! }
//!
//! impl_has_work! {
//!     impl HasWork<Self> for Bump { self.work }
//! }
//!
//! impl WorkItem for Bump {
//!     type Pointer = Arc<Bump>;
//!
//!     fn run(this: Arc<Bump>) {
//!         this.count.fetch_add(1, Relaxed);
//!         this.done.complete_all();
//!     }
//! }
//!
//! let bump = Arc::pin_init(
//!     pin_init!(Bump {
//!         count: Atomic::new(0),
//!         done <- Completion::new(),
//!         work <- new_work!("Bump::work"),
//!     }),
//!     GFP_KERNEL,
//! )?;
//! assert!(workqueue::system().enqueue(bump.clone()).is_ok());
//! bump.done.wait_for_completion();
//! assert_eq!(bump.count.load(Relaxed), 1);
//! # Ok::<(), Error>(())
//! ```
//!
//! Two work fields in one struct, told apart by their `ID`, and a delayed one:
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::sync::Arc;
//! use kernel::workqueue::{
//!     self, impl_has_delayed_work, impl_has_work, new_delayed_work, new_work, DelayedWork, Work,
//!     WorkItem,
//! };
//!
//! #[pin_data]
//! struct Device {
//!     #[pin]
//!     reset: Work<Device, 1>,
//!     #[pin]
//!     watchdog: DelayedWork<Device, 2>,
//! }
//!
//! impl_has_work! {
//!     impl HasWork<Self, 1> for Device { self.reset }
//! }
//!
//! impl_has_delayed_work! {
//!     impl HasDelayedWork<Self, 2> for Device { self.watchdog }
//! }
//!
//! impl WorkItem<1> for Device {
//!     type Pointer = Arc<Device>;
//!
//!     fn run(_this: Arc<Device>) {
//!         pr_info!("resetting\n");
//!     }
//! }
//!
//! impl WorkItem<2> for Device {
//!     type Pointer = Arc<Device>;
//!
//!     fn run(_this: Arc<Device>) {
//!         pr_info!("watchdog\n");
//!     }
//! }
//!
//! let dev = Arc::pin_init(
//!     pin_init!(Device {
//!         reset <- new_work!("Device::reset"),
//!         watchdog <- new_delayed_work!("Device::watchdog"),
//!     }),
//!     GFP_KERNEL,
//! )?;
//! let _ = workqueue::system().enqueue::<Arc<Device>, 1>(dev.clone());
//! // In 25 jiffies (100 ms at drydock's `HZ` of 250).
//! let _ = workqueue::system().enqueue_delayed::<Arc<Device>, 2>(dev, 25);
//! # Ok::<(), Error>(())
//! ```

use crate::{
    alloc::{AllocError, Flags},
    bindings, container_of,
    prelude::*,
    sync::{
        aref::{ARef, AlwaysRefCounted},
        Arc, LockClassKey,
    },
    time::Jiffies,
    types::Opaque,
};
use core::{marker::PhantomData, ptr::NonNull};
use drydock_host::workqueue as host;

/// Returns an initialiser of a [`Work`] named by the string literal given, if any, with a lock
/// class of its own.
///
/// Mirrors the kernel's `new_work!` (the name and class are for lockdep, which drydock lacks).
#[macro_export]
macro_rules! new_work {
    ($($name:literal)?) => {
        $crate::workqueue::Work::new(
            $crate::optional_name!($($name)?),
            $crate::static_lock_class!(),
        )
    };
}
pub use new_work;

/// Returns an initialiser of a [`DelayedWork`] named by the string literal given (its timer by
/// the same name with `_timer` appended), or by the file and line, with lock classes of its own.
///
/// Mirrors the kernel's `new_delayed_work!`.
#[macro_export]
macro_rules! new_delayed_work {
    () => {
        $crate::workqueue::DelayedWork::new(
            $crate::optional_name!(),
            $crate::static_lock_class!(),
            $crate::c_str!(::core::concat!(
                ::core::file!(),
                ":",
                ::core::line!(),
                "_timer"
            )),
            $crate::static_lock_class!(),
        )
    };
    ($name:literal) => {
        $crate::workqueue::DelayedWork::new(
            $crate::c_str!($name),
            $crate::static_lock_class!(),
            $crate::c_str!(::core::concat!($name, "_timer")),
            $crate::static_lock_class!(),
        )
    };
}
pub use new_delayed_work;

/// A work queue (the C `struct workqueue_struct`).
///
/// Mirrors `kernel::workqueue::Queue`. Queues are reached through [`system`] and the other system
/// queue functions, or [`Queue::from_raw`]. Each has its own worker threads here (the kernel
/// shares per-CPU pools), see [`drydock_host::workqueue`].
#[repr(transparent)]
pub struct Queue(Opaque<bindings::workqueue_struct>);

// SAFETY: The C side of a queue may be used from any thread.
unsafe impl Send for Queue {}

// SAFETY: The C side of a queue may be used from any thread, concurrently.
unsafe impl Sync for Queue {}

impl Queue {
    /// Borrows the queue `ptr` points to, for `'a`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid queue that stays valid for `'a`.
    pub unsafe fn from_raw<'a>(ptr: *const bindings::workqueue_struct) -> &'a Queue {
        // SAFETY: `Queue` is a transparent wrapper of the C struct, and the caller guarantees
        // that the pointer is valid for `'a`.
        unsafe { &*ptr.cast::<Queue>() }
    }

    /// Queues the work item `w` (through its `ID`th work field), on no particular CPU.
    ///
    /// An item that is pending already (queued and not yet started, or waiting for its delay) is
    /// not queued again; what the caller gets back then depends on the pointer type: an `Arc` or
    /// `ARef` is returned in `Err`; a `Pin<KBox<_>>` cannot be pending, being owned.
    pub fn enqueue<W, const ID: u64>(&self, w: W) -> W::EnqueueOutput
    where
        W: RawWorkItem<ID> + Send + 'static,
    {
        let queue = self.0.get();
        // SAFETY: `queue_work_on` returns `false` only for a pending item. `W` is `Send` and
        // `'static`, so its function may run on a worker at any time later. The host reads the
        // `work_struct` during the call, where `__enqueue` guarantees it valid, and afterwards only
        // if it was queued, in which case `__enqueue` keeps it valid until the function runs.
        unsafe {
            w.__enqueue(move |work| {
                host::queue_work_on(
                    bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                    queue,
                    work,
                )
            })
        }
    }

    /// Queues the delayed work item `w` (through its `ID`th work field) after `delay` jiffies, on
    /// no particular CPU. A `delay` of 0 queues it at once, as [`Queue::enqueue`] does.
    ///
    /// A pending item is not queued again, as with [`Queue::enqueue`].
    ///
    /// The queue must stay alive until the delay has passed and the item is queued on it, which
    /// borrowing it for the call does not ensure: the system queues live as long as the process,
    /// but a queue from [`Queue::from_raw`] must not be destroyed while a delayed item waits for
    /// it. This is not checked, as upstream does not check it.
    pub fn enqueue_delayed<W, const ID: u64>(&self, w: W, delay: Jiffies) -> W::EnqueueOutput
    where
        W: RawDelayedWorkItem<ID> + Send + 'static,
    {
        let queue = self.0.get();
        // SAFETY: `queue_delayed_work_on` returns `false` only for a pending item. `W` is `Send`
        // and `'static`, so its function may run on a worker at any time later.
        // `RawDelayedWorkItem` guarantees that the `work_struct` is the `work` of a
        // `delayed_work` that is valid during the call, and, if it was queued, until its function
        // runs, which covers the timer's use of it.
        //
        // Not discharged here: `queue_delayed_work_on` also needs the queue to stay live until
        // the timer has queued the item, after this call returns, and `&self` only guarantees it
        // during the call. It holds for the system queues, which are never destroyed; for a queue
        // from `Queue::from_raw` it is left to whoever destroys the queue (see the doc comment),
        // the same gap as upstream's.
        unsafe {
            w.__enqueue(move |work| {
                host::queue_delayed_work_on(
                    bindings::wq_misc_consts_WORK_CPU_UNBOUND as c_int,
                    queue,
                    container_of!(work, bindings::delayed_work, work),
                    delay,
                )
            })
        }
    }

    /// Runs `func` on this queue, in a work item allocated with `flags`.
    ///
    /// Fails only if the allocation does.
    ///
    /// # Examples
    ///
    /// ```
    /// use kernel::prelude::*;
    /// use kernel::workqueue;
    ///
    /// let (tx, rx) = std::sync::mpsc::channel();
    /// workqueue::system().try_spawn(GFP_KERNEL, move || tx.send(6 * 7).unwrap())?;
    /// assert_eq!(rx.recv().unwrap(), 42);
    /// # Ok::<(), Error>(())
    /// ```
    pub fn try_spawn<T: 'static + Send + FnOnce()>(
        &self,
        flags: Flags,
        func: T,
    ) -> Result<(), AllocError> {
        let item = KBox::pin_init(
            pin_init!(ClosureWork {
                work <- new_work!("Queue::try_spawn"),
                func: Some(func),
            }),
            flags,
        )
        .map_err(|_| AllocError)?;
        self.enqueue(item);
        Ok(())
    }
}

/// The work item of [`Queue::try_spawn`]: a closure, run once.
#[pin_data]
struct ClosureWork<T> {
    #[pin]
    work: Work<ClosureWork<T>>,
    func: Option<T>,
}

impl<T: FnOnce()> WorkItem for ClosureWork<T> {
    type Pointer = Pin<KBox<Self>>;

    fn run(mut this: Pin<KBox<Self>>) {
        if let Some(func) = this.as_mut().project().func.take() {
            func();
        }
    }
}

impl_has_work! {
    impl{T} HasWork<Self> for ClosureWork<T> { self.work }
}

/// A pointer to a work item, which knows how to queue it.
///
/// Mirrors `kernel::workqueue::RawWorkItem`. The `ID` selects one of several work fields of the
/// pointee; it exists at compile time only.
///
/// # Safety
///
/// A `work_struct` pointer that [`__enqueue`](RawWorkItem::__enqueue) passes to its closure must
/// stay valid as its guarantees say.
pub unsafe trait RawWorkItem<const ID: u64> {
    /// What [`Queue::enqueue`] returns for this pointer type.
    type EnqueueOutput;

    /// Queues the item by calling `queue_work_on` on its `work_struct`.
    ///
    /// # Guarantees
    ///
    /// If the closure is called, its pointer is valid during the call; if the closure returns
    /// `true`, the pointer stays valid until the function stored in the `work_struct` is called.
    ///
    /// # Safety
    ///
    /// - `queue_work_on` may return `false` only if the `work_struct` is pending already;
    /// - if `Self` has lifetime parameters, the stored function must not be called after they
    ///   end (not calling it at all is fine);
    /// - if `Self` is not [`Send`], the stored function must be called on the calling thread.
    unsafe fn __enqueue<F>(self, queue_work_on: F) -> Self::EnqueueOutput
    where
        F: FnOnce(*mut bindings::work_struct) -> bool;
}

/// A [`RawWorkItem`] whose `work_struct` is that of a `delayed_work`.
///
/// Mirrors `kernel::workqueue::RawDelayedWorkItem`.
///
/// # Safety
///
/// The pointer that [`RawWorkItem::__enqueue`] passes to its closure must point to the `work`
/// field of a valid `delayed_work`, and the guarantees of `__enqueue` hold for the whole
/// `delayed_work`.
pub unsafe trait RawDelayedWorkItem<const ID: u64>: RawWorkItem<ID> {}

/// A pointer type whose pointee is a [`WorkItem`] with a [`Work`] field: it provides the function
/// the `work_struct` runs.
///
/// Mirrors `kernel::workqueue::WorkItemPointer`; implemented for [`Arc<T>`], `Pin<KBox<T>>` and
/// [`ARef<T>`]. Its [`run`](WorkItemPointer::run) turns the `work_struct` pointer back into the
/// pointer that was queued and calls [`WorkItem::run`].
///
/// # Safety
///
/// The `work_struct` that [`RawWorkItem::__enqueue`] queues must have been initialised with
/// [`run`](WorkItemPointer::run) as its function.
pub unsafe trait WorkItemPointer<const ID: u64>: RawWorkItem<ID> {
    /// Runs the work item whose `work_struct` is `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must have been passed by [`RawWorkItem::__enqueue`] to a closure that returned
    /// `true`, and still be valid.
    unsafe extern "C" fn run(ptr: *mut bindings::work_struct);
}

/// A struct that can be queued, and what it does when it runs.
///
/// Mirrors `kernel::workqueue::WorkItem`.
pub trait WorkItem<const ID: u64 = 0> {
    /// The pointer the item is queued through, typically `Arc<Self>` or `Pin<KBox<Self>>`.
    type Pointer: WorkItemPointer<ID>;

    /// Runs the item, on a worker thread.
    fn run(this: Self::Pointer);
}

/// A work field (the C `struct work_struct`), the `ID`th of a [`WorkItem`] `T`.
///
/// Mirrors `kernel::workqueue::Work`. It is set up by [`Work::new`] (usually through
/// [`new_work!`]) to run `T`'s [`WorkItemPointer::run`], and declared to the queue with
/// [`impl_has_work!`].
#[pin_data]
#[repr(transparent)]
pub struct Work<T: ?Sized, const ID: u64 = 0> {
    #[pin]
    work: Opaque<bindings::work_struct>,
    _inner: PhantomData<T>,
}

// SAFETY: A work item may be queued from, and run on, any thread; `T` is not held.
unsafe impl<T: ?Sized, const ID: u64> Send for Work<T, ID> {}

// SAFETY: A work item may be queued from any thread, concurrently; `T` is not held.
unsafe impl<T: ?Sized, const ID: u64> Sync for Work<T, ID> {}

impl<T: ?Sized, const ID: u64> Work<T, ID> {
    /// Returns an initialiser of a work field that runs `T`'s [`WorkItem<ID>`]. `name` and `key`
    /// are for lockdep (drydock has none).
    #[inline]
    pub fn new(name: &'static CStr, key: Pin<&'static LockClassKey>) -> impl PinInit<Self>
    where
        T: WorkItem<ID>,
    {
        pin_init!(Self {
            work <- Opaque::ffi_init(|slot| {
                // SAFETY: `slot` is valid for writes, and `WorkItemPointer` makes `run` fit to be
                // the function of this `work_struct`.
                unsafe {
                    host::init_work_with_key(
                        slot,
                        Some(T::Pointer::run),
                        false,
                        name.as_char_ptr(),
                        key.as_ptr(),
                    )
                }
            }),
            _inner: PhantomData,
        })
    }

    /// Returns a pointer to the `work_struct` of the work field at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be aligned and not dangling (the field need not be initialised).
    #[inline]
    pub unsafe fn raw_get(ptr: *const Self) -> *mut bindings::work_struct {
        // SAFETY: The caller guarantees `ptr` is aligned and not dangling.
        Opaque::cast_into(unsafe { &raw const (*ptr).work })
    }
}

/// A struct that has a [`Work<T, ID>`] field.
///
/// Mirrors `kernel::workqueue::HasWork`; implement it with [`impl_has_work!`].
///
/// # Safety
///
/// The two methods return valid pointers and undo each other:
/// `work_container_of(raw_get_work(p)) == p` for every `p: *mut Self`, and
/// `raw_get_work(work_container_of(w)) == w` for every `w: *mut Work<T, ID>` in a `Self`.
pub unsafe trait HasWork<T, const ID: u64 = 0> {
    /// Returns a pointer to the work field of the struct at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a valid `Self`.
    unsafe fn raw_get_work(ptr: *mut Self) -> *mut Work<T, ID>;

    /// Returns a pointer to the struct whose work field `ptr` points to.
    ///
    /// # Safety
    ///
    /// `ptr` must point to the work field of a `Self`.
    unsafe fn work_container_of(ptr: *mut Work<T, ID>) -> *mut Self;
}

/// Implements [`HasWork`] for a struct from the name of its [`Work`] field.
///
/// Mirrors the kernel's `impl_has_work!`. Generic parameters go in braces after `impl`.
///
/// # Examples
///
/// ```
/// use kernel::workqueue::{impl_has_work, Work};
///
/// struct Pair<T> {
///     first: Work<Pair<T>, 1>,
///     second: Work<Pair<T>, 2>,
///     value: T,
/// }
///
/// impl_has_work! {
///     impl{T} HasWork<Pair<T>, 1> for Pair<T> { self.first }
///     impl{T} HasWork<Pair<T>, 2> for Pair<T> { self.second }
/// }
/// ```
#[macro_export]
macro_rules! impl_has_work {
    ($(impl$({$($generics:tt)*})?
       HasWork<$work_type:ty $(, $id:tt)?>
       for $self:ty
       { self.$field:ident }
    )*) => {$(
        // SAFETY: `raw_get_work` compiles only if the field is a `Work` of these parameters, and
        // `work_container_of` undoes the field projection.
        unsafe impl$(<$($generics)+>)? $crate::workqueue::HasWork<$work_type $(, $id)?> for $self {
            #[inline]
            unsafe fn raw_get_work(
                ptr: *mut Self,
            ) -> *mut $crate::workqueue::Work<$work_type $(, $id)?> {
                // SAFETY: The caller guarantees `ptr` points to a valid `Self`.
                unsafe { ::core::ptr::addr_of_mut!((*ptr).$field) }
            }

            #[inline]
            unsafe fn work_container_of(
                ptr: *mut $crate::workqueue::Work<$work_type $(, $id)?>,
            ) -> *mut Self {
                // SAFETY: The caller guarantees `ptr` is this field of a `Self`.
                unsafe { $crate::container_of!(ptr, Self, $field) }
            }
        }
    )*};
}
pub use impl_has_work;

/// A delayed work field (the C `struct delayed_work`): a [`Work`] and the timer that queues it.
///
/// Mirrors `kernel::workqueue::DelayedWork`. Set it up with [`DelayedWork::new`] (usually
/// through [`new_delayed_work!`]) and declare it with [`impl_has_delayed_work!`].
#[pin_data]
#[repr(transparent)]
pub struct DelayedWork<T: ?Sized, const ID: u64 = 0> {
    #[pin]
    dwork: Opaque<bindings::delayed_work>,
    _inner: PhantomData<T>,
}

// SAFETY: A work item may be queued from, and run on, any thread; `T` is not held.
unsafe impl<T: ?Sized, const ID: u64> Send for DelayedWork<T, ID> {}

// SAFETY: A work item may be queued from any thread, concurrently; `T` is not held.
unsafe impl<T: ?Sized, const ID: u64> Sync for DelayedWork<T, ID> {}

impl<T: ?Sized, const ID: u64> DelayedWork<T, ID> {
    /// Returns an initialiser of a delayed work field that runs `T`'s [`WorkItem<ID>`]. The names
    /// and keys are for lockdep (drydock has none).
    #[inline]
    pub fn new(
        work_name: &'static CStr,
        work_key: Pin<&'static LockClassKey>,
        timer_name: &'static CStr,
        timer_key: Pin<&'static LockClassKey>,
    ) -> impl PinInit<Self>
    where
        T: WorkItem<ID>,
    {
        pin_init!(Self {
            dwork <- Opaque::ffi_init(|slot: *mut bindings::delayed_work| {
                // SAFETY: `slot` is valid for writes, and `WorkItemPointer` makes `run` fit to be
                // the function of this `work_struct`.
                unsafe {
                    host::init_work_with_key(
                        &raw mut (*slot).work,
                        Some(T::Pointer::run),
                        false,
                        work_name.as_char_ptr(),
                        work_key.as_ptr(),
                    )
                }
                // SAFETY: `slot` is valid for writes; the timer is the one of a `delayed_work`,
                // started only by `queue_delayed_work_on`, so `delayed_work_timer_fn` fits it.
                unsafe {
                    drydock_host::timer::timer_init_key(
                        &raw mut (*slot).timer,
                        Some(host::delayed_work_timer_fn),
                        bindings::TIMER_IRQSAFE,
                        timer_name.as_char_ptr(),
                        timer_key.as_ptr(),
                    )
                }
            }),
            _inner: PhantomData,
        })
    }

    /// Returns a pointer to the [`Work`] inside the delayed work field at `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must be aligned and not dangling (the field need not be initialised).
    #[inline]
    pub unsafe fn raw_as_work(ptr: *const Self) -> *mut Work<T, ID> {
        // SAFETY: The caller guarantees `ptr` is aligned and not dangling.
        let dwork = Opaque::cast_into(unsafe { &raw const (*ptr).dwork });
        // SAFETY: `dwork` is derived from `ptr`, so it is aligned and not dangling either.
        let work = unsafe { &raw mut (*dwork).work };
        // CAST: `Work` is a transparent wrapper of a `work_struct`.
        work.cast()
    }
}

/// A struct whose [`HasWork<T, ID>`] field is the `work` of a [`DelayedWork`].
///
/// Mirrors `kernel::workqueue::HasDelayedWork`; implement it with [`impl_has_delayed_work!`].
///
/// # Safety
///
/// The `work_struct` that the [`HasWork`] methods reach must be the `work` of a `delayed_work`,
/// which may be accessed as the `work_struct` may.
pub unsafe trait HasDelayedWork<T, const ID: u64 = 0>: HasWork<T, ID> {}

/// Implements [`HasDelayedWork`] (and [`HasWork`]) for a struct from the name of its
/// [`DelayedWork`] field.
///
/// Mirrors the kernel's `impl_has_delayed_work!`. Generic parameters go in braces after `impl`.
///
/// # Examples
///
/// ```
/// use kernel::workqueue::{impl_has_delayed_work, DelayedWork};
///
/// struct Poller<const N: usize> {
///     poll: DelayedWork<Poller<N>, 7>,
///     ports: [u16; N],
/// }
///
/// impl_has_delayed_work! {
///     impl{const N: usize} HasDelayedWork<Poller<N>, 7> for Poller<N> { self.poll }
/// }
/// ```
#[macro_export]
macro_rules! impl_has_delayed_work {
    ($(impl$({$($generics:tt)*})?
       HasDelayedWork<$work_type:ty $(, $id:tt)?>
       for $self:ty
       { self.$field:ident }
    )*) => {$(
        // SAFETY: The `HasWork` implementation below reaches the `work` of the field, which is a
        // `DelayedWork` of these parameters, or it would not compile.
        unsafe impl$(<$($generics)+>)?
            $crate::workqueue::HasDelayedWork<$work_type $(, $id)?> for $self {}

        // SAFETY: `raw_get_work` compiles only if the field is a `DelayedWork` of these
        // parameters, and `work_container_of` undoes both projections.
        unsafe impl$(<$($generics)+>)? $crate::workqueue::HasWork<$work_type $(, $id)?> for $self {
            #[inline]
            unsafe fn raw_get_work(
                ptr: *mut Self,
            ) -> *mut $crate::workqueue::Work<$work_type $(, $id)?> {
                // SAFETY: The caller guarantees `ptr` points to a valid `Self`.
                let dwork: *mut $crate::workqueue::DelayedWork<$work_type $(, $id)?> =
                    unsafe { ::core::ptr::addr_of_mut!((*ptr).$field) };
                // SAFETY: `dwork` is a field of a valid `Self`.
                unsafe { $crate::workqueue::DelayedWork::raw_as_work(dwork) }
            }

            #[inline]
            unsafe fn work_container_of(
                ptr: *mut $crate::workqueue::Work<$work_type $(, $id)?>,
            ) -> *mut Self {
                // SAFETY: The caller guarantees `ptr` is the work of this field of a `Self`.
                let work = unsafe { $crate::workqueue::Work::raw_get(ptr) };
                // SAFETY: That `work_struct` is the `work` of the field's `delayed_work`.
                let dwork = unsafe {
                    $crate::container_of!(work, $crate::bindings::delayed_work, work)
                };
                // CAST: `DelayedWork` is a transparent wrapper of a `delayed_work`.
                let dwork: *mut $crate::workqueue::DelayedWork<$work_type $(, $id)?> =
                    dwork.cast();
                // SAFETY: `dwork` is the field of a `Self`.
                unsafe { $crate::container_of!(dwork, Self, $field) }
            }
        }
    )*};
}
pub use impl_has_delayed_work;

/// Returns the `work_struct` of the `ID`th work field of the `T` at `ptr`: what the pointer
/// types' [`RawWorkItem::__enqueue`] queue.
///
/// # Safety
///
/// `ptr` must point to a valid `T`.
unsafe fn work_of<T: HasWork<T, ID>, const ID: u64>(ptr: *mut T) -> *mut bindings::work_struct {
    // SAFETY: The caller guarantees `ptr` is valid.
    let work = unsafe { T::raw_get_work(ptr) };
    // SAFETY: `work` is a field of a valid `T`.
    unsafe { Work::raw_get(work) }
}

/// Returns the `T` whose `ID`th work field has the `work_struct` at `ptr`, which [`work_of`]
/// returned: what the pointer types' [`WorkItemPointer::run`] run.
///
/// # Safety
///
/// `ptr` must be the `work_struct` of the `ID`th work field of a `T`.
unsafe fn item_of<T: HasWork<T, ID>, const ID: u64>(ptr: *mut bindings::work_struct) -> *mut T {
    // CAST: `Work` is a transparent wrapper of the `work_struct`.
    let work = ptr.cast::<Work<T, ID>>();
    // SAFETY: The caller guarantees `work` is that field of a `T`.
    unsafe { T::work_container_of(work) }
}

// SAFETY: `__enqueue` queues the `work_struct` of the `Work<T, ID>` field (`T::raw_get_work`),
// which only `Work::new` can initialise, with `<Arc<T> as WorkItemPointer<ID>>::run`.
unsafe impl<T, const ID: u64> WorkItemPointer<ID> for Arc<T>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    unsafe extern "C" fn run(ptr: *mut bindings::work_struct) {
        // SAFETY: The caller guarantees `ptr` came from `__enqueue`, so it is in a `T`.
        let ptr = unsafe { item_of::<T, ID>(ptr) };
        // SAFETY: `__enqueue` got `ptr` from `Arc::into_raw`, and the queue gives it back once.
        let arc = unsafe { Arc::from_raw(ptr) };
        T::run(arc)
    }
}

// SAFETY: The `Arc`'s reference keeps the `work_struct` valid during the closure. If the item is
// queued, that reference is leaked until `WorkItemPointer::run` (the function of the
// `work_struct`, see above) takes it back; if not, it is taken back here at once.
unsafe impl<T, const ID: u64> RawWorkItem<ID> for Arc<T>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    type EnqueueOutput = Result<(), Self>;

    unsafe fn __enqueue<F>(self, queue_work_on: F) -> Self::EnqueueOutput
    where
        F: FnOnce(*mut bindings::work_struct) -> bool,
    {
        let ptr = Arc::into_raw(self).cast_mut();
        // SAFETY: `ptr` points into a live `Arc`.
        let work = unsafe { work_of::<T, ID>(ptr) };
        if queue_work_on(work) {
            Ok(())
        } else {
            // SAFETY: The item was not queued, so the reference is still this function's.
            Err(unsafe { Arc::from_raw(ptr) })
        }
    }
}

// SAFETY: `HasDelayedWork` guarantees the `work_struct` is the `work` of a `delayed_work` inside
// the `T`, which the `Arc`'s reference keeps valid as long as the `work_struct`.
unsafe impl<T, const ID: u64> RawDelayedWorkItem<ID> for Arc<T>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasDelayedWork<T, ID>,
{
}

// SAFETY: `__enqueue` queues the `work_struct` of the `Work<T, ID>` field (`T::raw_get_work`),
// which only `Work::new` can initialise, with `<Pin<KBox<T>> as WorkItemPointer<ID>>::run`.
unsafe impl<T, const ID: u64> WorkItemPointer<ID> for Pin<KBox<T>>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    unsafe extern "C" fn run(ptr: *mut bindings::work_struct) {
        // SAFETY: The caller guarantees `ptr` came from `__enqueue`, so it is in a `T`.
        let ptr = unsafe { item_of::<T, ID>(ptr) };
        // SAFETY: `__enqueue` got `ptr` from `KBox::into_raw`, and the queue gives it back once.
        let boxed = unsafe { KBox::from_raw(ptr) };
        // SAFETY: The box was pinned when it was queued, and has not moved since.
        T::run(unsafe { Pin::new_unchecked(boxed) })
    }
}

// SAFETY: The box is leaked while queued, so the `work_struct` stays valid until
// `WorkItemPointer::run` (the function of the `work_struct`, see above) takes it back.
unsafe impl<T, const ID: u64> RawWorkItem<ID> for Pin<KBox<T>>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    type EnqueueOutput = ();

    unsafe fn __enqueue<F>(self, queue_work_on: F) -> Self::EnqueueOutput
    where
        F: FnOnce(*mut bindings::work_struct) -> bool,
    {
        // SAFETY: The contents are not moved: only their address is used.
        let ptr = KBox::into_raw(unsafe { Pin::into_inner_unchecked(self) });
        // SAFETY: `ptr` points to the box's valid `T`.
        let work = unsafe { work_of::<T, ID>(ptr) };
        // The box is owned, so its item cannot be pending: it is always queued. (Upstream tells
        // the optimiser so; here a refusal would leak the box, which is safe.)
        let queued = queue_work_on(work);
        debug_assert!(queued, "an owned work item was pending");
    }
}

// SAFETY: `HasDelayedWork` guarantees the `work_struct` is the `work` of a `delayed_work` inside
// the `T`, which the leaked box keeps valid as long as the `work_struct`.
unsafe impl<T, const ID: u64> RawDelayedWorkItem<ID> for Pin<KBox<T>>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasDelayedWork<T, ID>,
{
}

// SAFETY: `__enqueue` queues the `work_struct` of the `Work<T, ID>` field (`T::raw_get_work`),
// which only `Work::new` can initialise, with `<ARef<T> as WorkItemPointer<ID>>::run`.
unsafe impl<T, const ID: u64> WorkItemPointer<ID> for ARef<T>
where
    T: AlwaysRefCounted,
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    unsafe extern "C" fn run(ptr: *mut bindings::work_struct) {
        // SAFETY: The caller guarantees `ptr` came from `__enqueue`, so it is in a `T`.
        let ptr = unsafe { item_of::<T, ID>(ptr) };
        // SAFETY: `work_container_of` returns a valid pointer, so not null.
        let ptr = unsafe { NonNull::new_unchecked(ptr) };
        // SAFETY: `__enqueue` got `ptr` from `ARef::into_raw`, and the queue gives it back once.
        T::run(unsafe { ARef::from_raw(ptr) })
    }
}

// SAFETY: The `ARef`'s reference keeps the `work_struct` valid during the closure. If the item is
// queued, that reference is leaked until `WorkItemPointer::run` (the function of the
// `work_struct`, see above) takes it back; if not, it is taken back here at once.
unsafe impl<T, const ID: u64> RawWorkItem<ID> for ARef<T>
where
    T: AlwaysRefCounted,
    T: WorkItem<ID, Pointer = Self>,
    T: HasWork<T, ID>,
{
    type EnqueueOutput = Result<(), Self>;

    unsafe fn __enqueue<F>(self, queue_work_on: F) -> Self::EnqueueOutput
    where
        F: FnOnce(*mut bindings::work_struct) -> bool,
    {
        let ptr = ARef::into_raw(self);
        // SAFETY: `ptr` comes from a live `ARef`.
        let work = unsafe { work_of::<T, ID>(ptr.as_ptr()) };
        if queue_work_on(work) {
            Ok(())
        } else {
            // SAFETY: The item was not queued, so the reference is still this function's.
            Err(unsafe { ARef::from_raw(ptr) })
        }
    }
}

// SAFETY: `HasDelayedWork` guarantees the `work_struct` is the `work` of a `delayed_work` inside
// the `T`, which the `ARef`'s reference keeps valid as long as the `work_struct`.
unsafe impl<T, const ID: u64> RawDelayedWorkItem<ID> for ARef<T>
where
    T: WorkItem<ID, Pointer = Self>,
    T: HasDelayedWork<T, ID>,
    T: AlwaysRefCounted,
{
}

/// Declares the functions that return the system queues, the host's C globals.
macro_rules! system_queues {
    ($($(#[$doc:meta])* $name:ident => $global:ident;)*) => {$(
        $(#[$doc])*
        pub fn $name() -> &'static Queue {
            // SAFETY: The host's system queues live as long as the process.
            unsafe { Queue::from_raw(bindings::$global) }
        }
    )*};
}

system_queues! {
    /// Returns the system work queue (`system_wq`), for short items.
    ///
    /// Mirrors `kernel::workqueue::system`.
    system => system_wq;

    /// Returns the system high-priority work queue (`system_highpri_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_highpri`. Its workers run at the process's priority.
    system_highpri => system_highpri_wq;

    /// Returns the system work queue for items that may run long (`system_long_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_long`.
    system_long => system_long_wq;

    /// Returns the system unbound work queue (`system_unbound_wq`), whose items start as soon
    /// as they can.
    ///
    /// Mirrors `kernel::workqueue::system_unbound`. No queue is bound to a CPU here.
    system_unbound => system_unbound_wq;

    /// Returns the system freezable work queue (`system_freezable_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_freezable`. A process is never frozen by suspend, so
    /// it behaves as [`system`].
    system_freezable => system_freezable_wq;

    /// Returns the system power-efficient work queue (`system_power_efficient_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_power_efficient`; behaves as [`system`].
    system_power_efficient => system_power_efficient_wq;

    /// Returns the system freezable power-efficient work queue
    /// (`system_freezable_power_efficient_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_freezable_power_efficient`; behaves as [`system`].
    system_freezable_power_efficient => system_freezable_power_efficient_wq;

    /// Returns the system bottom-half work queue (`system_bh_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_bh`. There is no softirq context here: its items run
    /// on worker threads, as those of [`system`] do.
    system_bh => system_bh_wq;

    /// Returns the system high-priority bottom-half work queue (`system_bh_highpri_wq`).
    ///
    /// Mirrors `kernel::workqueue::system_bh_highpri`; runs its items on worker threads.
    system_bh_highpri => system_bh_highpri_wq;
}
