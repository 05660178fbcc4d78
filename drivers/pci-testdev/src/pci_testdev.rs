// SPDX-License-Identifier: GPL-2.0 OR MIT

//! Driver for QEMU's `pci-testdev` (PCI 1b36:0005).
//!
//! The device exposes, at the start of BAR0, a small header that selects one of three I/O tests
//! and counts the one-byte writes of the test's data byte that reach the selected test's offset.
//! For the two eventfd tests, QEMU also registers an ioeventfd at that offset, which takes the
//! writes it matches before they reach the device: every write for `wildcard-eventfd`, writes of
//! the data byte for `datamatch-eventfd`. Their count therefore stays 0, and a count shows that the
//! eventfd missed a write. At probe the driver checks the function's configuration space, runs
//! every test and logs the outcome; afterwards the tests can be run again through
//! [`Testdev::run`].
//!
//! The file builds unchanged as a Linux 7.3 module and as a drydock userspace driver.

use kernel::{
    device::{Bound, Core},
    io::{register, register::Array, Io},
    num::Bounded,
    pci,
    prelude::*,
};

/// The registers of the test header, at the start of BAR0.
mod regs {
    use super::*;

    register! {
        /// Selects a test; selecting resets its count. Write-only.
        pub(super) TEST(u8) @ 0x0 {
            7:0 index => TestIndex;
        }

        /// The width of the write the selected test expects, in bytes.
        pub(super) WIDTH(u8) @ 0x1 {
            7:0 bytes;
        }

        /// The BAR offset the selected test watches.
        pub(super) OFFSET(u32) @ 0x4 {
            31:0 offset;
        }

        /// The byte the selected test expects to be written.
        pub(super) DATA(u8) @ 0x8 {
            7:0 data;
        }

        /// Writes the selected test has counted.
        pub(super) COUNT(u32) @ 0xc {
            31:0 count;
        }
    }

    /// Offset of the selected test's name, a NUL-terminated string.
    pub(super) const NAME: usize = 0x10;

    /// The size of BAR0.
    pub(super) const BAR_SIZE: usize = 0x1000;
}

/// BAR0, all of whose 4 KiB are checked at build time.
type Bar0<'bound> = pci::Bar<'bound, { regs::BAR_SIZE }>;

/// What the `TEST` register selects: a test's index, or, past the last test, none.
#[derive(Clone, Copy, Debug)]
struct TestIndex(u8);

impl TestIndex {
    /// Selects no test.
    const NONE: Self = Self(0xff);
}

impl From<Test> for TestIndex {
    fn from(test: Test) -> Self {
        Self(test as u8)
    }
}

impl From<Bounded<u8, 8>> for TestIndex {
    fn from(value: Bounded<u8, 8>) -> Self {
        Self(value.get())
    }
}

impl From<TestIndex> for Bounded<u8, 8> {
    fn from(index: TestIndex) -> Self {
        index.0.into()
    }
}

/// The device's tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Test {
    /// The device counts one-byte writes of the data byte.
    NoEventfd = 0,
    /// An ioeventfd takes every write at the offset; the device counts none.
    WildcardEventfd = 1,
    /// An ioeventfd takes one-byte writes of the data byte; the device counts the rest that are
    /// the data byte, which is none.
    DatamatchEventfd = 2,
}

impl Test {
    /// Every test, in index order.
    pub const ALL: [Test; 3] = [
        Test::NoEventfd,
        Test::WildcardEventfd,
        Test::DatamatchEventfd,
    ];

    /// The counts a correct run shows: after the write of a wrong byte, and after the write of
    /// the data byte (see [`Report`]).
    pub fn expected_counts(self) -> (u32, u32) {
        match self {
            Test::NoEventfd => (0, 1),
            Test::WildcardEventfd | Test::DatamatchEventfd => (0, 0),
        }
    }
}

/// What one run of a test showed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The test.
    pub test: Test,
    /// The offset the test watches.
    pub offset: u32,
    /// The test's data byte.
    pub data: u8,
    /// The count after a write of a wrong byte.
    pub count_after_mismatch: u32,
    /// The count after the write of the data byte.
    pub count_after_match: u32,
}

/// The driver's data for a bound pci-testdev.
pub struct Testdev<'bound> {
    pdev: &'bound pci::Device,
    bar: Bar0<'bound>,
    reports: [Report; 3],
}

