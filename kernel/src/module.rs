//! Kernel modules: the unit a driver file is built into.
//!
//! Mirrors `rust/kernel/module.rs` and the `module!` macro of the kernel's `macros` crate. In the
//! kernel, `module!` emits the `init_module`/`cleanup_module` entry points and the `.modinfo`
//! section. In userspace a module is loaded into a bus of the host (the simulated bus, or the bus
//! of VFIO/UIO devices a driver process opens): `module!` emits a hidden descriptor,
//! `__DRYDOCK_MODULE`, through which the host initialises the module and, when the process stops or
//! the module is unloaded, drops it. Driver files never name the descriptor.

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
///
/// Difference from the kernel: it is `#[repr(transparent)]`, so that the host, which keeps the
/// pointer of each loaded module, can lend it to the module's initialisation as a `ThisModule`.
#[repr(transparent)]
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
/// sets the parameters and loads the module into a bus; `alias`, `firmware` and
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

        /// How the host loads this module: its metadata, and its state's initialisation and
        /// teardown (the `init_module()` and `cleanup_module()` of a kernel module).
        #[doc(hidden)]
        pub static __DRYDOCK_MODULE: $crate::bindings::ModuleDescriptor = {
            /// Initialises the module's state in `slot` (`init_module()`).
            ///
            /// # Safety
            ///
            /// As the host's `InitFn` requires.
            unsafe fn __init(
                this: *const *mut $crate::bindings::module,
                slot: *mut ::core::ffi::c_void,
            ) -> $crate::ffi::c_int {
                // SAFETY: `ThisModule` is a transparent wrapper of the pointer at `this`, which the
                // host keeps until the state is dropped, so for as long as the module can use it.
                let this: &'static $crate::ThisModule =
                    unsafe { &*this.cast::<$crate::ThisModule>() };
                let init = <$type as $crate::InPlaceModule>::init(this);
                // SAFETY: the host gives a slot valid for writes of the state, which stays in
                // place until the state is dropped; on error the slot is left uninitialised, and
                // the host frees it without dropping a state.
                match unsafe { ::pin_init::raw_try_init(slot.cast::<$type>(), init) } {
                    ::core::result::Result::Ok(()) => 0,
                    ::core::result::Result::Err(err) => err.to_errno(),
                }
            }

            /// Drops the module's state (`cleanup_module()`).
            ///
            /// # Safety
            ///
            /// As the host's `ExitFn` requires.
            unsafe fn __exit(slot: *mut ::core::ffi::c_void) {
                // SAFETY: the slot holds a state `__init` initialised, unused after this.
                unsafe { ::core::ptr::drop_in_place(slot.cast::<$type>()) };
            }

            // SAFETY: `__init` and `__exit` initialise and drop a `$type`, whose layout this is
            // and which `InPlaceModule` requires to be `Send` and `Sync`; each parameter's
            // operations are the `PARAM_OPS_*` table of its type, whose `set` stores into the
            // static `ModuleParamAccess` of that type that `arg` points to.
            unsafe {
                $crate::bindings::ModuleDescriptor::new(
                    $crate::bindings::ModuleInfo {
                        name: $name,
                        authors: &[$($($author),*)?],
                        description: $crate::module_macro!(@or $($description)?, ""),
                        license: $license,
                        params: &[$($($crate::bindings::ParamInfo::new(
                            ::core::stringify!($param),
                            $param_description,
                            ::core::stringify!($param_type),
                            $crate::bindings::kernel_param {
                                name: ::core::concat!(::core::stringify!($param), "\0")
                                    .as_ptr()
                                    .cast(),
                                ops: &$crate::module_macro!(@ops $param_type),
                                arg: module_parameters::$param.as_void_ptr(),
                            },
                        )),*)?],
                    },
                    ::core::alloc::Layout::new::<$type>(),
                    __init,
                    __exit,
                )
            }
        };
    };
    (@ops i8) => { $crate::module_param::PARAM_OPS_I8 };
    (@ops u8) => { $crate::module_param::PARAM_OPS_U8 };
    (@ops i16) => { $crate::module_param::PARAM_OPS_I16 };
    (@ops u16) => { $crate::module_param::PARAM_OPS_U16 };
    (@ops i32) => { $crate::module_param::PARAM_OPS_I32 };
    (@ops u32) => { $crate::module_param::PARAM_OPS_U32 };
    (@ops i64) => { $crate::module_param::PARAM_OPS_I64 };
    (@ops u64) => { $crate::module_param::PARAM_OPS_U64 };
    (@ops isize) => { $crate::module_param::PARAM_OPS_ISIZE };
    (@ops usize) => { $crate::module_param::PARAM_OPS_USIZE };
    (@ops bool) => { $crate::module_param::PARAM_OPS_BOOL };
    (@or $value:expr, $default:expr) => { $value };
    (@or , $default:expr) => { $default };
}
