//! The driver runtime: open devices, load a driver module, run until told to stop, tear down.
//!
//! A driver binary's `main` is one call:
//!
//! ```no_run
//! use drydock_host::module::ModuleDescriptor;
//! use drydock_runner::runtime::{run, Options};
//!
//! /// `main` of a driver binary, given the module `module!` emitted.
//! fn driver_main(module: &'static ModuleDescriptor) -> std::process::ExitCode {
//!     run(module, Options::default())
//! }
//! ```
//!
//! [`run`] installs the logger, mounts the process's debugfs and configfs trees
//! (`drydock_host::debugfs`, `drydock_host::configfs`), has the misc devices the module registers
//! served as `/dev/NAME` through CUSE (`drydock_host::miscdevice`) and the disks it adds served with
//! ublk (`drydock_host::block`), loads the module into a [`Bus`], which registers its driver,
//! publishes the bus's state in the debugfs tree (`drydock/devices`, `drydock/interrupts`,
//! `drydock/dma`: `drydock_host::state`), and opens the devices bound to vfio-pci that the
//! driver's ID table matches (or the devices named in the options); the bus binds the driver to
//! each it matches (the kernel's matching, done by the bus) as it is added. A module that registers no PCI driver opens no device and stays loaded, as
//! after `insmod`. It then waits for `SIGINT` or `SIGTERM` and unloads the module: each bound
//! device's `remove()` runs, bus mastering is turned off, the driver's data is dropped and its
//! device-managed resources released (a misc device's registration, dropped, removes its node).
//! Then the devices are closed, and with the last one the VFIO groups and the container, the
//! state files are removed, and the debugfs and configfs trees are unmounted.
//!
//! While it waits, it also watches for the kernel asking for a device back (VFIO's device request
//! interrupt, `drydock_host::function::PciFunction::release_requests`): when the device is
//! removed (`echo 1 > /sys/bus/pci/devices/BDF/remove`) or unbound from vfio-pci, the kernel
//! waits until the process closes it. The runtime then removes the device from the bus, which
//! unbinds its driver as above, and closes it, so the kernel's removal returns; once every device
//! is gone, it unloads the module and [`serve`] returns [`Status::Released`] (exit code 0).
//!
//! A driver that panics in `probe` or `remove` is caught by the bus and its device released as
//! for a failed probe; a panic anywhere else in the session (module init, module exit) is caught
//! here, and unwinding drops the devices, so their files close and the kernel resets what VFIO
//! gave out. A panic in an interrupt handler, which runs on an interrupt thread, stops the session
//! as a signal does (see `drydock_host::irq`), and the driver is unbound in order. Signals are handled
//! with a self-pipe: the handler only writes the signal number to a pipe; all work happens in the
//! thread that called `run`.

use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use drydock_host::bus::Bus;
use drydock_host::error::{bind_command, HostError};
use drydock_host::exit_status;
use drydock_host::module::{ModuleDescriptor, ModuleHandle};
use drydock_host::pci::PciDeviceRef;
use drydock_host::sysfs::Sysfs;
use drydock_host::uio::{self, UIO_DRIVER};
use drydock_host::vfio::{self, VfioOptions, VFIO_DRIVER};
use kernel::error::Error;

/// Which backend reaches the devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// VFIO: devices bound to vfio-pci, behind the IOMMU.
    Vfio(VfioOptions),
    /// UIO: devices bound to uio_pci_generic, without DMA isolation.
    Uio,
}

impl Backend {
    /// The kernel driver the devices must be bound to.
    pub fn driver(&self) -> &'static str {
        match self {
            Backend::Vfio(_) => VFIO_DRIVER,
            Backend::Uio => UIO_DRIVER,
        }
    }

    /// Opens the device at `address`.
    pub fn open(&self, address: &str, sysfs: &Sysfs) -> Result<PciDeviceRef, HostError> {
        match self {
            Backend::Vfio(options) => vfio::open(address, sysfs, *options),
            Backend::Uio => uio::open(address, sysfs),
        }
    }
}

/// Which devices a session drives.
pub enum Devices {
    /// Every device bound to the backend's kernel driver that the loaded driver's ID table
    /// matches; the others are not opened.
    All,
    /// The devices at these addresses.
    Addresses(Vec<String>),
    /// Devices opened already (for example simulated ones).
    Opened(Vec<PciDeviceRef>),
}

/// What [`run`] does.
pub struct Options {
    /// The backend.
    pub backend: Backend,
    /// The devices.
    pub devices: Devices,
    /// The system's trees.
    pub sysfs: Sysfs,
}

impl Default for Options {
    /// Every device bound to vfio-pci, on the running system.
    fn default() -> Self {
        Self {
            backend: Backend::Vfio(VfioOptions::default()),
            devices: Devices::All,
            sysfs: Sysfs::system(),
        }
    }
}

/// A module loaded into a bus of open devices.
///
/// # Invariants
///
/// `module` is `Some` until the session is stopped; it is dropped before `bus`.
pub struct Session {
    module: Option<ModuleHandle>,
    bus: Arc<Bus>,
}

