// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A deliberately buggy edu driver, for the test that the IOMMU contains a driver's mistakes.
//!
//! [`StrayDma::misdirected_copy`] has the bug a driver can always have: it programs the device
//! with a bus address it was never given. It stages a marker in the device's buffer, tells the
//! device to copy it to that address instead of the driver's landing buffer, and then waits for
//! the marker to appear in the landing buffer. Behind an IOMMU the device's write is blocked,
//! nothing lands anywhere, and the wait ends in `ETIMEDOUT`, which the driver reports.
//! [`StrayDma::copy`] is the same path with the right address: the control showing that the
//! timeout comes from the address alone. [`StrayDma::read_into_device`] is the same mistake in
//! the other direction when given an address that is not the driver's: the device reads from
//! it into its own buffer, and the driver reports what that buffer then holds.
//!
//! The driver is written against `kernel::` only, like a real one, and uses only edu's DMA
//! registers, polling instead of taking interrupts.

use kernel::{
    device::Core,
    dma::{Coherent, Device, DmaAddress, DmaMask},
    io::{io_project, poll::read_poll_timeout, register, Io},
    pci,
    prelude::*,
    time::Delta,
};

/// edu's DMA registers (QEMU's `hw/misc/edu.c`).
mod regs {
    use super::*;

    register! {
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

        /// DMA command: start and direction (device to memory).
        pub(super) DMA_CMD(u32) @ 0x98 {
            0:0 start;
            1:1 to_memory;
        }
    }

    /// The device-side address of the DMA buffer.
    pub(super) const BUFFER_BASE: u32 = 0x40000;
    /// The size of BAR0 the driver needs.
    pub(super) const BAR_SIZE: usize = 0x100;
}

/// The bytes the driver copies through the device, and looks for in its landing buffer.
pub const MARKER: [u8; 64] = {
    let mut marker = [0u8; 64];
    let mut i = 0;
    while i < marker.len() {
        marker[i] = (i as u8).wrapping_mul(37) ^ 0xa5;
        i += 1;
    }
    marker
};

/// The byte that fills the canary buffer.
pub const CANARY_BYTE: u8 = 0xc3;

/// The size of each of the driver's DMA buffers.
const BUFFER_SIZE: usize = 4096;

/// How long a transfer may take: about 100 ms in QEMU, slower on a loaded machine.
const TRANSFER_TIMEOUT_MS: i64 = 5000;

/// How long the driver waits for the marker to land once the device reports the copy done.
const LANDING_TIMEOUT_MS: i64 = 500;

/// The driver's data for a bound edu.
pub struct StrayDma<'bound> {
    bar: pci::Bar<'bound, { regs::BAR_SIZE }>,
    /// Allocated first, so it sits at the low edge of the driver's mapping.
    canary: Coherent<[u8]>,
    landing: Coherent<[u8]>,
}

impl StrayDma<'_> {
    /// The bus address of the landing buffer: where a correct copy goes.
    pub fn landing_address(&self) -> DmaAddress {
        self.landing.dma_address()
    }

    /// The bus address of the canary buffer.
    pub fn canary_address(&self) -> DmaAddress {
        self.canary.dma_address()
    }

    /// Copies [`MARKER`] through the device into the landing buffer and waits for it there.
    pub fn copy(&self) -> Result {
        self.copy_to(self.landing_address())
    }

    /// The bug: stages [`MARKER`] in the device, has the device copy it to `wrong` instead of
    /// the landing buffer, and waits for it in the landing buffer (`ETIMEDOUT`).
    pub fn misdirected_copy(&self, wrong: DmaAddress) -> Result {
        self.copy_to(wrong)
    }

    /// Whether every byte of the canary buffer still holds [`CANARY_BYTE`].
    pub fn canary_intact(&self) -> Result<bool> {
        let mut bytes = [0u8; BUFFER_SIZE];
        io_project!(&self.canary, [try: 0..BUFFER_SIZE]).copy_to_slice(&mut bytes);
        Ok(bytes.iter().all(|&b| b == CANARY_BYTE))
    }

    /// Stages [`MARKER`] in the device's buffer, has the device read [`MARKER`]'s length of
    /// bytes at `source` into that buffer, and returns what the buffer then holds (copied out
    /// through the landing buffer, filled first with the complement of the marker so that a
    /// copy that writes nothing cannot pass for one that does).
    pub fn read_into_device(&self, source: DmaAddress) -> Result<[u8; MARKER.len()]> {
        self.stage_marker()?;
        self.transfer(source, device_buffer())?;
        io_project!(&self.landing, [try: 0..MARKER.len()]).copy_from_slice(&MARKER.map(|b| !b));
        self.transfer(device_buffer(), self.landing_address())?;
        let mut held = [0u8; MARKER.len()];
        io_project!(&self.landing, [try: 0..MARKER.len()]).copy_to_slice(&mut held);
        Ok(held)
    }

    /// Puts [`MARKER`] in the device's buffer, through the landing buffer.
    fn stage_marker(&self) -> Result {
        io_project!(&self.landing, [try: 0..MARKER.len()]).copy_from_slice(&MARKER);
        self.transfer(self.landing_address(), device_buffer())
    }

    /// Stages the marker in the device's buffer, clears the landing buffer, has the device copy
    /// the marker to `destination`, and waits for it to appear in the landing buffer.
    fn copy_to(&self, destination: DmaAddress) -> Result {
        self.stage_marker()?;
        io_project!(&self.landing, [try: 0..MARKER.len()]).copy_from_slice(&[0; MARKER.len()]);
        self.transfer(device_buffer(), destination)?;
        read_poll_timeout(
            || {
                let mut landed = [0u8; MARKER.len()];
                io_project!(&self.landing, [try: 0..MARKER.len()]).copy_to_slice(&mut landed);
                Ok(landed)
            },
            |landed| *landed == MARKER,
            Delta::from_millis(10),
            Delta::from_millis(LANDING_TIMEOUT_MS),
        )?;
        Ok(())
    }

    /// Has the device copy [`MARKER`]'s length of bytes from `src` to `dst` (one of them the
    /// device's buffer), and polls until it reports the transfer done.
    fn transfer(&self, src: DmaAddress, dst: DmaAddress) -> Result {
        let to_memory = src == device_buffer();
        self.bar
            .write_reg(regs::DMA_SRC::zeroed().with_addr(u32::try_from(src)?));
        self.bar
            .write_reg(regs::DMA_DST::zeroed().with_addr(u32::try_from(dst)?));
        self.bar
            .write_reg(regs::DMA_COUNT::zeroed().with_bytes(u32::try_from(MARKER.len())?));
        self.bar.write_reg(
            regs::DMA_CMD::zeroed()
                .with_start(true)
                .with_to_memory(to_memory),
        );
        read_poll_timeout(
            || Ok(self.bar.read(regs::DMA_CMD)),
            |cmd| !bool::from(cmd.start()),
            Delta::from_millis(5),
            Delta::from_millis(TRANSFER_TIMEOUT_MS),
        )?;
        Ok(())
    }
}

