//! Access to device registers: mapped BARs and trapped regions.
//!
//! A BAR reaches a driver as an address, exactly as `pci_iomap()` returns one in the kernel. Most
//! BARs are mapped into the process (VFIO or UIO `mmap`), and an access is a volatile load or store
//! on that mapping. Some are not: a simulated device's registers have side effects that plain
//! memory cannot show, and a VFIO region that cannot be mapped is reached with `pread`/`pwrite` on
//! the device file. Such regions are *trapped*: they are given addresses in a window that no user
//! mapping can ever occupy, and an access there is routed to the region's [`TrappedIo`] handler.
//!
//! The check costs one comparison on the hot path; `benches/mmio.rs` measures the accessors
//! against bare volatile access on the same mapping.
//!
//! # The trapped window
//!
//! Addresses from [`TRAP_WINDOW_BASE`] upwards are non-canonical on x86-64 (and above any user
//! virtual address on the 64-bit architectures Linux supports), so no mapping of this process can
//! be there. The window is split into slots of [`TRAP_SLOT_SIZE`] bytes; a region occupies one slot.

use std::sync::{Arc, RwLock};

/// First address of the trapped window.
pub const TRAP_WINDOW_BASE: usize = 1 << 62;

/// Size of one trapped region's slot in the window (64 GiB, larger than any BAR we trap).
pub const TRAP_SLOT_SIZE: usize = 1 << 36;

/// Number of slots in the window.
const TRAP_SLOTS: usize = 4096;

/// Handles the accesses to one trapped region.
///
/// `offset` is relative to the start of the region; `width` is the access size in bytes (1, 2, 4 or
/// 8). Offsets and widths are validated by the mirror's `io` module before they get here: an
/// access is always inside the region and naturally aligned.
pub trait TrappedIo: Send + Sync {
    /// Reads `width` bytes at `offset`, zero-extended.
    fn read(&self, offset: usize, width: usize) -> u64;
    /// Writes the low `width` bytes of `value` at `offset`.
    fn write(&self, offset: usize, width: usize, value: u64);
}

/// The table of trapped regions, indexed by slot.
static TRAPS: RwLock<Vec<Option<Arc<dyn TrappedIo>>>> = RwLock::new(Vec::new());

/// A region of the trapped window, routed to its handler until dropped.
///
/// # Invariants
///
/// `slot` is the index of an entry of `TRAPS` that holds this region's handler, and it is owned by
/// this value alone.
pub struct TrappedRegion {
    slot: usize,
    len: usize,
}

impl TrappedRegion {
    /// Registers `handler` for a region of `len` bytes and returns it.
    ///
    /// Fails with `ENOSPC` when every slot is taken and `EINVAL` when `len` exceeds
    /// [`TRAP_SLOT_SIZE`].
    pub fn new(handler: Arc<dyn TrappedIo>, len: usize) -> Result<Self, crate::errno::Errno> {
        if len > TRAP_SLOT_SIZE {
            return Err(crate::errno::Errno::EINVAL);
        }
        let mut traps = TRAPS.write().unwrap_or_else(|e| e.into_inner());
        if traps.is_empty() {
            traps.resize_with(TRAP_SLOTS, || None);
        }
        let slot = traps
            .iter()
            .position(Option::is_none)
            .ok_or(crate::errno::Errno::ENOSPC)?;
        traps[slot] = Some(handler);
        // INVARIANT: `slot` was free and now holds `handler`; no other region refers to it.
        Ok(Self { slot, len })
    }

    /// Returns the address of the region's first byte, for use as a BAR's `ioptr`.
    pub fn addr(&self) -> usize {
        TRAP_WINDOW_BASE + self.slot * TRAP_SLOT_SIZE
    }

    /// Returns the length of the region in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if the region has no bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Drop for TrappedRegion {
    fn drop(&mut self) {
        let mut traps = TRAPS.write().unwrap_or_else(|e| e.into_inner());
        traps[self.slot] = None;
    }
}

/// Returns `true` if `addr` lies in the trapped window.
#[inline(always)]
pub fn is_trapped(addr: usize) -> bool {
    addr >= TRAP_WINDOW_BASE
}

