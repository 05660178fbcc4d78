//! What a bound device hands out, through the mirror, on the simulated bus: DMA memory
//! (`CoherentBox`, `CoherentHandle`, `Attrs`, `[build: i]` projections on `Coherent`),
//! scatter-gather tables read back through the device's DMA space, device-managed resources
//! (`Devres`, `DevresLt`, `devres::register`) before and after unbind, and configuration space
//! (conventional and extended, reads and writes). Failure paths included: indices and sizes out of
//! range, allocation failures, access after unbind, a device that is not the managing one.
//!
//! A small driver binds the devices and keeps nothing; each test acts with the bound device it
//! gets from [`with_bound`], as a driver's probe would.

// The driver lives in a private module of this test crate; its `pub` items (and those
// `module_pci_driver!` generates) are public only in the sense a driver file needs.
#![allow(unreachable_pub)]

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc as StdArc;

use drydock_host::module::ModuleHandle;
use drydock_runner::driver_data::WithDriver;
use drydock_sim::{
    models::{Nvme, PciTestdev},
    DeviceModel, DmaFault, SimBus, SimDevice,
};
use kernel::device::Bound;
use kernel::error::{code::*, Error, Result};
use kernel::pci;
use kernel::prelude::{InPlaceInit, KBox, Pin, VVec, GFP_KERNEL};

/// A driver for pci-testdev and the NVMe controller that enables memory decoding and bus
/// mastering and keeps nothing.
mod bare {
    use kernel::{device::Core, pci, prelude::*};

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [
            (pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ()),
            (pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x10), ()),
        ]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = ();
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<(), Error> + 'bound {
            pdev.enable_device_mem()?;
            pdev.set_master();
            Ok(())
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "bare",
        license: "GPL",
    }
}