/// The device-side address of edu's DMA buffer, as a DMA register takes it.
fn device_buffer() -> DmaAddress {
    DmaAddress::from(regs::BUFFER_BASE)
}

/// The driver.
pub struct StrayDmaDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <StrayDmaDriver as pci::Driver>::IdInfo,
    [(
        pci::DeviceId::from_class(pci::Class::OTHERS.as_raw(), pci::ClassMask::Full.as_raw()),
        ()
    )]
);

impl pci::Driver for StrayDmaDriver {
    type IdInfo = ();
    type Data<'bound> = StrayDma<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        if pdev.vendor_id().as_raw() != 0x1234 || pdev.device_id() != 0x11e8 {
            return Err(ENODEV);
        }
        pdev.enable_device_mem()?;
        pdev.set_master();
        // SAFETY: nothing else allocates or maps DMA memory for this device during probe.
        unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<28>())? };
        let bar = pdev.iomap_region_sized::<{ regs::BAR_SIZE }>(0, c"edu_stray_dma")?;
        let canary = Coherent::<u8>::zeroed_slice(pdev.as_ref(), BUFFER_SIZE, GFP_KERNEL)?;
        io_project!(&canary, [try: 0..BUFFER_SIZE]).copy_from_slice(&[CANARY_BYTE; BUFFER_SIZE]);
        let landing = Coherent::<u8>::zeroed_slice(pdev.as_ref(), BUFFER_SIZE, GFP_KERNEL)?;
        Ok(StrayDma {
            bar,
            canary,
            landing,
        })
    }
}

kernel::module_pci_driver! {
    type: StrayDmaDriver,
    name: "edu_stray_dma",
    authors: ["The drydock developers"],
    description: "A buggy edu driver that DMAs outside its mappings, for testing",
    license: "Dual MIT/GPL",
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_runner::driver_data::WithDriver;
    use drydock_sim::{models::Edu, SimBus};

    #[test]
    fn the_simulated_iommu_blocks_the_misdirected_copy() {
        let bus = SimBus::new();
        let device = bus.add(4, Edu::new());
        let _module = bus.load(&__DRYDOCK_MODULE).unwrap();
        let wrong = 0x10_0000;
        device
            .with_driver::<StrayDmaDriver, _>(|_, driver| {
                driver.copy().unwrap();
                assert_eq!(driver.misdirected_copy(wrong), Err(ETIMEDOUT));
                assert!(driver.canary_intact().unwrap());
                driver.copy().unwrap();
            })
            .unwrap();
        let faults = device.dma_faults();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!((faults[0].addr, faults[0].write), (wrong, true));
    }

    #[test]
    fn the_simulated_iommu_blocks_a_read_from_an_unmapped_address() {
        let bus = SimBus::new();
        let device = bus.add(4, Edu::new());
        let _module = bus.load(&__DRYDOCK_MODULE).unwrap();
        let wrong = 0x10_0000;
        device
            .with_driver::<StrayDmaDriver, _>(|_, driver| {
                let canary = driver.read_into_device(driver.canary_address()).unwrap();
                assert_eq!(canary, [CANARY_BYTE; MARKER.len()]);
                // The blocked read fills the device's buffer with zeros, as QEMU's does.
                assert_eq!(driver.read_into_device(wrong).unwrap(), [0; MARKER.len()]);
            })
            .unwrap();
        let faults = device.dma_faults();
        assert_eq!(faults.len(), 1, "{faults:?}");
        assert_eq!((faults[0].addr, faults[0].write), (wrong, false));
    }
}
