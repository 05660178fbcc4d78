//! Drives Linux 7.3's `samples/rust/rust_debugfs_scoped.rs`, built unchanged as this crate's
//! library: the module is loaded into a simulated bus (it has no driver: it only makes debugfs
//! files), and its files are used as a person would use them in `/sys/kernel/debug`: through the
//! host's tree, and, where FUSE is usable, by a shell on the tree's mount.

use drydock_host::debugfs;
use drydock_host::errno::Errno;
use drydock_sim::{fuse, SimBus};

const CREATE: &str = "rust_scoped_debugfs/control/create";
const REMOVE: &str = "rust_scoped_debugfs/control/remove";
const DYNAMIC: &str = "rust_scoped_debugfs/dynamic";

/// The names in a directory of the tree.
fn ls(path: &str) -> Vec<String> {
    debugfs::read_dir(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn the_sample_creates_reads_and_removes_its_files() {
    let bus = SimBus::new();
    let module = bus
        .load(&rust_debugfs_scoped::__DRYDOCK_MODULE)
        .expect("the module loads");
    assert_eq!(ls("rust_scoped_debugfs"), ["control", "dynamic"]);
    assert_eq!(ls("rust_scoped_debugfs/control"), ["create", "remove"]);
    for control in [CREATE, REMOVE] {
        let metadata = debugfs::metadata(control).unwrap();
        assert_eq!(
            (metadata.is_dir, metadata.mode),
            (false, 0o200),
            "{control}"
        );
        assert_eq!(debugfs::read(control), Err(Errno::EINVAL));
    }
    assert!(ls(DYNAMIC).is_empty());

    // `echo 'dev0 10 20 30' > control/create`: a directory with a file per number and a blob.
    assert_eq!(debugfs::write(CREATE, b"dev0 10 20 30\n"), Ok(14));
    assert_eq!(ls(DYNAMIC), ["dev0"]);
    assert_eq!(
        ls("rust_scoped_debugfs/dynamic/dev0"),
        ["0", "1", "2", "blob"]
    );
    let read = |path: &str| debugfs::read(&format!("{DYNAMIC}/{path}")).unwrap();
    assert_eq!(read("dev0/1"), b"20\n");
    assert_eq!(debugfs::write(&format!("{DYNAMIC}/dev0/1"), b"25\n"), Ok(3));
    assert_eq!(read("dev0/1"), b"25\n");
    assert_eq!(
        debugfs::write(&format!("{DYNAMIC}/dev0/2"), b"x"),
        Err(Errno::EINVAL)
    );
    // The blob is 4 KiB of 0x42, read and written at the file position.
    assert_eq!(read("dev0/blob"), [0x42; 4096]);
    let blob = debugfs::open(&format!("{DYNAMIC}/dev0/blob")).unwrap();
    assert_eq!(blob.write_at(4094, b"xyz"), Ok(2));
    assert_eq!(blob.read_at(4092, 8).unwrap(), b"BBxy");

    // A line that does not parse creates nothing.
    assert_eq!(debugfs::write(CREATE, b"dev1 ten\n"), Err(Errno::EINVAL));
    assert_eq!(ls(DYNAMIC), ["dev0"]);
    assert_eq!(debugfs::write(CREATE, b"dev1 7\n"), Ok(7));
    assert_eq!(read("dev1/0"), b"7\n");

    // `echo dev0 > control/remove`: dev0 goes, its open blob with it; dev1 stays.
    assert_eq!(debugfs::write(REMOVE, b"dev0\n"), Ok(5));
    assert_eq!(ls(DYNAMIC), ["dev1"]);
    assert_eq!(blob.read_at(0, 1), Err(Errno::EIO));

    // The same from a shell, on the FUSE mount, where this machine has FUSE.
    let mount_dir =
        std::env::temp_dir().join(format!("rust_debugfs_scoped.{}", std::process::id()));
    if let Some(mount) = fuse::mount_or_skip::<debugfs::Debugfs>(&mount_dir) {
        let base = mount.dir().join("rust_scoped_debugfs");
        let script = "echo 'dev2 5 6' > control/create && cat dynamic/dev2/1 && \
                      echo 9 > dynamic/dev2/1 && cat dynamic/dev2/1 && ls dynamic && \
                      echo dev1 > control/remove && ls dynamic";
        assert_eq!(fuse::shell(&base, script), "6\n9\ndev1\ndev2\ndev2\n");
        drop(mount);
        assert_eq!(ls(DYNAMIC), ["dev2"]);
    }

    drop(module);
    assert_eq!(
        debugfs::metadata("rust_scoped_debugfs"),
        Err(Errno::ENOENT),
        "unloading removed everything"
    );
}
