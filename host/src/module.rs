//! Loading driver modules into a bus.
//!
//! In the kernel, `module!` makes a loadable object: `init_module()` and `cleanup_module()`, its
//! parameters in the `__param` section and its `.modinfo`; the module loader sets the parameters
//! given to `insmod`, then calls `init_module()`, whose registrations bind the driver to the
//! matching devices. In drydock, `module!` (through `module_pci_driver!` and friends) emits a
//! [`ModuleDescriptor`] static holding the same: the module's metadata and parameters, and the
//! entry points that initialise its state in place and drop it. [`Bus::load_module`] loads it into
//! a bus, and dropping the returned [`ModuleHandle`] unloads it, which unbinds its devices.
//!
//! A module may be loaded into several buses at once (tests run in parallel, each with a bus of
//! its own), so unlike the kernel's static `__MOD`, each load has its own state, and its own
//! `struct module` ([`LoadedModule`]) through which its registrations find the bus.

use core::alloc::Layout;
use core::ffi::{c_int, c_void};
use core::ptr::NonNull;
use std::ffi::CString;
use std::sync::Arc;

use crate::bindings::kernel_param;
use crate::bus::Bus;
use crate::errno::Errno;

/// What `module!` records about a module (its `.modinfo` in the kernel).
#[derive(Debug)]
pub struct ModuleInfo {
    /// `name:`
    pub name: &'static str,
    /// `authors:`
    pub authors: &'static [&'static str],
    /// `description:`
    pub description: &'static str,
    /// `license:`
    pub license: &'static str,
    /// `params:`, in declaration order.
    pub params: &'static [ParamInfo],
}

/// A module parameter, as `module!` records it.
///
/// # Invariants
///
/// `param.ops` points to a static `kernel_param_ops` whose `set` may be called, from any thread,
/// with `param` and a NUL-terminated string, and `param.arg` to the static storage that `set`
/// expects, which synchronises its own accesses.
pub struct ParamInfo {
    /// The parameter's name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its type, as written in `module!` (`bool`, `u32`, ...).
    pub type_name: &'static str,
    /// The parameter as the kernel's loader sees it: its operations and where its value lives.
    param: kernel_param,
}

// SAFETY: the `kernel_param` points to static data that may be used from any thread (type
// invariant), and is never written.
unsafe impl Sync for ParamInfo {}

impl core::fmt::Debug for ParamInfo {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ParamInfo")
            .field("name", &self.name)
            .field("type_name", &self.type_name)
            .finish_non_exhaustive()
    }
}

impl ParamInfo {
    /// Describes the parameter `name` (`description`, of type `type_name` as written in
    /// `module!`), which the loader sets through `param`.
    ///
    /// # Safety
    ///
    /// `param.ops` must point to a static `kernel_param_ops` whose `set` may be called, from any
    /// thread, with `param` and a NUL-terminated string, and `param.arg` to the static storage
    /// that `set` expects, which synchronises its own accesses (as `module!`'s `PARAM_OPS_*` tables
    /// and parameter storage are).
    pub const unsafe fn new(
        name: &'static str,
        description: &'static str,
        type_name: &'static str,
        param: kernel_param,
    ) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            name,
            description,
            type_name,
            param,
        }
    }

    /// Describes the text this parameter accepts, for error messages.
    fn accepted_values(&self) -> String {
        match self.type_name {
            "bool" => "a bool: y/n, 1/0, on/off or true/false".into(),
            int => format!("a {int}: decimal, or prefixed 0x, 0o or 0b"),
        }
    }

    /// Sets the parameter from `value` through its `set` operation, as the kernel's loader does.
    fn set(&self, value: &str) -> Result<(), Errno> {
        let value = CString::new(value).map_err(|_| Errno::EINVAL)?;
        // SAFETY: `ops` points to a static `kernel_param_ops` (type invariant).
        let set = unsafe { (*self.param.ops).set }.ok_or(Errno::EINVAL)?;
        // SAFETY: `set` may be called with this `param` and a NUL-terminated string (type
        // invariant); `value` outlives the call.
        let ret = unsafe { set(value.as_ptr(), &self.param) };
        match ret {
            0 => Ok(()),
            errno => Err(Errno::from_errno(errno).unwrap_or(Errno::EINVAL)),
        }
    }
}

