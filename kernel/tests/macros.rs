//! Tests of the `macros` crate: `paste!` and `#[kunit_tests]`.

use kernel::macros::paste;

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

#[kernel::macros::kunit_tests(rust_drydock_macros_kunit)]
mod kunit {
    #[test]
    pub(super) fn plain_test_runs() {
        assert_eq!(2 + 2, 4);
    }

    #[test]
    pub(super) fn result_test_runs() -> kernel::error::Result {
        let value: u8 = 200u32.try_into()?;
        assert_eq!(value, 200);
        Ok(())
    }
}

#[test]
fn kunit_module_is_compiled_in_test_builds() {
    // The attribute keeps the module (under `cfg(test)`): its tests are reachable.
    kunit::plain_test_runs();
    assert_eq!(kunit::result_test_runs(), Ok(()));
}
