//! `kernel::configfs` through the host's tree, as a user of `/sys/kernel/config` meets it:
//! attributes read and written (what `show` fills, what `store` gets, the page limits, errors,
//! files that cannot be written), an open file's page, `mkdir` and `rmdir` with the kernel's rules
//! (`make_group`'s name and errors, `drop_item`, groups with groups in them, directories without a
//! child type, the top), removal while a `store` runs, open files of removed groups, a subsystem
//! dropped with groups in it, a name registered twice, and (where `/dev/fuse` is usable) the same
//! through a FUSE mount with `std::fs`.
//!
//! Every test registers subsystems of its own names: the tree is the process's, shared by the
//! tests running in parallel.

// The driver's types live in this test crate; `module!` would make them public in this way.
#![allow(unreachable_pub)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc as StdArc, Mutex as StdMutex, OnceLock};

use drydock_host::configfs::{self as host, Configfs};
use drydock_host::errno::Errno;
use drydock_host::pseudofs::{Access, Metadata};
use kernel::configfs::{self, configfs_attrs, Group, ItemType, Subsystem};
use kernel::page::PAGE_SIZE;
use kernel::prelude::*;
use kernel::str::CString;
use kernel::sync::ArcBorrow;
use std::vec::Vec as StdVec;

/// What `module!` declares in a driver crate, which `configfs_attrs!` and `#[vtable]` name.
struct LocalModule;

impl kernel::ModuleMetadata for LocalModule {
    const NAME: &'static CStr = c"configfs_test";
    // SAFETY: a null pointer is the placeholder of a module that is not loaded.
    const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
}

/// What a test and its subsystem share: the events of its groups, what `value` holds, how much
/// `big` claims to show, and the gate `slow`'s store waits at.
#[derive(Default)]
struct Shared {
    events: StdMutex<StdVec<String>>,
    value: StdMutex<StdVec<u8>>,
    big_len: AtomicUsize,
    gate: Gate,
}

impl Shared {
    fn record(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }

    fn take_events(&self) -> StdVec<String> {
        std::mem::take(&mut self.events.lock().unwrap())
    }
}

/// What `slow`'s store waits at.
#[path = "support/gate.rs"]
mod gate;
use gate::Gate;

/// Records an event when dropped: a group's data going with it.
struct Recorder {
    shared: StdArc<Shared>,
    event: String,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.shared.record(std::mem::take(&mut self.event));
    }
}

/// The data of the tests' subsystems: attributes `version` (read-only), `value` (read and
/// written), `big` (shows what `Shared::big_len` says) and `slow` (its store waits at the gate);
/// `mkdir` makes [`Node`]s.
#[pin_data]
struct Root {
    shared: StdArc<Shared>,
}

/// A group `mkdir` makes in a subsystem: attribute `name`; `mkdir` makes [`Leaf`]s.
#[pin_data]
struct Node {
    name: String,
    shared: StdArc<Shared>,
    _released: Recorder,
}

/// A group `mkdir` makes in a [`Node`]: attribute `kind`; nothing can be made in it.
#[pin_data]
struct Leaf {
    _released: Recorder,
}

#[vtable]
impl configfs::AttributeOperations<0> for Root {
    type Data = Root;

    fn show(_root: &Root, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        page[..4].copy_from_slice(b"1.0\n");
        Ok(4)
    }
}

#[vtable]
impl configfs::AttributeOperations<1> for Root {
    type Data = Root;

    fn show(root: &Root, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        let value = root.shared.value.lock().unwrap();
        if *value == b"fail" {
            return Err(EBUSY);
        }
        page[..value.len()].copy_from_slice(&value);
        Ok(value.len())
    }

    fn store(root: &Root, page: &[u8]) -> Result {
        root.shared.record(format!("store {} bytes", page.len()));
        if page == b"bad" {
            return Err(EINVAL);
        }
        *root.shared.value.lock().unwrap() = page.to_vec();
        Ok(())
    }
}

#[vtable]
impl configfs::AttributeOperations<2> for Root {
    type Data = Root;

    fn show(root: &Root, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        let len = root.shared.big_len.load(Ordering::Relaxed);
        page.fill(b'x');
        Ok(len)
    }
}

#[vtable]
impl configfs::AttributeOperations<3> for Root {
    type Data = Root;

