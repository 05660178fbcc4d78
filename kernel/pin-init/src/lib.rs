//! In-place, fallible initialization of (possibly pinned) values.
//!
//! This is drydock's own implementation of the `pin-init` API that the Linux kernel ships in
//! `rust/pin-init` (as of Linux 7.3). Driver code written against the kernel's `pin_init` crate
//! compiles unchanged against this crate; drydock's `docs/porting.md` lists every form and
//! whether it is supported.
//!
//! # Why in-place initialization
//!
//! Rust normally builds a value on the stack and then moves it to its final home. That does not
//! work for values that must know their own address from the start (a wait list that points to
//! itself, a C object registered with a callback that receives a pointer to it, ...), nor for
//! values too large for the stack. This crate lets you describe *how* to build a value as an
//! **initializer**, and lets the owner of the memory (a [`Box`], an [`Arc`], the stack, a static)
//! run that initializer directly on the final location.
//!
//! Two kinds of initializers exist:
//!
//! - [`PinInit<T, E>`]: writes a `T` into memory that will never move again (the result is
//!   pinned),
//! - [`Init<T, E>`]: writes a `T` that is free to move afterwards. Every `Init` is also a
//!   `PinInit`.
//!
//! Both may fail with an error of type `E` (by default [`Infallible`]). When an initializer
//! fails, everything it had already initialized is dropped again, and the memory is left as it was:
//! uninitialized and ready to be deallocated.
//!
//! # Building initializers
//!
//! Annotate the struct with [`#[pin_data]`](macro@pin_data), marking the fields that are
//! *structurally pinned* with `#[pin]`, and write the initializer with [`pin_init!`], which looks
//! like a struct expression where `<-` initializes a field in place:
//!
//! ```
//! use core::{marker::PhantomPinned, pin::Pin};
//! use pin_init::{pin_data, pin_init, InPlaceInit, PinInit};
//!
//! #[pin_data]
//! struct Counter {
//!     #[pin]
//!     _pin: PhantomPinned,
//!     hits: u64,
//! }
//!
//! #[pin_data]
//! struct Device {
//!     name: &'static str,
//!     #[pin]
//!     rx: Counter,
//!     #[pin]
//!     tx: Counter,
//! }
//!
//! impl Counter {
//!     fn new() -> impl PinInit<Self> {
//!         pin_init!(Self { _pin: PhantomPinned, hits: 0 })
//!     }
//! }
//!
//! let dev: Pin<Box<Device>> = Box::pin_init(pin_init!(Device {
//!     name: "eth0",
//!     rx <- Counter::new(),
//!     tx <- Counter::new(),
//! }))
//! .unwrap();
//! assert_eq!(dev.rx.hits + dev.tx.hits, 0);
//! ```
//!
//! Fallible initializers name their error type after the closing brace (`}? MyError`); inside,
//! `?` works like in a function returning `Result<_, MyError>`:
//!
//! ```
//! use pin_init::{pin_data, pin_init, stack_try_pin_init, PinInit};
//!
//! #[derive(Debug, PartialEq)]
//! struct TooBig;
//!
//! #[pin_data]
//! struct Buffer {
//!     len: usize,
//!     data: Vec<u8>,
//! }
//!
//! fn buffer(len: usize) -> impl PinInit<Buffer, TooBig> {
//!     pin_init!(Buffer {
//!         len: if len <= 4096 { len } else { return Err(TooBig) },
//!         // `len` now names the initialized field (a `&mut usize`), not the parameter.
//!         data: vec![0; *len],
//!     }? TooBig)
//! }
//!
//! stack_try_pin_init!(let ok = buffer(16));
//! assert_eq!(ok.unwrap().data.len(), 16);
//! stack_try_pin_init!(let too_big = buffer(1 << 20));
//! assert_eq!(too_big.err(), Some(TooBig));
//! ```
//!
//! For primitives that cannot be expressed as a struct expression (typically a C object set up by
//! a C function), use the `unsafe` [`pin_init_from_closure`], which turns a closure that receives
//! the raw slot pointer into an initializer.
//!
//! # Where the value lives
//!
//! - on the heap: [`InPlaceInit`] for [`Box`], [`Arc`] and [`Rc`](std::rc::Rc), and
//!   [`InPlaceWrite`] for already allocated `Box<MaybeUninit<T>>`,
//! - on the stack: [`stack_pin_init!`] and [`stack_try_pin_init!`],
//! - anywhere else: [`raw_init`]/[`raw_try_init`] (`unsafe`), which is also what a custom smart
//!   pointer uses to implement its own `InPlaceInit`.
//!
//! # Differences to the kernel build of `pin-init`
//!
//! The kernel builds `pin-init` without its `std`/`alloc` features. This crate always has `std`,
//! so it additionally provides [`InPlaceInit`] for the standard smart pointers and the deprecated
//! [`PinInit::__pinned_init`]; neither exists in a kernel build. Drivers allocate through the
//! `kernel` crate's own `InPlaceInit` instead.

#![forbid(unsafe_op_in_unsafe_fn)]
#![deny(missing_docs)]

use core::{
    cell::UnsafeCell,
    convert::Infallible,
    marker::{PhantomData, PhantomPinned},
    mem::MaybeUninit,
    num::{NonZero, Wrapping},
    pin::Pin,
    ptr::NonNull,
};

// The proc-macros emit absolute `::pin_init::...` paths; this makes those paths resolve inside
// this crate as well (unit tests, doc-tests of private items).
#[allow(unused_extern_crates)]
extern crate self as pin_init;

#[doc(hidden)]
pub mod __internal;

mod alloc;

pub use alloc::InPlaceInit;

#[cfg(doc)]
use std::{boxed::Box, sync::Arc};

/// Declares which fields of a struct are structurally pinned, enabling [`pin_init!`] for it.
///
/// Put `#[pin_data]` on a struct with named fields and write `#[pin]` in front of every field that
/// is *structurally pinned*: a pinned `Foo` then only hands out `Pin<&mut Field>` for such a field,
/// and such a field is initialized by a [`PinInit`] (`field <- init`) in [`pin_init!`]. All other
/// fields are plain: they hand out `&mut Field` and take an [`Init`] or a value.
///
/// The attribute additionally generates:
///
/// - an `Unpin` implementation that makes the struct `Unpin` exactly when every `#[pin]` field is
///   `Unpin` (fields without `#[pin]` do not matter),
/// - a `project(self: Pin<&mut Self>)` method returning a `<Name>Projection` struct with a
///   `Pin<&mut Field>` for every `#[pin]` field and a `&mut Field` for every other field,
/// - the hidden data that [`pin_init!`] uses to initialize each field.
///
/// A `#[pin_data]` struct must not implement [`Drop`]: dropping a pinned value has to go through
/// `Pin<&mut Self>`. Write `#[pin_data(PinnedDrop)]` instead and implement [`PinnedDrop`] with
/// [`#[pinned_drop]`](macro@pinned_drop). A field of type `PhantomPinned` without `#[pin]` has no
/// effect and triggers a warning.
///
/// Tuple structs, enums and unions are not supported.
///
/// # Examples
///
/// ```
/// use core::{cell::UnsafeCell, marker::PhantomPinned, pin::Pin};
/// use pin_init::pin_data;
///
/// #[pin_data]
/// struct Queue<T> {
///     #[pin]
///     slots: UnsafeCell<[Option<T>; 8]>,
///     #[pin]
///     _pin: PhantomPinned,
///     len: usize,
/// }
///
/// impl<T> Queue<T> {
///     fn reset(self: Pin<&mut Self>) {
///         let this = self.project();
///         // `len` is not structurally pinned: a plain `&mut usize`.
///         *this.len = 0;
///         // `slots` is: only a `Pin<&mut UnsafeCell<..>>` is available.
///         let _slots: Pin<&mut UnsafeCell<[Option<T>; 8]>> = this.slots;
///     }
/// }
/// ```
pub use pin_init_internal::pin_data;

