//! configfs: objects that users make and configure from userspace, with `mkdir`, `echo >` and
//! `rmdir`.
//!
//! Mirrors `rust/kernel/configfs.rs` of Linux 7.3. A module embeds a [`Subsystem`], which appears
//! as a directory of configfs holding its attributes (files read with
//! [`AttributeOperations::show`] and written with [`AttributeOperations::store`]); if its data
//! implements [`GroupOperations`], `mkdir` in that directory makes a [`Group`] with
//! [`GroupOperations::make_group`], which can in turn have attributes and make groups of its own.
//! [`configfs_attrs!`] declares what a subsystem's or a group's directory holds.
//!
//! As upstream, every child of a group is a group, and there are no symbolic links, no
//! `disconnect_notify` and no default groups.
//!
//! Difference from the kernel: the tree is the process's (`drydock_host::configfs`), which the
//! runner mounts with FUSE while a driver process runs, at `/run/drydock/configfs/MODULE.PID` for
//! root (`$XDG_RUNTIME_DIR/drydock/configfs/MODULE.PID` otherwise; `DRYDOCK_CONFIGFS=DIR` chooses
//! another place, `DRYDOCK_CONFIGFS=off` none), where a shell uses it as `/sys/kernel/config`.
//! Tests reach it with `drydock_host::configfs::{read, write, mkdir, rmdir, read_dir}`. The rules
//! of `mkdir`, `rmdir` and attribute files are the kernel's (see `docs/porting.md`); a subsystem
//! dropped while users' groups are in it (when the kernel would refuse to unload the module)
//! removes them first, as `rmdir` would.
//!
//! # Examples
//!
//! A subsystem with a read-only attribute and a writable one, whose `mkdir` makes groups with an
//! attribute of their own:
//!
//! ```
//! use kernel::configfs::{self, configfs_attrs};
//! use kernel::page::PAGE_SIZE;
//! use kernel::prelude::*;
//! use kernel::sync::atomic::{Atomic, Relaxed};
//!
//! # // What `module!` declares in a driver crate.
//! # struct LocalModule;
//! # impl kernel::ModuleMetadata for LocalModule {
//! #     const NAME: &'static CStr = c"doc";
//! #     // SAFETY: a null pointer is the placeholder of a module that is not loaded.
//! #     const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
//! # }
//! #[pin_data]
//! struct Settings {
//!     level: Atomic<u32>,
//! }
//!
//! #[vtable]
//! impl configfs::AttributeOperations<0> for Settings {
//!     type Data = Settings;
//!
//!     fn show(_settings: &Settings, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
//!         page[..6].copy_from_slice(b"0.1.0\n");
//!         Ok(6)
//!     }
//! }
//!
//! #[vtable]
//! impl configfs::AttributeOperations<1> for Settings {
//!     type Data = Settings;
//!
//!     fn show(settings: &Settings, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
//!         let mut f = kernel::str::Formatter::new(page);
//!         core::fmt::Write::write_fmt(&mut f, fmt!("{}\n", settings.level.load(Relaxed)))?;
//!         Ok(f.bytes_written())
//!     }
//!
//!     fn store(settings: &Settings, page: &[u8]) -> Result {
//!         let text = core::str::from_utf8(page)?.trim();
//!         settings.level.store(text.parse().map_err(|_| EINVAL)?, Relaxed);
//!         Ok(())
//!     }
//! }
//!
//! #[pin_data]
//! struct Device {}
//!
//! #[vtable]
//! impl configfs::AttributeOperations<0> for Device {
//!     type Data = Device;
//!
//!     fn show(_device: &Device, page: &mut [u8; PAGE_SIZE]) -> Result<usize> {
//!         page[..3].copy_from_slice(b"on\n");
//!         Ok(3)
//!     }
//! }
//!
//! #[vtable]
//! impl configfs::GroupOperations for Settings {
//!     type Child = Device;
//!
//!     fn make_group(&self, name: &CStr) -> Result<impl PinInit<configfs::Group<Device>, Error>> {
//!         let item_type = configfs_attrs! {
//!             container: configfs::Group<Device>,
//!             data: Device,
//!             attributes: [power: 0],
//!         };
//!         Ok(configfs::Group::new(name.try_into()?, item_type, try_pin_init!(Device {})))
//!     }
//! }
//!
//! # fn main() -> Result {
//! let item_type = configfs_attrs! {
//!     container: configfs::Subsystem<Settings>,
//!     data: Settings,
//!     child: Device,
//!     attributes: [version: 0, level: 1],
//! };
//! let subsystem = KBox::pin_init(
//!     configfs::Subsystem::new(
//!         c"doc_settings",
//!         item_type,
//!         try_pin_init!(Settings { level: Atomic::new(3) }),
//!     ),
//!     GFP_KERNEL,
//! )?;
//!
//! // What `cat`, `echo >`, `mkdir` and `rmdir` do in `/sys/kernel/config/doc_settings`.
//! use drydock_host::configfs as tree;
//! assert_eq!(tree::read("doc_settings/level").unwrap(), b"3\n");
//! assert_eq!(tree::write("doc_settings/level", b"7\n"), Ok(2));
//! assert_eq!(tree::read("doc_settings/level").unwrap(), b"7\n");
//! tree::mkdir("doc_settings/dev0").unwrap();
//! assert_eq!(tree::read("doc_settings/dev0/power").unwrap(), b"on\n");
//! tree::rmdir("doc_settings/dev0").unwrap();
//! drop(subsystem);
//! assert!(tree::metadata("doc_settings").is_err());
//! # Ok(())
//! # }
//! ```

