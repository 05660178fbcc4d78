//! `kernel::debugfs` through the host's tree: what each kind of file shows and takes (whole and
//! partial reads, reads at positions, writes that parse, binary writes at positions), callback
//! files, `Scope`s and `ScopedDir`s whose files go with them, removal waiting for a running
//! callback, open files of removed entries, names that exist already, a coherent DMA allocation as
//! a binary file on the simulated bus, and (where `/dev/fuse` is usable) the same files through a
//! FUSE mount read and written with `std::fs`.
//!
//! Every test names its directories after itself: the tree is the process's, shared by the tests
//! running in parallel.

// The driver lives in a private module of this test crate.
#![allow(unreachable_pub)]

use std::sync::{Arc as StdArc, Mutex as StdMutex};

use drydock_host::debugfs::{self as host, Metadata};
use drydock_host::errno::Errno;
use drydock_runner::{driver_data::WithDriver, logger};
use drydock_sim::{models::PciTestdev, SimBus};
use kernel::debugfs::{Dir, Scope, ScopedDir};
use kernel::new_mutex;
use kernel::prelude::*;
use kernel::sync::atomic::{Atomic, Relaxed};

/// The whole file, as `cat` reads it.
fn cat(path: &str) -> String {
    String::from_utf8(host::read(path).unwrap()).unwrap()
}

/// A file's permissions, checking that it is one.
fn file_mode(path: &str) -> u16 {
    let Metadata { is_dir, mode } = host::metadata(path).unwrap();
    assert!(!is_dir, "{path} is a directory");
    mode
}

#[test]
fn a_read_only_file_shows_its_data_and_goes_with_it() -> Result {
    let dir = Dir::new(c"ro_test");
    let file = KBox::pin_init(dir.read_only_file(c"answer", 42u32), GFP_KERNEL)?;
    assert_eq!(**file, 42, "the file derefs to its data");
    assert_eq!(cat("ro_test/answer"), "42\n");
    assert_eq!(file_mode("ro_test/answer"), 0o400);
    assert_eq!(host::write("ro_test/answer", b"1"), Err(Errno::EINVAL));
    assert_eq!(host::read_dir("ro_test").unwrap(), ["answer"]);
    drop(file);
    assert_eq!(host::metadata("ro_test/answer"), Err(Errno::ENOENT));
    assert!(host::read_dir("ro_test").unwrap().is_empty());
    drop(dir);
    assert_eq!(host::metadata("ro_test"), Err(Errno::ENOENT));
    Ok(())
}

#[test]
fn text_reads_continue_the_text_shown_at_the_first_read() -> Result {
    let dir = Dir::new(c"seq_test");
    let file = KBox::pin_init(
        dir.read_write_file(c"value", Atomic::<u64>::new(123_456)),
        GFP_KERNEL,
    )?;
    let open = host::open("seq_test/value").unwrap();
    assert_eq!(open.read_at(0, 3).unwrap(), b"123");
    // The value changes between two reads of one open file: the second continues the old text,
    // as `seq_read()` does.
    file.store(999, Relaxed);
    assert_eq!(open.read_at(3, 100).unwrap(), b"456\n");
    assert_eq!(open.read_at(7, 100).unwrap(), b"", "the end of the file");
    // A read somewhere else shows the text again.
    assert_eq!(open.read_at(0, 100).unwrap(), b"999\n");
    assert_eq!(open.read_at(2, 100).unwrap(), b"9\n");
    assert_eq!(open.read_at(50, 10).unwrap(), b"", "past the end");
    // A new open shows the new text.
    assert_eq!(cat("seq_test/value"), "999\n");
    Ok(())
}

