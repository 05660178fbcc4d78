//! Failure paths of the kernel API, proven on the simulated bus: allocation failures, a BAR
//! smaller than asked for, runtime-checked accesses out of range, access after unbind, DMA outside
//! every buffer, and an interrupt after its registration is gone.
//!
//! Each scenario is a small driver written against `kernel::` only, as a driver file would be.

// The scenario drivers live in private modules of this test crate; their `pub` items (and those
// `module_pci_driver!` generates) are public only in the sense a driver file needs.
#![allow(unreachable_pub)]

use std::sync::atomic::Ordering;

use drydock_host::fault::AllocFailure;
use drydock_runner::driver_data::WithDriver;
use drydock_sim::{
    models::{Edu, PciTestdev},
    DmaFault, SimBus,
};

/// A pci-testdev driver that keeps BAR0 as a device-managed resource shared outside its data, and
/// allocates memory and DMA memory at probe.
mod keeper {
    use kernel::{device::Core, dma::Coherent, io::Io, pci, prelude::*, sync::Arc};

    pub type SharedBar = pci::DevresBar<0x1000>;

    pub struct Data {
        pub bar: Arc<SharedBar>,
        pub scratch: KVec<u32>,
        pub dma: Coherent<[u32]>,
    }

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = Data;
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<Data, Error> + 'bound {
            let mut scratch = KVec::new();
            scratch.push(7, GFP_KERNEL)?;
            pdev.enable_device_mem()?;
            let bar = pdev.iomap_region_sized::<0x1000>(0, c"keeper")?;
            // Runtime-checked accesses: beyond the BAR and misaligned are refused.
            if bar.try_read32(0x1000) != Err(EINVAL) || bar.try_read32(0x2) != Err(EINVAL) {
                return Err(EIO);
            }
            bar.try_write8(0, 0xfff)?;
            let dma = Coherent::<u32>::zeroed_slice(pdev.as_ref(), 16, GFP_KERNEL)?;
            let bar = Arc::new(bar.into_devres()?, GFP_KERNEL)?;
            Ok(Data { bar, scratch, dma })
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "keeper",
        license: "GPL",
    }
}

/// A driver that asks for more of BAR0 than pci-testdev has.
mod greedy {
    use kernel::{device::Core, pci, prelude::*};

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = pci::Bar<'bound, 0x2000>;
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            pdev.enable_device_mem()?;
            pdev.iomap_region_sized::<0x2000>(0, c"greedy")
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "greedy",
        license: "GPL",
    }
}

/// An edu driver that counts interrupts in a counter the test can read, and whose DMA addresses
/// the test chooses (a buggy driver, on purpose).
mod wild {
    use core::sync::atomic::{AtomicU32, Ordering};
    use kernel::{
        device::{Bound, Core},
        dma::{Coherent, Device, DmaMask},
        io::Io,
        irq, pci,
        prelude::*,
    };

    /// Interrupts the handler saw, across bindings.
    pub static HANDLED: AtomicU32 = AtomicU32::new(0);

    pub struct Counter;

    impl irq::Handler for Counter {
        fn handle(&self) -> irq::IrqReturn {
            HANDLED.fetch_add(1, Ordering::SeqCst);
            irq::IrqReturn::Handled
        }
    }

    #[pin_data]
    pub struct Data<'bound> {
        pub bar: pci::Bar<'bound, 0x100>,
        #[pin]
        irq: irq::Registration<'bound, Counter>,
        vectors: pci::IrqVectorRegistration<'bound>,
        /// A buffer of 4 KiB and, beside it, a canary page.
        pub buffer: Coherent<[u8]>,
        pub canary: Coherent<[u8]>,
    }

    impl Data<'_> {
        /// Starts a transfer between edu's buffer and `addr`, wherever that is.
        pub fn transfer(&self, addr: u64, len: u32, to_memory: bool) {
            let device = edu::BUFFER_BASE as u32;
            let (src, dst) = if to_memory {
                (device, addr as u32)
            } else {
                (addr as u32, device)
            };
            self.bar.write32(src, 0x80);
            self.bar.write32(dst, 0x88);
            self.bar.write32(len, 0x90);
            self.bar.write32(1 | if to_memory { 2 } else { 0 }, 0x98);
        }
    }

    mod edu {
        pub(super) const BUFFER_BASE: u64 = 0x40000;
    }

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [(
            pci::DeviceId::from_class(pci::Class::OTHERS.as_raw(), pci::ClassMask::Full.as_raw()),
            ()
        )]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = Data<'bound>;
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<Data<'bound>, Error> + 'bound {
            pin_init::pin_init_scope(move || {
                if pdev.device_id() != 0x11e8 {
                    return Err(ENODEV);
                }
                pdev.enable_device_mem()?;
                pdev.set_master();
                // SAFETY: nothing else allocates DMA memory for the device during probe.
                unsafe { pdev.dma_set_mask_and_coherent(DmaMask::new::<28>())? };
                let bar = pdev.iomap_region_sized::<0x100>(0, c"wild")?;
                let buffer = Coherent::<u8>::zeroed_slice(pdev.as_ref(), 4096, GFP_KERNEL)?;
                let canary = Coherent::<u8>::from_slice(pdev.as_ref(), &[0xa5; 4096], GFP_KERNEL)?;
                let vectors = pdev.alloc_irq_vectors(1, 1, pci::IrqTypes::all())?;
                Ok(try_pin_init!(&this in Data {
                    bar,
                    vectors,
                    irq <- {
                        // SAFETY: `vectors` is initialised, pinned with `irq`, and dropped after it.
                        let vectors: &'bound pci::IrqVectorRegistration<'bound> =
                            unsafe { &(*this.as_ptr()).vectors };
                        // SAFETY: the registration is part of the driver data, never leaked.
                        unsafe {
                            irq::Registration::new(vectors.index(0)?.into(), irq::Flags::SHARED, c"wild", Ok(Counter))
                        }
                    },
                    buffer,
                    canary,
                }))
            })
        }
    }

    /// Proof that the test really has a bound device in hand.
    pub fn bound(_: &pci::Device<Bound>) {}

    kernel::module_pci_driver! {
        type: Driver,
        name: "wild",
        license: "GPL",
    }
}

