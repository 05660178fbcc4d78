//! drydock's test support: a simulated PCI bus with device models, and a fake system tree.
//!
//! Tests, examples and benchmarks run drivers on any machine with it; driver processes never link
//! it. Five parts:
//!
//! - the simulated bus, below: devices modelled in the process ([`models`]: QEMU's edu,
//!   pci-testdev and NVMe controller), which drivers reach through the same PCI core as VFIO
//!   devices;
//! - [`sysfs`]: a fake `/sys`, `/dev` and `/proc` in a temporary directory, with a simulation of
//!   what the kernel does when a device is bound or unbound, for the code that reads and changes
//!   the kernel's view of devices;
//! - [`fuse`]: the FUSE mount of the debugfs or configfs tree for tests, which fail rather than
//!   skip where FUSE is not usable unless told to skip;
//! - [`fuzz`]: the settings of the property tests that feed device-chosen values to the code that
//!   parses them;
//! - [`state`]: reading the tables a driver process shows of its state (`drydock/interrupts`...).
//!
//! # Start here
//!
//! To test a driver: [`SimBus::new`], [`SimBus::add`] a model of the device at a slot (QEMU's
//! edu: [`models::Edu`]), [`SimBus::load`] the driver's module (`my_driver::__DRYDOCK_MODULE`),
//! then reach the bound driver's data with the runner's `WithDriver::with_driver` and call its
//! methods; `drivers/edu/tests/sim.rs` does all of it, and [`SimDevice::dma_faults`] tells if the
//! driver pointed the device at memory it did not map. To simulate your own device, implement
//! [`DeviceModel`] (its identity, BARs and interrupt vectors, and what a register read or write
//! does; [`SimContext`] gives it DMA and interrupts): [`models::Edu`] is a small, complete one.
//! For code that binds devices (the `drydock` command), [`sysfs::FakeSys`] is a fake system tree
//! with a simulated kernel behind it.
//!
//! # The simulated bus
//!
//! A [`SimBus`] is a [`Bus`] whose devices are [`DeviceModel`]s. Drivers see them exactly as they
//! see VFIO devices: config space, BARs (trapped, so every register access reaches the model),
//! interrupt vectors (eventfds the model signals, dispatched by the same interrupt threads), and
//! DMA through an IOMMU (a translation table the model's DMA goes through, which blocks and records
//! accesses to memory the driver did not map).
//!
//! Each `SimBus` gets its own PCI domain, so device names are unique in the process and tests can
//! run in parallel.
//!
//! A device can leave as hardware does: [`SimDevice::unplug`] removes it through the bus (its
//! driver is unbound first), while [`SimFunction::surprise_remove`] and
//! [`SimFunction::switch_off_memory_decoding`] ([`REMOVALS`]) make it stop answering behind its
//! driver's back, its registers reading all ones.
//!
//! # Examples
//!
//! ```
//! use drydock_sim::{models::Edu, SimBus};
//!
//! let bus = SimBus::new();
//! let edu = bus.add(4, Edu::new());
//! assert!(edu.name().ends_with(":00:04.0"));
//! assert!(edu.function().fatal_errors().is_empty());
//! ```

mod config;
mod function;
pub mod fuse;
pub mod fuzz;
mod iommu;
mod model;
pub mod models;
mod pattern;
pub mod state;
pub mod sysfs;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;

pub use config::Identity;
pub use function::{Removal, SimFunction, REMOVALS};
pub use iommu::{DmaFault, SimIommu};
pub use model::{DeviceModel, SimContext};
pub use pattern::pattern;

use drydock_host::bus::Bus;
use drydock_host::errno::Errno;
use drydock_host::module::{ModuleDescriptor, ModuleHandle};
use drydock_host::pci::{PciDeviceHandle, PciDeviceRef, RawPciDevice};

/// The next PCI domain handed to a simulated bus (high, to stay clear of real domains).
static NEXT_DOMAIN: AtomicU16 = AtomicU16::new(0x1000);

/// A bus of simulated devices.
pub struct SimBus {
    bus: Arc<Bus>,
    domain: u16,
}

impl Default for SimBus {
    fn default() -> Self {
        Self::new()
    }
}

impl SimBus {
    /// Creates an empty simulated bus with a PCI domain of its own.
    pub fn new() -> Self {
        let domain = NEXT_DOMAIN.fetch_add(1, Ordering::Relaxed);
        Self {
            bus: Bus::new(format!("simulated bus {domain:04x}")),
            domain,
        }
    }

