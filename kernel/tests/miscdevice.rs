//! `kernel::miscdevice` through the host's registry, in process: opens reaching the driver's
//! `open` with the caller's flags, reads and writes at each open file's own position, ioctls with
//! the caller's memory at `arg` and the driver's return value, `compat_ioctl` and its fallback,
//! `show_fdinfo`, release on the last reference (delayed by a driver's `ARef<File>`), devices
//! without some operations, deregistration releasing the open files, a name registered twice, a
//! panicking callback. The last test does the same through CUSE, as another process would, and
//! runs only where `/dev/cuse` exists (in the guest: see `docs/testing.md`).
//!
//! Every test registers devices of its own names: the registry is the process's.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex as StdMutex;

use drydock_host::bindings::{O_NONBLOCK, O_RDONLY, O_RDWR, O_WRONLY};
use drydock_host::errno::Errno;
use drydock_host::miscdevice::{self as host, OpenFile};
use kernel::fs::{File, Kiocb};
use kernel::ioctl::{_IO, _IOC_SIZE, _IOR, _IOW, _IOWR};
use kernel::iov::{IovIterDest, IovIterSource};
use kernel::miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration};
use kernel::prelude::*;
use kernel::seq_file::{seq_print, SeqFile};
use kernel::sync::aref::ARef;
use kernel::uaccess::UserSlice;

/// What `module!` declares in a driver crate, which `#[vtable]` implementations name.
struct LocalModule;

impl kernel::ModuleMetadata for LocalModule {
    const NAME: &'static CStr = c"miscdevice_test";
    // SAFETY: a null pointer is the placeholder of a module that is not loaded.
    const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
}

const GET: u32 = _IOR::<i32>(b'M' as u32, 1);
const SET: u32 = _IOW::<i32>(b'M' as u32, 2);
/// Takes a new value and gives back the old one, in the same memory.
const SWAP: u32 = _IOWR::<i32>(b'M' as u32, 3);
/// Returns 12345, with no memory.
const ANSWER: u32 = _IO(b'M' as u32, 4);
/// Fails with `EPERM`.
const FORBIDDEN: u32 = _IO(b'M' as u32, 5);
/// Writes the low 4 bytes of a 16-byte argument only.
const PARTIAL: u32 = _IOR::<[u8; 16]>(b'M' as u32, 6);
/// Panics.
const OOPS: u32 = _IO(b'M' as u32, 7);

/// How many files of [`Echo`] devices were released, by any test.
static RELEASED: AtomicUsize = AtomicUsize::new(0);
/// A file one test keeps a reference to, to delay its release.
static KEPT: StdMutex<Option<ARef<File>>> = StdMutex::new(None);

/// A device whose open files each hold a buffer (replaced by a write, read back from the file
/// position) and a value (set and got by ioctl).
struct Echo {
    flags: u32,
    buffer: StdMutex<std::vec::Vec<u8>>,
    value: StdMutex<i32>,
}

#[vtable]
impl MiscDevice for Echo {
    type Ptr = KBox<Self>;

    fn open(file: &File, misc: &MiscDeviceRegistration<Self>) -> Result<KBox<Self>> {
        // The registration is the one opened: its device is alive.
        let _device = ARef::from(misc.device());
        if file.flags() & kernel::fs::file::flags::O_NONBLOCK != 0 {
            return Err(EAGAIN);
        }
        Ok(KBox::new(
            Echo {
                flags: file.flags(),
                buffer: StdMutex::new(std::vec::Vec::new()),
                value: StdMutex::new(0),
            },
            GFP_KERNEL,
        )?)
    }

    fn release(device: KBox<Self>, _file: &File) {
        RELEASED.fetch_add(1, Ordering::SeqCst);
        drop(device);
    }

