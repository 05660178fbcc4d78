//! A running edu driver's state as a shell reads it (`drydock_host::state`: the files the runner
//! publishes under `drydock/` in the process's debugfs tree), on the simulated bus: the figures
//! are what the simulated device did and what the driver counted.

use std::ffi::CString;
use std::time::{Duration, Instant};

use drydock_host::debugfs;
use drydock_host::state;
use drydock_runner::driver_data::WithDriver;
use drydock_sim::models::Edu;
use drydock_sim::state::{find, tables, Row};
use drydock_sim::{DeviceModel, SimBus};
use edu::{EduDriver, BUFFER_SIZE};

/// edu's interrupt raise register: writing a cause raises an interrupt with it.
const IRQ_RAISE: usize = 0x60;
/// The factorial cause.
const IRQ_FACTORIAL: u64 = 0x1;

/// The tables of the state file `name` under `dir`, read in the process.
fn read(dir: &str, name: &str) -> Vec<Vec<Row>> {
    let text = debugfs::read(&format!("{dir}/{name}")).unwrap();
    tables(&String::from_utf8(text).unwrap())
}

/// A cell of the row of `device` in the first table of the state file `name`, as a number.
fn figure(dir: &str, name: &str, device: &str, column: &str) -> u64 {
    let tables = read(dir, name);
    let row = find(&tables[0], "DEVICE", device).unwrap_or_else(|| panic!("{device} in {name}"));
    row[column].parse().unwrap()
}

#[test]
fn the_state_files_show_what_the_device_did_and_the_driver_counted() {
    let bus = SimBus::new();
    let device = bus.add(4, Edu::new());
    let _module = bus.load(&edu::__DRYDOCK_MODULE).unwrap();
    let name = device.name().to_owned();
    // A directory of its own: tests of this file share the process's tree.
    let dir = format!("drydock-{name}");
    let _files = state::publish(bus.bus(), &CString::new(dir.clone()).unwrap()).unwrap();

    let devices = read(&dir, "devices");
    let row = find(&devices[0], "DEVICE", &name).unwrap();
    assert_eq!(row["IDS"], "1234:11e8");
    assert_eq!(row["BACKEND"], "simulated");
    assert_eq!(row["DRIVER"], "edu");
    assert_eq!((&*row["IRQ"], &*row["VECTORS"]), ("MSI", "1"));

    // One operation at a time: one interrupt each, one run of the handler each.
    let counted = device
        .with_driver::<EduDriver, _>(|dev, edu| {
            for n in 0..10 {
                edu.factorial(dev, n).unwrap();
            }
            edu.write_to_device(dev, 0, &[0x5a; 100]).unwrap();
            let mut back = [0; 100];
            edu.read_from_device(dev, 0, &mut back).unwrap();
            edu.events().interrupts
        })
        .unwrap();
    let raised = device.model().interrupts_raised();
    assert_eq!((raised, counted), (12, 12));
    let interrupts = read(&dir, "interrupts");
    let line = find(&interrupts[0], "DEVICE", &name).unwrap();
    assert_eq!(line["INTERRUPTS"], "12");
    assert_eq!(line["RUNS"], "12");
    assert_eq!((&*line["TYPE"], &*line["VECTOR"]), ("MSI", "0"));
    assert_eq!(line["HANDLERS"], "edu");
    assert!(line["IRQ"].ends_with(':'));

    // A burst, raised without waiting: however many runs serve it, every interrupt is counted.
    let ctx = device.function().context();
    for _ in 0..16 {
        device.model().write(&ctx, 0, IRQ_RAISE, 4, IRQ_FACTORIAL);
    }
    let raised = device.model().interrupts_raised();
    assert_eq!(raised, 28);
    let deadline = Instant::now() + Duration::from_secs(10);
    while figure(&dir, "interrupts", &name, "INTERRUPTS") != raised {
        assert!(Instant::now() < deadline, "the burst was not counted");
        std::thread::sleep(Duration::from_millis(1));
    }
    let runs = figure(&dir, "interrupts", &name, "RUNS");
    let counted = device
        .with_driver::<EduDriver, _>(|_, edu| edu.events().interrupts)
        .unwrap();
    assert!(
        (13..=raised).contains(&runs) && counted <= runs,
        "{runs} runs, {counted} counted by the driver, for {raised} interrupts"
    );

    // The driver's one buffer, in the simulated IOMMU's one chunk.
    let dma = read(&dir, "dma");
    let held = find(&dma[0], "DEVICE", &name).unwrap();
    assert_eq!(held["COHERENT"], "1");
    assert_eq!(held["COHERENT_BYTES"], BUFFER_SIZE.to_string());
    assert_eq!((&*held["STREAMING"], &*held["STREAMING_BYTES"]), ("0", "0"));
    let space = find(&dma[1], "SPACE", &held["SPACE"]).unwrap();
    assert_eq!(space["BACKEND"], "simulated");
    assert_eq!(space["MAPPINGS"], "1");
    assert_eq!(
        space["MAPPED_BYTES"],
        drydock_host::dma::pool::CHUNK_SIZE.to_string()
    );

    // The same text through the FUSE mount, where FUSE is usable.
    let mount_dir = std::env::temp_dir().join(format!("drydock-edu-state.{}", std::process::id()));
    if let Some(mount) = drydock_sim::fuse::mount_or_skip::<debugfs::Debugfs>(&mount_dir) {
        for file in ["devices", "interrupts", "dma"] {
            let path = mount.dir().join(&dir).join(file);
            let shown = std::fs::read_to_string(&path).unwrap();
            assert_eq!(
                shown.as_bytes(),
                debugfs::read(&format!("{dir}/{file}")).unwrap()
            );
        }
    }

    // Unbound, the driver holds nothing, and its vector is gone.
    bus.bus().release(&bus.bus().device(&name).unwrap());
    assert_eq!(figure(&dir, "dma", &name, "COHERENT"), 0);
    assert_eq!(figure(&dir, "dma", &name, "COHERENT_BYTES"), 0);
    assert!(read(&dir, "interrupts")[0].is_empty());
    let devices = read(&dir, "devices");
    let row = find(&devices[0], "DEVICE", &name).unwrap();
    assert_eq!((&*row["DRIVER"], &*row["IRQ"]), ("-", "-"));
}