#[test]
fn text_writes_parse_the_whole_buffer_or_change_nothing() -> Result {
    let dir = Dir::new(c"parse_test");
    let atomic = KBox::pin_init(
        dir.read_write_file(c"atomic", Atomic::<i32>::new(1)),
        GFP_KERNEL,
    )?;
    let mutex = KBox::pin_init(dir.read_write_file(c"mutex", new_mutex!(7u16)), GFP_KERNEL)?;
    assert_eq!(file_mode("parse_test/atomic"), 0o600);
    // `echo -5 > atomic`: the newline and spaces are trimmed; the file takes all the bytes.
    assert_eq!(host::write("parse_test/atomic", b" -5\n"), Ok(4));
    assert_eq!(atomic.load(Relaxed), -5);
    assert_eq!(cat("parse_test/atomic"), "-5\n");
    // 22 bytes are one too many for an atomic, even if they parse.
    let long = [&[b' '; 21][..], b"1"].concat();
    for bad in [&b"five"[..], b"", b"1 2", b"\xff", &long] {
        assert_eq!(
            host::write("parse_test/atomic", bad),
            Err(Errno::EINVAL),
            "{bad:?}"
        );
    }
    assert_eq!(atomic.load(Relaxed), -5, "failed writes change nothing");
    // 21 bytes are the most an atomic takes, 128 a mutex.
    assert_eq!(
        host::write("parse_test/atomic", b"-2147483648          "),
        Ok(21)
    );
    assert_eq!(atomic.load(Relaxed), i32::MIN);
    assert_eq!(host::write("parse_test/mutex", b"65535\n"), Ok(6));
    assert_eq!(*mutex.lock(), u16::MAX);
    assert_eq!(cat("parse_test/mutex"), "65535\n");
    assert_eq!(
        host::write("parse_test/mutex", b"65536"),
        Err(Errno::EINVAL)
    );
    let padded = [b"8".as_slice(), &[b' '; 127]].concat();
    assert_eq!(host::write("parse_test/mutex", &padded), Ok(128));
    assert_eq!(*mutex.lock(), 8);
    let padded = [b"8".as_slice(), &[b' '; 128]].concat();
    assert_eq!(host::write("parse_test/mutex", &padded), Err(Errno::EINVAL));
    Ok(())
}

#[test]
fn a_write_only_file_cannot_be_read() -> Result {
    let dir = Dir::new(c"wo_test");
    let file = KBox::pin_init(
        dir.write_only_file(c"knob", Atomic::<i16>::new(0)),
        GFP_KERNEL,
    )?;
    assert_eq!(file_mode("wo_test/knob"), 0o200);
    assert_eq!(host::read("wo_test/knob"), Err(Errno::EINVAL));
    assert_eq!(host::write("wo_test/knob", b"200"), Ok(3));
    assert_eq!(file.load(Relaxed), 200);
    Ok(())
}

#[test]
fn binary_files_read_and_write_at_the_file_position() -> Result {
    let dir = Dir::new(c"bin_test");
    let ro = KBox::pin_init(dir.read_binary_file(c"ro", *b"0123456789"), GFP_KERNEL)?;
    let rw = KBox::pin_init(
        dir.read_write_binary_file(c"rw", new_mutex!([0u8; 8])),
        GFP_KERNEL,
    )?;
    let wo = KBox::pin_init(dir.write_binary_file(c"wo", new_mutex!(0u32)), GFP_KERNEL)?;
    assert_eq!(
        [
            file_mode("bin_test/ro"),
            file_mode("bin_test/rw"),
            file_mode("bin_test/wo")
        ],
        [0o400, 0o600, 0o200]
    );
    assert_eq!(host::read("bin_test/ro").unwrap(), **ro);
    let open = host::open("bin_test/ro").unwrap();
    assert_eq!(open.read_at(3, 4).unwrap(), b"3456");
    assert_eq!(open.read_at(8, 4).unwrap(), b"89", "as much as there is");
    assert_eq!(open.read_at(10, 4).unwrap(), b"", "the end");
    assert_eq!(open.write_at(0, b"x"), Err(Errno::EINVAL));

    let open = host::open("bin_test/rw").unwrap();
    assert_eq!(open.write_at(2, b"abc"), Ok(3));
    assert_eq!(*rw.lock(), *b"\0\0abc\0\0\0");
    // A write that runs past the end stores what fits; one at the end stores nothing.
    assert_eq!(open.write_at(6, b"xyz"), Ok(2));
    assert_eq!(open.write_at(8, b"z"), Ok(0));
    assert_eq!(host::read("bin_test/rw").unwrap(), b"\0\0abc\0xy");
    assert_eq!(open.read_at(3, 2).unwrap(), b"bc");

    assert_eq!(host::read("bin_test/wo"), Err(Errno::EINVAL));
    assert_eq!(
        host::open("bin_test/wo").unwrap().write_at(1, &[1, 2]),
        Ok(2)
    );
    assert_eq!(*wo.lock(), u32::from_ne_bytes([0, 1, 2, 0]));
    Ok(())
}