impl Session {
    /// Loads `module` into a new, empty bus: its drivers are registered, and bind the devices
    /// added later ([`Session::open_devices`], [`Session::add_device`]) that they match.
    pub fn load(module: &'static ModuleDescriptor) -> Result<Session, Error> {
        let bus = Bus::new(format!("drydock:{}", module.info.name));
        let handle = bus.load_module(module)?;
        // INVARIANT: the module is loaded.
        Ok(Session {
            module: Some(handle),
            bus,
        })
    }

    /// Loads `module` ([`Session::load`]) and adds `devices`; the driver probes the devices it
    /// matches.
    pub fn start(
        module: &'static ModuleDescriptor,
        devices: Vec<PciDeviceRef>,
    ) -> Result<Session, Error> {
        let session = Self::load(module)?;
        devices
            .into_iter()
            .for_each(|device| session.add_device(device));
        Ok(session)
    }

    /// Adds an opened device to the bus; a driver that matches it probes it.
    pub fn add_device(&self, device: PciDeviceRef) {
        self.bus.add_device(device);
    }

    /// Opens the devices `options` name and adds them to the bus, where the drivers that match
    /// them probe them; returns how many stay open on the bus.
    ///
    /// With [`Devices::All`], only the devices bound to the backend's kernel driver that a loaded
    /// driver's ID table matches are opened, as the kernel loads a driver for a device by its
    /// IDs: the others are left alone (opening a VFIO device resets it, and holds its group
    /// against every other process). One that cannot be opened is skipped with a warning, and one
    /// whose probe declines it is closed again. A device named by address that cannot be opened
    /// is an error; one the driver declines stays open on the bus, unbound, as the kernel keeps
    /// an unbound device.
    pub fn open_devices(&self, options: Options) -> Result<usize, HostError> {
        let Options {
            backend,
            devices,
            sysfs,
        } = options;
        let every_match = matches!(devices, Devices::All);
        let devices = match devices {
            Devices::Opened(devices) => devices,
            Devices::Addresses(addresses) => addresses
                .iter()
                .map(|address| backend.open(address, &sysfs))
                .collect::<Result<_, _>>()?,
            Devices::All => {
                let wanted = backend.driver();
                let mut opened = Vec::new();
                for info in sysfs.devices()? {
                    if info.driver.as_deref() != Some(wanted) {
                        continue;
                    }
                    if !self.bus.has_driver_for(&info.ids()) {
                        log::debug!(
                            target: "drydock",
                            "{}: not in the driver's ID table, left closed",
                            info.address
                        );
                        continue;
                    }
                    match backend.open(&info.address, &sysfs) {
                        Ok(device) => opened.push(device),
                        Err(err) => {
                            log::warn!(target: "drydock", "skipping {}: {err}", info.address);
                        }
                    }
                }
                opened
            }
        };
        let mut kept = 0;
        for device in devices {
            self.add_device(device.clone());
            // A device the ID table matched but the driver's probe declined is closed again, so
            // its group is free for other processes, as a device not matched at all is.
            if every_match && device.bound_driver().is_none() {
                let name = device.name().to_string_lossy().into_owned();
                log::info!(target: "drydock", "{name}: the driver declined it; closed");
                self.bus.remove_device(&name);
            } else {
                kept += 1;
            }
        }
        Ok(kept)
    }

    /// The bus of the session.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The devices a driver is bound to, with the driver's name.
    pub fn bound(&self) -> Vec<(String, String)> {
        self.bus
            .devices()
            .iter()
            .filter_map(|device| {
                let driver = device.dev.driver_name()?;
                Some((
                    device.name().to_string_lossy().into_owned(),
                    driver.to_string_lossy().into_owned(),
                ))
            })
            .collect()
    }