/// Implements [`PinnedDrop`] for a struct declared with `#[pin_data(PinnedDrop)]`.
///
/// Write the implementation as if `PinnedDrop::drop` took only `self: Pin<&mut Self>`; the
/// attribute adds the hidden token parameter that keeps anyone but the generated `Drop`
/// implementation from calling it, and marks the implementation `unsafe` (it is sound because the
/// attribute guarantees the shape).
///
/// # Examples
///
/// ```
/// use core::pin::Pin;
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use pin_init::{pin_data, pinned_drop, stack_pin_init, pin_init, PinnedDrop};
///
/// static DROPS: AtomicUsize = AtomicUsize::new(0);
///
/// #[pin_data(PinnedDrop)]
/// struct Registration {
///     id: u32,
/// }
///
/// #[pinned_drop]
/// impl PinnedDrop for Registration {
///     fn drop(self: Pin<&mut Self>) {
///         DROPS.fetch_add(self.id as usize, Ordering::Relaxed);
///     }
/// }
///
/// {
///     stack_pin_init!(let reg = pin_init!(Registration { id: 7 }));
///     assert_eq!(reg.id, 7);
/// }
/// assert_eq!(DROPS.load(Ordering::Relaxed), 7);
/// ```
pub use pin_init_internal::pinned_drop;

/// Derives [`Zeroable`] for a struct or union whose fields all implement [`Zeroable`].
///
/// Every type parameter gets a `Zeroable` bound. A field that is not `Zeroable` is a compile
/// error; use [`MaybeZeroable`](macro@MaybeZeroable) if the implementation should silently not
/// exist instead. Enums are rejected.
///
/// # Examples
///
/// ```
/// use pin_init::{zeroed, Zeroable};
///
/// #[derive(Zeroable)]
/// struct Regs {
///     ctrl: u32,
///     status: u32,
///     base: *mut u8,
///     hook: Option<fn(u32)>,
/// }
///
/// let regs: Regs = zeroed();
/// assert_eq!(regs.ctrl | regs.status, 0);
/// assert!(regs.base.is_null() && regs.hook.is_none());
/// ```
pub use pin_init_internal::Zeroable;

/// Derives [`Zeroable`] for a struct or union *if* all of its fields implement [`Zeroable`].
///
/// Unlike [`derive(Zeroable)`](macro@Zeroable), a field that is not `Zeroable` is not an error:
/// the generated implementation just never applies.
///
/// # Examples
///
/// ```
/// use pin_init::{MaybeZeroable, Zeroable};
///
/// #[derive(MaybeZeroable)]
/// struct Plain {
///     a: u64,
/// }
///
/// #[derive(MaybeZeroable)]
/// struct WithRef {
///     a: u64,
///     // References may never be null, so this struct does not become `Zeroable`.
///     r: &'static u64,
/// }
///
/// fn is_zeroable<T: Zeroable>() {}
/// is_zeroable::<Plain>();
/// ```
pub use pin_init_internal::MaybeZeroable;

/// Creates an initializer for a struct from a struct expression; the result implements
/// [`PinInit`].
///
/// The struct must be annotated with [`#[pin_data]`](macro@pin_data). The macro takes a struct
/// expression with these extensions:
///
/// - `field: expr` moves the value of `expr` into the field, `field` alone means `field: field`,
/// - `field <- init` runs the initializer `init` directly on the field. For `#[pin]` fields `init`
///   must implement [`PinInit<FieldType, E>`](PinInit), for the other fields
///   [`Init<FieldType, E>`](Init). Every value is an infallible initializer of its own type,
///   and `Result<T, E>` is a fallible one.
/// - `_: { statements }` runs arbitrary code at that point of the initialization,
/// - `&this in Foo { .. }` binds `this` to a [`NonNull<Foo>`] pointing at the memory being
///   initialized (useful to hand out the final address, e.g. to register a callback). The
///   pointee is not fully initialized until the initializer returns `Ok`,
/// - `..Zeroable::init_zeroed()` as the last element zeroes the whole struct first (it must
///   implement [`Zeroable`]); fields not mentioned then stay zero,
/// - `}? Error` after the struct sets the error type (default: [`Infallible`]),
/// - a leading `#[default_error(Error)]` sets the error type used when no `? Error` is given;
///   this is how crates build their own `try_pin_init!` wrappers.
///
/// The struct path may carry generic arguments with turbofish (`Foo::<T> { .. }`) and may be
/// `Self`.
///
/// # Semantics
///
/// - Fields are initialized in the order in which they are written, and `_:` blocks run in that
///   order too.
/// - Once a field is initialized, its name is bound to it for the rest of the initializer
///   (later field expressions, initializers and `_:` blocks): as `Pin<&mut FieldType>` for a
///   `#[pin]` field and as `&mut FieldType` for other fields. This shadows any local variable of
///   the same name.
/// - `?`, `return Err(..)` and panics in any expression abort the initialization: every field
///   initialized so far is dropped exactly once, in reverse order, and the struct's own
///   [`PinnedDrop`] does not run.
/// - Every field must be mentioned exactly once (unless `..Zeroable::init_zeroed()` is used, then
///   at most once); violations are compile errors.
///
/// # Examples
///
/// ```
/// use core::{marker::PhantomPinned, pin::Pin, ptr::NonNull};
/// use pin_init::{pin_data, pin_init, stack_try_pin_init, PinInit};
///
/// #[derive(Debug)]
/// struct Busy;
///
/// #[pin_data]
/// struct Node {
///     id: u32,
///     // Points at the node itself once initialized.
///     me: NonNull<Node>,
///     label: String,
///     #[pin]
///     _pin: PhantomPinned,
/// }
///
/// fn node(id: u32) -> impl PinInit<Node, Busy> {
///     pin_init!(&this in Node {
///         id,
///         me: this,
///         // `id` now refers to the already initialized field, a `&mut u32`.
///         label: format!("node{}", *id),
///         _pin: PhantomPinned,
///         _: {
///             if *id == 0 {
///                 // `label` and `id` are dropped again, the node is never created.
///                 return Err(Busy);
///             }
///         },
///     }? Busy)
/// }
///
/// stack_try_pin_init!(let n = node(3));
/// let n: Pin<&mut Node> = n.unwrap();
/// assert_eq!(n.label, "node3");
/// assert_eq!(n.me.as_ptr() as *const Node, &*n as *const Node);
/// ```
pub use pin_init_internal::pin_init;