/// Shows a counter in hexadecimal.
fn show_hex(value: &Atomic<u32>, f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
    writeln!(f, "{:#x}", value.load(Relaxed))
}

/// Adds the number written to the counter.
fn add(value: &Atomic<u32>, reader: &mut kernel::uaccess::UserSliceReader) -> Result {
    let mut text = [0u8; 10];
    let len = reader.len().min(text.len());
    reader.read_slice(&mut text[..len])?;
    let text = core::str::from_utf8(&text[..len]).map_err(|_| EINVAL)?;
    let n: u32 = text.trim().parse().map_err(|_| EINVAL)?;
    value.fetch_add(n, Relaxed);
    Ok(())
}

#[test]
fn callback_files_show_and_take_through_their_callbacks() -> Result {
    let dir = Dir::new(c"callback_test");
    let ro = KBox::pin_init(
        dir.read_callback_file(c"ro", Atomic::<u32>::new(255), &show_hex),
        GFP_KERNEL,
    )?;
    let rw = KBox::pin_init(
        dir.read_write_callback_file(c"rw", Atomic::<u32>::new(1), &show_hex, &add),
        GFP_KERNEL,
    )?;
    let wo = KBox::pin_init(
        dir.write_callback_file(c"wo", Atomic::<u32>::new(0), &add),
        GFP_KERNEL,
    )?;
    assert_eq!(cat("callback_test/ro"), "0xff\n");
    assert_eq!(host::write("callback_test/ro", b"1"), Err(Errno::EINVAL));
    assert_eq!(host::write("callback_test/rw", b"15\n"), Ok(3));
    assert_eq!(rw.load(Relaxed), 16);
    assert_eq!(cat("callback_test/rw"), "0x10\n");
    assert_eq!(host::write("callback_test/rw", b"x"), Err(Errno::EINVAL));
    assert_eq!(host::write("callback_test/wo", b"2"), Ok(1));
    assert_eq!(host::write("callback_test/wo", b"3"), Ok(1));
    assert_eq!(wo.load(Relaxed), 5);
    assert_eq!(host::read("callback_test/wo"), Err(Errno::EINVAL));
    assert_eq!(
        [
            file_mode("callback_test/ro"),
            file_mode("callback_test/rw"),
            file_mode("callback_test/wo")
        ],
        [0o400, 0o600, 0o200]
    );
    assert_eq!(ro.load(Relaxed), 255);
    Ok(())
}

/// A device's data, shown in a scope.
struct Stats {
    packets: Atomic<u64>,
    errors: Atomic<u64>,
    table: [u8; 4],
}

fn stats() -> Stats {
    Stats {
        packets: Atomic::new(10),
        errors: Atomic::new(0),
        table: [1, 2, 3, 4],
    }
}

/// Fills a scope's directory: two text files, a binary one, and a subdirectory.
fn fill<'data>(stats: &'data Stats, dir: &ScopedDir<'data, '_>) {
    dir.read_only_file(c"packets", &stats.packets);
    dir.read_write_file(c"errors", &stats.errors);
    let sub = dir.dir(c"raw");
    sub.read_binary_file(c"table", &stats.table);
}

#[test]
fn a_scope_removes_every_entry_it_made_before_its_data() -> Result {
    let scope = KBox::pin_init(Scope::dir(stats(), c"scope_test", fill), GFP_KERNEL)?;
    assert_eq!(
        host::read_dir("scope_test").unwrap(),
        ["errors", "packets", "raw"]
    );
    assert_eq!(cat("scope_test/packets"), "10\n");
    assert_eq!(host::write("scope_test/errors", b"3"), Ok(1));
    assert_eq!(scope.errors.load(Relaxed), 3, "the files borrow the data");
    assert_eq!(host::read("scope_test/raw/table").unwrap(), [1, 2, 3, 4]);
    let held = host::open("scope_test/packets").unwrap();
    drop(scope);
    assert_eq!(host::metadata("scope_test"), Err(Errno::ENOENT));
    assert_eq!(host::metadata("scope_test/raw/table"), Err(Errno::ENOENT));
    // A file still open when its entry went fails, as debugfs's do.
    assert_eq!(held.read_at(0, 10), Err(Errno::EIO));
    Ok(())
}

