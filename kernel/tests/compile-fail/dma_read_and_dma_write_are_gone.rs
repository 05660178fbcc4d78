// 7.3 has no `kernel::dma_read!` or `kernel::dma_write!`: DMA memory is read and written through
// `io_read!`, `io_write!` and `io_project!` of `kernel::io`. A driver still using the old macros
// does not build in 7.3, nor here.
use kernel::dma::Coherent;

fn bump(counters: &Coherent<[u32]>) {
    let value = kernel::dma_read!(counters, [0]);
    kernel::dma_write!(counters, [0], value + 1);
}

fn main() {
    let _ = bump;
}
