//! Reading and writing user memory.
//!
//! Mirrors `rust/kernel/uaccess.rs` of Linux 7.3. A [`UserPtr`] is an address in user memory, which
//! the driver must not dereference; a [`UserSlice`] is a range of it, read through a
//! [`UserSliceReader`] and written through a [`UserSliceWriter`], which copy with the kernel's
//! `copy_from_user()`/`copy_to_user()` and fail with `EFAULT` where the memory is not there. A
//! reader and a writer each read or write every byte at most once, in order, which keeps a driver
//! from reading the same user memory twice and seeing it change in between (a time-of-check to
//! time-of-use bug); `clone_reader` is the explicit way to read again.
//!
//! Difference from the kernel: a driver process has no second address space. User memory is what
//! the host lends the thread serving a request (the buffer of a `read()` on a character device,
//! an `ioctl()` argument, text written to a debugfs file) for the request's duration: the host's
//! `uaccess::UserMemory` windows, which map the caller's addresses onto memory of the process. A
//! copy from or to an address outside them fails with `EFAULT`, as one from an unmapped address
//! does in the kernel, and never reaches other memory of the process.
//!
//! # Examples
//!
//! A driver's handler of a request that carries a length-prefixed message:
//!
//! ```
//! use kernel::prelude::*;
//! use kernel::uaccess::{UserPtr, UserSlice};
//!
//! fn message(ptr: UserPtr, len: usize) -> Result<KVec<u8>> {
//!     let mut reader = UserSlice::new(ptr, len).reader();
//!     let count: u32 = reader.read()?;
//!     let mut text = KVec::from_elem(0, count as usize, GFP_KERNEL)?;
//!     reader.read_slice(&mut text)?;
//!     Ok(text)
//! }
//! # // What a host request lends the driver: the caller's message at user address 0x7000.
//! # let mut request = [5, 0, 0, 0, b'h', b'e', b'l', b'l', b'o'];
//! # let _lent = drydock_host::uaccess::UserMemory::writable(0x7000, &mut request);
//! assert_eq!(&message(UserPtr::from_addr(0x7000), 9)?[..], b"hello");
//! // A count that runs past the caller's memory.
//! assert_eq!(message(UserPtr::from_addr(0x7008), 4), Err(EFAULT));
//! # Ok::<(), Error>(())
//! ```

use core::mem::{size_of, MaybeUninit};

use crate::{
    alloc::{Allocator, Flags},
    dma::Coherent,
    ffi::{c_char, c_void},
    fs::file,
    prelude::*,
    ptr::KnownSize,
    transmute::{AsBytes, FromBytes},
};

/// An address in user memory, which must not be dereferenced.
///
/// Mirrors `kernel::uaccess::UserPtr` (the kernel's `void __user *`).
#[repr(transparent)]
#[derive(Copy, Clone, Zeroable)]
pub struct UserPtr(*mut c_void);

impl UserPtr {
    /// The user address `addr`.
    #[inline]
    pub fn from_addr(addr: usize) -> Self {
        Self(core::ptr::without_provenance_mut(addr))
    }

    /// The user address a raw pointer holds.
    #[inline]
    pub fn from_ptr(addr: *mut c_void) -> Self {
        Self(addr)
    }

    /// The address as a `*const c_void`, for the user-copy functions.
    #[inline]
    pub fn as_const_ptr(self) -> *const c_void {
        self.0
    }

    /// The address as a `*mut c_void`, for the user-copy functions.
    #[inline]
    pub fn as_mut_ptr(self) -> *mut c_void {
        self.0
    }

    /// The address `add` bytes further on, wrapping around the address space.
    #[inline]
    pub fn wrapping_byte_add(self, add: usize) -> UserPtr {
        UserPtr(self.0.wrapping_byte_add(add))
    }
}

/// A range of user memory: `length` bytes from a [`UserPtr`].
///
/// Mirrors `kernel::uaccess::UserSlice`. Nothing is checked when it is made; the copies through
/// its [`reader`](UserSlice::reader) and [`writer`](UserSlice::writer) are.
pub struct UserSlice {
    ptr: UserPtr,
    length: usize,
}

impl UserSlice {
    /// The `length` bytes of user memory from `ptr`.
    pub fn new(ptr: UserPtr, length: usize) -> Self {
        UserSlice { ptr, length }
    }

    /// Reads the whole range, appending it to `buf`; `EFAULT` if some of it is not user memory.
    pub fn read_all<A: Allocator>(self, buf: &mut Vec<u8, A>, flags: Flags) -> Result {
        self.reader().read_all(buf, flags)
    }

    /// A reader of the range.
    pub fn reader(self) -> UserSliceReader {
        self.reader_writer().0
    }

    /// A writer of the range.
    pub fn writer(self) -> UserSliceWriter {
        self.reader_writer().1
    }

    /// A reader and a writer of the same range (for a request that reads its argument and then
    /// answers in the same memory, as many `ioctl()`s do).
    pub fn reader_writer(self) -> (UserSliceReader, UserSliceWriter) {
        let UserSlice { ptr, length } = self;
        (
            UserSliceReader { ptr, length },
            UserSliceWriter { ptr, length },
        )
    }
}

