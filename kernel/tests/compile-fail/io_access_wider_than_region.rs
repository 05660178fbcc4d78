// A `Region` (the target of a PCI BAR) is only known to be 4-byte aligned, so a 64-bit access on
// it fails the build, as in Linux 7.3: drivers write 64-bit registers as two 32-bit halves.
use kernel::io::{Io, Mmio, MmioRaw, Region};

fn read_counter(bar: Mmio<'_, Region<0x100>>) -> u64 {
    bar.read64(0x8)
}

fn main() {
    let mut mem = [0u64; 32];
    let raw = MmioRaw::<Region<0x100>>::new_region(mem.as_mut_ptr().expose_provenance(), 0x100)
        .unwrap();
    // SAFETY: `mem` outlives the view.
    let _ = read_counter(unsafe { Mmio::from_raw(raw) });
}
