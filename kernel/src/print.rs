//! Printing to the log: `pr_*!` macros.
//!
//! Mirrors `rust/kernel/print.rs`. In the kernel, `pr_info!` and its siblings call `printk()` with a
//! log level and the module's name as prefix. Here `printk()` is the host's, which emits a record
//! through the `log` crate, with the calling module's path as the record's target; a driver process
//! prints records to stderr, and tests can capture them.
//!
//! Difference from the kernel: messages keep the kernel convention of ending in `\n`; one trailing
//! newline is removed, since log records are lines. `pr_cont!` emits its text as a record of its
//! own. The levels map onto `log`'s: emerg, alert, crit and err to `Error`, warning to `Warn`,
//! notice and info to `Info`, debug to `Debug`.

use core::fmt;

/// The kernel's log levels (`KERN_*`), which the `pr_*!` and `dev_*!` macros pass to
/// [`call_printk`].
#[doc(hidden)]
pub use drydock_host::print::Level;

/// Emits one message at `level`, attributed to `target` (a module path), optionally prefixed by
/// `prefix` and `": "`.
///
/// This is what the `pr_*!` and `dev_*!` macros expand to; it corresponds to the kernel's
/// `_printk()`, and calls the host's [`printk`](drydock_host::print::printk).
#[doc(hidden)]
pub fn call_printk(level: Level, target: &str, prefix: Option<&str>, args: fmt::Arguments<'_>) {
    drydock_host::print::printk(level, target, prefix, args);
}

/// Prints a message at the given level; the common body of the `pr_*!` macros.
#[doc(hidden)]
#[macro_export]
macro_rules! print_macro (
    ($level:ident, $($arg:tt)+) => (
        $crate::print::call_printk(
            $crate::print::Level::$level,
            ::core::module_path!(),
            None,
            $crate::prelude::fmt!($($arg)+),
        )
    );
);

/// Prints an emergency-level message (the system is unusable).
///
/// Mirrors the kernel's `pr_emerg!`; see the [module documentation](self).
#[macro_export]
macro_rules! pr_emerg (($($arg:tt)*) => ($crate::print_macro!(Emerg, $($arg)*)));

/// Prints an alert-level message (action must be taken immediately).
///
/// Mirrors the kernel's `pr_alert!`.
#[macro_export]
macro_rules! pr_alert (($($arg:tt)*) => ($crate::print_macro!(Alert, $($arg)*)));

/// Prints a critical-level message.
///
/// Mirrors the kernel's `pr_crit!`.
#[macro_export]
macro_rules! pr_crit (($($arg:tt)*) => ($crate::print_macro!(Crit, $($arg)*)));

/// Prints an error-level message.
///
/// Mirrors the kernel's `pr_err!`.
#[macro_export]
macro_rules! pr_err (($($arg:tt)*) => ($crate::print_macro!(Err, $($arg)*)));

/// Prints a warning-level message.
///
/// Mirrors the kernel's `pr_warn!`.
///
/// # Examples
///
/// ```
/// kernel::pr_warn!("queue {} is {}% full\n", 3, 90);
/// ```
#[macro_export]
macro_rules! pr_warn (($($arg:tt)*) => ($crate::print_macro!(Warning, $($arg)*)));

/// Prints a notice-level message (normal but significant).
///
/// Mirrors the kernel's `pr_notice!`.
#[macro_export]
macro_rules! pr_notice (($($arg:tt)*) => ($crate::print_macro!(Notice, $($arg)*)));

/// Prints an info-level message.
///
/// Mirrors the kernel's `pr_info!`.
///
/// # Examples
///
/// ```
/// kernel::pr_info!("driver loaded, {} devices\n", 2);
/// ```
#[macro_export]
macro_rules! pr_info (($($arg:tt)*) => ($crate::print_macro!(Info, $($arg)*)));

/// Prints a debug-level message.
///
/// Mirrors the kernel's `pr_debug!`. The kernel compiles these out unless `DEBUG` or dynamic debug
/// is enabled; here they are filtered by the `log` level at run time.
#[macro_export]
macro_rules! pr_debug (($($arg:tt)*) => ($crate::print_macro!(Debug, $($arg)*)));

/// Continues the previous message.
///
/// Mirrors the kernel's `pr_cont!`; here the text is emitted as a record of its own, at info
/// level, rather than appended to the line being built (`docs/porting.md` says why).
#[macro_export]
macro_rules! pr_cont (($($arg:tt)*) => ($crate::print_macro!(Cont, $($arg)*)));

/// Runs a closure at most once; the primitive behind [`do_once_lite!`](crate::do_once_lite).
///
/// Mirrors `kernel::print::OnceLite`. As in the kernel, two racing callers may both see
/// `call_once` return before the winner's closure finished: it is for idempotent work such as
/// printing a message once, not for initialisation others depend on.
pub struct OnceLite(core::sync::atomic::AtomicBool);

impl Default for OnceLite {
    fn default() -> Self {
        Self::new()
    }
}

impl OnceLite {
    /// Creates a [`OnceLite`] that has not run yet.
    pub const fn new() -> Self {
        OnceLite(core::sync::atomic::AtomicBool::new(false))
    }

    /// Runs `f` if no call has run it yet; returns whether this call ran it.
    pub fn call_once<F>(&self, f: F) -> bool
    where
        F: FnOnce(),
    {
        if self.0.swap(true, core::sync::atomic::Ordering::Relaxed) {
            return false;
        }
        f();
        true
    }
}

/// Runs the given statements at most once per call site.
///
/// Mirrors the kernel's `do_once_lite!`.
///
/// # Examples
///
/// ```
/// for _ in 0..3 {
///     kernel::do_once_lite! { kernel::pr_info!("printed once\n") };
/// }
/// ```
#[macro_export]
macro_rules! do_once_lite {
    { $($e:tt)* } => {{
        static ONCE: $crate::print::OnceLite = $crate::print::OnceLite::new();
        ONCE.call_once(|| { $($e)* });
    }};
}

/// Prints an emergency-level message once per call site.
///
/// Mirrors the kernel's `pr_emerg_once!`.
#[macro_export]
macro_rules! pr_emerg_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_emerg!($($arg)*) }));

/// Prints an alert-level message once per call site.
///
/// Mirrors the kernel's `pr_alert_once!`.
#[macro_export]
macro_rules! pr_alert_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_alert!($($arg)*) }));

/// Prints a critical-level message once per call site.
///
/// Mirrors the kernel's `pr_crit_once!`.
#[macro_export]
macro_rules! pr_crit_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_crit!($($arg)*) }));

/// Prints an error-level message once per call site.
///
/// Mirrors the kernel's `pr_err_once!`.
#[macro_export]
macro_rules! pr_err_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_err!($($arg)*) }));

/// Prints a warning-level message once per call site.
///
/// Mirrors the kernel's `pr_warn_once!`.
#[macro_export]
macro_rules! pr_warn_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_warn!($($arg)*) }));

/// Prints a notice-level message once per call site.
///
/// Mirrors the kernel's `pr_notice_once!`.
#[macro_export]
macro_rules! pr_notice_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_notice!($($arg)*) }));

/// Prints an info-level message once per call site.
///
/// Mirrors the kernel's `pr_info_once!`.
#[macro_export]
macro_rules! pr_info_once (($($arg:tt)*) => ($crate::do_once_lite! { $crate::pr_info!($($arg)*) }));
