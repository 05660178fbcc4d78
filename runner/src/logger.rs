//! The log output of a driver process: `LEVEL target: message` lines on standard error.
//!
//! Everything drydock and drivers log goes through the `log` crate (`pr_info!`, `dev_err!` and the
//! host layer's own messages). A driver binary calls [`init`] once, first thing in `main` (the
//! runtime's [`run`](super::runtime::run) does it too); which records are printed comes from
//! `RUST_LOG`, or `DRYDOCK_LOG` if set, in `env_logger`'s syntax ([`drydock_host::log_filter`]):
//!
//! ```text
//! RUST_LOG=debug                    everything at debug and above
//! RUST_LOG=warn,drydock=debug       warnings, and debug messages of targets starting with `drydock`
//! ```
//!
//! (the default is `info`). Tests can [`capture`] the records logged while the capture lives,
//! whatever the level set for standard error.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, RwLock, Weak};

use drydock_host::log_filter::{self, Filter};
use log::{Level, LevelFilter, Log, Metadata, Record};

/// A record kept by a [`LogCapture`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapturedRecord {
    /// The record's level.
    pub level: Level,
    /// The record's target.
    pub target: String,
    /// The formatted message.
    pub message: String,
}

type CaptureBuffer = Mutex<Vec<CapturedRecord>>;

/// drydock's logger.
struct Logger {
    filter: RwLock<Filter>,
    captures: Mutex<Vec<Weak<CaptureBuffer>>>,
    capturing: AtomicUsize,
}

static LOGGER: LazyLock<Logger> = LazyLock::new(|| Logger {
    filter: RwLock::new(log_filter::default_filter()),
    captures: Mutex::new(Vec::new()),
    capturing: AtomicUsize::new(0),
});

/// Whether [`LOGGER`] is the process's logger.
static INSTALLED: AtomicBool = AtomicBool::new(false);

impl Logger {
    fn filter(&self) -> std::sync::RwLockReadGuard<'_, Filter> {
        self.filter.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Sets `log`'s global maximum level from the filter and the live captures.
    fn update_max_level(&self) {
        let max = if self.capturing.load(Ordering::Acquire) > 0 {
            LevelFilter::Trace
        } else {
            self.filter().filter()
        };
        log::set_max_level(max);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.capturing.load(Ordering::Relaxed) > 0 || self.filter().enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        let to_stderr = self.filter().matches(record);
        let capturing = self.capturing.load(Ordering::Acquire) > 0;
        if !to_stderr && !capturing {
            return;
        }
        let message = record.args().to_string();
        if to_stderr {
            // One write per line, so lines of concurrent threads do not interleave.
            let line = format!("{:<5} {}: {message}\n", record.level(), record.target());
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
        if capturing {
            let captures = self.captures.lock().unwrap_or_else(|e| e.into_inner());
            for buffer in captures.iter().filter_map(Weak::upgrade) {
                buffer
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(CapturedRecord {
                        level: record.level(),
                        target: record.target().to_owned(),
                        message: message.clone(),
                    });
            }
        }
    }

    fn flush(&self) {
        let _ = std::io::stderr().flush();
    }
}

/// Installs drydock's logger with the filter from `DRYDOCK_LOG` or `RUST_LOG` (or `info`), if no
/// logger is installed yet. Returns `false` if another logger was installed first, in which case
/// that one keeps receiving the records.
///
/// A filter that does not parse is reported on standard error and the default used.
pub fn init() -> bool {
    let (filter, problem) = log_filter::from_env();
    if let Some(problem) = problem {
        eprintln!("WARN  drydock: {problem}");
    }
    init_with(filter)
}

/// Installs drydock's logger with `filter` (or sets the filter if it is installed already).
/// Returns `false` if another logger was installed first.
pub fn init_with(filter: Filter) -> bool {
    *LOGGER.filter.write().unwrap_or_else(|e| e.into_inner()) = filter;
    if !INSTALLED.load(Ordering::Acquire) {
        if log::set_logger(&*LOGGER).is_err() {
            return false;
        }
        INSTALLED.store(true, Ordering::Release);
    }
    LOGGER.update_max_level();
    true
}

/// Records logged (by any thread) while it lives; see [`capture`].
pub struct LogCapture {
    buffer: Arc<CaptureBuffer>,
}

impl LogCapture {
    /// Returns the records captured so far.
    pub fn records(&self) -> Vec<CapturedRecord> {
        self.buffer
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The captured messages a user sees at the default level (info and above) that begin with
    /// `prefix` (a device's, `"edu 0000:00:02.0: "`), without it: what a driver said of a device,
    /// not the driver core's debug-level notes.
    pub fn lines_shown(&self, prefix: &str) -> Vec<String> {
        self.records()
            .into_iter()
            .filter(|record| record.level <= Level::Info)
            .filter_map(|record| record.message.strip_prefix(prefix).map(str::to_owned))
            .collect()
    }

    /// Whether some captured message contains `text`.
    pub fn contains(&self, text: &str) -> bool {
        self.records().iter().any(|r| r.message.contains(text))
    }
}

impl Drop for LogCapture {
    fn drop(&mut self) {
        let mut captures = LOGGER.captures.lock().unwrap_or_else(|e| e.into_inner());
        captures.retain(|c| {
            c.strong_count() > 0 && !std::ptr::eq(c.as_ptr(), Arc::as_ptr(&self.buffer))
        });
        LOGGER.capturing.store(captures.len(), Ordering::Release);
        drop(captures);
        LOGGER.update_max_level();
    }
}

/// Starts capturing every record logged from now on, at every level, from every thread, until
/// the returned value is dropped. Installs drydock's logger first if no logger is installed.
///
/// Records logged by tests running in parallel are captured too: look for messages by content.
/// If another logger was installed first, nothing is captured.
pub fn capture() -> LogCapture {
    if !INSTALLED.load(Ordering::Acquire) {
        init();
    }
    let buffer = Arc::new(Mutex::new(Vec::new()));
    let mut captures = LOGGER.captures.lock().unwrap_or_else(|e| e.into_inner());
    captures.push(Arc::downgrade(&buffer));
    LOGGER.capturing.store(captures.len(), Ordering::Release);
    drop(captures);
    LOGGER.update_max_level();
    LogCapture { buffer }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captures_see_records_below_the_stderr_level() {
        let capture = capture();
        log::trace!(target: "drydock-test", "a trace record {}", 42);
        log::error!(target: "drydock-test", "an error record");
        let mine: Vec<_> = capture
            .records()
            .into_iter()
            .filter(|r| r.target == "drydock-test")
            .collect();
        assert_eq!(mine.len(), 2);
        assert_eq!(mine[0].level, Level::Trace);
        assert_eq!(mine[0].message, "a trace record 42");
        assert!(capture.contains("an error record"));
        drop(capture);
        let later = super::capture();
        log::info!(target: "drydock-test", "after");
        assert!(!later.contains("a trace record"));
    }
}
