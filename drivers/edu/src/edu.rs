// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Driver for QEMU's `edu` educational device (PCI 1234:11e8).
//!
//! edu computes factorials and copies data between memory and a 4 KiB buffer on the device by
//! DMA, signalling completion with an interrupt: MSI, or INTx when MSI is unavailable or the
//! `use_intx` module parameter asks for it. This
//! driver checks the device's identification and liveness at probe, then offers
//! [`Edu::factorial`], [`Edu::write_to_device`] and [`Edu::read_from_device`], each of which waits
//! for the completion interrupt with a timeout.
//!
//! The kernel has no vendor constant for QEMU's 0x1234, so the driver matches edu's class (`OTHERS`)
//! and checks the vendor and device IDs in `probe`, declining other devices of the class.
//!
//! A device that is gone (removed, or its memory decoding switched off) reads all ones, which no
//! register of a live edu does all at once: the identification register never, the interrupt
//! status only with undefined causes set. The driver takes such reads for a removed device, as
//! the kernel's drivers check for `~0`: the interrupt handler does not claim them, probe's waits
//! for a running computation or transfer end with `ENODEV` instead of their timeout, and an
//! operation waiting for its completion interrupt checks every 100 ms that the device is still
//! there, so it fails with `ENODEV` soon after a removal rather than after its 5 s timeout.
//!
//! Two constraints of QEMU 7.2's model shape the DMA path: the device drives only 28 address bits
//! (so the DMA mask is 28 bits), and a transfer that reaches the last byte of its buffer aborts
//! QEMU (so a transfer must end strictly inside the buffer: at most 4095 bytes).
//!
//! The `irq_round_trips` and `dma_round_trips` module parameters ask the driver to time that many
//! round trips at probe and log their distribution, so the same file can be timed in the kernel
//! and as a drydock process on the same device.
//!
//! The file builds unchanged as a Linux 7.3 module and as a drydock userspace driver.

use kernel::{
    device::{Bound, Core},
    dma::{Coherent, Device, DmaMask},
    io::{io_project, poll::read_poll_timeout, register, Io},
    irq::{self, IrqReturn},
    pci,
    prelude::*,
    sync::{
        new_condvar, new_mutex, new_spinlock_irq, Arc, CondVar, CondVarTimeoutResult, Mutex,
        SpinLockIrq,
    },
    time::{msecs_to_jiffies, Delta, Instant, Monotonic},
};

/// The registers of BAR0 the driver uses.
mod regs {
    use super::*;

    register! {
        /// Identification: `0xRRrr00ed`, major and minor version and a magic byte.
        pub(super) ID(u32) @ 0x00 {
            31:24 major;
            23:16 minor;
            7:0 magic;
        }

        /// Reads back the bitwise complement of the last value written.
        pub(super) LIVENESS(u32) @ 0x04 {
            31:0 value;
        }

        /// Writing N starts computing N!; reads give the result once computed.
        pub(super) FACTORIAL(u32) @ 0x08 {
            31:0 value;
        }

        /// Computation status and the factorial interrupt enable.
        pub(super) STATUS(u32) @ 0x20 {
            0:0 computing;
            7:7 irq_enable;
        }

        /// Pending interrupt causes.
        pub(super) IRQ_STATUS(u32) @ 0x24 {
            31:0 causes;
        }

        /// Writing acknowledges the given causes.
        pub(super) IRQ_ACK(u32) @ 0x64 {
            31:0 causes;
        }

        /// DMA source address (low half; edu addresses fit in 28 bits).
        pub(super) DMA_SRC(u32) @ 0x80 {
            31:0 addr;
        }

        /// DMA destination address (low half).
        pub(super) DMA_DST(u32) @ 0x88 {
            31:0 addr;
        }

        /// DMA transfer length in bytes.
        pub(super) DMA_COUNT(u32) @ 0x90 {
            31:0 bytes;
        }

        /// DMA command: start, direction (device to memory) and completion interrupt.
        pub(super) DMA_CMD(u32) @ 0x98 {
            0:0 start;
            1:1 to_memory;
            2:2 irq;
        }
    }