    fn read_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let me = kiocb.file();
        let buffer = me.buffer.lock().unwrap();
        iov.simple_read_from_buffer(kiocb.ki_pos_mut(), &buffer)
    }

    fn write_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let me = kiocb.file();
        let mut buffer = me.buffer.lock().unwrap();
        buffer.clear();
        let mut data = KVec::new();
        let len = iov.copy_from_iter_vec(&mut data, GFP_KERNEL)?;
        buffer.extend_from_slice(&data);
        *kiocb.ki_pos_mut() = 0;
        Ok(len)
    }

    fn ioctl(me: &Echo, file: &File, cmd: u32, arg: usize) -> Result<isize> {
        if cmd == OOPS {
            panic!("the driver's ioctl panics");
        }
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        let mut value = me.value.lock().unwrap();
        match cmd {
            GET => user.writer().write(&*value)?,
            SET => *value = user.reader().read()?,
            SWAP => {
                let (mut reader, mut writer) = user.reader_writer();
                let new: i32 = reader.read()?;
                writer.write(&*value)?;
                *value = new;
            }
            ANSWER => return Ok(12345),
            FORBIDDEN => return Err(EPERM),
            PARTIAL => user.writer().write(&0x5555_5555u32)?,
            // Keeps a reference to the file, which delays its release.
            0 => *KEPT.lock().unwrap() = Some(ARef::from(file)),
            _ => return Err(ENOTTY),
        }
        Ok(0)
    }

    fn compat_ioctl(_me: &Echo, _file: &File, cmd: u32, _arg: usize) -> Result<isize> {
        // CAST: the test's command numbers fit.
        Ok(-(cmd as isize) & 0xffff)
    }

    fn show_fdinfo(me: &Echo, m: &SeqFile, _file: &File) {
        seq_print!(m, "value:\t{}\n", *me.value.lock().unwrap());
        seq_print!(m, "flags:\t{:o}\n", me.flags);
    }
}

/// A device with `open` and `ioctl` alone.
struct Bare;

#[vtable]
impl MiscDevice for Bare {
    type Ptr = ();

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result {
        Ok(())
    }

    fn ioctl(_me: (), _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // The argument is the caller's value; a 32-bit process's arrives zero-extended.
        // CAST: the test's values fit.
        Ok((cmd as usize + arg) as isize)
    }
}

fn register<T: MiscDevice>(name: &'static CStr) -> Result<Pin<KBox<MiscDeviceRegistration<T>>>> {
    KBox::pin_init(
        MiscDeviceRegistration::<T>::register(MiscDeviceOptions { name }),
        GFP_KERNEL,
    )
}

fn open(name: &str) -> OpenFile {
    host::open(name, O_RDWR).unwrap_or_else(|err| panic!("open {name}: {err}"))
}

/// The ioctl `cmd` with `value`'s bytes as the caller's memory at an address of its own.
fn ioctl_i32(file: &OpenFile, cmd: u32, value: &mut i32) -> Result<i64, Errno> {
    let mut bytes = value.to_ne_bytes();
    let ret = file.ioctl(cmd, 0x1000_0000, &mut bytes);
    *value = i32::from_ne_bytes(bytes);
    ret
}

#[test]
fn each_open_file_has_its_own_data_and_position() -> Result {
    let _misc = register::<Echo>(c"misc-positions")?;
    assert!(host::names().contains(&"misc-positions".to_string()));
    let (a, b) = (open("misc-positions"), open("misc-positions"));
    assert_eq!(a.write(b"hello world"), Ok(11));
    // Reads go on from where the last one ended, as `cat` needs.
    assert_eq!(a.read(5).unwrap(), b"hello");
    assert_eq!(a.read(100).unwrap(), b" world");
    assert_eq!(a.read(100).unwrap(), b"");
    // The other file has its own data, and its own position.
    assert_eq!(b.read(100).unwrap(), b"");
    assert_eq!(b.write(b"xy"), Ok(2));
    assert_eq!(b.read(1).unwrap(), b"x");
    // A write sets the position back to 0.
    assert_eq!(a.write(b"again"), Ok(5));
    assert_eq!(a.read(100).unwrap(), b"again");
    Ok(())
}

