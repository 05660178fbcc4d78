//! The build-time checks that fail the *link*: `build_assert!` and `build_error!`.
//!
//! As in the kernel, such a check leaves a call to the undefined symbol `rust_build_error` when the
//! optimiser cannot prove its condition, so a build with a bad I/O offset, register index or
//! projection index compiles but does not link. This harness proves it: it writes one fixture
//! crate depending on `drydock` (as `kernel`, like a driver) with one binary per case, builds each
//! binary with `cargo build`, and checks that every `FailsLink` case fails because of
//! `rust_build_error` while every `Links` case (the good twin) links and runs. The fixture and its
//! target directory live under cargo's `CARGO_TARGET_TMPDIR` and are kept between runs, so
//! `drydock` is compiled once for all the cases.
//!
//! To add a case, add entries to [`CASES`]: the body is Rust source appended to [`COMMON`] (which
//! provides `mmio::<SIZE>(&mut mem)`, an MMIO view over memory standing in for a BAR); it must
//! define `main`. Give every failing case a good twin that differs only in the checked value.
//!
//! Compile-time checks (reported by rustc itself) are proven by `compile_fail.rs` instead.

use std::path::{Path, PathBuf};
use std::process::Command;

#[path = "support/fixture.rs"]
mod fixture;

use fixture::{copy_lock_file, write_if_changed};

/// What building a case must do.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Expect {
    /// Build, link and run successfully.
    Links,
    /// Compile, then fail to link with `rust_build_error` undefined.
    FailsLink,
}

/// One fixture binary.
struct Case {
    name: &'static str,
    expect: Expect,
    body: &'static str,
}

/// Source shared by every case.
const COMMON: &str = r#"
#![allow(unused_imports, dead_code)]
use kernel::io::{
    io_project, io_read, io_write, register,
    register::{Array, RegisterBase, WithBase},
    Io, Mmio, MmioRaw, Region,
};
use kernel::num::Bounded;
use kernel::sync::Refcount;
use std::hint::black_box;

/// An MMIO view of `SIZE` known bytes over `mem`, plain memory standing in for a mapped BAR.
fn mmio<const SIZE: usize>(mem: &mut [u64]) -> Mmio<'_, Region<SIZE>> {
    let raw = MmioRaw::new_region(mem.as_mut_ptr().expose_provenance(), mem.len() * 8).unwrap();
    // SAFETY: `mem` outlives the view, which borrows it.
    unsafe { Mmio::from_raw(raw) }
}
"#;

