//! Races between drivers being registered and unregistered and devices being added and removed, on
//! the PCI bus and on the auxiliary bus.
//!
//! Each test runs threads that register and unregister drivers while others add and remove
//! devices, many times over, and checks what the driver core promises whatever the interleaving:
//!
//! - a driver is never called (`probe()`, `remove()`) once its unregistration returned, so its
//!   module may free it then;
//! - a device is never probed once its removal returned, so its parent may free what it shares;
//! - once a driver's unregistration returned no device is bound to it, and once a device's removal
//!   returned it is unbound.
//!
//! The callbacks find their driver through the device's bound driver, and check the flags the
//! threads set once a call returned. The drivers of one registering thread fail their probes, so
//! that a new device is offered to a driver some time after the device was added, when that driver
//! may have been unregistered meanwhile. Drivers are never freed while the threads run, so a driver
//! core that breaks a promise is caught by the flags rather than by freed memory.

use std::collections::HashSet;
use std::ffi::{c_int, CStr};
use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use drydock_host::auxiliary::{
    __auxiliary_device_add, __auxiliary_driver_register, auxiliary_device_delete,
    auxiliary_device_init, auxiliary_device_uninit, auxiliary_driver_unregister,
};
use drydock_host::bindings::{
    auxiliary_device, auxiliary_device_id, auxiliary_driver, device_driver, pci_dev, pci_device_id,
    pci_driver, AUXILIARY_NAME_SIZE,
};
use drydock_host::bus::Bus;
use drydock_host::device::RawDevice;
use drydock_host::errno::Errno;
use drydock_host::module::{LoadedModule, ModuleDescriptor, ModuleInfo};
use drydock_host::pci::{PciDeviceRef, RawPciDevice};
use drydock_sim::{models::PciTestdev, SimFunction};

/// How many times each thread registers and unregisters, or adds and removes.
const ROUNDS: usize = 20000;
/// When the threads stop even if they did not finish their rounds (the machine may be loaded).
const TIME_LIMIT: Duration = Duration::from_secs(20);

/// The broken promises a test saw.
struct Violations(Mutex<Vec<String>>);

impl Violations {
    fn record(&self, what: String) {
        self.0.lock().unwrap().push(what);
    }
}

/// The devices of every test whose removal has not returned yet, by address.
static LIVE_DEVICES: Mutex<Option<HashSet<usize>>> = Mutex::new(None);

fn set_live(device: usize, live: bool) {
    let mut devices = LIVE_DEVICES.lock().unwrap();
    let devices = devices.get_or_insert_with(HashSet::new);
    if live {
        devices.insert(device);
    } else {
        devices.remove(&device);
    }
}

fn is_live(device: usize) -> bool {
    LIVE_DEVICES
        .lock()
        .unwrap()
        .as_ref()
        .is_some_and(|devices| devices.contains(&device))
}

/// What the PCI test saw go wrong.
static PCI_VIOLATIONS: Violations = Violations(Mutex::new(Vec::new()));
/// What the auxiliary test saw go wrong.
static AUX_VIOLATIONS: Violations = Violations(Mutex::new(Vec::new()));

/// A driver of either bus as the tests register it: the bus's structure first, then whether its
/// probe fails, and whether its unregistration returned.
///
/// The drivers of one of the two registering threads fail their probes: a device then goes on to
/// the other thread's driver later, after a driver that was registered when the device was added
/// may have been unregistered.
#[repr(C)]
struct TestDriver<D> {
    driver: D,
    fails: bool,
    gone: AtomicBool,
}

/// Returns the test driver around the `device_driver` at `offset` in `D`.
///
/// # Safety
///
/// `driver` must be the embedded driver of a `TestDriver<D>` that is never freed while the tests
/// run.
unsafe fn test_driver<D>(driver: *const device_driver, offset: usize) -> &'static TestDriver<D> {
    // SAFETY: the test drivers are `repr(C)` with the bus's driver first, which embeds the
    // `device_driver` at `offset`; they are leaked until the threads are joined.
    unsafe { &*driver.byte_sub(offset).cast::<TestDriver<D>>() }
}

