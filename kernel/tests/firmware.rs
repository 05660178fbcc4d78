//! `kernel::firmware` on the simulated bus: the kernel's search order over a temporary root, the
//! custom directory first, what a missing, unreadable or oversized file gives and logs, loading
//! into a driver's buffer, and the `.modinfo` entries `ModInfoBuilder` builds.

// The driver lives in a private module of this test crate.
#![allow(unreachable_pub)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use drydock_host::firmware::SearchPath;
use drydock_runner::{driver_data::WithDriver, logger};
use drydock_sim::{models::PciTestdev, SimBus};
use kernel::device::Device;
use kernel::error::{code::*, Result};
use kernel::firmware::{self, Firmware, ModInfoBuilder};
use kernel::str::CStr;

/// A driver for pci-testdev that keeps nothing: the tests request firmware for its device.
#[path = "support/bare_testdev.rs"]
mod bare;

/// The kernel release the tests' machines run.
const RELEASE: &str = "7.3.0-test";

/// A machine's root directory in a temporary directory, removed when dropped.
struct Root(PathBuf);

impl Root {
    fn new() -> Root {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let path = std::env::temp_dir().join(format!(
            "drydock-firmware-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).unwrap();
        Root(path)
    }

    /// Writes `contents` to `dir/name` under the root, creating directories.
    fn put(&self, dir: &str, name: &str, contents: &[u8]) -> PathBuf {
        let file = self.0.join(dir).join(name);
        fs::create_dir_all(file.parent().unwrap()).unwrap();
        fs::write(&file, contents).unwrap();
        file
    }

    /// This machine's search path, with `custom` as `firmware_class.path`.
    fn search_path(&self, custom: Option<&Path>) -> SearchPath {
        SearchPath::under(&self.0, custom, RELEASE)
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs `f` with a bound pci-testdev's device, requests searching `path`.
fn with_device<R>(path: SearchPath, f: impl FnOnce(&Device) -> R) -> R {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&bare::__DRYDOCK_MODULE).unwrap();
    let _path = path.scoped();
    device
        .with_driver::<bare::Driver, _>(|dev, _| f(dev.as_ref()))
        .unwrap()
}

/// The image `name` as `Firmware::request` loads it.
fn load(dev: &Device, name: &CStr) -> Result<Vec<u8>> {
    let fw = Firmware::request(name, dev)?;
    assert_eq!(fw.size(), fw.data().len());
    Ok(fw.data().to_vec())
}

#[test]
fn the_first_directory_of_the_kernels_order_that_has_the_file_wins() {
    let root = Root::new();
    let custom = root.0.join("custom");
    let name = "vendor/chip.bin";
    let order = [
        "custom".to_string(),
        format!("lib/firmware/updates/{RELEASE}"),
        "lib/firmware/updates".to_string(),
        format!("lib/firmware/{RELEASE}"),
        "lib/firmware".to_string(),
    ];
    let files: Vec<PathBuf> = order
        .iter()
        .map(|dir| root.put(dir, name, dir.as_bytes()))
        .collect();
    with_device(root.search_path(Some(&custom)), |dev| {
        // Each directory's file is loaded while it exists; removing it uncovers the next one.
        for (dir, file) in order.iter().zip(&files) {
            assert_eq!(load(dev, c"vendor/chip.bin").unwrap(), dir.as_bytes());
            fs::remove_file(file).unwrap();
        }
        assert_eq!(load(dev, c"vendor/chip.bin"), Err(ENOENT));
    });
}

#[test]
fn the_custom_directory_is_searched_first_and_only_when_set() {
    let root = Root::new();
    root.put("lib/firmware", "a.bin", b"standard");
    root.put("opt/fw", "a.bin", b"custom");
    let custom = root.0.join("opt/fw");
    with_device(root.search_path(Some(&custom)), |dev| {
        assert_eq!(load(dev, c"a.bin").unwrap(), b"custom");
    });
    // A parameter written with `echo` ends in a newline, which the kernel ignores.
    let mut echoed = custom.into_os_string();
    echoed.push("\n");
    with_device(root.search_path(Some(Path::new(&echoed))), |dev| {
        assert_eq!(load(dev, c"a.bin").unwrap(), b"custom");
    });
    with_device(root.search_path(None), |dev| {
        assert_eq!(load(dev, c"a.bin").unwrap(), b"standard");
    });
}

#[test]
fn a_missing_file_is_enoent_logged_as_the_kernel_logs_it_unless_nowarn() {
    let root = Root::new();
    let log = logger::capture();
    let name = with_device(root.search_path(None), |dev| {
        assert_eq!(
            Firmware::request(c"drydock/missing-a.bin", dev).err(),
            Some(ENOENT)
        );
        assert_eq!(
            Firmware::request_nowarn(c"drydock/missing-b.bin", dev).err(),
            Some(ENOENT)
        );
        dev.name().to_str().unwrap().to_owned()
    });
    let warning = log
        .records()
        .into_iter()
        .find(|r| {
            r.message
                .contains("Direct firmware load for drydock/missing-a.bin")
        })
        .expect("the failed request is logged");
    assert_eq!(warning.level.as_str(), "WARN");
    assert_eq!(
        warning.message,
        format!(
            "bare_testdev {name}: Direct firmware load for drydock/missing-a.bin failed with error -2"
        )
    );
    assert!(
        !log.contains("drydock/missing-b.bin"),
        "request_nowarn logs nothing"
    );
}

#[test]
fn a_file_that_cannot_be_read_does_not_stop_the_search() {
    let root = Root::new();
    // A directory of that name, and an empty file, come first: the kernel skips both (EINVAL).
    fs::create_dir_all(
        root.0
            .join("lib/firmware/updates")
            .join(RELEASE)
            .join("x.bin"),
    )
    .unwrap();
    root.put("lib/firmware/updates", "x.bin", b"");
    root.put("lib/firmware", "x.bin", b"good");
    let log = logger::capture();
    with_device(root.search_path(None), |dev| {
        assert_eq!(load(dev, c"x.bin").unwrap(), b"good");
        // With nothing readable anywhere, the last directory's error is the result.
        fs::remove_file(root.0.join("lib/firmware/x.bin")).unwrap();
        assert_eq!(load(dev, c"x.bin"), Err(ENOENT));
        root.put("lib/firmware", "x.bin", b"");
        assert_eq!(load(dev, c"x.bin"), Err(EINVAL));
    });
    let skipped = "lib/firmware/updates/x.bin failed with error -22";
    assert!(log.contains(skipped), "{:?}", log.records());
    assert!(log.contains("Direct firmware load for x.bin failed with error -22"));
}

#[test]
fn names_that_leave_the_firmware_directories_are_refused() {
    let root = Root::new();
    root.put("lib", "secret", b"x");
    root.put("lib/firmware", "ok.bin", b"x");
    let log = logger::capture();
    with_device(root.search_path(None), |dev| {
        assert_eq!(load(dev, c"../secret"), Err(EINVAL));
        assert_eq!(load(dev, c"a/../../secret"), Err(EINVAL));
        assert_eq!(load(dev, c""), Err(EINVAL));
        // `..` only as a whole component.
        root.put("lib/firmware", "a..b", b"dots");
        assert_eq!(load(dev, c"a..b").unwrap(), b"dots");
    });
    assert!(log.contains("Firmware load for '../secret' refused, path contains '..' component"));
}

#[test]
fn request_into_buf_loads_what_fits_and_refuses_what_does_not() {
    let root = Root::new();
    root.put("lib/firmware", "img.bin", b"0123456789");
    let log = logger::capture();
    with_device(root.search_path(None), |dev| {
        let mut larger = [b'.'; 16];
        firmware::request_into_buf(c"img.bin", dev, &mut larger).unwrap();
        assert_eq!(
            &larger, b"0123456789......",
            "the rest of the buffer is untouched"
        );
        let mut exact = [0u8; 10];
        firmware::request_into_buf(c"img.bin", dev, &mut exact).unwrap();
        assert_eq!(&exact, b"0123456789");
        let mut smaller = [b'.'; 9];
        assert_eq!(
            firmware::request_into_buf(c"img.bin", dev, &mut smaller),
            Err(EFBIG)
        );
        assert_eq!(&smaller, b".........", "nothing is loaded");
        assert_eq!(
            firmware::request_into_buf(c"img.bin", dev, &mut []),
            Err(EINVAL)
        );
        assert_eq!(
            firmware::request_into_buf(c"none.bin", dev, &mut larger),
            Err(ENOENT)
        );
    });
    assert!(log.contains("Direct firmware load for img.bin failed with error -27"));
}

/// A driver's builder of firmware entries, as nova-core's: one entry per chip.
struct Builder<const N: usize>;

impl<const N: usize> Builder<N> {
    const CHIPS: [&'static str; 2] = ["ga102", "tu117"];

    const fn create(module_name: &'static CStr) -> ModInfoBuilder<N> {
        let mut builder = ModInfoBuilder::new(module_name);
        let mut i = 0;
        while i < Self::CHIPS.len() {
            builder = builder
                .new_entry()
                .push("nvidia/")
                .push(Self::CHIPS[i])
                .push("/gsp.bin");
            i += 1;
        }
        builder
    }
}

const NAMED_LEN: usize = Builder::<0>::create(c"nova").build_length();
const NAMED: [u8; NAMED_LEN] = Builder::<NAMED_LEN>::create(c"nova").build();
const UNNAMED_LEN: usize = Builder::<0>::create(c"").build_length();
const UNNAMED: [u8; UNNAMED_LEN] = Builder::<UNNAMED_LEN>::create(c"").build();

#[test]
fn modinfo_entries_are_nul_separated_and_prefixed_with_the_module() {
    assert_eq!(
        &NAMED,
        b"\0nova.firmware=nvidia/ga102/gsp.bin\0nova.firmware=nvidia/tu117/gsp.bin\0"
    );
    assert_eq!(
        &UNNAMED,
        b"\0firmware=nvidia/ga102/gsp.bin\0firmware=nvidia/tu117/gsp.bin\0"
    );
}

/// A module whose firmware entries `module_firmware!` puts in `.modinfo`.
mod with_firmware {
    use kernel::prelude::*;

    struct Module;

    impl kernel::Module for Module {
        fn init(_module: &'static ThisModule) -> Result<Self> {
            Ok(Self)
        }
    }

    module! {
        type: Module,
        name: "with_firmware",
        license: "GPL",
        firmware: [],
    }

    kernel::module_firmware!(super::Builder);
}
