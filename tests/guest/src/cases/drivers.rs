//! Cases that run the drivers of `drivers/` on the guest's real devices, unchanged: the edu
//! driver through VFIO (MSI and INTx, DMA, a soak, a SIGKILL in the middle of a transfer) and
//! through UIO, and the pci-testdev driver through VFIO. (The buggy driver whose stray DMA the
//! IOMMU blocks is in [`super::isolation`].)
//!
//! Each case loads the driver's module into a [`Session`] over the device, exactly as the
//! driver's own binary does, and reaches the driver's data through
//! [`with_driver_data`], as tests on the simulated bus do.

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use drydock_host::module::ModuleDescriptor;
use drydock_host::pci::PciDeviceRef;
use drydock_host::sysfs::Sysfs;
use drydock_host::vfio::VfioOptions;
use drydock_runner::driver_data::with_driver_data;
use drydock_runner::runtime::{Backend, Devices, Options, Session};
use edu::{Edu, EduDriver, MAX_TRANSFER};
use kernel::device::Bound;
use kernel::pci::{self, IrqType};
use pci_testdev::{Test, TestdevDriver};

use super::{ensure, CaseResult};
use crate::interrupts::{host_interrupts, vfio_msi};
use crate::{edu as edu_device, sysfs};
use drydock_guest::layout::{self, Role};
use drydock_sim::pattern;

/// `n!` modulo 2^32, computed by the host.
fn factorial_mod_2_32(n: u32) -> u32 {
    (1..=n).fold(1u32, |acc, k| acc.wrapping_mul(k))
}

/// Binds the device in `role` to the backend's kernel driver and loads `module` over it.
pub(super) fn start(
    module: &'static ModuleDescriptor,
    role: Role,
    backend: Backend,
) -> Result<Session, String> {
    let address = layout::device(role).address();
    sysfs::bind(&address, backend.driver())?;
    let session =
        Session::load(module).map_err(|e| format!("loading module {}: {e:?}", module.info.name))?;
    session
        .open_devices(Options {
            backend,
            devices: Devices::Addresses(vec![address.clone()]),
            sysfs: Sysfs::system(),
        })
        .map_err(|e| format!("opening {address}: {e}"))?;
    ensure!(
        !session.bound().is_empty(),
        "{} did not bind to {address}: its probe failed (see the log above)",
        module.info.name
    );
    Ok(session)
}

/// Binds edu to vfio-pci and loads the edu driver over it.
pub(super) fn start_edu(backend: Backend) -> Result<Session, String> {
    start(&edu::__DRYDOCK_MODULE, Role::Edu, backend)
}

/// The default backend: VFIO, BARs mapped.
pub(super) fn vfio() -> Backend {
    Backend::Vfio(VfioOptions::default())
}

/// The session's one device.
pub(super) fn only_device(session: &Session) -> Result<PciDeviceRef, String> {
    session
        .bus()
        .devices()
        .into_iter()
        .next()
        .ok_or_else(|| "the session has no device".to_owned())
}

/// Runs `f` with the data of the driver `T` bound to the session's one device.
pub(super) fn with_driver<T: pci::Driver + 'static, R>(
    session: &Session,
    f: impl for<'b> FnOnce(&'b pci::Device<Bound>, core::pin::Pin<&'b T::Data<'b>>) -> R,
) -> Result<R, String> {
    let device = only_device(session)?;
    with_driver_data::<T, R>(&device, f).map_err(|e| format!("reaching the driver: {e:?}"))
}

/// Computes `0!` to `20!` and checks each against the host's arithmetic.
fn check_factorials(dev: &pci::Device<Bound>, edu: &Edu<'_>) -> CaseResult {
    for n in 0..=20 {
        let result = edu.factorial(dev, n).map_err(|e| format!("{n}!: {e:?}"))?;
        let expected = factorial_mod_2_32(n);
        ensure!(
            result == expected,
            "{n}! = {result} on the device, {expected} on the host"
        );
    }
    println!("0! to 20! equal the host's results modulo 2^32");
    Ok(())
}

