//! Cases that drive the guest's devices through drydock's own VFIO backend
//! (`drydock_host::vfio`): BARs mapped and trapped, config space, MSI and INTx, DMA through the
//! shared pool, reset, and the errors a user meets.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use drydock_guest::layout::{self, Role, DEVICES};
use drydock_host::errno::Errno;
use drydock_host::error::HostError;
use drydock_host::function::{IrqKind, PciFunction};
use drydock_host::irq;
use drydock_host::mmio;
use drydock_host::pci::PciDeviceRef;
use drydock_host::sysfs::{Sysfs, NOIOMMU_CDEV_PREFIX, NOIOMMU_MODE_PARAMETER};
use drydock_host::uio;
use drydock_host::vfio::{self, VfioFunction, VfioOptions};
use kernel::bindings;

use super::{ensure, in_kernel, CaseResult};
use crate::interrupts::{host_interrupts, host_interrupts_listed, vfio_intx, vfio_msi};
use crate::kmsg::KernelLog;
use crate::{edu, sysfs};

/// edu's interrupt status register.
const REG_IRQ_STATUS: usize = 0x24;
/// edu's interrupt acknowledge register.
const REG_IRQ_ACK: usize = 0x64;
/// edu's status bit that raises an interrupt when a factorial completes.
const STATUS_IRQ_FACTORIAL: u32 = 0x80;
/// edu's DMA registers.
const REG_DMA_SRC: usize = 0x80;
const REG_DMA_DST: usize = 0x88;
const REG_DMA_COUNT: usize = 0x90;
const REG_DMA_CMD: usize = 0x98;
/// The device-side address of edu's DMA buffer.
const EDU_BUFFER: u64 = 0x40000;

fn err(e: HostError) -> String {
    e.to_string()
}

/// The errno of a host function, named as the kernel's `Error` names it.
fn kerr(e: Errno) -> String {
    format!("{:?}", kernel::error::Error::from(e))
}

fn read32(bar: usize, offset: usize) -> u32 {
    // SAFETY: `bar` is a live BAR mapping (or trapped region) of edu's 1 MiB BAR0, and every
    // offset used is aligned and inside it.
    unsafe { mmio::read(core::ptr::with_exposed_provenance::<u32>(bar + offset)) }
}

fn write32(bar: usize, offset: usize, value: u32) {
    // SAFETY: as in `read32`.
    unsafe {
        mmio::write(
            core::ptr::with_exposed_provenance_mut::<u32>(bar + offset),
            value,
        )
    }
}

fn read64(bar: usize, offset: usize) -> u64 {
    // SAFETY: as in `read32`; the 64-bit DMA registers are 8-byte aligned.
    unsafe { mmio::read(core::ptr::with_exposed_provenance::<u64>(bar + offset)) }
}

/// Gives `address` back to the driver it had before drydock took it, checking that this is
/// `original` (`None`: no driver).
fn give_back(address: &str, original: Option<&str>) -> CaseResult {
    sysfs::give_back(address)?;
    ensure!(
        sysfs::driver(address).as_deref() == original,
        "{address} is bound to {:?} after giving it back to {original:?}",
        sysfs::driver(address)
    );
    Ok(())
}

/// Binds edu to vfio-pci and opens it through drydock, memory decoding enabled; returns the
/// device and its BAR0 address.
fn open_edu(options: VfioOptions) -> Result<(PciDeviceRef, usize), String> {
    let address = edu::address();
    sysfs::bind(&address, "vfio-pci")?;
    let pdev = vfio::open(&address, &Sysfs::system(), options).map_err(err)?;
    pdev.enable_device_mem().map_err(kerr)?;
    let (bar, len) = pdev.iomap(0).map_err(kerr)?;
    ensure!(len == 1 << 20, "BAR0 is {len:#x} bytes, expected 1 MiB");
    // edu keeps its state across opens: start from a quiet device.
    write32(bar, edu::REG_STATUS, 0);
    write32(bar, REG_IRQ_ACK, read32(bar, REG_IRQ_STATUS));
    Ok((pdev, bar))
}

/// Checks identification, liveness and a factorial through `bar`.
fn check_registers(bar: usize) -> CaseResult {
    let id = read32(bar, edu::REG_ID);
    ensure!(id == edu::EDU_ID, "id register reads {id:#010x}");
    for value in [0x1234_5678u32, 0xa5a5_0f0f] {
        write32(bar, edu::REG_LIVENESS, value);
        let read = read32(bar, edu::REG_LIVENESS);
        ensure!(read == !value, "liveness: wrote {value:#x}, read {read:#x}");
    }
    factorial(bar, 10)?;
    let result = read32(bar, edu::REG_FACTORIAL);
    ensure!(result == 3_628_800, "10! = {result}");
    println!("id {id:#010x}, liveness ok, 10! = {result}");
    Ok(())
}

/// edu's BAR0 mapped with mmap: registers read and write through plain loads and stores.
pub fn drydock_vfio_edu_bar_mmap() -> CaseResult {
    let (pdev, bar) = open_edu(VfioOptions::default())?;
    ensure!(
        !mmio::is_trapped(bar),
        "BAR0 at {bar:#x} was trapped, expected a mapping"
    );
    check_registers(bar)?;
    pdev.iounmap(bar);
    Ok(())
}

