//! Config items and groups: their names, reference counts, default groups, and the links that
//! hang them in a subsystem's hierarchy (`fs/configfs/item.c` and the linking part of `dir.c`).
//!
//! An item starts with one reference (its creator's: the driver's, for what `make_group` returns);
//! being linked under a parent takes one more on the item and one on the parent, and unlinking
//! gives both back. When the last reference goes, the item's name is freed and its type's
//! `release` called, as `config_item_put()` does.

use core::cell::UnsafeCell;
use core::ffi::{c_char, CStr};
use core::sync::atomic::{fence, Ordering};
use std::ffi::CString;

use crate::bindings::{
    config_group, config_item, config_item_type, configfs_subsystem, kref, CONFIGFS_ITEM_NAME_LEN,
};
use crate::print::{printk, Level};

/// The root of every subsystem (the kernel's `configfs_root_group`): the group subsystems are
/// linked under. It belongs to no subsystem (`cg_subsys` is null) and is never released.
pub(super) struct RootGroup(UnsafeCell<config_group>);

// SAFETY: the group's only field that changes is its reference count, which is atomic; the rest is
// written once, at compile time.
unsafe impl Sync for RootGroup {}

impl RootGroup {
    /// The root group.
    pub(super) fn get(&self) -> *mut config_group {
        self.0.get()
    }
}

/// The root group of the process's configfs tree.
pub(super) static ROOT_GROUP: RootGroup = RootGroup(UnsafeCell::new(config_group {
    cg_item: config_item {
        ci_name: core::ptr::null_mut(),
        ci_namebuf: [0; CONFIGFS_ITEM_NAME_LEN],
        // One reference, which nobody gives back.
        ci_kref: kref {
            refcount: core::sync::atomic::AtomicU32::new(1),
        },
        ci_parent: core::ptr::null_mut(),
        ci_group: core::ptr::null_mut(),
        ci_type: core::ptr::null(),
        ci_dentry: 0,
    },
    cg_subsys: core::ptr::null_mut(),
    default_groups: core::ptr::null_mut(),
    group_entry: core::ptr::null_mut(),
}));

/// Sets the name of `item` (`config_item_set_name()`): in the item's own buffer if it fits (at
/// most 19 bytes), else in memory of its own, freed with the item or the next name.
///
/// # Safety
///
/// `item` must point to a valid `config_item` whose `ci_name` is null, points to its `ci_namebuf`,
/// or was set by this function.
pub unsafe fn config_item_set_name(item: *mut config_item, name: &CStr) {
    let bytes = name.to_bytes_with_nul();
    // SAFETY: `item` is valid (safety requirements).
    let item = unsafe { &mut *item };
    let old = item.ci_name;
    item.ci_name = if bytes.len() <= CONFIGFS_ITEM_NAME_LEN {
        for (slot, &byte) in item.ci_namebuf.iter_mut().zip(bytes) {
            // CAST: the C name's bytes, as `c_char`.
            *slot = byte as c_char;
        }
        item.ci_namebuf.as_mut_ptr()
    } else {
        name.to_owned().into_raw()
    };
    // SAFETY: `old` is null, the item's buffer, or a name this function allocated (safety
    // requirements), which nothing uses any more.
    unsafe { free_name(item, old) };
}

/// Frees `name`, a name of `item`, unless it is null or the item's own buffer.
///
/// # Safety
///
/// `name` must be null, `item`'s `ci_namebuf`, or a name [`config_item_set_name`] allocated and
/// nothing uses any more.
unsafe fn free_name(item: &mut config_item, name: *mut c_char) {
    if !name.is_null() && name != item.ci_namebuf.as_mut_ptr() {
        // SAFETY: by the safety requirements, `CString::into_raw` made it.
        drop(unsafe { CString::from_raw(name) });
    }
}

/// Readies `group`, which may be zeroed, with one reference and no default groups
/// (`config_group_init()`).
///
/// # Safety
///
/// `group` must be valid for writes.
pub unsafe fn config_group_init(group: *mut config_group) {
    // SAFETY: `group` is valid (safety requirements).
    let group = unsafe { &mut *group };
    group.cg_item.ci_kref.refcount.store(1, Ordering::Relaxed);
    group.default_groups = core::ptr::null_mut();
    group.group_entry = core::ptr::null_mut();
}

