//! The auxiliary bus through the mirror, on the simulated bus: a PCI driver (`aux_parent`) adds
//! auxiliary devices under pci-testdev; an auxiliary driver of the same module and one of another
//! module (`aux_alpha`) bind them by `modname.name`, reach the parent's registration data, and are
//! unbound, with their device-managed resources released, before the parent's own resources go.
//! Other modules cover probes that fail or panic, two drivers for one device, a parent whose probe
//! fails after adding devices, and an auxiliary device under an auxiliary device.
//!
//! Every driver callback and drop records an event tagged with the parent's PCI address, unique to
//! each test's bus, so tests running in parallel read only their own events.

// The drivers live in private modules of this test crate; their `pub` items (and those the module
// macros generate) are public only in the sense a driver file needs.
#![allow(unreachable_pub)]

use std::sync::Mutex;

use drydock_host::auxiliary::AuxiliaryDeviceRef;
use drydock_host::errno::Errno;
use drydock_runner::logger;
use drydock_sim::{models::PciTestdev, SimBus, SimDevice};

/// Events of every test, each with the tag of the test's parent device.
static EVENTS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Records `event` for the parent device named `tag`.
fn record(tag: &str, event: String) {
    EVENTS.lock().unwrap().push((tag.to_owned(), event));
}

/// Takes the events recorded so far for the parent device named `tag`.
fn take_events(tag: &str) -> Vec<String> {
    let mut events = EVENTS.lock().unwrap();
    let (mine, others) = events.drain(..).partition(|(t, _)| t == tag);
    *events = others;
    mine.into_iter().map(|(_, event)| event).collect()
}

/// A value that records an event when dropped: released device-managed resources, dropped data.
pub struct Recorder {
    tag: String,
    event: String,
}

impl Recorder {
    fn new(tag: &str, event: impl Into<String>) -> Self {
        Self {
            tag: tag.to_owned(),
            event: event.into(),
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        record(&self.tag, std::mem::take(&mut self.event));
    }
}

/// The PCI driver that adds the auxiliary devices, and the auxiliary driver of `beta` devices,
/// registered by the same module after the PCI driver, as upstream's `rust_driver_auxiliary`
/// sample registers its two drivers.
mod parent {
    use super::{record, Recorder};
    use kernel::{
        auxiliary,
        device::{Bound, Core},
        devres, driver, new_mutex, pci,
        prelude::*,
        sync::Mutex,
        types::{CovariantForLt, ForLt},
        InPlaceModule,
    };

    pub const MODNAME: &CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

    /// What the parent shares with an `alpha` device's driver: a `'static` covariant value.
    pub struct Shared {
        pub value: u32,
        pub _dropped: Recorder,
    }

    /// What the parent shares with the `beta` device's driver: a borrow of the parent behind a
    /// lock, so invariant in its lifetime.
    #[pin_data]
    pub struct BetaData<'bound> {
        #[pin]
        pub parent: Mutex<&'bound pci::Device<Bound>>,
    }

    type Alpha = CovariantForLt!(Shared);