    fn show(_root: &Root, _page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        Ok(0)
    }

    fn store(root: &Root, _page: &[u8]) -> Result {
        let gate = &root.shared.gate;
        gate.set(|s| s.0 = true);
        gate.wait(|s| s.1);
        Ok(())
    }
}

#[vtable]
impl configfs::GroupOperations for Root {
    type Child = Node;

    fn make_group(&self, name: &CStr) -> Result<impl PinInit<Group<Node>, Error>> {
        if name == c"full" {
            return Err(ENOSPC);
        }
        let name = name.to_str()?.to_owned();
        self.shared.record(format!("make {name}"));
        let item_type = configfs_attrs! {
            container: Group<Node>,
            data: Node,
            child: Leaf,
            attributes: [name: 0],
        };
        let shared = self.shared.clone();
        let released = Recorder {
            shared: shared.clone(),
            event: format!("release {name}"),
        };
        Ok(Group::new(
            CString::try_from_fmt(fmt!("{name}"))?,
            item_type,
            try_pin_init!(Node {
                name,
                shared,
                _released: released,
            }),
        ))
    }
}

#[vtable]
impl configfs::AttributeOperations<0> for Node {
    type Data = Node;

    fn show(node: &Node, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        let name = node.name.as_bytes();
        page[..name.len()].copy_from_slice(name);
        Ok(name.len())
    }
}

#[vtable]
impl configfs::GroupOperations for Node {
    type Child = Leaf;

    fn make_group(&self, name: &CStr) -> Result<impl PinInit<Group<Leaf>, Error>> {
        let name = name.to_str()?;
        self.shared.record(format!("make {}/{name}", self.name));
        let item_type = configfs_attrs! {
            container: Group<Leaf>,
            data: Leaf,
            attributes: [kind: 0],
        };
        let released = Recorder {
            shared: self.shared.clone(),
            event: format!("release {}/{name}", self.name),
        };
        Ok(Group::new(
            CString::try_from_fmt(fmt!("{name}"))?,
            item_type,
            try_pin_init!(Leaf {
                _released: released
            }),
        ))
    }

    fn drop_item(&self, child: ArcBorrow<'_, Group<Leaf>>) {
        // The group is still there: configfs gives up its reference after this.
        let _ = &*child;
        self.shared.record(format!("drop in {}", self.name));
    }
}

#[vtable]
impl configfs::AttributeOperations<0> for Leaf {
    type Data = Leaf;

    fn show(_leaf: &Leaf, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
        page[..5].copy_from_slice(b"leaf\n");
        Ok(5)
    }
}

/// The type of the tests' subsystems, made once: `configfs_attrs!` fills its statics when
/// evaluated, and tests run in parallel.
fn root_type() -> &'static ItemType<Subsystem<Root>, Root> {
    static TYPE: OnceLock<&'static ItemType<Subsystem<Root>, Root>> = OnceLock::new();
    TYPE.get_or_init(|| {
        configfs_attrs! {
            container: Subsystem<Root>,
            data: Root,
            child: Node,
            attributes: [version: 0, value: 1, big: 2, slow: 3],
        }
    })
}

/// A registered subsystem of the tests, unregistered when dropped.
type Registered = Pin<KBox<Subsystem<Root>>>;

/// Registers a subsystem named `name`, and returns it with what it shares with the test.
fn register(name: &'static CStr) -> Result<(Registered, StdArc<Shared>)> {
    let shared = StdArc::new(Shared::default());
    let root = shared.clone();
    let subsystem = KBox::pin_init(
        Subsystem::new(name, root_type(), try_pin_init!(Root { shared: root })),
        GFP_KERNEL,
    )?;
    Ok((subsystem, shared))
}

fn read(path: &str) -> Result<StdVec<u8>, Errno> {
    host::read(path)
}