/// A bus with a pci-testdev in slot 3, bound to the bare driver.
fn bound_testdev() -> (SimBus, SimDevice<PciTestdev>, ModuleHandle) {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let module = bus.load(&bare::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    (bus, device, module)
}

/// Runs `f` with `device`, bound to the bare driver.
fn with_bound<M: DeviceModel, R>(
    device: &SimDevice<M>,
    f: impl FnOnce(&pci::Device<Bound>) -> R,
) -> R {
    device
        .with_driver::<bare::Driver, _>(|dev, _| f(dev))
        .unwrap()
}

/// Reads `len` bytes at bus address `addr` as the device's DMA does; every byte must be mapped.
fn device_reads<M: DeviceModel>(device: &SimDevice<M>, addr: u64, len: usize) -> Vec<u8> {
    let mut buf = vec![0; len];
    assert!(
        device.function().context().dma_read(addr, &mut buf),
        "DMA read of {len} bytes at {addr:#x} faulted: {:?}",
        device.dma_faults()
    );
    buf
}

/// A value that records that it was dropped.
struct DropFlag(StdArc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

mod dma {
    use super::*;
    use kernel::dma::{attrs::*, Coherent, CoherentBox, CoherentHandle};
    use kernel::io::{io_project, io_read, io_write};

    #[test]
    fn a_coherent_box_is_cpu_memory_the_device_sees_once_converted() {
        let (bus, device, _module) = bound_testdev();
        with_bound(&device, |dev| -> Result {
            let mut value = CoherentBox::<u64>::zeroed(dev.as_ref(), GFP_KERNEL)?;
            assert_eq!(*value, 0);
            *value = 0x0123_4567_89ab_cdef;
            let value: Coherent<u64> = value.into();
            assert_eq!(
                device_reads(&device, value.dma_address(), 8),
                0x0123_4567_89ab_cdef_u64.to_le_bytes()
            );

            let mut slice = CoherentBox::<[u32]>::zeroed_slice(dev.as_ref(), 4, GFP_KERNEL)?;
            slice.fill(7);
            slice.init_at(2, 9)?;
            // Out of range, and a failing initialiser: refused, the element unchanged.
            assert_eq!(slice.init_at(4, 1), Err(EINVAL));
            assert_eq!(slice.init_at(1, Err::<u32, _>(ENOSPC)), Err(ENOSPC));
            let slice: Coherent<[u32]> = slice.into();
            let words: Vec<u8> = [7u32, 7, 9, 7]
                .iter()
                .flat_map(|w| w.to_le_bytes())
                .collect();
            assert_eq!(device_reads(&device, slice.dma_address(), 16), words);

            let copy = CoherentBox::from_slice(dev.as_ref(), b"drydock", GFP_KERNEL)?;
            assert_eq!(&*copy, b"drydock");
            assert_eq!(
                CoherentBox::<[u8]>::zeroed_slice(dev.as_ref(), 0, GFP_KERNEL).err(),
                Some(EINVAL)
            );
            Ok(())
        })
        .unwrap();
        // Each allocation was freed with its box or `Coherent`.
        let pdev = bus.bus().device(device.name()).unwrap();
        assert_eq!(pdev.dev.dma_space().unwrap().stats().live_allocations, 0);
    }

    #[test]
    fn build_projections_on_coherent_memory_reach_the_elements_the_device_sees() {
        let (_bus, device, _module) = bound_testdev();
        with_bound(&device, |dev| -> Result {
            let ring = Coherent::<[[u32; 2]; 4]>::zeroed(dev.as_ref(), GFP_KERNEL)?;
            io_write!(ring, [build: 3][build: 1], 0xfeed_f00d);
            let element = io_project!(ring, [build: 3][build: 1]);
            assert_eq!(element.dma_address(), ring.dma_address() + 28);
            assert_eq!(
                device_reads(&device, element.dma_address(), 4),
                0xfeed_f00d_u32.to_le_bytes()
            );
            // What the device writes, the CPU reads through the projection.
            let ctx = device.function().context();
            assert!(ctx.dma_write(ring.dma_address() + 8, &0x1234_5678_u32.to_le_bytes()));
            assert_eq!(io_read!(ring, [build: 1][build: 0]), 0x1234_5678);
            assert_eq!(io_read!(ring, [build: 0][build: 0]), 0);
            Ok(())
        })
        .unwrap();
        assert!(device.dma_faults().is_empty());
    }

    #[test]
    fn a_coherent_handle_is_device_memory_of_the_size_asked_for() {
        let (_bus, device, _module) = bound_testdev();
        with_bound(&device, |dev| -> Result {
            let handle = CoherentHandle::alloc(dev.as_ref(), 3 * 4096 + 1, GFP_KERNEL)?;
            assert_eq!(handle.size(), 3 * 4096 + 1);
            // The device can write and read back every byte of it.
            let ctx = device.function().context();
            let pattern: Vec<u8> = (0..handle.size()).map(|i| (i % 251) as u8).collect();
            assert!(ctx.dma_write(handle.dma_address(), &pattern));
            assert_eq!(
                device_reads(&device, handle.dma_address(), handle.size()),
                pattern
            );
            assert_eq!(
                CoherentHandle::alloc(dev.as_ref(), 0, GFP_KERNEL).err(),
                Some(EINVAL)
            );
            Ok(())
        })
        .unwrap();
    }

    #[test]
    fn attributes_combine_and_are_accepted_by_every_allocation() {
        let attrs = DMA_ATTR_NO_WARN | DMA_ATTR_WRITE_COMBINE;
        assert!(attrs.contains(DMA_ATTR_NO_WARN) && attrs.contains(DMA_ATTR_WRITE_COMBINE));
        assert!(!attrs.contains(DMA_ATTR_PRIVILEGED));
        assert!((attrs & DMA_ATTR_NO_WARN) == DMA_ATTR_NO_WARN);
        assert!(!(attrs & !DMA_ATTR_NO_WARN).contains(DMA_ATTR_NO_WARN));
        assert!((attrs & !DMA_ATTR_NO_WARN).contains(DMA_ATTR_WRITE_COMBINE));

        let (_bus, device, _module) = bound_testdev();
        with_bound(&device, |dev| -> Result {
            let dev = dev.as_ref();
            let word = Coherent::<u64>::zeroed_with_attrs(dev, GFP_KERNEL, attrs)?;
            assert_eq!(device_reads(&device, word.dma_address(), 8), [0; 8]);
            let copy = Coherent::from_slice_with_attrs(dev, &[5u16, 6], GFP_KERNEL, attrs)?;
            assert_eq!(device_reads(&device, copy.dma_address(), 4), [5, 0, 6, 0]);
            let zeroes = CoherentBox::<[u8]>::zeroed_slice_with_attrs(dev, 3, GFP_KERNEL, attrs)?;
            assert_eq!(&*zeroes, &[0; 3]);
            let handle = CoherentHandle::alloc_with_attrs(dev, 64, GFP_KERNEL, attrs)?;
            assert_eq!(device_reads(&device, handle.dma_address(), 64).len(), 64);
            Ok(())
        })
        .unwrap();
    }
}

mod scatterlist {
    use super::*;
    use kernel::dma::DataDirection;
    use kernel::page::PAGE_SIZE;
    use kernel::scatterlist::{Owned, SGTable};

    type Table = Pin<KBox<SGTable<Owned<VVec<u8>>>>>;

    #[test]
    fn a_table_maps_its_pages_for_the_device_until_unbind() {
        let (_bus, device, module) = bound_testdev();
        let contents: Vec<u8> = (0..3 * PAGE_SIZE + 100).map(|i| (i % 253) as u8).collect();
        let table: Table = with_bound(&device, |dev| -> Result<Table> {
            let mut pages = VVec::with_capacity(contents.len(), GFP_KERNEL)?;
            pages.extend_from_slice(&contents, GFP_KERNEL)?;
            KBox::pin_init(
                SGTable::new(dev.as_ref(), pages, DataDirection::ToDevice, GFP_KERNEL),
                GFP_KERNEL,
            )
        })
        .unwrap();
        // Every segment, read at its bus address, holds its part of the pages, in order.
        let segments: Vec<(u64, usize)> = table
            .iter()
            .map(|entry| (entry.dma_address(), entry.dma_len() as usize))
            .collect();
        assert!(!segments.is_empty());
        let read: Vec<u8> = segments
            .iter()
            .flat_map(|&(addr, len)| device_reads(&device, addr, len))
            .collect();
        assert_eq!(read, contents);

        // Unbinding removes the mapping, though the table lives on: the device's reads fault.
        drop(module);
        let (addr, len) = segments[0];
        let mut buf = vec![0; len];
        assert!(!device.function().iommu().read(addr, &mut buf));
        assert_eq!(
            device.dma_faults().first(),
            Some(&DmaFault { addr, write: false })
        );
        assert_eq!(table.iter().count(), segments.len());
    }

    #[test]
    fn a_table_of_no_pages_is_refused() {
        let (_bus, device, _module) = bound_testdev();
        let result = with_bound(&device, |dev| {
            KBox::pin_init(
                SGTable::new(
                    dev.as_ref(),
                    VVec::<u8>::new(),
                    DataDirection::ToDevice,
                    GFP_KERNEL,
                ),
                GFP_KERNEL,
            )
            .err()
        });
        assert_eq!(result, Some(EINVAL));
    }
}

mod devres {
    use super::*;
    use drydock_host::fault::AllocFailure;
    use kernel::devres::{self, Devres};
    use kernel::io::Io;
    use kernel::sync::rcu;

    #[test]
    fn a_devres_value_is_dropped_at_unbind_and_unreachable_after() {
        let (_bus, device, module) = bound_testdev();
        let dropped = StdArc::new(AtomicBool::new(false));
        let value = with_bound(&device, |dev| -> Result<Devres<(u32, DropFlag)>> {
            let value = Devres::new(dev.as_ref(), (7, DropFlag(dropped.clone())))?;
            assert_eq!(value.access(dev.as_ref())?.0, 7);
            assert_eq!(value.try_access_with(|v| v.0 + 1), Some(8));
            assert_eq!(value.device().name(), dev.as_ref().name());
            Ok(value)
        })
        .unwrap();
        assert_eq!(value.try_access_with(|v| v.0), Some(7));
        assert!(!dropped.load(SeqCst));

        drop(module);
        assert!(dropped.load(SeqCst), "unbinding dropped the value");
        let called = AtomicBool::new(false);
        assert_eq!(value.try_access_with(|_| called.store(true, SeqCst)), None);
        assert!(!called.load(SeqCst), "the closure ran on a revoked value");
        assert!(value.try_access().is_none());
        assert!(value.try_access_with_guard(&rcu::read_lock()).is_none());
    }

    #[test]
    fn a_device_managed_bar_is_reached_with_its_device_only_until_unbind() {
        let bus = SimBus::new();
        let first = bus.add(3, PciTestdev::new());
        let second = bus.add(4, PciTestdev::new());
        let module = bus.load(&bare::__DRYDOCK_MODULE).unwrap();
        let bar = with_bound(&first, |dev| -> Result<pci::DevresBar<0x1000>> {
            let bar = dev
                .iomap_region_sized::<0x1000>(0, c"devres")?
                .into_devres()?;
            assert_eq!(bar.device().name(), dev.as_ref().name());
            // Select test 0, whose name starts at 0x10 and whose offset is at 0x4.
            let name = bar.access_with(dev.as_ref(), |bar| {
                bar.write8(0, 0x0);
                bar.read8(0x10)
            })?;
            assert_eq!(name, b'm');
            assert_eq!(bar.access(dev.as_ref())?.read32(0x4), 2048);
            // Another bound device is no proof that this one is bound.
            with_bound(&second, |other| {
                assert_eq!(bar.access_with(other.as_ref(), |_| ()).err(), Some(EINVAL));
                assert!(bar.access(other.as_ref()).is_err());
            });
            Ok(bar)
        })
        .unwrap();
        assert_eq!(bar.try_access_with(|bar| bar.read32(0x4)), Some(2048));
        assert_eq!(bar.try_access().map(|bar| bar.read8(0x10)), Some(b'm'));

        drop(module);
        assert_eq!(bar.try_access_with(|bar| bar.read32(0x4)), None);
        assert!(bar.try_access().is_none());
    }

    #[test]
    fn a_registered_value_lives_until_unbind() {
        let (bus, device, module) = bound_testdev();
        let pdev = bus.bus().device(device.name()).unwrap();
        let dropped = StdArc::new(AtomicBool::new(false));
        let before = pdev.dev.devres_count();
        with_bound(&device, |dev| {
            devres::register(dev.as_ref(), DropFlag(dropped.clone()), GFP_KERNEL)
        })
        .unwrap();
        assert_eq!(pdev.dev.devres_count(), before + 1);
        assert!(!dropped.load(SeqCst));
        drop(module);
        assert!(
            dropped.load(SeqCst),
            "unbinding dropped the registered value"
        );
        assert_eq!(pdev.dev.devres_count(), 0);
    }

    #[test]
    fn a_registration_that_fails_registers_nothing() {
        let (bus, device, _module) = bound_testdev();
        let pdev = bus.bus().device(device.name()).unwrap();
        let before = pdev.dev.devres_count();
        let dropped = StdArc::new(AtomicBool::new(false));
        with_bound(&device, |dev| {
            // The initialiser fails: its error is returned.
            let failing = Err::<DropFlag, Error>(ENXIO);
            assert_eq!(
                devres::register::<DropFlag, Error>(dev.as_ref(), failing, GFP_KERNEL),
                Err(ENXIO)
            );
            // The allocation fails: the value is dropped at once.
            let failure = AllocFailure::next(1);
            let value = DropFlag(dropped.clone());
            assert_eq!(
                devres::register(dev.as_ref(), value, GFP_KERNEL),
                Err(ENOMEM)
            );
            assert_eq!(failure.injected(), 1);
        });
        assert!(dropped.load(SeqCst));
        assert_eq!(pdev.dev.devres_count(), before);
    }
}

mod config_space {
    use super::*;
    use drydock_host::function::PciFunction;
    use kernel::io::{register, Io};
    use kernel::pci::ConfigSpaceSize;

    register! {
        COMMAND(u16) @ 0x4 {
            1:1 memory;
            2:2 master;
        }
    }

    #[test]
    fn the_extended_space_needs_a_pci_express_function() {
        let bus = SimBus::new();
        let testdev = bus.add(3, PciTestdev::new());
        let nvme = bus.add(4, Nvme::with_config(Default::default()));
        let _module = bus.load(&bare::__DRYDOCK_MODULE).unwrap();
        // pci-testdev is conventional PCI: 256 bytes.
        with_bound(&testdev, |dev| {
            assert!(dev.cfg_size() == ConfigSpaceSize::Normal);
            assert_eq!(dev.config_space_extended().err(), Some(EINVAL));
            let config = dev.config_space();
            assert_eq!(config.try_read32(0xfc), Ok(0));
            assert_eq!(config.try_read32(0x100), Err(EINVAL));
            assert_eq!(config.try_write32(0, 0x100), Err(EINVAL));
        });
        // The NVMe controller is PCI Express: 4096 bytes.
        with_bound(&nvme, |dev| {
            assert!(dev.cfg_size() == ConfigSpaceSize::Extended);
            let config = dev.config_space_extended().unwrap();
            assert_eq!(config.read16(0x0), 0x1b36);
            assert_eq!(config.read32(0x100), 0, "no extended capability");
            assert_eq!(config.try_read32(0xffc), Ok(0));
            assert_eq!(config.try_read32(0x1000), Err(EINVAL));
        });
    }

    #[test]
    fn writes_reach_the_function_and_read_only_fields_keep_their_value() {
        let (_bus, device, _module) = bound_testdev();
        with_bound(&device, |dev| -> Result {
            let config = dev.config_space();
            // The interrupt line is a scratch register for software.
            config.write8(0x5a, 0x3c);
            assert_eq!(config.read8(0x3c), 0x5a);
            let mut line = [0];
            device.function().config_read(0x3c, &mut line).unwrap();
            assert_eq!(line, [0x5a]);
            // The vendor ID is read-only.
            config.try_write16(0xffff, 0x0)?;
            assert_eq!(config.read16(0x0), 0x1b36);
            // Turning memory decoding off through the command register takes BAR 0 off the bus.
            let bar = dev.iomap_region_sized::<0x1000>(0, c"config")?;
            bar.write8(0, 0x0);
            assert_eq!(bar.read32(0x4), 2048);
            assert!(bool::from(config.read(COMMAND).master()));
            config.update(COMMAND, |command| command.with_memory(false));
            assert_eq!(bar.read32(0x4), u32::MAX);
            config.update(COMMAND, |command| command.with_memory(true));
            assert_eq!(bar.read32(0x4), 2048);
            Ok(())
        })
        .unwrap();
    }
}

mod uaccess {
    use super::*;
    use drydock_host::uaccess::UserMemory;
    use kernel::dma::Coherent;
    use kernel::uaccess::{UserPtr, UserSlice};

    #[test]
    fn a_writer_copies_what_the_device_wrote_to_coherent_memory() {
        let (_bus, device, _module) = bound_testdev();
        let mut user = [0u8; 8];
        with_bound(&device, |dev| -> Result {
            let buffer = Coherent::<[u8; 16]>::zeroed(dev.as_ref(), GFP_KERNEL)?;
            let ctx = device.function().context();
            assert!(ctx.dma_write(buffer.dma_address() + 4, b"from dev"));
            let _lent = UserMemory::writable(0x5000, &mut user);
            let mut writer = UserSlice::new(UserPtr::from_addr(0x5000), 8).writer();
            assert_eq!(
                writer.write_dma(&buffer, 12, 8),
                Err(ERANGE),
                "past the allocation"
            );
            assert_eq!(writer.write_dma(&buffer, usize::MAX, 2), Err(EOVERFLOW));
            writer.write_dma(&buffer, 4, 8)?;
            assert_eq!(
                writer.write_dma(&buffer, 0, 1),
                Err(ERANGE),
                "the writer is full"
            );
            Ok(())
        })
        .unwrap();
        assert_eq!(&user, b"from dev");
    }
}
