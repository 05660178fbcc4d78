//! The host's configfs with C-style groups: default groups (which the mirror does not offer),
//! reference counts and releases, `make_group` errors, names, and registration conflicts.
//!
//! Each test registers subsystems of its own names: the tree is the process's, shared by the
//! tests running in parallel.

use super::*;
use crate::bindings::{config_item_type, configfs_group_operations, configfs_item_operations};
use core::ffi::c_char;

/// What happened to a subsystem's groups, in order.
type Events = Arc<Mutex<Vec<String>>>;

/// A subsystem of the tests, with its events.
#[repr(C)]
struct TestSubsystem {
    subsys: configfs_subsystem,
    events: Events,
    /// Whether the groups `mkdir` makes get a default group `defaults`.
    with_defaults: bool,
}

/// A group of the tests.
#[repr(C)]
struct TestGroup {
    group: config_group,
    /// Its name, for the events (the item's own is freed before `release`).
    name: String,
    events: Events,
}

/// The events of the subsystem of linked `group`.
///
/// # Safety
///
/// `group` must be linked in a `TestSubsystem`.
unsafe fn events_of(group: *mut config_group) -> Events {
    // SAFETY: a linked group knows its subsystem, a `TestSubsystem` (safety requirements).
    unsafe { (*(*group).cg_subsys.cast::<TestSubsystem>()).events.clone() }
}

fn record(events: &Events, event: String) {
    events.lock().unwrap().push(event);
}

/// A `TestGroup` named `name` of type `ty`, with one reference.
fn new_group(name: &str, ty: &'static config_item_type, events: Events) -> *mut config_group {
    let group = Box::into_raw(Box::new(TestGroup {
        // SAFETY: all zeroes is a valid, unnamed group.
        group: unsafe { core::mem::zeroed() },
        name: name.to_owned(),
        events,
    }));
    let name = CString::new(name).unwrap();
    // SAFETY: the group is valid and zeroed, `ty` lives for ever.
    unsafe { config_group_init_type_name(&raw mut (*group).group, name.as_ptr(), ty) };
    group.cast()
}

/// `make_group` of the subsystem and of made groups: a group of the leaf type (in the
/// subsystem's directory, with a default group of the defaults type if the subsystem says so);
/// `bad` fails with `ENOSPC`, `null` returns null.
unsafe fn make_group(parent: *mut config_group, name: *const c_char) -> *mut config_group {
    // SAFETY: `name` is a C string, the parent linked in a `TestSubsystem`.
    let (name, subsystem) = unsafe {
        (
            CStr::from_ptr(name).to_str().unwrap(),
            &*(*parent).cg_subsys.cast::<TestSubsystem>(),
        )
    };
    match name {
        // CAST: an error pointer, as `ERR_PTR(-ENOSPC)`.
        "bad" => core::ptr::without_provenance_mut(Errno::ENOSPC.to_errno() as isize as usize),
        "null" => core::ptr::null_mut(),
        _ => {
            record(&subsystem.events, format!("make {name}"));
            let group = new_group(name, types().leaf, subsystem.events.clone());
            if subsystem.with_defaults
                && parent == (&raw const subsystem.subsys.su_group).cast_mut()
            {
                let defaults = new_group("defaults", types().defaults, subsystem.events.clone());
                // SAFETY: both valid; `group` not yet made.
                unsafe { configfs_add_default_group(defaults, group) };
            }
            group
        }
    }
}

/// `drop_item`: records it, and gives back the creation reference.
unsafe fn drop_item(parent: *mut config_group, item: *mut config_item) {
    // SAFETY: the item is a `TestGroup`'s, the parent linked in a `TestSubsystem`.
    unsafe {
        let name = &(*item.cast::<TestGroup>()).name;
        record(&events_of(parent), format!("drop {name}"));
        config_item_put(item);
    }
}

/// `release` of every `TestGroup`: records it, gives back its default groups, frees it.
unsafe fn release(item: *mut config_item) {
    // SAFETY: the item is a `TestGroup`'s, made by `new_group`, unused after this.
    let group = unsafe {
        configfs_remove_default_groups(item.cast());
        Box::from_raw(item.cast::<TestGroup>())
    };
    record(&group.events, format!("release {}", group.name));
}

