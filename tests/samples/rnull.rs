//! Drives Linux 7.3's Rust null block driver (`drivers/block/rnull/`: `rnull.rs` and
//! `configfs.rs`), built unchanged as this crate's library, as a person drives it in the kernel:
//! through its configfs subsystem, `/sys/kernel/config/rnull`. A directory made there is a device
//! whose attributes set its size (MiB), block size, rotational flag and completion mode; writing 1
//! to `power` builds its disk, named as the directory. Here the disk is served by the host's
//! in-process block front end, where the test opens it by name and reads and writes it: each I/O
//! ends only when the driver's `queue_rq` (or, in `irqmode` 1, its `complete`) ended its request.
//! The test does it through the host's tree, then, where FUSE is usable, from `sh` on the tree's
//! mount.

use std::time::Duration;

use drydock_host::block::genhd::DiskParams;
use drydock_host::block::local::{Disk, Io, Op};
use drydock_host::configfs::{self, Configfs};
use drydock_host::errno::Errno;
use drydock_runner::logger;
use drydock_sim::{fuse, SimBus};

/// How long an I/O may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// The names in a directory of the tree.
fn ls(path: &str) -> Vec<String> {
    configfs::read_dir(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The whole attribute, as `cat` reads it.
fn cat(path: &str) -> String {
    String::from_utf8(configfs::read(path).unwrap()).unwrap()
}

/// `echo VALUE > PATH`: what the attribute's `store` answered.
fn echo(path: &str, value: &str) -> Result<usize, Errno> {
    configfs::write(path, format!("{value}\n").as_bytes())
}

/// Reads and writes `disk` on its one hardware queue, in one batch, and checks that each I/O ended
/// with all its bytes: the driver ended every request it was given.
fn read_and_write(disk: &Disk) {
    // The disk's last logical block.
    let block = disk.params().logical_block_size >> 9;
    let ios = [
        Io {
            op: Op::Write,
            sector: 0,
            sectors: 8,
        },
        Io {
            op: Op::Read,
            sector: 0,
            sectors: 8,
        },
        Io {
            op: Op::Read,
            sector: disk.params().sectors - u64::from(block),
            sectors: block,
        },
        Io {
            op: Op::Write,
            sector: 24,
            sectors: 256,
        },
    ];
    let completions = disk.submit(0, &ios).expect("the disk has one hardware queue");
    let outcomes: Vec<_> = completions
        .iter()
        .map(|c| c.wait(PATIENCE).expect("the driver ended the request"))
        .collect();
    let last = disk.params().logical_block_size;
    assert_eq!(outcomes, [Ok(4096), Ok(4096), Ok(last), Ok(128 * 1024)]);
}

#[test]
fn devices_made_in_configfs_are_disks_that_end_their_requests() {
    let log = logger::capture();
    let bus = SimBus::new();
    let module = bus.load(&rnull::__DRYDOCK_MODULE).expect("the module loads");
    assert_eq!(ls("rnull"), ["features"]);
    assert_eq!(cat("rnull/features"), "blocksize,size,rotational,irqmode\n");

    // A new device has C null_blk's attributes and rnull's defaults, and no disk.
    configfs::mkdir("rnull/nullb0").unwrap();
    assert_eq!(
        ls("rnull/nullb0"),
        ["blocksize", "irqmode", "power", "rotational", "size"]
    );
    let attrs = "rnull/nullb0/power rnull/nullb0/blocksize rnull/nullb0/size \
                 rnull/nullb0/rotational rnull/nullb0/irqmode";
    let show = |attrs: &str| attrs.split(' ').map(cat).collect::<String>();
    assert_eq!(show(attrs), "0\n4096\n4096\n0\n0\n");
    assert_eq!(Disk::open("nullb0").err(), Some(Errno::ENODEV));

    // Values the driver refuses.
    assert_eq!(echo("rnull/nullb0/blocksize", "1000"), Err(Errno::EINVAL));
    assert_eq!(echo("rnull/nullb0/blocksize", "8192"), Err(Errno::EINVAL));
    assert_eq!(echo("rnull/nullb0/irqmode", "2"), Err(Errno::EINVAL));
    assert_eq!(echo("rnull/nullb0/size", "many"), Err(Errno::EINVAL));

    // Configured and powered on, the device is a disk of that size and block size.
    echo("rnull/nullb0/size", "16").unwrap();
    echo("rnull/nullb0/blocksize", "512").unwrap();
    echo("rnull/nullb0/rotational", "1").unwrap();
    echo("rnull/nullb0/power", "1").unwrap();
    assert_eq!(show(attrs), "1\n512\n16\n1\n0\n");
    let disk = Disk::open("nullb0").expect("powering on added the disk");
    assert_eq!(
        *disk.params(),
        DiskParams {
            name: "nullb0".into(),
            sectors: 16 << 11,
            logical_block_size: 512,
            physical_block_size: 512,
            rotational: true,
            nr_hw_queues: 1,
            queue_depth: 256,
        }
    );
    read_and_write(&disk);
    // While it is powered, its configuration is fixed.
    assert_eq!(echo("rnull/nullb0/size", "32"), Err(Errno::EBUSY));
    assert_eq!(echo("rnull/nullb0/blocksize", "4096"), Err(Errno::EBUSY));

    // Powered off, the disk goes; the device takes a new configuration, here completions
    // through `complete` (`irqmode` 1), and is a disk again when powered on.
    echo("rnull/nullb0/power", "0").unwrap();
    assert_eq!(Disk::open("nullb0").err(), Some(Errno::ENODEV));
    drop(disk);
    echo("rnull/nullb0/irqmode", "1").unwrap();
    echo("rnull/nullb0/size", "1").unwrap();
    echo("rnull/nullb0/power", "1").unwrap();
    let disk = Disk::open("nullb0").expect("powered on again");
    assert_eq!(disk.params().sectors, 1 << 11);
    read_and_write(&disk);
    drop(disk);

    // Two devices are two disks; removing a device's directory removes its disk.
    configfs::mkdir("rnull/nullb1").unwrap();
    echo("rnull/nullb1/power", "1").unwrap();
    assert_eq!(
        Disk::open("nullb1").unwrap().params().sectors,
        4096 << 11,
        "the default size, 4 GiB"
    );
    configfs::rmdir("rnull/nullb0").unwrap();
    assert_eq!(Disk::open("nullb0").err(), Some(Errno::ENODEV));
    assert!(Disk::open("nullb1").is_ok());
    configfs::rmdir("rnull/nullb1").unwrap();
    assert_eq!(Disk::open("nullb1").err(), Some(Errno::ENODEV));
    assert_eq!(ls("rnull"), ["features"]);

    // The same from a shell, on the FUSE mount, where this machine has FUSE.
    let mount_dir = std::env::temp_dir().join(format!("rnull.{}", std::process::id()));
    if let Some(mount) = fuse::mount_or_skip::<Configfs>(&mount_dir) {
        let base = mount.dir().join("rnull");
        let script = "mkdir nullb2 && cd nullb2 && echo 8 > size && echo 1024 > blocksize && \
                      echo 1 > power && cat power size blocksize && \
                      ! echo 4 2>/dev/null > size";
        assert_eq!(fuse::shell(&base, script), "1\n8\n1024\n");
        let disk = Disk::open("nullb2").expect("the shell powered the device on");
        assert_eq!(disk.params().sectors, 8 << 11);
        assert_eq!(disk.params().logical_block_size, 1024);
        read_and_write(&disk);
        drop(disk);
        assert_eq!(fuse::shell(&base, "rmdir nullb2 && ls"), "features\n");
        assert_eq!(Disk::open("nullb2").err(), Some(Errno::ENODEV));
        drop(mount);
    }

    // A device left powered on goes with the module, its disk with it.
    configfs::mkdir("rnull/left").unwrap();
    echo("rnull/left/power", "1").unwrap();
    drop(module);
    assert_eq!(Disk::open("left").err(), Some(Errno::ENODEV));
    assert_eq!(configfs::metadata("rnull"), Err(Errno::ENOENT));
    // Records are attributed to the printing Rust module, `rnull` (the kernel prefixes the module's
    // name, `rnull_mod`).
    let messages: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.target == "rnull")
        .map(|r| r.message)
        .collect();
    assert_eq!(messages, ["Rust null_blk loaded"]);
}