#[test]
fn ioctls_copy_the_callers_memory_in_and_out_and_return_the_drivers_value() -> Result {
    let _misc = register::<Echo>(c"misc-ioctl")?;
    let file = open("misc-ioctl");
    let mut value = 0;
    assert_eq!(ioctl_i32(&file, SET, &mut 42), Ok(0));
    assert_eq!(ioctl_i32(&file, GET, &mut value), Ok(0));
    assert_eq!(value, 42);
    let mut new = 7;
    assert_eq!(ioctl_i32(&file, SWAP, &mut new), Ok(0));
    assert_eq!(new, 42, "the old value came back in the same memory");
    assert_eq!(ioctl_i32(&file, GET, &mut value), Ok(0));
    assert_eq!(value, 7);
    // The driver's return value is the caller's; an error is a negative errno.
    assert_eq!(file.ioctl(ANSWER, 0, &mut []), Ok(12345));
    assert_eq!(file.ioctl(FORBIDDEN, 0, &mut []), Ok(-1));
    assert_eq!(file.ioctl(_IO(u32::from(b'M'), 99), 0, &mut []), Ok(-25));
    // Memory the driver does not write keeps its bytes.
    let mut memory = [0xaa; 16];
    assert_eq!(file.ioctl(PARTIAL, 0x2000, &mut memory), Ok(0));
    assert_eq!(memory[..4], [0x55; 4]);
    assert_eq!(memory[4..], [0xaa; 12]);
    // Too little memory at `arg`: the copy fails with `EFAULT`.
    assert_eq!(file.ioctl(GET, 0x3000, &mut [0; 2]), Ok(-14));
    Ok(())
}

#[test]
fn compat_ioctls_reach_compat_ioctl_or_else_ioctl() -> Result {
    let _echo = register::<Echo>(c"misc-compat")?;
    let echo = open("misc-compat");
    assert_eq!(echo.compat_ioctl(0x1234, 0, &mut []), Ok(-0x1234 & 0xffff));
    let _bare = register::<Bare>(c"misc-compat-bare")?;
    let bare = open("misc-compat-bare");
    assert_eq!(bare.ioctl(1, 0x1_0000_0002, &mut []), Ok(0x1_0000_0003));
    // `compat_ptr_ioctl`: the 32-bit argument, zero-extended.
    assert_eq!(bare.compat_ioctl(1, 0xffff_ffff_0000_0002, &mut []), Ok(3));
    Ok(())
}

#[test]
fn operations_a_device_lacks_fail_as_in_the_kernel() -> Result {
    let _misc = register::<Bare>(c"misc-bare")?;
    let file = open("misc-bare");
    assert_eq!(file.read(10), Err(Errno::EINVAL));
    assert_eq!(file.write(b"x"), Err(Errno::EINVAL));
    assert_eq!(file.show_fdinfo(), Ok(None));
    // Access modes are checked before the driver is.
    let _echo = register::<Echo>(c"misc-modes")?;
    let read_only = host::open("misc-modes", O_RDONLY).unwrap();
    assert_eq!(read_only.write(b"x"), Err(Errno::EBADF));
    let write_only = host::open("misc-modes", O_WRONLY).unwrap();
    assert_eq!(write_only.read(1), Err(Errno::EBADF));
    assert_eq!(
        host::open("misc-no-such-device", O_RDWR).err(),
        Some(Errno::ENODEV)
    );
    Ok(())
}

#[test]
fn open_sees_the_callers_flags_and_may_fail() -> Result {
    let _misc = register::<Echo>(c"misc-flags")?;
    assert_eq!(
        host::open("misc-flags", O_RDWR | O_NONBLOCK).err(),
        Some(Errno::EAGAIN)
    );
    let file = open("misc-flags");
    assert_eq!(ioctl_i32(&file, SET, &mut 3), Ok(0));
    assert_eq!(
        file.show_fdinfo().unwrap().as_deref(),
        Some("value:\t3\nflags:\t2\n")
    );
    Ok(())
}

#[test]
fn a_file_is_released_with_its_last_reference() -> Result {
    let _misc = register::<Echo>(c"misc-release")?;
    let file = open("misc-release");
    let before = RELEASED.load(Ordering::SeqCst);
    // The driver takes a reference to the file: closing it does not release it yet.
    assert_eq!(file.ioctl(0, 0, &mut []), Ok(0));
    drop(file);
    assert_eq!(RELEASED.load(Ordering::SeqCst), before);
    drop(KEPT.lock().unwrap().take());
    assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
    Ok(())
}