/// edu's BAR0 forced through the pread/pwrite fallback: the same registers, and an 8-byte
/// register read split into two 4-byte accesses (6.1 does at most 4 bytes per region access).
pub fn drydock_vfio_edu_bar_fallback() -> CaseResult {
    let (pdev, bar) = open_edu(VfioOptions {
        trap_bars: true,
        ..VfioOptions::default()
    })?;
    ensure!(
        mmio::is_trapped(bar),
        "BAR0 at {bar:#x} is a mapping, expected a trapped region"
    );
    check_registers(bar)?;
    // DMA source register: a 4-byte write sets the whole 64-bit register; an 8-byte read through
    // the fallback must return it whole (two 4-byte reads; edu answers 0xffffffff to a 4-byte read
    // of the high half, so the halves are read separately: low at 0x80, high at 0x84).
    write32(bar, REG_DMA_SRC, 0x1234_5678);
    let value = read64(bar, REG_DMA_SRC);
    println!("8-byte read of the DMA source register through the fallback: {value:#018x}");
    ensure!(
        value & 0xffff_ffff == 0x1234_5678,
        "low half of an 8-byte fallback read is {value:#x}"
    );
    pdev.iounmap(bar);
    Ok(())
}

/// pci-testdev's BAR1 is an I/O port BAR, which VFIO cannot map: it is served by the fallback.
pub fn drydock_vfio_io_bar_fallback() -> CaseResult {
    let address = layout::device(Role::PciTestdev).address();
    sysfs::bind(&address, "vfio-pci")?;
    let pdev = vfio::open(&address, &Sysfs::system(), VfioOptions::default()).map_err(err)?;
    let bar1 = pdev.function().bar(1).ok_or("pci-testdev has no BAR1")?;
    println!("BAR1: {bar1:?}");
    ensure!(
        bar1.kind == drydock_host::function::BarKind::Io,
        "BAR1 is {:?}",
        bar1.kind
    );
    pdev.config_write(0x04, [0x03u8, 0x00]).map_err(err)?; // I/O and memory decoding
    let (io, len) = pdev.iomap(1).map_err(kerr)?;
    ensure!(mmio::is_trapped(io), "the I/O BAR was not trapped");
    ensure!(len == 256, "BAR1 is {len} bytes");
    // Writing the test number at offset 0 selects a test (reads return 0 until one is); its header
    // (test, width, offset, data, count) is followed at 16 by its name, "portio-no-eventfd".
    // SAFETY: offset 0 is inside the live 256-byte trapped region.
    unsafe { mmio::write(core::ptr::with_exposed_provenance_mut::<u8>(io), 0u8) };
    let name: Vec<u8> = (0..20)
        .map(|i| {
            // SAFETY: inside the live 256-byte trapped region.
            unsafe { mmio::read(core::ptr::with_exposed_provenance::<u8>(io + 16 + i)) }
        })
        .take_while(|&b| b != 0)
        .collect();
    let name = String::from_utf8_lossy(&name).into_owned();
    println!("pci-testdev BAR1 test name: {name:?}");
    ensure!(name.starts_with("portio"), "unexpected test name {name:?}");
    pdev.iounmap(io);
    Ok(())
}

/// Config space: identity, a command-register write read back, and an access past the end
/// returning an error.
pub fn drydock_vfio_config_space() -> CaseResult {
    let (pdev, bar) = open_edu(VfioOptions::default())?;
    let function = pdev.function();
    let mut id = [0u8; 4];
    function.config_read(0, &mut id).map_err(err)?;
    ensure!(
        id == [0x34, 0x12, 0xe8, 0x11],
        "vendor/device bytes {id:02x?}"
    );
    let size = function.config_size();
    println!("config space: {size} bytes");
    ensure!(size == 256, "edu's config space is {size} bytes");
    pdev.set_master();
    let mut command = [0u8; 2];
    function.config_read(4, &mut command).map_err(err)?;
    let command = u16::from_le_bytes(command);
    ensure!(
        command & 0x6 == 0x6,
        "command register {command:#06x}: memory and master not both set"
    );
    pdev.clear_master();
    let mut after = [0u8; 2];
    function.config_read(4, &mut after).map_err(err)?;
    ensure!(
        u16::from_le_bytes(after) & 0x4 == 0,
        "bus master still set after clear_master"
    );
    let past = function.config_read(0xfe, &mut [0u8; 4]);
    println!("read past the end: {past:?}");
    ensure!(past.is_err(), "a config read past the end succeeded");
    pdev.iounmap(bar);
    Ok(())
}

/// What an interrupt handler needs: BAR0 and a counter.
struct HandlerData {
    bar: usize,
    count: AtomicU32,
}

/// Acknowledges every pending edu interrupt cause and counts the interrupt.
unsafe fn edu_handler(dev_id: *mut kernel::ffi::c_void) -> u32 {
    // SAFETY: the cases pass a pointer to a `HandlerData` that outlives the registration.
    let data = unsafe { &*dev_id.cast::<HandlerData>() };
    let pending = read32(data.bar, REG_IRQ_STATUS);
    if pending == 0 {
        return irq::IRQ_NONE;
    }
    write32(data.bar, REG_IRQ_ACK, pending);
    data.count.fetch_add(1, Ordering::SeqCst);
    irq::IRQ_HANDLED
}

/// Runs three interrupting factorials with vectors of `types` and counts the interrupts.
fn count_interrupts(types: u32) -> CaseResult {
    count_interrupts_with(|| open_edu(VfioOptions::default()), types)
}