/// Shows the name of the item's group.
unsafe fn show_name(item: *mut config_item, page: *mut c_char) -> isize {
    // SAFETY: the item is valid and named; `page` is a page.
    unsafe {
        let name = CStr::from_ptr((*item).ci_name).to_bytes();
        core::ptr::copy_nonoverlapping(name.as_ptr(), page.cast::<u8>(), name.len());
        name.len() as isize
    }
}

/// The item types of the tests.
struct Types {
    /// Subsystems: `mkdir` makes leaves.
    subsystem: &'static config_item_type,
    /// Made groups: a `name` attribute, and `mkdir` makes leaves.
    leaf: &'static config_item_type,
    /// Default groups: no attribute; `mkdir` makes leaves.
    defaults: &'static config_item_type,
    /// Without `make_group`.
    barren: &'static config_item_type,
}

// SAFETY: the types are never changed after they are made.
unsafe impl Sync for Types {}
// SAFETY: as above.
unsafe impl Send for Types {}

fn types() -> &'static Types {
    static TYPES: LazyLock<Types> = LazyLock::new(|| {
        let group_ops = Box::leak(Box::new(configfs_group_operations {
            make_group: Some(make_group),
            drop_item: Some(drop_item),
        }));
        let undropped_ops = Box::leak(Box::new(configfs_group_operations {
            make_group: Some(make_group),
            drop_item: None,
        }));
        let item_ops = Box::leak(Box::new(configfs_item_operations {
            release: Some(release),
        }));
        let name_attr = Box::leak(Box::new(configfs_attribute {
            ca_name: c"name".as_ptr(),
            ca_owner: core::ptr::null_mut(),
            ca_mode: 0o444,
            show: Some(show_name),
            store: None,
        }));
        let attrs: *mut *mut configfs_attribute =
            Box::leak(Box::new([name_attr, core::ptr::null_mut()])).as_mut_ptr();
        let ty = |group_ops: *const configfs_group_operations, with_attrs: bool| {
            &*Box::leak(Box::new(config_item_type {
                ct_owner: core::ptr::null_mut(),
                ct_item_ops: item_ops,
                ct_group_ops: group_ops,
                ct_attrs: if with_attrs {
                    attrs
                } else {
                    core::ptr::null_mut()
                },
            }))
        };
        Types {
            subsystem: ty(group_ops, false),
            leaf: ty(group_ops, true),
            defaults: ty(undropped_ops, false),
            barren: ty(core::ptr::null(), true),
        }
    });
    &TYPES
}

/// A registered test subsystem, unregistered when dropped.
struct Registered(Box<TestSubsystem>);

impl Registered {
    fn new(name: &str, ty: &'static config_item_type, with_defaults: bool) -> Result<Self, Errno> {
        let mut subsystem = Box::new(TestSubsystem {
            // SAFETY: all zeroes is a valid, unnamed, unlocked subsystem.
            subsys: unsafe { core::mem::zeroed() },
            events: Events::default(),
            with_defaults,
        });
        let name = CString::new(name).unwrap();
        // SAFETY: the subsystem is zeroed and boxed (it does not move); the types live for ever;
        // on success it is unregistered when `Registered` drops.
        unsafe {
            config_group_init_type_name(&raw mut subsystem.subsys.su_group, name.as_ptr(), ty);
            configfs_register_subsystem(&raw mut subsystem.subsys)?;
        }
        Ok(Self(subsystem))
    }

    fn take_events(&self) -> Vec<String> {
        std::mem::take(&mut self.0.events.lock().unwrap())
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        // SAFETY: registered by `new`.
        unsafe { configfs_unregister_subsystem(&raw mut self.0.subsys) };
    }
}

