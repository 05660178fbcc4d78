//! Cases that check that the IOMMU contains a device's DMA: a deliberately buggy edu driver
//! ([`crate::stray_dma`]) has edu write and read outside every mapping it has, write to a
//! buffer it freed, and write above edu's DMA mask; each case asserts the IOMMU's fault report
//! (direction and address) and that no memory of the process changed.

use std::time::Duration;

use drydock_guest::layout::Role;
use drydock_host::dma::pool::{DmaPool, CHUNK_SIZE};
use drydock_host::vfio::{self, VfioMapper};
use kernel::device::Bound;
use kernel::dma::{Coherent, DmaAddress};
use kernel::pci;
use kernel::prelude::GFP_KERNEL;

use super::drivers::{only_device, start, vfio, with_driver};
use super::{ensure, CaseResult};
use crate::edu as edu_device;
use crate::kmsg::{KernelLog, Record};
use crate::stray_dma::{StrayDma, StrayDmaDriver, CANARY_BYTE, MARKER};

/// Loads the stray-DMA driver over edu through VFIO and runs `f` with the device, the driver's
/// data and edu's DMA pool; stops the session and returns `f`'s result with the IOMMU's reports
/// (the kernel's `DMAR` lines) logged meanwhile.
fn with_stray_dma<R>(
    f: impl for<'b> FnOnce(
        &'b pci::Device<Bound>,
        &StrayDma<'b>,
        &DmaPool<VfioMapper>,
    ) -> Result<R, String>,
) -> Result<(R, Vec<String>), String> {
    let mut kernel_log = KernelLog::open().map_err(|e| format!("cannot open /dev/kmsg: {e}"))?;
    let earlier = kernel_log
        .read_records()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    wait_out_dmar_ratelimit(&earlier)?;
    let session = start(&crate::stray_dma::__DRYDOCK_MODULE, Role::Edu, vfio())?;
    let pool = vfio::dma_pool_of(only_device(&session)?.function().dma_space())
        .ok_or("edu's DMA space is not a VFIO pool")?;
    let result = with_driver::<StrayDmaDriver, _>(&session, |dev, driver| {
        driver
            .copy()
            .map_err(|e| format!("the correct copy failed: {e:?}"))?;
        f(dev, driver.get_ref(), &pool)
    })??;
    session.stop();
    let log = kernel_log
        .read_new()
        .map_err(|e| format!("cannot read /dev/kmsg: {e}"))?;
    let faults: Vec<String> = log
        .lines()
        .filter(|l| l.contains("DMAR"))
        .map(str::to_owned)
        .collect();
    println!("the IOMMU's report:\n{}", faults.join("\n"));
    Ok((result, faults))
}

/// The period of the kernel's rate limit on DMAR fault reports (`dmar_fault` allows 10 calls of
/// `__ratelimit` per `DEFAULT_RATELIMIT_INTERVAL`, 5 s, and spends several per fault: the status
/// line, each fault record, the scan's end), plus a margin for the difference between the
/// kernel log's clock and `/proc/uptime`'s.
const DMAR_RATELIMIT_WAIT: Duration = Duration::from_millis(5500);

/// Waits until the rate limit on DMAR fault reports in force during the last report in
/// `earlier` has run out, so that the fault a case provokes next is reported. A rate-limit
/// period starts with a report that is printed, so it ends at most 5 s after the last printed
/// one; cases that provoke faults one after another would otherwise see theirs suppressed.
fn wait_out_dmar_ratelimit(earlier: &[Record]) -> CaseResult {
    let last = earlier
        .iter()
        .filter(|r| r.text.contains("DMAR"))
        .filter_map(|r| r.micros)
        .max();
    let Some(last) = last else { return Ok(()) };
    let uptime = std::fs::read_to_string("/proc/uptime")
        .map_err(|e| format!("cannot read /proc/uptime: {e}"))?;
    let now = uptime
        .split_whitespace()
        .next()
        .and_then(|s| s.parse::<f64>().ok())
        .ok_or_else(|| format!("cannot parse /proc/uptime: {uptime:?}"))?;
    let until = Duration::from_micros(last) + DMAR_RATELIMIT_WAIT;
    if let Some(wait) = until.checked_sub(Duration::from_secs_f64(now)) {
        println!("waiting {wait:?} for the rate limit on DMAR reports to run out");
        std::thread::sleep(wait);
    }
    Ok(())
}

/// The highest page below the mapping that holds `address`: an address no mapping covers, right
/// beside one.
fn unmapped_page_below(
    pool: &DmaPool<VfioMapper>,
    address: DmaAddress,
) -> Result<DmaAddress, String> {
    let (first, last) = pool
        .unmapped_ranges()
        .into_iter()
        .filter(|&(_, last)| last < address)
        .max_by_key(|&(_, last)| last)
        .ok_or_else(|| format!("no unmapped range below {address:#x}"))?;
    let page = (last + 1).checked_sub(4096).filter(|&a| a >= first);
    page.ok_or_else(|| format!("the unmapped range below {address:#x} is under a page"))
}