/// The cases, in pairs: a bad one that must fail the link, and its good twin.
const CASES: &[Case] = &[
    Case {
        name: "io_offset_out_of_range",
        expect: Expect::FailsLink,
        body: "fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read32(0x100)); }",
    },
    Case {
        name: "io_offset_in_range",
        expect: Expect::Links,
        body: "fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read32(0xfc)); }",
    },
    Case {
        name: "io_offset_misaligned",
        expect: Expect::FailsLink,
        body: "fn main() { let mut m = [0u64; 32]; mmio::<0x100>(&mut m).write32(1, 0x2); }",
    },
    Case {
        name: "io_offset_aligned",
        expect: Expect::Links,
        body: "fn main() { let mut m = [0u64; 32]; mmio::<0x100>(&mut m).write32(1, 0x4); }",
    },
    Case {
        name: "io_update_straddles_the_end",
        expect: Expect::FailsLink,
        body: "fn main() { let mut m = [0u64; 32]; mmio::<0x100>(&mut m).update(0xff, |v: u16| v + 1); }",
    },
    Case {
        name: "io_update_at_the_end",
        expect: Expect::Links,
        body: "fn main() { let mut m = [0u64; 32]; mmio::<0x100>(&mut m).update(0xfe, |v: u16| v + 1); }",
    },
    Case {
        name: "register_outside_the_region",
        expect: Expect::FailsLink,
        body: "register! { LAST(u32) @ 0x100 { 31:0 value; } }
               fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read(LAST)); }",
    },
    Case {
        name: "register_inside_the_region",
        expect: Expect::Links,
        body: "register! { LAST(u32) @ 0xfc { 31:0 value; } }
               fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read(LAST)); }",
    },
    Case {
        name: "register_array_index_out_of_range",
        expect: Expect::FailsLink,
        body: "register! { SCRATCH(u32)[4] @ 0x10 { 31:0 value; } }
               fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read(SCRATCH::at(4))); }",
    },
    Case {
        name: "register_array_index_in_range",
        expect: Expect::Links,
        body: "register! { SCRATCH(u32)[4] @ 0x10 { 31:0 value; } }
               fn main() { let mut m = [0u64; 32]; black_box(mmio::<0x100>(&mut m).read(SCRATCH::at(3))); }",
    },
    Case {
        name: "relative_array_index_out_of_range",
        expect: Expect::FailsLink,
        body: "pub struct Engine; struct Engine0;
               impl RegisterBase<Engine> for Engine0 { const BASE: usize = 0x40; }
               register! { QUEUE(u32)[2, stride = 8] @ Engine + 0x10 { 31:0 addr; } }
               fn main() {
                   let mut m = [0u64; 32];
                   mmio::<0x100>(&mut m).write(QUEUE::of::<Engine0>().at(2), QUEUE::from(1));
               }",
    },
    Case {
        name: "relative_array_index_in_range",
        expect: Expect::Links,
        body: "pub struct Engine; struct Engine0;
               impl RegisterBase<Engine> for Engine0 { const BASE: usize = 0x40; }
               register! { QUEUE(u32)[2, stride = 8] @ Engine + 0x10 { 31:0 addr; } }
               fn main() {
                   let mut m = [0u64; 32];
                   mmio::<0x100>(&mut m).write(QUEUE::of::<Engine0>().at(1), QUEUE::from(1));
               }",
    },
    Case {
        name: "projection_build_index_out_of_range",
        expect: Expect::FailsLink,
        body: "fn main() {
                   let mut m = [0u64; 4];
                   let ring: Mmio<'_, [u32; 8]> = mmio::<32>(&mut m).try_cast().unwrap();
                   black_box(io_read!(ring, [build: 8]));
               }",
    },
    Case {
        name: "projection_build_index_in_range",
        expect: Expect::Links,
        body: "fn main() {
                   let mut m = [0u64; 4];
                   let ring: Mmio<'_, [u32; 8]> = mmio::<32>(&mut m).try_cast().unwrap();
                   black_box(io_read!(ring, [build: 7]));
               }",
    },
    Case {
        name: "bounded_from_expr_unproven",
        expect: Expect::FailsLink,
        body: "fn main() { black_box(Bounded::<u32, 4>::from_expr(black_box(0u32) & 0x1f)); }",
    },
    Case {
        name: "bounded_from_expr_proven",
        expect: Expect::Links,
        body: "fn main() { black_box(Bounded::<u32, 4>::from_expr(black_box(0u32) & 0xf)); }",
    },
    Case {
        name: "refcount_saturated_initial_value",
        expect: Expect::FailsLink,
        body: "fn main() { black_box(Refcount::new(-1)); }",
    },
    Case {
        name: "refcount_initial_value",
        expect: Expect::Links,
        body: "fn main() { assert!(Refcount::new(1).dec_and_test()); }",
    },
    // A `const fn` checked with `build_assert!`, called at run time: the argument must be provably
    // in range, as in the kernel.
    Case {
        name: "bit_index_unproven",
        expect: Expect::FailsLink,
        body: "fn main() { black_box(kernel::bits::bit_u32(black_box(31))); }",
    },
    Case {
        name: "bit_index_proven",
        expect: Expect::Links,
        body: "fn main() { assert_eq!(black_box(kernel::bits::bit_u32(31)), 1 << 31); }",
    },
    Case {
        name: "list_arc_pair_with_one_id_twice",
        expect: Expect::FailsLink,
        body: "use kernel::{alloc::flags::GFP_KERNEL, list::ListArc, sync::UniqueArc};
               struct Item;
               kernel::list::impl_list_arc_safe! { impl ListArcSafe<0> for Item { untracked; } }
               fn main() {
                   let unique = UniqueArc::new(Item, GFP_KERNEL).unwrap();
                   black_box(ListArc::<Item, 0>::pair_from_unique::<0>(unique));
               }",
    },
    Case {
        name: "list_arc_pair_with_two_ids",
        expect: Expect::Links,
        body: "use kernel::{alloc::flags::GFP_KERNEL, list::ListArc, sync::UniqueArc};
               struct Item;
               kernel::list::impl_list_arc_safe! {
                   impl ListArcSafe<0> for Item { untracked; }
                   impl ListArcSafe<1> for Item { untracked; }
               }
               fn main() {
                   let unique = UniqueArc::new(Item, GFP_KERNEL).unwrap();
                   black_box(ListArc::<Item, 0>::pair_from_unique::<1>(unique));
               }",
    },
    Case {
        name: "xarray_of_unaligned_pointers",
        expect: Expect::FailsLink,
        body: "use kernel::{alloc::{flags::GFP_KERNEL, KBox}, init::InPlaceInit, xarray::*};
               fn main() {
                   let xa = KBox::pin_init(XArray::<()>::new(AllocKind::Alloc), GFP_KERNEL);
                   let xa = xa.unwrap();
                   black_box(xa.lock().store(0, (), GFP_KERNEL).is_ok());
               }",
    },
    Case {
        name: "xarray_of_aligned_pointers",
        expect: Expect::Links,
        body: "use kernel::{alloc::{flags::GFP_KERNEL, KBox}, init::InPlaceInit, xarray::*};
               fn main() {
                   let xa = KBox::pin_init(XArray::new(AllocKind::Alloc), GFP_KERNEL).unwrap();
                   let value = KBox::new(1, GFP_KERNEL).unwrap();
                   assert!(xa.lock().store(0, value, GFP_KERNEL).is_ok());
               }",
    },
];