    /// The underlying bus.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// Plugs `model` into slot `slot` (function 0) and returns a handle to it. If a loaded
    /// module's driver matches it, the driver probes it before this returns.
    ///
    /// # Panics
    ///
    /// Panics if `slot` is 32 or more.
    pub fn add<M: DeviceModel>(&self, slot: u8, model: Arc<M>) -> SimDevice<M> {
        assert!(slot < 32, "PCI slots are 0 to 31");
        let name = format!("{:04x}:00:{slot:02x}.0", self.domain);
        let function = Arc::new(SimFunction::new(model.clone()));
        let device = RawPciDevice::create(&name, function.clone())
            .expect("a simulated function's config space is always readable");
        self.bus.add_device(device);
        SimDevice {
            name,
            model,
            function,
            bus: self.bus.clone(),
        }
    }

    /// Loads a driver module into the bus; its driver probes the matching devices.
    pub fn load(&self, module: &'static ModuleDescriptor) -> Result<ModuleHandle, Errno> {
        self.bus.load_module(module)
    }
}

/// A simulated device plugged into a [`SimBus`].
pub struct SimDevice<M> {
    name: String,
    model: Arc<M>,
    function: Arc<SimFunction>,
    bus: Arc<Bus>,
}

impl<M: DeviceModel> SimDevice<M> {
    /// The device's PCI address.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device model, to inspect or steer its state.
    pub fn model(&self) -> &Arc<M> {
        &self.model
    }

    /// The simulated function (config space, IOMMU, fatal errors).
    pub fn function(&self) -> &Arc<SimFunction> {
        &self.function
    }

    /// DMA accesses the IOMMU blocked so far.
    pub fn dma_faults(&self) -> Vec<DmaFault> {
        self.function.iommu().faults()
    }

    /// Whether a driver is bound to the device.
    pub fn is_bound(&self) -> bool {
        self.bus
            .device(&self.name)
            .is_some_and(|device| device.bound_driver().is_some())
    }

    /// Unplugs the device: its driver is unbound first (hot removal).
    pub fn unplug(&self) {
        self.bus.remove_device(&self.name);
    }
}

