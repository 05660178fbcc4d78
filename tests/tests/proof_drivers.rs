//! Which drivers the proof kernel builds: those `tests/kernel/drivers` lists, and no others
//! (`tests/kernel/build --drivers`, which builds nothing); a driver crate not listed (one just made
//! with `drydock new`, say) is only said to be left out. A listed driver also needs its binary
//! (`drivers/NAME/process`), which the guest's in-kernel comparison runs.

use std::fs;
use std::process::Command;

use drydock_tests::guest::{driver_dirs, guest_packages, package_name, workspace_root};

/// The directories the list names, relative to the workspace root.
fn listed() -> Vec<String> {
    let list = fs::read_to_string(workspace_root().join("tests/kernel/drivers")).unwrap();
    list.lines()
        .map(|line| line.split('#').next().unwrap().trim())
        .filter(|line| !line.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The driver crates the list leaves out, relative to the workspace root, sorted.
fn unlisted(listed: &[String]) -> Vec<String> {
    let root = workspace_root();
    driver_dirs()
        .iter()
        .map(|dir| dir.strip_prefix(root).unwrap().to_str().unwrap().to_owned())
        .filter(|dir| !listed.contains(dir))
        .collect()
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
    // A driver crate not listed is built and tested as any crate, and said to be left out.
    let left_out: Vec<&str> = stderr
        .lines()
        .filter_map(|line| line.split_once("not in the proof: "))
        .map(|(_, rest)| rest.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(left_out, unlisted(&listed), "{stderr}");
}

#[test]
fn each_listed_driver_has_its_binary_in_the_guest() {
    let built = guest_packages();
    for dir in listed() {
        let process = package_name(&workspace_root().join(&dir).join("process"))
            .unwrap_or_else(|| panic!("{dir}/process/Cargo.toml names no package"));
        assert!(
            built.contains(&process),
            "{dir} is in the proof, whose guest cases run its binary, but {process} is not built \
             for the guest"
        );
    }
}