/// Fails with `EFAULT` unless the host copied every byte.
fn copied(not_copied: usize) -> Result {
    if not_copied == 0 {
        Ok(())
    } else {
        Err(EFAULT)
    }
}

/// Reads a range of user memory front to back.
///
/// Mirrors `kernel::uaccess::UserSliceReader`.
///
/// # Invariants
///
/// `length` is the number of bytes left to read, from `ptr`.
pub struct UserSliceReader {
    ptr: UserPtr,
    length: usize,
}

impl UserSliceReader {
    /// Skips `num_skip` bytes; `EFAULT` if fewer are left.
    pub fn skip(&mut self, num_skip: usize) -> Result {
        self.length = self.length.checked_sub(num_skip).ok_or(EFAULT)?;
        self.ptr = self.ptr.wrapping_byte_add(num_skip);
        Ok(())
    }

    /// A second reader of what is left to read: the way to read the same user memory twice.
    pub fn clone_reader(&self) -> UserSliceReader {
        UserSliceReader {
            ptr: self.ptr,
            length: self.length,
        }
    }

    /// The number of bytes left to read.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Reads `out.len()` bytes into `out`; `EFAULT` if fewer are left or they are not all user
    /// memory (`out` may then hold part of them).
    pub fn read_raw(&mut self, out: &mut [MaybeUninit<u8>]) -> Result {
        let len = out.len();
        if len > self.length {
            return Err(EFAULT);
        }
        // SAFETY: `out` is valid for writes of `len` bytes and is kernel memory, not user memory.
        copied(unsafe {
            drydock_host::uaccess::copy_from_user(
                out.as_mut_ptr().cast(),
                self.ptr.as_const_ptr(),
                len,
            )
        })?;
        self.ptr = self.ptr.wrapping_byte_add(len);
        self.length -= len;
        Ok(())
    }

    /// Reads `out.len()` bytes into `out`; see [`read_raw`](Self::read_raw).
    pub fn read_slice(&mut self, out: &mut [u8]) -> Result {
        // SAFETY: `[MaybeUninit<u8>]` has the layout of `[u8]`, and the reader writes only
        // initialised bytes, so `out` stays initialised.
        let out = unsafe { &mut *(core::ptr::from_mut(out) as *mut [MaybeUninit<u8>]) };
        self.read_raw(out)
    }

    /// Reads into `out` from index `offset` on, as many bytes as both have; returns how many
    /// (0 if `offset` is past the end of `out`).
    pub fn read_slice_partial(&mut self, out: &mut [u8], offset: usize) -> Result<usize> {
        let end = offset.saturating_add(self.len()).min(out.len());
        let Some(part) = out.get_mut(offset..end) else {
            return Ok(0);
        };
        self.read_slice(part)?;
        Ok(part.len())
    }

    /// [`read_slice_partial`](Self::read_slice_partial) at a file position, which it advances by
    /// the bytes read (C's `simple_write_to_buffer()`); `EINVAL` for a negative position.
    pub fn read_slice_file(&mut self, out: &mut [u8], offset: &mut file::Offset) -> Result<usize> {
        let index = usize::try_from(*offset).map_err(|_| EINVAL)?;
        let read = self.read_slice_partial(out, index)?;
        // CAST: `read` is at most `out.len()`, which fits an `i64`.
        *offset += read as file::Offset;
        Ok(read)
    }

    /// Reads a `T`; `EFAULT` if too few bytes are left or they are not all user memory.
    pub fn read<T: FromBytes>(&mut self) -> Result<T> {
        let mut out = MaybeUninit::<T>::uninit();
        // SAFETY: a `MaybeUninit<T>` is `size_of::<T>()` bytes that may be uninitialised.
        let bytes = unsafe {
            core::slice::from_raw_parts_mut(
                out.as_mut_ptr().cast::<MaybeUninit<u8>>(),
                size_of::<T>(),
            )
        };
        self.read_raw(bytes)?;
        // SAFETY: `read_raw` initialised every byte, and any bytes are a valid `T` (`FromBytes`).
        Ok(unsafe { out.assume_init() })
    }

    /// Reads everything left, appending it to `buf`.
    pub fn read_all<A: Allocator>(mut self, buf: &mut Vec<u8, A>, flags: Flags) -> Result {
        let len = self.length;
        buf.reserve(len, flags)?;
        self.read_raw(&mut buf.spare_capacity_mut()[..len])?;
        // SAFETY: `read_raw` initialised the first `len` bytes of the spare capacity.
        unsafe { buf.inc_len(len) };
        Ok(())
    }