/// Writes `data` to the device at `offset` and reads it back, comparing byte for byte.
fn round_trip(dev: &pci::Device<Bound>, edu: &Edu<'_>, offset: usize, data: &[u8]) -> CaseResult {
    edu.write_to_device(dev, offset, data)
        .map_err(|e| format!("DMA of {} bytes to offset {offset}: {e:?}", data.len()))?;
    let mut back = vec![0u8; data.len()];
    edu.read_from_device(dev, offset, &mut back)
        .map_err(|e| format!("DMA of {} bytes from offset {offset}: {e:?}", data.len()))?;
    if let Some(at) = back.iter().zip(data).position(|(a, b)| a != b) {
        return Err(format!(
            "{} bytes at offset {offset}: byte {at} came back {:#04x}, was {:#04x}",
            data.len(),
            back[at],
            data[at]
        ));
    }
    Ok(())
}

/// The transfers of [`check_round_trips`]: `(offset, length)`, from one byte to the largest
/// transfer, at aligned and odd offsets, reaching the buffer's last usable byte.
const ROUND_TRIPS: [(usize, usize); 10] = [
    (0, 1),
    (0, 7),
    (5, 64),
    (100, 511),
    (0, 1024),
    (1, 2048),
    (2047, 2048),
    (0, 4000),
    (0, MAX_TRANSFER),
    (4000, 95),
];

/// Round trips of random patterns at every size of [`ROUND_TRIPS`].
fn check_round_trips(dev: &pci::Device<Bound>, edu: &Edu<'_>) -> CaseResult {
    for (i, &(offset, len)) in ROUND_TRIPS.iter().enumerate() {
        round_trip(dev, edu, offset, &pattern(i as u64 + 1, len))?;
    }
    println!(
        "{} DMA round trips of 1 to {MAX_TRANSFER} bytes came back identical",
        ROUND_TRIPS.len()
    );
    Ok(())
}

/// Checks that the interrupts handled equal the operations completed.
fn check_counts(edu: &Edu<'_>, factorials: u64, transfers: u64) -> CaseResult {
    let events = edu.events();
    println!("{events:?}");
    ensure!(
        events.factorials == factorials && events.transfers == transfers,
        "{} factorials and {} transfers completed, expected {factorials} and {transfers}",
        events.factorials,
        events.transfers
    );
    ensure!(
        events.interrupts == factorials + transfers,
        "{} interrupts for {} operations",
        events.interrupts,
        factorials + transfers
    );
    Ok(())
}

/// Checks that the guest kernel saw edu's MSI fire `expected` times since it counted `before`
/// (`/proc/interrupts`): the driver's own count cannot hide a spurious or a doubled interrupt.
fn check_host_msi_count(before: u64, expected: u64) -> CaseResult {
    let fired = host_interrupts(&vfio_msi(0, &edu_device::address()))? - before;
    println!("the guest kernel counted {fired} MSIs from edu");
    ensure!(
        fired == expected,
        "the guest kernel counted {fired} MSIs from edu for {expected} operations"
    );
    Ok(())
}

/// The edu driver binds through VFIO with MSI, computes factorials equal to the host's, and
/// handles one interrupt per factorial; the guest kernel counts as many MSIs.
pub fn edu_driver_factorials_msi() -> CaseResult {
    let session = start_edu(vfio())?;
    let before = host_interrupts(&vfio_msi(0, &edu_device::address()))?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        ensure!(
            matches!(edu.irq_type(), IrqType::Msi),
            "interrupts by {:?}, expected MSI",
            edu.irq_type()
        );
        check_factorials(dev, &edu)?;
        check_counts(&edu, 21, 0)
    })??;
    check_host_msi_count(before, 21)?;
    session.stop();
    Ok(())
}

/// DMA round trips of random patterns at many sizes and offsets, byte for byte, one interrupt
/// per transfer; the guest kernel counts as many MSIs.
pub fn edu_driver_dma_round_trips() -> CaseResult {
    let session = start_edu(vfio())?;
    let before = host_interrupts(&vfio_msi(0, &edu_device::address()))?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        check_round_trips(dev, &edu)?;
        // A transfer that would reach the buffer's last byte is refused before the device is
        // touched: QEMU 7.2 aborts on it.
        ensure!(
            edu.write_to_device(dev, 1, &[0; MAX_TRANSFER]).is_err(),
            "a transfer to the last byte of the buffer was accepted"
        );
        check_counts(&edu, 0, 2 * ROUND_TRIPS.len() as u64)
    })??;
    check_host_msi_count(before, 2 * ROUND_TRIPS.len() as u64)?;
    session.stop();
    Ok(())
}

