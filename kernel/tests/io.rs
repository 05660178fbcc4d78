//! Tests of `kernel::io`: the accessors on memory-backed and trapped MMIO, system memory, the
//! run-time checks, projections and copies.

// zerocopy's derives generate non-ASCII identifiers (see `kernel/src/lib.rs`).
#![allow(non_ascii_idents)]

use std::sync::{Arc, Mutex};

use drydock_host::mmio::{TrappedIo, TrappedRegion};
use kernel::error::code::{EINVAL, ERANGE};
use kernel::error::Result;
use kernel::io::{
    io_project, io_read, io_write, Io, IoSysMap, Mmio, MmioRaw, Region, RelaxedMmio, SysMem,
};

/// Returns an MMIO view of `SIZE` known bytes over `mem` (8-byte aligned plain memory standing in
/// for a mapped BAR).
fn mmio_over<const SIZE: usize>(mem: &mut [u64]) -> Mmio<'_, Region<SIZE>> {
    let raw = MmioRaw::new_region(mem.as_mut_ptr().expose_provenance(), mem.len() * 8).unwrap();
    // SAFETY: `mem` is live, aligned memory for the view's lifetime, which borrows it.
    unsafe { Mmio::from_raw(raw) }
}

/// Returns an MMIO view of `SIZE` known bytes over a trapped region of `len` bytes.
fn mmio_over_trap<const SIZE: usize>(region: &TrappedRegion) -> Mmio<'_, Region<SIZE>> {
    let raw = MmioRaw::new_region(region.addr(), region.len()).unwrap();
    // SAFETY: `region` is a live trapped region for the view's lifetime, which borrows it.
    unsafe { Mmio::from_raw(raw) }
}

/// A trapped device that records every access and answers reads with a register file.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<(usize, usize, Option<u64>)>>,
    regs: Mutex<std::collections::BTreeMap<usize, u64>>,
}

impl TrappedIo for Recorder {
    fn read(&self, offset: usize, width: usize) -> u64 {
        self.log.lock().unwrap().push((offset, width, None));
        *self.regs.lock().unwrap().get(&offset).unwrap_or(&0)
    }

    fn write(&self, offset: usize, width: usize, value: u64) {
        self.log.lock().unwrap().push((offset, width, Some(value)));
        self.regs.lock().unwrap().insert(offset, value);
    }
}

impl Recorder {
    fn take_log(&self) -> Vec<(usize, usize, Option<u64>)> {
        std::mem::take(&mut self.log.lock().unwrap())
    }
}

#[test]
fn build_checked_accessors_on_memory() {
    let mut mem = [0u64; 32];
    let io = mmio_over::<0x100>(&mut mem);
    io.write8(0x11, 0x01);
    io.write16(0x2233, 0x02);
    io.write32(0x4455_6677, 0x04);
    io.write32(0x8899_aabb, 0xfc);
    assert_eq!(io.read8(0x01), 0x11);
    assert_eq!(io.read16(0x02), 0x2233);
    assert_eq!(io.read32(0x04), 0x4455_6677);
    assert_eq!(io.read32(0xfc), 0x8899_aabb);
    assert_eq!(io.size(), 0x100);
    // Little-endian layout in memory, as the device sees it.
    assert_eq!(mem[0], 0x4455_6677_2233_1100);
    assert_eq!(mem[31] >> 32, 0x8899_aabb);
}

#[test]
fn generic_read_write_and_update() {
    let mut mem = [0u64; 32];
    let io = mmio_over::<0x100>(&mut mem);
    io.write(0x10, 5u32);
    io.update(0x10, |v: u32| v * 3);
    assert_eq!(io.read::<u32, _>(0x10), 15);
    io.try_update(0x10, |v: u32| v + 1).unwrap();
    assert_eq!(io.try_read::<u32, _>(0x10), Ok(16));
    io.write(0x20, 0xabu8);
    assert_eq!(io.read::<u8, _>(0x20), 0xab);
    assert_eq!(mem[2], 16);
}