    /// Reads a NUL-terminated string into `buf` and returns it (C's `strncpy_from_user()`).
    ///
    /// A string that does not fit is cut to `buf.len() - 1` bytes and terminated. Fails with
    /// `EINVAL` if `buf` is empty, and with `EFAULT` if the bytes up to the NUL, or to the end of
    /// `buf`, are not user memory or run past the end of the reader.
    #[doc(alias = "strncpy_from_user")]
    pub fn strcpy_into_buf<'buf>(self, buf: &'buf mut [u8]) -> Result<&'buf CStr> {
        if buf.is_empty() {
            return Err(EINVAL);
        }
        let room = buf.len().min(self.length);
        // CAST: slice lengths fit an `isize`.
        let count = room as isize;
        // SAFETY: `buf` is valid for writes of `room` bytes and is kernel memory.
        let copied = unsafe {
            drydock_host::uaccess::strncpy_from_user(
                buf.as_mut_ptr().cast::<c_char>(),
                self.ptr.as_const_ptr().cast::<c_char>(),
                count,
            )
        };
        if copied < 0 {
            // CAST: a negative errno.
            return Err(Error::from_errno(copied as i32));
        }
        // CAST: non-negative, and at most `room`.
        let len = copied as usize;
        let end = if len < room {
            // The NUL was copied too.
            len
        } else if room < buf.len() {
            // The reader ended before the string did.
            return Err(EFAULT);
        } else {
            // The string filled `buf`: cut it, and terminate it.
            buf[room - 1] = 0;
            room - 1
        };
        CStr::from_bytes_with_nul(&buf[..=end]).map_err(|_| EINVAL)
    }
}

/// Writes a range of user memory front to back.
///
/// Mirrors `kernel::uaccess::UserSliceWriter`.
///
/// # Invariants
///
/// `length` is the number of bytes left to write, from `ptr`.
pub struct UserSliceWriter {
    ptr: UserPtr,
    length: usize,
}

impl UserSliceWriter {
    /// The number of bytes left to write.
    pub fn len(&self) -> usize {
        self.length
    }

    /// Whether every byte was written.
    pub fn is_empty(&self) -> bool {
        self.length == 0
    }

    /// Writes `len` bytes from `from`; `EFAULT` if fewer are left or they are not all user memory.
    ///
    /// # Safety
    ///
    /// `from` must be valid for reads of `len` bytes.
    unsafe fn write_raw(&mut self, from: *const u8, len: usize) -> Result {
        if len > self.length {
            return Err(EFAULT);
        }
        // SAFETY: `from` is valid for reads of `len` bytes (safety requirement) and is kernel
        // memory.
        copied(unsafe {
            drydock_host::uaccess::copy_to_user(self.ptr.as_mut_ptr(), from.cast(), len)
        })?;
        self.ptr = self.ptr.wrapping_byte_add(len);
        self.length -= len;
        Ok(())
    }

    /// Writes `data`; `EFAULT` if fewer bytes are left or they are not all user memory.
    pub fn write_slice(&mut self, data: &[u8]) -> Result {
        // SAFETY: `data` is valid for reads of its length.
        unsafe { self.write_raw(data.as_ptr(), data.len()) }
    }

    /// Writes `count` bytes of the coherent DMA allocation `alloc` from byte `offset`.
    ///
    /// Fails with `EOVERFLOW` if `offset + count` overflows, `ERANGE` if the bytes are not all in
    /// `alloc` or more than are left to write, and `EFAULT` if they are not all user memory. The
    /// device may be writing the memory meanwhile; the bytes copied are whatever it holds then.
    pub fn write_dma<T: KnownSize + AsBytes + ?Sized>(
        &mut self,
        alloc: &Coherent<T>,
        offset: usize,
        count: usize,
    ) -> Result {
        if offset.checked_add(count).ok_or(EOVERFLOW)? > alloc.size() || count > self.len() {
            return Err(ERANGE);
        }
        // SAFETY: `offset + count <= alloc.size()`, so the range is inside the allocation, which
        // is valid for reads while `alloc` is borrowed.
        unsafe { self.write_raw(alloc.as_ptr().cast::<u8>().add(offset), count) }
    }

    /// Writes `data` from index `offset` on, as many bytes as both have; returns how many (0 if
    /// `offset` is past the end of `data`).
    pub fn write_slice_partial(&mut self, data: &[u8], offset: usize) -> Result<usize> {
        let end = offset.saturating_add(self.len()).min(data.len());
        let Some(part) = data.get(offset..end) else {
            return Ok(0);
        };
        self.write_slice(part)?;
        Ok(part.len())
    }

    /// [`write_slice_partial`](Self::write_slice_partial) at a file position, which it advances by
    /// the bytes written (C's `simple_read_from_buffer()`); `EINVAL` for a negative position.
    pub fn write_slice_file(&mut self, data: &[u8], offset: &mut file::Offset) -> Result<usize> {
        let index = usize::try_from(*offset).map_err(|_| EINVAL)?;
        let written = self.write_slice_partial(data, index)?;
        // CAST: `written` is at most `data.len()`, which fits an `i64`.
        *offset += written as file::Offset;
        Ok(written)
    }

    /// Writes `value`'s bytes; `EFAULT` if too few are left or they are not all user memory.
    pub fn write<T: AsBytes>(&mut self, value: &T) -> Result {
        // SAFETY: `value` is valid for reads of `size_of::<T>()` bytes.
        unsafe { self.write_raw(core::ptr::from_ref(value).cast(), size_of::<T>()) }
    }
}
