//! configfs: the objects users make and configure with `mkdir`, `echo >` and `rmdir`, in a tree
//! of the process that a shell can use.
//!
//! In the kernel, a module registers a subsystem (`configfs_register_subsystem()`), which appears
//! as a directory of `/sys/kernel/config`. Each directory is a `config_group` whose type says
//! which attribute files it has (read with the attribute's `show`, written with its `store`) and
//! what `mkdir` in it does: the group's `make_group` makes the new group, which is then linked
//! under it; `rmdir` unlinks it and hands it to the parent's `drop_item`. A driver process keeps
//! the same tree, with the same C structures ([`crate::bindings::config_group`]...) and
//! functions, and shows it in two ways, as [`crate::debugfs`] does ([`crate::pseudofs`] serves
//! both):
//!
//! - **FUSE**: [`mount_for_module`] mounts the tree while the process runs (the runner does it for
//!   every driver process: `/run/drydock/configfs/MODULE.PID`, see [`mount_dir`]), where a shell
//!   uses it as `/sys/kernel/config`;
//! - **In process**: [`open`], [`read`], [`write`](fn@write), [`read_dir`], [`metadata`],
//!   [`mkdir`] and [`rmdir`] reach it by path through the same code: tests use them, and they work
//!   without FUSE.
//!
//! The rules are the kernel's (`fs/configfs`):
//!
//! - `mkdir` works only in a group whose type has `make_group` (`EPERM` otherwise, and at the top,
//!   where the subsystems are); the new group is made under the subsystem's `su_mutex`, linked
//!   (it learns its parent and subsystem), and shown with its attributes and default groups; an
//!   error of `make_group` is `mkdir`'s;
//! - `rmdir` removes only what `mkdir` made (`EPERM` for a subsystem or a default group), and
//!   only if nothing made by `mkdir` is under it (`ENOTEMPTY`), its default groups going with it;
//!   the open files of its attributes then fail with `ENOENT`, after the callbacks running on them
//!   returned; the group is unlinked and given to the parent's `drop_item` (or its reference
//!   given back), and released when its last reference goes;
//! - attribute files are as `fs/configfs/file.c` makes them (see [`OpenAttr`]): `show` fills a
//!   page of [`SIMPLE_ATTR_SIZE`] bytes at the first read of an open file, a write hands at most
//!   4095 bytes to `store`; opening for writing an attribute without `store` or write permission
//!   fails with `EACCES`, and so does opening for reading one without `show`;
//! - a subsystem whose name is taken is not registered (`EEXIST`).
//!
//! What differs: the files belong to the process's user; entries are listed by name; a
//! subsystem unregistered while users' items are in it (in the kernel the module that owns it
//! cannot be unloaded then) first has them removed, deepest first, as `rmdir` would, with a
//! warning. Not implemented: items that are not groups (`make_item`), symbolic links,
//! `disconnect_notify`, `is_visible`, binary attributes, `configfs_register_group()` and
//! `configfs_depend_item()`.

mod file;
mod item;
#[cfg(test)]
mod tests;

pub use crate::pseudofs::{Metadata, Mount, MountError};
pub use file::{OpenAttr, SIMPLE_ATTR_SIZE};
pub use item::{
    config_group_init, config_group_init_type_name, config_item_get, config_item_put,
    config_item_set_name, configfs_add_default_group, configfs_remove_default_groups,
};

use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};

use crate::bindings::{config_group, config_item, configfs_attribute, configfs_subsystem, mutex};
use crate::errno::Errno;
use crate::print::{printk, Level};
use crate::pseudofs::{self, Access, Attr, Kind, Node, Nodes, ROOT};
use file::Fragment;
use item::{default_groups, link_group, unlink_group, ROOT_GROUP};

/// The environment variable that chooses where a driver process mounts its configfs tree: a
/// directory, or `off` for no mount.
pub const MOUNT_ENV: &str = "DRYDOCK_CONFIGFS";

/// The longest name of an entry (`NAME_MAX`).
const NAME_MAX: usize = 255;

/// How a directory came to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// The top, where subsystems are.
    Root,
    /// A registered subsystem.
    Subsystem,
    /// Made by `mkdir`.
    Made,
    /// A default group, made with its parent.
    Default,
}

/// What the tree keeps with a directory: its group.
struct Dir {
    /// The group's item (null for the root).
    item: *mut config_item,
    origin: Origin,
    frag: Arc<Fragment>,
}

