//! Tracepoints: events a driver declares, which the kernel's tracing records when enabled.
//!
//! In the kernel, a tracepoint costs a patched-out branch until a tracer enables it, and its
//! events go to the trace buffer. In a process, an event is a log record at trace level with the
//! target `tracepoint`, so enabling the target (`DRYDOCK_LOG=tracepoint=trace` with drydock's
//! logger) shows the events, and the check for an enabled tracepoint is `log`'s level check.

use core::fmt;

/// The log target of tracepoint events.
pub const TARGET: &str = "tracepoint";

/// Whether tracepoint events are recorded now (the kernel's `static_branch_unlikely` on the
/// tracepoint's key).
pub fn enabled() -> bool {
    log::log_enabled!(target: TARGET, log::Level::Trace)
}

/// Records an event of the tracepoint `name` with its arguments, as the kernel's
/// `trace_<name>()` records into the trace buffer.
pub fn event(name: &str, args: fmt::Arguments<'_>) {
    log::trace!(target: TARGET, "{name}: {args}");
}