/// Creates an initializer for a struct from a struct expression; the result implements [`Init`].
///
/// The syntax is the one of [`pin_init!`], but nothing is considered pinned: the struct does not
/// need [`#[pin_data]`](macro@pin_data), every `field <- init` takes an [`Init`], and every
/// already initialized field is bound as `&mut FieldType`. The resulting value may be moved after
/// initialization.
///
/// # Examples
///
/// ```
/// use pin_init::{init, init_zeroed, InPlaceInit, Init};
///
/// struct Frame {
///     seq: u32,
///     payload: [u8; 1 << 16],
/// }
///
/// fn frame(seq: u32) -> impl Init<Frame> {
///     init!(Frame {
///         seq,
///         // Zeroed directly in the heap allocation, never on the stack.
///         payload <- init_zeroed(),
///     })
/// }
///
/// let f: Box<Frame> = Box::init(frame(1)).unwrap();
/// assert_eq!(f.seq, 1);
/// assert!(f.payload.iter().all(|&b| b == 0));
/// ```
pub use pin_init_internal::init;

/// Initializes a value on the stack and pins it there.
///
/// `stack_pin_init!(let name: Type = initializer)` (the type is optional) runs an infallible
/// initializer ([`PinInit<T>`](PinInit), i.e. with error [`Infallible`]) on a stack slot and binds
/// `name` to the resulting `Pin<&mut T>`. The value is dropped at the end of the enclosing scope.
/// Use [`stack_try_pin_init!`] for fallible initializers.
///
/// # Examples
///
/// ```
/// use core::{marker::PhantomPinned, pin::Pin};
/// use pin_init::{pin_data, pin_init, stack_pin_init};
///
/// #[pin_data]
/// struct Waiter {
///     token: u32,
///     #[pin]
///     _pin: PhantomPinned,
/// }
///
/// stack_pin_init!(let w: Waiter = pin_init!(Waiter { token: 9, _pin: PhantomPinned }));
/// let w: Pin<&mut Waiter> = w;
/// assert_eq!(w.token, 9);
/// ```
#[macro_export]
macro_rules! stack_pin_init {
    (let $var:ident $(: $t:ty)? = $val:expr) => {
        let __pin_init_value = $val;
        let mut $var = ::core::pin::pin!($crate::__internal::StackInit$(::<$t>)?::uninit());
        let ::core::result::Result::Ok(mut $var) =
            $crate::__internal::StackInit::init($var, __pin_init_value);
    };
}

/// Initializes a value on the stack with a fallible initializer and pins it there.
///
/// - `stack_try_pin_init!(let name: Type = initializer)` binds `name` to
///   `Result<Pin<&mut T>, E>`,
/// - `stack_try_pin_init!(let name: Type =? initializer)` applies `?` to that result, so `name` is
///   the `Pin<&mut T>` and the error is returned from the enclosing function.
///
/// The type annotation is optional in both forms.
///
/// # Examples
///
/// ```
/// use pin_init::{pin_data, pin_init, stack_try_pin_init};
///
/// #[derive(Debug)]
/// struct NoMem;
///
/// #[pin_data]
/// struct Pool {
///     pages: Vec<u64>,
/// }
///
/// fn pool(n: usize) -> impl pin_init::PinInit<Pool, NoMem> {
///     pin_init!(Pool {
///         pages: if n > 0 { vec![0; n] } else { Err(NoMem)? },
///     }? NoMem)
/// }
///
/// fn use_pool() -> Result<usize, NoMem> {
///     stack_try_pin_init!(let p: Pool =? pool(4));
///     Ok(p.pages.len())
/// }
///
/// assert_eq!(use_pool().unwrap(), 4);
/// stack_try_pin_init!(let failed = pool(0));
/// assert!(failed.is_err());
/// ```
#[macro_export]
macro_rules! stack_try_pin_init {
    (let $var:ident $(: $t:ty)? = $val:expr) => {
        let __pin_init_value = $val;
        let mut $var = ::core::pin::pin!($crate::__internal::StackInit$(::<$t>)?::uninit());
        let mut $var = $crate::__internal::StackInit::init($var, __pin_init_value);
    };
    (let $var:ident $(: $t:ty)? =? $val:expr) => {
        let __pin_init_value = $val;
        let mut $var = ::core::pin::pin!($crate::__internal::StackInit$(::<$t>)?::uninit());
        let mut $var = $crate::__internal::StackInit::init($var, __pin_init_value)?;
    };
}

/// Fails to compile unless `field` of the `#[pin_data]` struct `Type` is structurally pinned
/// (marked `#[pin]`) and has type `FieldType`.
///
/// `assert_pinned!(Type, field, FieldType)` expands to an item and can be used anywhere an item
/// can. If `Type` or `FieldType` mention generic parameters of an enclosing item, that fails with
/// "can't use generic parameters from outer item"; inside a function body, append `inline` to get
/// a statement instead: `assert_pinned!(Type, field, FieldType, inline)`.
///
/// # Examples
///
/// ```
/// use core::pin::Pin;
/// use pin_init::{assert_pinned, pin_data};
///
/// #[pin_data]
/// struct Timer<T> {
///     #[pin]
///     callback: T,
///     expires: u64,
/// }
///
/// assert_pinned!(Timer<u8>, callback, u8);
///
/// impl<T> Timer<T> {
///     fn callback(self: Pin<&mut Self>) -> Pin<&mut T> {
///         assert_pinned!(Timer<T>, callback, T, inline);
///         // SAFETY: `callback` is structurally pinned, as asserted above.
///         unsafe { self.map_unchecked_mut(|t| &mut t.callback) }
///     }
/// }
/// ```
///
/// ```compile_fail
/// use pin_init::{assert_pinned, pin_data};
///
/// #[pin_data]
/// struct Timer {
///     expires: u64,
/// }
///
/// // `expires` is not `#[pin]`.
/// assert_pinned!(Timer, expires, u64);
/// ```
#[macro_export]
macro_rules! assert_pinned {
    ($ty:ty, $field:ident, $field_ty:ty, inline) => {
        let _ = move |slot: *mut $ty| {
            // SAFETY: This closure only exists to be type checked and is never called.
            let data = unsafe { <$ty as $crate::__internal::HasPinData>::__pin_data() };
            // SAFETY: See above, this is never executed.
            let field = unsafe { data.$field(slot) };
            // Only a pinned field slot accepts a `PinInit` that is not also an `Init`.
            let _ = field.init($crate::__internal::AlwaysFail::<$field_ty>::new());
        };
    };
    ($ty:ty, $field:ident, $field_ty:ty) => {
        const _: () = {
            $crate::assert_pinned!($ty, $field, $field_ty, inline);
        };
    };
}