/// The direction of a DMA access, as the IOMMU's report names it.
#[derive(Clone, Copy)]
enum Access {
    /// The device read memory.
    Read,
    /// The device wrote memory.
    Write,
}

impl Access {
    /// The kernel's name for it in a DMAR fault line.
    fn name(self) -> &'static str {
        match self {
            Access::Read => "DMA Read",
            Access::Write => "DMA Write",
        }
    }
}

/// Checks that the IOMMU reported edu's faults, and only those: each of `expected` (a direction
/// and an address) has a DMAR fault line of edu's, and every DMAR fault line of edu's is one of
/// them.
fn ensure_edu_dma_faults(faults: &[String], expected: &[(Access, DmaAddress)]) -> CaseResult {
    // Linux 6.1 names the device by bus, device and function (`[00:02.0]`), 7.3 by its whole
    // address (`[0000:00:02.0]`).
    let device = edu_device::address();
    let names = [format!("[{device}]"), format!("[{}]", &device[5..])];
    let edu_faults: Vec<&String> = faults
        .iter()
        .filter(|l| l.contains("fault addr ") && names.iter().any(|n| l.contains(n.as_str())))
        .collect();
    // The kernel prints `fault addr 0x%llx [fault reason ...`: the space ends the address.
    let is = |line: &str, (access, address): (Access, DmaAddress)| {
        line.contains(access.name()) && line.contains(&format!("fault addr {address:#x} "))
    };
    for &(access, address) in expected {
        ensure!(
            edu_faults.iter().any(|l| is(l, (access, address))),
            "the kernel logged no DMAR fault for {device}'s {} at {address:#x}",
            access.name()
        );
    }
    for line in edu_faults {
        ensure!(
            expected.iter().any(|&fault| is(line, fault)),
            "the kernel logged a DMAR fault of {device}'s that the case did not provoke: {line}"
        );
    }
    Ok(())
}

/// A driver that tells the device to write outside every mapping it has: the IOMMU blocks the
/// write and reports a fault, the canary beside the mapping is unchanged, the driver reports a
/// timeout, and the process goes on (the same driver then copies correctly).
pub fn edu_stray_dma_is_blocked_by_the_iommu() -> CaseResult {
    let (stray, faults) = with_stray_dma(|_, driver, pool| {
        let canary = driver.canary_address();
        let stray = unmapped_page_below(pool, canary)?;
        println!(
            "canary at {canary:#x}, landing buffer at {:#x}; telling the device to write to \
             {stray:#x}, the page below the canary's mapping",
            driver.landing_address(),
        );
        ensure_blocked_write(driver, stray)?;
        Ok(stray)
    })?;
    ensure_edu_dma_faults(&faults, &[(Access::Write, stray)])
}

/// Has the stray-DMA driver's device copy its marker to `address`, which no mapping covers for
/// the device, and checks what follows: the driver times out waiting for the marker, the canary
/// is unchanged, and the driver copies correctly afterwards.
fn ensure_blocked_write(driver: &StrayDma<'_>, address: DmaAddress) -> CaseResult {
    let result = driver.misdirected_copy(address);
    println!("the driver reports {result:?}");
    ensure!(
        result == Err(kernel::error::code::ETIMEDOUT),
        "the misdirected copy to {address:#x} returned {result:?}, expected ETIMEDOUT"
    );
    ensure!(
        driver.canary_intact().map_err(|e| format!("{e:?}"))?,
        "the canary changed: its bytes are no longer all {CANARY_BYTE:#04x}"
    );
    driver
        .copy()
        .map_err(|e| format!("the correct copy after the stray one failed: {e:?}"))
}

/// A driver that tells the device to read from an address outside every mapping it has: the
/// IOMMU blocks the read and reports a read fault there, and the device's buffer receives none
/// of the process's memory: QEMU gives the device zeros for the blocked read, where the same
/// read from the canary's address brings the canary's bytes.
pub fn edu_stray_dma_read_is_blocked_by_the_iommu() -> CaseResult {
    let (stray, faults) = with_stray_dma(|_, driver, pool| {
        let canary = driver.canary_address();
        let read = |source| {
            driver
                .read_into_device(source)
                .map_err(|e| format!("the device's read from {source:#x}: {e:?}"))
        };
        let held = read(canary)?;
        ensure!(
            held == [CANARY_BYTE; MARKER.len()],
            "the device read {held:02x?} from the canary at {canary:#x}"
        );
        let stray = unmapped_page_below(pool, canary)?;
        println!("canary at {canary:#x}; telling the device to read from {stray:#x}");
        let held = read(stray)?;
        println!("the device's buffer then holds {held:02x?}");
        ensure!(
            held == [0; MARKER.len()],
            "after its read from {stray:#x} the device's buffer holds {held:02x?}, not the \
             zeros QEMU gives for a blocked read"
        );
        ensure!(
            driver.canary_intact().map_err(|e| format!("{e:?}"))?,
            "the canary changed: its bytes are no longer all {CANARY_BYTE:#04x}"
        );
        driver
            .copy()
            .map_err(|e| format!("the correct copy after the stray read failed: {e:?}"))?;
        Ok(stray)
    })?;
    ensure_edu_dma_faults(&faults, &[(Access::Read, stray)])
}

