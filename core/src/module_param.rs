//! Module parameters: values given to a module when it is loaded.
//!
//! Mirrors `rust/kernel/module_param.rs` of Linux 7.3. A module declares its parameters in
//! `module! { params: { name: type { default: ..., description: "..." } } }`; the driver reads one
//! with `module_parameters::name.value()`.
//!
//! In the kernel, values come from `insmod module.ko name=value` (or `module.name=value` on the
//! kernel command line). In drydock they come from the driver process's command line in the same
//! form (`name=value` or `module.name=value`), set by the runtime before the module is loaded;
//! a parameter not given keeps its default. As in the kernel, a value is set at most once.
//!
//! Not mirrored: `KernelParam` and the `PARAM_OPS_*` tables (how the kernel's loader finds
//! parameters): the host machinery sets values through the module's descriptor instead.

use crate::prelude::*;
use crate::str::{kstrtobool_bytes, BStr};
use crate::sync::SetOnce;

/// A type a module parameter can have: parsed from the text given at load time.
///
/// Mirrors `kernel::module_param::ModuleParam`: implemented for the integer types (decimal, or
/// `0x`/`0o`/`0b` prefixed, with an optional sign) and `bool` (`y`/`n`, `1`/`0`, `on`/`off`...).
pub trait ModuleParam: Sized + Copy {
    /// Parses a value.
    fn try_from_param_arg(arg: &BStr) -> Result<Self>;
}

/// Implements [`ModuleParam`] for an integer type.
macro_rules! impl_int_module_param {
    ($($ty:ident),*) => {
        $(
            impl ModuleParam for $ty {
                fn try_from_param_arg(arg: &BStr) -> Result<Self> {
                    <$ty as crate::str::parse_int::ParseInt>::from_str(arg)
                }
            }
        )*
    };
}

impl_int_module_param!(i8, u8, i16, u16, i32, u32, i64, u64, isize, usize);

impl ModuleParam for bool {
    fn try_from_param_arg(arg: &BStr) -> Result<Self> {
        kstrtobool_bytes(arg)
    }
}

/// A parameter's storage: its value once set, its default otherwise.
///
/// Mirrors `kernel::module_param::ModuleParamAccess`.
pub struct ModuleParamAccess<T> {
    value: SetOnce<T>,
    default: T,
}

// SAFETY: the value is written once (by `SetOnce`, which synchronises) and read-only afterwards.
unsafe impl<T: Sync> Sync for ModuleParamAccess<T> {}

impl<T> ModuleParamAccess<T> {
    /// Creates the storage of a parameter with default `default`.
    #[doc(hidden)]
    pub const fn new(default: T) -> Self {
        Self {
            value: SetOnce::new(),
            default,
        }
    }

    /// Returns the parameter's value.
    #[inline]
    pub fn value(&self) -> T
    where
        T: Copy,
    {
        self.value.copy().unwrap_or(self.default)
    }

    /// Returns a reference to the parameter's value.
    #[inline]
    pub fn value_ref(&self) -> &T {
        self.value.as_ref().unwrap_or(&self.default)
    }

    /// Returns the storage's address, as the kernel's parameter table records it.
    pub const fn as_void_ptr(&self) -> *mut c_void {
        core::ptr::from_ref(self).cast_mut().cast()
    }

    /// Sets the value from the text given at load time; `EEXIST` if it was already set.
    ///
    /// Called by the host machinery through the module's descriptor; not part of the kernel API.
    #[doc(hidden)]
    pub fn set_from_arg(&self, arg: &BStr) -> Result
    where
        T: ModuleParam,
    {
        let value = T::try_from_param_arg(arg)?;
        self.value.populate(value).then_some(()).ok_or(EEXIST)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_parse_like_the_kernel_and_are_set_once() {
        let param = ModuleParamAccess::<u32>::new(7);
        assert_eq!(param.value(), 7);
        param.set_from_arg(BStr::from_bytes(b"0x10")).unwrap();
        assert_eq!(param.value(), 16);
        assert_eq!(param.set_from_arg(BStr::from_bytes(b"3")), Err(EEXIST));
        assert_eq!(*param.value_ref(), 16);

        let flag = ModuleParamAccess::<bool>::new(false);
        flag.set_from_arg(BStr::from_bytes(b"y")).unwrap();
        assert!(flag.value());

        let bad = ModuleParamAccess::<u8>::new(0);
        assert_eq!(bad.set_from_arg(BStr::from_bytes(b"300")), Err(EINVAL));
        assert_eq!(bad.value(), 0);
    }
}
