//! Runs Linux 7.3's `samples/rust/rust_misc_device.rs`, built unchanged as this crate's library:
//! loading the module registers the misc device `rust-misc-device`, which this test opens in
//! process (`drydock_host::miscdevice`, the code CUSE requests go through) and drives as the
//! sample's own C program does: hello, get, set, get, an unknown command; then a write read back
//! in pieces, as `cat` reads it. Unloading the module removes the device.

use drydock_host::bindings::O_RDWR;
use drydock_host::errno::Errno;
use drydock_host::miscdevice;
use drydock_runner::logger;
use drydock_sim::SimBus;

/// The sample's commands: `_IO('|', 0x80)`, `_IOR('|', 0x81, int)`, `_IOW('|', 0x82, int)`, and
/// `_IO('|', 0)`, which it does not know.
const HELLO: u32 = 0x7c80;
const GET_VALUE: u32 = 0x8004_7c81;
const SET_VALUE: u32 = 0x4004_7c82;
const FAIL: u32 = 0x7c00;

/// Where the caller's `int` is, as its address in the calling process.
const VALUE_ADDRESS: usize = 0x7fff_0000;

#[test]
fn the_sample_serves_its_value_and_buffer() {
    let log = logger::capture();
    let bus = SimBus::new();
    let module = bus
        .load(&rust_misc_device::__DRYDOCK_MODULE)
        .expect("the module loads");
    let file = miscdevice::open("rust-misc-device", O_RDWR).expect("the device is registered");

    assert_eq!(file.ioctl(HELLO, 0, &mut []), Ok(0));
    let mut value = [0xff; 4];
    assert_eq!(file.ioctl(GET_VALUE, VALUE_ADDRESS, &mut value), Ok(0));
    assert_eq!(i32::from_ne_bytes(value), 0, "the initial value");
    let mut new = 1i32.to_ne_bytes();
    assert_eq!(file.ioctl(SET_VALUE, VALUE_ADDRESS, &mut new), Ok(0));
    assert_eq!(file.ioctl(GET_VALUE, VALUE_ADDRESS, &mut value), Ok(0));
    assert_eq!(i32::from_ne_bytes(value), 1);
    // The unknown command fails with `ENOTTY`, as the caller's `ioctl()` sees it.
    assert_eq!(file.ioctl(FAIL, 0, &mut []), Ok(Errno::ENOTTY.to_errno().into()));
    // Without the memory the command names, the copy fails.
    assert_eq!(
        file.ioctl(GET_VALUE, VALUE_ADDRESS, &mut []),
        Ok(Errno::EFAULT.to_errno().into())
    );

    assert_eq!(file.write(b"Rust misc device buffer\n"), Ok(24));
    assert_eq!(file.read(10).unwrap(), b"Rust misc ");
    assert_eq!(file.read(100).unwrap(), b"device buffer\n");
    assert_eq!(file.read(100).unwrap(), b"");
    // Another open file has its own value.
    let other = miscdevice::open("rust-misc-device", O_RDWR).unwrap();
    assert_eq!(other.ioctl(GET_VALUE, VALUE_ADDRESS, &mut value), Ok(0));
    assert_eq!(i32::from_ne_bytes(value), 0);
    drop((file, other));

    let lines = [
        "Initialising Rust Misc Device Sample",
        "misc rust-misc-device: Opening Rust Misc Device Sample",
        "misc rust-misc-device: IOCTLing Rust Misc Device Sample",
        "misc rust-misc-device: -> Hello from the Rust Misc Device",
        "misc rust-misc-device: -> Copying data to userspace (value: 0)",
        "misc rust-misc-device: -> Copying data from userspace (value: 1)",
        "misc rust-misc-device: -> Copying data to userspace (value: 1)",
        "misc rust-misc-device: -> IOCTL not recognised: 31744",
        "misc rust-misc-device: Writing to Rust Misc Device Sample",
        "misc rust-misc-device: Reading from Rust Misc Device Sample",
        "misc rust-misc-device: Exiting the Rust Misc Device Sample",
    ];
    let records = log.records();
    for line in lines {
        assert!(
            records.iter().any(|r| r.message == line),
            "`{line}` was not logged: {records:?}"
        );
    }

    drop(module);
    assert_eq!(
        miscdevice::open("rust-misc-device", O_RDWR).err(),
        Some(Errno::ENODEV),
        "unloading deregistered the device"
    );
}