/// An initializer that writes a `T` into memory that stays pinned afterwards.
///
/// A `PinInit<T, E>` is consumed by running it on a slot: it either fully initializes the slot
/// and returns `Ok(())`, or returns `Err(E)` having cleaned up after itself. The slot is owned by
/// whoever runs the initializer: a smart pointer ([`InPlaceInit`]), the stack
/// ([`stack_pin_init!`]) or a field of a larger struct being initialized by [`pin_init!`].
///
/// Initializers are usually obtained from [`pin_init!`], from a type's constructor function
/// (`fn new() -> impl PinInit<Self, E>`), or from [`pin_init_from_closure`]. Any value `T` is an
/// infallible `PinInit<T>` of itself, and a `Result<T, E>` is a `PinInit<T, E>`.
///
/// # Safety
///
/// An implementation of [`PinInit::__init`] must:
///
/// - return `Ok(())` only after every byte of `slot` that is part of a `T` value holds a valid
///   `T`,
/// - on returning `Err`, leave `slot` with nothing to drop and nothing partially initialized that
///   would need cleanup: the caller may simply deallocate it,
/// - uphold every pinning invariant of `T` while constructing the value at `slot` (the slot must
///   be considered pinned from the start).
///
/// Prefer [`pin_init_from_closure`] over implementing this trait by hand.
#[must_use = "an initializer does nothing until it is run on some memory"]
#[diagnostic::on_unimplemented(
    note = "a `PinInit<T, E>` is a value of type `T`, a `Result<T, E>`, or an initializer \
            returned by `pin_init!`, `init!` or a constructor function"
)]
pub unsafe trait PinInit<T: ?Sized, E = Infallible>: Sized {
    /// Deprecated alias of [`PinInit::__init`].
    ///
    /// Only present outside of kernel builds of `pin-init`; driver code must not use it. Call
    /// [`raw_try_init`] instead.
    ///
    /// # Safety
    ///
    /// The same as for [`PinInit::__init`].
    #[inline(always)]
    #[deprecated = "use `pin_init::raw_try_init` (kernel builds of pin-init lack this method)"]
    unsafe fn __pinned_init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: The caller upholds the requirements of `__init`, which are identical.
        unsafe { self.__init(slot) }
    }

    /// Runs this initializer on `slot`.
    ///
    /// Use [`raw_init`] or [`raw_try_init`] rather than calling this directly.
    ///
    /// # Safety
    ///
    /// - `slot` is valid for writes, properly aligned, and points to uninitialized memory that is
    ///   not accessed by anyone else during the call,
    /// - if `Err` is returned, the caller does not use the contents of `slot` (it may only
    ///   deallocate the memory),
    /// - `slot` is pinned: if `Ok` is returned, the value is not moved until it has been dropped.
    ///   When `Self` also implements [`Init<T, E>`], this last requirement does not apply.
    unsafe fn __init(self, slot: *mut T) -> Result<(), E>;

    /// Returns an initializer that runs `self` and then `f` on the pinned, initialized value.
    ///
    /// If `f` fails (or panics), the value is dropped again and the error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use pin_init::{pin_data, pin_init, stack_try_pin_init, PinInit};
    ///
    /// #[pin_data]
    /// struct Port {
    ///     number: u16,
    /// }
    ///
    /// let port = pin_init!(Port { number: 80 }? &'static str)
    ///     .pin_chain(|p| if p.number < 1024 { Err("privileged") } else { Ok(()) });
    /// stack_try_pin_init!(let port = port);
    /// assert_eq!(port.err(), Some("privileged"));
    /// ```
    #[inline]
    fn pin_chain<F>(self, f: F) -> ChainPinInit<Self, F, T, E>
    where
        F: FnOnce(Pin<&mut T>) -> Result<(), E>,
    {
        ChainPinInit(self, f, __internal::PhantomInvariant::new())
    }
}

/// An initializer that writes a `T` which may be moved afterwards.
///
/// Every `Init<T, E>` is a [`PinInit<T, E>`] whose [`__init`](PinInit::__init) does not rely on
/// the slot staying pinned, so it can initialize values that are later moved, such as
/// `Box<T>` (not pinned) or unpinned fields in [`pin_init!`].
///
/// # Safety
///
/// In addition to the requirements of [`PinInit`], [`PinInit::__init`] must be correct even if
/// the initialized value is moved after it returns `Ok`.
///
/// Prefer [`init_from_closure`] over implementing this trait by hand.
#[must_use = "an initializer does nothing until it is run on some memory"]
#[diagnostic::on_unimplemented(
    note = "fields without `#[pin]` (and all fields in `init!`) need an `Init`: a `PinInit` that \
            is not an `Init` can only initialize `#[pin]` fields"
)]
pub unsafe trait Init<T: ?Sized, E = Infallible>: PinInit<T, E> {
    /// Returns an initializer that runs `self` and then `f` on the initialized value.
    ///
    /// If `f` fails (or panics), the value is dropped again and the error is returned.
    ///
    /// # Examples
    ///
    /// ```
    /// use pin_init::{init, InPlaceInit, Init};
    ///
    /// struct Table {
    ///     entries: [u32; 4],
    /// }
    ///
    /// let table = init!(Table { entries: [0; 4] }).chain(|t| {
    ///     t.entries[0] = 1;
    ///     Ok(())
    /// });
    /// let table: Box<Table> = Box::init(table).unwrap();
    /// assert_eq!(table.entries, [1, 0, 0, 0]);
    /// ```
    #[inline]
    fn chain<F>(self, f: F) -> ChainInit<Self, F, T, E>
    where
        F: FnOnce(&mut T) -> Result<(), E>,
    {
        ChainInit(self, f, __internal::PhantomInvariant::new())
    }
}

/// Runs an infallible initializer on `slot`.
///
/// # Safety
///
/// - `slot` is valid for writes, properly aligned, and points to uninitialized memory that is not
///   accessed by anyone else during the call,
/// - `slot` is pinned: the value is not moved until it has been dropped. When `init` also
///   implements [`Init<T>`], this requirement does not apply.
#[inline(always)]
pub unsafe fn raw_init<T>(slot: *mut T, init: impl PinInit<T>) {
    // SAFETY: The caller upholds the requirements, and since the error type is uninhabited, the
    // `Err` requirement is vacuous.
    match unsafe { init.__init(slot) } {
        Ok(()) => {}
        Err(never) => match never {},
    }
}

/// Runs a fallible initializer on `slot`.
///
/// # Safety
///
/// - `slot` is valid for writes, properly aligned, and points to uninitialized memory that is not
///   accessed by anyone else during the call,
/// - if `Err` is returned, the caller does not use the contents of `slot` (it may only deallocate
///   the memory),
/// - `slot` is pinned: if `Ok` is returned, the value is not moved until it has been dropped. When
///   `init` also implements [`Init<T, E>`], this requirement does not apply.
#[inline(always)]
pub unsafe fn raw_try_init<T, E>(slot: *mut T, init: impl PinInit<T, E>) -> Result<(), E> {
    // SAFETY: The requirements are the ones of `__init`, passed on to our caller.
    unsafe { init.__init(slot) }
}

/// Drops the value at `ptr` when dropped itself, unless it is disarmed with `mem::forget`.
///
/// # Invariants
///
/// `ptr` points to a valid, initialized value that this guard owns (nobody else drops it).
struct DropOnUnwind<T: ?Sized> {
    ptr: *mut T,
}

impl<T: ?Sized> Drop for DropOnUnwind<T> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, `ptr` points to an initialized value owned by us.
        unsafe { core::ptr::drop_in_place(self.ptr) }
    }
}

/// The initializer returned by [`PinInit::pin_chain`].
pub struct ChainPinInit<I, F, T: ?Sized, E>(I, F, __internal::PhantomInvariant<(E, T)>);

