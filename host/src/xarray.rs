//! XArrays: the C side of `kernel::xarray` (`lib/xarray.c`, `include/linux/xarray.h`).
//!
//! An XArray maps `unsigned long` indices to pointers, and is efficient when the indices used are
//! sparse. Its lock, `xa_lock`, is a spin lock in the [`xarray`] structure; the functions whose
//! names start with `__` must be called with it held, as in C.
//!
//! Entries are the kernel's: a pointer aligned to 4 bytes (a *normal* entry), or a tagged integer
//! (low bit set, a *value* entry); entries whose two low bits are `10` are the XArray's internal
//! entries, which the store refuses. Errors come back encoded as internal entries, read with
//! [`xa_err`], as in C.
//!
//! Differences from C, which the kernel API does not observe:
//!
//! - The map is an ordered map (`BTreeMap`) that `xa_head` points to, not a radix tree of 64-slot
//!   nodes: finding an index costs `O(log n)` in the number of entries rather than `O(log64 i)` in
//!   the index, and memory is per entry rather than per node.
//! - Readers need the lock (or exclusive access) too: the kernel's `xa_load()` and `xa_find()` may
//!   run under RCU alone, concurrently with a store.
//! - A store to an index that holds no entry may allocate, and asks the fault-injection hook
//!   ([`crate::fault`]) first; if it says fail, the store fails with `ENOMEM`, as it does in the
//!   kernel when the allocation of a node fails. The store never drops the lock to allocate (the
//!   kernel's may, with a sleeping `gfp`).
//! - Marks other than [`XA_PRESENT`] and the index allocation of `xa_alloc()` are not provided
//!   (`XA_FLAGS_ALLOC` and `XA_FLAGS_ALLOC1` are kept in `xa_flags` and change nothing).

use crate::bindings::{gfp_t, xa_mark_t, xarray, XA_PRESENT};
use crate::errno::Errno;
use crate::fault;
use crate::sync::RawSpinLock;
use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};
use std::collections::BTreeMap;

/// The entries of an XArray, by index.
type Entries = BTreeMap<usize, NonNull<c_void>>;

/// Returns the internal entry for `value` (`xa_mk_internal()`).
fn mk_internal(value: isize) -> *mut c_void {
    ptr::without_provenance_mut(((value << 2) | 2) as usize)
}

/// Returns whether `entry` is an internal entry (`xa_is_internal()`).
fn is_internal(entry: *const c_void) -> bool {
    entry.addr() & 3 == 2
}

/// Returns the entry that encodes `errno` (`xa_mk_err()`, `XA_ERROR()`).
fn mk_err(errno: Errno) -> *mut c_void {
    mk_internal(errno.to_errno() as isize)
}

/// Returns the errno encoded in `entry`, or 0 if it is not an error entry (`xa_err()`).
///
/// Error entries are the internal entries of the values `-MAX_ERRNO` to `-1`. The entry is only
/// inspected, so unlike the binding of the C function, this one is safe to call.
pub fn xa_err(entry: *mut c_void) -> c_int {
    // The internal entries of -4095..=-1 are the highest addresses, above that of -4095.
    if is_internal(entry) && entry.addr() >= mk_internal(-4095).addr() {
        // The arithmetic shift gives back the negative value.
        (entry.addr() as isize >> 2) as c_int
    } else {
        0
    }
}