use crate::alloc::flags;
use crate::bindings;
use crate::container_of;
use crate::page::PAGE_SIZE;
use crate::prelude::*;
use crate::str::CString;
use crate::sync::{Arc, ArcBorrow};
use crate::types::Opaque;

use drydock_host::configfs as host;

use core::cell::UnsafeCell;
use core::marker::PhantomData;

// An attribute's `show` gets the host's page as a `[u8; PAGE_SIZE]`.
const _: () = assert!(PAGE_SIZE == host::SIMPLE_ATTR_SIZE);

/// A configfs subsystem: a directory at the top of configfs, with the attributes of its
/// [`ItemType`], and the groups `mkdir` makes in it if `Data` implements [`GroupOperations`].
///
/// Mirrors `kernel::configfs::Subsystem`: a module embeds one in its state; it is registered by
/// [`Subsystem::new`]'s initialiser and unregistered when dropped.
///
/// Difference from the kernel: dropping it while users' groups are in it removes them first, as
/// `rmdir` would (the kernel does not let the module go then), and a subsystem whose registration
/// failed logs `configfs: Tried to unregister non-subsystem!` when dropped.
///
/// # Invariants
///
/// Once initialised, `subsystem` is registered with the host, its group's type being an
/// `ItemType<Subsystem<Data>, Data>`, until the value is dropped.
#[pin_data(PinnedDrop)]
pub struct Subsystem<Data> {
    #[pin]
    subsystem: Opaque<bindings::configfs_subsystem>,
    #[pin]
    data: Data,
}

// SAFETY: `Subsystem` has no methods; the host reaches `data` only through `&Data` in the
// callbacks, as the kernel does, from any thread.
unsafe impl<Data> Sync for Subsystem<Data> {}

// SAFETY: the registration belongs to the value, wherever it is dropped.
unsafe impl<Data> Send for Subsystem<Data> {}