    /// Waits for a stop signal or a driver fault while releasing each device the kernel asks
    /// back (see the module's documentation); returns why the session stops, or `None` once
    /// every device was released.
    pub fn serve_until_stopped(&self, signals: &StopSignals) -> Result<Option<Stop>, HostError> {
        loop {
            let devices = self.bus.devices();
            let watched: Vec<(&PciDeviceRef, BorrowedFd<'_>)> = devices
                .iter()
                .filter_map(|device| Some((device, device.function().release_requests()?)))
                .collect();
            let fds: Vec<BorrowedFd<'_>> = watched.iter().map(|&(_, fd)| fd).collect();
            let device = match signals.wait_any(&fds)? {
                Wake::Stop(stop) => return Ok(Some(stop)),
                Wake::Ready(index) => {
                    let (device, fd) = watched[index];
                    drydock_host::irq::read_eventfd(fd)?;
                    device.clone()
                }
            };
            drop(watched);
            drop(devices);
            self.release(device);
            if self.bus.devices().is_empty() {
                return Ok(None);
            }
        }
    }

    /// Gives `device` back to the kernel, which asked for it: removes it from the bus (its
    /// driver unbinds) and closes it.
    fn release(&self, device: PciDeviceRef) {
        let name = device.name().to_string_lossy().into_owned();
        let driver = device
            .dev
            .driver_name()
            .map(|d| d.to_string_lossy().into_owned());
        log::info!(
            target: "drydock",
            "{name}: the kernel asks for the device back; unbinding {} and closing it",
            driver.as_deref().unwrap_or("no driver")
        );
        self.bus.remove_device(&name);
        // The last reference: the device closes (for VFIO, the device file, which is what the
        // kernel waits for).
        drop(device);
        log::info!(target: "drydock", "{name}: released to the kernel");
    }

    /// Unloads the module (unbinding its devices) and closes the devices, in that order.
    pub fn stop(mut self) {
        self.teardown();
    }

    fn teardown(&mut self) {
        if let Some(module) = self.module.take() {
            let name = module.info().name;
            if catch_unwind(AssertUnwindSafe(|| drop(module))).is_err() {
                log::error!(target: "drydock", "unloading module {name} panicked; releasing the devices anyway");
            }
        }
        for device in self.bus.devices() {
            let name = device.name().to_string_lossy().into_owned();
            self.bus.remove_device(&name);
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.teardown();
    }
}

/// How a [`serve`]d session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Stopped by this signal after a clean teardown (exit code 0).
    Stopped(i32),
    /// The devices could not be opened or the module not loaded (exit code 1).
    Failed,
    /// No device was bound to the driver (exit code 1: a failure, as [`Status::Failed`]; 2 is a
    /// bad command line in every drydock program).
    NothingBound,
    /// The session panicked outside the driver callbacks the bus guards, or an interrupt handler
    /// panicked (exit code 70, `EX_SOFTWARE`); the devices were released.
    Panicked,
    /// The kernel asked for every device back, and the session released them and unloaded the
    /// module (exit code 0).
    Released,
}

impl Status {
    /// The process's exit status, in the scheme of [`drydock_host::exit_status`].
    pub fn exit_status(self) -> u8 {
        match self {
            Status::Stopped(_) | Status::Released => exit_status::SUCCESS,
            Status::Failed | Status::NothingBound => exit_status::FAILURE,
            Status::Panicked => exit_status::SOFTWARE,
        }
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> ExitCode {
        ExitCode::from(status.exit_status())
    }
}

/// Runs `module` on the devices `options` name until `SIGINT` or `SIGTERM`; see the module
/// documentation. Returns the process's exit code.
pub fn run(module: &'static ModuleDescriptor, options: Options) -> ExitCode {
    crate::logger::init();
    // The module's debugfs files and configfs subsystems, for a shell, while it runs (unmounted
    // after it is unloaded).
    let _debugfs = drydock_host::debugfs::mount_for_module(module.info.name);
    let _configfs = drydock_host::configfs::mount_for_module(module.info.name);
    // Its misc devices, as `/dev/NAME` for every process, through CUSE.
    drydock_host::miscdevice::serve_with_cuse();
    // The module's disks are block devices of the kernel, served with ublk.
    drydock_host::block::set_frontend(drydock_host::block::Frontend::Ublk);
    serve(module, options).into()
}

/// [`run`] without the logger and the exit-code conversion.
pub fn serve(module: &'static ModuleDescriptor, options: Options) -> Status {
    let name = module.info.name;
    let driver = options.backend.driver();
    // Signals are caught before anything is opened, so a stop request is never lost.
    let signals = match StopSignals::install() {
        Ok(signals) => signals,
        Err(err) => {
            log::error!(target: "drydock", "{name}: {err}");
            return Status::Failed;
        }
    };
    let result = catch_unwind(AssertUnwindSafe(|| -> Status {
        let session = match Session::load(module) {
            Ok(session) => session,
            Err(err) => {
                log::error!(target: "drydock", "{name}: loading the module failed: {err:?}");
                return Status::Failed;
            }
        };
        // What the process's driver core knows, for a shell: `drydock/` in the debugfs tree.
        let _state = drydock_host::state::publish(session.bus(), drydock_host::state::DIR)
            .inspect_err(|err| {
                log::warn!(target: "drydock", "{name}: the state files are missing: {err}");
            });
        if !session.bus().has_pci_drivers() {
            // Like a module without a driver loaded with `insmod`, it stays until unloaded.
            log::info!(
                target: "drydock",
                "{name}: loaded; it registers no PCI driver, so it runs without devices"
            );
        } else if let Some(status) = bind_devices(&session, options, name, driver) {
            return status;
        }
        match session.serve_until_stopped(&signals) {
            Ok(None) => {
                log::info!(
                    target: "drydock",
                    "{name}: the kernel took back every device; unloading"
                );
                session.stop();
                Status::Released
            }
            Ok(Some(Stop::Signal(signal))) => {
                log::info!(target: "drydock", "{name}: signal {signal} received, unloading");
                session.stop();
                Status::Stopped(signal)
            }
            Ok(Some(Stop::Fault)) => {
                log::error!(target: "drydock", "{name}: a driver callback panicked, unloading");
                session.stop();
                log::error!(target: "drydock", "{name}: the devices were released after the panic");
                Status::Panicked
            }
            Err(err) => {
                log::error!(target: "drydock", "{name}: waiting for a signal: {err}");
                Status::Failed
            }
        }
    }));
    match result {
        Ok(status) => status,
        Err(_) => {
            log::error!(target: "drydock", "{name}: panicked; the devices were released");
            Status::Panicked
        }
    }
}

/// Opens the devices `options` name for the session's driver; the status to end with if none
/// could be opened or none was bound.
fn bind_devices(session: &Session, options: Options, name: &str, driver: &str) -> Option<Status> {
    let opened = match session.open_devices(options) {
        Ok(opened) => opened,
        Err(err) => {
            log::error!(target: "drydock", "{name}: {err}");
            return Some(Status::Failed);
        }
    };
    let bound = session.bound();
    for (device, driver) in &bound {
        log::info!(target: "drydock", "{device}: bound to {driver}");
    }
    if bound.is_empty() {
        log::warn!(
            target: "drydock",
            "{name}: no device bound ({opened} opened); bind a device the driver supports \
             with `{}` (`drydock list` shows the devices)",
            bind_command(None, driver)
        );
        return Some(Status::NothingBound);
    }
    None
}

/// The write end of the running [`StopSignals`]' pipe, or -1.
static SIGNAL_PIPE: AtomicI32 = AtomicI32::new(-1);

/// The write end of the running [`StopSignals`]' pipe for [`stop_after_fault`]: a duplicate of
/// `SIGNAL_PIPE`'s, behind a lock (which a signal handler could not take) so that it is never
/// closed while a fault is being written to it.
static FAULT_PIPE: Mutex<Option<OwnedFd>> = Mutex::new(None);

/// What the pipe carries for [`stop_after_fault`]: no signal has number 0.
const FAULT: u8 = 0;

/// Serialises the unit tests that install the stop-signal handlers, send stop signals or report
/// faults: they share one process-wide pipe.
#[cfg(test)]
pub(crate) static STOP_TESTS: Mutex<()> = Mutex::new(());

/// What [`StopSignals::wait_any`] saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Wake {
    /// The session must stop.
    Stop(Stop),
    /// The file descriptor of this index among those watched became readable.
    Ready(usize),
}

/// Why a session stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// This stop signal arrived.
    Signal(i32),
    /// A driver callback that runs outside the session's thread (an interrupt handler)
    /// panicked (the interrupt core reports it, as a signal would arrive).
    Fault,
}