/// An attribute file of its directory's item.
struct AttrFile {
    item: *mut config_item,
    attr: *const configfs_attribute,
    frag: Arc<Fragment>,
}

/// The process's configfs tree.
///
/// # Invariants
///
/// A directory's item (but the root's) is a linked group's item: the link holds a reference on it,
/// so it is valid while the directory is in the tree. An attribute's `attr` is one of the
/// attributes of its item's type, valid while the item is.
struct Tree(Nodes<Dir, AttrFile>);

// SAFETY: the items and attributes the tree points to are only used under the rules above, by the
// callbacks of their types, which may be called from any thread, as the kernel calls them.
unsafe impl Send for Tree {}

impl Deref for Tree {
    type Target = Nodes<Dir, AttrFile>;

    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

static TREE: LazyLock<Mutex<Tree>> = LazyLock::new(|| {
    let root = Dir {
        item: core::ptr::null_mut(),
        origin: Origin::Root,
        frag: Arc::default(),
    };
    // INVARIANT: the root's item is null.
    Mutex::new(Tree(Nodes::new(root)))
});

fn tree() -> MutexGuard<'static, Tree> {
    TREE.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Serialises the changes of the hierarchy (registering, `mkdir`, `rmdir`), as the kernel's
/// directory locks do; taken before [`TREE`], and held while `make_group`, `drop_item` and
/// `release` run (the tree's lock is not).
static HIERARCHY: Mutex<()> = Mutex::new(());

fn hierarchy() -> MutexGuard<'static, ()> {
    HIERARCHY.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A subsystem's `su_mutex`, held (unlocked when dropped, also by a panicking callback).
struct SubsystemLock<'a>(&'a mutex);

impl<'a> SubsystemLock<'a> {
    /// Locks the `su_mutex` of `subsys`.
    ///
    /// # Safety
    ///
    /// `subsys` must point to a registered subsystem, which outlives the lock.
    unsafe fn new(subsys: *mut configfs_subsystem) -> Self {
        // SAFETY: `subsys` is valid for `'a` (safety requirements).
        let lock = unsafe { &(*subsys).su_mutex };
        lock.lock();
        Self(lock)
    }
}

impl Drop for SubsystemLock<'_> {
    fn drop(&mut self) {
        self.0.unlock();
    }
}

/// What `stat()` shows of an entry: a directory has mode `0o755`, an attribute file its
/// attribute's mode and the size of a page.
fn stat(_number: u64, node: &Node<Dir, AttrFile>) -> (Metadata, u64) {
    match &node.kind {
        Kind::Dir { .. } => {
            let metadata = Metadata {
                is_dir: true,
                mode: 0o755,
            };
            (metadata, 0)
        }
        Kind::File(file) => {
            // SAFETY: an attribute in the tree is valid (`Tree`'s invariant).
            let mode = unsafe { (*file.attr).ca_mode } & 0o7777;
            let metadata = Metadata {
                is_dir: false,
                mode,
            };
            (metadata, SIMPLE_ATTR_SIZE as u64)
        }
    }
}

impl Tree {
    /// The data of directory `number`.
    fn group(&self, number: u64) -> Result<&Dir, Errno> {
        self.dir(number).map(|(_, dir)| dir)
    }

    /// Shows linked `group` as directory `name` of `parent` (`configfs_attach_group()`): with a
    /// file per attribute of its type and, recursively, its default groups, all sharing `frag`.
    /// On an error (a name taken) nothing is left in the tree.
    ///
    /// # Safety
    ///
    /// `group` must be linked, its type and default groups valid.
    unsafe fn attach(
        &mut self,
        parent: u64,
        name: &CStr,
        group: *mut config_group,
        origin: Origin,
        frag: &Arc<Fragment>,
    ) -> Result<u64, Errno> {
        // SAFETY: `group` is valid (safety requirements).
        let item = unsafe { &raw mut (*group).cg_item };
        let dir = Kind::Dir {
            entries: BTreeMap::new(),
            data: Dir {
                item,
                origin,
                frag: frag.clone(),
            },
        };
        // INVARIANT: `group` is linked (safety requirements).
        let number = self.0.add(parent, name, dir)?;
        // SAFETY: the group is valid (safety requirements).
        unsafe { (*item).ci_dentry = number };
        // SAFETY: the group's type, its attributes and default groups are valid (safety
        // requirements).
        let filled = unsafe { self.populate(number, group, frag) };
        if filled.is_err() {
            self.detach(number);
        }
        filled.map(|()| number)
    }