#[test]
fn scopes_in_a_dir_go_alone_and_the_dir_goes_last() -> Result {
    let parent = Dir::new(c"dir_scope_test");
    let first = KBox::pin_init(parent.scope(stats(), c"first", fill), GFP_KERNEL)?;
    let second = KBox::pin_init(parent.scope(stats(), c"second", fill), GFP_KERNEL)?;
    assert_eq!(
        host::read_dir("dir_scope_test").unwrap(),
        ["first", "second"]
    );
    drop(first);
    assert_eq!(host::read_dir("dir_scope_test").unwrap(), ["second"]);
    assert_eq!(cat("dir_scope_test/second/packets"), "10\n");
    // The directory's handle goes first, but the scope in it keeps it.
    let child = parent.subdir(c"child");
    drop(parent);
    assert!(host::metadata("dir_scope_test").unwrap().is_dir);
    drop(second);
    assert_eq!(host::read_dir("dir_scope_test").unwrap(), ["child"]);
    drop(child);
    assert_eq!(host::metadata("dir_scope_test"), Err(Errno::ENOENT));
    Ok(())
}

#[test]
fn a_name_that_exists_is_logged_and_not_created() -> Result {
    let log = logger::capture();
    let dir = Dir::new(c"dup_test");
    let first = KBox::pin_init(dir.read_only_file(c"name", 1u8), GFP_KERNEL)?;
    let second = KBox::pin_init(dir.read_only_file(c"name", 2u8), GFP_KERNEL)?;
    assert!(log.contains("'name' already exists in 'dup_test'"));
    assert_eq!(cat("dup_test/name"), "1\n");
    // Dropping the one that was not created removes nothing.
    drop(second);
    assert_eq!(cat("dup_test/name"), "1\n");
    drop(first);
    assert_eq!(host::metadata("dup_test/name"), Err(Errno::ENOENT));
    // Once removed, the name is free again.
    let third = KBox::pin_init(dir.read_only_file(c"name", 3u8), GFP_KERNEL)?;
    assert_eq!(cat("dup_test/name"), "3\n");
    drop(third);
    // Nothing is created under a directory that was not.
    let again = Dir::new(c"dup_test");
    let lost = KBox::pin_init(again.read_only_file(c"inner", 3u8), GFP_KERNEL)?;
    assert_eq!(
        host::read_dir("dup_test").unwrap(),
        std::vec::Vec::<String>::new()
    );
    assert_eq!(**lost, 3, "the data is there all the same");
    Ok(())
}

/// A value whose `show` waits until the test lets it finish.
#[path = "support/gate.rs"]
mod gate;
use gate::Gate;

/// Shows nothing, once the gate is open; says it entered first.
fn show_gated(gate: &StdArc<Gate>, _f: &mut kernel::fmt::Formatter<'_>) -> kernel::fmt::Result {
    gate.set(|s| s.0 = true);
    gate.wait(|s| s.1);
    Ok(())
}

#[test]
fn removing_a_file_waits_for_its_running_callback() -> Result {
    let gate = StdArc::new(Gate::default());
    let dir = Dir::new(c"drain_test");
    let file = KBox::pin_init(
        dir.read_callback_file(c"slow", gate.clone(), &show_gated),
        GFP_KERNEL,
    )?;
    let dropped = StdArc::new(StdMutex::new(false));
    std::thread::scope(|s| {
        let reader = s.spawn(|| host::read("drain_test/slow"));
        gate.wait(|s| s.0);
        let remover = s.spawn(|| {
            drop(file);
            *dropped.lock().unwrap() = true;
        });
        // The remover cannot finish while the callback runs: the file's data is still in use.
        std::thread::sleep(std::time::Duration::from_millis(50));
        let dropped_early = *dropped.lock().unwrap();
        gate.set(|s| s.1 = true);
        remover.join().unwrap();
        assert!(!dropped_early, "the file went while its callback ran");
        assert_eq!(reader.join().unwrap(), Ok(std::vec::Vec::new()));
    });
    assert!(*dropped.lock().unwrap());
    assert_eq!(host::metadata("drain_test/slow"), Err(Errno::ENOENT));
    Ok(())
}

/// A driver for pci-testdev that keeps nothing.
#[path = "support/bare_testdev.rs"]
mod bare;