    /// The identification magic byte.
    pub(super) const MAGIC: u32 = 0xed;
    /// Interrupt cause of a completed factorial.
    pub(super) const IRQ_FACTORIAL: u32 = 0x1;
    /// Interrupt cause of a completed DMA transfer.
    pub(super) const IRQ_DMA: u32 = 0x100;
    /// The device-side address of the DMA buffer.
    pub(super) const BUFFER_BASE: u32 = 0x40000;
    /// The size of BAR0 the driver needs (all its registers are below).
    pub(super) const BAR_SIZE: usize = 0x100;
}

/// The size of the device's DMA buffer.
pub const BUFFER_SIZE: usize = 4096;

/// The largest transfer: the device's buffer minus its last byte, which QEMU 7.2 cannot reach.
pub const MAX_TRANSFER: usize = BUFFER_SIZE - 1;

/// QEMU's vendor ID, which the kernel does not name.
const EDU_VENDOR: u16 = 0x1234;
/// edu's device ID.
const EDU_DEVICE: u16 = 0x11e8;

/// The value the liveness check writes.
const LIVENESS_PROBE: u32 = 0x1234_5678;

/// How long an operation may take before the driver gives up on its interrupt: a DMA transfer
/// takes about 100 ms in QEMU; emulation on a loaded machine is slower.
const TIMEOUT_MS: u32 = 5000;

/// How often an operation waiting for its interrupt checks that the device is still there.
const PRESENCE_CHECK_MS: u32 = 100;

/// Whether a register read returned all ones: nothing answered, the device is gone.
fn absent(raw: u32) -> bool {
    raw == u32::MAX
}

/// Fails with `ENODEV`, and says so, if the device is gone: its identification register, which
/// never reads all ones on a live edu, does.
fn check_present(dev: &pci::Device, bar: &Bar<'_>) -> Result {
    if absent(bar.read(regs::ID).into_raw()) {
        dev_err!(dev, "the device is gone (it reads all ones)\n");
        return Err(ENODEV);
    }
    Ok(())
}

/// BAR0, shared by the driver data and the interrupt handler, revoked at unbind.
type Bar0 = pci::DevresBar<{ regs::BAR_SIZE }>;
/// BAR0 while it is accessible.
type Bar<'a> = pci::Bar<'a, { regs::BAR_SIZE }>;

/// The completions the interrupt handler has counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Events {
    /// Factorials completed.
    pub factorials: u64,
    /// DMA transfers completed.
    pub transfers: u64,
    /// Interrupts handled.
    pub interrupts: u64,
}

/// The interrupt handler: acknowledges causes, counts completions, wakes waiters.
#[pin_data]
struct Handler {
    bar: Arc<Bar0>,
    /// Taken by the handler and by the waiters, so the waiters take it with interrupts disabled:
    /// an interrupt arriving on a CPU whose waiter holds it would otherwise spin forever.
    #[pin]
    events: SpinLockIrq<Events>,
    #[pin]
    wake: CondVar,
}

impl irq::Handler for Handler {
    fn handle(&self) -> IrqReturn {
        let Some(bar) = self.bar.try_access() else {
            return IrqReturn::None;
        };
        let causes = bar.read(regs::IRQ_STATUS).causes().get();
        // Nothing pending, or a device that is gone (which raises nothing).
        if causes == 0 || absent(causes) {
            return IrqReturn::None;
        }
        // Acknowledge first: with INTx, the line stays asserted until every cause is cleared.
        bar.write_reg(regs::IRQ_ACK::zeroed().with_causes(causes));
        {
            let mut events = self.events.lock();
            events.interrupts += 1;
            if causes & regs::IRQ_FACTORIAL != 0 {
                events.factorials += 1;
            }
            if causes & regs::IRQ_DMA != 0 {
                events.transfers += 1;
            }
        }
        self.wake.notify_all();
        IrqReturn::Handled
    }
}

