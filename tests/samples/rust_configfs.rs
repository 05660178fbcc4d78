//! Drives Linux 7.3's `samples/rust/rust_configfs.rs`, built unchanged as this crate's library: the
//! module is loaded into a simulated bus (it has no driver: it registers a configfs subsystem),
//! and its subsystem is used as a person would use `/sys/kernel/config/rust_configfs`: through the
//! host's tree, and, where FUSE is usable, by a shell on the tree's mount.

use drydock_host::configfs::{self, Configfs};
use drydock_host::errno::Errno;
use drydock_runner::logger;
use drydock_sim::{fuse, SimBus};

/// The names in a directory of the tree.
fn ls(path: &str) -> Vec<String> {
    configfs::read_dir(path).unwrap_or_else(|err| panic!("{path}: {err}"))
}

/// The whole attribute, as `cat` reads it.
fn cat(path: &str) -> String {
    String::from_utf8(configfs::read(path).unwrap()).unwrap()
}

#[test]
fn the_sample_makes_groups_and_serves_their_attributes() {
    let log = logger::capture();
    let bus = SimBus::new();
    let module = bus
        .load(&rust_configfs::__DRYDOCK_MODULE)
        .expect("the module loads");
    assert_eq!(ls("rust_configfs"), ["bar", "message"]);
    assert_eq!(cat("rust_configfs/message"), "Hello World\n");
    // `bar` holds what was last written to it, up to a page less one byte.
    assert_eq!(cat("rust_configfs/bar"), "");
    assert_eq!(configfs::write("rust_configfs/bar", b"abc\n"), Ok(4));
    assert_eq!(cat("rust_configfs/bar"), "abc\n");
    assert_eq!(configfs::write("rust_configfs/bar", &[b'z'; 5000]), Ok(4095));
    assert_eq!(cat("rust_configfs/bar"), "z".repeat(4095));
    // `message` has no `store`.
    assert_eq!(
        configfs::write("rust_configfs/message", b"x"),
        Err(Errno::EACCES)
    );

    // `mkdir child` makes a `Child` group, in which `mkdir` makes `GrandChild` groups, in which
    // nothing can be made.
    configfs::mkdir("rust_configfs/child").unwrap();
    assert_eq!(ls("rust_configfs/child"), ["baz"]);
    assert_eq!(cat("rust_configfs/child/baz"), "Hello Baz\n");
    configfs::mkdir("rust_configfs/child/grandchild").unwrap();
    assert_eq!(ls("rust_configfs/child/grandchild"), ["gc"]);
    assert_eq!(cat("rust_configfs/child/grandchild/gc"), "Hello GC\n");
    assert_eq!(
        configfs::mkdir("rust_configfs/child/grandchild/x"),
        Err(Errno::EPERM)
    );
    assert_eq!(configfs::rmdir("rust_configfs/child"), Err(Errno::ENOTEMPTY));
    configfs::rmdir("rust_configfs/child/grandchild").unwrap();
    configfs::rmdir("rust_configfs/child").unwrap();
    assert_eq!(ls("rust_configfs"), ["bar", "message"]);

    // The same from a shell, on the FUSE mount, where this machine has FUSE.
    let mount_dir = std::env::temp_dir().join(format!("rust_configfs.{}", std::process::id()));
    if let Some(mount) = fuse::mount_or_skip::<Configfs>(&mount_dir) {
        let base = mount.dir().join("rust_configfs");
        let script = "cat message && echo hello > bar && cat bar && mkdir one && \
                      mkdir one/two && cat one/baz one/two/gc && ls one && \
                      ! mkdir one/two/three 2>/dev/null && ! rmdir one 2>/dev/null && \
                      rmdir one/two && rmdir one && ls";
        assert_eq!(
            fuse::shell(&base, script),
            "Hello World\nhello\nHello Baz\nHello GC\nbaz\ntwo\nbar\nmessage\n"
        );
        drop(mount);
    }

    // A group left in the subsystem goes with the module, as if removed with `rmdir`.
    configfs::mkdir("rust_configfs/left").unwrap();
    drop(module);
    assert_eq!(
        configfs::metadata("rust_configfs"),
        Err(Errno::ENOENT),
        "unloading removed the subsystem"
    );
    let messages: Vec<_> = log
        .records()
        .into_iter()
        .filter(|r| r.target == "rust_configfs")
        .map(|r| r.message)
        .collect();
    assert_eq!(messages[0], "Rust configfs sample (init)");
    for message in ["Show message", "Show bar", "Store bar", "Show baz", "Show grand child"] {
        assert!(messages.iter().any(|m| m == message), "{message}: {messages:?}");
    }
}
