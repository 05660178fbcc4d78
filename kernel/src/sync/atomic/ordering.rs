//! The memory orderings of atomic operations, passed as values: `x.load(Relaxed)`.
//!
//! Mirrors `rust/kernel/sync/atomic/ordering.rs` of Linux 7.3. The orderings follow the Linux
//! kernel memory model (LKMM):
//!
//! - [`Acquire`] orders the load part of the operation before every later memory access (a store
//!   part, if any, is relaxed);
//! - [`Release`] orders every earlier memory access before the store part of the operation (a
//!   load part, if any, is relaxed);
//! - [`Full`] orders the operation with every earlier and every later access, and earlier accesses
//!   with later ones, as a full memory barrier does;
//! - [`Relaxed`] orders nothing beyond dependencies.
//!
//! In drydock the operations are those of `core::sync::atomic`, with `Relaxed`, `Acquire` and
//! `Release` mapped to the orderings of the same name and `Full` to `SeqCst`, which on the
//! architectures drydock runs on (x86-64, arm64) compiles to the same fully ordered instructions.

/// No ordering beyond dependencies.
///
/// Mirrors `kernel::sync::atomic::ordering::Relaxed`.
pub struct Relaxed;

/// Acquire ordering for the load part of the operation.
///
/// Mirrors `kernel::sync::atomic::ordering::Acquire`.
pub struct Acquire;

/// Release ordering for the store part of the operation.
///
/// Mirrors `kernel::sync::atomic::ordering::Release`.
pub struct Release;

/// Fully ordered.
///
/// Mirrors `kernel::sync::atomic::ordering::Full`.
pub struct Full;

/// The ordering a type stands for, to select the operation at compile time.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub enum OrderingType {
    /// [`Relaxed`].
    Relaxed,
    /// [`Acquire`].
    Acquire,
    /// [`Release`].
    Release,
    /// [`Full`].
    Full,
}

mod internal {
    /// Keeps the set of orderings closed.
    pub trait Sealed {}

    impl Sealed for super::Relaxed {}
    impl Sealed for super::Acquire {}
    impl Sealed for super::Release {}
    impl Sealed for super::Full {}
}

/// The orderings; implemented by [`Relaxed`], [`Acquire`], [`Release`] and [`Full`] only.
///
/// Mirrors `kernel::sync::atomic::ordering::Ordering`.
pub trait Ordering: internal::Sealed {
    /// Which ordering this is.
    const TYPE: OrderingType;
}

impl Ordering for Relaxed {
    const TYPE: OrderingType = OrderingType::Relaxed;
}

impl Ordering for Acquire {
    const TYPE: OrderingType = OrderingType::Acquire;
}

impl Ordering for Release {
    const TYPE: OrderingType = OrderingType::Release;
}

impl Ordering for Full {
    const TYPE: OrderingType = OrderingType::Full;
}

/// The orderings a load accepts: [`Acquire`] and [`Relaxed`].
///
/// Mirrors `kernel::sync::atomic::ordering::AcquireOrRelaxed`.
pub trait AcquireOrRelaxed: Ordering {}

impl AcquireOrRelaxed for Acquire {}
impl AcquireOrRelaxed for Relaxed {}

/// The orderings a store accepts: [`Release`] and [`Relaxed`].
///
/// Mirrors `kernel::sync::atomic::ordering::ReleaseOrRelaxed`.
pub trait ReleaseOrRelaxed: Ordering {}

impl ReleaseOrRelaxed for Release {}
impl ReleaseOrRelaxed for Relaxed {}
