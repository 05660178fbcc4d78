//! QEMU's `edu` educational device (1234:11e8), as QEMU 7.2 implements it.
//!
//! Register map of BAR0 (1 MiB): identification `0x010000ed` at 0x00; liveness at 0x04 (reads the
//! complement of the last write); factorial at 0x08 (writing N computes N! modulo 2^32); status at
//! 0x20 (bit 0 computing, bit 7 raise interrupt 0x1 when a factorial completes); interrupt status
//! at 0x24, raise at 0x60, acknowledge at 0x64; DMA source, destination, count and command at
//! 0x80, 0x88, 0x90, 0x98 (command bit 0 start, bit 1 direction device-to-RAM, bit 2 raise
//! interrupt 0x100 on completion). The DMA buffer is 4096 bytes at device address 0x40000.
//!
//! The quirks of 7.2 that drivers must live with are reproduced:
//! - 1- and 2-byte or misaligned accesses read 0 and drop writes; below 0x80 only 4-byte accesses
//!   work (an 8-byte read returns all ones); unimplemented registers read all ones;
//! - DMA registers are frozen while a transfer runs, and a command without bit 0 is ignored;
//! - the RAM-side address is silently truncated to the 28-bit DMA mask;
//! - a device-side range that is not strictly inside the buffer (which includes a full 4096-byte
//!   transfer) aborts QEMU 7.2; here it is reported as a fatal error and not performed;
//! - without Bus Master Enable, DMA "completes" but moves nothing, and MSIs are not sent;
//! - with MSI enabled every raise sends a message; otherwise INTx is asserted while the interrupt
//!   status is non-zero.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::{DeviceModel, Identity, SimContext};
use drydock_host::function::{BarInfo, BarKind, IrqKind};

const ID: u64 = 0x00;
const LIVENESS: u64 = 0x04;
const FACTORIAL: u64 = 0x08;
const STATUS: u64 = 0x20;
const IRQ_STATUS: u64 = 0x24;
const IRQ_RAISE: u64 = 0x60;
const IRQ_ACK: u64 = 0x64;
const DMA_SRC: u64 = 0x80;
const DMA_DST: u64 = 0x88;
const DMA_CNT: u64 = 0x90;
const DMA_CMD: u64 = 0x98;

const STATUS_COMPUTING: u32 = 0x01;
const STATUS_IRQ_FACTORIAL: u32 = 0x80;
const IRQ_FACTORIAL: u32 = 0x001;
const IRQ_DMA: u32 = 0x100;
const CMD_START: u64 = 0x1;
const CMD_TO_RAM: u64 = 0x2;
const CMD_IRQ: u64 = 0x4;

/// The device-side address of the DMA buffer.
pub const BUFFER_BASE: u64 = 0x40000;
/// The size of the DMA buffer.
pub const BUFFER_SIZE: usize = 4096;
/// The DMA mask edu applies to RAM-side addresses: 28 bits.
pub const DMA_MASK: u64 = (1 << 28) - 1;

struct EduState {
    liveness: u32,
    factorial: u32,
    status: u32,
    irq_status: u32,
    dma: [u64; 4],
    buffer: [u8; BUFFER_SIZE],
}

/// The edu device model.
pub struct Edu {
    state: Mutex<EduState>,
    delay: Duration,
    msi: bool,
    interrupts: AtomicU64,
    transfers: AtomicU64,
    corrupt_to_ram: AtomicBool,
    drop_to_ram: AtomicBool,
}

impl Edu {
    /// Creates an edu whose factorials and DMA transfers complete as soon as they start.
    pub fn new() -> Arc<Self> {
        Self::with_delay(Duration::ZERO)
    }

    /// Creates an edu whose factorials and DMA transfers complete `delay` after they start, as
    /// QEMU's (100 ms for a transfer) do, so a driver's waiting is exercised.
    pub fn with_delay(delay: Duration) -> Arc<Self> {
        Self::build(delay, true)
    }

    /// Creates an edu without an MSI capability, so drivers fall back to INTx.
    pub fn intx_only() -> Arc<Self> {
        Self::build(Duration::ZERO, false)
    }