    /// Adds the attributes and default groups of `group` to its directory `number`.
    ///
    /// # Safety
    ///
    /// As for [`Tree::attach`].
    unsafe fn populate(
        &mut self,
        number: u64,
        group: *mut config_group,
        frag: &Arc<Fragment>,
    ) -> Result<(), Errno> {
        // SAFETY: the group, its type and attributes are valid (safety requirements).
        unsafe {
            let item = &raw mut (*group).cg_item;
            let ty = (*item).ci_type.as_ref().ok_or(Errno::EINVAL)?;
            let mut attrs = ty.ct_attrs;
            while !attrs.is_null() && !(*attrs).is_null() {
                let attr = *attrs;
                let file = AttrFile {
                    item,
                    attr,
                    frag: frag.clone(),
                };
                // INVARIANT: `attr` is an attribute of the item's type.
                self.0
                    .add(number, CStr::from_ptr((*attr).ca_name), Kind::File(file))?;
                attrs = attrs.add(1);
            }
            for child in default_groups(group) {
                let name = CStr::from_ptr(item_name(&raw mut (*child).cg_item)).to_owned();
                self.attach(number, &name, child, Origin::Default, frag)?;
            }
        }
        Ok(())
    }

    /// Takes directory `number` out of the tree, with everything under it.
    fn detach(&mut self, number: u64) {
        for node in self.0.remove(number) {
            if let Kind::Dir { data, .. } = node.kind {
                // SAFETY: the directory was in the tree, so its item is valid (invariant).
                unsafe { (*data.item).ci_dentry = 0 };
            }
        }
    }