impl<M> PciDeviceHandle for SimDevice<M> {
    fn pci_device(&self) -> Option<PciDeviceRef> {
        self.bus.device(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::models::{edu, Edu, PciTestdev};
    use super::*;
    use drydock_host::bindings;
    use drydock_host::irq;
    use drydock_host::mmio;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    fn read32(base: usize, offset: usize) -> u32 {
        // SAFETY: `base` is a live mapping of BAR0 (1 MiB) and `offset` is aligned inside it.
        unsafe { mmio::read(core::ptr::with_exposed_provenance::<u32>(base + offset)) }
    }

    fn write32(base: usize, offset: usize, value: u32) {
        // SAFETY: as in `read32`.
        unsafe {
            mmio::write(
                core::ptr::with_exposed_provenance_mut::<u32>(base + offset),
                value,
            )
        }
    }

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "condition not reached in 10 s");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn edu_registers_through_the_host_pci_core() {
        let bus = SimBus::new();
        let edu = bus.add(4, Edu::new());
        let pdev = bus.bus().device(edu.name()).unwrap();
        assert_eq!(
            (pdev.vendor(), pdev.device(), pdev.class()),
            (0x1234, 0x11e8, 0x00ff00)
        );
        pdev.request_region(0, c"test").unwrap();
        let (bar, len) = pdev.iomap(0).unwrap();
        assert_eq!(len, 1 << 20);

        // Memory decoding is off until the driver enables it: the bus answers all ones.
        assert_eq!(read32(bar, 0), u32::MAX);
        pdev.enable_device_mem().unwrap();
        assert_eq!(read32(bar, 0), 0x0100_00ed);
        write32(bar, 4, 0x1234_5678);
        assert_eq!(read32(bar, 4), 0xedcb_a987);
        write32(bar, 8, 12);
        assert_eq!(read32(bar, 8), 479_001_600);
        assert_eq!(
            read32(bar, 0x40000),
            u32::MAX,
            "the DMA buffer is not visible through BAR0"
        );
        pdev.iounmap(bar);
        pdev.release_region(0);
    }

    #[test]
    fn edu_dma_needs_bus_mastering_and_an_iommu_mapping() {
        let bus = SimBus::new();
        let edu = bus.add(5, Edu::new());
        let pdev = bus.bus().device(edu.name()).unwrap();
        pdev.enable_device_mem().unwrap();
        let (bar, _) = pdev.iomap(0).unwrap();
        let space = pdev.dev.dma_space().unwrap().clone();
        let region = space.alloc_coherent(4096, edu::DMA_MASK).unwrap();
        assert!(region.dma_addr + 4095 <= edu::DMA_MASK);
        // SAFETY: the region is 4096 bytes of memory owned by the allocation.
        let memory = unsafe { core::slice::from_raw_parts_mut(region.cpu_addr.as_ptr(), 4096) };
        memory[..16].copy_from_slice(b"0123456789abcdef");

        let start_dma = |src: u64, dst: u64| {
            write32(bar, 0x80, src as u32);
            write32(bar, 0x88, dst as u32);
            write32(bar, 0x90, 16);
            write32(bar, 0x98, 1);
        };
        // Without Bus Master Enable the transfer "completes" but reads zeros.
        start_dma(region.dma_addr, edu::BUFFER_BASE);
        assert_eq!(&edu.model().buffer()[..16], &[0; 16]);
        pdev.set_master();
        start_dma(region.dma_addr, edu::BUFFER_BASE);
        assert_eq!(&edu.model().buffer()[..16], b"0123456789abcdef");
        assert!(edu.dma_faults().is_empty());

        // An address outside every mapping is blocked and recorded.
        start_dma(0x0f00_0000, edu::BUFFER_BASE);
        assert_eq!(
            edu.dma_faults(),
            vec![DmaFault {
                addr: 0x0f00_0000,
                write: false
            }]
        );
        assert_eq!(&edu.model().buffer()[..16], &[0; 16]);
        space.free_coherent(&region);
        assert!(edu.function().fatal_errors().is_empty());
    }

    #[test]
    fn edu_refuses_the_transfer_that_aborts_qemu() {
        let bus = SimBus::new();
        let edu = bus.add(6, Edu::new());
        let pdev = bus.bus().device(edu.name()).unwrap();
        pdev.enable_device_mem().unwrap();
        pdev.set_master();
        let (bar, _) = pdev.iomap(0).unwrap();
        write32(bar, 0x88, edu::BUFFER_BASE as u32);
        write32(bar, 0x90, 4096);
        write32(bar, 0x98, 1);
        let fatal = edu.function().fatal_errors();
        assert_eq!(fatal.len(), 1);
        assert!(fatal[0].contains("out of bounds"), "{fatal:?}");
    }

    /// What the test interrupt handler sees: edu's BAR0 and a counter.
    struct HandlerData {
        bar: usize,
        count: AtomicU32,
    }

    /// Counts the interrupt and acknowledges every pending cause, as a level-triggered handler
    /// must (otherwise INTx fires again as soon as it is unmasked).
    unsafe fn edu_irq(dev_id: *mut core::ffi::c_void) -> u32 {
        // SAFETY: the test passes a pointer to a live `HandlerData`.
        let data = unsafe { &*dev_id.cast::<HandlerData>() };
        let pending = read32(data.bar, 0x24);
        if pending == 0 {
            return irq::IRQ_NONE;
        }
        write32(data.bar, 0x64, pending);
        data.count.fetch_add(1, Ordering::SeqCst);
        irq::IRQ_HANDLED
    }

    #[test]
    fn edu_interrupts_reach_handlers_by_msi_and_by_intx() {
        for types in [bindings::PCI_IRQ_MSI, bindings::PCI_IRQ_INTX] {
            let bus = SimBus::new();
            let edu = bus.add(4, Edu::new());
            let pdev = bus.bus().device(edu.name()).unwrap();
            pdev.enable_device_mem().unwrap();
            pdev.set_master();
            let (bar, _) = pdev.iomap(0).unwrap();
            assert_eq!(pdev.alloc_irq_vectors(1, 1, types).unwrap(), 1);
            assert_eq!(pdev.irq_type(), types);
            let line = pdev.irq_vector(0).unwrap();
            let data = HandlerData {
                bar,
                count: AtomicU32::new(0),
            };
            let dev_id = core::ptr::from_ref(&data).cast_mut().cast();
            // SAFETY: `data` outlives the registration, freed below.
            unsafe { irq::request_irq(line, edu_irq, None, false, c"edu test", dev_id) }.unwrap();
            write32(bar, 0x20, 0x80);
            for n in 1..=3 {
                write32(bar, 8, 5);
                wait_for(|| data.count.load(Ordering::SeqCst) == n);
            }
            assert_eq!(read32(bar, 0x24), 0, "every cause was acknowledged");
            irq::free_irq(line, dev_id);
            pdev.free_irq_vectors();
            assert_eq!(edu.model().interrupts_raised(), 3);
            assert_eq!(irq::delivered(line), 0, "the line is gone with its vectors");
        }
    }

    #[test]
    fn a_surprise_removed_function_reads_all_ones_and_stops_dma_and_interrupts() {
        let bus = SimBus::new();
        let edu = bus.add(4, Edu::new());
        let pdev = bus.bus().device(edu.name()).unwrap();
        pdev.enable_device_mem().unwrap();
        pdev.set_master();
        let (bar, _) = pdev.iomap(0).unwrap();
        assert_eq!(
            pdev.alloc_irq_vectors(1, 1, bindings::PCI_IRQ_MSI).unwrap(),
            1
        );
        let line = pdev.irq_vector(0).unwrap();
        let data = HandlerData {
            bar,
            count: AtomicU32::new(0),
        };
        let dev_id = core::ptr::from_ref(&data).cast_mut().cast();
        // SAFETY: `data` outlives the registration, freed below.
        unsafe { irq::request_irq(line, edu_irq, None, false, c"edu test", dev_id) }.unwrap();
        let space = pdev.dev.dma_space().unwrap().clone();
        let region = space.alloc_coherent(4096, edu::DMA_MASK).unwrap();
        let ctx = edu.function().context();
        assert!(ctx.dma_write(region.dma_addr, &[1]));
        write32(bar, 0x20, 0x80);
        write32(bar, 8, 5);
        wait_for(|| data.count.load(Ordering::SeqCst) == 1);

        edu.function().surprise_remove();
        assert_eq!(read32(bar, 0), u32::MAX, "BAR reads complete with all ones");
        assert_eq!(pdev.config_read::<4>(0), [0xff; 4], "so do config reads");
        // Writes go nowhere: the factorial never starts, and the command register is unchanged.
        write32(bar, 8, 6);
        pdev.clear_master();
        assert_eq!(edu.model().irq_status(), 0);
        assert_ne!(edu.function().command() & 0x4, 0);
        // The model's own DMA and interrupts no longer reach the process.
        assert!(!ctx.bus_master());
        assert!(!ctx.dma_write(region.dma_addr, &[2]));
        ctx.raise_msi(0);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(data.count.load(Ordering::SeqCst), 1);
        assert_eq!(irq::delivered(line), 1);
        // SAFETY: the region is the allocation's memory, which the device no longer reaches.
        let first = unsafe { region.cpu_addr.as_ptr().read_volatile() };
        assert_eq!(first, 1, "the write after the removal did not land");
        assert!(
            edu.dma_faults().is_empty(),
            "nothing was attempted to fault"
        );
        irq::free_irq(line, dev_id);
        pdev.free_irq_vectors();
        space.free_coherent(&region);
    }

    #[test]
    fn pci_testdev_counts_matching_writes() {
        let bus = SimBus::new();
        let dev = bus.add(3, PciTestdev::new());
        let pdev = bus.bus().device(dev.name()).unwrap();
        assert_eq!((pdev.vendor(), pdev.device()), (0x1b36, 0x0005));
        pdev.enable_device_mem().unwrap();
        let (bar, len) = pdev.iomap(0).unwrap();
        assert_eq!(len, 4096);
        let byte = |offset: usize| core::ptr::with_exposed_provenance_mut::<u8>(bar + offset);
        // SAFETY: all offsets are inside the 4 KiB BAR.
        unsafe {
            mmio::write(byte(0), 0u8);
            assert_eq!(read32(bar, 4), 2048);
            assert_eq!(mmio::read(byte(8)), 0xfa);
            mmio::write(byte(2048), 0xfa);
            mmio::write(byte(2048), 0x12); // wrong data: not counted
            assert_eq!(read32(bar, 12), 1);
            assert_eq!(mmio::read(byte(16)), b'm');
        }
        assert_eq!(dev.model().count(), Some(1));
    }
}