    fn build(delay: Duration, msi: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(EduState {
                liveness: 0,
                factorial: 0,
                status: 0,
                irq_status: 0,
                dma: [0; 4],
                buffer: [0; BUFFER_SIZE],
            }),
            delay,
            msi,
            interrupts: AtomicU64::new(0),
            transfers: AtomicU64::new(0),
            corrupt_to_ram: AtomicBool::new(false),
            drop_to_ram: AtomicBool::new(false),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, EduState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// How many interrupts the device raised.
    pub fn interrupts_raised(&self) -> u64 {
        self.interrupts.load(Ordering::SeqCst)
    }

    /// How many DMA transfers completed.
    pub fn transfers(&self) -> u64 {
        self.transfers.load(Ordering::SeqCst)
    }

    /// A copy of the DMA buffer.
    pub fn buffer(&self) -> Vec<u8> {
        self.lock().buffer.to_vec()
    }

    /// Fills the DMA buffer (for tests of device-to-RAM transfers).
    pub fn fill_buffer(&self, data: &[u8]) {
        let mut state = self.lock();
        let n = data.len().min(BUFFER_SIZE);
        state.buffer[..n].copy_from_slice(&data[..n]);
    }

    /// Makes the device faulty from now on: every transfer to RAM flips the low bit of its first
    /// byte, for tests of how drivers detect corrupted data.
    pub fn corrupt_transfers_to_memory(&self) {
        self.corrupt_to_ram.store(true, Ordering::SeqCst);
    }

    /// Makes the device faulty from now on: every transfer to RAM completes and interrupts but
    /// writes nothing, for tests that a read-back cannot pass on what RAM held before.
    pub fn drop_transfers_to_memory(&self) {
        self.drop_to_ram.store(true, Ordering::SeqCst);
    }

    /// The interrupt status register.
    pub fn irq_status(&self) -> u32 {
        self.lock().irq_status
    }

    /// Raises interrupt cause `value`: ORs it into the status and signals.
    fn raise(&self, ctx: &SimContext, state: &mut EduState, value: u32) {
        state.irq_status |= value;
        self.interrupts.fetch_add(1, Ordering::SeqCst);
        if ctx.msi_enabled() {
            ctx.raise_msi(0);
        } else {
            ctx.set_intx(state.irq_status != 0);
        }
    }

    fn acknowledge(ctx: &SimContext, state: &mut EduState, value: u32) {
        state.irq_status &= !value;
        if !ctx.msi_enabled() {
            ctx.set_intx(state.irq_status != 0);
        }
    }

    /// Runs `work` now, or after the configured delay on another thread.
    fn complete_later(self: &Arc<Self>, ctx: &SimContext, work: fn(&Edu, &SimContext)) {
        if self.delay.is_zero() {
            work(self, ctx);
        } else {
            let (edu, ctx, delay) = (self.clone(), ctx.clone(), self.delay);
            std::thread::spawn(move || {
                std::thread::sleep(delay);
                work(&edu, &ctx);
            });
        }
    }

    fn finish_factorial(&self, ctx: &SimContext) {
        let mut state = self.lock();
        let n = state.factorial;
        state.factorial = (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k));
        state.status &= !STATUS_COMPUTING;
        if state.status & STATUS_IRQ_FACTORIAL != 0 {
            self.raise(ctx, &mut state, IRQ_FACTORIAL);
        }
    }

    fn finish_dma(&self, ctx: &SimContext) {
        let mut state = self.lock();
        let [src, dst, count, cmd] = state.dma;
        let to_ram = cmd & CMD_TO_RAM != 0;
        let (ram, device) = if to_ram { (dst, src) } else { (src, dst) };
        let in_buffer = (BUFFER_BASE..BUFFER_BASE + BUFFER_SIZE as u64).contains(&device)
            && device
                .checked_add(count)
                .is_some_and(|end| end < BUFFER_BASE + BUFFER_SIZE as u64)
            && count > 0;
        if !in_buffer {
            ctx.report_fatal(format!(
                "EDU: DMA range {device:#x}-{:#x} out of bounds (QEMU 7.2 aborts the VM here)",
                device.wrapping_add(count).wrapping_sub(1)
            ));
            state.dma[3] &= !CMD_START;
            return;
        }
        let masked = ram & DMA_MASK;
        if masked != ram {
            log::warn!(target: "drydock", "EDU: clamping DMA {ram:#x} to {masked:#x}!");
        }
        let offset = (device - BUFFER_BASE) as usize;
        let range = offset..offset + count as usize;
        if to_ram {
            let mut data = state.buffer[range].to_vec();
            if self.corrupt_to_ram.load(Ordering::SeqCst) {
                data[0] ^= 1;
            }
            if !self.drop_to_ram.load(Ordering::SeqCst) {
                ctx.dma_write(masked, &data);
            }
        } else {
            let mut data = vec![0; count as usize];
            ctx.dma_read(masked, &mut data);
            state.buffer[range].copy_from_slice(&data);
        }
        state.dma[3] &= !CMD_START;
        self.transfers.fetch_add(1, Ordering::SeqCst);
        if cmd & CMD_IRQ != 0 {
            self.raise(ctx, &mut state, IRQ_DMA);
        }
    }
}