    /// The parent driver's data: the registrations, dropped in this order at unbind.
    pub struct ParentData<'bound> {
        _alpha0: auxiliary::Registration<'bound, Alpha>,
        _alpha1: auxiliary::Registration<'bound, Alpha>,
        _beta0: auxiliary::Registration<'bound, ForLt!(BetaData<'_>)>,
        _alphabet0: auxiliary::Registration<'bound, Alpha>,
    }

    pub struct ParentDriver;

    kernel::pci_device_table!(
        PCI_TABLE,
        <ParentDriver as pci::Driver>::IdInfo,
        [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
    );

    /// Registers the `alpha`-like device `name.id` sharing `value`, and records that it returned.
    fn shared<'bound>(
        pdev: &'bound pci::Device<Core<'_>>,
        tag: &str,
        name: &CStr,
        id: u32,
        value: u32,
    ) -> Result<auxiliary::Registration<'bound, Alpha>> {
        let dropped = Recorder::new(tag, format!("{}.{id} data dropped", name.to_str().unwrap()));
        let reg = auxiliary::Registration::new(
            pdev.as_ref(),
            name,
            id,
            MODNAME,
            Shared {
                value,
                _dropped: dropped,
            },
        )?;
        record(tag, format!("registered {}.{id}", name.to_str().unwrap()));
        Ok(reg)
    }

    impl pci::Driver for ParentDriver {
        type IdInfo = ();
        type Data<'bound> = ParentData<'bound>;
        const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound Self::IdInfo>,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let tag = pdev.as_ref().name().to_str().unwrap();
            devres::register(
                pdev.as_ref(),
                Recorder::new(tag, "parent devres released"),
                GFP_KERNEL,
            )?;
            let _alpha0 = shared(pdev, tag, c"alpha", 0, 100)?;
            let _alpha1 = shared(pdev, tag, c"alpha", 1, 101)?;
            // A second device of the same name and number is refused.
            let duplicate = shared(pdev, tag, c"alpha", 0, 102).err();
            record(tag, format!("duplicate alpha.0: {duplicate:?}"));
            let bound: &'bound pci::Device<Bound> = pdev;
            let beta = pin_init!(BetaData {
                parent <- new_mutex!(bound),
            });
            // SAFETY: the registration is kept in the driver's data, dropped at unbind.
            let _beta0 = unsafe {
                auxiliary::Registration::new_with_lt(pdev.as_ref(), c"beta", 0, MODNAME, beta)?
            };
            record(tag, "registered beta.0".into());
            let _alphabet0 = shared(pdev, tag, c"alphabet", 0, 200)?;
            Ok(ParentData {
                _alpha0,
                _alpha1,
                _beta0,
                _alphabet0,
            })
        }

        fn unbind<'bound>(pdev: &'bound pci::Device<Core<'_>>, _this: Pin<&ParentData<'bound>>) {
            record(
                pdev.as_ref().name().to_str().unwrap(),
                "parent unbind".into(),
            );
        }
    }

    pub struct BetaDriver;

    kernel::auxiliary_device_table!(
        BETA_TABLE,
        <BetaDriver as auxiliary::Driver>::IdInfo,
        [(auxiliary::DeviceId::new(MODNAME, c"beta"), ())]
    );

    impl auxiliary::Driver for BetaDriver {
        type IdInfo = ();
        type Data<'bound> = ();
        const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &BETA_TABLE;

        fn probe<'bound>(
            adev: &'bound auxiliary::Device<Core<'_>>,
            _info: &'bound Self::IdInfo,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let tag = adev.parent().name().to_str().unwrap();
            // The data is reached through the closure accessor, with the type the parent used.
            let parent = adev.registration_data_with::<ForLt!(BetaData<'_>), _>(|data| {
                data.parent
                    .lock()
                    .as_ref()
                    .name()
                    .to_str()
                    .unwrap()
                    .to_owned()
            })?;
            record(tag, format!("beta probe {}: parent {parent}", adev.id()));
            devres::register(
                adev.as_ref(),
                Recorder::new(tag, "beta devres released"),
                GFP_KERNEL,
            )
        }
    }

    #[pin_data]
    struct ParentModule {
        #[pin]
        _pci: driver::Registration<pci::Adapter<ParentDriver>>,
        #[pin]
        _beta: driver::Registration<auxiliary::Adapter<BetaDriver>>,
    }

    impl InPlaceModule for ParentModule {
        fn init(module: &'static kernel::ThisModule) -> impl PinInit<Self, Error> {
            try_pin_init!(Self {
                _pci <- driver::Registration::new(MODNAME, module),
                _beta <- driver::Registration::new(MODNAME, module),
            })
        }
    }

    kernel::prelude::module! {
        type: ParentModule,
        name: "aux_parent",
        license: "GPL",
    }
}

/// An auxiliary driver of another module, for the parent's `alpha` devices.
mod alpha {
    use super::{parent::Shared, record, Recorder};
    use kernel::{auxiliary, device::Core, devres, prelude::*, types::CovariantForLt};

    pub struct AlphaDriver;

    /// The driver's data for a bound device.
    pub struct AlphaData {
        _dropped: Recorder,
    }

    kernel::auxiliary_device_table!(
        ALPHA_TABLE,
        <AlphaDriver as auxiliary::Driver>::IdInfo,
        [
            (auxiliary::DeviceId::new(c"aux_parent", c"alpha"), 7),
            (auxiliary::DeviceId::new(c"aux_bad_parent", c"alpha"), 8),
        ]
    );

    impl auxiliary::Driver for AlphaDriver {
        type IdInfo = u32;
        type Data<'bound> = AlphaData;
        const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &ALPHA_TABLE;

