//! Kernel modules: the unit a driver file is built into.
//!
//! Mirrors `rust/kernel/module.rs` and the `module!` macro of the kernel's `macros` crate. In the
//! kernel, `module!` emits the `init_module`/`cleanup_module` entry points and the `.modinfo`
//! section. In userspace a module is loaded into a [`host::bus::Bus`](crate::host::bus::Bus) (the
//! simulated bus, or the bus of VFIO/UIO devices the runtime opens): `module!` emits a hidden
//! descriptor, `__DRYDOCK_MODULE`, through which the host machinery initialises the module and, when
//! the process stops or the module is unloaded, drops it. Driver files never name the descriptor.

use crate::{error::Result, str::CStr};

/// A module whose state is constructed in its final place.
///
/// Mirrors `kernel::InPlaceModule`. Usually implemented by `module_driver!` and its bus-specific
/// wrappers such as `module_pci_driver!`.
pub trait InPlaceModule: Sync + Send {
    /// Creates the module's state; called once when the module is loaded.
    fn init(module: &'static ThisModule) -> impl pin_init::PinInit<Self, crate::error::Error>;
}

/// A module whose state is constructed by value.
///
/// Mirrors `kernel::Module`; every `Module` is an [`InPlaceModule`].
pub trait Module: Sized + Sync + Send {
    /// Creates the module's state; called once when the module is loaded.
    fn init(module: &'static ThisModule) -> Result<Self>;
}

impl<T: Module> InPlaceModule for T {
    fn init(module: &'static ThisModule) -> impl pin_init::PinInit<Self, crate::error::Error> {
        let init = move |slot: *mut Self| {
            let state = <Self as Module>::init(module)?;
            // SAFETY: `pin_init_from_closure` hands us a slot valid for a write of `Self`.
            unsafe { slot.write(state) };
            Ok(())
        };
        // SAFETY: the closure initialises the slot completely when it returns `Ok`, and does not
        // touch it when it returns an error.
        unsafe { pin_init::pin_init_from_closure(init) }
    }
}

/// Static facts about a module.
///
/// Mirrors `kernel::ModuleMetadata`, which `module!` implements for the module's type.
pub trait ModuleMetadata {
    /// The module's name, from `module! { name: ... }`.
    const NAME: &'static CStr;

    /// The module as `THIS_MODULE` names it.
    ///
    /// Difference from the kernel: in userspace a module's identity is given to it when it is
    /// loaded (as the argument of [`InPlaceModule::init`]); this constant is an unloaded
    /// placeholder, which registration functions refuse.
    const THIS_MODULE: ThisModule;
}

/// Returns `M`'s [`ModuleMetadata::THIS_MODULE`].
#[inline]
pub const fn this_module<M: ModuleMetadata>() -> &'static ThisModule {
    &M::THIS_MODULE
}

/// A module, as the C `struct module *` that the kernel's `THIS_MODULE` is.
///
/// Mirrors `kernel::ThisModule`. In userspace it points to the host's record of the loaded module,
/// through which registrations find the bus the module was loaded into.
pub struct ThisModule(*mut crate::bindings::module);

// SAFETY: `ThisModule` is an identity: the loaded module it points to is immutable after loading
// and shared by the host machinery across threads.
unsafe impl Sync for ThisModule {}

impl ThisModule {
    /// Creates a [`ThisModule`] from a pointer to a loaded module.
    ///
    /// # Safety
    ///
    /// `ptr` must be null or point to a loaded module that outlives every use of the returned value.
    pub const unsafe fn from_ptr(ptr: *mut crate::bindings::module) -> ThisModule {
        ThisModule(ptr)
    }

    /// Returns the pointer to the loaded module (null for an unloaded placeholder).
    pub const fn as_ptr(&self) -> *mut crate::bindings::module {
        self.0
    }
}

/// Declares a module: its state type and its metadata.
///
/// Mirrors the kernel's `module!` (a procedural macro of its `macros` crate), with the same keys in
/// the same order: `type` (required), `name` (required), `authors`, `description`, `license`
/// (required), `alias`, `firmware`, `imports_ns`, `params`. Like the kernel's, it implements
/// [`ModuleMetadata`](crate::ModuleMetadata) for the type, defines `LocalModule` and
/// `__LOG_PREFIX`, and puts each parameter in `module_parameters` (read it with
/// `module_parameters::name.value()`).
///
/// Difference from the kernel: instead of the `init_module`/`cleanup_module` entry points and the
/// `.modinfo` section, it emits the hidden static `__DRYDOCK_MODULE`, through which the host
/// machinery sets the parameters and loads the module into a bus; `alias`, `firmware` and
/// `imports_ns` are accepted and have no effect.
///
/// Drivers rarely use it directly: `module_pci_driver!` does.
#[doc(hidden)]
#[macro_export]
macro_rules! module_macro {
    (
        type: $type:ty,
        name: $name:literal
        $(, authors: [$($author:literal),* $(,)?])?
        $(, description: $description:literal)?
        , license: $license:literal
        $(, alias: [$($alias:literal),* $(,)?])?
        $(, firmware: [$($firmware:literal),* $(,)?])?
        $(, imports_ns: [$($namespace:literal),* $(,)?])?
        $(, params: {
            $($param:ident : $param_type:ident {
                default: $param_default:expr,
                description: $param_description:literal $(,)?
            }),* $(,)?
        })?
        $(,)?
    ) => {
        /// The module's parameters.
        #[allow(dead_code)]
        mod module_parameters {
            $($(
                #[allow(non_upper_case_globals)]
                #[doc = $param_description]
                pub(crate) static $param: $crate::module_param::ModuleParamAccess<$param_type> =
                    $crate::module_param::ModuleParamAccess::new($param_default);
            )*)?
        }

        /// The module name, used as the prefix of its log messages.
        #[allow(dead_code)]
        const __LOG_PREFIX: &[u8] = ::core::concat!($name, "\0").as_bytes();

        /// The type of the module created by `module!` or a bus's `module_*_driver!`.
        #[allow(dead_code)]
        type LocalModule = $type;

        impl $crate::ModuleMetadata for $type {
            const NAME: &'static $crate::str::CStr =
                match $crate::str::CStr::from_bytes_with_nul(__LOG_PREFIX) {
                    ::core::result::Result::Ok(name) => name,
                    ::core::result::Result::Err(_) => ::core::panic!("module name contains NUL"),
                };

            // SAFETY: a null pointer is the unloaded placeholder, which `ThisModule` permits.
            const THIS_MODULE: $crate::ThisModule =
                unsafe { $crate::ThisModule::from_ptr(::core::ptr::null_mut()) };
        }

        /// How the host machinery loads this module (see `kernel::host::module`).
        #[doc(hidden)]
        pub static __DRYDOCK_MODULE: $crate::host::module::ModuleDescriptor =
            $crate::host::module::ModuleDescriptor::new::<$type>($crate::host::module::ModuleInfo {
                name: $name,
                authors: &[$($($author),*)?],
                description: $crate::module_macro!(@or $($description)?, ""),
                license: $license,
                params: &[$($($crate::host::module::ParamInfo {
                    name: ::core::stringify!($param),
                    description: $param_description,
                    type_name: ::core::stringify!($param_type),
                    set: |arg| module_parameters::$param.set_from_arg(arg),
                }),*)?],
            });
    };
    (@or $value:expr, $default:expr) => { $value };
    (@or , $default:expr) => { $default };
}
