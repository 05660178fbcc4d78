//! `printk()`: messages of drivers, through the `log` crate.
//!
//! In the kernel, `pr_info!` and its siblings call `printk()` with a log level and the module's
//! name as prefix. Here [`printk`] emits a record through the [`log`] crate, with the level mapped
//! as below and the calling module's path as the record's target, so any `log` backend can show
//! them; a driver process installs a small backend that prints to stderr and can capture records
//! for tests.
//!
//! | kernel level | `log` level |
//! |---|---|
//! | emerg, alert, crit, err | `Error` |
//! | warning | `Warn` |
//! | notice, info | `Info` |
//! | debug | `Debug` |
//!
//! Messages keep the kernel convention of ending in `\n`; one trailing newline is removed before
//! the record is emitted, since `log` backends end records themselves. `pr_cont!` emits its text as
//! a record of its own.
//!
//! [`log`]: https://docs.rs/log

use core::ffi::CStr;
use core::fmt;
use std::borrow::Cow;

use crate::device::RawDevice;

/// The kernel's log levels, which decide how a message is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// `KERN_EMERG`: the system is unusable.
    Emerg,
    /// `KERN_ALERT`: action must be taken immediately.
    Alert,
    /// `KERN_CRIT`: critical conditions.
    Crit,
    /// `KERN_ERR`: error conditions.
    Err,
    /// `KERN_WARNING`: warning conditions.
    Warning,
    /// `KERN_NOTICE`: normal but significant.
    Notice,
    /// `KERN_INFO`: informational.
    Info,
    /// `KERN_DEBUG`: debugging messages.
    Debug,
    /// `KERN_CONT`: continuation of the previous message.
    Cont,
}

impl Level {
    /// The `log` level a kernel level maps to.
    fn to_log(self) -> log::Level {
        match self {
            Level::Emerg | Level::Alert | Level::Crit | Level::Err => log::Level::Error,
            Level::Warning => log::Level::Warn,
            Level::Notice | Level::Info | Level::Cont => log::Level::Info,
            Level::Debug => log::Level::Debug,
        }
    }
}

/// Adapts a message so that one trailing `\n` is not printed.
struct TrimNewline<'a>(fmt::Arguments<'a>);

impl fmt::Display for TrimNewline<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(s) = self.0.as_str() {
            return f.write_str(s.strip_suffix('\n').unwrap_or(s));
        }
        // Buffer the formatted text so a newline produced by an argument is trimmed too.
        let text = self.0.to_string();
        f.write_str(text.strip_suffix('\n').unwrap_or(&text))
    }
}

/// Emits one message at `level`, attributed to `target` (a module path), optionally prefixed by
/// `prefix` and `": "`.
///
/// The kernel's `_printk()`, which the mirror's `pr_*!` and `dev_*!` macros reach.
pub fn printk(level: Level, target: &str, prefix: Option<&str>, args: fmt::Arguments<'_>) {
    let level_log = level.to_log();
    if level_log > log::max_level() {
        return;
    }
    let message = TrimNewline(args);
    match prefix {
        Some(prefix) => log::log!(target: target, level_log, "{prefix}: {message}"),
        None => log::log!(target: target, level_log, "{message}"),
    }
}

/// Emits one message at `level` about `dev`, prefixed with the name of its driver (or, unbound, of
/// its bus) and its own, as the kernel's `dev_printk()` does: `edu 0000:00:02.0: message`.
pub fn dev_printk(dev: &RawDevice, level: Level, args: fmt::Arguments<'_>) {
    let owner = dev
        .driver_name()
        .map_or(Cow::Borrowed(dev.bus_type().name()), CStr::to_string_lossy);
    let prefix = format!("{owner} {}", dev.name().to_string_lossy());
    printk(level, &owner, Some(&prefix), args);
}