impl Testdev<'_> {
    /// Selects `test`, makes a write the test must ignore (unless it matches anything) and one it
    /// must count, and reports the counts.
    pub fn run(&self, test: Test) -> Result<Report> {
        Self::run_on(&self.bar, test)
    }

    fn run_on(bar: &Bar0<'_>, test: Test) -> Result<Report> {
        bar.write_reg(regs::TEST::zeroed().with_index(TestIndex::from(test)));
        let offset = bar.read(regs::OFFSET).offset().get();
        let data = bar.read(regs::DATA).data().get();
        if bar.read(regs::WIDTH).bytes().get() != 1 {
            return Err(EIO);
        }
        // The offset is only known at run time, so these writes are checked at run time too: an
        // offset outside BAR0 fails them with `EINVAL`.
        let offset_usize = usize::try_from(offset)?;
        bar.try_write8(!data, offset_usize)?;
        let count_after_mismatch = bar.read(regs::COUNT).count().get();
        bar.try_write8(data, offset_usize)?;
        let count_after_match = bar.read(regs::COUNT).count().get();
        Ok(Report {
            test,
            offset,
            data,
            count_after_mismatch,
            count_after_match,
        })
    }

    /// Reads the selected test's name into `buf`; returns its length.
    pub fn test_name(&self, buf: &mut [u8]) -> Result<usize> {
        for (i, byte) in buf.iter_mut().enumerate() {
            *byte = self.bar.try_read8(regs::NAME + i)?;
            if *byte == 0 {
                return Ok(i);
            }
        }
        Err(ENOSPC)
    }

    /// The reports of the tests run at probe, in [`Test::ALL`] order.
    pub fn reports(&self) -> &[Report; 3] {
        &self.reports
    }

    /// The device.
    pub fn device(&self) -> &pci::Device {
        self.pdev
    }

    /// Checks that configuration space agrees with what the PCI core reported and with the
    /// device's BARs (BAR0 memory, BAR1 I/O ports), and logs it.
    fn check_config_space(pdev: &pci::Device<Bound>) -> Result {
        let config = pdev.config_space();

        register! {
            VENDOR_ID(u16) @ 0x0 { 15:0 vendor_id; }
            DEVICE_ID(u16) @ 0x2 { 15:0 device_id; }
            COMMAND(u16) @ 0x4 { 1:1 memory; 2:2 master; }
            REVISION_ID(u8) @ 0x8 { 7:0 revision_id; }
            CLASS(u32) @ 0x8 { 31:8 class; }
            BAR(u32)[6] @ 0x10 { 0:0 io_space; }
            INTERRUPT_PIN(u8) @ 0x3d { 7:0 pin; }
        }

        let vendor = config.read(VENDOR_ID).vendor_id().get();
        let device = config.read(DEVICE_ID).device_id().get();
        let revision = config.read(REVISION_ID).revision_id().get();
        let class = config.read(CLASS).class().get();
        if vendor != pdev.vendor_id().as_raw()
            || device != pdev.device_id()
            || revision != pdev.revision_id()
            || class != pdev.pci_class().as_raw()
        {
            dev_err!(pdev, "config space disagrees with the PCI core\n");
            return Err(EIO);
        }
        if !bool::from(config.read(COMMAND).memory()) {
            dev_err!(pdev, "memory decoding is off after enabling it\n");
            return Err(EIO);
        }
        if bool::from(config.read(BAR::at(0)).io_space())
            || !bool::from(config.read(BAR::at(1)).io_space())
        {
            dev_err!(pdev, "BAR0 is not memory or BAR1 is not I/O ports\n");
            return Err(EIO);
        }
        dev_info!(
            pdev,
            "config space: {:04x}:{:04x} rev {:#04x} class {:06x} pin {}\n",
            vendor,
            device,
            revision,
            class,
            config.read(INTERRUPT_PIN).pin().get()
        );
        Ok(())
    }
}

/// The driver.
pub struct TestdevDriver;

kernel::pci_device_table!(
    PCI_TABLE,
    <TestdevDriver as pci::Driver>::IdInfo,
    [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
);

impl pci::Driver for TestdevDriver {
    type IdInfo = ();
    type Data<'bound> = Testdev<'bound>;

    const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

    fn probe<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        _info: Option<&'bound Self::IdInfo>,
    ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
        pdev.enable_device_mem()?;
        let bar = pdev.iomap_region_sized::<{ regs::BAR_SIZE }>(0, c"pci_testdev")?;
        Testdev::check_config_space(pdev)?;

        let mut reports = [Report {
            test: Test::NoEventfd,
            offset: 0,
            data: 0,
            count_after_mismatch: 0,
            count_after_match: 0,
        }; 3];
        for (report, test) in reports.iter_mut().zip(Test::ALL) {
            *report = Testdev::run_on(&bar, test)
                .inspect_err(|err| dev_err!(pdev, "test {:?} failed: {:?}\n", test, err))?;
            if (report.count_after_mismatch, report.count_after_match) != test.expected_counts() {
                dev_err!(pdev, "test {:?} counted wrongly: {:?}\n", test, report);
                return Err(EIO);
            }
            dev_info!(
                pdev,
                "test {:?}: offset {:#x}, data {:#04x}, count {}\n",
                test,
                report.offset,
                report.data,
                report.count_after_match
            );
        }
        dev_info!(
            pdev,
            "pci-testdev data-match count: {}\n",
            reports[0].count_after_match
        );

        Ok(Testdev { pdev, bar, reports })
    }

    fn unbind<'bound>(_pdev: &'bound pci::Device<Core<'_>>, this: Pin<&Self::Data<'bound>>) {
        this.bar
            .write_reg(regs::TEST::zeroed().with_index(TestIndex::NONE));
    }
}

impl Drop for Testdev<'_> {
    fn drop(&mut self) {
        dev_dbg!(self.pdev, "pci-testdev driver data dropped\n");
    }
}

kernel::module_pci_driver! {
    type: TestdevDriver,
    name: "pci_testdev",
    authors: ["The drydock developers"],
    description: "Driver for QEMU's pci-testdev",
    license: "Dual MIT/GPL",
}

#[kunit_tests(rust_drydock_pci_testdev)]
mod tests {
    use super::*;

    #[test]
    fn test_indices_fill_the_register_field() {
        for test in Test::ALL {
            let field: Bounded<u8, 8> = TestIndex::from(test).into();
            assert_eq!(field.get(), test as u8);
        }
        let none: Bounded<u8, 8> = TestIndex::NONE.into();
        assert_eq!(none.get(), 0xff);
    }

    #[test]
    fn only_the_plain_test_counts_the_data_byte() {
        assert_eq!(Test::NoEventfd.expected_counts(), (0, 1));
        assert_eq!(Test::WildcardEventfd.expected_counts(), (0, 0));
        assert_eq!(Test::DatamatchEventfd.expected_counts(), (0, 0));
    }
}
