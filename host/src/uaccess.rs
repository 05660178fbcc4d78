//! User memory: what `copy_from_user()` and `copy_to_user()` may reach.
//!
//! In the kernel, a pointer from userspace is an address in the calling task's address space, and
//! `copy_from_user()` either copies from it or reports how many bytes it could not copy (the
//! address was unmapped, or not accessible), without ever faulting the kernel. A driver process
//! has no second address space, but the requests it serves carry user memory all the same: the
//! buffer of a `read()` on a character device, the argument of an `ioctl()`, the text written to a
//! debugfs file. The host lends that memory to the driver as a [`UserMemory`] window, which maps a
//! range of *user addresses* (the caller's address of an `ioctl()` argument, say) onto memory of
//! this process for as long as the window lives, on the thread serving the request: user memory
//! belongs to the current task, as in the kernel.
//!
//! [`copy_from_user`], [`copy_to_user`] and [`strncpy_from_user`] reach only memory inside the
//! current thread's windows, and report the rest as not copied, as the kernel does for an
//! unmapped address. A driver cannot corrupt or read the process's memory through a user pointer.
//!
//! # Examples
//!
//! ```
//! use core::ptr::{without_provenance, without_provenance_mut};
//! use drydock_host::uaccess::{copy_from_user, copy_to_user, UserMemory};
//!
//! let mut caller = *b"hello";
//! // The caller's buffer appears at user address 0x1000 while the window lives.
//! let window = UserMemory::writable(0x1000, &mut caller);
//! let mut kernel_side = [0u8; 5];
//! // SAFETY: `kernel_side` is valid for writes of 5 bytes.
//! let missed = unsafe { copy_from_user(kernel_side.as_mut_ptr().cast(), without_provenance(0x1000), 5) };
//! assert_eq!((missed, &kernel_side), (0, b"hello"));
//! // Past the window's end, the copy stops: 2 bytes of 4 could not be copied.
//! // SAFETY: `kernel_side` is valid for reads of 4 bytes.
//! let missed = unsafe { copy_to_user(without_provenance_mut(0x1003), kernel_side.as_ptr().cast(), 4) };
//! assert_eq!(missed, 2);
//! drop(window);
//! assert_eq!(&caller, b"helhe");
//! ```

use core::cell::RefCell;
use core::ffi::{c_char, c_void};
use core::marker::PhantomData;
use core::ptr::without_provenance;

use crate::errno::Errno;

/// The user address at which the host lends a request's buffer to a driver when the caller's own
/// address is not known (the buffer of a `read()` or `write()` that FUSE or CUSE forwarded, or of
/// an in-process call): the data of a debugfs file's or a misc device's read and write.
pub const USER_BUFFER: usize = 0x7d00_0000_0000;

/// A range of user addresses mapped onto memory of this process.
#[derive(Clone, Copy)]
struct Window {
    /// The first user address.
    user: usize,
    /// The length in bytes.
    len: usize,
    /// Where the range's memory is, derived from the borrow the window holds.
    memory: *mut u8,
    /// Whether the range may be written through.
    writable: bool,
    /// Identifies the window, for its removal.
    id: u64,
}

thread_local! {
    /// The windows of the current thread, and the next window's identifier.
    static WINDOWS: RefCell<(Vec<Window>, u64)> = const { RefCell::new((Vec::new(), 0)) };
}

/// Memory lent to the current thread as user memory at a range of user addresses, until dropped.
///
/// # Invariants
///
/// While the value lives, the current thread's window list holds one entry with `id`, whose memory
/// is the memory borrowed for `'a` (shared for a readable window, exclusive for a writable one).
#[must_use = "the memory is user memory only while the window lives"]
pub struct UserMemory<'a> {
    id: u64,
    /// The borrow of the memory, and a marker keeping the window on the thread it registered on.
    _memory: PhantomData<(&'a mut [u8], *mut ())>,
}

impl<'a> UserMemory<'a> {
    /// Lends `memory` as user memory that copies may read, at user addresses from `user`.
    pub fn readable(user: usize, memory: &'a [u8]) -> Self {
        Self::register(user, memory.len(), memory.as_ptr().cast_mut(), false)
    }