/// The entry point that initialises a module's state in place at `slot`, for the module whose
/// `THIS_MODULE` pointer is at `this` (`init_module()`); it returns 0, or a negative errno with
/// the slot left uninitialised.
///
/// # Safety
///
/// `slot` must be valid for writes of the descriptor's state layout, and stay valid and unmoved
/// until `exit` is called for it; `this` must point to a pointer to a [`LoadedModule`], both
/// valid until then.
pub type InitFn = unsafe fn(this: *const *mut LoadedModule, slot: *mut c_void) -> c_int;

/// The entry point that drops a module's state at `slot` (`cleanup_module()`).
///
/// # Safety
///
/// `slot` must hold a state the descriptor's `init` initialised, which is not used afterwards.
pub type ExitFn = unsafe fn(slot: *mut c_void);

/// A module as a driver crate exports it (`__DRYDOCK_MODULE`, emitted by `module!`).
///
/// The entry points stand for `init_module()` and `cleanup_module()`, except that the state they
/// initialise and drop is in memory the loader gives them, one piece per load.
///
/// # Invariants
///
/// `init` initialises, and `exit` drops, a state whose layout is `state_layout` and which may be
/// sent to and shared between threads.
pub struct ModuleDescriptor {
    /// The module's metadata.
    pub info: ModuleInfo,
    state_layout: Layout,
    init: InitFn,
    exit: ExitFn,
}

impl ModuleDescriptor {
    /// Describes the module `info` names, whose state has the layout `state_layout` and is
    /// initialised by `init` and dropped by `exit`.
    ///
    /// # Safety
    ///
    /// `init` must initialise, and `exit` drop, a value of one type whose layout is
    /// `state_layout` and which is `Send` and `Sync` (as `module!`'s entry points do for the
    /// module's type, which `InPlaceModule` requires to be both).
    pub const unsafe fn new(
        info: ModuleInfo,
        state_layout: Layout,
        init: InitFn,
        exit: ExitFn,
    ) -> Self {
        // INVARIANT: guaranteed by the caller.
        Self {
            info,
            state_layout,
            init,
            exit,
        }
    }

    /// Sets a module parameter from a load-time argument: `name=value` or `module.name=value`,
    /// as `insmod` and the kernel command line take them.
    ///
    /// Returns a message saying what is wrong (and which parameters exist) if the argument is not
    /// of that form, names no parameter of this module, or its value does not parse.
    pub fn set_param(&self, arg: &str) -> Result<(), String> {
        let (name, value) = arg
            .split_once('=')
            .ok_or_else(|| format!("`{arg}` is not a module parameter (NAME=VALUE)"))?;
        let name = name
            .strip_prefix(self.info.name)
            .and_then(|n| n.strip_prefix('.'))
            .unwrap_or(name);
        let known = || {
            let names: Vec<_> = self.info.params.iter().map(|p| p.name).collect();
            if names.is_empty() {
                format!("module {} has no parameters", self.info.name)
            } else {
                format!("module {} has: {}", self.info.name, names.join(", "))
            }
        };
        let param = self
            .info
            .params
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| format!("unknown parameter `{name}`: {}", known()))?;
        param.set(value).map_err(|err| match err {
            Errno::EEXIST => format!("parameter `{name}` is already set"),
            _ => format!(
                "`{value}` is not a valid value for parameter `{name}` ({}): expected {}",
                param.description,
                param.accepted_values()
            ),
        })
    }
}

/// A module loaded into a bus: the kernel's `struct module`, as `THIS_MODULE` points to it.
pub struct LoadedModule {
    bus: Arc<Bus>,
}

/// The memory of a loaded module's state.
///
/// # Invariants
///
/// `ptr` is valid for reads and writes of `layout` (a dangling, aligned pointer when `layout` has
/// size 0), allocated with the global allocator unless the size is 0.
struct StateMemory {
    ptr: NonNull<u8>,
    layout: Layout,
}

impl StateMemory {
    fn new(layout: Layout) -> Self {
        let ptr = if layout.size() == 0 {
            // An aligned, non-null address; nothing is allocated for a zero-sized state.
            NonNull::new(core::ptr::without_provenance_mut(layout.align()))
        } else {
            // SAFETY: the size is not 0.
            NonNull::new(unsafe { std::alloc::alloc(layout) })
        };
        let Some(ptr) = ptr else {
            std::alloc::handle_alloc_error(layout)
        };
        // INVARIANT: allocated for `layout`, or dangling and aligned for a size of 0.
        Self { ptr, layout }
    }
}