#[test]
fn an_allocation_failure_in_probe_leaves_the_device_unbound() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    {
        let failure = AllocFailure::next(1);
        let _module = bus.load(&keeper::__DRYDOCK_MODULE).unwrap();
        assert_eq!(failure.injected(), 1);
        assert!(!device.is_bound());
    }
    // DMA allocations fail on purpose too: skip the two kernel allocations before it.
    {
        let failure = AllocFailure::after(2, 1);
        let _module = bus.load(&keeper::__DRYDOCK_MODULE).unwrap();
        assert_eq!(failure.injected(), 1);
        assert!(!device.is_bound());
        let pdev = bus.bus().device(device.name()).unwrap();
        assert_eq!(
            pdev.dev.devres_count(),
            0,
            "the failed probe released its resources"
        );
    }
    let _module = bus.load(&keeper::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    device
        .with_driver::<keeper::Driver, _>(|_, data| {
            assert_eq!(data.scratch[0], 7);
            assert_eq!(data.dma.len(), 16);
        })
        .unwrap();
}

#[test]
fn a_bar_smaller_than_asked_for_fails_the_probe() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&greedy::__DRYDOCK_MODULE).unwrap();
    assert!(!device.is_bound());
    // The region claimed before the size check was released again.
    let pdev = bus.bus().device(device.name()).unwrap();
    pdev.request_region(0, c"test").unwrap();
}

#[test]
fn a_device_managed_bar_is_revoked_at_unbind() {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let module = bus.load(&keeper::__DRYDOCK_MODULE).unwrap();
    let bar = device
        .with_driver::<keeper::Driver, _>(|dev, data| {
            // With the bound device as proof, access is direct.
            assert!(data.bar.access(dev.as_ref()).is_ok());
            data.bar.clone()
        })
        .unwrap();
    assert!(bar.try_access().is_some());
    drop(module);
    assert!(
        bar.try_access().is_none(),
        "the BAR was revoked when the driver unbound"
    );
    let pdev = bus.bus().device(device.name()).unwrap();
    pdev.request_region(0, c"test")
        .expect("the revoked BAR released its region");
}

#[test]
fn dma_outside_every_buffer_is_blocked_and_recorded() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&wild::__DRYDOCK_MODULE).unwrap();
    let (buffer, canary) = device
        .with_driver::<wild::Driver, _>(|dev, data| {
            wild::bound(dev);
            (data.buffer.dma_address(), data.canary.dma_address())
        })
        .unwrap();
    // A page no allocation covers: below the lowest of the two buffers.
    let outside = buffer.min(canary) - 0x10000;
    device.model().fill_buffer(&[0x77; 64]);
    device
        .with_driver::<wild::Driver, _>(|_, data| data.transfer(outside, 64, true))
        .unwrap();
    assert_eq!(
        device.dma_faults(),
        vec![DmaFault {
            addr: outside,
            write: true
        }]
    );
    device
        .with_driver::<wild::Driver, _>(|_, data| {
            // SAFETY: the device is idle (its transfer completed synchronously).
            let canary = unsafe { data.canary.as_ref() };
            assert!(canary.iter().all(|&b| b == 0xa5), "the canary is untouched");
            // A read from outside reaches the device as zeros.
            data.transfer(outside, 64, false);
        })
        .unwrap();
    assert_eq!(&device.model().buffer()[..64], &[0; 64]);
    assert_eq!(device.dma_faults().len(), 2);
    assert!(device.function().fatal_errors().is_empty());
}

#[test]
fn an_interrupt_after_its_registration_is_gone_reaches_no_handler() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let module = bus.load(&wild::__DRYDOCK_MODULE).unwrap();
    let before = wild::HANDLED.load(Ordering::SeqCst);
    let ctx = device.function().context();
    ctx.raise_msi(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while wild::HANDLED.load(Ordering::SeqCst) == before {
        assert!(
            std::time::Instant::now() < deadline,
            "the interrupt was not handled"
        );
        std::thread::yield_now();
    }
    drop(module);
    let after = wild::HANDLED.load(Ordering::SeqCst);
    ctx.raise_msi(0);
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert_eq!(
        wild::HANDLED.load(Ordering::SeqCst),
        after,
        "no handler ran after unbind"
    );
    assert!(!device.is_bound());
}