        fn probe<'bound>(
            adev: &'bound auxiliary::Device<Core<'_>>,
            info: &'bound Self::IdInfo,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let tag = adev.parent().name().to_str().unwrap();
            let id = adev.id();
            let data = adev.registration_data::<CovariantForLt!(Shared)>()?;
            record(
                tag,
                format!("alpha probe {id}: info {info}, data {}", data.value),
            );
            // Another type than the registration's is refused.
            let wrong = adev.registration_data::<CovariantForLt!(u32)>().err();
            record(tag, format!("alpha {id} as u32: {wrong:?}"));
            dev_info!(adev, "alpha probed under {tag}\n");
            devres::register(
                adev.as_ref(),
                Recorder::new(tag, format!("alpha devres {id} released")),
                GFP_KERNEL,
            )?;
            Ok(AlphaData {
                _dropped: Recorder::new(tag, format!("alpha data {id} dropped")),
            })
        }

        fn unbind<'bound>(adev: &'bound auxiliary::Device<Core<'_>>, _this: Pin<&AlphaData>) {
            let tag = adev.parent().name().to_str().unwrap();
            record(tag, format!("alpha unbind {}", adev.id()));
        }
    }

    kernel::module_auxiliary_driver! {
        type: AlphaDriver,
        name: "aux_alpha",
        license: "GPL",
    }
}

