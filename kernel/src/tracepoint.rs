//! Tracepoints declared by Rust code.
//!
//! Mirrors `rust/kernel/tracepoint.rs` of Linux 7.3.
//!
//! Difference from the kernel: a tracepoint declared with [`declare_trace!`] is not one of the C
//! tracepoints of a kernel build (those are declared in C headers and reached through
//! `bindings`); calling it records an event through the host's tracing, a log record at trace level
//! with the target `tracepoint` and the arguments in their `Debug` form, when that target is
//! enabled (`DRYDOCK_LOG=tracepoint=trace`). The arguments' types must implement `Debug`.

use core::fmt;

/// Whether tracepoint events are recorded now; used by [`declare_trace!`].
#[doc(hidden)]
#[inline]
pub fn trace_enabled() -> bool {
    drydock_host::trace::enabled()
}

/// Records an event of the tracepoint `name` with its arguments, by name; used by
/// [`declare_trace!`].
#[doc(hidden)]
#[cold]
pub fn trace_event(name: &str, args: &[(&str, &dyn fmt::Debug)]) {
    /// The arguments as `name=value, name=value`.
    struct Arguments<'a>(&'a [(&'a str, &'a dyn fmt::Debug)]);

    impl fmt::Display for Arguments<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            for (index, (name, value)) in self.0.iter().enumerate() {
                let separator = if index == 0 { "" } else { ", " };
                write!(f, "{separator}{name}={value:?}")?;
            }
            Ok(())
        }
    }

    drydock_host::trace::event(name, format_args!("{}", Arguments(args)));
}

/// Declares tracepoints: for each, an `unsafe fn` with the tracepoint's name and arguments that
/// records an event when tracing is on.
///
/// Mirrors the kernel's `declare_trace!`; see the [module documentation](self) for where the
/// events go here.
///
/// # Examples
///
/// ```
/// kernel::declare_trace! {
///     /// Fires when a queue is full.
///     unsafe fn queue_full(queue: u32, depth: u32);
/// }
///
/// // SAFETY: the tracepoint is declared above with these argument types.
/// unsafe { queue_full(3, 128) };
/// ```
#[macro_export]
macro_rules! declare_trace {
    ($($(#[$attr:meta])* $pub:vis unsafe fn $name:ident($($argname:ident : $argtyp:ty),* $(,)?);)*) => {$(
        $( #[$attr] )*
        #[inline(always)]
        $pub unsafe fn $name($($argname : $argtyp),*) {
            if $crate::tracepoint::trace_enabled() {
                $crate::tracepoint::trace_event(
                    ::core::stringify!($name),
                    &[$((::core::stringify!($argname), &$argname)),*],
                );
            }
        }
    )*}
}

pub use declare_trace;
