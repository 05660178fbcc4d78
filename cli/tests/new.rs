//! `drydock new` end to end: the crate it writes builds, passes its tests on the simulated bus, and
//! is free of warnings and formatted, both as a member of drydock's workspace (in a copy of this
//! checkout, so the real one is left alone) and as a crate of its own depending on that copy by
//! path; in the workspace it stays out of the kernel proof until `tests/kernel/drivers` lists it.
//!
//! The builds use a target directory of their own under this one, kept between runs (and the copy
//! keeps unchanged files as they were), so only the first run builds drydock's crates.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// How long one cargo command may take: a first build of drydock's crates on a loaded machine
/// takes minutes, later ones seconds.
const LIMIT: Duration = Duration::from_secs(40 * 60);

/// This checkout.
fn checkout() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The directory the test works in, under cargo's target directory.
fn scratch() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| checkout().join("target"));
    target.join("drydock-new-test")
}

/// Makes `to` hold the files of `from` (at the top, `target` and `.git` aside), copying only those
/// that differ, so cargo sees unchanged files as unchanged; removes what `from` does not have.
fn sync(from: &Path, to: &Path, top: bool) {
    fs::create_dir_all(to).unwrap();
    let mut names = Vec::new();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if top && (name == "target" || name == ".git") {
            continue;
        }
        let (source, copy) = (entry.path(), to.join(&name));
        if entry.file_type().unwrap().is_dir() {
            sync(&source, &copy, false);
        } else {
            if fs::read(&copy).ok() != Some(fs::read(&source).unwrap()) {
                fs::copy(&source, &copy).unwrap();
            }
            // Scripts stay executable.
            let mode = entry.metadata().unwrap().permissions();
            if fs::metadata(&copy).unwrap().permissions() != mode {
                fs::set_permissions(&copy, mode).unwrap();
            }
        }
        names.push(name);
    }
    for entry in fs::read_dir(to).unwrap() {
        let entry = entry.unwrap();
        if !names.contains(&entry.file_name()) {
            let path = entry.path();
            if path.is_dir() {
                fs::remove_dir_all(path).unwrap();
            } else {
                fs::remove_file(path).unwrap();
            }
        }
    }
}