/// Declares the module `$module`, named `$name`, with an auxiliary driver of the parent's `alpha`
/// devices whose probe is `$probe`.
macro_rules! alpha_driver_module {
    ($(#[$doc:meta])* $module:ident, $name:tt, $probe:path) => {
        $(#[$doc])*
        mod $module {
            use kernel::{auxiliary, device::Core, prelude::*};

            pub struct AlphaDriver;

            kernel::auxiliary_device_table!(
                TABLE,
                <AlphaDriver as auxiliary::Driver>::IdInfo,
                [(auxiliary::DeviceId::new(c"aux_parent", c"alpha"), ())]
            );

            impl auxiliary::Driver for AlphaDriver {
                type IdInfo = ();
                type Data<'bound> = ();
                const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &TABLE;

                fn probe<'bound>(
                    adev: &'bound auxiliary::Device<Core<'_>>,
                    _info: &'bound Self::IdInfo,
                ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
                    $probe(adev)
                }
            }

            kernel::module_auxiliary_driver! {
                type: AlphaDriver,
                name: $name,
                license: "GPL",
            }
        }
    };
}

/// Records the probe of `adev` by the driver `what` and registers a device-managed resource that
/// records its release.
fn probe_with_devres(
    adev: &kernel::auxiliary::Device<kernel::device::Core<'_>>,
    what: &str,
) -> kernel::error::Result {
    let tag = adev.parent().name().to_str().unwrap();
    let id = adev.id();
    record(tag, format!("{what} probe {id}"));
    kernel::devres::register(
        adev.as_ref(),
        Recorder::new(tag, format!("{what} devres {id} released")),
        kernel::alloc::flags::GFP_KERNEL,
    )
}

/// The probe of `aux_fails`: fails after registering a device-managed resource.
fn fails_probe(
    adev: &kernel::auxiliary::Device<kernel::device::Core<'_>>,
) -> kernel::error::Result {
    probe_with_devres(adev, "fails")?;
    Err(kernel::error::code::ENOSPC)
}

/// The probe of `aux_panics`: panics after registering a device-managed resource.
fn panics_probe(
    adev: &kernel::auxiliary::Device<kernel::device::Core<'_>>,
) -> kernel::error::Result {
    probe_with_devres(adev, "panics")?;
    panic!("panics in its probe");
}

/// The probe of `aux_second`: binds.
fn second_probe(
    adev: &kernel::auxiliary::Device<kernel::device::Core<'_>>,
) -> kernel::error::Result {
    let tag = adev.parent().name().to_str().unwrap();
    record(tag, format!("second probe {}", adev.id()));
    Ok(())
}

alpha_driver_module!(
    /// An auxiliary driver of the parent's `alpha` devices whose probe fails.
    fails, "aux_fails", super::fails_probe
);
alpha_driver_module!(
    /// An auxiliary driver of the parent's `alpha` devices whose probe panics.
    panics, "aux_panics", super::panics_probe
);
alpha_driver_module!(
    /// A second driver of the parent's `alpha` devices, which binds them.
    second, "aux_second", super::second_probe
);

/// A PCI driver for pci-testdev that adds an `alpha` device, then fails its probe.
mod bad_parent {
    use super::{parent::Shared, record, Recorder};
    use kernel::{auxiliary, device::Core, devres, pci, prelude::*};

    const MODNAME: &CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

    pub struct BadParentDriver;

    kernel::pci_device_table!(
        PCI_TABLE,
        <BadParentDriver as pci::Driver>::IdInfo,
        [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
    );

    impl pci::Driver for BadParentDriver {
        type IdInfo = ();
        type Data<'bound> = ();
        const ID_TABLE: pci::IdTable<Self::IdInfo> = &PCI_TABLE;

        fn probe<'bound>(
            pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound Self::IdInfo>,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let tag = pdev.as_ref().name().to_str().unwrap();
            devres::register(
                pdev.as_ref(),
                Recorder::new(tag, "bad parent devres released"),
                GFP_KERNEL,
            )?;
            let _alpha0 = auxiliary::Registration::<kernel::types::CovariantForLt!(Shared)>::new(
                pdev.as_ref(),
                c"alpha",
                0,
                MODNAME,
                Shared {
                    value: 300,
                    _dropped: Recorder::new(tag, "alpha.0 data dropped"),
                },
            )?;
            record(tag, "bad parent fails".into());
            // The registration is dropped on the way out, before the driver core releases the
            // parent's device-managed resources.
            Err::<(), _>(ENODEV)
        }
    }

    kernel::module_pci_driver! {
        type: BadParentDriver,
        name: "aux_bad_parent",
        license: "GPL",
    }
}

/// The data an `aux_nest` driver shares with the device it adds under its own auxiliary device.
pub struct ChildData {
    tag: String,
    _dropped: Recorder,
}

/// An auxiliary driver of the parent's `alphabet` device that adds an auxiliary device of its own
/// under it.
mod nest {
    use super::{record, ChildData, Recorder};
    use kernel::{auxiliary, device::Core, devres, prelude::*, types::CovariantForLt};

    const MODNAME: &CStr = <LocalModule as kernel::ModuleMetadata>::NAME;

    pub struct NestDriver;

    kernel::auxiliary_device_table!(
        TABLE,
        <NestDriver as auxiliary::Driver>::IdInfo,
        [(auxiliary::DeviceId::new(c"aux_parent", c"alphabet"), ())]
    );

    impl auxiliary::Driver for NestDriver {
        type IdInfo = ();
        type Data<'bound> = auxiliary::Registration<'bound, CovariantForLt!(ChildData)>;
        const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &TABLE;

        fn probe<'bound>(
            adev: &'bound auxiliary::Device<Core<'_>>,
            _info: &'bound Self::IdInfo,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let tag = adev.parent().name().to_str().unwrap();
            record(tag, "nest probe".into());
            devres::register(
                adev.as_ref(),
                Recorder::new(tag, "nest devres released"),
                GFP_KERNEL,
            )?;
            let child = ChildData {
                tag: tag.to_owned(),
                _dropped: Recorder::new(tag, "child.0 data dropped"),
            };
            auxiliary::Registration::new(adev.as_ref(), c"child", 0, MODNAME, child)
        }

        fn unbind<'bound>(
            adev: &'bound auxiliary::Device<Core<'_>>,
            _this: Pin<&Self::Data<'bound>>,
        ) {
            record(adev.parent().name().to_str().unwrap(), "nest unbind".into());
        }
    }

    kernel::module_auxiliary_driver! {
        type: NestDriver,
        name: "aux_nest",
        license: "GPL",
    }
}

/// The auxiliary driver of the devices `aux_nest` adds.
mod child {
    use super::{record, ChildData, Recorder};
    use kernel::{auxiliary, device::Core, devres, prelude::*, types::CovariantForLt};

    pub struct ChildDriver;

    kernel::auxiliary_device_table!(
        TABLE,
        <ChildDriver as auxiliary::Driver>::IdInfo,
        [(auxiliary::DeviceId::new(c"aux_nest", c"child"), ())]
    );

    impl auxiliary::Driver for ChildDriver {
        type IdInfo = ();
        type Data<'bound> = ();
        const ID_TABLE: auxiliary::IdTable<Self::IdInfo> = &TABLE;

