//! The crates' layers, as `cargo tree` shows them: what each crate may link, and what it may not.
//!
//! From the bottom: `drydock-host` (the C side: driver core, VFIO, UIO, sysfs), `drydock-kernel`
//! (the Linux 7.3 API, over the host), `drydock-runner` (a driver module as a process), and apart
//! `drydock-admin` (the `drydock` command's policy, over the host) and `drydock-sim` (test support:
//! the simulated bus and the fake sysfs tree). A driver's library links the kernel API alone; its
//! binary, a package of its own, links the runner. Each rule is checked on the crates' normal
//! dependencies, the ones a build of the crate compiles (dev-dependencies build only its tests).

use std::collections::BTreeSet;
use std::process::Command;

use drydock_tests::guest::{driver_packages, workspace_root};

/// The packages in `package`'s normal dependency tree, itself excluded, down to `depth` levels
/// (all of them with `None`).
fn dependencies(package: &str, depth: Option<u32>) -> BTreeSet<String> {
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .current_dir(workspace_root())
        .args(["tree", "--locked", "--edges", "normal", "--prefix", "none"])
        .args(["--format", "{p}", "--package", package]);
    if let Some(depth) = depth {
        cargo.arg("--depth").arg(depth.to_string());
    }
    let out = cargo.output().expect("cargo runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != package)
        .map(str::to_owned)
        .collect()
}

/// The packages `package` links.
fn linked(package: &str) -> BTreeSet<String> {
    dependencies(package, None)
}

/// Fails if `package` links any of `forbidden`, saying why it must not.
fn assert_links_none(package: &str, forbidden: &[&str], why: &str) {
    let linked = linked(package);
    let found: Vec<_> = forbidden
        .iter()
        .filter(|name| linked.contains(**name))
        .collect();
    assert!(
        found.is_empty(),
        "{package} links {found:?}, but {why} (cargo tree -e normal -p {package})"
    );
}

#[test]
fn the_host_crate_never_links_the_kernel_api_or_what_is_above_it() {
    assert_links_none(
        "drydock-host",
        &[
            "drydock-kernel",
            "drydock-macros",
            "pin-init",
            "pin-init-internal",
            "drydock-runner",
            "drydock-admin",
            "drydock-sim",
        ],
        "the host is the C side the kernel API calls, and is below it",
    );
}

#[test]
fn the_kernel_api_links_only_the_host_below_it() {
    assert_links_none(
        "drydock-kernel",
        &["drydock-runner", "drydock-admin", "drydock-sim"],
        "the kernel API is what a driver file sees, and nothing drydock-specific is in it",
    );
    assert!(linked("drydock-kernel").contains("drydock-host"));
}

#[test]
fn the_drydock_command_links_neither_the_kernel_api_nor_the_runner() {
    assert_links_none(
        "drydock-cli",
        &["drydock-kernel", "drydock-runner", "drydock-sim"],
        "the command lists, binds and checks devices through the admin layer alone",
    );
    assert!(linked("drydock-cli").contains("drydock-admin"));
}

#[test]
fn a_driver_library_names_the_kernel_api_and_nothing_drydock_specific() {
    let drivers = driver_packages(false);
    assert!(!drivers.is_empty(), "no driver crates under drivers/");
    for driver in drivers {
        let direct = dependencies(&driver, Some(1));
        let allowed = ["drydock-kernel", "pin-init", "zerocopy"];
        assert!(
            direct.contains("drydock-kernel") && direct.iter().all(|d| allowed.contains(&&**d)),
            "the driver file of {driver} may name only `kernel` (and `pin_init`, `zerocopy`), as \
             in a Linux 7.3 tree: its binary, in drivers/{driver}/process, is what links the \
             runner, and its tests take the rest as dev-dependencies; it depends on {direct:?}"
        );
    }
}

#[test]
fn nothing_a_driver_process_or_the_command_runs_links_the_simulation() {
    let processes = driver_packages(true);
    assert_eq!(
        processes.len(),
        driver_packages(false).len(),
        "a driver without a binary"
    );
    let others = ["drydock-runner", "drydock-admin", "drydock-cli"].map(str::to_owned);
    for package in processes.iter().chain(&others) {
        assert_links_none(
            package,
            &["drydock-sim"],
            "the simulated devices and the fake sysfs tree are test support",
        );
    }
    assert!(linked("nvme-process").contains("drydock-runner"));
}