#[test]
fn default_groups_come_and_go_with_their_group_and_cannot_be_removed_alone() {
    let subsystem = Registered::new("host_defaults", types().subsystem, true).unwrap();
    mkdir("host_defaults/a").unwrap();
    assert_eq!(read_dir("host_defaults/a").unwrap(), ["defaults", "name"]);
    assert_eq!(read("host_defaults/a/name").unwrap(), b"a");
    assert!(metadata("host_defaults/a/defaults").unwrap().is_dir);
    assert_eq!(rmdir("host_defaults/a/defaults"), Err(Errno::EPERM));
    // What users make in a default group keeps its group from going.
    mkdir("host_defaults/a/defaults/b").unwrap();
    assert_eq!(rmdir("host_defaults/a"), Err(Errno::ENOTEMPTY));
    assert_eq!(read_dir("host_defaults/a").unwrap(), ["defaults", "name"]);
    rmdir("host_defaults/a/defaults/b").unwrap();
    // `defaults` has no `drop_item`: the creation reference of `b` is given back for it.
    assert_eq!(subsystem.take_events(), ["make a", "make b", "release b"]);
    rmdir("host_defaults/a").unwrap();
    // The group goes with its default group, which its release gives back.
    assert_eq!(
        subsystem.take_events(),
        ["drop a", "release defaults", "release a"]
    );
    assert_eq!(read_dir("host_defaults").unwrap(), Vec::<String>::new());
}

#[test]
fn an_item_is_released_when_its_last_reference_goes() {
    let subsystem = Registered::new("host_refs", types().subsystem, false).unwrap();
    mkdir("host_refs/held").unwrap();
    let item = {
        let tree = tree();
        let number = tree.lookup(ROOT, b"host_refs").unwrap();
        let number = tree.lookup(number, b"held").unwrap();
        tree.group(number).unwrap().item
    };
    // SAFETY: the item is linked, so valid; the reference is given back below.
    unsafe { config_item_get(item) };
    rmdir("host_refs/held").unwrap();
    assert_eq!(subsystem.take_events(), ["make held", "drop held"]);
    // SAFETY: the reference taken above.
    unsafe { config_item_put(item) };
    assert_eq!(subsystem.take_events(), ["release held"]);
}

#[test]
fn make_group_errors_fail_mkdir_and_where_there_is_none_mkdir_is_not_permitted() {
    let _subsystem = Registered::new("host_errors", types().subsystem, false).unwrap();
    assert_eq!(mkdir("host_errors/bad"), Err(Errno::ENOSPC));
    assert_eq!(mkdir("host_errors/null"), Err(Errno::ENOMEM));
    assert_eq!(read_dir("host_errors").unwrap(), Vec::<String>::new());
    // At the top, and in a group whose type makes nothing.
    assert_eq!(mkdir("host_errors_top"), Err(Errno::EPERM));
    let _barren = Registered::new("host_barren", types().barren, false).unwrap();
    assert_eq!(mkdir("host_barren/x"), Err(Errno::EPERM));
    assert_eq!(rmdir("host_barren"), Err(Errno::EPERM));
    assert_eq!(rmdir("host_barren/name"), Err(Errno::ENOTDIR));
}

#[test]
fn a_subsystem_name_is_taken_once() {
    let first = Registered::new("host_twice", types().subsystem, false).unwrap();
    assert_eq!(
        Registered::new("host_twice", types().barren, false).err(),
        Some(Errno::EEXIST)
    );
    mkdir("host_twice/still").unwrap();
    drop(first);
    assert_eq!(metadata("host_twice"), Err(Errno::ENOENT));
}

#[test]
fn long_names_are_kept_whole() {
    let name = "host_a_subsystem_name_longer_than_its_buffer";
    let _subsystem = Registered::new(name, types().subsystem, false).unwrap();
    let group = "a_group_name_longer_than_twenty_bytes";
    mkdir(&format!("{name}/{group}")).unwrap();
    assert_eq!(
        read(&format!("{name}/{group}/name")).unwrap(),
        group.as_bytes()
    );
}

#[test]
fn unregistering_removes_what_users_made_deepest_first() {
    let subsystem = Registered::new("host_leftovers", types().subsystem, true).unwrap();
    mkdir("host_leftovers/a").unwrap();
    mkdir("host_leftovers/a/defaults/b").unwrap();
    mkdir("host_leftovers/c").unwrap();
    let events = subsystem.0.events.clone();
    drop(subsystem);
    assert_eq!(
        *events.lock().unwrap(),
        [
            "make a",
            "make b",
            "make c",
            "release b",
            "drop a",
            "release defaults",
            "release a",
            "drop c",
            "release defaults",
            "release c",
        ]
    );
}
