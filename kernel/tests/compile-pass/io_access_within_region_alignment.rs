// The good twin of `compile-fail/io_access_wider_than_region.rs`: two 32-bit halves.
use kernel::io::{Io, Mmio, MmioRaw, Region};

fn read_counter(bar: Mmio<'_, Region<0x100>>) -> u64 {
    u64::from(bar.read32(0x8)) | (u64::from(bar.read32(0xc)) << 32)
}

fn main() {
    let mut mem = [0u32; 64];
    mem[2] = 1;
    mem[3] = 2;
    let raw = MmioRaw::<Region<0x100>>::new_region(mem.as_mut_ptr().expose_provenance(), 0x100)
        .unwrap();
    // SAFETY: `mem` outlives the view.
    assert_eq!(read_counter(unsafe { Mmio::from_raw(raw) }), 0x2_0000_0001);
}