/// Checks a probe: its driver must be registered and the device not removed. Returns what the
/// probe returns.
fn check_probe<D>(seen: &Violations, device: usize, name: &CStr, driver: &TestDriver<D>) -> c_int {
    if driver.gone.load(Ordering::SeqCst) {
        seen.record(format!("probe of {name:?} by an unregistered driver"));
    }
    if !is_live(device) {
        seen.record(format!("probe of the removed device {name:?}"));
    }
    thread::yield_now();
    if driver.fails {
        Errno::ENODEV.to_errno()
    } else {
        0
    }
}

unsafe fn pci_probe(pdev: *mut pci_dev, _id: *const pci_device_id) -> c_int {
    // SAFETY: the bus probes a live device, with its driver set.
    let dev = unsafe { &(*pdev).dev };
    // SAFETY: the PCI drivers of these tests are `TestDriver<pci_driver>`s, never freed.
    let driver =
        unsafe { test_driver::<pci_driver>(dev.driver().unwrap(), offset_of!(pci_driver, driver)) };
    check_probe(&PCI_VIOLATIONS, pdev as usize, dev.name(), driver)
}

unsafe fn pci_remove(pdev: *mut pci_dev) {
    // SAFETY: the bus removes a live device, bound to its driver.
    let dev = unsafe { &(*pdev).dev };
    // SAFETY: as in `pci_probe`.
    let driver =
        unsafe { test_driver::<pci_driver>(dev.driver().unwrap(), offset_of!(pci_driver, driver)) };
    if driver.gone.load(Ordering::SeqCst) {
        PCI_VIOLATIONS.record(format!(
            "remove of {:?} by an unregistered driver",
            dev.name()
        ));
    }
}

