//! Data integrity through drydock's NVMe driver.
//!
//! Every logical block written carries its own address and a generation number in its first 16
//! bytes, and words derived from both in the rest, so a block read back proves where it was
//! written and by which write. A run:
//!
//! 1. writes every block of the namespace (generation 1), in transfers of the largest size;
//! 2. runs the asked number of random reads and writes at mixed sizes (one block to the largest
//!    transfer, most of them small) and mixed queue depths (1, 4, 16 and 32, changing every 2000
//!    I/Os), spread over a polled and an interrupt-driven queue; each write gives its blocks a
//!    new generation, each read checks every block against the generation its last completed
//!    write gave it (no two I/Os in flight overlap, so that is always defined);
//! 3. reads the whole namespace back and checks every block.
//!
//! Before each read, the part of the buffer it reads into is filled with [`POISON`], so a read
//! that transfers nothing fails the check even where the buffer held the right data before.

use std::time::{Duration, Instant};

use drydock_nvme::{Completion, Controller, IoCommand, Queue, QueueConfig};
use kernel::device::Bound;
use kernel::dma::Coherent;
use kernel::io::Io as _;
use kernel::pci;
use kernel::prelude::GFP_KERNEL;
use kernel::time::Delta;

use crate::workload::Rng;

/// The most I/Os in flight.
const MAX_DEPTH: usize = 32;
/// Queue depths the random phase cycles through.
const DEPTHS: [usize; 4] = [1, 4, 16, 32];
/// I/Os between two changes of queue depth.
const DEPTH_PERIOD: u64 = 2000;
/// What a read's buffer holds until the read lands: no block's content (a block's first word is
/// its address, far below `0xa5a5_a5a5_a5a5_a5a5`).
pub const POISON: u8 = 0xa5;

/// What a run found.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// I/Os completed, all phases.
    pub ios: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Blocks read back and checked.
    pub blocks_checked: u64,
    /// Blocks written by writes that completed successfully.
    pub blocks_written: u64,
    /// Blocks whose content was not what was last written there.
    pub mismatches: u64,
    /// I/Os that completed with an error.
    pub errors: u64,
    /// The first mismatch, described.
    pub first_mismatch: Option<String>,
    /// How long the run took.
    pub elapsed: Duration,
}

/// The content of block `lba` written with generation `generation`, as 64-bit words.
fn block_word(lba: u64, generation: u32, index: usize) -> u64 {
    match index {
        0 => lba,
        1 => u64::from(generation),
        _ => (lba << 24 ^ u64::from(generation))
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .wrapping_add(index as u64),
    }
}

/// Fills `block` (a whole number of 64-bit words) with the content of block `lba` written with
/// `generation`.
pub fn fill_block(block: &mut [u8], lba: u64, generation: u32) {
    for (i, chunk) in block.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&block_word(lba, generation, i).to_le_bytes());
    }
}

/// The index of the first 64-bit word of `block` that is not what block `lba` written with
/// `generation` holds there; `None` if the block is intact.
pub fn first_difference(block: &[u8], lba: u64, generation: u32) -> Option<usize> {
    (0..block.len() / 8).find(|&i| block_word_at(block, i) != block_word(lba, generation, i))
}

/// The 64-bit word at index `i` of `block`.
fn block_word_at(block: &[u8], i: usize) -> u64 {
    u64::from_le_bytes(block[i * 8..i * 8 + 8].try_into().expect("8 bytes"))
}

/// One I/O in flight.
#[derive(Clone, Copy)]
struct InFlight {
    write: bool,
    lba: u64,
    blocks: u32,
    generation: u32,
}

/// The state of a run.
struct Run<'a> {
    dev: &'a pci::Device<Bound>,
    queues: [&'a Queue; 2],
    buffer: Coherent<[u8]>,
    /// [`POISON`], a slot's worth, to copy into a read's buffer.
    poison: Vec<u8>,
    block_size: usize,
    max_blocks: u32,
    namespace_blocks: u64,
    /// The generation each block was last written with.
    expected: Vec<u32>,
    next_generation: u32,
    slots: [Option<InFlight>; MAX_DEPTH],
    /// Slot of each command identifier, per queue.
    slot_of: [Vec<usize>; 2],
    report: Report,
}

