//! The toolchain's `rust-src` component, which trybuild's expected output needs.
//!
//! rustc quotes lines of the standard library's source in its notes (`--> $RUST/core/src/...`)
//! only when that source is installed. The recorded `.stderr` files were written with it, so a
//! toolchain without it fails every case whose error points into `core`, for a reason that has
//! nothing to do with the code under test. The Linux 7.3 proof build needs the component as well
//! (`tests/kernel/build` adds it the same way); adding it here makes the result the same whether
//! or not that build ran first. Used by the trybuild tests of `pin-init` and of `drydock`.

use std::path::PathBuf;
use std::process::Command;

/// Adds `rust-src` to the active toolchain with `rustup` if it is missing.
///
/// # Panics
///
/// If the component is missing and `rustup` cannot add it, with the command to run.
pub(crate) fn ensure_rust_src() {
    let sysroot = Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .expect("running `rustc --print sysroot`");
    let sysroot = PathBuf::from(String::from_utf8_lossy(&sysroot.stdout).trim());
    if sysroot
        .join("lib/rustlib/src/rust/library/core/src/lib.rs")
        .is_file()
    {
        return;
    }
    eprintln!("adding the rust-src component, whose source rustc quotes in the expected errors");
    let added = Command::new("rustup")
        .args(["component", "add", "rust-src"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        added,
        "the toolchain at {} lacks rust-src and `rustup component add rust-src` failed: run it \
         by hand (it needs network access to static.rust-lang.org)",
        sysroot.display()
    );
}