/// The driver's data for a bound edu.
#[pin_data]
pub struct Edu<'bound> {
    bar: Arc<Bar0>,
    // Declared before `vectors`, so it is dropped (the handler freed) before the vectors are.
    #[pin]
    irq: irq::Registration<'bound, Handler>,
    vectors: pci::IrqVectorRegistration<'bound>,
    buffer: Coherent<[u8]>,
    #[pin]
    op: Mutex<()>,
}

impl Edu<'_> {
    /// Computes `n!` modulo 2^32 on the device, waiting for its completion interrupt.
    pub fn factorial(&self, dev: &pci::Device<Bound>, n: u32) -> Result<u32> {
        let _op = self.op.lock();
        self.channel().factorial(dev, n)
    }

    /// Copies `data` into the device's buffer at `offset` by DMA.
    ///
    /// The transfer must end strictly inside the buffer (`offset + data.len() < 4096`) and be
    /// non-empty; otherwise `EINVAL`, and the device is not touched.
    pub fn write_to_device(&self, dev: &pci::Device<Bound>, offset: usize, data: &[u8]) -> Result {
        check_range(offset, data.len())?;
        let _op = self.op.lock();
        io_project!(&self.buffer, [try: 0..data.len()]).copy_from_slice(data);
        self.channel().transfer(dev, offset, data.len(), false)
    }

    /// Copies `out.len()` bytes from the device's buffer at `offset` into `out` by DMA; the same
    /// bounds as [`Edu::write_to_device`] apply.
    pub fn read_from_device(
        &self,
        dev: &pci::Device<Bound>,
        offset: usize,
        out: &mut [u8],
    ) -> Result {
        check_range(offset, out.len())?;
        let _op = self.op.lock();
        // Stale bytes must never pass for the device's: the landing area is first set to the
        // complement of what it holds (`out` serves as scratch), so a byte the device does not
        // write differs from whatever was written there before.
        io_project!(&self.buffer, [try: 0..out.len()]).copy_to_slice(out);
        out.iter_mut().for_each(|byte| *byte = !*byte);
        io_project!(&self.buffer, [try: 0..out.len()]).copy_from_slice(out);
        self.channel().transfer(dev, offset, out.len(), true)?;
        io_project!(&self.buffer, [try: 0..out.len()]).copy_to_slice(out);
        Ok(())
    }

    /// The completions counted so far.
    pub fn events(&self) -> Events {
        self.channel().events()
    }

    /// The interrupt type in use.
    pub fn irq_type(&self) -> pci::IrqType {
        self.vectors.irq_type()
    }

    fn channel(&self) -> Channel<'_> {
        Channel {
            bar: &self.bar,
            handler: self.irq.handler(),
            buffer: &self.buffer,
        }
    }

    /// Brings the device to a known state: edu has no reset, and a driver that was killed may
    /// have left a computation or a transfer running and causes pending. Runs with bus mastering
    /// off (the kernel turns it off when the previous driver lets go), so a leftover transfer
    /// ends without touching memory.
    fn quiesce(pdev: &pci::Device<Bound>, bar: &Bar<'_>) -> Result {
        let timeout = Delta::from_millis(i64::from(TIMEOUT_MS));
        read_poll_timeout(
            || check_present(pdev, bar).map(|()| bar.read(regs::STATUS)),
            |status| !bool::from(status.computing()),
            Delta::from_millis(1),
            timeout,
        )
        .inspect_err(|&err| {
            if err == ETIMEDOUT {
                dev_err!(pdev, "a factorial is still running\n");
            }
        })?;
        read_poll_timeout(
            || check_present(pdev, bar).map(|()| bar.read(regs::DMA_CMD)),
            |cmd| !bool::from(cmd.start()),
            Delta::from_millis(10),
            timeout,
        )
        .inspect_err(|&err| {
            if err == ETIMEDOUT {
                dev_err!(pdev, "a DMA transfer is still running\n");
            }
        })?;
        bar.write_reg(regs::STATUS::zeroed());
        bar.write_reg(regs::IRQ_ACK::zeroed().with_causes(u32::MAX));
        Ok(())
    }
}

