//! Faux devices through the mirror: bound as soon as they are registered, printing as the kernel's
//! do, unique by name, holding device-managed resources until the registration is dropped.

use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::Arc;

use drydock_host::faux::faux_device;
use drydock_runner::logger;
use kernel::{auxiliary, devres, faux, prelude::*, types::ForLt};

/// A value that records that it was dropped.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, SeqCst);
    }
}

#[test]
fn a_faux_device_is_bound_until_its_registration_is_dropped() -> Result {
    let log = logger::capture();
    let reg = faux::Registration::new(c"drydock-faux-bound", None)?;
    let host = faux_device("drydock-faux-bound").expect("the device is on the faux bus");
    assert_eq!(host.dev.driver_name(), Some(c"faux_driver"));
    dev_info!(reg.as_ref(), "Hello from faux device!\n");
    assert!(
        log.contains("faux_driver drydock-faux-bound: Hello from faux device!"),
        "{:?}",
        log.records()
    );

    let released = Arc::new(AtomicBool::new(false));
    devres::register(
        reg.as_ref().as_ref(),
        DropFlag(released.clone()),
        GFP_KERNEL,
    )?;
    assert!(!released.load(SeqCst));
    drop(reg);
    assert!(released.load(SeqCst), "the devres was released at unbind");
    assert_eq!(host.dev.driver_name(), None);
    assert!(faux_device("drydock-faux-bound").is_none());
    Ok(())
}

#[test]
fn faux_device_names_are_unique() -> Result {
    let log = logger::capture();
    let first = faux::Registration::new(c"drydock-faux-unique", None)?;
    assert_eq!(
        faux::Registration::new(c"drydock-faux-unique", None).err(),
        Some(ENODEV)
    );
    // As the kernel prints it: `device_add()`'s errno, in decimal.
    assert!(
        log.contains(
            "faux_device_create: device_add for faux device 'drydock-faux-unique' failed with -17"
        ),
        "{:?}",
        log.records()
    );
    assert!(faux_device("drydock-faux-unique").is_some());
    drop(first);
    let _again = faux::Registration::new(c"drydock-faux-unique", None)?;
    Ok(())
}

#[test]
fn a_faux_device_has_the_parent_it_was_given() -> Result {
    let parent = faux::Registration::new(c"drydock-faux-parent", None)?;
    let _child = faux::Registration::new(c"drydock-faux-child", Some(parent.as_ref().as_ref()))?;
    let child = faux_device("drydock-faux-child").unwrap();
    assert_eq!(
        child.dev.parent().map(|p| p.name()),
        Some(c"drydock-faux-parent")
    );
    assert!(faux_device("drydock-faux-parent")
        .unwrap()
        .dev
        .parent()
        .is_none());
    Ok(())
}

#[test]
fn a_faux_device_cannot_parent_auxiliary_devices() -> Result {
    // drydock's difference: a faux device is not bound to a driver of a loaded module's bus.
    let parent = faux::Registration::new(c"drydock-faux-no-aux", None)?;
    let reg = auxiliary::Registration::<ForLt!(u32)>::new(
        parent.as_ref().as_ref(),
        c"aux",
        0,
        c"drydock_faux",
        1u32,
    );
    assert_eq!(reg.err(), Some(ENODEV));
    Ok(())
}