impl Run<'_> {
    fn slot_bytes(&self) -> usize {
        self.max_blocks as usize * self.block_size
    }

    /// Fills slot `slot`'s buffer with `blocks` blocks from `lba` at `generation`.
    fn fill(&self, slot: usize, lba: u64, blocks: u32, generation: u32) {
        let mut block = vec![0u8; self.block_size];
        for b in 0..u64::from(blocks) {
            fill_block(&mut block, lba + b, generation);
            let at = slot * self.slot_bytes() + b as usize * self.block_size;
            kernel::io::io_project!(&self.buffer, [panic: at..at + self.block_size])
                .copy_from_slice(&block);
        }
    }

    /// Checks slot `slot`'s buffer against what blocks `lba..lba + blocks` should hold.
    fn check(&mut self, slot: usize, lba: u64, blocks: u32) {
        let mut block = vec![0u8; self.block_size];
        for b in 0..u64::from(blocks) {
            let at = slot * self.slot_bytes() + b as usize * self.block_size;
            kernel::io::io_project!(&self.buffer, [panic: at..at + self.block_size])
                .copy_to_slice(&mut block);
            let generation = self.expected[(lba + b) as usize];
            self.report.blocks_checked += 1;
            let Some(bad) = first_difference(&block, lba + b, generation) else {
                continue;
            };
            let word = |i: usize| block_word_at(&block, i);
            self.report.mismatches += 1;
            if self.report.first_mismatch.is_none() {
                self.report.first_mismatch = Some(format!(
                    "block {} (expected generation {generation}): word {bad} is {:#018x}; the \
                     block says it is block {} of generation {}",
                    lba + b,
                    word(bad),
                    word(0),
                    word(1)
                ));
            }
        }
    }

    /// Submits an I/O in slot `slot` on queue `queue` (a write gets a new generation).
    fn submit(
        &mut self,
        slot: usize,
        queue: usize,
        write: bool,
        lba: u64,
        blocks: u32,
    ) -> Result<(), String> {
        let offset = slot * self.slot_bytes();
        let generation = if write {
            self.next_generation += 1;
            self.fill(slot, lba, blocks, self.next_generation);
            self.next_generation
        } else {
            let len = blocks as usize * self.block_size;
            kernel::io::io_project!(&self.buffer, [panic: offset..offset + len])
                .copy_from_slice(&self.poison[..len]);
            0
        };
        let command = if write {
            IoCommand::Write {
                lba,
                blocks,
                buffer: &self.buffer,
                offset,
            }
        } else {
            IoCommand::Read {
                lba,
                blocks,
                buffer: &self.buffer,
                offset,
            }
        };
        let tag = self.queues[queue]
            .submit(self.dev, &command)
            .map_err(|e| format!("submitting {blocks} blocks at {lba}: {e:?}"))?;
        self.slot_of[queue][tag.index()] = slot;
        self.slots[slot] = Some(InFlight {
            write,
            lba,
            blocks,
            generation,
        });
        Ok(())
    }

    /// Reaps completions from both queues and handles them; returns how many.
    fn reap(&mut self) -> Result<usize, String> {
        let mut out = [Completion::default(); MAX_DEPTH];
        let mut total = 0;
        for queue in 0..2 {
            let n = self.queues[queue]
                .reap(self.dev, &mut out)
                .map_err(|e| format!("reaping: {e:?}"))?;
            for completion in &out[..n] {
                let slot = self.slot_of[queue][completion.tag.index()];
                let io = self.slots[slot]
                    .take()
                    .ok_or("a completion for a free slot")?;
                self.report.ios += 1;
                self.report.bytes += u64::from(io.blocks) * self.block_size as u64;
                if completion.to_result().is_err() {
                    self.report.errors += 1;
                    continue;
                }
                if io.write {
                    let range = io.lba as usize..(io.lba + u64::from(io.blocks)) as usize;
                    self.expected[range].fill(io.generation);
                    self.report.blocks_written += u64::from(io.blocks);
                } else {
                    self.check(slot, io.lba, io.blocks);
                }
            }
            total += n;
        }
        Ok(total)
    }

    /// Whether `lba..lba + blocks` overlaps an I/O in flight.
    fn overlaps(&self, lba: u64, blocks: u32) -> bool {
        self.slots
            .iter()
            .flatten()
            .any(|io| lba < io.lba + u64::from(io.blocks) && io.lba < lba + u64::from(blocks))
    }

    fn free_slot(&self, depth: usize) -> Option<usize> {
        self.slots[..depth].iter().position(Option::is_none)
    }

    fn in_flight(&self) -> usize {
        self.slots.iter().flatten().count()
    }

    /// Reaps until at most `max` I/Os are in flight, failing if nothing completes for 30 s.
    fn drain_to(&mut self, max: usize) -> Result<(), String> {
        let mut last = Instant::now();
        while self.in_flight() > max {
            if self.reap()? > 0 {
                last = Instant::now();
            } else if last.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "{} I/Os made no progress for 30 s",
                    self.in_flight()
                ));
            } else {
                std::hint::spin_loop();
            }
        }
        Ok(())
    }

    /// Writes (or reads and checks) the whole namespace in transfers of the largest size.
    fn sweep(&mut self, write: bool) -> Result<(), String> {
        let mut lba = 0;
        while lba < self.namespace_blocks {
            let blocks = u64::from(self.max_blocks).min(self.namespace_blocks - lba) as u32;
            self.drain_to(7)?;
            let slot = self.free_slot(8).ok_or("no free slot")?;
            self.submit(slot, 0, write, lba, blocks)?;
            lba += u64::from(blocks);
        }
        self.drain_to(0)
    }
}