/// Asks the running session to stop because a driver callback panicked on another thread, as a
/// stop signal would: the session unbinds the driver and releases the devices, and [`serve`]
/// returns [`Status::Panicked`]. The interrupt core calls it (its fault hook, which
/// [`StopSignals`] sets while installed); the caller has logged the panic.
fn stop_after_fault() {
    let pipe = FAULT_PIPE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(fd) = pipe.as_ref() {
        // SAFETY: writing one byte from a live local to the pipe, which the lock we hold keeps
        // open.
        unsafe { libc::write(fd.as_raw_fd(), core::ptr::from_ref(&FAULT).cast(), 1) };
    }
}

/// The signals that stop a session.
const STOP_SIGNALS: [libc::c_int; 2] = [libc::SIGINT, libc::SIGTERM];

/// Writes the signal number to the pipe; nothing else (async-signal-safe).
extern "C" fn on_stop_signal(signal: libc::c_int) {
    let fd = SIGNAL_PIPE.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: `__errno_location` returns the calling thread's errno, which `write` may change
        // and the interrupted code must see unchanged.
        let errno = unsafe { *libc::__errno_location() };
        let byte = signal as u8;
        // SAFETY: writing one byte from a live local to a pipe; `write` is async-signal-safe.
        unsafe { libc::write(fd, core::ptr::from_ref(&byte).cast(), 1) };
        // SAFETY: as above.
        unsafe { *libc::__errno_location() = errno };
    }
}

/// `SIGINT` and `SIGTERM` caught into a pipe while this value lives; the previous dispositions
/// are restored when it is dropped. One may exist at a time.
pub struct StopSignals {
    read: OwnedFd,
    /// The end the handler writes to (through `SIGNAL_PIPE`); kept open while installed.
    _write: OwnedFd,
    previous: Vec<(libc::c_int, libc::sigaction)>,
}

