//! Attribute files: what opening, reading and writing one does (`fs/configfs/file.c`), and the
//! fragment that tells an open file whether its item is still there.
//!
//! An open attribute file has a page of its own (the kernel's `struct configfs_buffer`). The first
//! read after the open, or after a write, fills it with the attribute's `show`; reads are served
//! from it at their position. A write copies at most [`SIMPLE_ATTR_SIZE`]` - 1` bytes into it,
//! NUL-terminated, and hands them to `store` whatever the position, returning what `store`
//! returned.
//!
//! Every directory made at once (an item and its default groups) shares a [`Fragment`]: the
//! callbacks of its attributes run under its read lock, and removing the item marks it dead under
//! its write lock, which waits for the running callbacks. After that an open file of the item
//! fails with `ENOENT` and never reaches the item again, which may then be freed.

use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use crate::bindings::{config_item, configfs_attribute};
use crate::errno::Errno;
use crate::pseudofs::{Access, File};

/// The most an attribute shows, and one more than the most a write hands to `store`
/// (`SIMPLE_ATTR_SIZE`): the size of an open file's page, and the size `stat()` shows.
pub const SIMPLE_ATTR_SIZE: usize = 4096;

/// Whether the items made together (an item and its default groups) are still in the tree
/// (`struct configfs_fragment`).
#[derive(Default)]
pub(super) struct Fragment {
    dead: RwLock<bool>,
}

impl Fragment {
    /// Runs `f` unless the items were removed (`ENOENT`); removing them waits until `f` returns.
    pub(super) fn call<R>(&self, f: impl FnOnce() -> R) -> Result<R, Errno> {
        let dead = self.dead.read().unwrap_or_else(PoisonError::into_inner);
        if *dead {
            return Err(Errno::ENOENT);
        }
        Ok(f())
    }

    /// Marks the items removed, once no callback runs on them.
    pub(super) fn kill(&self) {
        *self.dead.write().unwrap_or_else(PoisonError::into_inner) = true;
    }
}

/// An open file's page: what `show` wrote, or what was written.
struct Buffer {
    page: Option<Box<[u8; SIMPLE_ATTR_SIZE]>>,
    /// How many bytes of the page `show` filled.
    count: usize,
    /// Whether the next read calls `show` (after the open, and after each write).
    needs_read_fill: bool,
}

impl Buffer {
    fn page(&mut self) -> &mut [u8; SIMPLE_ATTR_SIZE] {
        self.page
            .get_or_insert_with(|| Box::new([0; SIMPLE_ATTR_SIZE]))
    }
}

/// An attribute file opened for reading, writing or both (`struct file` with its
/// `configfs_buffer`).
///
/// # Invariants
///
/// While `frag` is not dead, `item` points to a valid item linked in the tree and `attr` to one of
/// the attributes of its type, which has `show` if the file is open for reading, `store` if for
/// writing.
pub struct OpenAttr {
    item: *mut config_item,
    attr: *const configfs_attribute,
    frag: Arc<Fragment>,
    buffer: Mutex<Buffer>,
}

// SAFETY: `item` and `attr` are only used under the fragment's lock while it is alive (invariant),
// by the attribute's callbacks, which may be called from any thread, as the kernel calls them.
unsafe impl Send for OpenAttr {}
// SAFETY: as above; the page is behind a mutex.
unsafe impl Sync for OpenAttr {}