/// Writes the fixture crate (only the files that changed, so that cargo's fingerprints hold).
fn write_fixture(dir: &Path) {
    let kernel = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut manifest = format!(
        r#"[package]
name = "build-checks"
version = "0.0.0"
edition = "2021"
publish = false

[dependencies]
kernel = {{ package = "drydock-kernel", path = "{kernel}" }}
pin-init = {{ path = "{kernel}/pin-init" }}

# As in the drydock workspace (and in the kernel, always optimised): `build_assert!` needs it.
[profile.dev]
opt-level = 1

[workspace]
"#,
        kernel = kernel.display()
    );
    for case in CASES {
        manifest += &format!(
            "\n[[bin]]\nname = \"{0}\"\npath = \"src/{0}.rs\"\n",
            case.name
        );
    }
    write_if_changed(&dir.join("Cargo.toml"), &manifest);
    copy_lock_file(dir);
    for case in CASES {
        write_if_changed(
            &dir.join(format!("src/{}.rs", case.name)),
            &format!("{COMMON}\n{}\n", case.body),
        );
    }
}

/// Builds the binary of `case`; returns whether it succeeded and cargo's output.
fn build(dir: &Path, case: &Case) -> (bool, String) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = Command::new(cargo)
        .current_dir(dir)
        .args(["build", "--offline", "--color", "never", "--bin", case.name])
        .arg("--target-dir")
        .arg(dir.join("target"))
        .output()
        .expect("cargo runs");
    let text = String::from_utf8_lossy(&output.stdout) + String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text.into_owned())
}

#[test]
fn build_assert_failures_fail_the_link_and_their_twins_link() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("build-checks");
    write_fixture(&dir);
    let mut failures = Vec::new();
    for case in CASES {
        let (built, output) = build(&dir, case);
        let compile_error = output.contains("error[E");
        let verdict = match case.expect {
            Expect::Links if !built => Err(format!("does not build:\n{output}")),
            Expect::Links => {
                let binary = dir.join("target/debug").join(case.name);
                let status = Command::new(&binary)
                    .status()
                    .expect("the fixture binary runs");
                status
                    .success()
                    .then_some(())
                    .ok_or(format!("built, but exited with {status}"))
            }
            Expect::FailsLink if built => Err("links, but must not".into()),
            Expect::FailsLink if compile_error || !output.contains("rust_build_error") => Err(
                format!("fails, but not at link time with `rust_build_error`:\n{output}"),
            ),
            Expect::FailsLink => Ok(()),
        };
        eprintln!(
            "{:<40} {:?}: {}",
            case.name,
            case.expect,
            if verdict.is_ok() { "ok" } else { "FAILED" }
        );
        if let Err(why) = verdict {
            failures.push(format!("{}: {why}", case.name));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn every_failing_case_has_a_good_twin() {
    let failing = CASES
        .iter()
        .filter(|c| c.expect == Expect::FailsLink)
        .count();
    let linking = CASES.iter().filter(|c| c.expect == Expect::Links).count();
    assert!(failing > 0);
    assert_eq!(failing, linking);
}
