//! Which drivers the proof kernel builds: those `tests/kernel/drivers` lists, and no others
//! (`tests/kernel/build --drivers`, which builds nothing). A listed driver also needs its binary
//! (`drivers/NAME/process`), which the guest's in-kernel comparison runs.

use std::fs;
use std::process::Command;

use drydock_tests::guest::{guest_packages, workspace_root};

/// The directories the list names, relative to the workspace root.
fn listed() -> Vec<String> {
    let list = fs::read_to_string(workspace_root().join("tests/kernel/drivers")).unwrap();
    list.lines()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The package name in the manifest of the crate in `dir` (relative to the workspace root).
fn package_name(dir: &str) -> String {
    let manifest = fs::read_to_string(workspace_root().join(dir).join("Cargo.toml")).unwrap();
    let line = manifest
        .lines()
        .find(|line| line.starts_with("name = "))
        .unwrap_or_else(|| panic!("{dir}/Cargo.toml names no package"));
    line["name = ".len()..].trim_matches('"').to_owned()
}

#[test]
fn the_proof_builds_the_listed_drivers_in_order() {
    let out = Command::new(workspace_root().join("tests/kernel/build"))
        .arg("--drivers")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let files: Vec<&str> = stdout
        .lines()
        .map(|line| line.split_once('\t').expect("module<TAB>file").1)
        .collect();
    let listed = listed();
    assert_eq!(files.len(), listed.len(), "{stdout}");
    for (file, dir) in files.iter().zip(&listed) {
        assert!(
            file.starts_with(&format!("{dir}/src/")),
            "{dir} is listed, but the proof builds {file}"
        );
    }
    // Every driver crate of the workspace is listed, so nothing is said to be left out.
    assert!(!stderr.contains("not in the proof"), "{stderr}");
}

#[test]
fn each_listed_driver_has_its_binary_in_the_guest() {
    let built = guest_packages();
    for dir in listed() {
        let process = package_name(&format!("{dir}/process"));
        assert!(
            built.contains(&process),
            "{dir} is in the proof, whose guest cases run its binary, but {process} is not built \
             for the guest"
        );
    }
}