        fn probe<'bound>(
            adev: &'bound auxiliary::Device<Core<'_>>,
            _info: &'bound Self::IdInfo,
        ) -> impl PinInit<Self::Data<'bound>, Error> + 'bound {
            let data = adev.registration_data::<CovariantForLt!(ChildData)>()?;
            let parent = adev.parent().name().to_str().unwrap();
            record(
                &data.tag,
                format!("child probe {} under {parent}", adev.id()),
            );
            devres::register(
                adev.as_ref(),
                Recorder::new(&data.tag, "child devres released"),
                GFP_KERNEL,
            )
        }

        fn unbind<'bound>(adev: &'bound auxiliary::Device<Core<'_>>, _this: Pin<&()>) {
            if let Ok(data) = adev.registration_data::<CovariantForLt!(ChildData)>() {
                record(&data.tag, "child unbind".into());
            }
        }
    }

    kernel::module_auxiliary_driver! {
        type: ChildDriver,
        name: "aux_child",
        license: "GPL",
    }
}

/// The names of the auxiliary devices on `bus`, in the order they were added, each with the name
/// of its bound driver.
fn auxiliary_devices(bus: &SimBus) -> Vec<(String, Option<String>)> {
    let name = |d: &AuxiliaryDeviceRef| d.dev.name().to_str().unwrap().to_owned();
    let driver =
        |d: &AuxiliaryDeviceRef| d.dev.driver_name().map(|n| n.to_str().unwrap().to_owned());
    bus.bus()
        .auxiliary_devices()
        .iter()
        .map(|d| (name(d), driver(d)))
        .collect()
}

/// A simulated bus with a pci-testdev, not yet bound.
fn testdev() -> (SimBus, SimDevice<PciTestdev>) {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    (bus, device)
}

fn owned(devices: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    devices
        .iter()
        .map(|(name, driver)| (name.to_string(), driver.map(str::to_owned)))
        .collect()
}

#[test]
fn devices_are_named_modname_name_id_and_bound_by_modname_name() {
    let log = logger::capture();
    let (bus, device) = testdev();
    let tag = device.name();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    assert!(device.is_bound());
    // No driver of `alpha` yet; `beta`'s, of the same module, registered after the PCI driver,
    // bound its device.
    assert_eq!(
        auxiliary_devices(&bus),
        owned(&[
            ("aux_parent.alpha.0", None),
            ("aux_parent.alpha.1", None),
            ("aux_parent.beta.0", Some("aux_parent.aux_parent")),
            ("aux_parent.alphabet.0", None),
        ])
    );
    assert_eq!(
        take_events(tag),
        [
            "registered alpha.0".to_owned(),
            "registered alpha.1".into(),
            "alpha.0 data dropped".into(),
            "duplicate alpha.0: Some(EEXIST)".into(),
            "registered beta.0".into(),
            "registered alphabet.0".into(),
            format!("beta probe 0: parent {tag}"),
        ]
    );

    // Another module's driver, loaded later, binds the devices added earlier that its table
    // names, in the order they were added, with its entry's information; `alphabet` is not
    // `alpha`.
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    assert_eq!(
        auxiliary_devices(&bus),
        owned(&[
            ("aux_parent.alpha.0", Some("aux_alpha.aux_alpha")),
            ("aux_parent.alpha.1", Some("aux_alpha.aux_alpha")),
            ("aux_parent.beta.0", Some("aux_parent.aux_parent")),
            ("aux_parent.alphabet.0", None),
        ])
    );
    assert_eq!(
        take_events(tag),
        [
            "alpha probe 0: info 7, data 100",
            "alpha 0 as u32: Some(EINVAL)",
            "alpha probe 1: info 7, data 101",
            "alpha 1 as u32: Some(EINVAL)",
        ]
    );
    // The driver prints as the kernel's does: driver name, device name.
    assert!(
        log.contains(&format!(
            "aux_alpha.aux_alpha aux_parent.alpha.1: alpha probed under {tag}"
        )),
        "{:?}",
        log.records()
    );
    // The duplicate was reported as `__auxiliary_device_add()` reports it, the errno in decimal.
    assert!(
        log.contains("auxiliary aux_parent.alpha.0: adding auxiliary device failed!: -17"),
        "{:?}",
        log.records()
    );
}

