// SPDX-License-Identifier: GPL-2.0 OR MIT

//! A misc device that enciphers what is written to it: `/dev/caesar`.
//!
//! Each open file of the device has a text and a shift of its own. What a process writes is added
//! to the end of its file's text, every letter moved `shift` places along the alphabet (Caesar's
//! cipher; the shift starts at 13, ROT13); what it reads is that text, from where its previous
//! read stopped. Three ioctls, as a C program spells them: `_IOW('c', 1, __u32)` sets the shift
//! (below 26) of the writes that follow, `_IOR('c', 2, __u32)` gets it, and `_IO('c', 3)` returns
//! the length of the text.
//!
//! The example of docs/devices.md: the file builds unchanged as a Linux 7.3 module.

use kernel::{
    fs::{File, Kiocb},
    ioctl::{_IO, _IOC_SIZE, _IOR, _IOW},
    iov::{IovIterDest, IovIterSource},
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    new_mutex,
    prelude::*,
    sync::Mutex,
    uaccess::UserSlice,
};

/// Sets the shift of the writes that follow: `_IOW('c', 1, __u32)`.
const CAESAR_SET_SHIFT: u32 = _IOW::<u32>('c' as u32, 1);
/// Gets the shift: `_IOR('c', 2, __u32)`.
const CAESAR_GET_SHIFT: u32 = _IOR::<u32>('c' as u32, 2);
/// Returns the length of the text: `_IO('c', 3)`.
const CAESAR_LEN: u32 = _IO('c' as u32, 3);

/// The most text an open file keeps, in bytes.
const CAPACITY: usize = 4096;

module! {
    type: CaesarModule,
    name: "caesar",
    authors: ["The drydock developers"],
    description: "A misc device that enciphers what is written to it",
    license: "Dual MIT/GPL",
}

/// The module: `/dev/caesar`, registered for as long as the module is loaded.
#[pin_data]
struct CaesarModule {
    #[pin]
    _miscdev: MiscDeviceRegistration<Caesar>,
}

impl kernel::InPlaceModule for CaesarModule {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        pr_info!("registering /dev/caesar\n");
        let options = MiscDeviceOptions { name: c"caesar" };
        try_pin_init!(Self {
            _miscdev <- MiscDeviceRegistration::register(options),
        })
    }
}

/// What an open file has written, and how it enciphers the next writes.
struct Text {
    /// How many places a letter moves: below 26.
    shift: u8,
    /// The enciphered text, at most [`CAPACITY`] bytes.
    bytes: KVec<u8>,
}

/// The data of an open file of `/dev/caesar`: each `open()` makes one, its `release` drops it.
#[pin_data]
struct Caesar {
    /// Taken by every call on the file: two threads may use one file at once.
    #[pin]
    text: Mutex<Text>,
}

#[vtable]
impl MiscDevice for Caesar {
    type Ptr = Pin<KBox<Self>>;

    fn open(_file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        KBox::try_pin_init(
            try_pin_init!(Caesar {
                text <- new_mutex!(Text {
                    shift: 13,
                    bytes: KVec::new(),
                }),
            }),
            GFP_KERNEL,
        )
    }

    fn read_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        let caesar = kiocb.file();
        let text = caesar.text.lock();
        // From the file's position on, which moves past what is copied: the next read goes on
        // from there, and a read at the end returns 0, the end of the file.
        iov.simple_read_from_buffer(kiocb.ki_pos_mut(), &text.bytes)
    }

    fn write_iter(kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterSource<'_>) -> Result<usize> {
        let caesar = kiocb.file();
        let mut text = caesar.text.lock();
        let start = text.bytes.len();
        let len = iov.len().min(CAPACITY - start);
        if len == 0 && !iov.is_empty() {
            return Err(ENOSPC);
        }
        // A write adds to the end, whatever the file's position, which is the reads'.
        text.bytes.resize(start + len, 0, GFP_KERNEL)?;
        let copied = iov.copy_from_iter(&mut text.bytes[start..]);
        text.bytes.truncate(start + copied);
        let shift = text.shift;
        for byte in &mut text.bytes[start..] {
            *byte = enciphered(*byte, shift);
        }
        Ok(copied)
    }

    fn ioctl(caesar: Pin<&Caesar>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        // The argument is the caller's memory: the `_IOC_SIZE(cmd)` bytes at `arg`.
        let user = UserSlice::new(UserPtr::from_addr(arg), _IOC_SIZE(cmd));
        let mut text = caesar.text.lock();
        match cmd {
            CAESAR_SET_SHIFT => {
                let shift = user.reader().read::<u32>()?;
                text.shift = match u8::try_from(shift) {
                    Ok(shift) if shift < 26 => shift,
                    _ => return Err(EINVAL),
                };
                Ok(0)
            }
            CAESAR_GET_SHIFT => {
                user.writer().write(&u32::from(text.shift))?;
                Ok(0)
            }
            // The return value is the caller's: `ioctl()` returns the length.
            CAESAR_LEN => Ok(isize::try_from(text.bytes.len())?),
            _ => Err(ENOTTY),
        }
    }
}

/// `byte` enciphered with `shift` (below 26): a letter moves along the alphabet, wrapping around
/// from `z` to `a`; anything else stays as it is.
fn enciphered(byte: u8, shift: u8) -> u8 {
    match byte {
        b'a'..=b'z' => b'a' + (byte - b'a' + shift) % 26,
        b'A'..=b'Z' => b'A' + (byte - b'A' + shift) % 26,
        _ => byte,
    }
}
