//! Drives Linux 7.3's nova-core (every file of `drivers/gpu/nova-core/`), built unchanged as this
//! crate's library, on the simulated bus.
//!
//! A GPU cannot be simulated far: past its first registers, nova-core boots the GSP, a RISC-V core
//! running NVIDIA's signed firmware. These tests cover what comes before. Without an NVIDIA device
//! the module registers its PCI driver (NVIDIA's VGA and 3D controllers) and its debugfs
//! directory, and binds nothing. An NVIDIA chip older than Turing is rejected after reading its
//! identity registers. A Turing GPU without the GSP firmware is probed until the firmware request
//! fails, and the probe is undone: the sysmem flush page it programmed is cleared and freed, the
//! BAR released.
//!
//! The tests load the module one at a time, as a kernel loads a module once: nova-core keeps its
//! debugfs root in a `static mut`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use drydock_host::debugfs;
use drydock_host::errno::Errno;
use drydock_host::firmware::SearchPath;
use drydock_host::function::{BarInfo, BarKind, IrqKind};
use drydock_host::pci_id::PciIds;
use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, DeviceModel, Identity, SimBus, SimContext};

/// NVIDIA's PCI vendor ID.
const NVIDIA: u16 = 0x10de;
/// The class codes of a VGA controller and of a 3D controller.
const DISPLAY_VGA: u32 = 0x03_00_00;
const DISPLAY_3D: u32 = 0x03_02_00;

/// `NV_PMC_BOOT_0` and `NV_PMC_BOOT_42`: the chip's identity.
const BOOT_0: usize = 0x0;
const BOOT_42: usize = 0xa00;
/// The registers that say GFW boot (the VBIOS's initialisation) completed: its privilege level
/// mask (bit 0: readable) and its progress (0xff: done).
const GFW_PRIV_LEVEL_MASK: usize = 0x11_8128;
const GFW_BOOT: usize = 0x11_8234;
/// `NV_PFB_NISO_FLUSH_SYSMEM_ADDR`: the sysmem flush page's bus address, shifted right by 8.
const FLUSH_SYSMEM_ADDR: usize = 0x10_0c10;
/// The GSP falcon's `IRQSCLR` register.
const GSP_FALCON_IRQSCLR: usize = 0x11_0004;

/// The size of BAR 0, which nova-core maps whole.
const BAR0_SIZE: u64 = 16 << 20;

/// Takes the one-module-at-a-time lock.
fn one_at_a_time() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

/// An NVIDIA GPU as far as nova-core's probe reaches before it needs firmware: BAR 0's 32-bit
/// registers hold the values they were created with and keep what is written to them (others
/// read as 0); every access is recorded.
struct Gpu {
    class: u32,
    registers: Mutex<HashMap<usize, u32>>,
    reads: Mutex<Vec<usize>>,
    /// Each write: offset, value, and whether a value written to `FLUSH_SYSMEM_ADDR` was the
    /// address of a page of DMA memory the driver held at that moment.
    writes: Mutex<Vec<(usize, u32, bool)>>,
}

impl Gpu {
    fn new(class: u32, registers: &[(usize, u32)]) -> Arc<Gpu> {
        Arc::new(Gpu {
            class,
            registers: Mutex::new(registers.iter().copied().collect()),
            reads: Mutex::default(),
            writes: Mutex::default(),
        })
    }

    /// A Turing TU102 (revision a.1) whose GFW boot completed.
    fn tu102() -> Arc<Gpu> {
        Gpu::new(
            DISPLAY_VGA,
            &[
                (BOOT_0, 0x1620_00a1),
                (BOOT_42, 0x162a_1000),
                (GFW_PRIV_LEVEL_MASK, 1),
                (GFW_BOOT, 0xff),
            ],
        )
    }

    fn reads(&self) -> Vec<usize> {
        self.reads.lock().unwrap().clone()
    }

    fn writes(&self) -> Vec<(usize, u32, bool)> {
        self.writes.lock().unwrap().clone()
    }
}

impl DeviceModel for Gpu {
    fn identity(&self) -> Identity {
        Identity {
            vendor: NVIDIA,
            device: 0x1e02,
            subsystem_vendor: NVIDIA,
            subsystem: 0x12a3,
            revision: 0xa1,
            class: self.class,
            interrupt_pin: 1,
        }
    }