#[test]
fn a_driver_name_is_registered_once_per_bus() {
    let log = logger::capture();
    let (bus, _device) = testdev();
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    assert_eq!(bus.load(&alpha::__DRYDOCK_MODULE).err(), Some(Errno::EBUSY));
    assert!(
        log.contains("Error: Driver 'aux_alpha.aux_alpha' is already registered, aborting..."),
        "{:?}",
        log.records()
    );
    // Another bus is another process's kernel: the same module loads there.
    let (other, _device) = testdev();
    let _alpha = other.load(&alpha::__DRYDOCK_MODULE).unwrap();
}

#[test]
fn a_registered_driver_probes_each_device_as_it_is_added() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    // Each `alpha` device was probed before its registration returned.
    assert_eq!(
        take_events(tag)[..6],
        [
            "alpha probe 0: info 7, data 100",
            "alpha 0 as u32: Some(EINVAL)",
            "registered alpha.0",
            "alpha probe 1: info 7, data 101",
            "alpha 1 as u32: Some(EINVAL)",
            "registered alpha.1",
        ]
    );
}

#[test]
fn auxiliary_devices_go_before_the_parents_device_managed_resources() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    take_events(tag);

    device.unplug();
    // The parent's `remove()`, then its data: each registration unbinds its device's driver (its
    // `unbind`, its data, its device-managed resources), removes the device and drops the data it
    // shared; then the parent's device-managed resources.
    assert_eq!(
        take_events(tag),
        [
            "parent unbind",
            "alpha unbind 0",
            "alpha data 0 dropped",
            "alpha devres 0 released",
            "alpha.0 data dropped",
            "alpha unbind 1",
            "alpha data 1 dropped",
            "alpha devres 1 released",
            "alpha.1 data dropped",
            "beta devres released",
            "alphabet.0 data dropped",
            "parent devres released",
        ]
    );
    assert_eq!(auxiliary_devices(&bus), []);
}

#[test]
fn unloading_an_auxiliary_driver_leaves_its_devices_to_the_next() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    let alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    take_events(tag);

    drop(alpha);
    assert_eq!(
        take_events(tag),
        [
            "alpha unbind 0",
            "alpha data 0 dropped",
            "alpha devres 0 released",
            "alpha unbind 1",
            "alpha data 1 dropped",
            "alpha devres 1 released",
        ]
    );
    assert_eq!(
        auxiliary_devices(&bus)[..2],
        owned(&[("aux_parent.alpha.0", None), ("aux_parent.alpha.1", None)])
    );

    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    assert_eq!(
        take_events(tag)
            .iter()
            .filter(|e| e.starts_with("alpha probe"))
            .count(),
        2
    );
    assert_eq!(
        auxiliary_devices(&bus)[..2],
        owned(&[
            ("aux_parent.alpha.0", Some("aux_alpha.aux_alpha")),
            ("aux_parent.alpha.1", Some("aux_alpha.aux_alpha")),
        ])
    );
}

#[test]
fn probes_that_fail_or_panic_are_undone_and_leave_the_device_unbound() {
    let log = logger::capture();
    let (bus, device) = testdev();
    let tag = device.name();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    take_events(tag);

    // A driver registered after the devices probes each; a failed probe's device-managed
    // resources are released and the device stays unbound.
    let fails = bus.load(&fails::__DRYDOCK_MODULE).unwrap();
    let _panics = bus.load(&panics::__DRYDOCK_MODULE).unwrap();
    assert_eq!(
        take_events(tag),
        [
            "fails probe 0",
            "fails devres 0 released",
            "fails probe 1",
            "fails devres 1 released",
            "panics probe 0",
            "panics devres 0 released",
            "panics probe 1",
            "panics devres 1 released",
        ]
    );
    assert_eq!(
        auxiliary_devices(&bus)[..2],
        owned(&[("aux_parent.alpha.0", None), ("aux_parent.alpha.1", None)])
    );
    assert!(log.contains("probe of aux_parent.alpha.1 panicked"));
    assert!(log.contains(
        "aux_fails.aux_fails aux_parent.alpha.0: probe with driver aux_fails.aux_fails failed with \
         error -28"
    ));
    // The devices are free for the next driver, and the failed drivers unload cleanly.
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    drop(fails);
    assert_eq!(
        auxiliary_devices(&bus)[..2],
        owned(&[
            ("aux_parent.alpha.0", Some("aux_alpha.aux_alpha")),
            ("aux_parent.alpha.1", Some("aux_alpha.aux_alpha")),
        ])
    );
}