/// With `use_intx=1`, the driver signals completion by INTx on a device that has MSI.
pub fn edu_driver_intx() -> CaseResult {
    edu::__DRYDOCK_MODULE.set_param("use_intx=1")?;
    let session = start_edu(vfio())?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        ensure!(
            matches!(edu.irq_type(), IrqType::Intx),
            "interrupts by {:?} although use_intx=1",
            edu.irq_type()
        );
        check_factorials(dev, &edu)?;
        round_trip(dev, &edu, 3, &pattern(7, 1500))?;
        check_counts(&edu, 21, 2)
    })??;
    session.stop();
    Ok(())
}

/// The edu driver with BAR0 reached through pread/pwrite instead of a mapping.
pub fn edu_driver_trapped_bars() -> CaseResult {
    let session = start_edu(Backend::Vfio(VfioOptions {
        trap_bars: true,
        ..VfioOptions::default()
    }))?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        check_factorials(dev, &edu)?;
        round_trip(dev, &edu, 0, &pattern(11, 700))?;
        check_counts(&edu, 21, 2)
    })??;
    session.stop();
    Ok(())
}

/// The edu driver through UIO (no IOMMU translation; INTx): factorials and DMA round trips.
pub fn edu_driver_uio() -> CaseResult {
    let session = start_edu(Backend::Uio)?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        ensure!(
            matches!(edu.irq_type(), IrqType::Intx),
            "interrupts by {:?} through UIO, which has only INTx",
            edu.irq_type()
        );
        check_factorials(dev, &edu)?;
        check_round_trips(dev, &edu)?;
        check_counts(&edu, 21, 2 * ROUND_TRIPS.len() as u64)
    })??;
    session.stop();
    Ok(())
}

/// The soak's iterations.
const SOAK_ITERATIONS: u64 = 1000;
/// Every this many iterations, the soak also makes a DMA round trip (a transfer takes about
/// 100 ms of QEMU's virtual clock, a factorial well under 1 ms).
const SOAK_DMA_EVERY: u64 = 10;

/// 1000 iterations of a factorial, with a DMA round trip of random size and offset every tenth:
/// every result right, one interrupt per operation, no file descriptor leaked.
pub fn edu_driver_soak() -> CaseResult {
    let fds_before = open_fds()?;
    let session = start_edu(vfio())?;
    let start = Instant::now();
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        for i in 0..SOAK_ITERATIONS {
            let n = (i % 21) as u32;
            let result = edu
                .factorial(dev, n)
                .map_err(|e| format!("iteration {i}: {e:?}"))?;
            ensure!(
                result == factorial_mod_2_32(n),
                "iteration {i}: {n}! = {result}"
            );
            if i % SOAK_DMA_EVERY == 0 {
                let random = pattern(i + 1000, 2);
                let len =
                    1 + usize::from(u16::from_le_bytes([random[0], random[1]])) % MAX_TRANSFER;
                let offset = (i as usize * 37) % (MAX_TRANSFER - len + 1);
                round_trip(dev, &edu, offset, &pattern(i, len))
                    .map_err(|e| format!("iteration {i}: {e}"))?;
            }
        }
        let transfers = 2 * SOAK_ITERATIONS.div_ceil(SOAK_DMA_EVERY);
        check_counts(&edu, SOAK_ITERATIONS, transfers)
    })??;
    println!(
        "{SOAK_ITERATIONS} iterations in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    session.stop();
    let fds_after = open_fds()?;
    ensure!(
        fds_after == fds_before,
        "{fds_before} file descriptors open before the soak, {fds_after} after it"
    );
    Ok(())
}

/// The number of file descriptors this process has open.
fn open_fds() -> Result<usize, String> {
    std::fs::read_dir("/proc/self/fd")
        .map(|dir| dir.count())
        .map_err(|e| format!("cannot list /proc/self/fd: {e}"))
}

/// What [`edu_driver_dma_child`] prints before each transfer.
const TRANSFER_STARTS: &str = "transfer starts";
/// What it prints after each.
const TRANSFER_DONE: &str = "transfer done";