    /// Whether directory `number` may go (`configfs_detach_prep()`): `ENOTEMPTY` if a directory
    /// made by `mkdir` is under it, directly or in its default groups.
    fn detach_prep(&self, number: u64) -> Result<(), Errno> {
        for &child in self.dir(number)?.0.values() {
            match self.group(child).map(|dir| dir.origin) {
                Ok(Origin::Made) => return Err(Errno::ENOTEMPTY),
                Ok(Origin::Default) => self.detach_prep(child)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// The directories made by `mkdir` under directory `number`, the deepest first.
    fn made_under(&self, number: u64, made: &mut Vec<u64>) {
        if let Ok((entries, _)) = self.dir(number) {
            for &child in entries.values() {
                self.made_under(child, made);
                if self
                    .group(child)
                    .is_ok_and(|dir| dir.origin == Origin::Made)
                {
                    made.push(child);
                }
            }
        }
    }
}

/// The name of `item`: `ci_name`, or its buffer if that is null.
///
/// # Safety
///
/// `item` must be valid.
unsafe fn item_name(item: *mut config_item) -> *mut core::ffi::c_char {
    // SAFETY: `item` is valid (safety requirements).
    unsafe {
        if (*item).ci_name.is_null() {
            (*item).ci_name = (*item).ci_namebuf.as_mut_ptr();
        }
        (*item).ci_name
    }
}

/// Registers `subsys`: its group, its attributes and default groups appear as a directory of the
/// tree's top, named after the group (`configfs_register_subsystem()`). `EEXIST` if a subsystem
/// of that name is registered.
///
/// # Safety
///
/// `subsys` must point to a subsystem whose group was set up by
/// [`config_group_init_type_name`] (with its default groups, if any); it, its type, attributes and
/// default groups must stay valid, and the subsystem pinned, until
/// [`configfs_unregister_subsystem`] returned. The type's callbacks may be called from any thread
/// until then.
pub unsafe fn configfs_register_subsystem(subsys: *mut configfs_subsystem) -> Result<(), Errno> {
    let _hierarchy = hierarchy();
    // SAFETY: `subsys` is valid (safety requirements).
    let group = unsafe { &raw mut (*subsys).su_group };
    // SAFETY: the group is valid and not linked; the root is linked.
    unsafe { link_group(ROOT_GROUP.get(), group) };
    // SAFETY: as above.
    let name = unsafe { CStr::from_ptr(item_name(&raw mut (*group).cg_item)) }.to_owned();
    // SAFETY: the group is linked, its type and default groups valid (safety requirements).
    let attached = unsafe { tree().attach(ROOT, &name, group, Origin::Subsystem, &Arc::default()) };
    attached.map(drop).inspect_err(|_| {
        // SAFETY: linked above.
        unsafe { unlink_group(group) }
    })
}

/// Unregisters `subsys` (`configfs_unregister_subsystem()`): its directory goes, once the
/// callbacks running on its attributes returned. What users made in it is removed first, deepest
/// first, as `rmdir` would, with a warning (in the kernel, the module could not be unloaded).
///
/// # Safety
///
/// `subsys` must have been registered with [`configfs_register_subsystem`] and not unregistered
/// since.
pub unsafe fn configfs_unregister_subsystem(subsys: *mut configfs_subsystem) {
    let _hierarchy = hierarchy();
    // SAFETY: `subsys` is registered, so valid (safety requirements).
    let (group, item, number) = unsafe {
        let group = &raw mut (*subsys).su_group;
        let item = &raw mut (*group).cg_item;
        (group, item, (*item).ci_dentry)
    };
    let (made, frag) = {
        let tree = tree();
        let frag = match tree.group(number) {
            Ok(dir) if dir.origin == Origin::Subsystem && dir.item == item => dir.frag.clone(),
            _ => {
                printk(
                    Level::Err,
                    "configfs",
                    Some("configfs"),
                    format_args!("Tried to unregister non-subsystem!"),
                );
                return;
            }
        };
        let mut made = Vec::new();
        tree.made_under(number, &mut made);
        (made, frag)
    };
    if !made.is_empty() {
        printk(
            Level::Warning,
            "configfs",
            Some("configfs"),
            format_args!(
                "unregistering subsystem '{}' with {} item(s) users made: removing them",
                // SAFETY: the group is valid and named.
                unsafe { CStr::from_ptr(item_name(item)) }.to_string_lossy(),
                made.len()
            ),
        );
    }
    for number in made {
        // SAFETY: the hierarchy's lock is held; `number` is a directory `mkdir` made, and nothing
        // is under it but its default groups: what users made under it came earlier.
        unsafe { remove_made(number) };
    }
    frag.kill();
    tree().detach(number);
    // SAFETY: linked by `configfs_register_subsystem`.
    unsafe { unlink_group(group) };
}

/// Removes directory `number`, which `mkdir` made and under which there is nothing `mkdir` made
/// (`configfs_rmdir()` once allowed): its fragment dies (after the running callbacks returned), it
/// leaves the tree, its group is unlinked and given to the parent's `drop_item` (or its creation
/// reference given back).
///
/// # Safety
///
/// The caller holds [`HIERARCHY`]; `number` must be such a directory.
unsafe fn remove_made(number: u64) {
    let (item, frag) = {
        let tree = tree();
        let Ok(dir) = tree.group(number) else {
            return;
        };
        (dir.item, dir.frag.clone())
    };
    frag.kill();
    // SAFETY: the directory is in the tree, so its item is linked and valid (`Tree`'s invariant);
    // a working reference keeps it so until the end.
    unsafe {
        config_item_get(item);
        tree().detach(number);
        let parent = (*item).ci_group;
        let subsys = (*parent).cg_subsys;
        {
            let _subsys = SubsystemLock::new(subsys);
            unlink_group(item.cast::<config_group>());
            drop_item(parent, item);
        }
        config_item_put(item);
    }
}

/// Hands `item`, just unlinked from `parent`, to the parent's `drop_item`, which gives back the
/// reference `make_group` returned it with; without one, gives it back (`client_drop_item()`).
///
/// # Safety
///
/// `parent` must be linked; `item` must be valid, with its creation reference still held.
unsafe fn drop_item(parent: *mut config_group, item: *mut config_item) {
    // SAFETY: `parent` is valid, and so are its type and operations.
    let drop = unsafe {
        (*parent)
            .cg_item
            .ci_type
            .as_ref()
            .and_then(|ty| ty.ct_group_ops.as_ref())
            .and_then(|ops| ops.drop_item)
    };
    match drop {
        // SAFETY: as the callback expects (safety requirements).
        Some(drop) => unsafe { drop(parent, item) },
        // SAFETY: the creation reference is held (safety requirements).
        None => unsafe { config_item_put(item) },
    }
}

/// `mkdir NAME` in directory `parent` (`configfs_mkdir()`).
fn make(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
    if name == b"." || name == b".." {
        return Err(Errno::EEXIST);
    }
    if name.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    let name = CString::new(name).map_err(|_| Errno::EINVAL)?;
    let _hierarchy = hierarchy();
    let item = {
        let tree = tree();
        let (entries, dir) = tree.dir(parent)?;
        if entries.contains_key(&name) {
            return Err(Errno::EEXIST);
        }
        if dir.origin == Origin::Root {
            return Err(Errno::EPERM);
        }
        dir.item
    };
    let parent_group = item.cast::<config_group>();
    // SAFETY: the directory is in the tree, so its group is linked and valid (`Tree`'s invariant),
    // and so are its type and operations.
    let make_group = unsafe {
        (*item)
            .ci_type
            .as_ref()
            .and_then(|ty| ty.ct_group_ops.as_ref())
            .and_then(|ops| ops.make_group)
    }
    .ok_or(Errno::EPERM)?;
    // SAFETY: a linked group knows its subsystem, which is registered.
    let subsys = unsafe { (*parent_group).cg_subsys };
    let group = {
        // SAFETY: registered, as above.
        let _subsys = unsafe { SubsystemLock::new(subsys) };
        // SAFETY: the parent is linked, `name` a C string.
        let group = Errno::from_err_ptr(unsafe { make_group(parent_group, name.as_ptr()) })?;
        // SAFETY: `make_group` returned a group set up for linking, and the parent is linked.
        unsafe { link_group(parent_group, group) };
        group
    };
    // SAFETY: linked above; its type, attributes and default groups are the driver's, valid.
    let attached = unsafe {
        if (*group).cg_item.ci_type.is_null() {
            Err(Errno::EINVAL)
        } else {
            tree().attach(parent, &name, group, Origin::Made, &Arc::default())
        }
    };
    match attached {
        Ok(number) => tree().attr(number, stat),
        Err(err) => {
            // SAFETY: linked above, with its creation reference still held.
            unsafe {
                let _subsys = SubsystemLock::new(subsys);
                unlink_group(group);
                drop_item(parent_group, &raw mut (*group).cg_item);
            }
            Err(err)
        }
    }
}

/// `rmdir NAME` in directory `parent` (`configfs_rmdir()`).
fn remove(parent: u64, name: &[u8]) -> Result<(), Errno> {
    let _hierarchy = hierarchy();
    let number = {
        let tree = tree();
        let number = tree.lookup(parent, name)?;
        match tree.group(number)?.origin {
            Origin::Made => tree.detach_prep(number)?,
            _ => return Err(Errno::EPERM),
        }
        number
    };
    // SAFETY: the hierarchy's lock is held; `number` was made by `mkdir` and has nothing made by
    // `mkdir` under it (`detach_prep`).
    unsafe { remove_made(number) };
    Ok(())
}

/// The process's configfs tree, as [`crate::pseudofs`] serves it: directories have mode `0o755`,
/// attribute files their attribute's mode, and a size of [`SIMPLE_ATTR_SIZE`].
pub struct Configfs;

impl pseudofs::Tree for Configfs {
    const NAME: &'static str = "configfs";
    const MOUNT_ENV: &'static str = MOUNT_ENV;
    type File = OpenAttr;

    fn attr(number: u64) -> Result<Attr, Errno> {
        tree().attr(number, stat)
    }

    fn lookup(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
        tree().lookup_attr(parent, name, stat)
    }

    fn entries(number: u64) -> Result<(u64, Vec<(CString, Attr)>), Errno> {
        tree().list(number, stat)
    }

    fn open(number: u64, access: Access) -> Result<OpenAttr, Errno> {
        let (item, attr, frag) = {
            let tree = tree();
            match &tree.get(number)?.kind {
                Kind::Dir { .. } => return Err(Errno::EISDIR),
                Kind::File(file) => (file.item, file.attr, file.frag.clone()),
            }
        };
        // SAFETY: the attribute was in the tree: its item is valid and `attr` one of its type's
        // attributes until the fragment dies, as the item is removed only after that.
        unsafe { OpenAttr::open(item, attr, frag, access) }
    }

    fn mkdir(parent: u64, name: &[u8]) -> Result<Attr, Errno> {
        make(parent, name)
    }

    fn rmdir(parent: u64, name: &[u8]) -> Result<(), Errno> {
        remove(parent, name)
    }
}

/// Opens the attribute file at `path` (relative to the tree's top, `SUBSYSTEM/GROUP/ATTR`) with
/// `access`.
pub fn open(path: &str, access: Access) -> Result<OpenAttr, Errno> {
    pseudofs::open::<Configfs>(path, access)
}

pseudofs::tree_functions!(Configfs);

/// Makes the group `path`, as `mkdir PATH` does.
pub fn mkdir(path: &str) -> Result<(), Errno> {
    pseudofs::mkdir::<Configfs>(path)
}

/// Removes the group `path`, as `rmdir PATH` does.
pub fn rmdir(path: &str) -> Result<(), Errno> {
    pseudofs::rmdir::<Configfs>(path)
}
