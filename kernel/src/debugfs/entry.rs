//! An owned entry of the debugfs tree, removed (with everything under it) when dropped.

use crate::{debugfs::file_ops::FileOps, str::CStr, sync::Arc};

use drydock_host::{
    debugfs::{self as host, Dentry},
    errno::Errno,
};

use core::marker::PhantomData;

/// An entry of the debugfs tree, owned: dropping it removes the entry and everything under it.
///
/// # Invariants
///
/// `entry` is `None` (no entry: the placeholder, or a creation that failed) or an entry this
/// value owns. An entry made with a parent is under that parent, which outlives it: through
/// `_parent`, or for `'a`.
pub(crate) struct Entry<'a> {
    entry: Option<Dentry>,
    // With an owning parent: keeps it alive.
    _parent: Option<Arc<Entry<'static>>>,
    // With a borrowed parent: keeps this entry from outliving it.
    _phantom: PhantomData<&'a ()>,
}

/// Creates `name` in `parent` with `create`: at the root without a parent, nowhere if the parent
/// is no entry (as the kernel creates nothing under a failed entry).
fn create_in(
    parent: Option<&Entry<'_>>,
    create: impl FnOnce(Option<Dentry>) -> core::result::Result<Dentry, Errno>,
) -> Option<Dentry> {
    match parent {
        None => create(None).ok(),
        Some(Entry { entry: None, .. }) => None,
        Some(Entry {
            entry: Some(parent),
            ..
        }) => create(Some(*parent)).ok(),
    }
}

/// Creates the file `name` in `parent` (nowhere if the parent is no entry), whose operations get
/// `data`.
///
/// # Safety
///
/// `data` must outlive the file: the file must be removed (which waits for its callbacks) before
/// `data` is dropped or mutably borrowed.
unsafe fn create_file<T>(
    name: &CStr,
    parent: &Entry<'_>,
    data: &T,
    file_ops: &'static FileOps<T>,
) -> Option<Dentry> {
    create_in(Some(parent), |parent| {
        // SAFETY: `data` outlives the file (safety requirement); `FileOps<T>`'s operations take a
        // `T` that is valid and only shared, as `data` is.
        unsafe {
            host::debugfs_create_file_full(
                name,
                file_ops.mode(),
                parent,
                core::ptr::from_ref(data).cast(),
                file_ops,
            )
        }
    })
}

impl Entry<'static> {
    /// A directory that keeps its parent alive.
    pub(crate) fn dynamic_dir(name: &CStr, parent: Option<Arc<Self>>) -> Self {
        let entry = create_in(parent.as_deref(), |parent| {
            host::debugfs_create_dir(name, parent)
        });
        // INVARIANT: the directory is ours, under `parent`, which `_parent` keeps alive.
        Entry {
            entry,
            _parent: parent,
            _phantom: PhantomData,
        }
    }

    /// A file that keeps its parent alive, whose operations get `data`.
    ///
    /// # Safety
    ///
    /// `data` must outlive the returned `Entry`.
    pub(crate) unsafe fn dynamic_file<T>(
        name: &CStr,
        parent: Arc<Self>,
        data: &T,
        file_ops: &'static FileOps<T>,
    ) -> Self {
        // SAFETY: `data` outlives the entry (safety requirement).
        let entry = unsafe { create_file(name, &parent, data, file_ops) };
        // INVARIANT: the file is ours, under `parent`, which `_parent` keeps alive.
        Entry {
            entry,
            _parent: Some(parent),
            _phantom: PhantomData,
        }
    }
}

impl<'a> Entry<'a> {
    /// A directory under `parent` (or at the root), living at most as long as it.
    pub(crate) fn dir(name: &CStr, parent: Option<&'a Entry<'_>>) -> Self {
        let entry = create_in(parent, |parent| host::debugfs_create_dir(name, parent));
        // INVARIANT: the directory is ours, under `parent`, which outlives `'a`.
        Entry {
            entry,
            _parent: None,
            _phantom: PhantomData,
        }
    }

    /// A file under `parent` whose operations get `data`, living at most as long as both.
    pub(crate) fn file<T>(
        name: &CStr,
        parent: &'a Entry<'_>,
        data: &'a T,
        file_ops: &'static FileOps<T>,
    ) -> Self {
        // SAFETY: `data` lives for `'a`, longer than the entry, whose drop (or the removal of its
        // parent, which outlives `'a` too) removes the file.
        let entry = unsafe { create_file(name, parent, data, file_ops) };
        // INVARIANT: the file is ours, under `parent`, which outlives `'a`.
        Entry {
            entry,
            _parent: None,
            _phantom: PhantomData,
        }
    }
}

impl Entry<'_> {
    /// No entry: a placeholder.
    pub(crate) fn empty() -> Self {
        Self {
            entry: None,
            _parent: None,
            _phantom: PhantomData,
        }
    }
}

impl Drop for Entry<'_> {
    fn drop(&mut self) {
        if let Some(entry) = self.entry {
            host::debugfs_remove(entry);
        }
    }
}