impl<Data> Subsystem<Data> {
    /// Returns an initialiser that registers a subsystem named `name`, whose directory holds the
    /// attributes of `item_type`, with `data` as its data.
    ///
    /// Fails with `EEXIST` if a subsystem of that name is registered.
    pub fn new(
        name: &'static CStr,
        item_type: &'static ItemType<Subsystem<Data>, Data>,
        data: impl PinInit<Data, Error>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            subsystem <- Opaque::ffi_init(|place: *mut bindings::configfs_subsystem| {
                // SAFETY: `place` is valid for writes; zeroed, the subsystem is unnamed and its
                // lock unlocked; `name` is a C string and `item_type` lives for ever.
                unsafe {
                    place.write_bytes(0, 1);
                    host::config_group_init_type_name(
                        &raw mut (*place).su_group,
                        name.as_char_ptr(),
                        item_type.as_ptr(),
                    )
                }
            }),
            data <- data,
        })
        .pin_chain(|this| {
            // SAFETY: the subsystem was set up above; it is pinned, and unregistered when dropped
            // (`PinnedDrop`), before `data` and the subsystem's memory go; its type's callbacks
            // reach `data` as the `Data` of a `Subsystem<Data>`, which it is.
            unsafe { host::configfs_register_subsystem(this.subsystem.get()) }.map_err(Error::from)
        })
    }
}

#[pinned_drop]
impl<Data> PinnedDrop for Subsystem<Data> {
    fn drop(self: Pin<&mut Self>) {
        // SAFETY: registered by the initialiser (type invariant); after this the host does not
        // reach the subsystem or its data.
        unsafe { host::configfs_unregister_subsystem(self.subsystem.get()) };
    }
}

/// A type that embeds a `bindings::config_group`, whose address leads to it and back.
///
/// Mirrors `kernel::configfs::HasGroup`; implemented by [`Subsystem`] and [`Group`], and not
/// meant to be implemented by drivers.
///
/// # Safety
///
/// Implementers must embed a `bindings::config_group`, and the methods must return the addresses
/// their documentation names.
pub unsafe trait HasGroup<Data> {
    /// Returns the address of the `bindings::config_group` embedded in `*this`.
    ///
    /// # Safety
    ///
    /// `this` must point to an allocation at least as large as `Self`.
    unsafe fn group(this: *const Self) -> *const bindings::config_group;

    /// Returns the address of the `Self` that embeds the `bindings::config_group` at `group`.
    ///
    /// # Safety
    ///
    /// `group` must point to the `bindings::config_group` embedded in a `Self`.
    unsafe fn container_of(group: *const bindings::config_group) -> *const Self;
}

// SAFETY: the group is the `su_group` of the `bindings::configfs_subsystem` in `subsystem`.
unsafe impl<Data> HasGroup<Data> for Subsystem<Data> {
    unsafe fn group(this: *const Self) -> *const bindings::config_group {
        // SAFETY: the projections stay inside `*this` (safety requirements).
        unsafe { &raw const (*Opaque::cast_into(&raw const (*this).subsystem)).su_group }
    }

    unsafe fn container_of(group: *const bindings::config_group) -> *const Self {
        // SAFETY: `group` is the `su_group` of a `configfs_subsystem` that is the `subsystem` of a
        // `Subsystem<Data>` (safety requirements), whose `Opaque` holds it at its start.
        unsafe {
            let subsystem = container_of!(group, bindings::configfs_subsystem, su_group);
            let opaque = Opaque::cast_from(subsystem);
            container_of!(opaque, Self, subsystem)
        }
    }
}

/// A configfs group: a directory that `mkdir` made in a [`Subsystem`]'s or a [`Group`]'s
/// directory, with the attributes of its [`ItemType`].
///
/// Mirrors `kernel::configfs::Group`. [`GroupOperations::make_group`] returns an initialiser of
/// one, which configfs keeps (in an [`Arc`]) until `rmdir` removes the directory and the last
/// reference goes.
#[pin_data]
pub struct Group<Data> {
    #[pin]
    group: Opaque<bindings::config_group>,
    #[pin]
    data: Data,
}

impl<Data> Group<Data> {
    /// Returns an initialiser of a group named `name` (which configfs shows under the name
    /// `mkdir` was given), whose directory holds the attributes of `item_type`, with `data` as its
    /// data.
    pub fn new(
        name: CString,
        item_type: &'static ItemType<Group<Data>, Data>,
        data: impl PinInit<Data, Error>,
    ) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            group <- Opaque::ffi_init(|place: *mut bindings::config_group| {
                // SAFETY: `place` is valid for writes; zeroed, the group is unnamed; the host
                // copies the name; `item_type` lives for ever.
                unsafe {
                    place.write_bytes(0, 1);
                    host::config_group_init_type_name(place, name.as_char_ptr(), item_type.as_ptr())
                }
            }),
            data <- data,
        })
    }
}

