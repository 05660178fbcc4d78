// The good twin of `compile-fail/dma_read_and_dma_write_are_gone.rs`: what a 7.3 driver writes.
use kernel::dma::Coherent;
use kernel::io::{io_read, io_write};

fn bump(counters: &Coherent<[u32]>) -> Result<(), kernel::error::Error> {
    let value = io_read!(counters, [try: 0]);
    io_write!(counters, [try: 0], value + 1);
    Ok(())
}

fn main() {
    // Allocating DMA memory needs a bound device; that the access builds is the point here (the
    // simulated-bus tests run it).
    let _ = bump;
}