/// The PCI IDs of pci-testdev.
static PCI_IDS: [pci_device_id; 2] = [
    pci_device_id {
        vendor: 0x1b36,
        device: 0x0005,
        subvendor: !0,
        subdevice: !0,
        class: 0,
        class_mask: 0,
        driver_data: 0,
        override_only: 0,
    },
    pci_device_id {
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

/// A test driver on the heap, kept while the threads run and freed once they are done.
///
/// # Invariants
///
/// Points to a `TestDriver` from `Box::into_raw`, freed only by [`Leaked::free`].
struct Leaked<D>(NonNull<TestDriver<D>>);

// SAFETY: the driver structures are only written before they are registered, and the flag is
// atomic.
unsafe impl<D> Send for Leaked<D> {}

impl<D> Leaked<D> {
    /// Keeps `driver`, whose probes fail if `fails`.
    fn new(driver: D, fails: bool) -> Self {
        let driver = Box::new(TestDriver {
            driver,
            fails,
            gone: AtomicBool::new(false),
        });
        // SAFETY: `Box::into_raw` never returns null.
        Self(unsafe { NonNull::new_unchecked(Box::into_raw(driver)) })
    }

    /// The bus's driver structure, to register.
    fn driver(&self) -> *mut D {
        // SAFETY: the allocation lives until `free` (type invariant).
        unsafe { &raw mut (*self.0.as_ptr()).driver }
    }

    /// Records that the driver's unregistration returned.
    fn set_gone(&self) {
        // SAFETY: the allocation lives until `free` (type invariant).
        unsafe { &(*self.0.as_ptr()).gone }.store(true, Ordering::SeqCst);
    }

    /// Frees the driver.
    ///
    /// # Safety
    ///
    /// Nothing may use the driver any more.
    unsafe fn free(self) {
        // SAFETY: from `Box::into_raw` (type invariant), and unused (safety requirement).
        drop(unsafe { Box::from_raw(self.0.as_ptr()) });
    }
}

/// Frees the drivers of a test once its threads are done and its bus is gone.
fn free_all<D>(drivers: Mutex<Vec<Leaked<D>>>) {
    for driver in drivers.into_inner().unwrap() {
        // SAFETY: unregistered, and the bus that called them is gone.
        unsafe { driver.free() };
    }
}

fn new_pci_device(name: &str) -> PciDeviceRef {
    RawPciDevice::create(name, Arc::new(SimFunction::new(PciTestdev::new())))
        .expect("a simulated function's config space is readable")
}

/// Runs, started together, two threads that each call `register(k, round)` and two that each call
/// `add_remove(k, round)`, for `k` 0 or 1 and every round, until `ROUNDS` or the time limit.
fn race(register: impl Fn(usize) + Sync, add_remove: impl Fn(usize, usize) + Sync) {
    let start = Barrier::new(4);
    let rounds = |f: &(dyn Fn(usize) + Sync)| {
        start.wait();
        let started = Instant::now();
        for round in 0..ROUNDS {
            if started.elapsed() > TIME_LIMIT {
                break;
            }
            f(round);
        }
    };
    thread::scope(|s| {
        for k in 0..2 {
            let (rounds, register, add_remove) = (&rounds, &register, &add_remove);
            s.spawn(move || rounds(&|_| register(k)));
            s.spawn(move || rounds(&|round| add_remove(k, round)));
        }
    });
}

/// Records a violation for each of `devices` still bound to `driver`, unregistered.
fn check_unbound<'a>(
    seen: &Violations,
    devices: impl IntoIterator<Item = &'a RawDevice>,
    driver: *const device_driver,
) {
    for dev in devices {
        if dev.driver() == Some(driver) {
            seen.record(format!("{:?} bound to an unregistered driver", dev.name()));
        }
    }
}

#[test]
fn pci_registration_races_device_addition_and_removal() {
    let bus = Bus::new("races-pci");
    let drivers = Mutex::new(Vec::new());
    let register = |k: usize| {
        let driver = pci_driver {
            name: [c"race-pci-0", c"race-pci-1"][k].as_ptr(),
            id_table: PCI_IDS.as_ptr(),
            probe: Some(pci_probe),
            remove: Some(pci_remove),
            ..Default::default()
        };
        let driver = Leaked::new(driver, k == 0);
        let ptr = driver.driver();
        // SAFETY: the driver is kept until the bus is gone, and unregistered below.
        unsafe { bus.register_driver(ptr) }.unwrap();
        thread::yield_now();
        // SAFETY: registered above.
        unsafe { bus.unregister_driver(ptr) };
        driver.set_gone();
        // SAFETY: the driver is alive; this is only an address.
        let embedded = unsafe { &raw const (*ptr).driver };
        check_unbound(
            &PCI_VIOLATIONS,
            bus.devices().iter().map(|d| &d.dev),
            embedded,
        );
        drivers.lock().unwrap().push(driver);
    };
    let add_remove = |k: usize, _| {
        let name = format!("0000:00:{:02x}.0", k + 1);
        let device = new_pci_device(&name);
        set_live(device.as_ptr() as usize, true);
        bus.add_device(device.clone());
        thread::yield_now();
        bus.remove_device(&name);
        set_live(device.as_ptr() as usize, false);
        if device.bound_driver().is_some() {
            PCI_VIOLATIONS.record(format!("{name} bound after its removal"));
        }
    };
    race(register, add_remove);
    drop(bus);
    free_all(drivers);
    let violations = std::mem::take(&mut *PCI_VIOLATIONS.0.lock().unwrap());
    assert!(violations.is_empty(), "{violations:#?}");
}

unsafe fn aux_probe(adev: *mut auxiliary_device, _id: *const auxiliary_device_id) -> c_int {
    // SAFETY: the bus probes a live device, with its driver set.
    let dev = unsafe { &(*adev).dev };
    // SAFETY: the auxiliary drivers of these tests are `TestDriver<auxiliary_driver>`s.
    let driver = unsafe {
        test_driver::<auxiliary_driver>(dev.driver().unwrap(), offset_of!(auxiliary_driver, driver))
    };
    check_probe(&AUX_VIOLATIONS, adev as usize, dev.name(), driver)
}

unsafe fn aux_remove(adev: *mut auxiliary_device) {
    // SAFETY: the bus removes a live device, bound to its driver.
    let dev = unsafe { &(*adev).dev };
    // SAFETY: as in `aux_probe`.
    let driver = unsafe {
        test_driver::<auxiliary_driver>(dev.driver().unwrap(), offset_of!(auxiliary_driver, driver))
    };
    if driver.gone.load(Ordering::SeqCst) {
        AUX_VIOLATIONS.record(format!(
            "remove of {:?} by an unregistered driver",
            dev.name()
        ));
    }
}

/// `THIS_MODULE` of the loaded `races` module.
static THIS_MODULE: AtomicPtr<LoadedModule> = AtomicPtr::new(core::ptr::null_mut());

unsafe fn module_init(this: *const *mut LoadedModule, _slot: *mut core::ffi::c_void) -> c_int {
    // SAFETY: the loader passes a valid `THIS_MODULE`.
    THIS_MODULE.store(unsafe { *this }, Ordering::SeqCst);
    0
}

unsafe fn module_exit(_slot: *mut core::ffi::c_void) {}

/// The module the auxiliary drivers belong to: it registers nothing itself.
// SAFETY: the state is `()`, which `module_init` leaves as it is and `module_exit` drops by doing
// nothing; `()` is `Send` and `Sync`.
static RACES_MODULE: ModuleDescriptor = unsafe {
    ModuleDescriptor::new(
        ModuleInfo {
            name: "races",
            authors: &[],
            description: "races between binding and unbinding",
            license: "GPL",
            params: &[],
        },
        core::alloc::Layout::new::<()>(),
        module_init,
        module_exit,
    )
};

unsafe fn parent_probe(_pdev: *mut pci_dev, _id: *const pci_device_id) -> c_int {
    0
}

fn aux_id(name: &str) -> auxiliary_device_id {
    let mut id = auxiliary_device_id {
        name: [0; AUXILIARY_NAME_SIZE],
        driver_data: 0,
    };
    for (dst, &src) in id.name.iter_mut().zip(name.as_bytes()) {
        *dst = src as core::ffi::c_char;
    }
    id
}

#[test]
fn auxiliary_registration_races_device_addition_and_removal() {
    let bus = Bus::new("races-aux");
    let module = bus.load_module(&RACES_MODULE).unwrap();
    // The parent: a PCI device bound to a driver of the bus, which stays bound throughout.
    let parent_driver = pci_driver {
        name: c"race-parent".as_ptr(),
        id_table: PCI_IDS.as_ptr(),
        probe: Some(parent_probe),
        ..Default::default()
    };
    let parent_driver = Leaked::new(parent_driver, false);
    // SAFETY: kept until the bus is gone, and never unregistered before.
    unsafe { bus.register_driver(parent_driver.driver()) }.unwrap();
    let parent = new_pci_device("0000:00:00.0");
    bus.add_device(parent.clone());
    assert!(parent.bound_driver().is_some());

    let ids: &'static [auxiliary_device_id] =
        Box::leak(Box::new([aux_id("races.stress"), aux_id("")]));
    let drivers = Mutex::new(Vec::new());
    let register = |k: usize| {
        let driver = auxiliary_driver {
            probe: Some(aux_probe),
            remove: Some(aux_remove),
            name: [c"drv0", c"drv1"][k].as_ptr(),
            id_table: ids.as_ptr(),
            ..Default::default()
        };
        let driver = Leaked::new(driver, k == 0);
        let ptr = driver.driver();
        let owner = THIS_MODULE.load(Ordering::SeqCst).cast();
        // SAFETY: the driver is kept until the bus is gone, and unregistered below; the module
        // stays loaded until the threads end.
        unsafe { __auxiliary_driver_register(ptr, owner, c"races") }.unwrap();
        thread::yield_now();
        // SAFETY: registered above.
        unsafe { auxiliary_driver_unregister(ptr) };
        driver.set_gone();
        // SAFETY: the driver is alive; this is only an address.
        let embedded = unsafe { &raw const (*ptr).driver };
        let devices = bus.auxiliary_devices();
        check_unbound(&AUX_VIOLATIONS, devices.iter().map(|d| &d.dev), embedded);
        drivers.lock().unwrap().push(driver);
    };
    let add_remove = |k: usize, round: usize| {
        let id = (k * ROUNDS + round) as u32;
        let adev = auxiliary_device_init(&parent.dev, c"stress", id).as_ptr();
        set_live(adev as usize, true);
        // SAFETY: a new device we own a reference on, under a bound parent.
        unsafe { __auxiliary_device_add(adev, c"races") }.unwrap();
        thread::yield_now();
        // SAFETY: we own a reference on the added device.
        unsafe { auxiliary_device_delete(adev) };
        set_live(adev as usize, false);
        // SAFETY: as above.
        if unsafe { (*adev).dev.driver() }.is_some() {
            AUX_VIOLATIONS.record(format!("auxiliary device {id} bound after deletion"));
        }
        // SAFETY: our reference, dropped once; the device is not used afterwards.
        unsafe { auxiliary_device_uninit(adev) };
    };
    race(register, add_remove);
    drop(module);
    drop(bus);
    free_all(drivers);
    free_all(Mutex::new(vec![parent_driver]));
    let violations = std::mem::take(&mut *AUX_VIOLATIONS.0.lock().unwrap());
    assert!(violations.is_empty(), "{violations:#?}");
}