/// Checks that a transfer of `len` bytes at `offset` ends strictly inside the device buffer.
fn check_range(offset: usize, len: usize) -> Result {
    match offset.checked_add(len) {
        Some(end) if len > 0 && end <= MAX_TRANSFER => Ok(()),
        _ => Err(EINVAL),
    }
}

/// The device's operations, over the parts of the driver data they use.
///
/// [`Edu`]'s methods run them under its lock; probe's self-test runs them on the freshly
/// initialised parts, before the driver data is complete and while nothing else can reach the
/// device.
struct Channel<'a> {
    bar: &'a Bar0,
    handler: &'a Handler,
    buffer: &'a Coherent<[u8]>,
}

impl Channel<'_> {
    fn factorial(&self, dev: &pci::Device<Bound>, n: u32) -> Result<u32> {
        let bar = self.bar.access(dev.as_ref())?;
        let before = self.events().factorials;
        bar.write_reg(regs::STATUS::zeroed().with_irq_enable(true));
        bar.write_reg(regs::FACTORIAL::zeroed().with_value(n));
        self.wait(dev, bar, |events| events.factorials > before)?;
        Ok(bar.read(regs::FACTORIAL).value().get())
    }

    fn events(&self) -> Events {
        *self.handler.events.lock()
    }

    /// Runs one DMA transfer of `len` bytes between the driver's buffer and the device's buffer at
    /// `offset`, and waits for its completion interrupt.
    fn transfer(
        &self,
        dev: &pci::Device<Bound>,
        offset: usize,
        len: usize,
        to_memory: bool,
    ) -> Result {
        let bar = self.bar.access(dev.as_ref())?;
        let memory = u32::try_from(self.buffer.dma_address())?;
        let device = regs::BUFFER_BASE + u32::try_from(offset)?;
        let (src, dst) = if to_memory {
            (device, memory)
        } else {
            (memory, device)
        };
        let before = self.events().transfers;
        bar.write_reg(regs::DMA_SRC::zeroed().with_addr(src));
        bar.write_reg(regs::DMA_DST::zeroed().with_addr(dst));
        bar.write_reg(regs::DMA_COUNT::zeroed().with_bytes(u32::try_from(len)?));
        bar.write_reg(
            regs::DMA_CMD::zeroed()
                .with_start(true)
                .with_to_memory(to_memory)
                .with_irq(true),
        );
        self.wait(dev, bar, |events| events.transfers > before)
    }

    /// Waits until `done` holds for the handler's counts, or [`TIMEOUT_MS`] passed (`ETIMEDOUT`),
    /// checking every [`PRESENCE_CHECK_MS`] that the device is still there (`ENODEV` if not).
    fn wait(
        &self,
        dev: &pci::Device<Bound>,
        bar: &Bar<'_>,
        mut done: impl FnMut(&Events) -> bool,
    ) -> Result {
        let mut events = self.handler.events.lock();
        let mut remaining = msecs_to_jiffies(TIMEOUT_MS);
        while !done(&events) {
            let slice = remaining.min(msecs_to_jiffies(PRESENCE_CHECK_MS));
            match self
                .handler
                .wake
                .wait_interruptible_timeout(&mut events, slice)
            {
                CondVarTimeoutResult::Woken { jiffies } => {
                    remaining = remaining.saturating_sub(slice.saturating_sub(jiffies));
                }
                CondVarTimeoutResult::Timeout if done(&events) => break,
                CondVarTimeoutResult::Timeout => {
                    check_present(dev, bar)?;
                    remaining -= slice;
                    if remaining == 0 {
                        return Err(ETIMEDOUT);
                    }
                }
                CondVarTimeoutResult::Signal { .. } => return Err(EINTR),
            }
        }
        Ok(())
    }

    /// The `self_test` module parameter's check: factorials against the CPU's arithmetic, a DMA
    /// round trip of the largest transfer, and one interrupt per operation. Logs what it found;
    /// `EIO` if anything was wrong.
    fn self_test(&self, dev: &pci::Device<Bound>) -> Result {
        let mut expected = 1u32;
        for n in 0..=SELF_TEST_MAX_FACTORIAL {
            expected = expected.wrapping_mul(n.max(1));
            let result = self.factorial(dev, n)?;
            if result != expected {
                dev_err!(
                    dev,
                    "self-test: {}! = {} on the device, {} on the CPU\n",
                    n,
                    result,
                    expected
                );
                return Err(EIO);
            }
        }
        dev_info!(
            dev,
            "self-test: 0! to {}! correct\n",
            SELF_TEST_MAX_FACTORIAL
        );

        // Fill the buffer with a pattern in chunks (no large stack buffers, as in the kernel),
        // send it to the device, clear the buffer, fetch it back, and compare.
        let chunks = (0..MAX_TRANSFER).step_by(SELF_TEST_CHUNK);
        for start in chunks.clone() {
            let chunk = self_test_pattern(start);
            let len = SELF_TEST_CHUNK.min(MAX_TRANSFER - start);
            io_project!(self.buffer, [try: start..start + len]).copy_from_slice(&chunk[..len]);
        }
        self.transfer(dev, 0, MAX_TRANSFER, false)?;
        for start in chunks.clone() {
            let len = SELF_TEST_CHUNK.min(MAX_TRANSFER - start);
            io_project!(self.buffer, [try: start..start + len])
                .copy_from_slice(&[0; SELF_TEST_CHUNK][..len]);
        }
        self.transfer(dev, 0, MAX_TRANSFER, true)?;
        for start in chunks {
            let len = SELF_TEST_CHUNK.min(MAX_TRANSFER - start);
            let mut back = [0u8; SELF_TEST_CHUNK];
            io_project!(self.buffer, [try: start..start + len]).copy_to_slice(&mut back[..len]);
            if back[..len] != self_test_pattern(start)[..len] {
                dev_err!(
                    dev,
                    "self-test: the DMA round trip differs at bytes {}..{}\n",
                    start,
                    start + len
                );
                return Err(EIO);
            }
        }
        dev_info!(
            dev,
            "self-test: DMA round trip of {} bytes identical\n",
            MAX_TRANSFER
        );

        let events = self.events();
        let operations = u64::from(SELF_TEST_MAX_FACTORIAL) + 1 + 2;
        if events.interrupts != operations {
            dev_err!(
                dev,
                "self-test: {} interrupts for {} operations\n",
                events.interrupts,
                operations
            );
            return Err(EIO);
        }
        dev_info!(
            dev,
            "self-test: {} interrupts for {} operations\n",
            events.interrupts,
            operations
        );
        Ok(())
    }

    /// The `irq_round_trips` and `dma_round_trips` module parameters' measurement: times
    /// `irq_trips` factorials (the register written, the completion interrupt handled, the waiter
    /// woken) and `dma_trips` DMA round trips of [`ROUND_TRIP_BYTES`] (to the device and back),
    /// and logs each distribution and the interrupts they took; `EIO` if a factorial is wrong or
    /// the interrupts do not match the operations.
    fn time_round_trips(&self, dev: &pci::Device<Bound>, irq_trips: u32, dma_trips: u32) -> Result {
        if irq_trips == 0 && dma_trips == 0 {
            return Ok(());
        }
        let before = self.events().interrupts;
        let expected = (1..=ROUND_TRIP_FACTORIAL).fold(1u32, u32::wrapping_mul);
        let mut wrong = false;
        let mut samples = KVVec::with_capacity(irq_trips.max(dma_trips) as usize, GFP_KERNEL)?;
        for _ in 0..irq_trips {
            let start = Instant::<Monotonic>::now();
            let result = self.factorial(dev, ROUND_TRIP_FACTORIAL)?;
            samples.push(start.elapsed().as_nanos(), GFP_KERNEL)?;
            wrong |= result != expected;
        }
        if wrong {
            dev_err!(dev, "round trips: a factorial was wrong\n");
            return Err(EIO);
        }
        log_distribution(dev, "interrupt", &mut samples);

        samples.clear();
        for _ in 0..dma_trips {
            let start = Instant::<Monotonic>::now();
            self.transfer(dev, 0, ROUND_TRIP_BYTES, false)?;
            self.transfer(dev, 0, ROUND_TRIP_BYTES, true)?;
            samples.push(start.elapsed().as_nanos(), GFP_KERNEL)?;
        }
        log_distribution(dev, "DMA", &mut samples);

        let interrupts = self.events().interrupts - before;
        let operations = u64::from(irq_trips) + 2 * u64::from(dma_trips);
        if interrupts != operations {
            dev_err!(
                dev,
                "round trips: {} interrupts for {} operations\n",
                interrupts,
                operations
            );
            return Err(EIO);
        }
        dev_info!(
            dev,
            "round trips: {} interrupts for {} operations\n",
            interrupts,
            operations
        );
        Ok(())
    }
}