#[test]
fn runtime_checked_accessors_use_the_real_size() {
    // 0x200 real bytes, 0x100 known at build time.
    let mut mem = [0u64; 64];
    let io = mmio_over::<0x100>(&mut mem);
    io.try_write32(0xdead_beef, 0x1fc).unwrap();
    assert_eq!(io.try_read32(0x1fc), Ok(0xdead_beef));
    io.try_write8(1, 0x1ff).unwrap();
    io.try_write16(2, 0x1fe - 2).unwrap();
    assert_eq!(io.try_read16(0x1fc), Ok(2));
    // The region is 8-byte aligned, so aligned 64-bit accesses work at run time.
    io.try_write64(0x0102_0304_0506_0708, 0x1f0).unwrap();
    assert_eq!(io.try_read64(0x1f0), Ok(0x0102_0304_0506_0708));
    assert_eq!(mem[0x1f0 / 8], 0x0102_0304_0506_0708);
}

#[test]
fn runtime_checks_reject_out_of_range_and_misaligned_accesses() {
    let mut mem = [0u64; 8];
    let io = mmio_over::<0>(&mut mem);
    assert_eq!(io.try_read8(0x40), Err(EINVAL));
    assert_eq!(io.try_read32(0x3e), Err(EINVAL), "straddles the end");
    assert_eq!(
        io.try_read32(0x3d),
        Err(EINVAL),
        "misaligned and straddling"
    );
    assert_eq!(io.try_read16(0x1), Err(EINVAL), "misaligned");
    assert_eq!(io.try_read32(0x2), Err(EINVAL), "misaligned");
    assert_eq!(io.try_read64(0x4), Err(EINVAL), "misaligned");
    assert_eq!(
        io.try_read64(usize::MAX - 3),
        Err(EINVAL),
        "offset overflow"
    );
    assert_eq!(io.try_write32(1, 0x40), Err(EINVAL));
    assert_eq!(io.try_write16(1, 0x3), Err(EINVAL));
    assert_eq!(io.try_write64(1, 0x3c), Err(EINVAL));
    let mut called = false;
    let result = io.try_update(0x40, |v: u32| {
        called = true;
        v
    });
    assert_eq!(result, Err(EINVAL));
    assert!(!called, "the closure must not run for a rejected access");
    assert_eq!(mem, [0; 8], "a rejected write must not touch memory");
}

#[test]
fn relaxed_accessors() {
    let mut mem = [0u64; 4];
    let io = mmio_over::<0x20>(&mut mem);
    let relaxed: RelaxedMmio<'_, Region<0x20>> = io.relaxed();
    relaxed.write32(0x1234_5678, 0x8);
    relaxed.update(0x8, |v: u32| v ^ 0xff);
    assert_eq!(relaxed.read32(0x8), 0x1234_5687);
    assert_eq!(io.read32(0x8), 0x1234_5687);
    assert_eq!(relaxed.try_read32(0x20), Err(EINVAL));
    relaxed.try_write16(0xbeef, 0x1e).unwrap();
    assert_eq!(mem[3] >> 48, 0xbeef);
}

#[test]
fn trapped_region_accesses_reach_the_handler() {
    let device = Arc::new(Recorder::default());
    let region = TrappedRegion::new(device.clone(), 0x100).unwrap();
    let io = mmio_over_trap::<0x100>(&region);
    io.write32(0xcafe, 0x10);
    io.write8(0x5a, 0x3);
    assert_eq!(io.read32(0x10), 0xcafe);
    assert_eq!(io.relaxed().read8(0x3), 0x5a);
    io.try_write64(u64::MAX, 0x80).unwrap();
    io.update(0x10, |v: u32| v + 1);
    assert_eq!(
        device.take_log(),
        vec![
            (0x10, 4, Some(0xcafe)),
            (0x3, 1, Some(0x5a)),
            (0x10, 4, None),
            (0x3, 1, None),
            (0x80, 8, Some(u64::MAX)),
            (0x10, 4, None),
            (0x10, 4, Some(0xcaff)),
        ]
    );
    // Rejected accesses never reach the device.
    assert_eq!(io.try_read32(0x100), Err(EINVAL));
    assert_eq!(io.try_write16(1, 0x11), Err(EINVAL));
    assert!(device.take_log().is_empty());
}

