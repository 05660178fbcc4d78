//! `/dev/caesar`, opened in process (`drydock_host::miscdevice::open`, the code the CUSE requests
//! of other processes go through) as a C program would open it: each open file enciphers what is
//! written to it with its own shift, reads it back from its own position, and answers the three
//! ioctls, whose numbers are spelled out here as the C macros make them.

use drydock_host::bindings::O_RDWR;
use drydock_host::errno::Errno;
use drydock_host::miscdevice;
use drydock_sim::SimBus;

/// `_IOW('c', 1, __u32)`, `_IOR('c', 2, __u32)` and `_IO('c', 3)`.
const SET_SHIFT: u32 = 0x4004_6301;
const GET_SHIFT: u32 = 0x8004_6302;
const LEN: u32 = 0x6303;

/// Where the caller's `__u32` is, as its address in the calling process.
const ARG: usize = 0x7fff_0000;

/// What `ioctl()` returns for the errno `err`.
fn failed(err: Errno) -> Result<i64, Errno> {
    Ok(err.to_errno().into())
}

/// The file's shift, by `CAESAR_GET_SHIFT`.
fn shift(file: &miscdevice::OpenFile) -> u32 {
    let mut value = [0xff; 4];
    assert_eq!(file.ioctl(GET_SHIFT, ARG, &mut value), Ok(0));
    u32::from_ne_bytes(value)
}

#[test]
fn each_open_file_enciphers_its_own_text_and_reads_it_from_its_position() {
    let bus = SimBus::new();
    let module = bus
        .load(&caesar::__DRYDOCK_MODULE)
        .expect("the module loads");
    let file = miscdevice::open("caesar", O_RDWR).expect("the device is registered");

    // ROT13 at first; reads go on from where the last one stopped, to the end of the text.
    assert_eq!(shift(&file), 13);
    assert_eq!(file.write(b"Hello, world!"), Ok(13));
    assert_eq!(file.read(5).unwrap(), b"Uryyb");
    assert_eq!(file.read(100).unwrap(), b", jbeyq!");
    assert_eq!(file.read(100).unwrap(), b"", "the end of the file");

    // A new shift enciphers the writes that follow; the position stays where the reads left it.
    assert_eq!(file.ioctl(SET_SHIFT, ARG, &mut 3u32.to_ne_bytes()), Ok(0));
    assert_eq!(shift(&file), 3);
    assert_eq!(file.write(b" abc xyz"), Ok(8));
    assert_eq!(file.read(100).unwrap(), b" def abc");
    // `CAESAR_LEN` returns the length as the ioctl's value.
    assert_eq!(file.ioctl(LEN, 0, &mut []), Ok(21));

    // What the driver refuses, as the caller's `ioctl()` sees it.
    assert_eq!(
        file.ioctl(SET_SHIFT, ARG, &mut 26u32.to_ne_bytes()),
        failed(Errno::EINVAL)
    );
    assert_eq!(shift(&file), 3, "a refused shift changes nothing");
    assert_eq!(file.ioctl(0x6304, 0, &mut []), failed(Errno::ENOTTY));
    // Without the memory the command names, the copy fails.
    assert_eq!(file.ioctl(GET_SHIFT, ARG, &mut []), failed(Errno::EFAULT));

    // Another open file has its own text, shift and position.
    let other = miscdevice::open("caesar", O_RDWR).unwrap();
    assert_eq!(shift(&other), 13);
    assert_eq!(other.read(100).unwrap(), b"");
    assert_eq!(other.write(b"Uryyb"), Ok(5));
    assert_eq!(
        other.read(100).unwrap(),
        b"Hello",
        "ROT13 twice is the text"
    );
    assert_eq!(file.ioctl(LEN, 0, &mut []), Ok(21));

    // A file keeps at most 4096 bytes: a write takes what fits, then fails with `ENOSPC`.
    assert_eq!(other.write(&[b'.'; 5000]), Ok(4091));
    assert_eq!(other.write(b"more"), Err(Errno::ENOSPC));
    assert_eq!(other.ioctl(LEN, 0, &mut []), Ok(4096));
    assert_eq!(other.read(10000).unwrap(), [b'.'; 4091]);
    drop((file, other));

    drop(module);
    assert_eq!(
        miscdevice::open("caesar", O_RDWR).err(),
        Some(Errno::ENODEV),
        "unloading deregistered the device"
    );
}