// SAFETY: `__init` runs the inner initializer with the same (pinned) slot. If that fails, nothing
// is initialized. Otherwise the value is owned by a guard while `f` runs, so an error or panic of
// `f` drops it again before returning, leaving `slot` uninitialized. `f` only gets a
// `Pin<&mut T>`, so the pinning invariants are upheld.
unsafe impl<T: ?Sized, E, I, F> PinInit<T, E> for ChainPinInit<I, F, T, E>
where
    I: PinInit<T, E>,
    F: FnOnce(Pin<&mut T>) -> Result<(), E>,
{
    #[inline]
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: Our caller upholds the requirements of `__init` for `slot`.
        unsafe { self.0.__init(slot)? };
        // INVARIANT: `slot` was just initialized and nobody else owns the value yet.
        let guard = DropOnUnwind { ptr: slot };
        // SAFETY: `slot` is initialized, valid, exclusively ours and pinned (requirement of
        // `__init`).
        let value = unsafe { Pin::new_unchecked(&mut *slot) };
        (self.1)(value)?;
        core::mem::forget(guard);
        Ok(())
    }
}

/// The initializer returned by [`Init::chain`].
pub struct ChainInit<I, F, T: ?Sized, E>(I, F, __internal::PhantomInvariant<(E, T)>);

// SAFETY: Like the `PinInit` implementation of `ChainPinInit`; `f` receives `&mut T`, which is
// fine because `I: Init` means the value does not need to stay pinned.
unsafe impl<T: ?Sized, E, I, F> PinInit<T, E> for ChainInit<I, F, T, E>
where
    I: Init<T, E>,
    F: FnOnce(&mut T) -> Result<(), E>,
{
    #[inline]
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        // SAFETY: Our caller upholds the requirements of `__init` for `slot`.
        unsafe { self.0.__init(slot)? };
        // INVARIANT: `slot` was just initialized and nobody else owns the value yet.
        let guard = DropOnUnwind { ptr: slot };
        // SAFETY: `slot` is initialized, valid and exclusively ours.
        (self.1)(unsafe { &mut *slot })?;
        core::mem::forget(guard);
        Ok(())
    }
}

// SAFETY: Neither the inner `Init` nor `f` rely on the value staying pinned.
unsafe impl<T: ?Sized, E, I, F> Init<T, E> for ChainInit<I, F, T, E>
where
    I: Init<T, E>,
    F: FnOnce(&mut T) -> Result<(), E>,
{
}

/// An initializer backed by a closure that receives the slot pointer.
///
/// # Invariants
///
/// The closure fulfills the requirements of [`PinInit::__init`], and if the value was created by
/// [`init_from_closure`] also the ones of [`Init`]. (Values created by [`pin_init_from_closure`]
/// are only exposed as `impl PinInit`, which hides the `Init` implementation.)
struct ClosureInit<F, T: ?Sized>(F, __internal::PhantomInvariant<T>);

// SAFETY: By the type invariant, the closure is a correct `__init`.
unsafe impl<T: ?Sized, E, F> PinInit<T, E> for ClosureInit<F, T>
where
    F: FnOnce(*mut T) -> Result<(), E>,
{
    #[inline]
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        (self.0)(slot)
    }
}

// SAFETY: By the type invariant, this implementation is only observable for closures that do not
// rely on pinning.
unsafe impl<T: ?Sized, E, F> Init<T, E> for ClosureInit<F, T> where
    F: FnOnce(*mut T) -> Result<(), E>
{
}

/// Turns a closure that initializes a raw slot into a [`PinInit<T, E>`].
///
/// # Safety
///
/// When called with a `slot` fulfilling the requirements of [`PinInit::__init`], the closure must:
///
/// - return `Ok(())` only after fully initializing `slot` with a valid `T`,
/// - on returning `Err`, have dropped or undone whatever it initialized, so that `slot` may be
///   deallocated without any cleanup,
/// - uphold the pinning invariants of `T` at `slot`; it may rely on `slot` not moving after it
///   returns `Ok` if `T: !Unpin`.
///
/// # Examples
///
/// ```
/// use core::cell::Cell;
/// use pin_init::{pin_init_from_closure, stack_try_pin_init, PinInit};
///
/// /// Initializes a counter that must start below `limit`.
/// fn counter(start: u32, limit: u32) -> impl PinInit<Cell<u32>, u32> {
///     // SAFETY: On `Ok`, `slot` was written with a valid `Cell<u32>`; on `Err`, it was not
///     // touched.
///     unsafe {
///         pin_init_from_closure(move |slot: *mut Cell<u32>| {
///             if start >= limit {
///                 return Err(start);
///             }
///             slot.write(Cell::new(start));
///             Ok(())
///         })
///     }
/// }
///
/// stack_try_pin_init!(let c = counter(1, 10));
/// assert_eq!(c.unwrap().get(), 1);
/// stack_try_pin_init!(let c = counter(11, 10));
/// assert_eq!(c.err(), Some(11));
/// ```
#[inline]
pub const unsafe fn pin_init_from_closure<T: ?Sized, E>(
    f: impl FnOnce(*mut T) -> Result<(), E>,
) -> impl PinInit<T, E> {
    // INVARIANT: The caller guarantees that `f` is a correct `__init`; the `Init` implementation
    // is hidden by the opaque return type.
    ClosureInit(f, __internal::PhantomInvariant::new())
}

/// Turns a closure that initializes a raw slot into an [`Init<T, E>`].
///
/// # Safety
///
/// The requirements of [`pin_init_from_closure`], and additionally the closure must not rely on
/// the value staying at `slot` after it returns: the value may be moved.
#[inline]
pub const unsafe fn init_from_closure<T: ?Sized, E>(
    f: impl FnOnce(*mut T) -> Result<(), E>,
) -> impl Init<T, E> {
    // INVARIANT: The caller guarantees that `f` is a correct `__init` that does not rely on
    // pinning.
    ClosureInit(f, __internal::PhantomInvariant::new())
}

/// Reinterprets an initializer of `T` as one of `U`.
///
/// # Safety
///
/// `U` must be layout compatible with `T` so that the initializer of `T` can run on a
/// `*mut U` cast to `*mut T`, and every valid `T` written that way must be a valid `U` (with the
/// same pinning requirements).
///
/// # Examples
///
/// ```
/// use core::cell::UnsafeCell;
/// use pin_init::{cast_pin_init, stack_pin_init};
///
/// // SAFETY: `UnsafeCell<u32>` has the same layout as `u32` and every `u32` is a valid
/// // `UnsafeCell<u32>`.
/// let init = unsafe { cast_pin_init::<u32, UnsafeCell<u32>, _>(17u32) };
/// stack_pin_init!(let cell = init);
/// assert_eq!(unsafe { *cell.get() }, 17);
/// ```
#[inline]
pub const unsafe fn cast_pin_init<T, U, E>(init: impl PinInit<T, E>) -> impl PinInit<U, E> {
    // SAFETY: The slot is handed unchanged (only cast) to `init`, which is a correct `__init` for
    // `T`; by our own safety requirement the result is a valid, correctly pinned `U`.
    unsafe { pin_init_from_closure(move |slot: *mut U| init.__init(slot.cast::<T>())) }
}

/// Reinterprets an initializer of `T` as one of `U`.
///
/// # Safety
///
/// The same as for [`cast_pin_init`].
#[inline]
pub const unsafe fn cast_init<T, U, E>(init: impl Init<T, E>) -> impl Init<U, E> {
    // SAFETY: As for `cast_pin_init`; `init` does not rely on pinning, so neither does this.
    unsafe { init_from_closure(move |slot: *mut U| init.__init(slot.cast::<T>())) }
}