/// Returns the array's map, if it has one.
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`], and the caller must hold its lock
/// or have exclusive access for as long as the reference lives.
unsafe fn entries<'a>(xa: *mut xarray) -> Option<&'a mut Entries> {
    // SAFETY: `xa` is valid and its map is not accessed by anyone else (caller's guarantee); a
    // non-null head is the map `__xa_store` allocated.
    unsafe { (*xa).xa_head.cast::<Entries>().as_mut() }
}

/// Initialises an empty XArray in place (`xa_init_flags()`).
///
/// # Safety
///
/// `xa` must be valid for writes; whatever it held is overwritten without being dropped.
pub unsafe fn xa_init_flags(xa: *mut xarray, flags: gfp_t) {
    // SAFETY: `xa` is valid for writes (caller's guarantee).
    unsafe {
        xa.write(xarray {
            xa_lock: RawSpinLock::new(),
            xa_flags: flags,
            xa_head: ptr::null_mut(),
        })
    };
}

/// Frees the array's own memory; the entries are not freed (`xa_destroy()`). The array is empty
/// afterwards.
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`], not locked, that nobody else
/// accesses during the call.
pub unsafe fn xa_destroy(xa: *mut xarray) {
    // SAFETY: `xa` is valid and accessed by nobody else (caller's guarantee).
    let head = unsafe { core::mem::replace(&mut (*xa).xa_head, ptr::null_mut()) };
    if !head.is_null() {
        // SAFETY: A non-null head is the map `__xa_store` allocated with `Box`, and the array no
        // longer refers to it.
        drop(unsafe { Box::from_raw(head.cast::<Entries>()) });
    }
}

