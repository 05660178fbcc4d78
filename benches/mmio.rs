//! Register access: the mirror's `Mmio` accessors against raw volatile access to the same memory.
//!
//! The "device" is a page of ordinary memory, so what is measured is the accessors' own cost:
//! the address computation, the check for a trapped region (BARs that VFIO cannot map are served
//! by pread/pwrite; the mirror tells them apart by address), and the ordering `readl`/`writel`
//! promise (on x86, a compiler barrier). The goal is no measurable difference.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use drydock_benches::interleaved;
use kernel::io::{register, Io, Mmio, MmioRaw, Region};

/// The size of the pretend BAR.
const SIZE: usize = 4096;
/// The register offset used.
const OFFSET: usize = 0x10;

register! {
    /// A register at [`OFFSET`].
    STATUS(u32) @ 0x10 {
        31:0 value;
    }
}

fn mmio(c: &mut Criterion) {
    let mut memory = vec![0u64; SIZE / 8];
    let base = memory.as_mut_ptr().cast::<u8>();
    let raw = MmioRaw::<Region<SIZE>>::new_region(base.expose_provenance(), SIZE)
        .expect("a page of memory is a valid region");
    // SAFETY: `memory` is live, aligned and not otherwise accessed while `bar` is used.
    let bar: Mmio<'_, Region<SIZE>> = unsafe { Mmio::from_raw(raw) };
    // SAFETY: `OFFSET` is aligned and inside `memory`.
    let register = unsafe { base.add(OFFSET) }.cast::<u32>();

    interleaved(
        c,
        "read32",
        ("Mmio::read32", || {
            black_box(black_box(&bar).read32(OFFSET));
        }),
        ("read_volatile", || {
            // SAFETY: `register` points to a live, aligned u32 of `memory`.
            black_box(unsafe { black_box(register).read_volatile() });
        }),
    );
    interleaved(
        c,
        "write32",
        ("Mmio::write32", || {
            black_box(&bar).write32(black_box(7), OFFSET)
        }),
        ("write_volatile", || {
            // SAFETY: as above.
            unsafe { black_box(register).write_volatile(black_box(7)) }
        }),
    );
    interleaved(
        c,
        "register_read",
        ("register! read", || {
            black_box(black_box(&bar).read(STATUS).value().get());
        }),
        ("read_volatile", || {
            // SAFETY: as above.
            black_box(unsafe { black_box(register).read_volatile() });
        }),
    );
    interleaved(
        c,
        "try_read32",
        ("Mmio::try_read32 (offset checked at run time)", || {
            black_box(black_box(&bar).try_read32(black_box(OFFSET)).ok());
        }),
        ("read_volatile", || {
            // SAFETY: as above.
            black_box(unsafe { black_box(register).read_volatile() });
        }),
    );
    drop(memory);
}

criterion_group!(benches, mmio);
criterion_main!(benches);