/// An initializer that leaves the memory uninitialized.
///
/// It never fails (whatever `E` is chosen) and does not write anything.
#[inline]
pub fn uninit<T, E>() -> impl Init<MaybeUninit<T>, E> {
    // SAFETY: Any content, including uninitialized memory, is a valid `MaybeUninit<T>`.
    unsafe { init_from_closure(|_: *mut MaybeUninit<T>| Ok(())) }
}

/// Initializes the elements of an array one by one.
struct ArrayInit<T, F>(F, __internal::PhantomInvariant<T>);

/// Owns the first `done` elements of an array under construction and drops them when dropped.
///
/// # Invariants
///
/// `first[..done]` are initialized `T`s owned by this guard.
struct ArrayGuard<T> {
    first: *mut T,
    done: usize,
}

impl<T> Drop for ArrayGuard<T> {
    fn drop(&mut self) {
        let initialized = core::ptr::slice_from_raw_parts_mut(self.first, self.done);
        // SAFETY: By the type invariant, these elements are initialized and owned by us.
        unsafe { core::ptr::drop_in_place(initialized) }
    }
}

// SAFETY: Elements are initialized in order with element initializers that get element slots
// derived from the (pinned) array slot. The guard owns exactly the elements initialized so far,
// so on error or panic all of them, and only them, are dropped and the array is left
// uninitialized. On success all `N` elements are initialized.
unsafe impl<T, F, I, E, const N: usize> PinInit<[T; N], E> for ArrayInit<T, F>
where
    F: FnMut(usize) -> I,
    I: PinInit<T, E>,
{
    unsafe fn __init(mut self, slot: *mut [T; N]) -> Result<(), E> {
        // INVARIANT: No element is initialized yet.
        let mut guard = ArrayGuard {
            first: slot.cast::<T>(),
            done: 0,
        };
        for i in 0..N {
            let init = (self.0)(i);
            // SAFETY: `i < N`, so the element slot lies within the array, which is valid and
            // uninitialized from index `done == i` on. It is pinned if the array is. If `Err` is
            // returned the element is not touched again.
            unsafe { init.__init(guard.first.add(i))? };
            // INVARIANT: Element `i` was just initialized.
            guard.done = i + 1;
        }
        core::mem::forget(guard);
        Ok(())
    }
}

// SAFETY: With `I: Init`, no element initializer relies on pinning, and neither does the array
// initialization itself.
unsafe impl<T, F, I, E, const N: usize> Init<[T; N], E> for ArrayInit<T, F>
where
    F: FnMut(usize) -> I,
    I: Init<T, E>,
{
}

/// Returns an initializer for `[T; N]` that initializes element `i` with `make_init(i)`.
///
/// Elements are initialized in order. If one fails, the ones before it are dropped again.
///
/// # Examples
///
/// ```
/// use pin_init::{init_array_from_fn, InPlaceInit};
///
/// let squares: Box<[u64; 1000]> = Box::init(init_array_from_fn(|i| (i * i) as u64)).unwrap();
/// assert_eq!(squares[31], 961);
/// ```
#[inline]
pub fn init_array_from_fn<I, const N: usize, T, E>(
    make_init: impl FnMut(usize) -> I,
) -> impl Init<[T; N], E>
where
    I: Init<T, E>,
{
    ArrayInit(make_init, __internal::PhantomInvariant::new())
}

/// Returns a pin-initializer for `[T; N]` that initializes element `i` with `make_init(i)`.
///
/// Elements are initialized in order. If one fails, the ones before it are dropped again.
///
/// # Examples
///
/// ```
/// use core::{marker::PhantomPinned, pin::Pin};
/// use pin_init::{pin_data, pin_init, pin_init_array_from_fn, InPlaceInit};
///
/// #[pin_data]
/// struct Slot {
///     index: usize,
///     #[pin]
///     _pin: PhantomPinned,
/// }
///
/// let slots: Pin<Box<[Slot; 8]>> = Box::pin_init(pin_init_array_from_fn(|index| {
///     pin_init!(Slot { index, _pin: PhantomPinned })
/// }))
/// .unwrap();
/// assert_eq!(slots[5].index, 5);
/// ```
#[inline]
pub fn pin_init_array_from_fn<I, const N: usize, T, E>(
    make_init: impl FnMut(usize) -> I,
) -> impl PinInit<[T; N], E>
where
    I: PinInit<T, E>,
{
    ArrayInit(make_init, __internal::PhantomInvariant::new())
}

/// Returns a pin-initializer that first runs `make_init` and then the initializer it returns.
///
/// This allows fallible preparation (with `?`) before any memory is touched, and keeps local
/// variables of that preparation available to the returned initializer. If `make_init` returns an
/// error, the slot is left untouched.
///
/// # Examples
///
/// ```
/// use pin_init::{pin_data, pin_init, pin_init_scope, stack_try_pin_init, PinInit};
///
/// #[derive(Debug, PartialEq)]
/// struct BadConfig;
///
/// #[pin_data]
/// struct Uart {
///     baud: u32,
///     name: String,
/// }
///
/// fn parse_baud(s: &str) -> Result<u32, BadConfig> {
///     s.parse().map_err(|_| BadConfig)
/// }
///
/// fn uart(cfg: &'static str) -> impl PinInit<Uart, BadConfig> {
///     pin_init_scope(move || {
///         let baud = parse_baud(cfg)?;
///         Ok(pin_init!(Uart { baud, name: format!("ttyS@{baud}") }? BadConfig))
///     })
/// }
///
/// stack_try_pin_init!(let u = uart("115200"));
/// assert_eq!(u.unwrap().baud, 115200);
/// stack_try_pin_init!(let u = uart("fast"));
/// assert_eq!(u.err(), Some(BadConfig));
/// ```
#[inline]
pub fn pin_init_scope<T, E, F, I>(make_init: F) -> impl PinInit<T, E>
where
    F: FnOnce() -> Result<I, E>,
    I: PinInit<T, E>,
{
    // SAFETY: If `make_init` fails, `slot` was not touched. Otherwise `slot` is handed unchanged
    // to the initializer it returned, with the same guarantees we were given.
    unsafe { pin_init_from_closure(move |slot: *mut T| make_init()?.__init(slot)) }
}

/// Returns an initializer that first runs `make_init` and then the initializer it returns.
///
/// The non-pinned counterpart of [`pin_init_scope`].
///
/// # Examples
///
/// ```
/// use pin_init::{init, init_scope, InPlaceInit, Init};
///
/// struct Header {
///     len: u16,
/// }
///
/// fn header(len: usize) -> impl Init<Header, core::num::TryFromIntError> {
///     init_scope(move || {
///         let len = u16::try_from(len)?;
///         Ok(init!(Header { len }? core::num::TryFromIntError))
///     })
/// }
///
/// assert!(Box::try_init(header(100_000)).is_err());
/// ```
#[inline]
pub fn init_scope<T, E, F, I>(make_init: F) -> impl Init<T, E>
where
    F: FnOnce() -> Result<I, E>,
    I: Init<T, E>,
{
    // SAFETY: As for `pin_init_scope`; the inner initializer does not rely on pinning.
    unsafe { init_from_closure(move |slot: *mut T| make_init()?.__init(slot)) }
}

// SAFETY: `__init` writes `self` into the slot and always succeeds. Writing a value by move does
// not rely on the slot staying pinned (the value was movable before).
unsafe impl<T> PinInit<T> for T {
    #[inline]
    unsafe fn __init(self, slot: *mut T) -> Result<(), Infallible> {
        // SAFETY: The caller guarantees that `slot` is valid for writes and aligned.
        unsafe { slot.write(self) };
        Ok(())
    }
}