#[test]
fn a_new_device_goes_to_the_next_driver_when_a_probe_fails_or_panics() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _fails = bus.load(&fails::__DRYDOCK_MODULE).unwrap();
    let _panics = bus.load(&panics::__DRYDOCK_MODULE).unwrap();
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    // Each driver is tried in the order it was registered until one binds.
    assert_eq!(
        take_events(tag)[..7],
        [
            "fails probe 0",
            "fails devres 0 released",
            "panics probe 0",
            "panics devres 0 released",
            "alpha probe 0: info 7, data 100",
            "alpha 0 as u32: Some(EINVAL)",
            "registered alpha.0",
        ]
    );
    assert_eq!(
        auxiliary_devices(&bus)[..2],
        owned(&[
            ("aux_parent.alpha.0", Some("aux_alpha.aux_alpha")),
            ("aux_parent.alpha.1", Some("aux_alpha.aux_alpha")),
        ])
    );
}

#[test]
fn of_two_matching_drivers_the_first_registered_binds() {
    for (first, second, bound) in [
        (
            &second::__DRYDOCK_MODULE,
            &alpha::__DRYDOCK_MODULE,
            "aux_second.aux_second",
        ),
        (
            &alpha::__DRYDOCK_MODULE,
            &second::__DRYDOCK_MODULE,
            "aux_alpha.aux_alpha",
        ),
    ] {
        let (bus, device) = testdev();
        let _first = bus.load(first).unwrap();
        let _second = bus.load(second).unwrap();
        let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
        assert_eq!(
            auxiliary_devices(&bus)[..2],
            owned(&[
                ("aux_parent.alpha.0", Some(bound)),
                ("aux_parent.alpha.1", Some(bound)),
            ])
        );
        let probes: Vec<String> = take_events(device.name())
            .into_iter()
            .filter(|e| e.starts_with("alpha probe") || e.starts_with("second probe"))
            // The driver and the device number, without what `alpha` adds after a colon.
            .map(|e| e.split(':').next().unwrap().to_owned())
            .collect();
        let driver = bound.split('.').next().unwrap().trim_start_matches("aux_");
        assert_eq!(
            probes,
            [0, 1].map(|id| format!("{driver} probe {id}")),
            "the first registered driver binds, the other is not tried"
        );
    }
}

#[test]
fn a_parent_whose_probe_fails_removes_the_devices_it_added() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _alpha = bus.load(&alpha::__DRYDOCK_MODULE).unwrap();
    let _parent = bus.load(&bad_parent::__DRYDOCK_MODULE).unwrap();
    assert!(!device.is_bound());
    assert_eq!(
        take_events(tag),
        [
            "alpha probe 0: info 8, data 300",
            "alpha 0 as u32: Some(EINVAL)",
            "bad parent fails",
            "alpha unbind 0",
            "alpha data 0 dropped",
            "alpha devres 0 released",
            "alpha.0 data dropped",
            "bad parent devres released",
        ]
    );
    assert_eq!(auxiliary_devices(&bus), []);
}

#[test]
fn an_auxiliary_device_can_be_added_under_an_auxiliary_device() {
    let (bus, device) = testdev();
    let tag = device.name();
    let _parent = bus.load(&parent::__DRYDOCK_MODULE).unwrap();
    let _child = bus.load(&child::__DRYDOCK_MODULE).unwrap();
    let _nest = bus.load(&nest::__DRYDOCK_MODULE).unwrap();
    assert_eq!(
        auxiliary_devices(&bus)[3..],
        owned(&[
            ("aux_parent.alphabet.0", Some("aux_nest.aux_nest")),
            ("aux_nest.child.0", Some("aux_child.aux_child")),
        ])
    );
    take_events(tag);

    // The child goes with its parent's driver data, before the parent's device-managed
    // resources, and both before the PCI parent's.
    device.unplug();
    let events = take_events(tag);
    let nested: Vec<&str> = events
        .iter()
        .map(String::as_str)
        .filter(|e| e.starts_with("nest") || e.starts_with("child") || e.starts_with("alphabet"))
        .collect();
    assert_eq!(
        nested,
        [
            "nest unbind",
            "child unbind",
            "child devres released",
            "child.0 data dropped",
            "nest devres released",
            "alphabet.0 data dropped",
        ]
    );
    assert_eq!(
        events.last().map(String::as_str),
        Some("parent devres released")
    );
    assert_eq!(auxiliary_devices(&bus), []);
}