    /// Lends `memory` as user memory that copies may read and write, at user addresses from
    /// `user`.
    pub fn writable(user: usize, memory: &'a mut [u8]) -> Self {
        Self::register(user, memory.len(), memory.as_mut_ptr(), true)
    }

    fn register(user: usize, len: usize, memory: *mut u8, writable: bool) -> Self {
        let id = WINDOWS.with(|windows| {
            let mut windows = windows.borrow_mut();
            let id = windows.1;
            windows.1 += 1;
            windows.0.push(Window {
                user,
                len,
                memory,
                writable,
                id,
            });
            id
        });
        // INVARIANT: registered just above; the borrow is held through the marker.
        Self {
            id,
            _memory: PhantomData,
        }
    }
}

impl Drop for UserMemory<'_> {
    fn drop(&mut self) {
        WINDOWS.with(|windows| windows.borrow_mut().0.retain(|w| w.id != self.id));
    }
}

/// The memory behind `len` user bytes from `user`, up to the first byte no window of the current
/// thread covers (with `write`, no writable window): its address and how many bytes are covered.
fn resolve(user: usize, len: usize, write: bool) -> Option<(*mut u8, usize)> {
    WINDOWS.with(|windows| {
        windows.borrow().0.iter().rev().find_map(|w| {
            let offset = user.checked_sub(w.user)?;
            if offset >= w.len || (write && !w.writable) {
                return None;
            }
            // The window's memory is valid for `w.len` bytes (`UserMemory`'s invariant).
            Some((w.memory.wrapping_add(offset), len.min(w.len - offset)))
        })
    })
}

/// Copies `n` bytes from user address `from` to `to` (the kernel's `copy_from_user()`); returns how
/// many bytes could not be copied (0 on success). The copy stops at the first byte that is not
/// user memory of the current thread.
///
/// # Safety
///
/// `to` must be valid for writes of `n` bytes, and not overlap user memory.
pub unsafe fn copy_from_user(to: *mut c_void, from: *const c_void, n: usize) -> usize {
    copy(from.addr(), n, false, |memory, offset, len| {
        // SAFETY: `memory` is valid for reads of `len` bytes (`resolve`), `to` for writes of
        // `offset + len <= n` bytes (safety requirement), and they do not overlap.
        unsafe { core::ptr::copy_nonoverlapping(memory, to.cast::<u8>().add(offset), len) }
    })
}

/// Copies `n` bytes from `from` to user address `to` (the kernel's `copy_to_user()`); returns how
/// many bytes could not be copied (0 on success). The copy stops at the first byte that is not
/// writable user memory of the current thread.
///
/// # Safety
///
/// `from` must be valid for reads of `n` bytes, and not overlap user memory.
pub unsafe fn copy_to_user(to: *mut c_void, from: *const c_void, n: usize) -> usize {
    copy(to.addr(), n, true, |memory, offset, len| {
        // SAFETY: `memory` is valid for writes of `len` bytes (`resolve`, a writable window),
        // `from` for reads of `offset + len <= n` bytes (safety requirement), and they do not
        // overlap.
        unsafe { core::ptr::copy_nonoverlapping(from.cast::<u8>().add(offset), memory, len) }
    })
}

/// Copies `n` bytes at user address `user`, window by window, with `step(memory, done, len)`;
/// returns how many bytes were left.
fn copy(user: usize, n: usize, write: bool, mut step: impl FnMut(*mut u8, usize, usize)) -> usize {
    let mut done = 0;
    while done < n {
        let Some(address) = user.checked_add(done) else {
            break;
        };
        let Some((memory, len)) = resolve(address, n - done, write) else {
            break;
        };
        step(memory, done, len);
        done += len;
    }
    n - done
}