/// Not listed: the child process of [`edu_driver_restarts_after_sigkill`]. Binds edu and writes
/// to it by DMA until killed, announcing each transfer on standard output.
pub fn edu_driver_dma_child() -> CaseResult {
    let session = start_edu(vfio())?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        let data = pattern(99, MAX_TRANSFER);
        for _ in 0..1000 {
            println!("{TRANSFER_STARTS}");
            edu.write_to_device(dev, 0, &data)
                .map_err(|e| format!("DMA to the device: {e:?}"))?;
            println!("{TRANSFER_DONE}");
        }
        Err("1000 transfers and nobody killed me".to_owned())
    })?
}

/// The edu driver is killed with SIGKILL while a transfer is in flight; started again, it binds
/// and works: the kernel released the device with the process, and probe quiesces what the
/// killed driver left running.
pub fn edu_driver_restarts_after_sigkill() -> CaseResult {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;
    let mut killed_mid_transfer = false;
    for attempt in 1..=5 {
        let mut child = Command::new(&exe)
            .args(["case", "edu_driver_dma_child"])
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the driver: {e}"))?;
        let stdout = child.stdout.take().ok_or("no pipe from the driver")?;
        let (lines_tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if lines_tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Let a few transfers complete, then kill 20 ms into the next one (of about 100 ms).
        let mut started = 0;
        while started < 3 {
            match lines.recv_timeout(Duration::from_secs(30)) {
                Ok(line) => started += usize::from(line == TRANSFER_STARTS),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("attempt {attempt}: the driver never started DMA"));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(20));
        child
            .kill()
            .map_err(|e| format!("cannot kill the driver: {e}"))?;
        let status = child
            .wait()
            .map_err(|e| format!("waiting for the driver: {e}"))?;
        ensure!(
            status.signal() == Some(libc::SIGKILL),
            "the driver ended with {status}, not by SIGKILL"
        );
        let _ = reader.join();
        let last = lines.try_iter().last();
        // The kill landed mid-transfer unless the transfer finished in the 20 ms.
        if last.as_deref() != Some(TRANSFER_DONE) {
            println!("attempt {attempt}: killed with a transfer in flight");
            killed_mid_transfer = true;
            break;
        }
        println!("attempt {attempt}: the transfer finished before the kill; again");
    }
    ensure!(
        killed_mid_transfer,
        "five attempts never killed the driver mid-transfer"
    );
    let address = edu_device::address();
    ensure!(
        sysfs::driver(&address).as_deref() == Some("vfio-pci"),
        "after the kill, {address} is bound to {:?}",
        sysfs::driver(&address)
    );
    let session = start_edu(vfio())?;
    with_driver::<EduDriver, _>(&session, |dev, edu| {
        check_factorials(dev, &edu)?;
        round_trip(dev, &edu, 10, &pattern(5, 3000))?;
        check_counts(&edu, 21, 2)
    })??;
    session.stop();
    println!("started again, the driver computes and transfers correctly");
    Ok(())
}

/// The pci-testdev driver through VFIO: its probe runs the device's three MMIO tests, and each
/// counts exactly the writes that reach the device (QEMU's ioeventfds take the others).
pub fn pci_testdev_driver_vfio() -> CaseResult {
    let session = start(&pci_testdev::__DRYDOCK_MODULE, Role::PciTestdev, vfio())?;
    with_driver::<TestdevDriver, _>(&session, |_, testdev| {
        for (report, test) in testdev.reports().iter().zip(Test::ALL) {
            println!("{report:?}");
            ensure!(
                (report.count_after_mismatch, report.count_after_match) == test.expected_counts(),
                "test {test:?} counted {report:?}, expected {:?}",
                test.expected_counts()
            );
        }
        for test in Test::ALL {
            let report = testdev.run(test).map_err(|e| format!("{test:?}: {e:?}"))?;
            let mut name = [0u8; 64];
            let len = testdev
                .test_name(&mut name)
                .map_err(|e| format!("{test:?}'s name: {e:?}"))?;
            let name = String::from_utf8_lossy(&name[..len]);
            println!("{test:?} is the device's `{name}`; run again: {report:?}");
            ensure!(
                name.starts_with("mmio-"),
                "test {test:?} is the device's {name:?}"
            );
        }
        Ok(())
    })??;
    session.stop();
    Ok(())
}