// SAFETY: the group is the one in `group`.
unsafe impl<Data> HasGroup<Data> for Group<Data> {
    unsafe fn group(this: *const Self) -> *const bindings::config_group {
        // SAFETY: the projection stays inside `*this` (safety requirements).
        Opaque::cast_into(unsafe { &raw const (*this).group })
    }

    unsafe fn container_of(group: *const bindings::config_group) -> *const Self {
        let opaque = Opaque::cast_from(group);
        // SAFETY: `group` is the group in the `group` field of a `Group<Data>` (safety
        // requirements), whose `Opaque` holds it at its start.
        unsafe { container_of!(opaque, Self, group) }
    }
}

/// Returns the data of the [`Subsystem<Parent>`] or [`Group<Parent>`] that embeds `group`.
///
/// A linked group knows its subsystem (`cg_subsys`), and the subsystem's own group is its
/// `su_group`: that tells the two apart.
///
/// # Safety
///
/// `group` must point to a linked group: the `su_group` of a `Subsystem<Parent>`'s subsystem, or
/// the group of a `Group<Parent>`; the data is borrowed for `'a`, during which it must live.
unsafe fn get_group_data<'a, Parent>(group: *mut bindings::config_group) -> &'a Parent {
    // SAFETY: `group` is valid and linked, so its subsystem is set and registered.
    let is_subsystem = unsafe {
        let subsystem = (*group).cg_subsys;
        !subsystem.is_null() && core::ptr::eq(group, &raw mut (*subsystem).su_group)
    };
    if is_subsystem {
        // SAFETY: `group` is then the group of a `Subsystem<Parent>` (safety requirements).
        unsafe { &(*Subsystem::<Parent>::container_of(group)).data }
    } else {
        // SAFETY: `group` is then the group of a `Group<Parent>` (safety requirements).
        unsafe { &(*Group::<Parent>::container_of(group)).data }
    }
}

/// The group operations of a `Parent` that makes `Child` groups: the callbacks the host calls on
/// `mkdir` and `rmdir`.
struct GroupOperationsVTable<Parent, Child>(PhantomData<(Parent, Child)>);

impl<Parent, Child> GroupOperationsVTable<Parent, Child>
where
    Parent: GroupOperations<Child = Child>,
    Child: 'static,
{
    /// `mkdir NAME` in the directory of `this`: makes the `Group<Child>` that `Parent` makes, in
    /// an [`Arc`] whose reference the host owns from then on; an error pointer for an error.
    ///
    /// # Safety
    ///
    /// `this` must point to a linked group of a [`Subsystem<Parent>`] or a [`Group<Parent>`];
    /// `name` to a C string.
    unsafe fn make_group(
        this: *mut bindings::config_group,
        name: *const c_char,
    ) -> *mut bindings::config_group {
        // SAFETY: by the safety requirements.
        let parent = unsafe { get_group_data::<Parent>(this) };
        // SAFETY: `name` is a C string (safety requirements), which outlives the call.
        let name = unsafe { CStr::from_char_ptr(name) };
        let made = Parent::make_group(parent, name).and_then(|init| {
            <Arc<Group<Child>> as InPlaceInit<Group<Child>>>::try_pin_init(init, flags::GFP_KERNEL)
        });
        match made {
            // SAFETY: the pointer is to the `Group<Child>` in the `Arc`, which its reference,
            // now the host's, keeps; `release` takes it back.
            Ok(group) => unsafe { Group::<Child>::group(group.into_raw()) }.cast_mut(),
            Err(err) => err.to_ptr(),
        }
    }

    /// `rmdir` of `item`, a child of `this` just unlinked: lets `Parent` see it go
    /// ([`GroupOperations::drop_item`]), then gives back the reference [`Self::make_group`] gave
    /// the host.
    ///
    /// # Safety
    ///
    /// `this` as for [`Self::make_group`]; `item` must point to the item of the group of a
    /// `Group<Child>` that [`Self::make_group`] made, whose reference the host gives up.
    unsafe fn drop_item(this: *mut bindings::config_group, item: *mut bindings::config_item) {
        // SAFETY: by the safety requirements.
        let parent = unsafe { get_group_data::<Parent>(this) };
        if Parent::HAS_DROP_ITEM {
            // SAFETY: `item` is the item of a group of a `Group<Child>` (safety requirements),
            // which is in an `Arc` `make_group` made; the reference is lent back below.
            let child = unsafe {
                let group = container_of!(item, bindings::config_group, cg_item);
                Arc::from_raw(Group::<Child>::container_of(group))
            };
            Parent::drop_item(parent, child.as_arc_borrow());
            let _ = child.into_raw();
        }
        // SAFETY: the host gives up its reference (safety requirements).
        unsafe { host::config_item_put(item) };
    }

    const VTABLE: bindings::configfs_group_operations = bindings::configfs_group_operations {
        make_group: Some(Self::make_group),
        drop_item: Some(Self::drop_item),
    };

    const fn vtable_ptr() -> *const bindings::configfs_group_operations {
        &Self::VTABLE
    }
}