impl StopSignals {
    /// Starts catching the stop signals.
    pub fn install() -> Result<Self, HostError> {
        let mut fds = [0; 2];
        // SAFETY: `pipe2` writes two descriptors to a valid array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
            return Err(HostError::last_os("creating the signal pipe"));
        }
        // SAFETY: both descriptors are new and owned by nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        let fault_end = write
            .try_clone()
            .map_err(|err| HostError::os("duplicating the signal pipe", err))?;
        if SIGNAL_PIPE
            .compare_exchange(-1, write.as_raw_fd(), Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return Err(HostError::os(
                "installing the stop-signal handlers",
                std::io::Error::new(std::io::ErrorKind::AlreadyExists, "a session already runs"),
            ));
        }
        *FAULT_PIPE.lock().unwrap_or_else(|e| e.into_inner()) = Some(fault_end);
        drydock_host::irq::set_fault_hook(Some(stop_after_fault));
        let mut signals = Self {
            read,
            _write: write,
            previous: Vec::new(),
        };
        for signal in STOP_SIGNALS {
            // SAFETY: an all-zero `sigaction` is a valid value to fill in.
            let mut action: libc::sigaction = unsafe { core::mem::zeroed() };
            action.sa_sigaction = on_stop_signal as extern "C" fn(libc::c_int) as usize;
            action.sa_flags = libc::SA_RESTART;
            // SAFETY: `sa_mask` is a valid signal set to initialise.
            unsafe { libc::sigemptyset(&mut action.sa_mask) };
            // SAFETY: an all-zero `sigaction` is a valid value for the kernel to fill in.
            let mut previous: libc::sigaction = unsafe { core::mem::zeroed() };
            // SAFETY: valid pointers to `sigaction` values; the handler is async-signal-safe.
            if unsafe { libc::sigaction(signal, &action, &mut previous) } != 0 {
                return Err(HostError::last_os("installing a stop-signal handler"));
            }
            signals.previous.push((signal, previous));
        }
        Ok(signals)
    }

    /// Blocks until a stop signal arrives or a driver fault is reported.
    pub fn wait(&self) -> Result<Stop, HostError> {
        loop {
            if let Wake::Stop(stop) = self.wait_any(&[])? {
                return Ok(stop);
            }
        }
    }

    /// Blocks until a stop signal arrives, a driver fault is reported, or one of `watched`
    /// becomes readable (which the caller then reads); a stop comes first.
    pub fn wait_any(&self, watched: &[BorrowedFd<'_>]) -> Result<Wake, HostError> {
        loop {
            let pollfd = |fd: i32| libc::pollfd {
                fd,
                events: libc::POLLIN,
                revents: 0,
            };
            let mut fds: Vec<libc::pollfd> = std::iter::once(self.read.as_raw_fd())
                .chain(watched.iter().map(AsRawFd::as_raw_fd))
                .map(pollfd)
                .collect();
            // SAFETY: `fds` is a valid array of `fds.len()` `pollfd`s.
            if unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) } < 0 {
                let err = std::io::Error::last_os_error();
                if err.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(HostError::os("waiting for a stop signal", err));
            }
            if fds[0].revents == 0 {
                if let Some(index) = fds[1..].iter().position(|fd| fd.revents != 0) {
                    return Ok(Wake::Ready(index));
                }
                continue;
            }
            let mut byte = 0u8;
            // SAFETY: reading one byte into a live local.
            let n = unsafe {
                libc::read(
                    self.read.as_raw_fd(),
                    core::ptr::from_mut(&mut byte).cast(),
                    1,
                )
            };
            if n == 1 {
                return Ok(Wake::Stop(match byte {
                    FAULT => Stop::Fault,
                    signal => Stop::Signal(i32::from(signal)),
                }));
            }
        }
    }
}