/// Copies a NUL-terminated string from user address `src` to `dst`, at most `count` bytes (the
/// kernel's `strncpy_from_user()`). Returns the string's length without its NUL if it was
/// shorter than `count` (the NUL is copied too), `count` if no NUL was found in the first `count`
/// bytes (`dst` is then not terminated), or `-EFAULT` if a byte before either was not user memory.
///
/// # Safety
///
/// `dst` must be valid for writes of `count` bytes, and not overlap user memory.
pub unsafe fn strncpy_from_user(dst: *mut c_char, src: *const c_char, count: isize) -> isize {
    let Ok(count) = usize::try_from(count) else {
        return 0;
    };
    for index in 0..count {
        let mut byte = 0u8;
        let Some(address) = src.addr().checked_add(index) else {
            return Errno::EFAULT.to_errno() as isize;
        };
        // SAFETY: `byte` is valid for a write of one byte.
        if unsafe {
            copy_from_user(
                core::ptr::from_mut(&mut byte).cast(),
                without_provenance(address),
                1,
            )
        } != 0
        {
            return Errno::EFAULT.to_errno() as isize;
        }
        // SAFETY: `index < count`, and `dst` is valid for writes of `count` bytes.
        unsafe { dst.add(index).write(byte as c_char) };
        if byte == 0 {
            // CAST: `index < count <= isize::MAX`.
            return index as isize;
        }
    }
    // CAST: `count` came from an `isize`.
    count as isize
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::ptr::without_provenance_mut;

    /// Copies `out.len()` bytes from user address `user`; returns how many were not copied.
    fn from_user(out: &mut [u8], user: usize) -> usize {
        // SAFETY: `out` is valid for writes of its length, and is not user memory.
        unsafe { copy_from_user(out.as_mut_ptr().cast(), without_provenance(user), out.len()) }
    }

    /// Copies `data` to user address `user`; returns how many bytes were not copied.
    fn to_user(user: usize, data: &[u8]) -> usize {
        // SAFETY: `data` is valid for reads of its length, and is not user memory.
        unsafe {
            copy_to_user(
                without_provenance_mut(user),
                data.as_ptr().cast(),
                data.len(),
            )
        }
    }

    /// Copies a string of at most `out.len()` bytes from user address `user`.
    fn string_from_user(out: &mut [c_char], user: usize) -> isize {
        // CAST: the test buffers are small.
        let count = out.len() as isize;
        // SAFETY: `out` is valid for writes of its length, and is not user memory.
        unsafe { strncpy_from_user(out.as_mut_ptr(), without_provenance(user), count) }
    }

    #[test]
    fn copies_reach_only_the_current_threads_windows() {
        let mut memory = [1u8, 2, 3, 4];
        let window = UserMemory::writable(0x4000, &mut memory);
        let mut out = [0u8; 4];
        assert_eq!(from_user(&mut out, 0x4000), 0);
        assert_eq!(out, [1, 2, 3, 4]);
        // Another thread has no user memory at these addresses.
        std::thread::scope(|s| {
            s.spawn(|| assert_eq!(from_user(&mut [0; 4], 0x4000), 4));
        });
        // Below the window, nothing is copied.
        assert_eq!(from_user(&mut out[..2], 0x3fff), 2);
        drop(window);
        assert_eq!(from_user(&mut out, 0x4000), 4);
    }

    #[test]
    fn readable_windows_refuse_writes_and_adjacent_windows_join() {
        let first = [b'a'; 2];
        let mut second = [b'b'; 2];
        let _read_only = UserMemory::readable(0x100, &first);
        let _writable = UserMemory::writable(0x102, &mut second);
        let mut out = [0u8; 4];
        assert_eq!(from_user(&mut out, 0x100), 0);
        assert_eq!(&out, b"aabb");
        assert_eq!(to_user(0x100, &out[..2]), 2);
        assert_eq!(to_user(0x102, &out[..2]), 0);
    }

    #[test]
    fn strings_stop_at_their_nul_or_at_the_count() {
        let text = *b"dev\0tail";
        let _window = UserMemory::readable(0x10, &text);
        let mut out = [0x55 as c_char; 8];
        assert_eq!(string_from_user(&mut out, 0x10), 3);
        assert_eq!(out[..4], [b'd', b'e', b'v', 0].map(|b| b as c_char));
        assert_eq!(string_from_user(&mut out[..2], 0x10), 2);
        // The text has no NUL after the first: the copy runs out of user memory.
        let fault = string_from_user(&mut out, 0x14);
        assert_eq!(fault, Errno::EFAULT.to_errno() as isize);
    }
}
