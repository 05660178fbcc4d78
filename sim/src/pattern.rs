//! Reproducible test data for DMA round trips and integrity checks.

/// `len` bytes of a reproducible pseudo-random stream (xorshift64); `seed` picks the stream, and
/// nearby seeds give unrelated streams.
///
/// Tests on the simulated bus and in the test guest write these bytes to a device and compare
/// what comes back: a transfer that drops, repeats or shifts bytes cannot match.
///
/// # Examples
///
/// ```
/// use drydock_sim::pattern;
///
/// assert_eq!(pattern(7, 16), pattern(7, 16));
/// assert_ne!(pattern(7, 16), pattern(8, 16));
/// assert_eq!(&pattern(7, 32)[..16], &pattern(7, 16)[..]);
/// ```
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}