/// Names `group`, gives it its type and readies it (`config_group_init_type_name()`). The name is
/// copied.
///
/// # Safety
///
/// `group` must be valid for writes, zeroed or with a name set by this function; `name` must point
/// to a NUL-terminated string; `ty` must be valid for as long as the group is used.
pub unsafe fn config_group_init_type_name(
    group: *mut config_group,
    name: *const c_char,
    ty: *const config_item_type,
) {
    // SAFETY: `group` is valid and its name one this function set, or null (safety requirements);
    // `name` is a C string.
    unsafe {
        config_item_set_name(&raw mut (*group).cg_item, CStr::from_ptr(name));
        (*group).cg_item.ci_type = ty;
        config_group_init(group);
    }
}

/// Takes a reference on `item`, if it is not null, and returns it (`config_item_get()`).
///
/// # Safety
///
/// `item` must be null or point to a valid item the caller holds a reference on.
pub unsafe fn config_item_get(item: *mut config_item) -> *mut config_item {
    if !item.is_null() {
        // SAFETY: `item` is valid (safety requirements).
        unsafe { &(*item).ci_kref.refcount }.fetch_add(1, Ordering::Relaxed);
    }
    item
}

/// Gives back a reference on `item`, if it is not null (`config_item_put()`): with the last one
/// the item's name is freed, its type's `release` is called, and the references it held on its
/// parent are given back.
///
/// Giving back a reference nobody holds is a bug: it is reported as the kernel's `refcount_t`
/// reports it, and the item is left alone.
///
/// # Safety
///
/// `item` must be null or point to a valid item on which the caller holds a reference, which it
/// gives up.
pub unsafe fn config_item_put(item: *mut config_item) {
    if item.is_null() {
        return;
    }
    // SAFETY: `item` is valid (safety requirements).
    let count = unsafe { &(*item).ci_kref.refcount };
    let decremented =
        count.fetch_update(Ordering::Release, Ordering::Relaxed, |n| n.checked_sub(1));
    match decremented {
        Ok(1) => {
            // Everything done with the item under other references happened before.
            fence(Ordering::Acquire);
            // SAFETY: that was the last reference, so nobody else uses the item.
            unsafe { cleanup(item) };
        }
        Ok(_) => {}
        Err(_) => printk(
            Level::Warning,
            "configfs",
            None,
            format_args!("refcount_t: underflow; use-after-free."),
        ),
    }
}

/// Frees the name of `item`, whose last reference is gone, calls its type's `release`, and gives
/// back the references it held on its parent (`config_item_cleanup()`).
///
/// # Safety
///
/// `item` must be valid, and nothing may use it but this function.
unsafe fn cleanup(item: *mut config_item) {
    // SAFETY: `item` is valid and ours (safety requirements); its name is null, its buffer, or one
    // `config_item_set_name` allocated.
    let (ty, group, parent) = unsafe {
        let item = &mut *item;
        free_name(item, item.ci_name);
        item.ci_name = core::ptr::null_mut();
        (item.ci_type, item.ci_group, item.ci_parent)
    };
    // SAFETY: an item's type outlives it (as `config_group_init_type_name` requires).
    let release = unsafe { ty.as_ref() }
        // SAFETY: as above, and the operations a type points to outlive it.
        .and_then(|ty| unsafe { ty.ct_item_ops.as_ref() })
        .and_then(|ops| ops.release);
    if let Some(release) = release {
        // SAFETY: the item's last reference is gone: its owner may free it.
        unsafe { release(item) };
    }
    // SAFETY: the item held references on its group and its parent (left set while linked).
    unsafe {
        if !group.is_null() {
            config_item_put(&raw mut (*group).cg_item);
        }
        config_item_put(parent);
    }
}