/// A driver that frees a buffer large enough for a mapping of its own and then has the device
/// write to the buffer's address: the pool unmapped it when it was freed, so the IOMMU blocks
/// the write and reports a fault at that address, and no buffer of the process changes.
pub fn edu_dma_into_a_freed_dedicated_mapping_is_blocked() -> CaseResult {
    let (freed, faults) = with_stray_dma(|dev, driver, pool| {
        let before = pool.stats();
        // A piece of a chunk is at most half a chunk: this has a mapping of its own.
        let buffer = Coherent::<u8>::zeroed_slice(dev.as_ref(), CHUNK_SIZE, GFP_KERNEL)
            .map_err(|e| format!("allocating {CHUNK_SIZE} bytes: {e:?}"))?;
        let freed = buffer.dma_address();
        let mapped = pool.stats();
        drop(buffer);
        let after = pool.stats();
        println!(
            "a {CHUNK_SIZE}-byte buffer at {freed:#x}: {} map(s) to allocate it, {} unmap(s) \
             to free it",
            mapped.maps - before.maps,
            after.unmaps - mapped.unmaps
        );
        ensure!(
            (mapped.maps - before.maps, after.unmaps - mapped.unmaps) == (1, 1),
            "the buffer was not a mapping of its own, mapped once and unmapped when freed"
        );
        ensure!(
            pool.unmapped_ranges()
                .iter()
                .any(|&(first, last)| first <= freed && freed + CHUNK_SIZE as u64 - 1 <= last),
            "the freed buffer's addresses are not all unmapped"
        );
        println!("telling the device to write to the freed buffer at {freed:#x}");
        ensure_blocked_write(driver, freed)?;
        Ok(freed)
    })?;
    ensure_edu_dma_faults(&faults, &[(Access::Write, freed)])
}

/// edu drives 28 address bits, and its driver sets that mask: drydock maps every buffer of
/// edu's below 2^28, though the IOMMU translates far above it (and the pool allocates from the
/// top down). edu itself keeps only the low 28 bits of an address (QEMU's `edu_clamp_addr`),
/// so an address above the mask reaches its alias below: the copy to the landing buffer's
/// address plus 2^28 lands in the landing buffer, and a write to an unmapped page's address
/// plus 2^28 faults at the page itself, not above the mask.
pub fn edu_dma_above_the_mask_is_clamped() -> CaseResult {
    const MASK: DmaAddress = edu_device::DMA_MASK;
    let (stray, faults) = with_stray_dma(|dev, driver, pool| {
        let above = pool.unmapped_ranges().last().map(|&(_, last)| last);
        ensure!(
            above.is_some_and(|last| last > MASK),
            "the IOMMU translates nothing above edu's mask: the case would prove nothing"
        );
        let sizes = (1..=64)
            .map(|i| i * 4096)
            .chain([CHUNK_SIZE / 2 + 4096, CHUNK_SIZE]);
        let sizes: Vec<usize> = sizes.chain([CHUNK_SIZE * 2; 4]).collect();
        let buffers = sizes
            .iter()
            .map(|&size| Coherent::<u8>::zeroed_slice(dev.as_ref(), size, GFP_KERNEL))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("allocating edu's buffers: {e:?}"))?;
        let highest = buffers
            .iter()
            .map(|b| b.dma_address() + b.len() as u64 - 1)
            .max()
            .unwrap_or(0);
        println!(
            "{} buffers ({} bytes), {} chunk(s): highest IOVA {highest:#x}, the IOMMU's \
             highest {:#x}",
            buffers.len(),
            sizes.iter().sum::<usize>(),
            pool.stats().chunks,
            above.unwrap_or(0)
        );
        ensure!(
            highest <= MASK,
            "IOVA {highest:#x} is above edu's mask {MASK:#x}"
        );
        drop(buffers);
        let alias = driver.landing_address() | (MASK + 1);
        println!("telling the device to copy to {alias:#x}, the landing buffer plus 2^28");
        driver.misdirected_copy(alias).map_err(|e| {
            format!("the copy to {alias:#x} did not land in the landing buffer: {e:?}")
        })?;
        let stray = unmapped_page_below(pool, driver.canary_address())?;
        println!("telling the device to write to {:#x}", stray | (MASK + 1));
        ensure_blocked_write(driver, stray | (MASK + 1))?;
        Ok(stray)
    })?;
    // The fault names the clamped address, and nothing above the mask.
    ensure_edu_dma_faults(&faults, &[(Access::Write, stray)])
}