impl Drop for StopSignals {
    fn drop(&mut self) {
        for (signal, previous) in self.previous.drain(..) {
            // SAFETY: restoring a disposition the kernel gave us.
            unsafe { libc::sigaction(signal, &previous, core::ptr::null_mut()) };
        }
        drydock_host::irq::set_fault_hook(None);
        FAULT_PIPE.lock().unwrap_or_else(|e| e.into_inner()).take();
        SIGNAL_PIPE.store(-1, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use drydock_host::bindings;
    use drydock_host::irq;
    use drydock_host::module::{self, ModuleInfo};
    use drydock_host::pci::RawPciDevice;
    use drydock_host::pci_id::PciIds;
    use drydock_sim::{models::Edu, SimFunction};
    use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize};
    use std::time::{Duration, Instant};

    static PROBES: AtomicUsize = AtomicUsize::new(0);
    static REMOVES: AtomicUsize = AtomicUsize::new(0);
    static PANIC_IN_PROBE: AtomicBool = AtomicBool::new(false);

    /// A driver for edu written against the raw bindings, as the mirror's `pci::Adapter` does.
    struct EduModule {
        driver: Box<bindings::pci_driver>,
        bus: *const Bus,
    }

    // SAFETY: the driver is immutable once registered, and the bus pointer is only used to
    // unregister it, from any thread.
    unsafe impl Send for EduModule {}
    // SAFETY: as above.
    unsafe impl Sync for EduModule {}

    static IDS: [bindings::pci_device_id; 2] = [
        bindings::pci_device_id {
            vendor: 0x1234,
            device: 0x11e8,
            subvendor: bindings::PCI_ANY_ID,
            subdevice: bindings::PCI_ANY_ID,
            class: 0,
            class_mask: 0,
            driver_data: 0,
            override_only: 0,
        },
        bindings::pci_device_id {
            vendor: 0,
            device: 0,
            subvendor: 0,
            subdevice: 0,
            class: 0,
            class_mask: 0,
            driver_data: 0,
            override_only: 0,
        },
    ];

    /// The interrupt line of the device probed with `PANIC_IN_IRQ` set, or 0.
    static PANICKING_LINE: AtomicU32 = AtomicU32::new(0);
    static PANIC_IN_IRQ: AtomicBool = AtomicBool::new(false);

    unsafe fn panicking_handler(_dev_id: *mut core::ffi::c_void) -> u32 {
        panic!("the driver panics in its interrupt handler");
    }

    unsafe fn probe(pdev: *mut bindings::pci_dev, _id: *const bindings::pci_device_id) -> i32 {
        PROBES.fetch_add(1, Ordering::SeqCst);
        assert!(
            !PANIC_IN_PROBE.load(Ordering::SeqCst),
            "the driver panics in probe"
        );
        // SAFETY: the bus passes a live device.
        let pdev = unsafe { &*pdev.cast::<RawPciDevice>() };
        pdev.set_master();
        if PANIC_IN_IRQ.load(Ordering::SeqCst) {
            pdev.alloc_irq_vectors(1, 1, bindings::PCI_IRQ_MSI).unwrap();
            let line = pdev.irq_vector(0).unwrap();
            // SAFETY: the handler never dereferences its `dev_id`.
            unsafe {
                irq::request_irq(
                    line,
                    panicking_handler,
                    None,
                    false,
                    c"edu-test",
                    core::ptr::null_mut(),
                )
            }
            .unwrap();
            PANICKING_LINE.store(line, Ordering::SeqCst);
        }
        0
    }

    unsafe fn remove(pdev: *mut bindings::pci_dev) {
        REMOVES.fetch_add(1, Ordering::SeqCst);
        let line = PANICKING_LINE.swap(0, Ordering::SeqCst);
        if line != 0 {
            irq::free_irq(line, core::ptr::null_mut());
            // SAFETY: the bus passes a live device.
            unsafe { &*pdev.cast::<RawPciDevice>() }.free_irq_vectors();
        }
    }

    /// The module's `init_module()`, written against the host's loader as `module!` writes it.
    unsafe fn init(this: *const *mut module::LoadedModule, slot: *mut core::ffi::c_void) -> i32 {
        // SAFETY: the loader passes the module's `THIS_MODULE`, valid while it is loaded.
        let bus = unsafe { module::bus_of(*this) }.expect("loaded into a bus");
        let mut driver = Box::new(bindings::pci_driver {
            name: c"edu-test".as_ptr(),
            id_table: IDS.as_ptr(),
            probe: Some(probe),
            remove: Some(remove),
            ..Default::default()
        });
        // SAFETY: the boxed driver stays put until `drop` unregisters it.
        if let Err(err) = unsafe { bus.register_driver(&mut *driver) } {
            return err.to_errno();
        }
        // SAFETY: the loader's slot is valid for writes of the state's layout.
        unsafe { slot.cast::<EduModule>().write(EduModule { driver, bus }) };
        0
    }

    /// The module's `cleanup_module()`.
    unsafe fn exit(slot: *mut core::ffi::c_void) {
        // SAFETY: the slot holds the state `init` wrote.
        unsafe { core::ptr::drop_in_place(slot.cast::<EduModule>()) };
    }

    impl Drop for EduModule {
        fn drop(&mut self) {
            // SAFETY: the module was loaded into this bus, which outlives it.
            unsafe { (*self.bus).unregister_driver(&*self.driver) };
        }
    }

    // SAFETY: `init` and `exit` initialise and drop an `EduModule`, which is `Send` and `Sync`.
    static EDU_MODULE: ModuleDescriptor = unsafe {
        ModuleDescriptor::new(
            ModuleInfo {
                name: "edu_test",
                authors: &[],
                description: "test driver",
                license: "GPL",
                params: &[],
            },
            core::alloc::Layout::new::<EduModule>(),
            init,
            exit,
        )
    };

    fn sim_edu(slot: u8) -> (PciDeviceRef, Arc<SimFunction>) {
        let function = Arc::new(SimFunction::new(Edu::new()));
        let device =
            RawPciDevice::create(&format!("7000:00:{slot:02x}.0"), function.clone()).unwrap();
        (device, function)
    }

    #[test]
    fn a_session_binds_and_releases_in_order() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (device, function) = sim_edu(1);
        let removes = REMOVES.load(Ordering::SeqCst);
        let session = Session::start(&EDU_MODULE, vec![device]).unwrap();
        assert_eq!(
            session.bound(),
            vec![("7000:00:01.0".into(), "edu-test".into())]
        );
        assert_ne!(function.command() & 0x4, 0, "probe set bus mastering");
        session.stop();
        assert_eq!(REMOVES.load(Ordering::SeqCst), removes + 1);
        assert_eq!(
            function.command() & 0x4,
            0,
            "unbinding cleared bus mastering"
        );
        assert_eq!(Arc::strong_count(&function), 1, "the device was closed");
    }