#[test]
fn a_coherent_allocation_reads_as_the_device_left_it() -> Result {
    let bus = SimBus::new();
    let device = bus.add(3, PciTestdev::new());
    let _module = bus.load(&bare::__DRYDOCK_MODULE).unwrap();
    device
        .with_driver::<bare::Driver, _>(|dev, _| -> Result {
            let buffer = kernel::dma::Coherent::<[u8; 16]>::zeroed(dev.as_ref(), GFP_KERNEL)?;
            let ctx = device.function().context();
            assert!(ctx.dma_write(buffer.dma_address() + 2, b"device"));
            let dir = Dir::new(c"coherent_test");
            let _file = KBox::pin_init(dir.read_binary_file(c"ring", buffer), GFP_KERNEL)?;
            let content = host::read("coherent_test/ring").unwrap();
            assert_eq!(content, b"\0\0device\0\0\0\0\0\0\0\0");
            let open = host::open("coherent_test/ring").unwrap();
            assert_eq!(open.read_at(4, 3).unwrap(), b"vic");
            assert_eq!(open.read_at(14, 8).unwrap(), b"\0\0");
            assert_eq!(open.read_at(16, 8).unwrap(), b"");
            Ok(())
        })
        .unwrap()
}

/// The same files through a FUSE mount, with `std::fs`, where `/dev/fuse` is usable: in the test
/// guest (`docs/testing.md`, "debugfs over FUSE"), or on a machine with FUSE as root.
#[test]
fn the_fuse_mount_serves_the_files_to_std_fs() -> Result {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    let dir = std::env::temp_dir().join(format!("drydock-debugfs-test.{}", std::process::id()));
    let Some(mount) = drydock_sim::fuse::mount_or_skip::<host::Debugfs>(&dir) else {
        return Ok(());
    };
    let root = Dir::new(c"fuse_test");
    let counter = KBox::pin_init(
        root.read_write_file(c"counter", Atomic::<u32>::new(5)),
        GFP_KERNEL,
    )?;
    let blob = KBox::pin_init(
        root.read_write_binary_file(c"blob", new_mutex!(*b"abcdefgh")),
        GFP_KERNEL,
    )?;
    let base = mount.dir().join("fuse_test");
    assert_eq!(fs::read_to_string(base.join("counter")).unwrap(), "5\n");
    // `sendfile()`, as busybox's `cat` reads, goes through the page cache, which ends at the size
    // `stat()` shows: the whole content, as `read()` gets it.
    assert_eq!(sendfile_to_pipe(&base.join("counter")), b"5\n");
    assert_eq!(sendfile_to_pipe(&base.join("blob")), b"abcdefgh");
    // `echo 9 > counter`.
    fs::write(base.join("counter"), "9\n").unwrap();
    assert_eq!(counter.load(Relaxed), 9);
    let err = fs::write(base.join("counter"), "nine").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(22));
    let mode = fs::metadata(base.join("counter"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o600);
    // A binary write and read at a position.
    {
        use std::os::unix::fs::FileExt;
        let file = fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(base.join("blob"))
            .unwrap();
        assert_eq!(file.write_at(b"XY", 3).unwrap(), 2);
        let mut part = [0u8; 4];
        assert_eq!(file.read_at(&mut part, 2).unwrap(), 4);
        assert_eq!(&part, b"cXYf");
    }
    assert_eq!(*blob.lock(), *b"abcXYfgh");
    let mut names: std::vec::Vec<_> = fs::read_dir(&base)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["blob", "counter"]);
    drop(counter);
    assert!(!base.join("counter").exists(), "a dropped file is gone");
    drop(blob);
    drop(root);
    assert!(!base.exists());
    drop(mount);
    assert!(!dir.exists(), "unmounted and removed");
    Ok(())
}

/// What `sendfile()` copies from the file at `path` into a pipe, until it returns 0.
fn sendfile_to_pipe(path: &std::path::Path) -> std::vec::Vec<u8> {
    use std::io::Read;
    use std::os::fd::AsRawFd;

    let file = std::fs::File::open(path).unwrap();
    let (mut reader, writer) = std::io::pipe().unwrap();
    loop {
        // SAFETY: both descriptors are open for the call; no offset pointer is passed.
        let copied = unsafe {
            libc::sendfile(
                writer.as_raw_fd(),
                file.as_raw_fd(),
                core::ptr::null_mut(),
                4096,
            )
        };
        assert!(copied >= 0, "sendfile: {}", std::io::Error::last_os_error());
        if copied == 0 {
            break;
        }
    }
    drop(writer);
    let mut copied = std::vec::Vec::new();
    reader.read_to_end(&mut copied).unwrap();
    copied
}