#[test]
fn copies_on_mmio_and_trapped_regions() -> Result {
    let mut mem = [0u64; 4];
    let io = mmio_over::<0x20>(&mut mem);
    let bytes: Mmio<'_, [u8; 32]> = io.try_cast().unwrap();
    let window: Mmio<'_, [u8]> = io_project!(bytes, [try: 4..12]);
    assert_eq!(window.len(), 8);
    assert!(!window.is_empty());
    window.copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    let mut back = [0u8; 8];
    window.copy_to_slice(&mut back);
    assert_eq!(back, [1, 2, 3, 4, 5, 6, 7, 8]);
    let empty: Mmio<'_, [u8]> = io_project!(bytes, [try: 32..]);
    assert!(empty.is_empty());
    assert_eq!(mem[0], 0x0403_0201_0000_0000);

    let device = Arc::new(Recorder::default());
    let region = TrappedRegion::new(device.clone(), 0x10).unwrap();
    let io = mmio_over_trap::<0x10>(&region);
    let bytes: Mmio<'_, [u8; 16]> = io.try_cast().unwrap();
    let head: Mmio<'_, [u8]> = io_project!(bytes, [build: ..3]);
    head.copy_from_slice(&[9, 8, 7]);
    assert_eq!(
        device.take_log(),
        vec![(0, 1, Some(9)), (1, 1, Some(8)), (2, 1, Some(7))]
    );
    let mut out = [0u8; 3];
    head.copy_to_slice(&mut out);
    assert_eq!(out, [9, 8, 7]);
    Ok(())
}

#[test]
#[should_panic(expected = "differ in length")]
fn copy_from_slice_of_another_length_panics() {
    let mut mem = [0u64; 1];
    let io = mmio_over::<8>(&mut mem);
    let bytes: Mmio<'_, [u8; 8]> = io.try_cast().unwrap();
    let all: Mmio<'_, [u8]> = io_project!(bytes, [panic: ..]);
    all.copy_from_slice(&[1, 2, 3]);
}

#[repr(C)]
#[derive(Debug, PartialEq, zerocopy::FromBytes, zerocopy::IntoBytes)]
struct Desc {
    addr: u64,
    len: u32,
    flags: u16,
    next: u16,
}

#[test]
fn copy_read_and_write_of_structs() {
    let mut mem = [0u64; 4];
    let io = mmio_over::<0x20>(&mut mem);
    let desc: Mmio<'_, Desc> = io.try_cast().unwrap();
    let value = Desc {
        addr: 0x1000,
        len: 64,
        flags: 3,
        next: 1,
    };
    desc.copy_write(value);
    assert_eq!(
        desc.copy_read(),
        Desc {
            addr: 0x1000,
            len: 64,
            flags: 3,
            next: 1
        }
    );
    assert_eq!(io_read!(desc, .len), 64);
    assert_eq!(mem[..2], [0x1000, 0x0001_0003_0000_0040]);

    let mut ring = [Desc {
        addr: 0,
        len: 0,
        flags: 0,
        next: 0,
    }];
    // SAFETY: `ring` is live, aligned memory for the view's lifetime.
    let sys = unsafe { SysMem::new(&raw mut ring) };
    let first: SysMem<'_, Desc> = io_project!(sys, [build: 0]);
    first.copy_write(Desc {
        addr: 7,
        len: 8,
        flags: 9,
        next: 10,
    });
    assert_eq!(first.copy_read().flags, 9);
    assert_eq!(ring[0].next, 10);
}

#[test]
fn try_cast_checks_size_and_alignment() -> Result {
    let mut mem = [0u64; 2];
    let io = mmio_over::<0>(&mut mem);
    assert!(io.try_cast::<[u32; 4]>().is_ok());
    assert_eq!(io.try_cast::<[u32; 5]>().err(), Some(EINVAL));
    let bytes: Mmio<'_, [u8; 16]> = io.try_cast().unwrap();
    let odd: Mmio<'_, [u8]> = io_project!(bytes, [try: 1..9]);
    let odd: Mmio<'_, [u8; 8]> = io_project!(odd, [try: ..]).try_cast().unwrap();
    assert_eq!(odd.try_cast::<u32>().err(), Some(EINVAL), "misaligned");
    assert!(odd.try_cast::<[u8; 4]>().is_ok());
    Ok(())
}

#[repr(C)]
struct Queue {
    head: u32,
    tail: u32,
    slots: [u16; 4],
}

/// `[try: i]` projections, as a driver uses them: out of bounds propagates `ERANGE`.
fn slot(io: Mmio<'_, [Queue; 3]>, queue: usize, slot: usize) -> Result<u16> {
    Ok(io_read!(io, [try: queue].slots[try: slot]))
}