/// The item operations of a `Container` ([`Subsystem`] or [`Group`]) of `Data`.
struct ItemOperationsVTable<Container, Data>(PhantomData<(Container, Data)>);

impl<Data: 'static> ItemOperationsVTable<Group<Data>, Data> {
    /// Frees the `Group<Data>` whose item's last reference went: drops the reference
    /// [`GroupOperationsVTable::make_group`] gave the host.
    ///
    /// # Safety
    ///
    /// `item` must point to the item of the group of a `Group<Data>` that `make_group` made, not
    /// used after this.
    unsafe fn release(item: *mut bindings::config_item) {
        // SAFETY: by the safety requirements, the group is in an `Arc` whose reference the host
        // owned and gives up.
        drop(unsafe {
            let group = container_of!(item, bindings::config_group, cg_item);
            Arc::from_raw(Group::<Data>::container_of(group))
        });
    }

    const VTABLE: bindings::configfs_item_operations = bindings::configfs_item_operations {
        release: Some(Self::release),
    };

    const fn vtable_ptr() -> *const bindings::configfs_item_operations {
        &Self::VTABLE
    }
}

impl<Data> ItemOperationsVTable<Subsystem<Data>, Data> {
    // A subsystem is its module's, dropped with it.
    const VTABLE: bindings::configfs_item_operations =
        bindings::configfs_item_operations { release: None };

    const fn vtable_ptr() -> *const bindings::configfs_item_operations {
        &Self::VTABLE
    }
}

/// What `mkdir` and `rmdir` do in the directory of a [`Subsystem`] or [`Group`] whose data
/// implements it.
///
/// Mirrors `kernel::configfs::GroupOperations`. Implement it with `#[vtable]`, and name
/// [`GroupOperations::Child`] as `child` in [`configfs_attrs!`].
#[vtable]
pub trait GroupOperations {
    /// The data of the groups `mkdir` makes.
    type Child: 'static;

    /// Returns an initialiser of the group `mkdir NAME` makes (configfs calls it with the
    /// subsystem's lock held); an error fails the `mkdir` with it.
    fn make_group(&self, name: &CStr) -> Result<impl PinInit<Group<Self::Child>, Error>>;