/// Adds `new_group` to the default groups of `group` (`configfs_add_default_group()`), after the
/// others: directories made with `group`'s, which users cannot remove, and which go with it.
///
/// # Safety
///
/// Both must point to valid groups, `new_group` in no list of default groups, and `group` not yet
/// registered or made; `new_group` must stay valid while it is in the list.
pub unsafe fn configfs_add_default_group(new_group: *mut config_group, group: *mut config_group) {
    // SAFETY: both are valid, and the groups in `group`'s list too (safety requirements).
    unsafe {
        (*new_group).group_entry = core::ptr::null_mut();
        let mut slot = &raw mut (*group).default_groups;
        while !(*slot).is_null() {
            slot = &raw mut (**slot).group_entry;
        }
        *slot = new_group;
    }
}

/// Empties the list of default groups of `group`, giving back the reference each was created with
/// (`configfs_remove_default_groups()`): a group calls it when it is released.
///
/// # Safety
///
/// `group` must point to a valid group that is not linked, whose default groups hold the
/// reference they were created with.
pub unsafe fn configfs_remove_default_groups(group: *mut config_group) {
    // SAFETY: `group` and its default groups are valid (safety requirements).
    unsafe {
        let mut next = core::mem::replace(&mut (*group).default_groups, core::ptr::null_mut());
        while !next.is_null() {
            let current = next;
            next = core::mem::replace(&mut (*current).group_entry, core::ptr::null_mut());
            config_item_put(&raw mut (*current).cg_item);
        }
    }
}

/// The default groups of `group`, in order.
///
/// # Safety
///
/// `group` must point to a valid group, whose default groups are valid.
pub(super) unsafe fn default_groups(group: *mut config_group) -> Vec<*mut config_group> {
    let mut groups = Vec::new();
    // SAFETY: `group` and its default groups are valid (safety requirements).
    let mut next = unsafe { (*group).default_groups };
    while !next.is_null() {
        groups.push(next);
        // SAFETY: as above.
        next = unsafe { (*next).group_entry };
    }
    groups
}

/// Hangs `group` and its default groups under `parent` (`link_group()`): each takes a reference
/// on its parent, and one on itself for the link; each learns its subsystem, which for a group
/// under [`ROOT_GROUP`] is the subsystem that embeds it.
///
/// # Safety
///
/// Both must point to valid groups, `group` unlinked, and `parent` linked or the root group;
/// `group` must be the `su_group` of a `configfs_subsystem` if `parent` is the root group. The
/// caller holds the lock of the subsystem's hierarchy.
pub(super) unsafe fn link_group(parent: *mut config_group, group: *mut config_group) {
    // SAFETY: both valid (safety requirements); a group under the root is a subsystem's
    // `su_group`, its first field (`#[repr(C)]`), so the pointers are the same.
    unsafe {
        let item = &raw mut (*group).cg_item;
        (*item).ci_parent = &raw mut (*parent).cg_item;
        (*item).ci_group = parent;
        config_item_get(&raw mut (*parent).cg_item);
        config_item_get(item);
        (*group).cg_subsys = if parent == ROOT_GROUP.get() {
            group.cast::<configfs_subsystem>()
        } else {
            (*parent).cg_subsys
        };
        for child in default_groups(group) {
            link_group(group, child);
        }
    }
}

/// Takes `group` and its default groups out of the hierarchy (`unlink_group()`), giving back the
/// references [`link_group`] took; this may release them.
///
/// # Safety
///
/// `group` must point to a valid group linked by [`link_group`]; the caller holds the lock of the
/// subsystem's hierarchy and a reference on `group` if it uses it afterwards.
pub(super) unsafe fn unlink_group(group: *mut config_group) {
    // SAFETY: `group` and its default groups are valid and linked (safety requirements).
    unsafe {
        for child in default_groups(group) {
            unlink_group(child);
        }
        (*group).cg_subsys = core::ptr::null_mut();
        let item = &raw mut (*group).cg_item;
        let parent = core::mem::replace(&mut (*item).ci_group, core::ptr::null_mut());
        if !parent.is_null() {
            (*item).ci_parent = core::ptr::null_mut();
            config_item_put(item);
            config_item_put(&raw mut (*parent).cg_item);
        }
    }
}
