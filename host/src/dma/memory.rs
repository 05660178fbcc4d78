//! Memory for DMA: whole pages, mapped anonymously, zeroed, optionally locked.
//!
//! DMA buffers must stay at one physical place while a device may access them, and must not be
//! shared with anything else in the process: they come from their own anonymous mappings rather
//! than the heap, in 4 KiB pages or in 2 MiB huge pages from those the system reserved
//! (`/proc/sys/vm/nr_hugepages`), which an IOMMU maps with one entry each ([`super::huge`]
//! decides which).

use std::ptr::NonNull;

use super::super::error::HostError;

/// The size of a base page on the platforms drydock runs on.
pub const PAGE_SIZE: usize = 4096;

/// The size of a huge page used for large DMA chunks.
pub const HUGE_PAGE_SIZE: usize = 2 << 20;

/// An anonymous mapping of whole pages; unmapped when dropped.
///
/// # Invariants
///
/// `ptr` is the start of a private anonymous mapping of `len` bytes (a multiple of `PAGE_SIZE`)
/// owned by this value, readable and writable, and zero-filled when created.
#[derive(Debug)]
pub struct PageMemory {
    ptr: NonNull<u8>,
    len: usize,
    huge: bool,
}

// SAFETY: the mapping is plain memory owned by this value; nothing about it is tied to a thread.
unsafe impl Send for PageMemory {}
// SAFETY: `&PageMemory` only exposes the address and length.
unsafe impl Sync for PageMemory {}

impl PageMemory {
    /// Maps `len` bytes (rounded up to whole pages, or with `huge` to whole 2 MiB huge pages),
    /// populated and zero-filled.
    ///
    /// With `huge`, the mapping is in huge pages (`MAP_HUGETLB | MAP_HUGE_2MB`) from the system's
    /// reserve, or fails (`ENOMEM` when too few are free). With `lock`, the pages are locked in
    /// memory (`mlock`), so they are never swapped out while a device may access them.
    pub fn new(len: usize, huge: bool, lock: bool) -> Result<Self, HostError> {
        let page = if huge { HUGE_PAGE_SIZE } else { PAGE_SIZE };
        let len = len.div_ceil(page).max(1) * page;
        let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        if huge {
            flags |= libc::MAP_HUGETLB | (21 << libc::MAP_HUGE_SHIFT);
        }
        // SAFETY: an anonymous private mapping at an address the kernel chooses does not alias
        // any existing memory.
        let ptr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            let pages = if huge { " in 2 MiB huge pages" } else { "" };
            return Err(HostError::last_os(format!(
                "mmap of {len} bytes of DMA memory{pages}"
            )));
        }
        // INVARIANT: a successful anonymous mapping of `len` bytes, zero-filled by the kernel.
        let memory = Self {
            // SAFETY: `mmap` succeeded, so `ptr` is not null.
            ptr: unsafe { NonNull::new_unchecked(ptr.cast()) },
            len,
            huge,
        };
        if lock {
            // SAFETY: the range is the mapping we own.
            if unsafe { libc::mlock(ptr, len) } != 0 {
                return Err(lock_error(len));
            }
        }
        Ok(memory)
    }

    /// Returns the mapping's first byte.
    pub fn as_ptr(&self) -> NonNull<u8> {
        self.ptr
    }

    /// Returns the mapping's length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Returns `true` if the mapping has no bytes (never, since at least a page is mapped).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Returns whether the mapping uses huge pages.
    pub fn is_huge(&self) -> bool {
        self.huge
    }

    /// Zeroes `len` bytes at `offset`.
    ///
    /// # Panics
    ///
    /// Panics if the range is not inside the mapping.
    pub fn zero(&self, offset: usize, len: usize) {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len));
        // SAFETY: the range is inside the mapping, checked above. Devices may access this memory
        // concurrently only if the driver handed its address out, which it does not for memory it
        // is reallocating; volatile writes keep the zeroing from being elided.
        unsafe { core::ptr::write_bytes(self.ptr.as_ptr().add(offset), 0, len) };
    }
}