    /// Called when `rmdir` removed the directory of `_child`, before configfs gives up its
    /// reference to the group ("drop" as in the C callback's name, not Rust's `Drop`).
    fn drop_item(&self, _child: ArcBorrow<'_, Group<Self::Child>>) {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// An attribute: a file named at compile time in the directory of a [`Subsystem`] or [`Group`]
/// of `Data`, read and written through `O`'s [`AttributeOperations<ID>`].
///
/// Mirrors `kernel::configfs::Attribute`; [`configfs_attrs!`] declares them. Its mode is `0o660`,
/// as upstream's.
#[repr(transparent)]
pub struct Attribute<const ID: u64, O, Data> {
    attribute: Opaque<bindings::configfs_attribute>,
    _p: PhantomData<(O, Data)>,
}

// SAFETY: an `Attribute` is never changed after it is made; the host reads it from any thread.
unsafe impl<const ID: u64, O, Data> Sync for Attribute<ID, O, Data> {}

// SAFETY: as above.
unsafe impl<const ID: u64, O, Data> Send for Attribute<ID, O, Data> {}

impl<const ID: u64, O, Data> Attribute<ID, O, Data>
where
    O: AttributeOperations<ID, Data = Data>,
{
    /// `cat`: shows the attribute of the group of `item` into `page`; returns the length shown,
    /// or a negative errno.
    ///
    /// # Safety
    ///
    /// `item` must point to the item of a linked group of a `Subsystem<Data>` or `Group<Data>`
    /// whose type has this attribute; `page` must be valid for writes of [`PAGE_SIZE`] bytes.
    unsafe fn show(item: *mut bindings::config_item, page: *mut c_char) -> isize {
        // SAFETY: `item` is the item of a linked group of the right kind (safety requirements),
        // and `page` a page of ours.
        let (data, page) = unsafe {
            let group = container_of!(item, bindings::config_group, cg_item);
            (
                get_group_data::<Data>(group),
                &mut *page.cast::<[u8; PAGE_SIZE]>(),
            )
        };
        match O::show(data, page) {
            Ok(len) => isize::try_from(len).unwrap_or(isize::MAX),
            Err(err) => err.to_errno() as isize,
        }
    }

    /// `echo >`: stores the `size` bytes at `page` in the attribute of the group of `item`;
    /// returns `size`, or a negative errno.
    ///
    /// # Safety
    ///
    /// `item` as for [`Self::show`]; `page` must be valid for reads of `size` bytes.
    unsafe fn store(item: *mut bindings::config_item, page: *const c_char, size: usize) -> isize {
        // SAFETY: `item` is the item of a linked group of the right kind, `page` holds `size`
        // bytes (safety requirements).
        let (data, page) = unsafe {
            let group = container_of!(item, bindings::config_group, cg_item);
            (
                get_group_data::<Data>(group),
                core::slice::from_raw_parts(page.cast::<u8>(), size),
            )
        };
        match O::store(data, page) {
            // CAST: the host hands `store` at most a page.
            Ok(()) => size as isize,
            Err(err) => err.to_errno() as isize,
        }
    }

    /// Returns an attribute whose file is named `name`.
    pub const fn new(name: &'static CStr) -> Self {
        Self {
            attribute: Opaque::new(bindings::configfs_attribute {
                ca_name: crate::str::as_char_ptr_in_const_context(name),
                ca_owner: core::ptr::null_mut(),
                ca_mode: 0o660,
                show: Some(Self::show),
                store: if O::HAS_STORE {
                    Some(Self::store)
                } else {
                    None
                },
            }),
            _p: PhantomData,
        }
    }
}

/// How the attribute numbered `ID` of a `Data` is read and written.
///
/// Mirrors `kernel::configfs::AttributeOperations`. Implement it with `#[vtable]` on the `Data` of
/// a [`Subsystem`] or [`Group`], once per attribute, `ID` being the number [`configfs_attrs!`]
/// gives the attribute. Without [`AttributeOperations::store`], writing the file fails with
/// `EACCES` (at the open, as configfs does).
#[vtable]
pub trait AttributeOperations<const ID: u64 = 0> {
    /// The data the attribute belongs to.
    type Data;

    /// Writes what the attribute shows into `page` and returns its length (at most a page;
    /// more fails the read with `EIO`).
    fn show(data: &Self::Data, page: &mut [u8; PAGE_SIZE]) -> Result<usize>;

    /// Takes what was written to the file (at most `PAGE_SIZE - 1` bytes of each write, as
    /// configfs hands them).
    fn store(_data: &Self::Data, _page: &[u8]) -> Result {
        build_error!(crate::error::VTABLE_DEFAULT_ERROR)
    }
}

/// The attributes of an [`ItemType`]: a null-terminated array of `N - 1` attributes of `Data`.
///
/// Mirrors `kernel::configfs::AttributeList`; only [`configfs_attrs!`] makes them.
#[repr(transparent)]
pub struct AttributeList<const N: usize, Data>(
    /// Pointers to `Attribute`s, as the C array of `configfs_attribute` pointers; null after the
    /// last.
    UnsafeCell<[*mut c_void; N]>,
    PhantomData<Data>,
);

// SAFETY: only `add` changes the list, from one thread (its safety requirement).
unsafe impl<const N: usize, Data> Send for AttributeList<N, Data> {}

// SAFETY: as above; the host only reads it.
unsafe impl<const N: usize, Data> Sync for AttributeList<N, Data> {}

impl<const N: usize, Data> AttributeList<N, Data> {
    /// Returns an empty list.
    ///
    /// # Safety
    ///
    /// Only [`configfs_attrs!`] may call it.
    #[doc(hidden)]
    pub const unsafe fn new() -> Self {
        Self(UnsafeCell::new([core::ptr::null_mut(); N]), PhantomData)
    }

    /// Puts `attribute` at index `I`, which must leave the last slot null (checked at compile
    /// time).
    ///
    /// # Safety
    ///
    /// Nothing else may access the list during the call.
    #[doc(hidden)]
    pub const unsafe fn add<const I: usize, const ID: u64, O>(
        &'static self,
        attribute: &'static Attribute<ID, O, Data>,
    ) where
        O: AttributeOperations<ID, Data = Data>,
    {
        const { assert!(I < N - 1, "Invalid attribute index") };
        // SAFETY: nothing else accesses the list (safety requirements).
        unsafe { (*self.0.get())[I] = core::ptr::from_ref(attribute).cast_mut().cast() };
    }
}

/// What the directories of a kind of [`Subsystem`] or [`Group`] (`Container`) of `Data` have: its
/// attributes and, if `Data` implements [`GroupOperations`], what `mkdir` makes in it.
///
/// Mirrors `kernel::configfs::ItemType`; [`configfs_attrs!`] makes them.
#[pin_data]
pub struct ItemType<Container, Data> {
    #[pin]
    item_type: Opaque<bindings::config_item_type>,
    _p: PhantomData<(Container, Data)>,
}

// SAFETY: an `ItemType` is never changed after it is made; the host reads it from any thread.
unsafe impl<Container, Data> Sync for ItemType<Container, Data> {}

// SAFETY: as above.
unsafe impl<Container, Data> Send for ItemType<Container, Data> {}

/// The constructors of `ItemType<$container, Data>`, for a [`Subsystem`] or a [`Group`].
macro_rules! impl_item_type {
    ($container:ty) => {
        impl<Data> ItemType<$container, Data> {
            /// The type of directories in which `mkdir` makes `Child` groups.
            #[doc(hidden)]
            pub const fn new_with_child_ctor<const N: usize, Child>(
                owner: &'static ThisModule,
                attributes: &'static AttributeList<N, Data>,
            ) -> Self
            where
                Data: GroupOperations<Child = Child>,
                Child: 'static,
            {
                Self::with_group_ops(
                    owner,
                    attributes,
                    GroupOperationsVTable::<Data, Child>::vtable_ptr(),
                )
            }

            /// The type of directories in which `mkdir` fails (`EPERM`).
            #[doc(hidden)]
            pub const fn new<const N: usize>(
                owner: &'static ThisModule,
                attributes: &'static AttributeList<N, Data>,
            ) -> Self {
                Self::with_group_ops(owner, attributes, core::ptr::null())
            }

            const fn with_group_ops<const N: usize>(
                owner: &'static ThisModule,
                attributes: &'static AttributeList<N, Data>,
                group_ops: *const bindings::configfs_group_operations,
            ) -> Self {
                Self {
                    item_type: Opaque::new(bindings::config_item_type {
                        ct_owner: owner.as_ptr(),
                        ct_item_ops: ItemOperationsVTable::<$container, Data>::vtable_ptr(),
                        ct_group_ops: group_ops,
                        ct_attrs: core::ptr::from_ref(attributes).cast_mut().cast(),
                    }),
                    _p: PhantomData,
                }
            }
        }
    };
}

impl_item_type!(Subsystem<Data>);
impl_item_type!(Group<Data>);

impl<Container, Data> ItemType<Container, Data> {
    fn as_ptr(&self) -> *const bindings::config_item_type {
        self.item_type.get()
    }
}

/// Declares, in static memory, the attributes of a [`Subsystem`] or [`Group`] and what `mkdir`
/// makes in its directory; evaluates to the `&'static` [`ItemType`] that [`Subsystem::new`] or
/// [`Group::new`] takes.
///
/// Mirrors `kernel::configfs_attrs!`, with the same syntax:
///
/// ```ignore
/// configfs_attrs! {
///     container: configfs::Subsystem<Configuration>, // or `configfs::Group<...>`
///     data: Configuration,
///     child: Child,               // optional: the `GroupOperations::Child` of `Configuration`
///     attributes: [
///         message: 0,             // a file `message`, served by `AttributeOperations<0>`
///         bar: 1,
///     ],
/// }
/// ```
///
/// Without `child`, `mkdir` in the directory fails with `EPERM`. The crate must declare its
/// module (`module!`), whose `THIS_MODULE` the type names as its owner.
#[allow(clippy::crate_in_macro_def)]
#[macro_export]
macro_rules! configfs_attrs {
    (
        container: $container:ty,
        data: $data:ty,
        attributes: [$($name:ident: $attr:literal),* $(,)?] $(,)?
    ) => {
        $crate::configfs_attrs!(@type $container, $data, (new::<N>), [$($name: $attr),*])
    };
    (
        container: $container:ty,
        data: $data:ty,
        child: $child:ty,
        attributes: [$($name:ident: $attr:literal),* $(,)?] $(,)?
    ) => {
        $crate::configfs_attrs!(
            @type $container, $data, (new_with_child_ctor::<N, $child>), [$($name: $attr),*]
        )
    };
    (@type $container:ty, $data:ty, ($($ctor:tt)*), [$($name:ident: $attr:literal),*]) => {{
        // The attributes and a null pointer after them.
        const N: usize = [$(::core::stringify!($name)),*].len() + 1;
        // SAFETY: made by `configfs_attrs!`.
        static ATTRIBUTES: $crate::configfs::AttributeList<N, $data> =
            unsafe { $crate::configfs::AttributeList::new() };
        $crate::configfs_attrs!(@add ATTRIBUTES, $data, 0usize, [$($name: $attr),*]);
        static ITEM_TYPE: $crate::configfs::ItemType<$container, $data> =
            $crate::configfs::ItemType::<$container, $data>::$($ctor)*(
                $crate::module::this_module::<crate::LocalModule>(),
                &ATTRIBUTES,
            );
        &ITEM_TYPE
    }};
    (@add $list:ident, $data:ty, $index:expr, []) => {};
    (
        @add $list:ident, $data:ty, $index:expr,
        [$name:ident: $attr:literal $(, $rest:ident: $rest_attr:literal)*]
    ) => {
        {
            static ATTRIBUTE: $crate::configfs::Attribute<$attr, $data, $data> =
                $crate::configfs::Attribute::new($crate::c_str!(::core::stringify!($name)));
            const I: usize = $index;
            // SAFETY: the list is this expansion's own, and its attributes are added one after
            // the other, on one thread.
            unsafe { $list.add::<I, $attr, _>(&ATTRIBUTE) };
        }
        $crate::configfs_attrs!(@add $list, $data, $index + 1usize, [$($rest: $rest_attr),*]);
    };
}

pub use crate::configfs_attrs;
