// `DmaMask::new::<N>()` with more than 64 bits fails the build, as in the kernel.
use kernel::dma::DmaMask;

fn main() {
    let _mask = DmaMask::new::<65>();
}
