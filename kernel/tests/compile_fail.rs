//! The build-time checks that rustc itself reports (`const_assert!`, `static_assert!`, inline
//! `const` blocks), proven with trybuild: each file of `compile-fail/` must fail with the error
//! recorded next to it, and each of `compile-pass/` (the good twins) must build and run.
//!
//! The checks that fail the link instead (`build_assert!`) are proven by `build_checks.rs`.

#[path = "../pin-init/tests/support/rust_src.rs"]
mod rust_src;

#[test]
fn rustc_rejects_what_the_kernel_build_rejects() {
    rust_src::ensure_rust_src();
    // The good twins use `build_assert!`-checked accessors, which need the optimisation the
    // workspace's dev profile has; trybuild's own project does not copy the profile.
    std::env::set_var("CARGO_PROFILE_DEV_OPT_LEVEL", "1");
    let cases = trybuild::TestCases::new();
    cases.pass("tests/compile-pass/*.rs");
    cases.compile_fail("tests/compile-fail/*.rs");
}