/// Finds the handler of the trapped address `addr` and the offset inside its region.
///
/// # Panics
///
/// Panics if no region is registered there: the mirror only forms such addresses from a live
/// region, so this is a bug in the host machinery, reported instead of touching memory.
#[cold]
fn lookup(addr: usize) -> (Arc<dyn TrappedIo>, usize) {
    let rel = addr - TRAP_WINDOW_BASE;
    let (slot, offset) = (rel / TRAP_SLOT_SIZE, rel % TRAP_SLOT_SIZE);
    let traps = TRAPS.read().unwrap_or_else(|e| e.into_inner());
    match traps.get(slot).and_then(Clone::clone) {
        Some(handler) => (handler, offset),
        None => panic!("MMIO access at {addr:#x}: no trapped region is registered there"),
    }
}

#[cold]
#[inline(never)]
fn trapped_read(addr: usize, width: usize) -> u64 {
    let (handler, offset) = lookup(addr);
    handler.read(offset, width)
}

#[cold]
#[inline(never)]
fn trapped_write(addr: usize, width: usize, value: u64) {
    let (handler, offset) = lookup(addr);
    handler.write(offset, width, value)
}

/// A value that can be read from or written to device registers in one access.
///
/// Implemented for `u8`, `u16`, `u32` and `u64`.
pub trait RegisterValue: Copy + private::Sealed {
    /// Zero-extends the value.
    fn to_u64(self) -> u64;
    /// Truncates `value` to this width.
    fn from_u64(value: u64) -> Self;
}

mod private {
    pub trait Sealed {}
}

macro_rules! impl_register_value {
    ($($ty:ty),*) => {
        $(
            impl private::Sealed for $ty {}
            impl RegisterValue for $ty {
                #[inline(always)]
                fn to_u64(self) -> u64 {
                    u64::from(self)
                }
                #[inline(always)]
                fn from_u64(value: u64) -> Self {
                    // CAST: truncation to the register width is the intent.
                    value as $ty
                }
            }
        )*
    };
}
impl_register_value!(u8, u16, u32, u64);

/// Reads a register with a single access, without ordering against memory.
///
/// This is the userspace counterpart of `readl_relaxed()` and its siblings.
///
/// # Safety
///
/// `ptr` must be naturally aligned and point into a live BAR mapping of this process or into a live
/// [`TrappedRegion`], with `size_of::<T>()` bytes available.
#[inline(always)]
pub unsafe fn read_relaxed<T: RegisterValue>(ptr: *const T) -> T {
    if is_trapped(ptr.addr()) {
        T::from_u64(trapped_read(ptr.addr(), size_of::<T>()))
    } else {
        // SAFETY: by the safety requirements, `ptr` is an aligned pointer into a live mapping of
        // device memory, and registers are read with volatile accesses of their own width.
        unsafe { ptr.read_volatile() }
    }
}

/// Writes a register with a single access, without ordering against memory.
///
/// This is the userspace counterpart of `writel_relaxed()` and its siblings.
///
/// # Safety
///
/// Same as [`read_relaxed`].
#[inline(always)]
pub unsafe fn write_relaxed<T: RegisterValue>(ptr: *mut T, value: T) {
    if is_trapped(ptr.addr()) {
        trapped_write(ptr.addr(), size_of::<T>(), value.to_u64())
    } else {
        // SAFETY: by the safety requirements, `ptr` is an aligned pointer into a live mapping of
        // device memory, and registers are written with volatile accesses of their own width.
        unsafe { ptr.write_volatile(value) }
    }
}

/// Reads a register, ordered before every later memory access (the counterpart of `readl()`).
///
/// A driver that reads a completion status and then the DMA buffer it describes relies on this.
///
/// # Safety
///
/// Same as [`read_relaxed`].
#[inline(always)]
pub unsafe fn read<T: RegisterValue>(ptr: *const T) -> T {
    // SAFETY: the caller upholds `read_relaxed`'s requirements, which are ours.
    let value = unsafe { read_relaxed(ptr) };
    core::sync::atomic::fence(core::sync::atomic::Ordering::Acquire);
    value
}

/// Writes a register, ordered after every earlier memory access (the counterpart of `writel()`).
///
/// A driver that fills a DMA descriptor and then rings a doorbell relies on this.
///
/// # Safety
///
/// Same as [`read_relaxed`].
#[inline(always)]
pub unsafe fn write<T: RegisterValue>(ptr: *mut T, value: T) {
    core::sync::atomic::fence(core::sync::atomic::Ordering::Release);
    // SAFETY: the caller upholds `write_relaxed`'s requirements, which are ours.
    unsafe { write_relaxed(ptr, value) }
}