fn ls(path: &str) -> StdVec<String> {
    host::read_dir(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

#[test]
fn a_subsystem_shows_its_attributes_and_stores_what_is_written() -> Result {
    let (_subsystem, shared) = register(c"attrs_test")?;
    assert_eq!(ls("attrs_test"), ["big", "slow", "value", "version"]);
    assert_eq!(
        host::metadata("attrs_test/version"),
        Ok(Metadata {
            is_dir: false,
            mode: 0o660
        })
    );
    assert_eq!(read("attrs_test/version").unwrap(), b"1.0\n");
    // `echo 42 > value`: `store` gets the bytes written, and `show` says them back.
    assert_eq!(host::write("attrs_test/value", b"42\n"), Ok(3));
    assert_eq!(shared.take_events(), ["store 3 bytes"]);
    assert_eq!(read("attrs_test/value").unwrap(), b"42\n");
    // The errors of `store` and `show` are the write's and the read's.
    assert_eq!(host::write("attrs_test/value", b"bad"), Err(Errno::EINVAL));
    assert_eq!(read("attrs_test/value").unwrap(), b"42\n");
    assert_eq!(host::write("attrs_test/value", b"fail"), Ok(4));
    assert_eq!(read("attrs_test/value"), Err(Errno::EBUSY));
    // An attribute without `store` cannot be opened for writing; one with it can be read.
    assert_eq!(
        host::open("attrs_test/version", Access::WRITE).err(),
        Some(Errno::EACCES)
    );
    assert_eq!(
        host::open("attrs_test/version", Access::READ_WRITE).err(),
        Some(Errno::EACCES)
    );
    assert!(host::open("attrs_test/value", Access::READ_WRITE).is_ok());
    // Nothing to write is a bad address, as a write of nothing from userspace is.
    assert_eq!(host::write("attrs_test/value", b""), Err(Errno::EFAULT));
    Ok(())
}

#[test]
fn store_gets_at_most_a_page_less_one_and_show_gives_at_most_a_page() -> Result {
    let (_subsystem, shared) = register(c"page_test")?;
    let long = vec![b'a'; 5000];
    assert_eq!(host::write("page_test/value", &long), Ok(PAGE_SIZE - 1));
    assert_eq!(
        shared.take_events(),
        [format!("store {} bytes", PAGE_SIZE - 1)]
    );
    assert_eq!(read("page_test/value").unwrap(), long[..PAGE_SIZE - 1]);
    shared.big_len.store(PAGE_SIZE, Ordering::Relaxed);
    assert_eq!(read("page_test/big").unwrap(), vec![b'x'; PAGE_SIZE]);
    shared.big_len.store(PAGE_SIZE + 1, Ordering::Relaxed);
    assert_eq!(read("page_test/big"), Err(Errno::EIO));
    Ok(())
}

#[test]
fn an_open_file_reads_what_it_showed_first_until_it_is_written() -> Result {
    let (_subsystem, shared) = register(c"buffer_test")?;
    *shared.value.lock().unwrap() = b"first\n".to_vec();
    let file = host::open("buffer_test/value", Access::READ_WRITE).unwrap();
    assert_eq!(file.read_at(0, 3).unwrap(), b"fir");
    *shared.value.lock().unwrap() = b"second\n".to_vec();
    // The page was filled at the first read: later reads, at any position, come from it.
    assert_eq!(file.read_at(3, 100).unwrap(), b"st\n");
    assert_eq!(file.read_at(0, 100).unwrap(), b"first\n");
    assert_eq!(file.read_at(6, 100).unwrap(), b"");
    // A write hands its bytes to `store` whatever the position, and the next read shows again.
    assert_eq!(file.write_at(100, b"3rd\n"), Ok(4));
    assert_eq!(file.read_at(0, 100).unwrap(), b"3rd\n");
    // Another open shows again.
    *shared.value.lock().unwrap() = b"fourth\n".to_vec();
    assert_eq!(read("buffer_test/value").unwrap(), b"fourth\n");
    Ok(())
}

#[test]
fn mkdir_makes_groups_and_rmdir_drops_them() -> Result {
    let (_subsystem, shared) = register(c"mkdir_test")?;
    host::mkdir("mkdir_test/dev0").unwrap();
    assert_eq!(shared.take_events(), ["make dev0"]);
    assert_eq!(ls("mkdir_test/dev0"), ["name"]);
    assert_eq!(
        host::metadata("mkdir_test/dev0"),
        Ok(Metadata {
            is_dir: true,
            mode: 0o755
        })
    );
    assert_eq!(read("mkdir_test/dev0/name").unwrap(), b"dev0");
    // A name that is taken, and the errors of `make_group`, make nothing.
    assert_eq!(host::mkdir("mkdir_test/dev0"), Err(Errno::EEXIST));
    assert_eq!(host::mkdir("mkdir_test/value"), Err(Errno::EEXIST));
    assert_eq!(host::mkdir("mkdir_test/full"), Err(Errno::ENOSPC));
    assert_eq!(
        ls("mkdir_test"),
        ["big", "dev0", "slow", "value", "version"]
    );
    assert!(shared.take_events().is_empty());
    // `Node` implements `drop_item`: it sees its child go, before the child's data goes.
    host::mkdir("mkdir_test/dev0/part1").unwrap();
    assert_eq!(read("mkdir_test/dev0/part1/kind").unwrap(), b"leaf\n");
    host::rmdir("mkdir_test/dev0/part1").unwrap();
    assert_eq!(
        shared.take_events(),
        ["make dev0/part1", "drop in dev0", "release dev0/part1"]
    );
    // `Root` does not: the group goes all the same.
    host::rmdir("mkdir_test/dev0").unwrap();
    assert_eq!(shared.take_events(), ["release dev0"]);
    assert_eq!(host::metadata("mkdir_test/dev0"), Err(Errno::ENOENT));
    assert_eq!(host::rmdir("mkdir_test/dev0"), Err(Errno::ENOENT));
    Ok(())
}

#[test]
fn a_group_with_groups_in_it_stays() -> Result {
    let (_subsystem, shared) = register(c"nonempty_test")?;
    host::mkdir("nonempty_test/a").unwrap();
    host::mkdir("nonempty_test/a/b").unwrap();
    assert_eq!(host::rmdir("nonempty_test/a"), Err(Errno::ENOTEMPTY));
    assert_eq!(read("nonempty_test/a/b/kind").unwrap(), b"leaf\n");
    host::rmdir("nonempty_test/a/b").unwrap();
    host::rmdir("nonempty_test/a").unwrap();
    assert_eq!(
        shared.take_events(),
        [
            "make a",
            "make a/b",
            "drop in a",
            "release a/b",
            "release a"
        ]
    );
    Ok(())
}

#[test]
fn mkdir_and_rmdir_are_refused_where_configfs_refuses_them() -> Result {
    let (_subsystem, _shared) = register(c"refused_test")?;
    host::mkdir("refused_test/a").unwrap();
    host::mkdir("refused_test/a/b").unwrap();
    // Without a child type, nothing can be made.
    assert_eq!(host::mkdir("refused_test/a/b/c"), Err(Errno::EPERM));
    // Subsystems are the modules', at the top.
    assert_eq!(host::mkdir("refused_test_mine"), Err(Errno::EPERM));
    assert_eq!(host::rmdir("refused_test"), Err(Errno::EPERM));
    // Attributes are no directories.
    assert_eq!(host::rmdir("refused_test/value"), Err(Errno::ENOTDIR));
    assert_eq!(host::mkdir("refused_test/value/x"), Err(Errno::ENOTDIR));
    Ok(())
}

#[test]
fn the_open_files_of_a_removed_group_fail_and_do_not_keep_it() -> Result {
    let (_subsystem, shared) = register(c"removed_test")?;
    host::mkdir("removed_test/gone").unwrap();
    let file = host::open("removed_test/gone/name", Access::READ).unwrap();
    host::rmdir("removed_test/gone").unwrap();
    // As in the kernel, an open file holds no reference: the group went with `rmdir`.
    assert_eq!(shared.take_events(), ["make gone", "release gone"]);
    assert_eq!(file.read_at(0, 10), Err(Errno::ENOENT));
    assert_eq!(
        host::open("removed_test/gone/name", Access::READ).err(),
        Some(Errno::ENOENT)
    );
    Ok(())
}

#[test]
fn removing_a_group_waits_for_its_running_store() -> Result {
    let (subsystem, shared) = register(c"drain_test")?;
    let done = StdMutex::new(false);
    std::thread::scope(|s| {
        let writer = s.spawn(|| host::write("drain_test/slow", b"1"));
        shared.gate.wait(|s| s.0);
        let remover = s.spawn(|| {
            drop(subsystem);
            *done.lock().unwrap() = true;
        });
        // The subsystem cannot go while its `store` runs.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let done_early = *done.lock().unwrap();
        shared.gate.set(|s| s.1 = true);
        remover.join().unwrap();
        assert!(!done_early, "the subsystem went while its store ran");
        assert_eq!(writer.join().unwrap(), Ok(1));
    });
    assert_eq!(host::metadata("drain_test"), Err(Errno::ENOENT));
    Ok(())
}

#[test]
fn dropping_a_subsystem_removes_what_users_made_in_it() -> Result {
    let (subsystem, shared) = register(c"unload_test")?;
    host::mkdir("unload_test/a").unwrap();
    host::mkdir("unload_test/a/b").unwrap();
    host::mkdir("unload_test/c").unwrap();
    let file = host::open("unload_test/version", Access::READ).unwrap();
    drop(subsystem);
    assert_eq!(
        shared.take_events(),
        [
            "make a",
            "make a/b",
            "make c",
            "drop in a",
            "release a/b",
            "release a",
            "release c"
        ]
    );
    assert_eq!(host::metadata("unload_test"), Err(Errno::ENOENT));
    assert_eq!(file.read_at(0, 10), Err(Errno::ENOENT));
    Ok(())
}

#[test]
fn a_subsystem_name_is_registered_once() -> Result {
    let (_first, _shared) = register(c"twice_test")?;
    let second = register(c"twice_test");
    assert_eq!(second.err(), Some(EEXIST));
    assert_eq!(read("twice_test/version").unwrap(), b"1.0\n");
    Ok(())
}

/// The same through a FUSE mount, with `std::fs`, where `/dev/fuse` is usable (as root on a
/// machine with FUSE, or in the test guest).
#[test]
fn the_fuse_mount_serves_mkdir_attributes_and_rmdir_to_std_fs() -> Result {
    use std::fs;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    let dir = std::env::temp_dir().join(format!("drydock-configfs-test.{}", std::process::id()));
    let Some(mount) = drydock_sim::fuse::mount_or_skip::<Configfs>(&dir) else {
        return Ok(());
    };
    let (subsystem, shared) = register(c"fuse_test")?;
    let base = mount.dir().join("fuse_test");
    let errno = |err: std::io::Error| err.raw_os_error();
    assert_eq!(fs::read(base.join("version")).unwrap(), b"1.0\n");
    fs::write(base.join("value"), "7\n").unwrap();
    assert_eq!(*shared.value.lock().unwrap(), b"7\n");
    assert_eq!(
        fs::write(base.join("value"), "bad").map_err(errno),
        Err(Some(22))
    );
    assert_eq!(
        fs::write(base.join("version"), "2").map_err(errno),
        Err(Some(13))
    );
    let meta = fs::metadata(base.join("value")).unwrap();
    assert_eq!(
        (meta.permissions().mode() & 0o7777, meta.size()),
        (0o660, 4096)
    );
    fs::create_dir(base.join("dev0")).unwrap();
    fs::create_dir(base.join("dev0/p1")).unwrap();
    assert_eq!(fs::read(base.join("dev0/name")).unwrap(), b"dev0");
    assert_eq!(
        fs::create_dir(base.join("full")).map_err(errno),
        Err(Some(28))
    );
    assert_eq!(
        fs::create_dir(base.join("dev0/p1/x")).map_err(errno),
        Err(Some(1))
    );
    assert_eq!(
        fs::remove_dir(base.join("dev0")).map_err(errno),
        Err(Some(39))
    );
    // Files are the driver's to make and remove.
    assert_eq!(
        fs::write(base.join("dev0/new"), "x").map_err(errno),
        Err(Some(13))
    );
    assert_eq!(
        fs::remove_file(base.join("dev0/name")).map_err(errno),
        Err(Some(1))
    );
    let mut names: StdVec<_> = fs::read_dir(&base)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["big", "dev0", "slow", "value", "version"]);
    fs::remove_dir(base.join("dev0/p1")).unwrap();
    fs::remove_dir(base.join("dev0")).unwrap();
    assert!(!base.join("dev0").exists());
    assert_eq!(
        shared.take_events(),
        [
            "store 2 bytes",
            "store 3 bytes",
            "make dev0",
            "make dev0/p1",
            "drop in dev0",
            "release dev0/p1",
            "release dev0"
        ]
    );
    drop(subsystem);
    assert!(!base.exists());
    drop(mount);
    assert!(!dir.exists(), "unmounted and removed");
    Ok(())
}
