//! Which log records a drydock program shows: the filter set by `DRYDOCK_LOG` or `RUST_LOG`.
//!
//! Every drydock program that prints log records (the driver binaries, the `drydock` command, the
//! examples and benchmarks) takes its filter from the environment, in `env_logger`'s syntax, parsed
//! by `env_logger`'s own parser (the `env_filter` crate), so a filter means what it means to any
//! Rust program:
//!
//! ```text
//! RUST_LOG=debug                    everything at debug and above
//! RUST_LOG=warn,drydock=debug       warnings, and debug records of targets starting with `drydock`
//! RUST_LOG=edu=trace                everything of the edu driver; other targets at the default
//! RUST_LOG=info/queue               info and above, only messages containing `queue`
//! ```
//!
//! `DRYDOCK_LOG` takes precedence over `RUST_LOG` (to set drydock's level apart from other Rust
//! programs'). One difference from `env_logger`: targets a filter does not name stay at drydock's
//! default level, [`DEFAULT`] (`info`), rather than being silenced, so a driver's messages are
//! not lost by asking for more of another target's. A filter that does not parse is not ignored
//! in silence: [`from_env`] returns the error, for the program to report, with the default filter.

use env_filter::Builder;
use log::LevelFilter;

pub use env_filter::Filter;

/// The environment variables that set the filter, the first set one winning.
pub const VARIABLES: [&str; 2] = ["DRYDOCK_LOG", "RUST_LOG"];

/// The level of targets the filter does not name, and of every target when no filter is set.
pub const DEFAULT: LevelFilter = LevelFilter::Info;

/// A filter at the default level.
fn builder() -> Builder {
    let mut builder = Builder::new();
    builder.filter_level(DEFAULT);
    builder
}

/// The default filter: every target at [`DEFAULT`].
pub fn default_filter() -> Filter {
    builder().build()
}

/// Parses `spec`, in `env_logger`'s syntax, over the default level.
///
/// # Examples
///
/// ```
/// use drydock_host::log_filter::parse;
/// use log::{Level, Metadata};
///
/// let filter = parse("warn,edu=debug").unwrap();
/// let at = |level, target| filter.enabled(&Metadata::builder().level(level).target(target).build());
/// assert!(at(Level::Debug, "edu"));
/// assert!(!at(Level::Info, "drydock"));
/// assert!(parse("edu=loud").is_err());
/// ```
pub fn parse(spec: &str) -> Result<Filter, String> {
    let mut builder = builder();
    builder.try_parse(spec).map_err(|err| err.to_string())?;
    Ok(builder.build())
}

/// The filter the environment sets (see the module documentation), or the default one.
///
/// The error, if any, names the variable and what is wrong with it; the filter returned with it
/// is the default one.
pub fn from_env() -> (Filter, Option<String>) {
    let set = VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().map(|value| (*name, value)));
    match set {
        None => (default_filter(), None),
        Some((name, spec)) => match parse(&spec) {
            Ok(filter) => (filter, None),
            Err(err) => (
                default_filter(),
                Some(format!(
                    "{name}={spec:?}: {err}; logging at {}: see `--help` for the syntax",
                    DEFAULT.as_str().to_ascii_lowercase()
                )),
            ),
        },
    }
}

/// How to set the log level, for a program's `--help`, under a heading such as `Log level:`.
pub const HELP: &str = "  \
  RUST_LOG=debug           every message at debug and above (the default is info)
  RUST_LOG=warn,edu=debug  warnings, and the debug messages of targets starting with `edu`
  DRYDOCK_LOG, if set, overrides RUST_LOG. The syntax is env_logger's: the levels off, error, warn,
  info, debug, trace; TARGET=LEVEL items; a /TEXT suffix keeps only messages containing TEXT.
";

#[cfg(test)]
mod tests {
    use super::*;
    use log::{Level, Metadata};

    fn enabled(filter: &Filter, level: Level, target: &str) -> bool {
        filter.enabled(&Metadata::builder().level(level).target(target).build())
    }

    #[test]
    fn filters_have_env_logger_meaning_over_the_default_level() {
        let filter = parse("warn, drydock=debug,drydock::vfio=trace").unwrap();
        assert!(enabled(&filter, Level::Warn, "other"));
        assert!(!enabled(&filter, Level::Info, "other"));
        assert!(enabled(&filter, Level::Debug, "drydock"));
        assert!(enabled(&filter, Level::Debug, "drydock::pci"));
        assert!(!enabled(&filter, Level::Trace, "drydock::pci"));
        assert!(enabled(&filter, Level::Trace, "drydock::vfio::group"));
        assert_eq!(filter.filter(), LevelFilter::Trace);
        // A target alone is every level of it; others stay at the default.
        let filter = parse("edu").unwrap();
        assert!(enabled(&filter, Level::Trace, "edu"));
        assert!(enabled(&filter, Level::Info, "drydock"));
        assert!(!enabled(&filter, Level::Debug, "drydock"));
        // Levels are case-insensitive, as env_logger reads them.
        assert!(enabled(&parse("DEBUG").unwrap(), Level::Debug, "x"));
        let empty = parse("").unwrap();
        assert!(enabled(&empty, Level::Info, "x") && !enabled(&empty, Level::Debug, "x"));
        let err = parse("edu=loud").unwrap_err();
        assert!(err.contains("invalid logging spec 'loud'"), "{err}");
    }
}
