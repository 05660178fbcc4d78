//! The command's log: what `RUST_LOG` (or `DRYDOCK_LOG`) asks for, on standard error.
//!
//! drydock's own messages are not log records: they are printed whatever the filter. The log
//! shows what happens underneath, for a user who wants to see it: at `debug`, every value the
//! command writes to sysfs and every module it loads (`drydock_host::sysfs`). The filter is the
//! one every drydock program takes ([`drydock_host::log_filter`]); one that does not parse is
//! reported, not ignored.

use std::io::Write;
use std::sync::OnceLock;

use drydock_host::log_filter::{self, Filter};
use log::{Log, Metadata, Record};

/// The command's logger: records the filter passes, as `drydock: LEVEL: message` lines.
struct Logger(Filter);

impl Log for Logger {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if self.0.matches(record) {
            let line = format!(
                "drydock: {}: {}\n",
                record.level().as_str().to_ascii_lowercase(),
                record.args()
            );
            let _ = std::io::stderr().lock().write_all(line.as_bytes());
        }
    }

    fn flush(&self) {}
}

static LOGGER: OnceLock<Logger> = OnceLock::new();

/// Installs the logger with the filter from the environment, once per process; a filter that
/// does not parse is reported on `err`.
pub(crate) fn init(err: &mut dyn Write) {
    let mut problem = None;
    let logger = LOGGER.get_or_init(|| {
        let (filter, error) = log_filter::from_env();
        problem = error;
        Logger(filter)
    });
    if let Some(problem) = problem {
        crate::output::line(err, &format!("drydock: warning: {problem}"));
    }
    if log::set_logger(logger).is_ok() {
        log::set_max_level(logger.0.filter());
    }
}