/// Copies `len` bytes from device memory at `src` to `dst` (the counterpart of
/// `memcpy_fromio()`), byte by byte for trapped regions and with volatile loads otherwise.
///
/// # Safety
///
/// `src` must point into a live BAR mapping or trapped region with `len` bytes available, and `dst`
/// must be valid for `len` bytes of writes and not overlap it.
pub unsafe fn copy_from_io(dst: *mut u8, src: *const u8, len: usize) {
    for i in 0..len {
        // SAFETY: `src + i` and `dst + i` are in bounds by the safety requirements; byte accesses
        // are always aligned.
        unsafe { dst.add(i).write(read_relaxed(src.wrapping_add(i))) };
    }
}

/// Copies `len` bytes from `src` to device memory at `dst` (the counterpart of `memcpy_toio()`).
///
/// # Safety
///
/// `dst` must point into a live BAR mapping or trapped region with `len` bytes available, and `src`
/// must be valid for `len` bytes of reads and not overlap it.
pub unsafe fn copy_to_io(dst: *mut u8, src: *const u8, len: usize) {
    for i in 0..len {
        // SAFETY: `src + i` and `dst + i` are in bounds by the safety requirements; byte accesses
        // are always aligned.
        unsafe { write_relaxed(dst.wrapping_add(i), src.add(i).read()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A trapped region that records accesses and answers reads with `offset * 2`.
    #[derive(Default)]
    struct Recorder(Mutex<Vec<(usize, usize, Option<u64>)>>);

    impl TrappedIo for Recorder {
        fn read(&self, offset: usize, width: usize) -> u64 {
            self.0.lock().unwrap().push((offset, width, None));
            (offset as u64) * 2
        }
        fn write(&self, offset: usize, width: usize, value: u64) {
            self.0.lock().unwrap().push((offset, width, Some(value)));
        }
    }

    #[test]
    fn trapped_accesses_reach_the_handler_with_offset_and_width() {
        let recorder = Arc::new(Recorder::default());
        let region = TrappedRegion::new(recorder.clone(), 0x100).unwrap();
        assert!(is_trapped(region.addr()));
        let base = core::ptr::with_exposed_provenance_mut::<u8>(region.addr());
        // SAFETY: the addresses are inside the live trapped region and aligned.
        unsafe {
            assert_eq!(read::<u32>(base.wrapping_add(0x10).cast()), 0x20);
            write::<u16>(base.wrapping_add(0x22).cast(), 0xbeef);
            write_relaxed::<u64>(base.wrapping_add(0x40).cast(), u64::MAX);
        }
        assert_eq!(
            *recorder.0.lock().unwrap(),
            vec![
                (0x10, 4, None),
                (0x22, 2, Some(0xbeef)),
                (0x40, 8, Some(u64::MAX))
            ]
        );
    }

    #[test]
    fn mapped_accesses_are_plain_memory_accesses() {
        let mut word = 0u32;
        let ptr: *mut u32 = &mut word;
        assert!(!is_trapped(ptr.addr()));
        // SAFETY: `ptr` points to a live, aligned local variable.
        unsafe {
            write(ptr, 0x1234_5678);
            assert_eq!(read(ptr), 0x1234_5678);
        }
        assert_eq!(word, 0x1234_5678);
    }

    #[test]
    fn live_regions_never_share_a_slot() {
        let handler = || Arc::new(Recorder::default()) as Arc<dyn TrappedIo>;
        let a = TrappedRegion::new(handler(), 16).unwrap();
        let b = TrappedRegion::new(handler(), 16).unwrap();
        assert_ne!(a.addr(), b.addr());
        drop(a);
        let c = TrappedRegion::new(handler(), 16).unwrap();
        assert_ne!(b.addr(), c.addr());
    }

    #[test]
    fn oversized_regions_are_refused() {
        let err = TrappedRegion::new(Arc::new(Recorder::default()), TRAP_SLOT_SIZE + 1).err();
        assert_eq!(err, Some(crate::errno::Errno::EINVAL));
    }
}
