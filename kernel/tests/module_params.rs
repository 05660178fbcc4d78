//! Module parameters and driver command lines: `module! { params: ... }` read by a driver, set the
//! way `insmod` sets them.

#![allow(unreachable_pub)]

use drydock_host::vfio::{Interface, VfioOptions};
use drydock_runner::command_line::{self, Exit};
use drydock_runner::driver_data::WithDriver;
use drydock_runner::runtime::{Backend, Devices};
use drydock_sim::{models::PciTestdev, SimBus};

/// A pci-testdev driver that records its parameters in its data.
mod tunable {
    use kernel::{device::Core, pci, prelude::*};

    pub struct Data {
        pub depth: u32,
        pub verbose: bool,
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
            _pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<Data, Error> + 'bound {
            Ok(Data {
                depth: super::tunable::module_parameters::depth.value(),
                verbose: super::tunable::module_parameters::verbose.value(),
            })
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "tunable",
        license: "GPL",
        params: {
            depth: u32 {
                default: 8,
                description: "Queue depth",
            },
            verbose: bool {
                default: false,
                description: "Log more",
            },
        },
    }
}

/// The same driver without parameters.
mod plain {
    use kernel::{device::Core, pci, prelude::*};

    pub struct Driver;

    kernel::pci_device_table!(
        TABLE,
        <Driver as pci::Driver>::IdInfo,
        [(pci::DeviceId::from_id(pci::Vendor::REDHAT, 0x5), ())]
    );

    impl pci::Driver for Driver {
        type IdInfo = ();
        type Data<'bound> = ();
        const ID_TABLE: pci::IdTable<()> = &TABLE;

        fn probe<'bound>(
            _pdev: &'bound pci::Device<Core<'_>>,
            _info: Option<&'bound ()>,
        ) -> impl PinInit<(), Error> + 'bound {
            Ok(())
        }
    }

    kernel::module_pci_driver! {
        type: Driver,
        name: "plain",
        license: "GPL",
    }
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn parameters_set_on_the_command_line_reach_the_driver() {
    let module = &tunable::__DRYDOCK_MODULE;
    let command = command_line::parse(
        module,
        "tunable",
        args(&["depth=32", "tunable.verbose=y", "00:04.0"]),
        &[],
    )
    .unwrap_or_else(|_| panic!("a valid command line"));
    match command.options.devices {
        Devices::Addresses(list) => assert_eq!(list, vec!["0000:00:04.0".to_owned()]),
        _ => panic!("the address was not taken"),
    }
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(module).unwrap();
    let (depth, verbose) = device
        .with_driver::<tunable::Driver, _>(|_, data| (data.depth, data.verbose))
        .unwrap();
    assert_eq!((depth, verbose), (32, true));
    // Parameters are set once, as in the kernel.
    assert!(matches!(
        command_line::parse(module, "tunable", args(&["depth=4"]), &[]),
        Err(Exit::Usage(m)) if m.contains("already set")
    ));
}

#[test]
fn wrong_arguments_say_what_is_wrong() {
    let module = &tunable::__DRYDOCK_MODULE;
    let usage = |list: &[&str]| match command_line::parse(
        module,
        "tunable",
        args(list),
        &[("--demo", "run a demo")],
    ) {
        Err(Exit::Usage(message)) => message,
        Err(Exit::Help(_)) => panic!("help instead of an error"),
        Ok(_) => panic!("{list:?} was accepted"),
    };
    assert!(usage(&["speed=3"])
        .contains("unknown parameter `speed`: module tunable has: depth, verbose"));
    assert!(
        usage(&["depth=lots"]).contains("not a valid value for parameter `depth` (Queue depth)")
    );
    assert!(usage(&["0000:00:4g.0"]).contains("is not a PCI address"));
    assert!(usage(&["--fast"]).contains("unknown option `--fast`"));
    let demo = command_line::parse(
        module,
        "tunable",
        args(&["--demo"]),
        &[("--demo", "run a demo")],
    )
    .unwrap_or_else(|_| panic!("a declared flag"));
    assert!(demo.has("--demo"));
    let plain = match command_line::parse(&plain::__DRYDOCK_MODULE, "plain", args(&["x=1"]), &[]) {
        Err(Exit::Usage(message)) => message,
        _ => panic!("accepted"),
    };
    assert!(plain.contains("module plain has no parameters"));
}

#[test]
fn the_vfio_interface_is_chosen_on_the_command_line() {
    let module = &plain::__DRYDOCK_MODULE;
    let backend = |list: &[&str]| match command_line::parse(module, "plain", args(list), &[]) {
        Ok(command) => command.options.backend,
        Err(_) => panic!("{list:?} refused"),
    };
    let vfio = |interface| {
        Backend::Vfio(VfioOptions {
            interface,
            ..VfioOptions::default()
        })
    };
    assert_eq!(backend(&[]), vfio(None));
    assert_eq!(backend(&["--vfio=cdev"]), vfio(Some(Interface::Cdev)));
    assert_eq!(backend(&["--vfio=group"]), vfio(Some(Interface::Group)));
    assert_eq!(backend(&["--vfio=auto"]), vfio(None));
    match command_line::parse(module, "plain", args(&["--vfio=iommufd"]), &[]) {
        Err(Exit::Usage(message)) => assert!(message.contains("--vfio=cdev"), "{message}"),
        _ => panic!("--vfio=iommufd accepted"),
    }
    let Err(Exit::Help(text)) = command_line::parse(module, "plain", args(&["--help"]), &[]) else {
        panic!("no help");
    };
    assert!(text.contains("--vfio=IFACE"), "{text}");
    assert!(text.contains("DRYDOCK_VFIO_INTERFACE"), "{text}");
}

#[test]
fn help_names_the_binary_and_lists_the_parameters() {
    let Err(help) =
        command_line::parse(&tunable::__DRYDOCK_MODULE, "tunctl", args(&["--help"]), &[])
    else {
        panic!("no help");
    };
    assert_eq!(help.status(), 0);
    let Exit::Help(text) = help else {
        panic!("no help");
    };
    // The binary as the user typed it, and the module it runs.
    assert!(text.starts_with("tunctl: "), "{text}");
    assert!(text.contains("(module tunable)"), "{text}");
    assert!(text.contains("Usage: tunctl [OPTIONS] [BDF...] [PARAM=VALUE...]"));
    assert!(text.contains("depth         Queue depth"));
    assert!(text.contains("--uio"));
    // How to set the log level.
    assert!(
        text.contains("RUST_LOG=debug") && text.contains("DRYDOCK_LOG"),
        "{text}"
    );
    // Where its state is, while it runs.
    assert!(
        text.contains("cat /run/drydock/debugfs/tunable.PID/drydock/interrupts"),
        "{text}"
    );
    assert!(text.lines().all(|l| l.len() <= 100), "{text}");
}

#[test]
fn a_bad_command_line_exits_with_the_usage_status() {
    let Err(exit) = command_line::parse(
        &plain::__DRYDOCK_MODULE,
        "plainctl",
        args(&["--bogus"]),
        &[],
    ) else {
        panic!("accepted");
    };
    assert_eq!(exit.status(), 2);
    assert!(
        matches!(&exit, Exit::Usage(m) if m.contains("`plainctl --help` lists the options")),
        "{exit:?}"
    );
}
