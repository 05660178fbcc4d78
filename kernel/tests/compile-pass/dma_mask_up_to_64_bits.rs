// The good twin of `compile-fail/dma_mask_wider_than_64_bits.rs`.
use kernel::dma::DmaMask;

fn main() {
    assert_eq!(DmaMask::new::<28>().value(), 0x0fff_ffff);
    assert_eq!(DmaMask::new::<64>().value(), u64::MAX);
}
