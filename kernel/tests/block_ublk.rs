//! `kernel::block::mq` through ublk, checked from outside the driver: a disk built by a test
//! driver is a block device of the kernel with the size, block sizes, rotational flag, hardware
//! queues and depth the driver asked for; reads and writes through its device node reach the
//! driver's `queue_rq` (and `complete`), a failed request fails the I/O with its errno, and
//! dropping the `GenDisk` removes the device.
//!
//! It needs ublk (Linux 6.5 or later, `ublk_drv` loaded) and root, which this machine may lack,
//! so it is ignored unless asked for; in the proof kernel's guest (docs/testing.md, "ublk"):
//!
//! ```sh
//! RUSTFLAGS="-C target-feature=+crt-static" cargo test -p drydock-kernel --test block_ublk \
//!     --target x86_64-unknown-linux-gnu --no-run
//! cargo run -p drydock-tests --bin drydock-vm -- run --profile kernel73 -- \
//!     target/x86_64-unknown-linux-gnu/debug/deps/block_ublk-HASH --ignored --nocapture
//! ```

use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::vec::Vec;

use drydock_host::block::{set_frontend, Frontend};
use kernel::bindings;
use kernel::block::mq::{gen_disk::GenDiskBuilder, TagSet};
use kernel::prelude::*;
use kernel::sync::Arc;

#[path = "support/test_blk.rs"]
mod test_blk;
use test_blk::{wait_for, LocalModule, Mode, State, TestDisk, COMPLETED_ON};

/// The ublk block devices there are (`ublkbN` in `/sys/block`).
fn ublk_disks() -> BTreeSet<String> {
    std::fs::read_dir("/sys/block")
        .expect("/sys/block")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with("ublkb"))
        .collect()
}

/// A file of a disk in `/sys/block`, trimmed.
fn sysfs(disk: &str, file: &str) -> String {
    let path = format!("/sys/block/{disk}/{file}");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}"))
        .trim()
        .to_owned()
}

/// `O_DIRECT` on x86_64: I/O past the page cache.
const O_DIRECT: i32 = 0o40000;
/// `EIO`.
const EIO: i32 = 5;

/// A buffer aligned for `O_DIRECT`.
#[repr(C, align(4096))]
struct Aligned([u8; 8192]);

#[test]
#[ignore = "needs ublk (Linux 6.5+, ublk_drv) and root: run in the proof kernel's guest"]
fn a_disk_is_a_ublk_block_device_with_what_the_driver_asked_for() {
    assert!(
        Path::new("/dev/ublk-control").exists(),
        "no /dev/ublk-control: load ublk_drv (Linux 6.5 or later)"
    );
    set_frontend(Frontend::Ublk);
    let before = ublk_disks();

    const SECTORS: u64 = 64 << 11;
    let bad_from = SECTORS - 8;
    let state = State::new(Mode::Disk { bad_from });
    let dropped = state.dropped.clone();
    let tagset = Arc::pin_init(TagSet::<TestDisk>::new(2, 64, 1), GFP_KERNEL).unwrap();
    let disk = GenDiskBuilder::new()
        .capacity_sectors(SECTORS)
        .logical_block_size(512)
        .unwrap()
        .physical_block_size(4096)
        .unwrap()
        .rotational(true)
        .build(fmt!("ublktest"), tagset, state.clone())
        .expect("the disk is served with ublk");

    let added: Vec<_> = ublk_disks().difference(&before).cloned().collect();
    assert_eq!(added.len(), 1, "one new ublk disk: {added:?}");
    let name = &added[0];
    assert_eq!(sysfs(name, "size"), SECTORS.to_string());
    assert_eq!(sysfs(name, "queue/logical_block_size"), "512");
    assert_eq!(sysfs(name, "queue/physical_block_size"), "4096");
    assert_eq!(sysfs(name, "queue/rotational"), "1");
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hw_queues = std::fs::read_dir(format!("/sys/block/{name}/mq"))
        .unwrap()
        .count();
    assert_eq!(hw_queues, cpus.min(2));
    assert_eq!(sysfs(name, "mq/0/nr_tags"), "64");

    // Through the device node, past the page cache.
    let dev = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(O_DIRECT)
        .open(format!("/dev/{name}"))
        .unwrap();
    let mut buf = std::boxed::Box::new(Aligned([0x5a; 8192]));
    assert_eq!(dev.write_at(&buf.0[..4096], 16 * 512).unwrap(), 4096);
    assert_eq!(dev.read_at(&mut buf.0, 64 * 512).unwrap(), 8192);
    let seen: Vec<_> = state
        .seen
        .lock()
        .unwrap()
        .iter()
        .map(|s| (s.op, s.sector, s.bytes))
        .collect();
    assert!(
        seen.contains(&(bindings::REQ_OP_WRITE, 16, 4096)),
        "{seen:?}"
    );
    assert!(
        seen.contains(&(bindings::REQ_OP_READ, 64, 8192)),
        "{seen:?}"
    );
    // The write ended through `complete`, on its ublk queue's thread.
    let completed = COMPLETED_ON.lock().unwrap().clone();
    assert!(
        completed.iter().any(|n| n.starts_with("ublk")),
        "{completed:?}"
    );

    // A request the driver fails fails the I/O with its errno.
    let err = dev.read_at(&mut buf.0[..4096], bad_from * 512).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(EIO), "{err}");
    drop(dev);

    drop(disk);
    assert!(!Path::new(&format!("/sys/block/{name}")).exists());
    wait_for("the device node to go", || {
        !Path::new(&format!("/dev/{name}")).exists()
    });
    drop(state);
    assert!(dropped.load(Ordering::SeqCst));
}

#[test]
fn without_ublk_building_a_disk_fails() {
    if Path::new("/dev/ublk-control").exists() {
        eprintln!("this machine has ublk: the test above is the one to run");
        return;
    }
    set_frontend(Frontend::Ublk);
    let state = State::new(Mode::End);
    let dropped = state.dropped.clone();
    let tagset = Arc::pin_init(TagSet::<TestDisk>::new(1, 8, 1), GFP_KERNEL).unwrap();
    let built = GenDiskBuilder::new()
        .capacity_sectors(8)
        .build(fmt!("noublk"), tagset, state);
    // The process logs why (no /dev/ublk-control, with what to do), the driver sees an errno.
    assert_eq!(built.err(), Some(ENOENT));
    assert!(dropped.load(Ordering::SeqCst));
}
