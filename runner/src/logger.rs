//! The log output of a driver process: `LEVEL target: message` lines on standard error.
//!
//! Everything drydock and drivers log goes through the `log` crate (`pr_info!`, `dev_err!` and the
//! host layer's own messages). A driver binary calls [`init`] once, first thing in `main` (the
//! runtime's [`run`](super::runtime::run) does it too); the level comes from the `DRYDOCK_LOG`
//! environment variable:
//!
//! ```text
//! DRYDOCK_LOG=debug                 everything at debug and above
//! DRYDOCK_LOG=warn,drydock=debug    warnings, and debug messages of target `drydock`
//! ```
//!
//! (the default is `info`). Tests can [`capture`] the records logged while the capture lives,
//! whatever the level set for standard error.

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, Weak};

use log::{Level, LevelFilter, Log, Metadata, Record};

/// The environment variable that sets the log level.
pub const LOG_ENV: &str = "DRYDOCK_LOG";

/// Which records reach standard error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Filter {
    default: LevelFilter,
    /// Per-target levels: a target matches its own name and the names below it (`a` matches
    /// `a::b`); the longest match wins.
    targets: Vec<(String, LevelFilter)>,
}

impl Filter {
    /// The default filter: `info`.
    pub const DEFAULT: Filter = Filter {
        default: LevelFilter::Info,
        targets: Vec::new(),
    };

    /// Parses a filter: comma-separated `level` and `target=level` items.
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut filter = Self::DEFAULT;
        for item in spec.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            let parse = |level: &str| {
                level.parse::<LevelFilter>().map_err(|_| {
                    format!("`{level}` is not a log level (off, error, warn, info, debug, trace)")
                })
            };
            match item.split_once('=') {
                Some((target, level)) => filter.targets.push((target.to_owned(), parse(level)?)),
                None => filter.default = parse(item)?,
            }
        }
        Ok(filter)
    }

    /// The level set for `target`.
    pub fn level(&self, target: &str) -> LevelFilter {
        self.targets
            .iter()
            .filter(|(t, _)| {
                target == t
                    || target
                        .strip_prefix(t.as_str())
                        .is_some_and(|r| r.starts_with("::"))
            })
            .max_by_key(|(t, _)| t.len())
            .map_or(self.default, |(_, level)| *level)
    }

    /// The most verbose level the filter lets through.
    fn max(&self) -> LevelFilter {
        self.targets
            .iter()
            .map(|(_, l)| *l)
            .fold(self.default, Ord::max)
    }
}

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

static LOGGER: Logger = Logger {
    filter: RwLock::new(Filter::DEFAULT),
    captures: Mutex::new(Vec::new()),
    capturing: AtomicUsize::new(0),
};

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
            self.filter().max()
        };
        log::set_max_level(max);
    }
}

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.capturing.load(Ordering::Relaxed) > 0
            || metadata.level() <= self.filter().level(metadata.target())
    }

    fn log(&self, record: &Record<'_>) {
        let to_stderr = record.level() <= self.filter().level(record.target());
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

/// Installs drydock's logger with the filter from `DRYDOCK_LOG` (or `info`), if no logger is
/// installed yet. Returns `false` if another logger was installed first, in which case that one
/// keeps receiving the records.
///
/// An unparseable `DRYDOCK_LOG` is reported on standard error and the default used.
pub fn init() -> bool {
    let filter = match std::env::var(LOG_ENV) {
        Ok(spec) => Filter::parse(&spec).unwrap_or_else(|err| {
            eprintln!("WARN  drydock: {LOG_ENV}: {err}; logging at info");
            Filter::DEFAULT
        }),
        Err(_) => Filter::DEFAULT,
    };
    init_with(filter)
}

/// Installs drydock's logger with `filter` (or sets the filter if it is installed already).
/// Returns `false` if another logger was installed first.
pub fn init_with(filter: Filter) -> bool {
    *LOGGER.filter.write().unwrap_or_else(|e| e.into_inner()) = filter;
    if !INSTALLED.load(Ordering::Acquire) {
        if log::set_logger(&LOGGER).is_err() {
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
    fn filters_parse_levels_and_targets() {
        let filter = Filter::parse("warn, drydock=debug,drydock::vfio=trace").unwrap();
        assert_eq!(filter.level("other"), LevelFilter::Warn);
        assert_eq!(filter.level("drydock"), LevelFilter::Debug);
        assert_eq!(filter.level("drydock::pci"), LevelFilter::Debug);
        assert_eq!(filter.level("drydock::vfio::group"), LevelFilter::Trace);
        assert_eq!(filter.level("drydockish"), LevelFilter::Warn);
        assert_eq!(filter.max(), LevelFilter::Trace);
        assert_eq!(Filter::parse("").unwrap(), Filter::DEFAULT);
        let err = Filter::parse("loud").unwrap_err();
        assert!(err.contains("not a log level"), "{err}");
    }

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
