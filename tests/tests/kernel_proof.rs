//! The in-tree build rejects what a Linux 7.3 module cannot name.
//!
//! A driver file of `drivers/` builds against drydock, where `std` exists; in a kernel tree it does
//! not. drydock's own names fail already at `cargo build` (`kernel` has no host module, and a
//! driver's library depends on nothing drydock-specific: `kernel/tests/compile-fail` and
//! `tests/tests/layers.rs`), and the proof (`tests/kernel/build`) builds every driver file in the
//! Linux 7.3 tree, so anything else that tree lacks fails it. This test shows that on
//! copies of a real driver file, built as modules against the proof kernel's tree exactly as the
//! proof builds `drivers/` (`tests/kernel/build --check`): the unchanged copy builds, and each copy
//! with one drydock-only name added fails with the compiler's error naming that copy's path. The
//! driver files `drydock new` writes build there too, and so do the misc device and the disk that
//! docs/devices.md teaches, which the proof leaves out (they have no PCI device to compare on).

use std::fs;
use std::path::{Path, PathBuf};

use drydock_tests::cache::Cache;
use drydock_tests::guest::workspace_root;
use drydock_tests::proof_kernel;

/// The driver file the copies are made from.
const DRIVER: &str = "drivers/pci-testdev/src/pci_testdev.rs";

/// Lines that name something a driver can use in drydock but not in a kernel tree, each with the
/// compiler's message about it in the tree.
const DRYDOCK_ONLY: &[(&str, &str)] = &[
    (
        "use kernel::host::runtime as _;",
        "could not find `host` in `kernel`",
    ),
    ("use std::thread as _;", "unresolved import `std`"),
];

/// The scratch directory `name` under the target directory, emptied (each test has its own: they
/// run at the same time).
fn scratch(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    let dir = target.join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `<dir>/<module>.rs` and returns the path.
fn write_driver(dir: &Path, module: &str, text: &str) -> PathBuf {
    let path = dir.join(format!("{module}.rs"));
    fs::write(&path, text).unwrap();
    path
}

#[test]
fn drydock_only_names_fail_the_in_tree_build() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let original = fs::read_to_string(workspace_root().join(DRIVER)).unwrap();
    let dir = scratch("kernel-proof-test");

    // The control: the file as it is builds, so a failure below is the added line's.
    let unchanged = write_driver(&dir, "unchanged", &original);
    if let Err(err) = proof_kernel::check(&cache, &[&unchanged]) {
        panic!("{DRIVER}, unchanged, does not build in the Linux 7.3 tree:\n{err}");
    }

    for (index, (line, message)) in DRYDOCK_ONLY.iter().enumerate() {
        // The line goes before the file's first `use`, so it is a top-level item of the module.
        let at = original
            .find("\nuse ")
            .expect("the driver file has a `use`")
            + 1;
        let text = format!("{}{line}\n{}", &original[..at], &original[at..]);
        let file = write_driver(&dir, &format!("drydock_only_{index}"), &text);
        let err = match proof_kernel::check(&cache, &[&file]) {
            Ok(()) => panic!("`{line}` in a driver file built in the Linux 7.3 tree"),
            Err(err) => err.to_string(),
        };
        println!("--- `{line}` ---\n{err}");
        assert!(
            err.contains(message),
            "the in-tree build of a driver file with `{line}` failed without saying \
             `{message}`:\n{err}"
        );
        assert!(
            err.contains(&format!("{}:", file.display())),
            "the in-tree build's diagnostics do not name {}:\n{err}",
            file.display()
        );
    }
}

/// Runs `drydock new DIR -d IDS` (out of the workspace: the crate is not built here) and returns
/// the driver file it wrote.
fn scaffold(dir: &Path, ids: &str) -> PathBuf {
    let _ = fs::remove_dir_all(dir);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let args = ["drydock", "new", dir.to_str().unwrap(), "-d", ids];
    let status = drydock_cli::main(args.map(Into::into), &mut out, &mut err);
    assert_eq!(status, 0, "{}", String::from_utf8_lossy(&err));
    let name = dir.file_name().unwrap().to_str().unwrap().replace('-', "_");
    dir.join(format!("src/{name}.rs"))
}

#[test]
fn the_driver_file_drydock_new_writes_builds_in_the_tree() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let dir = scratch("kernel-proof-new-test");
    // A vendor the kernel names (the table matches the IDs), and one it does not (the class).
    let named = scaffold(&dir.join("new-named"), "1af4:1041");
    let by_class = scaffold(&dir.join("new-by-class"), "1234:11e8:00ff");
    if let Err(err) = proof_kernel::check(&cache, &[&named, &by_class]) {
        panic!("a driver file `drydock new` wrote does not build in the Linux 7.3 tree:\n{err}");
    }
}

/// The driver files of docs/devices.md, which `tests/kernel/drivers` does not list.
const DEVICE_DRIVERS: &[&str] = &[
    "drivers/caesar/src/caesar.rs",
    "drivers/nulldisk/src/nulldisk.rs",
];

#[test]
fn the_devices_pages_drivers_build_in_the_tree() {
    let cache = Cache::from_env().expect("the drydock cache is usable");
    let files: Vec<PathBuf> = DEVICE_DRIVERS
        .iter()
        .map(|file| workspace_root().join(file))
        .collect();
    let files: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    if let Err(err) = proof_kernel::check(&cache, &files) {
        panic!("a driver of docs/devices.md does not build in the Linux 7.3 tree:\n{err}");
    }
}