/// Runs `cmd` to the end (within [`LIMIT`], else kills it and fails), capturing its output;
/// fails, showing the output, unless it succeeds.
fn run(cmd: &mut Command) -> Output {
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    // Read both pipes while the command runs, so a full pipe cannot stall it.
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap());
    let err = thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap());
    let deadline = Instant::now() + LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{shown} took more than {LIMIT:?}");
        }
        thread::sleep(Duration::from_millis(100));
    };
    let output = Output {
        status,
        stdout: out.join().unwrap().into_bytes(),
        stderr: err.join().unwrap().into_bytes(),
    };
    assert!(
        status.success(),
        "{shown} failed ({status}):\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// cargo, in `dir`, with the test's target directory.
fn cargo(dir: &Path, args: &[&str]) -> Output {
    run(Command::new(env!("CARGO"))
        .args(args)
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", scratch().join("target")))
}

/// `drydock new ARGS` in `dir`; returns what it printed.
fn drydock_new(dir: &Path, args: &[&str]) -> String {
    let out = run(Command::new(env!("CARGO_BIN_EXE_drydock"))
        .arg("new")
        .args(args)
        .current_dir(dir));
    String::from_utf8(out.stdout).unwrap()
}

/// Fails if cargo's `stderr` has a warning.
fn assert_no_warning(what: &str, stderr: &[u8]) {
    let stderr = String::from_utf8_lossy(stderr);
    assert!(
        !stderr.lines().any(|l| l.starts_with("warning")),
        "{what} warns:\n{stderr}"
    );
}

/// Fails unless the test output says `passed` tests passed and none failed.
fn assert_passed(what: &str, stdout: &[u8], passed: usize) {
    let stdout = String::from_utf8_lossy(stdout);
    let line = format!("test result: ok. {passed} passed; 0 failed");
    assert!(stdout.contains(&line), "{what}: no `{line}`:\n{stdout}");
}

/// Fails unless rustfmt finds the crate's Rust files formatted.
fn assert_formatted(dir: &Path) {
    let files = [
        "build.rs",
        "tests/sim.rs",
        "tests/model/mod.rs",
        "process/main.rs",
    ];
    let driver = fs::read_dir(dir.join("src")).unwrap().next().unwrap();
    run(Command::new("rustfmt")
        .args(["--check", "--edition", "2021"])
        .arg(driver.unwrap().path())
        .args(files.map(|f| dir.join(f))));
}

#[test]
fn the_crate_builds_and_passes_its_tests_in_the_workspace_and_out_of_it() {
    let copy = scratch().join("drydock");
    sync(&checkout(), &copy, true);

    // In the workspace: drivers/NAME, a member from the start.
    let out = drydock_new(&copy, &["drivers/mydev", "-d", "1af4:1041"]);
    assert!(out.contains("cargo test -p mydev"), "{out}");
    let source = fs::read_to_string(copy.join("drivers/mydev/src/mydev.rs")).unwrap();
    assert!(source.contains("pci::DeviceId::from_id(pci::Vendor::REDHAT_QUMRANET, 0x1041)"));
    let manifest = fs::read_to_string(copy.join("drivers/mydev/Cargo.toml")).unwrap();
    assert!(manifest.contains("path = \"../../kernel\""), "{manifest}");
    let tested = cargo(&copy, &["test", "-p", "mydev"]);
    assert_no_warning("the driver in the workspace", &tested.stderr);
    assert_passed("the driver in the workspace", &tested.stdout, 5);
    let built = cargo(&copy, &["build", "-p", "mydev-process"]);
    assert_no_warning("the driver's binary", &built.stderr);
    let help = run(Command::new(scratch().join("target/debug/mydev")).arg("--help"));
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("mydev"), "{help}");
    assert_formatted(&copy.join("drivers/mydev"));

    // It is not in the kernel proof until listed.
    let proof = || run(Command::new(copy.join("tests/kernel/build")).arg("--drivers"));
    let drivers = proof();
    let (listed, said) = (
        String::from_utf8(drivers.stdout).unwrap(),
        String::from_utf8(drivers.stderr).unwrap(),
    );
    assert!(!listed.contains("mydev"), "{listed}");
    assert!(said.contains("not in the proof: drivers/mydev"), "{said}");
    let list = copy.join("tests/kernel/drivers");
    let text = fs::read_to_string(&list).unwrap();
    fs::write(&list, format!("{text}drivers/mydev\n")).unwrap();
    let listed = String::from_utf8(proof().stdout).unwrap();
    assert!(
        listed.contains("mydev\tdrivers/mydev/src/mydev.rs"),
        "{listed}"
    );

    // Out of the workspace: a workspace of its own, on drydock by path. QEMU's edu vendor has no
    // name in the kernel, so its table matches the class.
    let outside = scratch().join("outside");
    let _ = fs::remove_dir_all(&outside);
    fs::create_dir_all(&outside).unwrap();
    let copy_path = copy.to_str().unwrap();
    let args = ["my-edu", "-d", "1234:11e8:00ff", "--drydock", copy_path];
    let out = drydock_new(&outside, &args);
    let crate_dir = outside.join("my-edu");
    assert!(out.contains("cargo test"), "{out}");
    let source = fs::read_to_string(crate_dir.join("src/my_edu.rs")).unwrap();
    assert!(source.contains("pci::DeviceId::from_class(0x00ff00"));
    assert!(source.contains("pdev.device_id() != DEVICE"));
    let tested = cargo(&crate_dir, &["test"]);
    assert_no_warning("the driver out of the workspace", &tested.stderr);
    assert_passed("the driver out of the workspace", &tested.stdout, 5);
    let linted = cargo(&crate_dir, &["clippy", "--all-targets"]);
    assert_no_warning("clippy on the driver", &linted.stderr);
    assert_formatted(&crate_dir);
}