/// A random transfer size in blocks, mostly small, up to `max`.
fn random_blocks(rng: &mut Rng, max: u32, per_4k: u32) -> u32 {
    let blocks = match rng.below(100) {
        0..25 => 1,
        25..60 => per_4k,
        60..80 => 1 + rng.below(16) as u32,
        80..95 => 64,
        95..99 => 256,
        _ => max,
    };
    blocks.clamp(1, max)
}

/// Runs the integrity check with `ios` random I/Os on the controller; `progress` is called now
/// and then with the I/Os completed so far.
pub fn run(
    dev: &pci::Device<Bound>,
    ctrl: &Controller<'_>,
    ios: u64,
    seed: u64,
    progress: &dyn Fn(u64),
) -> Result<Report, String> {
    let start = Instant::now();
    let namespace = ctrl.namespace();
    let block_size = namespace.block_size();
    let max_blocks = (ctrl.max_transfer() / block_size) as u32;
    let config = |interrupts| QueueConfig {
        depth: MAX_DEPTH as u16 + 1,
        interrupts,
        timeout: Delta::from_secs(30),
    };
    let polled = ctrl
        .create_io_queue(dev, config(false))
        .map_err(|e| format!("creating a queue: {e:?}"))?;
    let interrupts = ctrl
        .create_io_queue(dev, config(true))
        .map_err(|e| format!("creating a queue: {e:?}"))?;
    let buffer = Coherent::<u8>::zeroed_slice(
        dev.as_ref(),
        MAX_DEPTH * max_blocks as usize * block_size,
        GFP_KERNEL,
    )
    .map_err(|e| format!("allocating DMA memory: {e:?}"))?;
    let capacity = polled.capacity().max(interrupts.capacity()) + 1;
    let mut run = Run {
        dev,
        queues: [&polled, &interrupts],
        buffer,
        poison: vec![POISON; max_blocks as usize * block_size],
        block_size,
        max_blocks,
        namespace_blocks: namespace.blocks,
        expected: vec![0; namespace.blocks as usize],
        next_generation: 0,
        slots: [None; MAX_DEPTH],
        slot_of: [vec![0; capacity], vec![0; capacity]],
        report: Report::default(),
    };
    let result = (|| {
        run.sweep(true)?;
        progress(run.report.ios);
        let mut rng = Rng::new(seed);
        let per_4k = (4096 / block_size).max(1) as u32;
        let mut submitted = 0u64;
        while submitted < ios {
            let depth = DEPTHS[(submitted / DEPTH_PERIOD) as usize % DEPTHS.len()];
            run.drain_to(depth - 1)?;
            let slot = run.free_slot(depth).ok_or("no free slot")?;
            let blocks = random_blocks(&mut rng, max_blocks, per_4k);
            let mut lba = rng.below(namespace.blocks - u64::from(blocks) + 1);
            while run.overlaps(lba, blocks) {
                lba = rng.below(namespace.blocks - u64::from(blocks) + 1);
            }
            let write = rng.below(2) == 0;
            run.submit(slot, (submitted % 2) as usize, write, lba, blocks)?;
            submitted += 1;
            if submitted.is_multiple_of(1000) {
                progress(run.report.ios);
            }
        }
        run.drain_to(0)?;
        run.sweep(false)?;
        progress(run.report.ios);
        Ok::<_, String>(())
    })();
    let _ = ctrl.delete_io_queue(dev, &interrupts);
    let _ = ctrl.delete_io_queue(dev, &polled);
    result?;
    run.report.elapsed = start.elapsed();
    Ok(run.report)
}
