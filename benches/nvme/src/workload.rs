//! What a benchmark run does.

use std::fmt;
use std::time::Duration;

/// The size of every I/O of a benchmark run.
pub const IO_SIZE: usize = 4096;

/// The direction of a run's I/Os.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Random reads.
    Read,
    /// Random writes.
    Write,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Read => "randread",
            Op::Write => "randwrite",
        })
    }
}

/// A benchmark run: 4 KiB random I/Os of one direction, `depth` in flight on each of `queues`
/// queues (one thread each), over the first `region` bytes of the namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Workload {
    /// Reads or writes.
    pub op: Op,
    /// I/Os in flight per queue.
    pub depth: usize,
    /// Queues (and threads).
    pub queues: usize,
    /// How long completions are counted.
    pub duration: Duration,
    /// How long the run goes before completions are counted.
    pub warmup: Duration,
    /// The bytes of the namespace addressed (a multiple of [`IO_SIZE`]).
    pub region: u64,
}

impl Workload {
    /// A short name: `randread qd32 2q`.
    pub fn name(&self) -> String {
        format!("{} qd{} {}q", self.op, self.depth, self.queues)
    }

    /// The number of 4 KiB slots in the region.
    pub fn slots(&self) -> u64 {
        self.region / IO_SIZE as u64
    }
}

/// A fast, reproducible pseudo-random sequence (xorshift64*).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A sequence from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `bound` (which must not be 0).
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_slots() {
        let w = Workload {
            op: Op::Write,
            depth: 32,
            queues: 2,
            duration: Duration::from_secs(1),
            warmup: Duration::ZERO,
            region: 64 << 20,
        };
        assert_eq!(w.name(), "randwrite qd32 2q");
        assert_eq!(w.slots(), 16384);
    }

    #[test]
    fn the_sequence_covers_its_range() {
        let mut rng = Rng::new(0);
        let mut seen = [false; 16];
        for _ in 0..1000 {
            seen[rng.below(16) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