impl DeviceModel for Edu {
    fn identity(&self) -> Identity {
        Identity {
            vendor: 0x1234,
            device: 0x11e8,
            subsystem_vendor: 0x1af4,
            subsystem: 0x1100,
            revision: 0x10,
            class: 0x00ff00,
            interrupt_pin: 1,
        }
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: 1 << 20,
            start: 0,
            kind: BarKind::Mem32,
            prefetchable: false,
        });
        bars
    }

    fn irq_count(&self, kind: IrqKind) -> u32 {
        match kind {
            IrqKind::Intx => 1,
            IrqKind::Msi => u32::from(self.msi),
            IrqKind::MsiX => 0,
        }
    }

    fn read(&self, _ctx: &SimContext, _bar: u32, offset: usize, width: usize) -> u64 {
        let offset = offset as u64;
        let valid = match width {
            4 => true,
            8 => offset >= DMA_SRC,
            _ => false,
        };
        if !offset.is_multiple_of(width as u64) || width < 4 {
            return 0;
        }
        if !valid {
            return u64::MAX;
        }
        let state = self.lock();
        let dma_index = |o: u64| ((o - DMA_SRC) / 8) as usize;
        if width == 8 {
            return match offset {
                DMA_SRC | DMA_DST | DMA_CNT | DMA_CMD => state.dma[dma_index(offset)],
                _ => u64::MAX,
            };
        }
        u64::from(match offset {
            ID => 0x0100_00ed,
            LIVENESS => state.liveness,
            FACTORIAL => state.factorial,
            STATUS => state.status,
            IRQ_STATUS => state.irq_status,
            // A 4-byte read of a DMA register's low half gives the low 32 bits.
            DMA_SRC | DMA_DST | DMA_CNT | DMA_CMD => state.dma[dma_index(offset)] as u32,
            _ => u32::MAX,
        })
    }

    fn write(&self, ctx: &SimContext, _bar: u32, offset: usize, width: usize, value: u64) {
        let offset = offset as u64;
        if width < 4 || !offset.is_multiple_of(width as u64) || (width == 8 && offset < DMA_SRC) {
            return;
        }
        // `Arc<Self>` is needed to complete work on another thread; the function keeps the model in
        // an `Arc`, and models are only reached through it.
        let this = self.self_arc(ctx);
        let mut state = self.lock();
        let value32 = value as u32;
        match offset {
            LIVENESS => state.liveness = !value32,
            FACTORIAL if state.status & STATUS_COMPUTING == 0 => {
                state.factorial = value32;
                state.status |= STATUS_COMPUTING;
                drop(state);
                this.complete_later(ctx, Edu::finish_factorial);
            }
            STATUS => {
                state.status = (state.status & STATUS_COMPUTING) | (value32 & STATUS_IRQ_FACTORIAL)
            }
            IRQ_RAISE => self.raise(ctx, &mut state, value32),
            IRQ_ACK => Self::acknowledge(ctx, &mut state, value32),
            DMA_SRC | DMA_DST | DMA_CNT | DMA_CMD if state.dma[3] & CMD_START == 0 => {
                // A 4-byte write to a low half sets the whole register, zero-extended.
                let value = if width == 4 {
                    u64::from(value32)
                } else {
                    value
                };
                if offset == DMA_CMD {
                    if value & CMD_START == 0 {
                        return;
                    }
                    state.dma[3] = value;
                    drop(state);
                    this.complete_later(ctx, Edu::finish_dma);
                } else {
                    state.dma[((offset - DMA_SRC) / 8) as usize] = value;
                }
            }
            _ => {}
        }
    }
}

impl Edu {
    /// Recovers the `Arc` that owns this model from the function's state.
    fn self_arc(&self, ctx: &SimContext) -> Arc<Edu> {
        let model: Arc<dyn DeviceModel> = ctx.state.model.clone();
        let any: Arc<dyn std::any::Any + Send + Sync> = model;
        any.downcast::<Edu>()
            .expect("an edu context holds an edu model")
    }
}