/// [`count_interrupts`] on the edu `open` returns.
fn count_interrupts_with(
    open: impl FnOnce() -> Result<(PciDeviceRef, usize), String>,
    types: u32,
) -> CaseResult {
    let (pdev, bar) = open()?;
    pdev.set_master();
    let count = pdev.alloc_irq_vectors(1, 1, types).map_err(kerr)?;
    ensure!(
        count == 1 && pdev.irq_type() == types,
        "got {count} vectors of type {}",
        pdev.irq_type()
    );
    let line = pdev.irq_vector(0).map_err(kerr)?;
    let data = HandlerData {
        bar,
        count: AtomicU32::new(0),
    };
    let dev_id = core::ptr::from_ref(&data).cast_mut().cast();
    // SAFETY: `data` outlives the registration, freed below.
    unsafe { irq::request_irq(line, edu_handler, None, false, c"drydock-test", dev_id) }
        .map_err(kerr)?;
    write32(bar, edu::REG_STATUS, STATUS_IRQ_FACTORIAL);
    let mut outcome = Ok(());
    for n in 1..=3u32 {
        write32(bar, edu::REG_FACTORIAL, 5 + n);
        let start = Instant::now();
        while data.count.load(Ordering::SeqCst) < n {
            if start.elapsed() > Duration::from_secs(5) {
                outcome = Err(format!(
                    "interrupt {n} not delivered in 5 s (irq status {:#x})",
                    read32(bar, REG_IRQ_STATUS)
                ));
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        if outcome.is_err() {
            break;
        }
    }
    write32(bar, edu::REG_STATUS, 0);
    irq::free_irq(line, dev_id);
    let delivered = irq::delivered(line);
    pdev.free_irq_vectors();
    println!(
        "{} interrupts handled, {delivered} delivered to the line",
        data.count.load(Ordering::SeqCst)
    );
    outcome?;
    ensure!(
        delivered == 3,
        "the line saw {delivered} interrupts, expected 3"
    );
    pdev.iounmap(bar);
    Ok(())
}

/// Three factorial interrupts by MSI, each handled once.
pub fn drydock_vfio_edu_msi() -> CaseResult {
    count_interrupts(bindings::PCI_IRQ_MSI)
}

/// Three factorial interrupts by INTx, each handled once and unmasked after the handler.
pub fn drydock_vfio_edu_intx() -> CaseResult {
    count_interrupts(bindings::PCI_IRQ_INTX)
}

/// Masking and shutting down a vector, by MSI and by INTx: a disabled line keeps what arrives
/// pending and delivers it once when enabled again; freeing the last handler disconnects the
/// vector at VFIO (per vector, so the host interrupt of an MSI disappears from
/// `/proc/interrupts`); requesting it again connects it, and a level-triggered INTx whose cause is
/// still there fires again while an MSI sent meanwhile is gone. VFIO itself masks only INTx.
pub fn drydock_vfio_irq_masking() -> CaseResult {
    let address = edu::address();
    mask_and_shut_down(bindings::PCI_IRQ_MSI, &vfio_msi(0, &address))?;
    mask_and_shut_down(bindings::PCI_IRQ_INTX, &vfio_intx(&address))
}

/// [`drydock_vfio_irq_masking`] with vectors of `types`, whose host interrupt VFIO names
/// `host_irq` in `/proc/interrupts`.
fn mask_and_shut_down(types: u32, host_irq: &str) -> CaseResult {
    let (pdev, bar) = open_edu(VfioOptions::default())?;
    pdev.set_master();
    pdev.alloc_irq_vectors(1, 1, types).map_err(kerr)?;
    let line = pdev.irq_vector(0).map_err(kerr)?;
    let data = HandlerData {
        bar,
        count: AtomicU32::new(0),
    };
    let dev_id = core::ptr::from_ref(&data).cast_mut().cast();
    let handled = || data.count.load(Ordering::SeqCst);
    let outcome = (|| -> CaseResult {
        // SAFETY: `data` outlives the registration, freed at the end of this closure or below.
        unsafe { irq::request_irq(line, edu_handler, None, false, c"drydock-test", dev_id) }
            .map_err(kerr)?;
        write32(bar, edu::REG_STATUS, STATUS_IRQ_FACTORIAL);
        let fired_before = host_interrupts(host_irq)?;

        // Disabled twice: the interrupt stays pending through one enable.
        irq::disable_irq(line).map_err(kerr)?;
        irq::disable_irq(line).map_err(kerr)?;
        factorial(bar, 5)?;
        std::thread::sleep(Duration::from_millis(200));
        ensure!(
            handled() == 0,
            "the handler ran while the line was disabled"
        );
        // An MSI vector is the device's own; an INTx pin may be shared with other devices.
        let fired = host_interrupts(host_irq)? - fired_before;
        let expected = if types == bindings::PCI_IRQ_MSI {
            1..=1
        } else {
            1..=u64::MAX
        };
        ensure!(
            expected.contains(&fired),
            "the host interrupt fired {fired} times, expected {expected:?}"
        );
        irq::enable_irq(line).map_err(kerr)?;
        std::thread::sleep(Duration::from_millis(200));
        ensure!(handled() == 0, "the handler ran with one disable left");
        irq::enable_irq(line).map_err(kerr)?;
        wait_until(|| handled() == 1, "the pending interrupt after enable_irq")?;
        println!("{host_irq}: held while disabled, delivered once when enabled");

        // Shut down with the last handler, the vector no longer reaches the process.
        irq::free_irq(line, dev_id);
        let after_free = host_interrupts_listed(host_irq)?;
        println!("{host_irq} after free_irq: {after_free:?}");
        if types == bindings::PCI_IRQ_MSI {
            ensure!(
                after_free.is_none(),
                "VFIO kept the host interrupt of the freed MSI vector"
            );
        }
        factorial(bar, 6)?;
        std::thread::sleep(Duration::from_millis(100));
        let cause = read32(bar, REG_IRQ_STATUS);
        ensure!(cause != 0, "edu did not raise its interrupt cause");
        // SAFETY: as above.
        unsafe { irq::request_irq(line, edu_handler, None, false, c"drydock-test", dev_id) }
            .map_err(kerr)?;
        if types == bindings::PCI_IRQ_MSI {
            ensure!(
                host_interrupts_listed(host_irq)?.is_some(),
                "requesting the MSI vector again did not connect it at VFIO"
            );
            std::thread::sleep(Duration::from_millis(300));
            ensure!(
                handled() == 1,
                "an MSI sent while its vector was shut down was delivered"
            );
            write32(bar, REG_IRQ_ACK, cause);
        } else {
            wait_until(
                || handled() == 2,
                "INTx, still asserted, after its vector was started again",
            )?;
        }
        let before = handled();
        factorial(bar, 7)?;
        wait_until(|| handled() == before + 1, "an interrupt after restarting")?;
        write32(bar, edu::REG_STATUS, 0);
        irq::free_irq(line, dev_id);
        Ok(())
    })();
    pdev.free_irq_vectors();
    pdev.iounmap(bar);
    outcome
}

/// Starts a factorial of `n` and waits for the device to finish it.
fn factorial(bar: usize, n: u32) -> CaseResult {
    write32(bar, edu::REG_FACTORIAL, n);
    wait_until(
        || read32(bar, edu::REG_STATUS) & 1 == 0,
        "the factorial's completion",
    )
}

/// Waits up to 5 s for `cond`.
fn wait_until(cond: impl Fn() -> bool, what: &str) -> CaseResult {
    let start = Instant::now();
    while !cond() {
        ensure!(
            start.elapsed() < Duration::from_secs(5),
            "{what}: not in 5 s"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

/// Waits for edu's DMA engine to finish.
fn wait_dma(bar: usize) -> CaseResult {
    let start = Instant::now();
    while read32(bar, REG_DMA_CMD) & 1 != 0 {
        ensure!(
            start.elapsed() < Duration::from_secs(3),
            "DMA still running after 3 s"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

/// Starts an edu DMA of `count` bytes and waits for it: `to_device` copies RAM at `iova` into
/// the device buffer, otherwise the device buffer into RAM at `iova`.
fn edu_dma(bar: usize, iova: u64, count: u32, to_device: bool) -> CaseResult {
    let (src, dst, cmd) = if to_device {
        (iova, EDU_BUFFER, 1)
    } else {
        (EDU_BUFFER, iova, 3)
    };
    write32(bar, REG_DMA_SRC, src as u32);
    write32(bar, REG_DMA_DST, dst as u32);
    write32(bar, REG_DMA_COUNT, count);
    write32(bar, REG_DMA_CMD, cmd);
    wait_dma(bar)
}

/// A DMA round trip: RAM -> edu -> other RAM, through IOVAs edu's pool allocated under edu's
/// 28-bit mask.
pub fn drydock_vfio_edu_dma_round_trip() -> CaseResult {
    let (pdev, bar) = open_edu(VfioOptions::default())?;
    dma_round_trip(&pdev, bar)
}

/// Sends a 4095-byte pattern RAM -> edu -> other RAM through `pdev`'s DMA space.
fn dma_round_trip(pdev: &PciDeviceRef, bar: usize) -> CaseResult {
    pdev.set_master();
    let space = pdev.function().dma_space();
    let out = space.alloc_coherent(4096, edu::DMA_MASK).map_err(err)?;
    let back = space.alloc_coherent(4096, edu::DMA_MASK).map_err(err)?;
    println!("bus addresses {:#x} and {:#x}", out.dma_addr, back.dma_addr);
    for region in [&out, &back] {
        ensure!(
            region.dma_addr + 4095 <= edu::DMA_MASK,
            "bus address {:#x} is above edu's 28-bit mask",
            region.dma_addr
        );
    }
    const LEN: usize = 4095;
    let pattern: Vec<u8> = (0..LEN).map(|i| (i * 7 + 3) as u8).collect();
    // SAFETY: `out` is 4096 bytes of memory owned by the allocation, not yet handed to the device.
    unsafe { core::ptr::copy_nonoverlapping(pattern.as_ptr(), out.cpu_addr.as_ptr(), LEN) };
    edu_dma(bar, out.dma_addr, LEN as u32, true)?;
    edu_dma(bar, back.dma_addr, LEN as u32, false)?;
    // SAFETY: the device finished writing `back`; 4096 bytes owned by the allocation.
    let got = unsafe { core::slice::from_raw_parts(back.cpu_addr.as_ptr(), LEN) }.to_vec();
    let same = got == pattern;
    space.free_coherent(&out);
    space.free_coherent(&back);
    ensure!(
        same,
        "the {LEN} bytes that came back differ from those sent"
    );
    println!("{LEN} bytes went RAM -> edu -> RAM unchanged");
    pdev.iounmap(bar);
    Ok(())
}

/// The DMA pool maps one 2 MiB chunk and serves 100 small allocations from it: exactly one
/// `VFIO_IOMMU_MAP_DMA`, every IOVA under edu's 28-bit mask.
pub fn drydock_vfio_dma_pool_one_map() -> CaseResult {
    let address = edu::address();
    sysfs::bind(&address, "vfio-pci")?;
    let function =
        VfioFunction::open(&address, &Sysfs::system(), VfioOptions::default()).map_err(err)?;
    let pool = function
        .dma_pool()
        .ok_or("the VFIO container has no DMA pool")?;
    let before = pool.mapper().map_ioctls();
    let regions = (0..100)
        .map(|_| pool.alloc(64, edu::DMA_MASK))
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let maps = pool.mapper().map_ioctls() - before;
    let highest = regions
        .iter()
        .map(|r| r.dma_addr + r.size as u64 - 1)
        .max()
        .unwrap_or(0);
    println!(
        "100 x 64-byte allocations: {maps} VFIO_IOMMU_MAP_DMA, {} chunk(s), highest IOVA {highest:#x}",
        pool.stats().chunks
    );
    for region in &regions {
        pool.free(region);
    }
    ensure!(maps == 1, "{maps} MAP_DMA ioctls, expected exactly 1");
    ensure!(
        highest <= edu::DMA_MASK,
        "IOVA {highest:#x} is above the 28-bit mask"
    );
    let unmaps = pool.mapper().unmap_ioctls();
    ensure!(
        unmaps == 0,
        "{unmaps} UNMAP_DMA while the chunk stays mapped"
    );
    Ok(())
}

/// The IOMMU's valid IOVA ranges: read with `VFIO_IOMMU_GET_INFO` through the group (the raw
/// answer printed), or with `IOMMU_IOAS_IOVA_RANGES` through the device cdev; neither covers the
/// MSI window.
pub fn drydock_vfio_iova_ranges() -> CaseResult {
    let address = edu::address();
    sysfs::bind(&address, "vfio-pci")?;
    let function =
        VfioFunction::open(&address, &Sysfs::system(), VfioOptions::default()).map_err(err)?;
    let ranges = match (function.group(), function.device().ioas()) {
        (Some(group), _) => {
            let container = group.container();
            let bytes = container.iommu_info_bytes().map_err(err)?;
            println!("VFIO_IOMMU_GET_INFO answer ({} bytes):", bytes.len());
            for line in bytes.chunks(16) {
                println!(
                    "  {}",
                    line.iter()
                        .map(|b| format!("{b:02x}"))
                        .collect::<Vec<_>>()
                        .join(" ")
                );
            }
            let info = container.iommu_info().map_err(err)?;
            println!("{info:#x?}");
            info.iova_ranges
                .ok_or("the kernel reported no IOVA ranges")?
        }
        (None, Some(ioas)) => {
            let (ranges, alignment) = ioas.iova_ranges().map_err(err)?;
            println!(
                "IOMMU_IOAS_IOVA_RANGES of IOAS {} ({}): {ranges:#x?}, alignment {alignment:#x}",
                ioas.id(),
                ioas.cdev()
            );
            ensure!(
                alignment <= 4096,
                "the IOAS asks for IOVAs aligned to {alignment:#x}"
            );
            ranges
        }
        (None, None) => return Err("edu was opened through neither a group nor a cdev".into()),
    };
    ensure!(!ranges.is_empty(), "no valid IOVA range");
    ensure!(
        ranges
            .iter()
            .all(|&(first, last)| last < 0xfee0_0000 || first > 0xfeef_ffff),
        "a valid IOVA range covers the MSI window: {ranges:#x?}"
    );
    Ok(())
}

/// With no interface asked for, drydock takes the device cdev where the kernel offers it (the
/// device's `vfio-dev/vfioN` has a device number and `/dev/iommu` exists) and the group
/// otherwise, and logs which.
pub fn drydock_vfio_interface_is_chosen() -> CaseResult {
    let address = edu::address();
    sysfs::bind(&address, "vfio-pci")?;
    ensure!(
        std::env::var_os(vfio::INTERFACE_ENV).is_none(),
        "{} is set in the case's environment",
        vfio::INTERFACE_ENV
    );
    let sys = Sysfs::system();
    let cdev = sys.vfio_cdev(&address);
    let iommufd = std::path::Path::new(vfio::IOMMUFD_PATH).exists();
    println!(
        "{address}: device cdev {cdev:?}, {} present: {iommufd}",
        vfio::IOMMUFD_PATH
    );
    let expected = if cdev.is_some() && iommufd {
        vfio::Interface::Cdev
    } else {
        vfio::Interface::Group
    };
    let log = drydock_runner::logger::capture();
    let function = VfioFunction::open(&address, &sys, VfioOptions::default()).map_err(err)?;
    let chosen = function.device().interface();
    println!("chosen: {chosen}");
    ensure!(
        chosen == expected,
        "drydock chose {chosen}, expected {expected}"
    );
    let line = match expected {
        vfio::Interface::Cdev => format!(
            "{address}: through the VFIO device cdev {}",
            vfio::cdev_path(cdev.as_deref().unwrap_or_default())
        ),
        vfio::Interface::Group => format!("{address}: through VFIO group"),
    };
    ensure!(log.contains(&line), "the log does not say `{line}`");
    Ok(())
}

/// edu has no reset method: drydock says so. The second NVMe controller has FLR: reset works.
pub fn drydock_vfio_reset() -> CaseResult {
    let (pdev, _bar) = open_edu(VfioOptions::default())?;
    let edu_reset = pdev.function().reset();
    println!("edu reset: {edu_reset:?}");
    ensure!(
        matches!(edu_reset, Err(HostError::Unsupported { .. })),
        "edu reset returned {edu_reset:?}, expected Unsupported"
    );
    let nvme = DEVICES
        .iter()
        .find(|d| matches!(d.role, Role::Nvme { index: 1, .. }))
        .ok_or("no second NVMe controller in the layout")?
        .address();
    sysfs::bind(&nvme, "vfio-pci")?;
    let result = (|| {
        let function =
            VfioFunction::open(&nvme, &Sysfs::system(), VfioOptions::default()).map_err(err)?;
        ensure!(
            function.device().can_reset(),
            "VFIO reports no reset for the NVMe controller"
        );
        // A witness the reset must clear: the controller's configuration register, set with
        // the controller left disabled (I/O queue entry sizes only).
        let mut command = [0u8; 2];
        function.config_read(4, &mut command).map_err(err)?;
        let command = u16::from_le_bytes(command) | 0x2;
        function
            .config_write(4, &command.to_le_bytes())
            .map_err(err)?;
        let bar = function.map_bar(0).map_err(err)?;
        const NVME_CC: usize = 0x14;
        const CC_QUEUE_ENTRY_SIZES: u32 = 0x0046_0000;
        write32(bar.addr, NVME_CC, CC_QUEUE_ENTRY_SIZES);
        let before = read32(bar.addr, NVME_CC);
        ensure!(
            before == CC_QUEUE_ENTRY_SIZES,
            "CC reads {before:#010x} after writing {CC_QUEUE_ENTRY_SIZES:#010x}"
        );
        function.reset().map_err(err)?;
        let mut id = [0u8; 4];
        function.config_read(0, &mut id).map_err(err)?;
        ensure!(
            id == [0x36, 0x1b, 0x10, 0x00],
            "NVMe identity after reset: {id:02x?}"
        );
        let after = read32(bar.addr, NVME_CC);
        ensure!(
            after == 0,
            "CC reads {after:#010x} after the reset, expected its reset value 0"
        );
        println!("NVMe {nvme}: VFIO_DEVICE_RESET ok, CC {before:#010x} -> {after:#010x}");
        Ok(())
    })();
    // Give the controller back to the kernel's driver, as later cases expect.
    give_back(&nvme, Some("nvme"))?;
    result
}

/// A device bound to its kernel driver (the e1000e NIC) is refused with the bind command.
pub fn drydock_vfio_wrong_driver() -> CaseResult {
    let nic = layout::device(Role::E1000e).address();
    let result = vfio::open(&nic, &Sysfs::system(), VfioOptions::default());
    let Err(error) = result else {
        return Err(format!("{nic} opened through VFIO while bound to e1000e"));
    };
    let message = error.to_string();
    println!("{message}");
    ensure!(
        matches!(&error, HostError::WrongDriver { current: Some(d), .. } if d == "e1000e"),
        "unexpected error: {error:?}"
    );
    ensure!(
        message.contains(&format!("drydock bind {nic}")),
        "the message does not give the bind command"
    );
    Ok(())
}

/// A group with a member bound to another driver is not viable: drydock names that member and
/// its driver. The ICH9 functions at 00:1f.x share a group; one is bound to vfio-pci, another
/// to uio_pci_generic.
pub fn drydock_vfio_group_not_viable() -> CaseResult {
    let sys = Sysfs::system();
    // Bridges (the ICH9 LPC bridge) are left alone: vfio-pci would put them in D3hot.
    let endpoints = |g: u32| -> Option<Vec<String>> {
        let members = sys.group_members(g).ok()?;
        Some(
            members
                .into_iter()
                .filter(|m| sys.device(m).is_ok_and(|d| d.class >> 16 != 0x06))
                .collect(),
        )
    };
    let (group, members) = (0..64u32)
        .filter_map(|g| Some((g, endpoints(g)?)))
        .find(|(_, m)| m.len() >= 2)
        .ok_or("no IOMMU group with two or more endpoints in this guest")?;
    println!("group {group}: endpoints {members:?}");
    let originals: Vec<Option<String>> = members.iter().map(|m| sysfs::driver(m)).collect();
    let (target, other) = (&members[0], &members[1]);
    for (member, original) in members.iter().zip(&originals) {
        println!("  {member}: {}", original.as_deref().unwrap_or("no driver"));
    }
    let result = (|| {
        if sysfs::driver(other).is_none() {
            sysfs::bind(other, "uio_pci_generic")?;
        }
        let blocker = sysfs::driver(other).unwrap_or_default();
        sysfs::bind(target, "vfio-pci")?;
        let error = match vfio::open(target, &sys, VfioOptions::default()) {
            Ok(_) => {
                return Err(format!(
                    "{target} opened although {other} is bound to {blocker}"
                ))
            }
            Err(error) => error,
        };
        println!("{error}");
        ensure!(
            matches!(&error, HostError::GroupNotViable { group: g, others }
                if *g == group && others.iter().any(|(a, d)| a == other && *d == blocker)),
            "unexpected error: {error:?}"
        );
        Ok(())
    })();
    for (member, original) in members.iter().zip(&originals) {
        give_back(member, original.as_deref())?;
    }
    result
}

/// Without an IOMMU, drydock says how to enable one.
pub fn drydock_vfio_no_iommu() -> CaseResult {
    let address = edu::address();
    let error = match vfio::open(&address, &Sysfs::system(), VfioOptions::default()) {
        Ok(_) => return Err("edu opened through VFIO without an IOMMU".into()),
        Err(error) => error,
    };
    println!("{error}");
    ensure!(
        matches!(error, HostError::NoIommu),
        "unexpected error: {error:?}"
    );
    ensure!(
        error.to_string().contains("intel_iommu=on"),
        "the message lacks the kernel parameter"
    );
    ensure!(
        error
            .to_string()
            .contains("vfio.enable_unsafe_noiommu_mode=1"),
        "the message lacks VFIO's no-IOMMU mode"
    );
    Ok(())
}

/// Turns VFIO's no-IOMMU mode on or off.
fn set_noiommu_mode(on: bool) -> CaseResult {
    let path = std::path::Path::new("/").join(NOIOMMU_MODE_PARAMETER);
    let value = if on { "1" } else { "0" };
    std::fs::write(&path, value)
        .map_err(|e| format!("cannot write {value} to {}: {e}", path.display()))
}

/// With VFIO's no-IOMMU mode on, vfio-pci takes edu into a `vfio-noiommu` group with the node
/// `/dev/vfio/noiommu-<N>`, and the edu driver's binary runs its self-test through it (factorials,
/// a DMA round trip to physical addresses, MSI), logging what it logs in the kernel; as `_cdev`,
/// through the device's no-IOMMU cdev (`/dev/vfio/devices/noiommu-vfioN`) instead. The mode is
/// switched off again and edu released, so later cases see the kernel as it booted.
pub fn drydock_vfio_noiommu_edu() -> CaseResult {
    let address = edu::address();
    ensure!(
        !Sysfs::system().vfio_noiommu_mode(),
        "VFIO's no-IOMMU mode is on before the case"
    );
    set_noiommu_mode(true)?;
    ensure!(
        Sysfs::system().vfio_noiommu_mode(),
        "VFIO's no-IOMMU mode is still off after writing its parameter"
    );
    let result = run_edu_without_iommu(&address);
    let restored = sysfs::release(&address).and_then(|()| set_noiommu_mode(false));
    result.and(restored)
}

/// Binds edu to vfio-pci in no-IOMMU mode, checks its group, and runs the edu driver on it.
fn run_edu_without_iommu(address: &str) -> CaseResult {
    let mut kernel_log = KernelLog::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    kernel_log
        .read_new()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    sysfs::bind(address, "vfio-pci")?;
    let group = sysfs::iommu_group(address)?
        .ok_or_else(|| format!("vfio-pci bound {address} without giving it a group"))?;
    let name = sysfs::read(std::path::Path::new(&format!(
        "/sys/kernel/iommu_groups/{group}/name"
    )))?;
    let node = format!("/dev/vfio/noiommu-{group}");
    println!("{address}: IOMMU group {group}, named {name:?}; node {node}");
    ensure!(name == "vfio-noiommu", "group {group} is named {name:?}");
    ensure!(
        std::path::Path::new(&node).exists(),
        "{node} does not exist"
    );

    let lines = in_kernel::drydock_run(&in_kernel::EDU, in_kernel::EDU.params, address)?;
    let log = kernel_log
        .read_new()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    println!("--- kernel log ---\n{log}");
    in_kernel::check_expected(in_kernel::EDU.expected, &lines)?;
    // The kernel records a process opening the device through a no-IOMMU group, not through the
    // no-IOMMU cdev; the run's interface is the one the case's process set for the driver's.
    let opened = log.contains(&format!(
        "{address}: vfio-noiommu device opened by user (edu:"
    ));
    match vfio::Interface::requested(None).map_err(|e| e.to_string())? {
        Some(vfio::Interface::Cdev) => {
            let cdev = Sysfs::system()
                .vfio_cdev(address)
                .ok_or_else(|| format!("{address} has no VFIO device cdev"))?;
            println!("{address}: VFIO device cdev {cdev}");
            ensure!(
                cdev.starts_with(NOIOMMU_CDEV_PREFIX),
                "{address}'s cdev {cdev} is not a no-IOMMU one"
            );
            ensure!(
                !opened,
                "the kernel logged that the edu driver opened {address} through its group, not \
                 its no-IOMMU cdev"
            );
        }
        _ => ensure!(
            opened,
            "the kernel did not log that the edu driver opened {address} in no-IOMMU mode"
        ),
    }
    Ok(())
}

/// Two devices opened in one process each have a DMA domain of their own (a container per group,
/// or an IOAS per cdev): a buffer of pci-testdev's, mapped in its domain only, is out of edu's
/// reach. edu's DMA from that buffer's IOVA does not bring its bytes (the IOMMU blocks it, or the
/// IOVA is one of edu's own with other memory behind it), while edu's own buffers go through.
pub fn drydock_vfio_domain_per_device() -> CaseResult {
    let (edu_dev, bar) = open_edu(VfioOptions::default())?;
    let testdev = layout::device(Role::PciTestdev).address();
    sysfs::bind(&testdev, "vfio-pci")?;
    let other = vfio::open(&testdev, &Sysfs::system(), VfioOptions::default()).map_err(err)?;
    let (mine, theirs) = (edu_dev.function().dma_space(), other.function().dma_space());
    ensure!(
        !std::ptr::addr_eq(
            std::sync::Arc::as_ptr(&mine),
            std::sync::Arc::as_ptr(&theirs)
        ),
        "edu and pci-testdev share one DMA space"
    );
    edu_dev.set_master();
    const LEN: usize = 4095;
    let fill = |region: &drydock_host::dma::CoherentRegion, pattern: &[u8]| {
        // SAFETY: `region` is 4096 bytes of memory owned by its allocation, which no device is
        // accessing.
        unsafe { core::ptr::copy_nonoverlapping(pattern.as_ptr(), region.cpu_addr.as_ptr(), LEN) }
    };
    let read = |region: &drydock_host::dma::CoherentRegion| {
        // SAFETY: as above; the device's DMA has finished.
        unsafe { core::slice::from_raw_parts(region.cpu_addr.as_ptr(), LEN) }.to_vec()
    };
    let own: Vec<u8> = (0..LEN).map(|i| (i * 13 + 1) as u8).collect();
    let foreign: Vec<u8> = (0..LEN).map(|i| (i * 7 + 3) as u8).collect();
    let source = mine.alloc_coherent(4096, edu::DMA_MASK).map_err(err)?;
    let landing = mine.alloc_coherent(4096, edu::DMA_MASK).map_err(err)?;
    let theirs_buffer = theirs.alloc_coherent(4096, edu::DMA_MASK).map_err(err)?;
    fill(&source, &own);
    fill(&theirs_buffer, &foreign);
    // edu's own buffers: RAM -> edu -> RAM.
    edu_dma(bar, source.dma_addr, LEN as u32, true)?;
    edu_dma(bar, landing.dma_addr, LEN as u32, false)?;
    ensure!(
        read(&landing) == own,
        "edu's own buffer at {:#x} did not come back through {:#x}",
        source.dma_addr,
        landing.dma_addr
    );
    // pci-testdev's buffer, at an IOVA of its own domain: RAM? -> edu -> RAM.
    let edu_pool = vfio::dma_pool_of(mine.clone()).ok_or("edu's DMA space is not a VFIO pool")?;
    let shared_iova = edu_pool.allocated(theirs_buffer.dma_addr, LEN);
    println!(
        "edu's buffers at {:#x} and {:#x}; pci-testdev's at {:#x}, which in edu's domain is {}",
        source.dma_addr,
        landing.dma_addr,
        theirs_buffer.dma_addr,
        if shared_iova {
            "edu's own memory (the same IOVA, another mapping)"
        } else {
            "unmapped"
        }
    );
    edu_dma(bar, theirs_buffer.dma_addr, LEN as u32, true)?;
    edu_dma(bar, landing.dma_addr, LEN as u32, false)?;
    let got = read(&landing);
    mine.free_coherent(&source);
    mine.free_coherent(&landing);
    theirs.free_coherent(&theirs_buffer);
    ensure!(
        got != foreign,
        "edu read pci-testdev's buffer through IOVA {:#x}: the two devices share a DMA domain",
        theirs_buffer.dma_addr
    );
    println!("edu cannot reach pci-testdev's buffer: each device has its own DMA domain");
    edu_dev.iounmap(bar);
    Ok(())
}

/// Binds edu to uio_pci_generic and opens it through drydock's UIO backend, memory decoding
/// enabled; returns the device and its BAR0 address.
fn open_edu_uio() -> Result<(PciDeviceRef, usize), String> {
    let address = edu::address();
    sysfs::bind(&address, "uio_pci_generic")?;
    let pdev = uio::open(&address, &Sysfs::system()).map_err(err)?;
    pdev.enable_device_mem().map_err(kerr)?;
    let (bar, len) = pdev.iomap(0).map_err(kerr)?;
    ensure!(len == 1 << 20, "BAR0 is {len:#x} bytes, expected 1 MiB");
    ensure!(
        !mmio::is_trapped(bar),
        "BAR0 was trapped, expected a mapping of resource0"
    );
    write32(bar, edu::REG_STATUS, 0);
    write32(bar, REG_IRQ_ACK, read32(bar, REG_IRQ_STATUS));
    Ok((pdev, bar))
}

/// Through UIO: config space from sysfs, BAR0 mapped from `resource0`, INTx through
/// `/dev/uioN` re-enabled by clearing INTx Disable after each handler.
pub fn drydock_uio_edu_registers_and_intx() -> CaseResult {
    let (pdev, bar) = open_edu_uio()?;
    let mut id = [0u8; 4];
    pdev.function().config_read(0, &mut id).map_err(err)?;
    ensure!(
        id == [0x34, 0x12, 0xe8, 0x11],
        "vendor/device bytes {id:02x?}"
    );
    check_registers(bar)?;
    ensure!(
        pdev.function().irq_count(IrqKind::Msi) == 0,
        "UIO offered MSI"
    );
    drop(pdev);
    count_interrupts_with(open_edu_uio, bindings::PCI_IRQ_INTX)
}

/// Through UIO with the IOMMU in passthrough: a DMA round trip to physical addresses from
/// `/proc/self/pagemap`, under edu's 28-bit mask.
pub fn drydock_uio_edu_dma_round_trip() -> CaseResult {
    let (pdev, bar) = open_edu_uio()?;
    dma_round_trip(&pdev, bar)
}