// SAFETY: See the `PinInit` implementation above.
unsafe impl<T> Init<T> for T {}

// SAFETY: `__init` either writes the contained value (and succeeds) or returns the contained error
// without touching the slot. Neither relies on pinning.
unsafe impl<T, E> PinInit<T, E> for Result<T, E> {
    #[inline]
    unsafe fn __init(self, slot: *mut T) -> Result<(), E> {
        let value = self?;
        // SAFETY: The caller guarantees that `slot` is valid for writes and aligned.
        unsafe { slot.write(value) };
        Ok(())
    }
}

// SAFETY: See the `PinInit` implementation above.
unsafe impl<T, E> Init<T, E> for Result<T, E> {}

/// Uninitialized memory owned by a smart pointer, which an initializer can fill.
///
/// Implemented for `Box<MaybeUninit<T>>` and `&'static mut MaybeUninit<T>`.
///
/// # Examples
///
/// ```
/// use core::mem::MaybeUninit;
/// use pin_init::{init_zeroed, InPlaceWrite};
///
/// let memory: Box<MaybeUninit<[u64; 512]>> = Box::new_uninit();
/// let table: Box<[u64; 512]> = memory.write_init(init_zeroed()).unwrap();
/// assert_eq!(table[511], 0);
/// ```
pub trait InPlaceWrite<T> {
    /// What `Self` becomes once the memory holds a valid `T`.
    type Initialized;

    /// Runs `init` on the memory, treating the current contents as uninitialized (they are not
    /// dropped).
    fn write_init<E>(self, init: impl Init<T, E>) -> Result<Self::Initialized, E>;

    /// Runs the pin-initializer `init` on the memory, treating the current contents as
    /// uninitialized (they are not dropped), and pins the result.
    fn write_pin_init<E>(self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E>;
}

impl<T> InPlaceWrite<T> for &'static mut MaybeUninit<T> {
    type Initialized = &'static mut T;

    #[inline]
    fn write_init<E>(self, init: impl Init<T, E>) -> Result<Self::Initialized, E> {
        // SAFETY: The memory is valid, aligned and exclusively borrowed; `init` does not need it
        // to be pinned. On error, we do not look at it again.
        unsafe { init.__init(self.as_mut_ptr())? };
        // SAFETY: `init` succeeded, so the memory holds a valid `T`.
        Ok(unsafe { self.assume_init_mut() })
    }

    #[inline]
    fn write_pin_init<E>(self, init: impl PinInit<T, E>) -> Result<Pin<Self::Initialized>, E> {
        // SAFETY: The memory is valid, aligned and exclusively borrowed; being borrowed for
        // `'static` and never handed out unpinned, it stays in place forever, so it is pinned.
        unsafe { init.__init(self.as_mut_ptr())? };
        // SAFETY: `init` succeeded, so the memory holds a valid `T`.
        let value = unsafe { self.assume_init_mut() };
        Ok(Pin::static_mut(value))
    }
}

/// The destructor of a pinned type.
///
/// A [`#[pin_data(PinnedDrop)]`](macro@pin_data) struct calls `PinnedDrop::drop` from its
/// generated [`Drop`] implementation, passing `self` as `Pin<&mut Self>` so that the destructor
/// cannot move out of structurally pinned fields. Implement it with
/// [`#[pinned_drop]`](macro@pinned_drop), which also supplies the token parameter:
///
/// ```
/// use core::pin::Pin;
/// use pin_init::{pin_data, pinned_drop, PinnedDrop};
///
/// #[pin_data(PinnedDrop)]
/// struct Irq {
///     line: u32,
/// }
///
/// #[pinned_drop]
/// impl PinnedDrop for Irq {
///     fn drop(self: Pin<&mut Self>) {
///         println!("releasing irq {}", self.line);
///     }
/// }
/// ```
///
/// # Safety
///
/// Only implement this trait through [`#[pinned_drop]`](macro@pinned_drop).
pub unsafe trait PinnedDrop: __internal::HasPinData {
    /// Runs the destructor.
    ///
    /// `only_call_from_drop` can only be created by `unsafe` code, which keeps this safe function
    /// from being called other than from the generated `Drop` implementation.
    fn drop(self: Pin<&mut Self>, only_call_from_drop: __internal::OnlyCallFromDrop);
}

/// Types for which the all-zero bit pattern is a valid value.
///
/// Use [`derive(Zeroable)`](macro@Zeroable) for your own structs. Then [`init_zeroed`] (or
/// `..Zeroable::init_zeroed()` in [`pin_init!`]) initializes them in place without building them
/// on the stack, and [`zeroed`] returns a zeroed value.
///
/// # Safety
///
/// `core::mem::zeroed::<Self>()` is not undefined behavior: every byte being `0` is a valid value
/// of `Self` (padding bytes included, trivially).
pub unsafe trait Zeroable {
    /// Returns an initializer that sets every byte of the slot to zero.
    #[inline]
    fn init_zeroed() -> impl Init<Self>
    where
        Self: Sized,
    {
        init_zeroed()
    }

    /// Returns a value of `Self` with every byte set to zero.
    ///
    /// Use this instead of [`core::mem::zeroed`], which needs `unsafe`. In `const` contexts use
    /// the free function [`zeroed`].
    ///
    /// # Examples
    ///
    /// ```
    /// use pin_init::Zeroable;
    ///
    /// let pair: (u8, Option<&u32>) = Zeroable::zeroed();
    /// assert_eq!(pair, (0, None));
    /// ```
    #[inline]
    fn zeroed() -> Self
    where
        Self: Sized,
    {
        zeroed()
    }
}

/// Returns an initializer that sets every byte of a `T` to zero.
///
/// # Examples
///
/// ```
/// use pin_init::{init_zeroed, InPlaceInit};
///
/// let big: Box<[u32; 1 << 20]> = Box::init(init_zeroed()).unwrap();
/// assert_eq!(big[12345], 0);
/// ```
#[inline]
pub fn init_zeroed<T: Zeroable>() -> impl Init<T> {
    // SAFETY: All zeroes is a valid `T` because `T: Zeroable`, so writing them fully initializes
    // the slot, which does not rely on pinning.
    unsafe {
        init_from_closure(|slot: *mut T| {
            slot.write_bytes(0, 1);
            Ok(())
        })
    }
}

/// Returns a `T` with every byte set to zero; usable in `const` contexts.
///
/// # Examples
///
/// ```
/// use pin_init::zeroed;
///
/// const EMPTY: [Option<&str>; 4] = zeroed();
/// assert!(EMPTY.iter().all(Option::is_none));
/// ```
#[inline]
pub const fn zeroed<T: Zeroable>() -> T {
    // SAFETY: `T: Zeroable` guarantees that all zeroes is a valid `T`.
    unsafe { core::mem::zeroed() }
}

/// Implements `Zeroable` for the listed types; each group carries its own safety argument.
macro_rules! zeroable_impls {
    ($($({$($generics:tt)*})? $ty:ty),* $(,)?) => {
        $(
            // SAFETY: See the comment at the invocation for the group containing this type.
            unsafe impl$(<$($generics)*>)? Zeroable for $ty {}
        )*
    };
}

