//! The `coerce-pointee` feature: with it (and `RUSTC_BOOTSTRAP=1`, as the kernel's build has),
//! `KBox<T>`, `Arc<T>`, `ArcBorrow<T>` and `ListArc<T>` coerce to trait objects implicitly, as in
//! the kernel; without `RUSTC_BOOTSTRAP`, the build says what it needs.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{copy_lock_file, write_if_changed};

/// A program that coerces each pointer type to a trait object, as nova-core's HAL selection does.
const PROGRAM: &str = r#"
use kernel::list::{impl_list_arc_safe, ListArc};
use kernel::prelude::*;
use kernel::sync::{Arc, ArcBorrow};

trait Hal {
    fn version(&self) -> u32;
}

impl_list_arc_safe! {
    impl ListArcSafe<0> for Gh100 { untracked; }
    impl ListArcSafe<0> for dyn Hal { untracked; }
}

struct Gh100;

impl Hal for Gh100 {
    fn version(&self) -> u32 {
        100
    }
}

fn main() -> Result {
    let boxed: KBox<dyn Hal> = KBox::new(Gh100, GFP_KERNEL)?;
    let shared: Arc<dyn Hal> = Arc::new(Gh100, GFP_KERNEL)?;
    let borrowed: ArcBorrow<'_, dyn Hal> = shared.as_arc_borrow();
    let listed: ListArc<dyn Hal> = ListArc::new(Gh100, GFP_KERNEL)?;
    assert_eq!(
        boxed.version() + shared.version() + borrowed.version() + listed.version(),
        400
    );
    Ok(())
}
"#;

fn write_fixture(dir: &Path) {
    let kernel = Path::new(env!("CARGO_MANIFEST_DIR"));
    let manifest = format!(
        r#"[package]
name = "coerce-pointee"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
kernel = {{ package = "drydock-kernel", path = "{kernel}", features = ["coerce-pointee"] }}
pin-init = {{ path = "{kernel}/pin-init" }}

[profile.dev]
opt-level = 1

[workspace]
"#,
        kernel = kernel.display()
    );
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    write_if_changed(&dir.join("src/main.rs"), PROGRAM);
    copy_lock_file(dir);
}

/// Runs the fixture with `RUSTC_BOOTSTRAP` set to `bootstrap` (or unset); returns whether it
/// succeeded and cargo's output.
fn run(dir: &Path, bootstrap: Option<&str>) -> (bool, String) {
    let mut cargo = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cargo
        .current_dir(dir)
        .args(["run", "--offline", "--color", "never"])
        .arg("--target-dir")
        .arg(dir.join("target"))
        .env_remove("RUSTC_BOOTSTRAP");
    if let Some(value) = bootstrap {
        cargo.env("RUSTC_BOOTSTRAP", value);
    }
    let output = cargo.output().expect("cargo runs");
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text.into_owned())
}

#[test]
fn pointers_coerce_to_trait_objects_with_the_feature() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("coerce-pointee");
    write_fixture(&dir);
    let (ok, output) = run(&dir, None);
    assert!(!ok, "built without RUSTC_BOOTSTRAP:\n{output}");
    assert!(
        output.contains("needs the unstable `derive_coerce_pointee`"),
        "no explanation:\n{output}"
    );
    let (ok, output) = run(&dir, Some("1"));
    assert!(ok, "the coercions failed:\n{output}");
}
