//! Module parameters: values given to a module when it is loaded.
//!
//! Mirrors `rust/kernel/module_param.rs` of Linux 7.3. A module declares its parameters in
//! `module! { params: { name: type { default: ..., description: "..." } } }`; the driver reads one
//! with `module_parameters::name.value()`.
//!
//! In the kernel, values come from `insmod module.ko name=value` (or `module.name=value` on the
//! kernel command line). In drydock they come from the driver process's command line in the same
//! form (`name=value` or `module.name=value`), set before the module is loaded; a parameter not
//! given keeps its default. As in the kernel, a value is set at most once, through the
//! parameter's `kernel_param_ops` (one of the `PARAM_OPS_*` tables below).
//!
//! Not mirrored: `KernelParam` (the `__param` section entry): `module!` records the parameters in
//! the module's descriptor instead.

use crate::bindings;
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
}

/// Sets a module parameter from the text given at load time (`struct kernel_param_ops.set`).
///
/// Fails with `EINVAL` if the text does not parse as a `T`, and `EEXIST` if the parameter was set
/// already.
///
/// # Safety
///
/// - `val` must be null or point to a NUL-terminated string valid for reads during the call.
/// - `param` must point to a `kernel_param` built by `module!`, whose `arg` points to the
///   `ModuleParamAccess<T>` of the parameter.
unsafe extern "C" fn set_param<T>(val: *const c_char, param: *const bindings::kernel_param) -> c_int
where
    T: ModuleParam,
{
    if val.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: `val` is non-null, NUL-terminated and valid for reads during the call (safety
    // requirement).
    let arg: &BStr = unsafe { CStr::from_char_ptr(val) }.as_ref();
    crate::error::from_result(|| {
        let value = T::try_from_param_arg(arg)?;
        // SAFETY: `param` is valid for reads, and its `arg` points to a static
        // `ModuleParamAccess<T>` (safety requirement).
        let access = unsafe { &*(*param).arg.cast::<ModuleParamAccess<T>>() };
        access.value.populate(value).then_some(0).ok_or(EEXIST)
    })
}

/// Defines a static `kernel_param_ops` whose `set` parses a `$ty`.
macro_rules! make_param_ops {
    ($ops:ident, $ty:ty) => {
        #[doc(hidden)]
        pub static $ops: bindings::kernel_param_ops = bindings::kernel_param_ops {
            flags: 0,
            set: Some(set_param::<$ty>),
            get: None,
            free: None,
        };
    };
}

make_param_ops!(PARAM_OPS_I8, i8);
make_param_ops!(PARAM_OPS_U8, u8);
make_param_ops!(PARAM_OPS_I16, i16);
make_param_ops!(PARAM_OPS_U16, u16);
make_param_ops!(PARAM_OPS_I32, i32);
make_param_ops!(PARAM_OPS_U32, u32);
make_param_ops!(PARAM_OPS_I64, i64);
make_param_ops!(PARAM_OPS_U64, u64);
make_param_ops!(PARAM_OPS_ISIZE, isize);
make_param_ops!(PARAM_OPS_USIZE, usize);
make_param_ops!(PARAM_OPS_BOOL, bool);

#[cfg(test)]
mod tests {
    use super::*;

    /// Sets `access` from `text` through `ops`, as the module loader does.
    fn set<T>(
        ops: &'static bindings::kernel_param_ops,
        access: &'static ModuleParamAccess<T>,
        text: &core::ffi::CStr,
    ) -> Result {
        let param = bindings::kernel_param {
            name: c"param".as_ptr(),
            ops,
            arg: access.as_void_ptr(),
        };
        // SAFETY: `text` is NUL-terminated, and `param.arg` points to the `ModuleParamAccess` of
        // the type `ops` parses.
        crate::error::to_result(unsafe { (ops.set.unwrap())(text.as_ptr(), &param) })
    }

    #[test]
    fn values_parse_like_the_kernel_and_are_set_once() {
        static PARAM: ModuleParamAccess<u32> = ModuleParamAccess::new(7);
        assert_eq!(PARAM.value(), 7);
        set(&PARAM_OPS_U32, &PARAM, c"0x10").unwrap();
        assert_eq!(PARAM.value(), 16);
        assert_eq!(set(&PARAM_OPS_U32, &PARAM, c"3"), Err(EEXIST));
        assert_eq!(*PARAM.value_ref(), 16);

        static FLAG: ModuleParamAccess<bool> = ModuleParamAccess::new(false);
        set(&PARAM_OPS_BOOL, &FLAG, c"y").unwrap();
        assert!(FLAG.value());

        static BAD: ModuleParamAccess<u8> = ModuleParamAccess::new(0);
        assert_eq!(set(&PARAM_OPS_U8, &BAD, c"300"), Err(EINVAL));
        assert_eq!(BAD.value(), 0);
    }
}
