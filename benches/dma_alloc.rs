//! DMA allocation: a small `dma::Coherent` allocation and free, against the C library's zeroed
//! allocation of the same size.
//!
//! The device is a simulated edu, whose DMA goes through the same pool as on VFIO (2 MiB chunks
//! mapped once and carved into pages), so the measured path is the one a driver takes on a real
//! device once the pool's first chunk is mapped: no system call, a page taken from a chunk and
//! zeroed. Like the kernel's `dma_alloc_coherent`, the pool hands out whole pages, so a 64-byte
//! allocation zeroes 4 KiB; the 4096-byte comparison shows the cost of the pool's bookkeeping
//! alone.

use std::alloc::{alloc_zeroed, dealloc, Layout};
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use drydock_benches::interleaved;
use drydock_runner::driver_data::WithDriver;
use drydock_sim::{models::Edu, SimBus};
use edu::EduDriver;
use kernel::dma::Coherent;
use kernel::prelude::*;

fn dma_alloc(c: &mut Criterion) {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus
        .load(&edu::__DRYDOCK_MODULE)
        .expect("the edu module loads");
    device
        .with_driver::<EduDriver, _>(|dev, _| {
            for size in [64usize, 4096] {
                let layout = Layout::from_size_align(size, 8).expect("a valid layout");
                interleaved(
                    c,
                    &format!("alloc_free_{size}"),
                    ("Coherent::zeroed_slice", || {
                        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), size, GFP_KERNEL)
                            .expect("DMA memory");
                        drop(black_box(buffer));
                    }),
                    ("alloc_zeroed", || {
                        // SAFETY: `layout` has a non-zero size; the block is freed with it.
                        unsafe {
                            let block = alloc_zeroed(layout);
                            assert!(!block.is_null());
                            dealloc(black_box(block), layout);
                        }
                    }),
                );
            }
        })
        .expect("edu is bound");
}

criterion_group!(benches, dma_alloc);
criterion_main!(benches);