impl Drop for PageMemory {
    fn drop(&mut self) {
        // SAFETY: by the type invariant, the range is a mapping owned by `self`, and nothing refers
        // to it after `self` is gone (owners unmap it from the IOMMU before dropping it).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Explains a failed `mlock`: almost always `RLIMIT_MEMLOCK`.
fn lock_error(len: usize) -> HostError {
    let err = std::io::Error::last_os_error();
    match (err.raw_os_error(), memlock_limit()) {
        (Some(libc::ENOMEM | libc::EPERM | libc::EAGAIN), Some(limit)) => {
            HostError::MemlockTooLow {
                needed: len as u64,
                limit,
            }
        }
        _ => HostError::os(format!("mlock of {len} bytes of DMA memory"), err),
    }
}

/// Returns the soft `RLIMIT_MEMLOCK` in bytes, or `None` if it is unlimited.
pub fn memlock_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `getrlimit` writes a `struct rlimit` to a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut limit) } != 0 {
        return None;
    }
    (limit.rlim_cur != libc::RLIM_INFINITY).then_some(limit.rlim_cur)
}

/// `CAP_IPC_LOCK`: lock memory beyond `RLIMIT_MEMLOCK`.
pub const CAP_IPC_LOCK: u32 = 14;
/// `CAP_SYS_ADMIN`: among much else, read physical addresses from `/proc/self/pagemap`.
pub const CAP_SYS_ADMIN: u32 = 21;

/// Returns whether the process has capability `cap` (a `CAP_*` number) in its effective set.
pub fn has_capability(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let hex = status
                .lines()
                .find_map(|l| l.strip_prefix("CapEff:"))?
                .trim()
                .to_owned();
            u64::from_str_radix(&hex, 16).ok()
        })
        .is_some_and(|caps| caps & (1 << cap) != 0)
}

/// Returns whether the process may lock memory beyond `RLIMIT_MEMLOCK` (`CAP_IPC_LOCK`).
pub fn can_lock_unlimited() -> bool {
    has_capability(CAP_IPC_LOCK)
}

/// Checks, before locking `additional` more bytes on top of `already_locked`, that the memory
/// lock limit allows it, and explains how to raise it if not.
pub fn check_memlock(already_locked: u64, additional: u64) -> Result<(), HostError> {
    memlock_verdict(
        already_locked,
        additional,
        memlock_limit(),
        can_lock_unlimited(),
    )
}

/// Decides [`check_memlock`] for a given limit (`None` for unlimited) and capability.
pub fn memlock_verdict(
    already_locked: u64,
    additional: u64,
    limit: Option<u64>,
    unlimited_capability: bool,
) -> Result<(), HostError> {
    let needed = already_locked.saturating_add(additional);
    match limit {
        Some(limit) if !unlimited_capability && needed > limit => {
            Err(HostError::MemlockTooLow { needed, limit })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_is_page_granular_and_zeroed() {
        let m = PageMemory::new(100, false, false).unwrap();
        assert_eq!(m.len(), PAGE_SIZE);
        assert_eq!(m.as_ptr().as_ptr().addr() % PAGE_SIZE, 0);
        // SAFETY: the mapping is `m.len()` bytes of initialised (zero) memory we own.
        let bytes = unsafe { core::slice::from_raw_parts_mut(m.as_ptr().as_ptr(), m.len()) };
        assert!(bytes.iter().all(|&b| b == 0));
        bytes[17] = 0xaa;
        m.zero(0, 64);
        assert_eq!(bytes[17], 0);
    }

    #[test]
    fn memlock_verdict_names_the_limit() {
        let err = memlock_verdict(60 << 10, 8 << 10, Some(64 << 10), false).unwrap_err();
        assert!(matches!(
            err,
            HostError::MemlockTooLow {
                needed: 0x11000,
                limit: 0x10000
            }
        ));
        assert!(err.to_string().contains("ulimit -l"));
        // Within the limit, unlimited, or with CAP_IPC_LOCK: allowed.
        assert!(memlock_verdict(0, 64 << 10, Some(64 << 10), false).is_ok());
        assert!(memlock_verdict(u64::MAX, 1, None, false).is_ok());
        assert!(memlock_verdict(1 << 40, 1 << 40, Some(64 << 10), true).is_ok());
    }
}
