//! Progress lines: [`say`] prints one where `cargo test` shows it at once, and [`watch_download`]
//! says how many bytes of a download have arrived, of how many, and at what rate.
//!
//! The harness's downloads (the guest kernel's `.deb`, tens of megabytes) run `apt-get download`,
//! which writes the file straight into the directory it is run in. [`watch_download`] runs the
//! download and, from another thread, measures that directory every few seconds, so it needs
//! nothing from the downloader; `tests/kernel/progress.sh` prints the same lines for the proof
//! kernel's source. Each is one full line, so it reads the same on a terminal and in a log.

use std::fs;
use std::io::Write;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// How often a download says how far it is.
pub const INTERVAL: Duration = Duration::from_secs(2);

/// Prints `line` on standard error as it comes, even inside a test: `cargo test`'s harness takes
/// what `eprintln!` prints there and shows it only if the test fails, so a build or a download
/// printing with it says nothing for as long as it runs. A failed write is ignored, as
/// `eprintln!`'s panic would be no better.
pub fn say(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs `download`, which fetches about `total` bytes (`None` when not known) into the files of
/// `dir`; every `every` while it runs, `say` gets a line such as
/// `guest kernel: 12.5 MiB of 70.0 MiB (17%), 6.1 MiB/s` (the rate since the line before), and
/// when it succeeds one such as `guest kernel: 70.0 MiB in 12s (5.8 MiB/s)`. Returns what
/// `download` returns.
pub fn watch_download<T, E>(
    label: &str,
    dir: &Path,
    total: Option<u64>,
    every: Duration,
    say: impl Fn(&str) + Sync,
    download: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let started = Instant::now();
    let (done, finished) = mpsc::channel::<()>();
    let report = &say;
    let result = thread::scope(|scope| {
        scope.spawn(move || {
            let (mut before_bytes, mut before) = (0, started);
            // The sender is dropped when the download ends, which ends the wait at once.
            while let Err(mpsc::RecvTimeoutError::Timeout) = finished.recv_timeout(every) {
                let (bytes, now) = (bytes_in(dir), Instant::now());
                let of = total
                    .filter(|&t| t > 0)
                    .map(|t| format!(" of {} ({}%)", mib(t), bytes * 100 / t))
                    .unwrap_or_default();
                let rate = rate(bytes.saturating_sub(before_bytes), now - before);
                report(&format!("{label}: {}{of}, {rate}", mib(bytes)));
                (before_bytes, before) = (bytes, now);
            }
        });
        let result = download();
        drop(done);
        result
    });
    if result.is_ok() {
        let (bytes, took) = (bytes_in(dir), started.elapsed());
        say(&format!(
            "{label}: {} in {}s ({})",
            mib(bytes),
            took.as_secs(),
            rate(bytes, took)
        ));
    }
    result
}

/// `bytes` in MiB with one decimal: `12.5 MiB`.
fn mib(bytes: u64) -> String {
    format!("{}.{} MiB", bytes >> 20, ((bytes * 10) >> 20) % 10)
}

/// `bytes` over `time`, in MiB/s.
fn rate(bytes: u64, time: Duration) -> String {
    let per_second = bytes as f64 / time.as_secs_f64().max(1e-6);
    format!("{}/s", mib(per_second as u64))
}

/// The bytes in the files directly under `dir` (a download writes no subdirectories); 0 if it
/// cannot be read.
fn bytes_in(dir: &Path) -> u64 {
    fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.ok()?.metadata().ok())
        .filter(|meta| meta.is_file())
        .map(|meta| meta.len())
        .sum()
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::vm::RunDir;

    /// Waits (a minute at most) until `lines` holds a line containing `text`.
    fn wait_for(lines: &Mutex<Vec<String>>, text: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !lines.lock().unwrap().iter().any(|l| l.contains(text)) {
            assert!(Instant::now() < deadline, "no line with {text:?}");
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// What [`a_line_said_shows_under_the_harness`] has its child print.
    const SAID: &str = "progress: a line said inside a passing test";

    /// The test [`a_line_said_shows_under_the_harness`] runs in a child: only prints [`SAID`].
    #[test]
    fn says_a_line() {
        say(SAID);
    }

    #[test]
    fn a_line_said_shows_under_the_harness() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "progress::tests::says_a_line",
                "--exact",
                "--test-threads=1",
            ])
            .output()
            .unwrap();
        assert!(out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(SAID),
            "the harness kept the line: {stderr:?}"
        );
    }

    #[test]
    fn a_download_says_its_bytes_share_and_rate_then_its_total() {
        let scratch = RunDir::create("progress-share").unwrap();
        let lines = Mutex::new(Vec::new());
        let file = scratch.file("linux-image.deb");
        let result: Result<u8, ()> = watch_download(
            "guest kernel",
            scratch.path(),
            Some(1 << 20),
            Duration::from_millis(10),
            |line| lines.lock().unwrap().push(line.to_owned()),
            || {
                fs::write(&file, vec![0; 1 << 19]).unwrap();
                // The rate is that since the line before: nothing new, 0.
                wait_for(&lines, "0.5 MiB of 1.0 MiB (50%), 0.0 MiB/s");
                fs::write(&file, vec![0; 1 << 20]).unwrap();
                Ok(7)
            },
        );
        assert_eq!(result, Ok(7));
        let lines = lines.into_inner().unwrap();
        let halfway: Vec<_> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("guest kernel: 0.5 MiB of 1.0 MiB (50%), "))
            .collect();
        assert!(!halfway.is_empty(), "{lines:?}");
        for rate in halfway {
            let number = rate
                .strip_suffix(" MiB/s")
                .unwrap_or_else(|| panic!("{rate}"));
            assert!(number.parse::<f64>().is_ok(), "{rate}");
        }
        let last = lines.last().unwrap();
        assert!(
            last.starts_with("guest kernel: 1.0 MiB in ") && last.ends_with(" MiB/s)"),
            "{lines:?}"
        );
    }

    #[test]
    fn without_a_total_the_bytes_alone_and_a_failure_has_no_summary() {
        let scratch = RunDir::create("progress-failure").unwrap();
        let lines = Mutex::new(Vec::new());
        let result: Result<(), &str> = watch_download(
            "x",
            scratch.path(),
            None,
            Duration::from_millis(10),
            |line| lines.lock().unwrap().push(line.to_owned()),
            || {
                fs::write(scratch.file("x.deb"), vec![0; 3 << 19]).unwrap();
                wait_for(&lines, "x: 1.5 MiB, ");
                Err("gone")
            },
        );
        assert_eq!(result, Err("gone"));
        let lines = lines.into_inner().unwrap();
        assert!(lines.iter().all(|l| l.starts_with("x: ")), "{lines:?}");
        assert!(
            !lines
                .iter()
                .any(|l| l.contains(" of ") || l.contains(" in ")),
            "{lines:?}"
        );
    }

    #[test]
    fn sizes_have_one_decimal() {
        assert_eq!(mib(0), "0.0 MiB");
        assert_eq!(mib((1 << 20) + (1 << 20) / 10 * 3), "1.2 MiB");
        assert_eq!(mib(70 << 20), "70.0 MiB");
        assert_eq!(rate(3 << 20, Duration::from_secs(2)), "1.5 MiB/s");
    }
}