    #[test]
    fn a_loaded_module_says_which_devices_it_wants_before_they_are_opened() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let session = Session::load(&EDU_MODULE).unwrap();
        let edu = PciIds {
            vendor: 0x1234,
            device: 0x11e8,
            subsystem_vendor: 0x1af4,
            subsystem_device: 0x1100,
            class: 0x00ff00,
        };
        assert!(session.bus().has_driver_for(&edu));
        let testdev = PciIds {
            vendor: 0x1b36,
            device: 0x0005,
            ..edu
        };
        assert!(!session.bus().has_driver_for(&testdev));
        session.stop();
        let unloaded = Bus::new("empty");
        assert!(!unloaded.has_driver_for(&edu));
    }

    #[test]
    fn a_panicking_probe_still_releases_the_device() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (device, function) = sim_edu(2);
        PANIC_IN_PROBE.store(true, Ordering::SeqCst);
        let session = Session::start(&EDU_MODULE, vec![device]);
        PANIC_IN_PROBE.store(false, Ordering::SeqCst);
        let session = session.unwrap();
        assert!(session.bound().is_empty());
        assert_eq!(
            function.command() & 0x4,
            0,
            "the failed probe cleared bus mastering"
        );
        drop(session);
        assert_eq!(Arc::strong_count(&function), 1, "the device was closed");
    }

    #[test]
    fn run_stops_on_sigterm_and_releases_everything() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (device, function) = sim_edu(3);
        let probes = PROBES.load(Ordering::SeqCst);
        let options = Options {
            devices: Devices::Opened(vec![device]),
            ..Options::default()
        };
        let runner = std::thread::spawn(move || serve(&EDU_MODULE, options));
        let deadline = Instant::now() + Duration::from_secs(10);
        while PROBES.load(Ordering::SeqCst) == probes {
            assert!(Instant::now() < deadline, "the driver never probed");
            std::thread::sleep(Duration::from_millis(1));
        }
        // The handler is installed before devices are opened, so the signal is caught.
        // SAFETY: sending a signal to this process; the runtime's handler catches it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        assert_eq!(runner.join().unwrap(), Status::Stopped(libc::SIGTERM));
        assert_eq!(Arc::strong_count(&function), 1, "the device was closed");
        assert_eq!(ExitCode::from(Status::Stopped(15)), ExitCode::SUCCESS);
    }

    /// Waits until the driver has probed `probes` devices in all.
    fn wait_for_probes(probes: usize) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while PROBES.load(Ordering::SeqCst) < probes {
            assert!(Instant::now() < deadline, "the driver never probed");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn a_device_the_kernel_asks_back_is_released_and_then_the_session_ends() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let capture = crate::logger::capture();
        let (device, function) = sim_edu(5);
        let (probes, removes) = (
            PROBES.load(Ordering::SeqCst),
            REMOVES.load(Ordering::SeqCst),
        );
        let options = Options {
            devices: Devices::Opened(vec![device]),
            ..Options::default()
        };
        let runner = std::thread::spawn(move || serve(&EDU_MODULE, options));
        wait_for_probes(probes + 1);
        function.request_release();
        let deadline = Instant::now() + Duration::from_secs(10);
        while !runner.is_finished() {
            if Instant::now() > deadline {
                // SAFETY: sending a signal to this process; the runtime's handler catches it.
                unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                panic!("the session did not end: {:?}", runner.join());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(runner.join().unwrap(), Status::Released);
        assert_eq!(REMOVES.load(Ordering::SeqCst), removes + 1, "remove() ran");
        assert_eq!(Arc::strong_count(&function), 1, "the device was closed");
        assert_eq!(function.command() & 0x4, 0, "bus mastering is off");
        for line in [
            "7000:00:05.0: the kernel asks for the device back; unbinding edu-test and closing it",
            "7000:00:05.0: released to the kernel",
            "edu_test: the kernel took back every device; unloading",
        ] {
            assert!(capture.contains(line), "not logged: {line}");
        }
        assert_eq!(ExitCode::from(Status::Released), ExitCode::SUCCESS);
    }

    #[test]
    fn the_other_devices_are_served_on_after_one_is_asked_back() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (first, first_function) = sim_edu(6);
        let (second, second_function) = sim_edu(7);
        let (probes, removes) = (
            PROBES.load(Ordering::SeqCst),
            REMOVES.load(Ordering::SeqCst),
        );
        let options = Options {
            devices: Devices::Opened(vec![first, second]),
            ..Options::default()
        };
        let runner = std::thread::spawn(move || serve(&EDU_MODULE, options));
        wait_for_probes(probes + 2);
        second_function.request_release();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Arc::strong_count(&second_function) > 1 {
            assert!(Instant::now() < deadline, "the device was not closed");
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(REMOVES.load(Ordering::SeqCst), removes + 1);
        assert!(
            !runner.is_finished(),
            "the session goes on with the other device"
        );
        assert_ne!(first_function.command() & 0x4, 0, "still bound");
        // SAFETY: sending a signal to this process; the runtime's handler catches it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        assert_eq!(runner.join().unwrap(), Status::Stopped(libc::SIGTERM));
        assert_eq!(REMOVES.load(Ordering::SeqCst), removes + 2);
        assert_eq!(Arc::strong_count(&first_function), 1);
    }

    #[test]
    fn a_served_session_shows_its_state_in_debugfs_until_it_stops() {
        use drydock_host::debugfs;
        use drydock_sim::state::{find, tables};

        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let (device, _function) = sim_edu(5);
        let options = Options {
            devices: Devices::Opened(vec![device]),
            ..Options::default()
        };
        let runner = std::thread::spawn(move || serve(&EDU_MODULE, options));
        let file = |name: &str| {
            let text = debugfs::read(&format!("drydock/{name}")).ok()?;
            Some(tables(&String::from_utf8(text).ok()?))
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        let devices = loop {
            if let Some(devices) = file("devices") {
                if find(&devices[0], "DRIVER", "edu-test").is_some() {
                    break devices;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the state never showed the bound driver"
            );
            std::thread::sleep(Duration::from_millis(1));
        };
        let edu = find(&devices[0], "DEVICE", "7000:00:05.0").unwrap();
        assert_eq!(edu["IDS"], "1234:11e8");
        assert_eq!(edu["CLASS"], "00ff00");
        assert_eq!(edu["BACKEND"], "simulated");
        assert_eq!((&*edu["IRQ"], &*edu["VECTORS"]), ("-", "0"));
        let dma = file("dma").unwrap();
        let held = find(&dma[0], "DEVICE", "7000:00:05.0").unwrap();
        assert_eq!((&*held["COHERENT"], &*held["STREAMING"]), ("0", "0"));
        let space = find(&dma[1], "SPACE", &held["SPACE"]).unwrap();
        assert_eq!(
            (&*space["BACKEND"], &*space["MAPPINGS"]),
            ("simulated", "0")
        );
        assert!(file("interrupts").unwrap()[0].is_empty(), "no vectors");
        // SAFETY: sending a signal to this process; the runtime's handler catches it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        assert_eq!(runner.join().unwrap(), Status::Stopped(libc::SIGTERM));
        assert_eq!(
            debugfs::metadata("drydock"),
            Err(drydock_host::errno::Errno::ENOENT),
            "the state files outlived the session"
        );
    }

    #[test]
    fn a_panicking_interrupt_handler_stops_the_session_and_releases_the_device() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let capture = crate::logger::capture();
        let (device, function) = sim_edu(4);
        let removes = REMOVES.load(Ordering::SeqCst);
        PANIC_IN_IRQ.store(true, Ordering::SeqCst);
        let options = Options {
            devices: Devices::Opened(vec![device]),
            ..Options::default()
        };
        let runner = std::thread::spawn(move || serve(&EDU_MODULE, options));
        let deadline = Instant::now() + Duration::from_secs(10);
        let line = loop {
            match PANICKING_LINE.load(Ordering::SeqCst) {
                0 => {
                    assert!(Instant::now() < deadline, "the driver never probed");
                    std::thread::sleep(Duration::from_millis(1));
                }
                line => break line,
            }
        };
        PANIC_IN_IRQ.store(false, Ordering::SeqCst);
        irq::trigger(line).unwrap();
        assert_eq!(runner.join().unwrap(), Status::Panicked);
        assert_eq!(REMOVES.load(Ordering::SeqCst), removes + 1, "remove() ran");
        assert_eq!(Arc::strong_count(&function), 1, "the device was closed");
        assert!(capture.contains("the driver's interrupt handler panicked"));
        assert!(capture.contains("edu_test: a driver callback panicked, unloading"));
    }

    #[test]
    fn run_without_devices_says_so() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let capture = crate::logger::capture();
        let options = Options {
            devices: Devices::Opened(Vec::new()),
            ..Options::default()
        };
        let status = serve(&EDU_MODULE, options);
        assert_eq!(status, Status::NothingBound);
        assert!(capture.contains("edu_test: no device bound"));
        // A failure, not the bad-command-line status of every drydock program.
        assert_eq!(status.exit_status(), 1);
    }

    /// Set when the plain module's `init` has run.
    static PLAIN_LOADED: AtomicBool = AtomicBool::new(false);

    /// A module without a driver, as `module!` writes one for a plain `Module`.
    // SAFETY: `init` and `exit` initialise and drop a `()`, which is `Send` and `Sync`.
    static PLAIN_MODULE: ModuleDescriptor = unsafe {
        ModuleDescriptor::new(
            ModuleInfo {
                name: "plain_test",
                authors: &[],
                description: "a module without a driver",
                license: "GPL",
                params: &[],
            },
            core::alloc::Layout::new::<()>(),
            plain_init,
            plain_exit,
        )
    };

    unsafe fn plain_init(
        _this: *const *mut module::LoadedModule,
        _slot: *mut core::ffi::c_void,
    ) -> i32 {
        PLAIN_LOADED.store(true, Ordering::SeqCst);
        0
    }

    unsafe fn plain_exit(_slot: *mut core::ffi::c_void) {}

    #[test]
    fn a_module_without_a_driver_runs_until_a_signal() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let capture = crate::logger::capture();
        let runner = std::thread::spawn(|| serve(&PLAIN_MODULE, Options::default()));
        let deadline = Instant::now() + Duration::from_secs(10);
        let serving = "plain_test: loaded; it registers no PCI driver";
        while !(PLAIN_LOADED.load(Ordering::SeqCst) && capture.contains(serving)) {
            assert!(!runner.is_finished(), "{:?}", runner.join());
            assert!(Instant::now() < deadline, "the module never loaded");
            std::thread::sleep(Duration::from_millis(1));
        }
        // SAFETY: sending a signal to this process; the runtime's handler catches it.
        assert_eq!(unsafe { libc::kill(libc::getpid(), libc::SIGTERM) }, 0);
        assert_eq!(runner.join().unwrap(), Status::Stopped(libc::SIGTERM));
    }

    #[test]
    fn only_one_session_catches_signals() {
        let _serial = STOP_TESTS.lock().unwrap_or_else(|e| e.into_inner());
        let first = StopSignals::install().unwrap();
        assert!(StopSignals::install().is_err());
        // SAFETY: raising a signal in this thread; the handler just installed catches it.
        assert_eq!(unsafe { libc::raise(libc::SIGINT) }, 0);
        assert_eq!(first.wait().unwrap(), Stop::Signal(libc::SIGINT));
        drop(first);
        drop(StopSignals::install().unwrap());
    }
}
