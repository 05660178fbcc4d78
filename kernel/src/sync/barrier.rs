//! Memory barriers: [`smp_mb`], [`mb`] and [`dma_mb`], with the flavour passed as a value.
//!
//! Mirrors `rust/kernel/sync/barrier.rs` of Linux 7.3: `smp_mb(Full)`, `smp_mb(Read)`,
//! `smp_mb(Write)` and likewise for `mb` and `dma_mb`. In the kernel they call the architecture's
//! barrier macros. Here every barrier is a `core::sync::atomic::fence`: [`Full`] a sequentially
//! consistent fence, [`Read`] an acquire fence and [`Write`] a release fence, which order the
//! process's memory accesses as the kernel's order the CPU's (`mb`/`rmb`/`wmb` and the `dma_`
//! variants also order accesses to device memory, which the process maps uncached). drydock
//! assumes an SMP machine (`CONFIG_SMP`), so `smp_mb` always emits its fence.
//!
//! # Examples
//!
//! ```
//! # use kernel::prelude::*;
//! use kernel::sync::barrier::{smp_mb, Full, Read, Write};
//!
//! smp_mb(Write);
//! smp_mb(Read);
//! smp_mb(Full);
//! ```

#![allow(private_bounds)]

use core::sync::atomic::{fence, Ordering};

/// The flavours of barriers.
///
/// Mirrors `kernel::sync::barrier::ordering`.
pub mod ordering {
    pub use crate::sync::atomic::ordering::Full;

    /// Orders reads (loads) before the barrier with reads after it.
    ///
    /// Mirrors `kernel::sync::barrier::ordering::Read`.
    pub struct Read;

    /// Orders writes (stores) before the barrier with writes after it.
    ///
    /// Mirrors `kernel::sync::barrier::ordering::Write`.
    pub struct Write;
}

pub use ordering::{Full, Read, Write};

/// The flavour of [`smp_mb`]'s barriers.
struct Smp;

/// The flavour of [`dma_mb`]'s barriers.
struct Dma;

/// A barrier of the given ordering, for the barrier family `Flavour`.
trait MemoryBarrier<Flavour = ()> {
    /// Emits the barrier.
    fn run();
}

/// Implements [`MemoryBarrier`] for an ordering in every flavour with the given fence.
macro_rules! define_barrier {
    ($ordering:ident, $fence:expr) => {
        impl MemoryBarrier for $ordering {
            #[inline]
            fn run() {
                fence($fence);
            }
        }

        impl MemoryBarrier<Smp> for $ordering {
            #[inline]
            fn run() {
                fence($fence);
            }
        }

        impl MemoryBarrier<Dma> for $ordering {
            #[inline]
            fn run() {
                fence($fence);
            }
        }
    };
}

define_barrier!(Full, Ordering::SeqCst);
define_barrier!(Read, Ordering::Acquire);
define_barrier!(Write, Ordering::Release);

/// A mandatory memory barrier (the kernel's `mb()`, `rmb()`, `wmb()`), also ordering accesses to
/// device memory.
#[inline]
#[doc(alias = "rmb")]
#[doc(alias = "wmb")]
pub fn mb<T: MemoryBarrier>(_: T) {
    T::run()
}

/// A memory barrier between CPUs (the kernel's `smp_mb()`, `smp_rmb()`, `smp_wmb()`).
#[inline]
#[doc(alias = "smp_rmb")]
#[doc(alias = "smp_wmb")]
pub fn smp_mb<T: MemoryBarrier<Smp>>(_: T) {
    T::run()
}

/// A memory barrier for memory shared with a device by DMA (the kernel's `dma_mb()`,
/// `dma_rmb()`, `dma_wmb()`).
#[inline]
#[doc(alias = "dma_rmb")]
#[doc(alias = "dma_wmb")]
pub fn dma_mb<T: MemoryBarrier<Dma>>(_: T) {
    T::run()
}
