//! The progress lines of `tests/kernel/build` (`tests/kernel/progress.sh`), on fake work: a
//! download says its bytes, its share of the whole and its rate; a build says what it builds, how
//! long it has taken and how long the previous one took, and keeps its duration for the next. The
//! fake work waits for the line it expects before it ends, so no timing decides the outcome.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};

use drydock_tests::vm::RunDir;

/// Runs `script` in bash after sourcing progress.sh as the build does (strict mode, its `log`),
/// with short intervals, in `dir`; returns the exit status and standard error. `wait_for TEXT`
/// in the script waits (30 s at most) until standard error holds TEXT, else ends the script with
/// status 99 (a plain failure would not end it: the work runs where `set -e` does not apply); the
/// progress reporter of a script that ends so is killed with it.
fn run(dir: &Path, script: &str) -> (Option<i32>, String) {
    let progress = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/progress.sh");
    let err_file = dir.join("stderr");
    let prelude = format!(
        "set -Eeuo pipefail\n\
         log() {{ printf 'kernel: %s\\n' \"$*\" >&2; }}\n\
         source '{}'\n\
         download_interval=0.1\n\
         heartbeat_interval=0.1\n\
         trap 'kill $(jobs -p) 2>/dev/null || true' EXIT\n\
         wait_for() {{ for _ in $(seq 300); do grep -qF \"$1\" '{}' && return 0; sleep 0.1; done; \
         printf 'no line with %s\\n' \"$1\" >&2; exit 99; }}\n",
        progress.display(),
        err_file.display()
    );
    let status = Command::new("bash")
        .arg("-c")
        .arg(format!("{prelude}{script}"))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stderr(fs::File::create(&err_file).unwrap())
        .status()
        .expect("running bash");
    (status.code(), fs::read_to_string(err_file).unwrap())
}

#[test]
fn a_download_shows_its_bytes_share_and_rate() {
    let scratch = RunDir::create("kernel-progress-download").unwrap();
    let (code, err) = run(
        scratch.path(),
        "mkdir into\n\
         fetch() {\n\
           head -c 524288 /dev/zero >into/package.deb\n\
           wait_for '0.5 MiB of 1.0 MiB (50%), 0.0 MiB/s'\n\
           head -c 524288 /dev/zero >>into/package.deb\n\
         }\n\
         watch_download 'fetching linux-source-7.3 7.3.4-1' into 1048576 fetch\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let progress: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("0.5 MiB of 1.0 MiB"))
        .collect();
    assert!(!progress.is_empty(), "{err}");
    for line in progress {
        let rate = line
            .strip_prefix("kernel: fetching linux-source-7.3 7.3.4-1: 0.5 MiB of 1.0 MiB (50%), ")
            .and_then(|rest| rest.strip_suffix(" MiB/s"))
            .unwrap_or_else(|| panic!("{line:?}"));
        assert!(rate.parse::<f64>().is_ok(), "{line:?}");
    }
    let last = err.lines().last().unwrap();
    assert!(
        last.starts_with("kernel: fetching linux-source-7.3 7.3.4-1: 1.0 MiB in ")
            && last.ends_with(" MiB/s)"),
        "{err}"
    );

    // Without a total, the bytes and rate alone; a failed download ends without a summary.
    let (code, err) = run(
        scratch.path(),
        "mkdir other\n\
         fetch() { head -c 1048576 /dev/zero >other/x; wait_for '1.0 MiB, '; return 3; }\n\
         watch_download 'fetching x' other 0 fetch\n",
    );
    assert_eq!(code, Some(3), "{err}");
    assert!(
        err.lines()
            .any(|l| l.starts_with("kernel: fetching x: 1.0 MiB, ")),
        "{err}"
    );
    assert!(!err.contains(" in "), "{err}");
}

#[test]
fn a_build_shows_a_heartbeat_with_an_estimate_and_keeps_its_time() {
    let scratch = RunDir::create("kernel-progress-build").unwrap();
    fs::write(scratch.file("times"), "full 600\ndrivers 50\n").unwrap();
    let (code, err) = run(
        scratch.path(),
        "build() {\n\
           printf '  CC      kernel/fork.o\\nsome other line\\n' >>build.log\n\
           wait_for 'now: CC kernel/fork.o'\n\
         }\n\
         build_with_heartbeat full build.log times build\n",
    );
    assert_eq!(code, Some(0), "{err}");
    let beat = err
        .lines()
        .find(|l| l.contains("now: CC kernel/fork.o"))
        .unwrap();
    assert!(
        beat.starts_with("kernel: still building (full), ")
            && beat.contains(" so far, about ")
            && beat.contains(" left (the last full build took 10m00s); now: CC kernel/fork.o"),
        "{beat}"
    );
    // The build's own time replaces the last full build's; the other kinds stay.
    let times = fs::read_to_string(scratch.file("times")).unwrap();
    let lines: Vec<&str> = times.lines().collect();
    assert_eq!(lines.len(), 2, "{times}");
    assert_eq!(lines[0], "drivers 50");
    let seconds: u64 = lines[1].strip_prefix("full ").unwrap().parse().unwrap();
    assert!(seconds < 600, "{times}");

    // A first build of its kind has no estimate; a failed build keeps no time.
    let (code, err) = run(
        scratch.path(),
        "build() { wait_for 'no estimate yet'; return 2; }\n\
         build_with_heartbeat check build.log times build\n",
    );
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.lines()
            .any(|l| l.contains("no estimate yet (the first check build); now: CC kernel/fork.o")),
        "{err}"
    );
    assert_eq!(fs::read_to_string(scratch.file("times")).unwrap(), times);

    // A build past the last one's time says so.
    fs::write(scratch.file("times"), "drivers 0\n").unwrap();
    let (code, err) = run(
        scratch.path(),
        "build() { wait_for 'longer than the last drivers build (0s)'; }\n\
         build_with_heartbeat drivers build.log times build\n",
    );
    assert_eq!(code, Some(0), "{err}");
}

#[test]
fn the_build_script_parses() {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("kernel/build");
    let status = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(status.success());
}