#[test]
fn deregistration_releases_the_open_files() -> Result {
    let misc = register::<Echo>(c"misc-gone")?;
    let (a, b) = (open("misc-gone"), open("misc-gone"));
    drop(b);
    let before = RELEASED.load(Ordering::SeqCst);
    drop(misc);
    // `a` was released with the device; its calls fail from now on, and closing it is harmless.
    assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
    assert_eq!(a.read(1), Err(Errno::ENODEV));
    drop(a);
    assert_eq!(RELEASED.load(Ordering::SeqCst), before + 1);
    assert_eq!(host::open("misc-gone", O_RDWR).err(), Some(Errno::ENODEV));
    // The name is free again.
    let _again = register::<Bare>(c"misc-gone")?;
    Ok(())
}

#[test]
fn a_name_is_registered_once() -> Result {
    let _first = register::<Echo>(c"misc-twice")?;
    assert_eq!(register::<Bare>(c"misc-twice").err(), Some(EEXIST));
    Ok(())
}

#[test]
fn a_panicking_callback_fails_its_call_only() -> Result {
    let _misc = register::<Echo>(c"misc-oops")?;
    let file = open("misc-oops");
    assert_eq!(file.ioctl(OOPS, 0, &mut []), Err(Errno::EIO));
    assert_eq!(file.ioctl(ANSWER, 0, &mut []), Ok(12345));
    Ok(())
}

/// The same through CUSE, with `std::fs` and `libc::ioctl` as another process would; needs
/// `/dev/cuse` (root, `CONFIG_CUSE`), which build machines lack.
#[test]
#[ignore = "needs /dev/cuse: run it in the guest (docs/testing.md, \"Misc devices over CUSE\")"]
fn the_device_is_served_through_cuse() -> Result {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;

    assert!(host::serve_with_cuse(), "DRYDOCK_CUSE is not `off`");
    let misc = register::<Echo>(c"drydock-misc-test")?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/drydock-misc-test")
        .expect("the node exists");
    assert_eq!(file.write(b"through cuse").unwrap(), 12);
    let mut text = String::new();
    file.read_to_string(&mut text).unwrap();
    assert_eq!(text, "through cuse");
    let fd = file.as_raw_fd();
    let mut value: i32 = 99;
    // SAFETY: `value` is valid for the 4 bytes the command copies.
    assert_eq!(unsafe { libc::ioctl(fd, SET.into(), &mut value) }, 0);
    let mut new: i32 = 5;
    // SAFETY: as above.
    assert_eq!(unsafe { libc::ioctl(fd, SWAP.into(), &mut new) }, 0);
    assert_eq!(new, 99);
    let mut memory = [0xaau8; 16];
    // SAFETY: `memory` is valid for the 16 bytes the command copies.
    let ret = unsafe { libc::ioctl(fd, PARTIAL.into(), memory.as_mut_ptr()) };
    assert_eq!(ret, 0);
    assert_eq!(
        (&memory[..4], &memory[4..]),
        (&[0x55; 4][..], &[0xaa; 12][..])
    );
    // SAFETY: no memory.
    assert_eq!(unsafe { libc::ioctl(fd, ANSWER.into(), 0) }, 12345);
    // SAFETY: no memory.
    assert_eq!(unsafe { libc::ioctl(fd, FORBIDDEN.into(), 0) }, -1);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::EPERM)
    );
    // SAFETY: a shared mapping of one page of the device, which fails.
    let map = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            4096,
            libc::PROT_READ,
            libc::MAP_SHARED,
            fd,
            0,
        )
    };
    assert_eq!(map, libc::MAP_FAILED);
    assert_eq!(
        std::io::Error::last_os_error().raw_os_error(),
        Some(libc::ENODEV)
    );
    let before = RELEASED.load(Ordering::SeqCst);
    drop(file);
    assert_eq!(
        RELEASED.load(Ordering::SeqCst),
        before + 1,
        "close released the file"
    );
    drop(misc);
    assert!(!std::path::Path::new("/dev/drydock-misc-test").exists());
    Ok(())
}