/// The factorial an interrupt round trip computes.
const ROUND_TRIP_FACTORIAL: u32 = 12;

/// The bytes a DMA round trip moves each way.
const ROUND_TRIP_BYTES: usize = 64;

/// Logs the distribution of the round trips of `kind` that `samples` timed, in nanoseconds:
/// minimum, nearest-rank 50th and 99th percentiles, maximum and mean. Logs nothing for no samples.
fn log_distribution(dev: &pci::Device<Bound>, kind: &str, samples: &mut [i64]) {
    samples.sort_unstable();
    let (Some(&min), Some(&max)) = (samples.first(), samples.last()) else {
        return;
    };
    let percentile = |p: usize| samples[(samples.len() * p).div_ceil(100) - 1];
    let mean = samples.iter().sum::<i64>() / samples.len() as i64;
    dev_info!(
        dev,
        "{} round trips: {} timed, min {} ns, p50 {} ns, p99 {} ns, max {} ns, mean {} ns\n",
        kind,
        samples.len(),
        min,
        percentile(50),
        percentile(99),
        max,
        mean
    );
}

/// The self-test computes `0!` to this.
const SELF_TEST_MAX_FACTORIAL: u32 = 20;

/// The self-test moves its pattern in chunks of this many bytes.
const SELF_TEST_CHUNK: usize = 64;