impl OpenAttr {
    /// Opens attribute `attr` of `item`, whose directory's fragment is `frag`, with `access`
    /// (`__configfs_open_file()`): `ENOENT` if the item was removed, `EACCES` for access the
    /// attribute's mode or operations do not allow.
    ///
    /// # Safety
    ///
    /// While `frag` is not dead, `item` must point to a valid linked item and `attr` to an
    /// attribute of its type.
    pub(super) unsafe fn open(
        item: *mut config_item,
        attr: *const configfs_attribute,
        frag: Arc<Fragment>,
        access: Access,
    ) -> Result<Self, Errno> {
        frag.call(|| {
            // SAFETY: the fragment is alive, so `item` and `attr` are valid (safety requirements).
            let (item_ref, attr_ref) = unsafe { (&*item, &*attr) };
            if item_ref.ci_type.is_null() {
                return Err(Errno::EACCES);
            }
            let writable = attr_ref.ca_mode & 0o222 != 0 && attr_ref.store.is_some();
            let readable = attr_ref.ca_mode & 0o444 != 0 && attr_ref.show.is_some();
            if (access.write && !writable) || (access.read && !readable) {
                return Err(Errno::EACCES);
            }
            Ok(())
        })??;
        // INVARIANT: by the safety requirements, and the checks above.
        Ok(Self {
            item,
            attr,
            frag,
            buffer: Mutex::new(Buffer {
                page: None,
                count: 0,
                needs_read_fill: true,
            }),
        })
    }

    /// Reads at most `count` bytes at `offset` of what the attribute showed
    /// (`configfs_read_iter()`): `show` fills the page at the first read after the open or a
    /// write, and fails the read with its error, `ENOENT` if the item was removed, or `EIO` if it
    /// claims more than [`SIMPLE_ATTR_SIZE`] bytes.
    pub fn read_at(&self, offset: u64, count: usize) -> Result<Vec<u8>, Errno> {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        if buffer.needs_read_fill {
            let page = buffer.page().as_mut_ptr();
            let shown = self.frag.call(|| {
                // SAFETY: the fragment is alive, so `attr` is valid and has `show` (type
                // invariant).
                let show = unsafe { (*self.attr).show }.ok_or(Errno::EACCES)?;
                // SAFETY: `item` is valid, as the page is for `SIMPLE_ATTR_SIZE` bytes.
                Ok::<_, Errno>(unsafe { show(self.item, page.cast()) })
            })??;
            let shown = Errno::from_count(shown)?;
            if shown > SIMPLE_ATTR_SIZE {
                // The kernel's `WARN_ON_ONCE()`.
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    let location = concat!("[count > SIMPLE_ATTR_SIZE] ", file!());
                    crate::bug::warn(location, line!(), crate::bindings::TAINT_WARN);
                }
                return Err(Errno::EIO);
            }
            buffer.count = shown;
            buffer.needs_read_fill = false;
        }
        let start = usize::try_from(offset).map_or(buffer.count, |o| o.min(buffer.count));
        let end = buffer.count.min(start.saturating_add(count));
        Ok(buffer.page()[start..end].to_vec())
    }

    /// Hands `data` to the attribute's `store`, whatever `offset` is (`configfs_write_iter()`):
    /// at most [`SIMPLE_ATTR_SIZE`]` - 1` bytes of it, in the page, followed by a NUL. Returns
    /// what `store` returned: the number of bytes it took, or its error; `ENOENT` if the item was
    /// removed, `EFAULT` for nothing to write.
    pub fn write_at(&self, _offset: u64, data: &[u8]) -> Result<usize, Errno> {
        let mut buffer = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let copied = data.len().min(SIMPLE_ATTR_SIZE - 1);
        let page = buffer.page();
        page[..copied].copy_from_slice(&data[..copied]);
        page[copied] = 0;
        let page = page.as_ptr();
        buffer.needs_read_fill = true;
        if copied == 0 {
            return Err(Errno::EFAULT);
        }
        let stored = self.frag.call(|| {
            // SAFETY: the fragment is alive, so `attr` is valid and has `store` (type invariant).
            let store = unsafe { (*self.attr).store }.ok_or(Errno::EACCES)?;
            // SAFETY: `item` is valid, the page holds `copied` bytes.
            Ok::<_, Errno>(unsafe { store(self.item, page.cast(), copied) })
        })??;
        Errno::from_count(stored)
    }
}

impl File for OpenAttr {
    fn read_at(&self, offset: u64, count: usize) -> Result<Vec<u8>, Errno> {
        OpenAttr::read_at(self, offset, count)
    }

    fn write_at(&self, offset: u64, data: &[u8]) -> Result<usize, Errno> {
        OpenAttr::write_at(self, offset, data)
    }
}