    fn bars(&self) -> [Option<BarInfo>; 6] {
        let mut bars = [None; 6];
        bars[0] = Some(BarInfo {
            size: BAR0_SIZE,
            start: 0,
            kind: BarKind::Mem32,
            prefetchable: false,
        });
        bars
    }

    fn irq_count(&self, _kind: IrqKind) -> u32 {
        0
    }

    fn pci_express(&self) -> bool {
        true
    }

    fn read(&self, _ctx: &SimContext, _bar: u32, offset: usize, width: usize) -> u64 {
        assert_eq!(width, 4, "nova-core reads 32-bit registers");
        self.reads.lock().unwrap().push(offset);
        let registers = self.registers.lock().unwrap();
        u64::from(registers.get(&offset).copied().unwrap_or(0))
    }

    fn write(&self, ctx: &SimContext, _bar: u32, offset: usize, width: usize, value: u64) {
        assert_eq!(width, 4, "nova-core writes 32-bit registers");
        let value = value as u32;
        let page = u64::from(value) << 8;
        let held = offset == FLUSH_SYSMEM_ADDR && value != 0 && ctx.dma_allocated(page, 4096);
        self.writes.lock().unwrap().push((offset, value, held));
        self.registers.lock().unwrap().insert(offset, value);
    }
}

/// The messages logged so far that contain `text`.
fn logged(log: &logger::LogCapture, text: &str) -> Vec<String> {
    log.records()
        .into_iter()
        .map(|r| r.message)
        .filter(|m| m.contains(text))
        .collect()
}

/// Whether nova-core's driver matches a device with `vendor` and `class`.
fn matches(bus: &SimBus, vendor: u16, class: u32) -> bool {
    bus.bus().has_driver_for(&PciIds {
        vendor,
        device: 0x1234,
        subsystem_vendor: vendor,
        subsystem_device: 0,
        class,
    })
}

#[test]
fn without_an_nvidia_device_it_registers_its_driver_and_binds_nothing() {
    let _one = one_at_a_time();
    let bus = SimBus::new();
    let testdev = bus.add(3, PciTestdev::new());
    let module = bus
        .load(&nova_core::__DRYDOCK_MODULE)
        .expect("the module loads");
    assert!(!testdev.is_bound(), "nova-core bound pci-testdev");
    // Its ID table: NVIDIA's VGA and 3D controllers, whatever their programming interface.
    assert!(matches(&bus, NVIDIA, DISPLAY_VGA));
    assert!(matches(&bus, NVIDIA, DISPLAY_3D));
    assert!(matches(&bus, NVIDIA, DISPLAY_VGA | 0x01));
    assert!(
        !matches(&bus, NVIDIA, 0x03_80_00),
        "another display controller"
    );
    assert!(
        !matches(&bus, NVIDIA, 0x04_03_00),
        "an NVIDIA audio function"
    );
    assert!(
        !matches(&bus, 0x1002, DISPLAY_VGA),
        "another vendor's VGA controller"
    );
    // Its debugfs root, which each GPU's directory goes under.
    assert_eq!(debugfs::read_dir("nova-core"), Ok(Vec::new()));
    assert!(bus.bus().auxiliary_devices().is_empty());

    drop(module);
    assert!(!bus.bus().has_pci_drivers(), "the driver was unregistered");
    assert_eq!(
        debugfs::metadata("nova-core").map(|m| m.is_dir),
        Err(Errno::ENOENT)
    );
}