zeroable_impls! {
    // SAFETY: Zero is a valid value of every integer and float type, `false` is `0`, and `'\0'`
    // is a valid `char`.
    bool, char,
    u8, u16, u32, u64, u128, usize,
    i8, i16, i32, i64, i128, isize,
    f32, f64,
}

zeroable_impls! {
    // SAFETY: Inhabited zero-sized types have no bytes, so nothing is required. Uninhabited types
    // (`!`, `Infallible`) must never get this implementation.
    {T: ?Sized} PhantomData<T>, PhantomPinned, (),
}

zeroable_impls! {
    // SAFETY: Every bit pattern, including all zeroes, is a valid `MaybeUninit<T>`.
    {T} MaybeUninit<T>,
}

zeroable_impls! {
    // SAFETY: `UnsafeCell<T>` has the same in-memory representation as `T`, which is zeroable.
    {T: ?Sized + Zeroable} UnsafeCell<T>,
}

zeroable_impls! {
    // SAFETY: A null thin pointer is valid (it is just not dereferenceable). This is restricted
    // to `T: Sized`, because for trait objects the metadata (vtable pointer) must not be null.
    {T} *mut T, {T} *const T,
}

zeroable_impls! {
    // SAFETY: Slice and `str` pointers consist of an address (null is valid) and a length (zero is
    // valid).
    {T} *mut [T], {T} *const [T], *mut str, *const str,
}

zeroable_impls! {
    // SAFETY: Arrays of zeroable elements are zeroable (no padding between elements), and
    // `Wrapping<T>` is `repr(transparent)` over `T`.
    {T: Zeroable, const N: usize} [T; N], {T: Zeroable} Wrapping<T>,
}

/// Implements `Zeroable` for tuples of every length from the given one down to one.
macro_rules! zeroable_tuples {
    () => {};
    ($head:ident $(, $tail:ident)*) => {
        // SAFETY: Every element is zeroable and padding bytes may hold any value.
        unsafe impl<$head: Zeroable $(, $tail: Zeroable)*> Zeroable for ($head, $($tail,)*) {}
        zeroable_tuples!($($tail),*);
    };
}

zeroable_tuples!(A, B, C, D, E, F, G, H, I, J);

/// Types whose `Option<Self>` is represented by all zeroes when it is `None`.
///
/// Then `Option<Self>` is [`Zeroable`], zeroing yielding `None`. This is implemented for
/// references, [`NonNull`], the `NonZero` integers, `Box<T>` and function pointers with up to 20
/// parameters (Rust and C ABI, safe and `unsafe`).
///
/// # Safety
///
/// `Option<Self>` must be guaranteed to be `None` when all its bytes are zero, which makes
/// `unsafe impl Zeroable for Option<Self> {}` sound.
pub unsafe trait ZeroableOption {}

// SAFETY: By the safety requirement of `ZeroableOption`, an all-zero `Option<T>` is `None`.
unsafe impl<T: ZeroableOption> Zeroable for Option<T> {}

/// Implements `ZeroableOption` for the listed types.
macro_rules! zeroable_option_impls {
    ($($({$($generics:tt)*})? $ty:ty),* $(,)?) => {
        $(
            // SAFETY: Every listed type is covered by the "null pointer optimization" guarantee
            // documented in `core::option` ("Representation"): `Option<Self>` has the same size
            // as `Self` and `None` is represented by all zeroes.
            unsafe impl$(<$($generics)*>)? ZeroableOption for $ty {}
        )*
    };
}

zeroable_option_impls! {
    {T: ?Sized} &T,
    {T: ?Sized} &mut T,
    {T: ?Sized} NonNull<T>,
    NonZero<u8>, NonZero<u16>, NonZero<u32>, NonZero<u64>, NonZero<u128>, NonZero<usize>,
    NonZero<i8>, NonZero<i16>, NonZero<i32>, NonZero<i64>, NonZero<i128>, NonZero<isize>,
}

/// Implements `ZeroableOption` for the four kinds of function pointers (safe or `unsafe`, Rust or
/// C ABI) with the given return type parameter and parameter types.
macro_rules! zeroable_option_fn {
    ($ret:ident; $($arg:ident),*) => {
        // SAFETY: Function pointers are never null and covered by the "null pointer optimization"
        // guarantee documented in `core::option`, whatever their ABI and safety.
        unsafe impl<$ret, $($arg),*> ZeroableOption for fn($($arg),*) -> $ret {}
        // SAFETY: As above.
        unsafe impl<$ret, $($arg),*> ZeroableOption for unsafe fn($($arg),*) -> $ret {}
        // SAFETY: As above.
        unsafe impl<$ret, $($arg),*> ZeroableOption for extern "C" fn($($arg),*) -> $ret {}
        // SAFETY: As above.
        unsafe impl<$ret, $($arg),*> ZeroableOption for unsafe extern "C" fn($($arg),*) -> $ret {}
    };
}

/// Invokes `zeroable_option_fn!` for the given parameters, and again for every suffix of them
/// (down to no parameters at all).
macro_rules! zeroable_option_fns_all {
    ($ret:ident; ) => {
        zeroable_option_fn!($ret; );
    };
    ($ret:ident; $first:ident $(, $rest:ident)*) => {
        zeroable_option_fn!($ret; $first $(, $rest)*);
        zeroable_option_fns_all!($ret; $($rest),*);
    };
}

zeroable_option_fns_all!(R; A, B, C, D, E, F, G, H, I, J, K, L, M, N, O, P, Q, S, T, U);

/// Types that wrap exactly one structurally pinned value of type `T`, and can therefore be
/// pin-initialized from an initializer of that value.
///
/// # Examples
///
/// ```
/// use core::{cell::UnsafeCell, marker::PhantomPinned};
/// use pin_init::{pin_data, pin_init, stack_pin_init, Wrapper};
///
/// #[pin_data]
/// struct Inner {
///     value: u32,
///     #[pin]
///     _pin: PhantomPinned,
/// }
///
/// #[pin_data]
/// struct Shared {
///     #[pin]
///     inner: UnsafeCell<Inner>,
/// }
///
/// stack_pin_init!(let s = pin_init!(Shared {
///     inner <- UnsafeCell::pin_init(pin_init!(Inner { value: 3, _pin: PhantomPinned })),
/// }));
/// // SAFETY: Nobody else accesses `inner`.
/// assert_eq!(unsafe { (*s.inner.get()).value }, 3);
/// ```
pub trait Wrapper<T> {
    /// Returns a pin-initializer of `Self` that pin-initializes the wrapped value with
    /// `value_init`.
    fn pin_init<E>(value_init: impl PinInit<T, E>) -> impl PinInit<Self, E>;
}

impl<T> Wrapper<T> for UnsafeCell<T> {
    #[inline]
    fn pin_init<E>(value_init: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        // SAFETY: `UnsafeCell<T>` is `repr(transparent)` over `T`, and every `T` is a valid
        // `UnsafeCell<T>`.
        unsafe { cast_pin_init(value_init) }
    }
}

impl<T> Wrapper<T> for MaybeUninit<T> {
    #[inline]
    fn pin_init<E>(value_init: impl PinInit<T, E>) -> impl PinInit<Self, E> {
        // SAFETY: `MaybeUninit<T>` has the same layout as `T`, and every `T` is a valid
        // `MaybeUninit<T>`.
        unsafe { cast_pin_init(value_init) }
    }
}
