//! Tests of the `macros` crate: `paste!`, `concat_idents!`, `#[vtable]`, `#[export]` and
//! `#[kunit_tests]`.

use kernel::error::VTABLE_DEFAULT_ERROR;
use kernel::macros::{concat_idents, paste};
use kernel::prelude::*;

/// What `module!` declares in a driver crate, which `#[vtable]` implementations name.
struct LocalModule;

impl kernel::ModuleMetadata for LocalModule {
    const NAME: &'static CStr = c"macros_test";
    // SAFETY: a null pointer is the placeholder of a module that is not loaded.
    const THIS_MODULE: ThisModule = unsafe { ThisModule::from_ptr(core::ptr::null_mut()) };
}

macro_rules! accessors {
    ($name:ident, $ty:ty) => {
        paste! {
            const [<$name:upper _BITS>]: u32 = <$ty>::BITS;
            fn [<get_ $name:lower>](v: $ty) -> $ty { v }
            fn [<$name:lower _from_ "str" _ r#type>]() -> &'static str { stringify!($name) }
            struct [<$name:upper Wrapper>]($ty);
        }
    };
}

accessors!(Mode, u16);

#[test]
fn paste_concatenates_and_changes_case() {
    assert_eq!(MODE_BITS, 16);
    assert_eq!(get_mode(3), 3);
    assert_eq!(mode_from_str_type(), "Mode");
    assert_eq!(MODEWrapper(7).0, 7);
}

/// A helper the suite's tests use from the enclosing module.
fn double(x: u32) -> u32 {
    2 * x
}

#[kernel::macros::kunit_tests(rust_drydock_macros_kunit)]
mod kunit {
    use super::double;
    use kernel::kunit::in_kunit_test;

    #[test]
    fn plain_test_runs_as_a_kunit_case() {
        assert!(in_kunit_test());
        assert_eq!(double(2), 4);
    }

    #[test]
    fn result_test_runs() -> kernel::error::Result {
        let value: u8 = 200u32.try_into()?;
        assert_eq!(value, 200);
        Ok(())
    }

    #[test]
    fn a_failed_assertion_ends_the_case() {
        let failed = std::panic::catch_unwind(|| assert_eq!(double(2), 5));
        assert!(failed.is_err());
    }
}

#[test]
fn outside_a_kunit_case_a_failed_assertion_is_only_logged() {
    assert!(!kernel::kunit::in_kunit_test());
    kernel::kunit_assert!("outside", c"tests/macros.rs", 0, 1 + 1 == 3);
}

macro_rules! joined {
    ($a:ident, $b:ident) => {
        concat_idents!($a, $b)
    };
}

#[test]
fn concat_idents_joins_two_names() {
    let first_second = 5;
    assert_eq!(joined!(first_, second), 5);
}

/// An operations trait whose methods are all optional.
#[vtable]
trait Operations: Sized {
    fn open(&self) -> Result {
        build_error!(VTABLE_DEFAULT_ERROR)
    }

    fn release(&self) {}

    #[cfg(any())]
    fn never_compiled(&self);
}

struct Opens;

#[vtable]
impl Operations for Opens {
    fn open(&self) -> Result {
        Ok(())
    }
}

struct ReleasesButSaysNot;

#[vtable]
impl Operations for ReleasesButSaysNot {
    const HAS_RELEASE: bool = false;

    fn release(&self) {}
}

/// The name of the module that implements `T`.
fn owner_name<T: Operations>() -> &'static CStr {
    <T::OwnerModule as kernel::ModuleMetadata>::NAME
}

#[test]
fn vtable_records_which_methods_an_implementation_provides() {
    let provided = |open, release| [open, release];
    assert_eq!(
        provided(
            <Opens as Operations>::HAS_OPEN,
            <Opens as Operations>::HAS_RELEASE
        ),
        [true, false]
    );
    // An implementation may set a constant itself: this one says it does not release.
    assert_eq!(
        provided(
            <ReleasesButSaysNot as Operations>::HAS_OPEN,
            <ReleasesButSaysNot as Operations>::HAS_RELEASE
        ),
        [false, false]
    );
    assert_eq!(Opens.open(), Ok(()));
    assert_eq!(owner_name::<Opens>(), c"macros_test");
}

/// A function C code would call by name.
#[kernel::macros::export]
extern "C" fn drydock_macros_test_exported(x: u32) -> u32 {
    x + 1
}

extern "C" {
    /// The same function, found by its unmangled name.
    #[link_name = "drydock_macros_test_exported"]
    fn by_name(x: u32) -> u32;
}

#[test]
fn export_keeps_the_name() {
    // SAFETY: the declaration matches the exported function's signature.
    assert_eq!(unsafe { by_name(41) }, 42);
}