/// Takes the array's lock, spinning while someone else holds it (`xa_lock()`).
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`].
pub unsafe fn xa_lock(xa: *mut xarray) {
    // SAFETY: `xa` is valid (caller's guarantee); the lock is only used through shared access.
    unsafe { (*xa).xa_lock.lock() };
}

/// Takes the array's lock if it is free; returns non-zero if it did (`xa_trylock()`).
///
/// # Safety
///
/// As [`xa_lock`].
pub unsafe fn xa_trylock(xa: *mut xarray) -> c_int {
    // SAFETY: `xa` is valid (caller's guarantee).
    c_int::from(unsafe { (*xa).xa_lock.try_lock() })
}

/// Releases the array's lock (`xa_unlock()`).
///
/// # Safety
///
/// `xa` must be a valid XArray whose lock the caller holds.
pub unsafe fn xa_unlock(xa: *mut xarray) {
    // SAFETY: `xa` is valid and locked by the caller (caller's guarantee).
    unsafe { (*xa).xa_lock.unlock() };
}

/// Returns the entry at `index`, or null if there is none (`xa_load()`).
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`], whose lock the caller holds (or
/// that nobody else accesses during the call).
pub unsafe fn xa_load(xa: *mut xarray, index: usize) -> *mut c_void {
    // SAFETY: The caller's guarantee.
    let entries = unsafe { entries(xa) };
    entries
        .and_then(|entries| entries.get(&index))
        .map_or(ptr::null_mut(), |entry| entry.as_ptr())
}

/// Stores `entry` at `index` and returns the entry it replaces (null if none), or an error entry
/// (`__xa_store()`).
///
/// Storing null erases the entry. An internal entry is refused with `EINVAL`; a store to an index
/// without an entry fails with `ENOMEM` if the fault-injection hook says so. On error, nothing is
/// stored. `gfp` is accepted as in C; the store never drops the lock.
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`], whose lock the caller holds.
pub unsafe fn __xa_store(
    xa: *mut xarray,
    index: usize,
    entry: *mut c_void,
    gfp: gfp_t,
) -> *mut c_void {
    let _ = gfp;
    let Some(entry) = NonNull::new(entry) else {
        // SAFETY: The caller's guarantee.
        return unsafe { __xa_erase(xa, index) };
    };
    if is_internal(entry.as_ptr()) {
        return mk_err(Errno::EINVAL);
    }
    // SAFETY: `xa` is valid and locked by the caller.
    debug_assert!(unsafe { (*xa).xa_lock.is_locked() });
    // SAFETY: The caller's guarantee.
    let old = unsafe { entries(xa) }.and_then(|entries| entries.get_mut(&index));
    if let Some(old) = old {
        return core::mem::replace(old, entry).as_ptr();
    }
    if fault::alloc_should_fail() {
        return mk_err(Errno::ENOMEM);
    }
    // SAFETY: The caller's guarantee.
    let entries = match unsafe { entries(xa) } {
        Some(entries) => entries,
        None => {
            let map = Box::into_raw(Box::new(Entries::new()));
            // SAFETY: `xa` is valid and locked by the caller; `map` is the array's new map.
            unsafe {
                (*xa).xa_head = map.cast();
                &mut *map
            }
        }
    };
    entries.insert(index, entry);
    ptr::null_mut()
}

/// Removes the entry at `index` and returns it, or null if there was none (`__xa_erase()`).
///
/// # Safety
///
/// `xa` must be a valid XArray initialised by [`xa_init_flags`], whose lock the caller holds.
pub unsafe fn __xa_erase(xa: *mut xarray, index: usize) -> *mut c_void {
    // SAFETY: `xa` is valid and locked by the caller.
    debug_assert!(unsafe { (*xa).xa_lock.is_locked() });
    // SAFETY: The caller's guarantee.
    let entries = unsafe { entries(xa) };
    entries
        .and_then(|entries| entries.remove(&index))
        .map_or(ptr::null_mut(), |entry| entry.as_ptr())
}

/// Returns the first entry whose index is in `range`, and its index.
///
/// # Safety
///
/// As [`xa_load`].
unsafe fn find_in(
    xa: *mut xarray,
    range: impl core::ops::RangeBounds<usize>,
) -> Option<(usize, *mut c_void)> {
    // SAFETY: The caller's guarantee.
    let entries = unsafe { entries(xa) }?;
    let (&index, entry) = entries.range(range).next()?;
    Some((index, entry.as_ptr()))
}

/// Returns the first entry at an index from `*indexp` to `max`, and sets `*indexp` to its index;
/// returns null if there is none, leaving `*indexp` unchanged (`xa_find()`).
///
/// # Safety
///
/// As [`xa_load`]; `indexp` must be valid for reads and writes. `filter` must be [`XA_PRESENT`]
/// (the only mark the host provides).
pub unsafe fn xa_find(
    xa: *mut xarray,
    indexp: *mut usize,
    max: usize,
    filter: xa_mark_t,
) -> *mut c_void {
    debug_assert_eq!(filter, XA_PRESENT);
    // SAFETY: `indexp` is valid (caller's guarantee).
    let start = unsafe { *indexp };
    if start > max {
        return ptr::null_mut();
    }
    // SAFETY: The caller's guarantee.
    match unsafe { find_in(xa, start..=max) } {
        Some((index, entry)) => {
            // SAFETY: `indexp` is valid (caller's guarantee).
            unsafe { *indexp = index };
            entry
        }
        None => ptr::null_mut(),
    }
}

/// As [`xa_find`], but starts after `*indexp` (`xa_find_after()`).
///
/// # Safety
///
/// As [`xa_find`].
pub unsafe fn xa_find_after(
    xa: *mut xarray,
    indexp: *mut usize,
    max: usize,
    filter: xa_mark_t,
) -> *mut c_void {
    // SAFETY: `indexp` is valid (caller's guarantee).
    let Some(mut next) = unsafe { *indexp }.checked_add(1) else {
        return ptr::null_mut();
    };
    // SAFETY: The caller's guarantee; `next` is a valid index to start from.
    let entry = unsafe { xa_find(xa, &mut next, max, filter) };
    if !entry.is_null() {
        // SAFETY: `indexp` is valid (caller's guarantee).
        unsafe { *indexp = next };
    }
    entry
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::XA_FLAGS_ALLOC;
    use crate::fault::AllocFailure;
    use core::mem::MaybeUninit;

    /// An initialised XArray on the heap (so it does not move), destroyed when dropped.
    struct Array(Box<MaybeUninit<xarray>>);

    impl Array {
        fn new() -> Self {
            let mut xa = Box::new(MaybeUninit::uninit());
            // SAFETY: The memory is valid for writes.
            unsafe { xa_init_flags(xa.as_mut_ptr(), XA_FLAGS_ALLOC) };
            Self(xa)
        }

        fn ptr(&mut self) -> *mut xarray {
            self.0.as_mut_ptr()
        }

        /// Stores under the lock.
        fn store(&mut self, index: usize, entry: usize) -> *mut c_void {
            let xa = self.ptr();
            // SAFETY: The array is initialised; the lock is taken around the store.
            unsafe {
                xa_lock(xa);
                let old = __xa_store(xa, index, ptr::without_provenance_mut(entry), 0);
                xa_unlock(xa);
                old
            }
        }

        /// The entries found with `xa_find`/`xa_find_after` from `start` to `max`.
        fn found(&mut self, start: usize, max: usize) -> Vec<(usize, usize)> {
            let xa = self.ptr();
            let mut index = start;
            let mut out = Vec::new();
            // SAFETY: The array is initialised and only this thread uses it.
            let mut entry = unsafe { xa_find(xa, &mut index, max, XA_PRESENT) };
            while !entry.is_null() {
                out.push((index, entry.addr()));
                // SAFETY: As above.
                entry = unsafe { xa_find_after(xa, &mut index, max, XA_PRESENT) };
            }
            out
        }
    }

    impl Drop for Array {
        fn drop(&mut self) {
            // SAFETY: The array is initialised and unlocked; nobody else uses it.
            unsafe { xa_destroy(self.ptr()) };
        }
    }

    #[test]
    fn store_load_replace_erase() {
        let mut xa = Array::new();
        let p = xa.ptr();
        // SAFETY: The array is initialised and only this thread uses it.
        unsafe {
            assert!(xa_load(p, 7).is_null());
            assert!(xa.store(7, 0x1000).is_null());
            assert_eq!(xa_load(p, 7).addr(), 0x1000);
            assert_eq!(xa.store(7, 0x2000).addr(), 0x1000);
            assert_eq!(xa_load(p, 7).addr(), 0x2000);
            assert_eq!(xa.store(7, 0).addr(), 0x2000, "storing null erases");
            assert!(xa_load(p, 7).is_null());
            xa_lock(p);
            assert!(__xa_erase(p, 7).is_null());
            xa_unlock(p);
        }
    }

    #[test]
    fn find_walks_present_entries_in_index_order_within_the_range() {
        let mut xa = Array::new();
        for index in [usize::MAX, 40, 3, 1 << 40] {
            xa.store(index, index.wrapping_mul(8) | 4);
        }
        let all = xa.found(0, usize::MAX);
        let indices: Vec<usize> = all.iter().map(|&(i, _)| i).collect();
        assert_eq!(indices, [3, 40, 1 << 40, usize::MAX]);
        assert!(all.iter().all(|&(i, e)| e == i.wrapping_mul(8) | 4));
        assert_eq!(xa.found(4, 1 << 40).len(), 2);
        assert!(xa.found(41, 1000).is_empty());
        assert!(xa.found(50, 10).is_empty(), "start above max");
    }

    #[test]
    fn errors_are_internal_entries() {
        let mut xa = Array::new();
        let refused = xa.store(1, 0x2 | 0x1000);
        assert_eq!(xa_err(refused), Errno::EINVAL.to_errno());
        assert_eq!(xa_err(ptr::null_mut()), 0);
        assert_eq!(xa_err(ptr::without_provenance_mut(0x1000)), 0);
        assert_eq!(
            xa_err(ptr::without_provenance_mut(0x1001)),
            0,
            "value entries"
        );
        // SAFETY: The array is initialised and only this thread uses it.
        assert!(unsafe { xa_load(xa.ptr(), 1) }.is_null(), "nothing stored");
    }

    #[test]
    fn a_failed_allocation_stores_nothing_and_a_replacement_needs_none() {
        let mut xa = Array::new();
        xa.store(1, 0x1000);
        let failure = AllocFailure::next(usize::MAX);
        assert_eq!(xa_err(xa.store(2, 0x2000)), Errno::ENOMEM.to_errno());
        assert_eq!(
            xa.store(1, 0x3000).addr(),
            0x1000,
            "replacing does not allocate"
        );
        assert_eq!(failure.injected(), 1);
        drop(failure);
        assert_eq!(xa.found(0, usize::MAX), [(1, 0x3000)]);
    }

    #[test]
    fn trylock_fails_while_locked() {
        let mut xa = Array::new();
        let p = xa.ptr();
        // SAFETY: The array is initialised.
        unsafe {
            assert_eq!(xa_trylock(p), 1);
            assert_eq!(xa_trylock(p), 0);
            xa_unlock(p);
            assert_eq!(xa_trylock(p), 1);
            xa_unlock(p);
        }
    }
}