#[test]
fn it_rejects_chips_older_than_turing_from_their_identity() {
    let _one = one_at_a_time();
    let log = logger::capture();
    let bus = SimBus::new();
    // A pre-Fermi chip (NV50: architecture 0x5 in BOOT_0), and a Volta GV100 (architecture 0x14
    // in BOOT_42), in a 3D controller.
    let nv50 = bus.add(1, Gpu::new(DISPLAY_VGA, &[(BOOT_0, 0x0500_00a2)]));
    let volta = bus.add(
        2,
        Gpu::new(DISPLAY_3D, &[(BOOT_0, 0x1400_00a1), (BOOT_42, 0x1400_a000)]),
    );
    let module = bus
        .load(&nova_core::__DRYDOCK_MODULE)
        .expect("the module loads");
    for device in [&nv50, &volta] {
        assert!(!device.is_bound(), "{} was bound", device.name());
        assert!(device.model().writes().is_empty(), "{}", device.name());
        assert!(device.dma_faults().is_empty());
    }
    // BOOT_0 is enough to reject the pre-Fermi chip (with `ENODEV`), BOOT_42 the Volta (with
    // `EINVAL`, and an error that shows the register).
    assert_eq!(nv50.model().reads(), [BOOT_0]);
    assert_eq!(volta.model().reads(), [BOOT_0, BOOT_42]);
    let failed = format!(
        "nova-core {}: probe with driver nova-core failed with error -22",
        volta.name()
    );
    assert_eq!(logged(&log, &failed).len(), 1);
    assert_eq!(
        logged(&log, "Unsupported chipset"),
        [format!(
            "nova-core {}: Unsupported chipset: boot42 = 0x1400a000 (architecture 0x14, \
             implementation 0x0)",
            volta.name()
        )]
    );
    drop(module);
}

#[test]
fn a_turing_gpu_without_its_firmware_is_probed_until_the_firmware_request() {
    let _one = one_at_a_time();
    let log = logger::capture();
    // A machine whose firmware directories are empty.
    let root = std::env::temp_dir().join(format!("nova-core-firmware-{}", std::process::id()));
    std::fs::create_dir_all(&root).unwrap();
    let _firmware = SearchPath::under(&root, None, "7.3.0-test").scoped();
    let missing: PathBuf = root.join("lib/firmware/nvidia/tu102/gsp/gsp.tlv");

    let bus = SimBus::new();
    let gpu = bus.add(1, Gpu::tu102());
    let name = gpu.name().to_owned();
    let module = bus
        .load(&nova_core::__DRYDOCK_MODULE)
        .expect("the module loads");
    assert!(!gpu.is_bound());

    // It identified the chip, waited for GFW boot, and asked for the GSP firmware, which the
    // kernel's search order did not find; the probe failed with that error.
    let messages: Vec<String> = log.records().into_iter().map(|r| r.message).collect();
    let expected = [
        format!("nova-core {name}: NVIDIA (Chipset: TU102, Architecture: Turing, Revision: a.1)"),
        format!(
            "nova-core {name}: loading {} failed for no such file or directory.",
            missing.display()
        ),
        format!(
            "nova-core {name}: Direct firmware load for nvidia/tu102/gsp/gsp.tlv failed with \
             error -2"
        ),
        format!("nova-core {name}: probe with driver nova-core failed with error -2"),
    ];
    let seen: Vec<&String> = messages.iter().filter(|m| expected.contains(m)).collect();
    assert_eq!(seen, expected.iter().collect::<Vec<_>>(), "{messages:#?}");
    let reads = gpu.model().reads();
    assert_eq!(reads[..4], [BOOT_0, BOOT_42, GFW_PRIV_LEVEL_MASK, GFW_BOOT]);

    // What it wrote: the sysmem flush page (DMA memory it held), the GSP falcon's software
    // interrupt 0 cleared; undoing the probe, the flush page cleared.
    let writes = gpu.model().writes();
    assert_eq!(writes.len(), 3, "{writes:x?}");
    let (offset, page, held) = writes[0];
    assert_eq!((offset, held), (FLUSH_SYSMEM_ADDR, true), "{writes:x?}");
    assert_eq!(
        writes[1..],
        [
            (GSP_FALCON_IRQSCLR, 1 << 6, false),
            (FLUSH_SYSMEM_ADDR, 0, false)
        ]
    );
    // The page was freed, the GSP's debugfs directory removed, the BAR released: loading again
    // probes again and fails the same way, not on a busy region.
    let context = gpu.function().context();
    assert!(!context.dma_allocated(u64::from(page) << 8, 4096));
    assert!(gpu.dma_faults().is_empty());
    assert_eq!(debugfs::read_dir("nova-core"), Ok(Vec::new()));
    drop(module);
    let module = bus.load(&nova_core::__DRYDOCK_MODULE).unwrap();
    assert_eq!(logged(&log, &expected[3]).len(), 2, "{:#?}", log.records());
    drop(module);
    std::fs::remove_dir_all(&root).unwrap();
}