impl Drop for StateMemory {
    fn drop(&mut self) {
        if self.layout.size() != 0 {
            // SAFETY: allocated in `new` with this layout (type invariant).
            unsafe { std::alloc::dealloc(self.ptr.as_ptr(), self.layout) };
        }
    }
}

/// A loaded module; dropping it unloads the module (its devices are unbound first).
///
/// # Invariants
///
/// `state` holds the module's state, initialised by `descriptor`'s `init`; `loaded` and `this`
/// are allocations of the handle (leaked `Box`es), `this` pointing to `loaded`, which the
/// state may refer to until `exit` has dropped it.
pub struct ModuleHandle {
    descriptor: &'static ModuleDescriptor,
    state: StateMemory,
    this: NonNull<*mut LoadedModule>,
    loaded: NonNull<LoadedModule>,
}

// SAFETY: the module's state is `Send` and `Sync` (`ModuleDescriptor`'s invariant), and the
// allocations the handle owns are used only through it.
unsafe impl Send for ModuleHandle {}
// SAFETY: as above; the handle gives out only the metadata.
unsafe impl Sync for ModuleHandle {}

impl ModuleHandle {
    /// The module's metadata.
    pub fn info(&self) -> &'static ModuleInfo {
        &self.descriptor.info
    }
}

impl Drop for ModuleHandle {
    fn drop(&mut self) {
        // SAFETY: the state was initialised by `init` (type invariant), and nothing uses it after.
        unsafe { (self.descriptor.exit)(self.state.ptr.as_ptr().cast()) };
        // SAFETY: the handle's allocations, freed once, here, after the state that referred to
        // them was dropped (type invariant).
        unsafe { free_records(self.this, self.loaded) };
    }
}

/// Frees the `THIS_MODULE` pointer and the `struct module` of a load.
///
/// # Safety
///
/// Both must come from `Box` allocations that nothing refers to any more, and be freed once.
unsafe fn free_records(this: NonNull<*mut LoadedModule>, loaded: NonNull<LoadedModule>) {
    // SAFETY: `Box` allocations nothing refers to (safety requirement).
    unsafe {
        drop(Box::from_raw(this.as_ptr()));
        drop(Box::from_raw(loaded.as_ptr()));
    }
}

impl Bus {
    /// Loads the module `descriptor` describes into this bus, which binds its driver to the
    /// matching devices; the module stays loaded until the handle is dropped.
    ///
    /// Fails with the module's error if its initialisation fails.
    pub fn load_module(
        self: &Arc<Self>,
        descriptor: &'static ModuleDescriptor,
    ) -> Result<ModuleHandle, Errno> {
        let loaded = NonNull::from(Box::leak(Box::new(LoadedModule { bus: self.clone() })));
        let this = NonNull::from(Box::leak(Box::new(loaded.as_ptr())));
        let state = StateMemory::new(descriptor.state_layout);
        // SAFETY: `state` is valid for writes of the state's layout (`ModuleDescriptor`'s
        // invariant), and the handle keeps it, and `this` and `loaded`, allocated above and freed
        // only after `exit`, until it calls `exit`.
        let ret = unsafe { (descriptor.init)(this.as_ptr(), state.ptr.as_ptr().cast()) };
        if ret != 0 {
            // The state was left uninitialised: its memory goes without `exit`.
            drop(state);
            // SAFETY: allocated above, and nothing refers to them after the failed `init`.
            unsafe { free_records(this, loaded) };
            return Err(Errno::from_errno(ret).unwrap_or(Errno::EINVAL));
        }
        // INVARIANT: the state is initialised, and the allocations are the handle's.
        Ok(ModuleHandle {
            descriptor,
            state,
            this,
            loaded,
        })
    }
}

/// Returns the bus a module was loaded into, for registrations (`None` for the null `THIS_MODULE`
/// of a module that was never loaded).
///
/// # Safety
///
/// `module` must be null or the `THIS_MODULE` pointer [`Bus::load_module`] gave the module's
/// initialisation, used while the module is loaded.
pub unsafe fn bus_of<'a>(module: *mut LoadedModule) -> Option<&'a Bus> {
    // SAFETY: by the safety requirement, a non-null pointer is to a `LoadedModule` that
    // `load_module`'s handle keeps alive while the module is loaded.
    (!module.is_null()).then(|| unsafe { &*(*module).bus as &Bus })
}
