//! Loading driver modules into a bus.
//!
//! In the kernel, `module!` makes a loadable object whose `init_module()` the kernel calls. In
//! drydock, `module!` (through `module_pci_driver!` and friends) emits a [`ModuleDescriptor`]
//! static, and [`Bus::load_module`](super::bus::Bus) initialises the module against a bus: its
//! `driver::Registration` registers the driver on that bus, which probes the matching devices.
//! Dropping the returned [`ModuleHandle`] unloads the module, which unbinds its devices.

use std::any::Any;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;

use super::bus::Bus;
use crate::error::Error;
use crate::{InPlaceModule, ThisModule};

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

/// A module parameter, as `module!` records it for the host machinery.
#[derive(Debug)]
pub struct ParamInfo {
    /// The parameter's name.
    pub name: &'static str,
    /// Its description.
    pub description: &'static str,
    /// Its type, as written in `module!` (`bool`, `u32`, ...).
    pub type_name: &'static str,
    /// Sets it from the text given at load time (`EINVAL` if it does not parse, `EEXIST` if it
    /// was set already).
    pub set: fn(&crate::str::BStr) -> Result<(), Error>,
}

impl ParamInfo {
    /// Describes the text this parameter accepts, for error messages and `--help`.
    pub fn accepted_values(&self) -> String {
        match self.type_name {
            "bool" => "a bool: y/n, 1/0, on/off or true/false".into(),
            int => format!("a {int}: decimal, or prefixed 0x, 0o or 0b"),
        }
    }
}

/// The state of a loaded module; dropping it runs the module's teardown.
type ModuleState = Pin<Box<dyn Any + Send + Sync>>;

/// A module as a driver crate exports it (`__DRYDOCK_MODULE`, emitted by `module!`).
pub struct ModuleDescriptor {
    /// The module's metadata.
    pub info: ModuleInfo,
    init: fn(&'static ThisModule) -> Result<ModuleState, Error>,
}

impl ModuleDescriptor {
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
        (param.set)(crate::str::BStr::from_bytes(value.as_bytes())).map_err(|err| match err {
            crate::error::code::EEXIST => format!("parameter `{name}` is already set"),
            _ => format!(
                "`{value}` is not a valid value for parameter `{name}` ({}): expected {}",
                param.description,
                param.accepted_values()
            ),
        })
    }

    /// Describes the module whose state is `M`; used by `module!`.
    pub const fn new<M: InPlaceModule + 'static>(info: ModuleInfo) -> Self {
        Self {
            info,
            init: init_module::<M>,
        }
    }
}

/// Initialises `M` in place on the heap.
fn init_module<M: InPlaceModule + 'static>(
    module: &'static ThisModule,
) -> Result<ModuleState, Error> {
    let mut slot: Box<MaybeUninit<M>> = Box::new_uninit();
    // SAFETY: `slot` is valid for writes of an `M` and never moves again after initialisation: it
    // is pinned right below. On error the initialiser leaves the slot uninitialised, and the
    // `MaybeUninit` box frees it without dropping an `M`.
    unsafe { pin_init::raw_try_init(slot.as_mut_ptr(), M::init(module))? };
    // SAFETY: the initialiser succeeded, so the slot holds a valid `M`.
    let state: Box<M> = unsafe { slot.assume_init() };
    Ok(Box::into_pin(state))
}

/// A module loaded into a bus: the kernel's `struct module`, as `ThisModule` points to it.
pub struct LoadedModule {
    bus: Arc<Bus>,
    info: &'static ModuleInfo,
}

impl LoadedModule {
    /// The bus the module was loaded into.
    pub fn bus(&self) -> &Arc<Bus> {
        &self.bus
    }

    /// The module's metadata.
    pub fn info(&self) -> &'static ModuleInfo {
        self.info
    }
}

/// A loaded module; dropping it unloads the module (its devices are unbound first).
pub struct ModuleHandle {
    // Field order matters: the state (which refers to `this` and `loaded`) drops first.
    state: Option<ModuleState>,
    this: Box<ThisModule>,
    loaded: Box<LoadedModule>,
}

impl ModuleHandle {
    /// The module's metadata.
    pub fn info(&self) -> &'static ModuleInfo {
        self.loaded.info
    }
}

impl Drop for ModuleHandle {
    fn drop(&mut self) {
        drop(self.state.take());
        let _ = (&self.this, &self.loaded);
    }
}

impl Bus {
    /// Loads the module `descriptor` describes into this bus, which binds its driver to the
    /// matching devices; the module stays loaded until the handle is dropped.
    pub fn load_module(
        self: &Arc<Self>,
        descriptor: &'static ModuleDescriptor,
    ) -> Result<ModuleHandle, Error> {
        let loaded = Box::new(LoadedModule {
            bus: self.clone(),
            info: &descriptor.info,
        });
        // SAFETY: the pointer is to `loaded`, which the handle keeps alive (and unmoved, being
        // boxed) until after the module state is dropped.
        let this =
            Box::new(unsafe { ThisModule::from_ptr(core::ptr::from_ref(&*loaded).cast_mut()) });
        // SAFETY: `this` is boxed and owned by the handle, which drops the module state (the only
        // holder of this reference) before it; so the reference never outlives the box.
        let this_ref: &'static ThisModule = unsafe { &*core::ptr::from_ref(&*this) };
        let state = (descriptor.init)(this_ref)?;
        Ok(ModuleHandle {
            state: Some(state),
            this,
            loaded,
        })
    }
}

/// Returns the bus a module was loaded into, for registrations (`None` for the placeholder
/// `THIS_MODULE`, which was never loaded).
pub fn bus_of(module: &ThisModule) -> Option<&Bus> {
    let loaded = module.as_ptr();
    // SAFETY: a non-null `ThisModule` pointer comes from `Bus::load_module`, which keeps the
    // `LoadedModule` alive while the module state (the only user of the reference) exists.
    (!loaded.is_null()).then(|| unsafe { &*(*loaded).bus as &Bus })
}
