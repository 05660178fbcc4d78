//! Programs that must not compile, with the expected compiler output in `tests/ui/*.stderr`.
//!
//! Regenerate the expected output with `TRYBUILD=overwrite cargo test -p pin-init --test
//! compile_fail` after checking that the new messages still say the right thing.

mod support {
    pub(crate) mod rust_src;
}

#[test]
#[cfg_attr(miri, ignore = "runs the compiler")]
fn ui() {
    support::rust_src::ensure_rust_src();
    let cases = trybuild::TestCases::new();
    cases.compile_fail("tests/ui/*.rs");
}