#[test]
fn projections_with_every_index_form() -> Result {
    let mut mem = [0u64; 6];
    let addr = mem.as_mut_ptr().expose_provenance();
    // SAFETY: Both views cover `mem`, which outlives them; `Queue` is plain integers.
    let (io, queues) = unsafe {
        (
            Mmio::<Region<48>>::from_raw(MmioRaw::new_region(addr, 48)?),
            Mmio::<[Queue; 3]>::from_raw(MmioRaw::new(addr)),
        )
    };
    io_write!(queues, [build: 1].tail, 7);
    io_write!(queues, [panic: 2].slots[build: 3], 0xabcd);
    io_write!(queues, [try: 0].head, 1);
    assert_eq!(io_read!(queues, [build: 1].tail), 7);
    assert_eq!(io.read32(0), 1);
    assert_eq!(slot(queues, 2, 3), Ok(0xabcd));
    assert_eq!(slot(queues, 3, 0), Err(ERANGE));
    assert_eq!(slot(queues, 0, 4), Err(ERANGE));
    let second: Mmio<'_, Queue> = io_project!(queues, [build: 1]);
    let tail: Mmio<'_, u32> = io_project!(second, .tail);
    assert_eq!(tail.read_val(), 7);
    tail.write_val(8);
    assert_eq!(io.read32(16 + 4), 8);
    let all: Mmio<'_, [Queue]> = io_project!(queues, [build: ..]);
    assert_eq!(all.len(), 3);
    let last_two: Mmio<'_, [Queue]> = io_project!(all, [try: 1..]);
    assert_eq!(io_read!(last_two, [try: 1].slots[try: 3]), 0xabcd);
    assert_eq!(io_read!(last_two, [try: 1].slots[try: 3]), 0xabcd);
    let out_of_range = || -> Result<Mmio<'_, [Queue]>> { Ok(io_project!(all, [try: 2..4])) };
    assert_eq!(out_of_range().err(), Some(ERANGE));
    Ok(())
}

#[test]
#[should_panic(expected = "index 3 out of range for slice of length 3")]
fn panicking_projection_out_of_range_panics() {
    let mut mem = [0u64; 6];
    // SAFETY: `mem` outlives the view; `Queue` is plain integers.
    let queues =
        unsafe { Mmio::<[Queue; 3]>::from_raw(MmioRaw::new(mem.as_mut_ptr().expose_provenance())) };
    let index = std::hint::black_box(3);
    io_write!(queues, [panic: index].head, 1);
}

#[test]
fn system_memory_and_iosys_map_views() -> Result {
    let mut words = [0u32; 4];
    // SAFETY: `words` is live, aligned memory for the views' lifetime.
    let sys = unsafe { SysMem::new(&raw mut words) };
    assert_eq!(sys.size(), 16);
    io_write!(sys, [build: 1], 0x1111);
    let map = IoSysMap::from(sys);
    io_write!(map, [try: 2], 0x2222);
    let third: IoSysMap<'_, u32> = io_project!(map, [panic: 3]);
    third.write_val(0x3333);
    assert_eq!(io_read!(map, [build: 1]), 0x1111);

    let mut mem = [0u64; 2];
    let io = mmio_over::<16>(&mut mem);
    let map = IoSysMap::from(io.try_cast::<[u32; 4]>().unwrap());
    io_write!(map, [build: 3], 0x4444);
    assert_eq!(io.read32(12), 0x4444);
    assert_eq!(map.size(), 16);
    assert_eq!(words, [0, 0x1111, 0x2222, 0x3333]);
    Ok(())
}

#[test]
fn raw_regions_are_validated() {
    assert_eq!(
        MmioRaw::<Region<0x100>>::new_region(0x1000, 0xfc).err(),
        Some(EINVAL)
    );
    assert_eq!(
        MmioRaw::<Region<0x100>>::new_region(0x1002, 0x100).err(),
        Some(EINVAL)
    );
    assert_eq!(
        MmioRaw::<Region<0x100>>::new_region(0x1000, 0x102).err(),
        Some(EINVAL)
    );
    let raw = MmioRaw::<Region<0x100>>::new_region(0x1000, 0x200).unwrap();
    assert_eq!((raw.addr(), raw.size()), (0x1000, 0x200));
}