/// The self-test's pattern for the chunk starting at byte `start`.
fn self_test_pattern(start: usize) -> [u8; SELF_TEST_CHUNK] {
    let mut chunk = [0u8; SELF_TEST_CHUNK];
    for (i, byte) in chunk.iter_mut().enumerate() {
        // Truncation intended: a byte pattern that repeats only every 256 * 131 bytes.
        *byte = ((start + i) % 251) as u8 ^ ((start + i) / 251) as u8;
    }
    chunk
}

/// The driver.
pub struct EduDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <EduDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(pci::Class::OTHERS.as_raw(), pci::ClassMask::Full.as_raw()),
        ()
    )]
);

impl pci::Driver for EduDriver {
    type IdInfo = ();
    type Data<'bound> = Edu<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pin_init::pin_init_scope(move || {
            if pdev.vendor_id().as_raw() != EDU_VENDOR || pdev.device_id() != EDU_DEVICE {
                return Err(ENODEV);
            }
            pdev.enable_device_mem()?;
            // SAFETY: nothing else allocates or maps DMA memory for this device during probe.
            unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<28>())? };

            let bar = pdev.iomap_region_sized::<{ regs::BAR_SIZE }>(0, c"edu")?;
            let id = bar.read(regs::ID);
            if id.magic().get() != regs::MAGIC {
                dev_err!(pdev, "unexpected identification {:#010x}\n", id.into_raw());
                return Err(ENODEV);
            }
            bar.write_reg(regs::LIVENESS::zeroed().with_value(LIVENESS_PROBE));
            if bar.read(regs::LIVENESS).value().get() != !LIVENESS_PROBE {
                dev_err!(pdev, "the liveness check failed\n");
                return Err(EIO);
            }
            Edu::quiesce(pdev, &bar)?;
            // Only now: a transfer that a killed driver left running has ended without reaching
            // memory, where this run's mappings may not be yet, or may be this run's buffers.
            pdev.set_master();
            dev_info!(
                pdev,
                "edu version {}.{} is alive\n",
                id.major().get(),
                id.minor().get()
            );

            let buffer = Coherent::<u8>::zeroed_slice(pdev.as_ref(), BUFFER_SIZE, GFP_KERNEL)?;
            let bar = Arc::new(bar.into_devres()?, GFP_KERNEL)?;
            let types = if module_parameters::use_intx.value() {
                pci::IrqTypes::default().with(pci::IrqType::Intx)
            } else {
                pci::IrqTypes::default()
                    .with(pci::IrqType::Msi)
                    .with(pci::IrqType::Intx)
            };
            let vectors = pdev.alloc_irq_vectors(1, 1, types)?;
            dev_info!(pdev, "interrupts by {:?}\n", vectors.irq_type());
            let handler_bar = bar.clone();

            Ok(try_pin_init!(&this in Edu {
                vectors,
                irq <- {
                    // SAFETY: `vectors` was initialised just before and is dropped after `irq`
                    // (declaration order), in the same pinned allocation, so the reference is
                    // valid for as long as the registration that borrows it.
                    let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                        unsafe { &(*this.as_ptr()).vectors };
                    let handler = try_pin_init!(Handler {
                        bar: handler_bar,
                        events <- new_spinlock_irq!(Events::default()),
                        wake <- new_condvar!(),
                    });
                    // SAFETY: the registration is part of the driver data, which the PCI core
                    // drops at unbind; it is never leaked.
                    unsafe {
                        irq::Registration::new(
                            vectors.index(0)?.into(),
                            irq::Flags::SHARED,
                            c"edu",
                            handler,
                        )
                    }
                },
                bar,
                buffer,
                op <- new_mutex!(()),
                _: {
                    let channel = Channel { bar, handler: irq.handler(), buffer };
                    if module_parameters::self_test.value() {
                        channel.self_test(pdev)?;
                    }
                    channel.time_round_trips(
                        pdev,
                        module_parameters::irq_round_trips.value(),
                        module_parameters::dma_round_trips.value(),
                    )?;
                },
            }))
        })
    }

    fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        // Leave the device quiet for the next driver: no factorial interrupts, no pending causes.
        if let Ok(bar) = this.bar.access(pdev.as_ref()) {
            bar.write_reg(regs::STATUS::zeroed());
            bar.write_reg(regs::IRQ_ACK::zeroed().with_causes(u32::MAX));
        }
    }
}

kernel::module_pci_driver! {
    type: EduDriver,
    name: "edu",
    authors: ["The drydock developers"],
    description: "Driver for QEMU's edu device",
    license: "Dual MIT/GPL",
    params: {
        use_intx: bool {
            default: false,
            description: "Signal completions with INTx instead of MSI",
        },
        self_test: bool {
            default: false,
            description: "At probe, check factorials, a DMA round trip and interrupt counts, and log the results",
        },
        irq_round_trips: u32 {
            default: 0,
            description: "At probe, time this many interrupt round trips and log their distribution",
        },
        dma_round_trips: u32 {
            default: 0,
            description: "At probe, time this many DMA round trips and log their distribution",
        },
    },
}
