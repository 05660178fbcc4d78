//! The `drydock` command: list PCI devices, hand them to a userspace driver (vfio-pci or
//! uio_pci_generic) and back, check that a driver process can run, and write a driver crate for a
//! device (`drydock new`, from the templates in `cli/templates/`).
//!
//! The policy lives in the `drydock-admin` crate, over the host crate's view of the kernel's trees:
//! [`drydock_host::sysfs`] reads and writes them, [`drydock_admin::binding`] decides and carries
//! out binds and give-backs, [`drydock_admin::usage`] tells what uses a device,
//! [`drydock_admin::readiness`] diagnoses. This crate parses the command line and prints; it does
//! not link the driver API or the runner. `docs/cli.md` describes the command.
//!
//! The exit statuses are those of every drydock program, [`drydock_host::exit_status`]: 0 done,
//! 1 refused or failed, 2 a bad command line, 70 a bug.

pub mod args;
mod bind;
mod check;
mod filters;
mod generate;
mod list;
mod logging;
mod new;
mod output;
pub mod pci_ids;

use std::ffi::OsString;
use std::io::Write;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::Parser;
use drydock_admin::error::BindError;
use drydock_host::error::HostError;
use drydock_host::exit_status;
use drydock_host::sysfs::Sysfs;

pub use args::{Cli, Command};

/// A command's failure: one line for standard error, and the exit status.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong and what to do, one line.
    pub message: String,
    /// The exit status: [`exit_status::FAILURE`] (refused or failed) or [`exit_status::USAGE`]
    /// (bad command line).
    pub code: u8,
}

impl Failure {
    /// A bad command line (exit status 2).
    pub fn usage(message: String) -> Self {
        Self {
            message,
            code: exit_status::USAGE,
        }
    }

    /// A refusal or failure (exit status 1).
    pub fn failed(message: String) -> Self {
        Self {
            message,
            code: exit_status::FAILURE,
        }
    }
}

impl From<HostError> for Failure {
    fn from(err: HostError) -> Self {
        let code = match err {
            HostError::BadAddress { .. } => exit_status::USAGE,
            _ => exit_status::FAILURE,
        };
        Self {
            message: err.to_string(),
            code,
        }
    }
}

impl From<BindError> for Failure {
    fn from(err: BindError) -> Self {
        match err {
            BindError::Host(err) => err.into(),
            BindError::UnknownDriver { .. } => Self::usage(err.to_string()),
            _ => Self::failed(err.to_string()),
        }
    }
}

/// Parses `args` (the program name first) and runs the command on the running system, or on the
/// tree `--root` names. Returns the exit status.
pub fn main(
    args: impl IntoIterator<Item = OsString>,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> u8 {
    logging::init(err);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            output::line(out, e.to_string().trim_end());
            return exit_status::SUCCESS;
        }
        Err(e) if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            output::line(err, e.to_string().trim_end());
            return exit_status::USAGE;
        }
        Err(e) => {
            output::line(err, &usage_error(&e));
            return exit_status::USAGE;
        }
    };
    let sysfs = match &cli.root {
        Some(root) => Sysfs::at(root),
        None => Sysfs::system(),
    };
    run(&cli.command, &sysfs, out, err)
}

/// clap's rendering of a bad command line (`error: ...`, maybe indented details, a blank line,
/// clap's tips such as "a similar subcommand exists", `Usage: drydock bind ...`) as one line: the
/// error and its details, the tips, what a renamed flag is now, and the help to read, that of the
/// subcommand the usage names.
fn usage_error(error: &clap::Error) -> String {
    let text = error.to_string();
    let before_usage = text.lines().take_while(|l| !l.starts_with("Usage: "));
    let problem: Vec<&str> = before_usage
        .clone()
        .take_while(|l| !l.trim().is_empty())
        .map(str::trim)
        .collect();
    let problem = problem.join(" ");
    let problem = problem.trim_start_matches("error: ");
    let tips: Vec<&str> = before_usage
        .filter_map(|l| l.trim().strip_prefix("tip: "))
        .collect();
    let command: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("Usage: "))
        .unwrap_or("drydock")
        .split_whitespace()
        .take_while(|w| !w.starts_with(['[', '<', '-']))
        .collect();
    let command = if command.is_empty() {
        "drydock".to_owned()
    } else {
        command.join(" ")
    };
    let mut line = format!("drydock: {problem}");
    match renamed(error, &command) {
        // clap's tips about such a flag (pass it after `--`) would only mislead.
        Some(advice) => line += &format!(": {advice}"),
        None => {
            for tip in tips {
                line += &format!(" ({tip})");
            }
        }
    }
    format!("{line}; see `{command} --help`")
}

/// What a flag that was renamed ([`args::RENAMED`]) is now, if `error` is about one, in the
/// subcommand `command` (`drydock bind`).
fn renamed(error: &clap::Error, command: &str) -> Option<&'static str> {
    let Some(ContextValue::String(argument)) = error.get(ContextKind::InvalidArg) else {
        return None;
    };
    let subcommand = command.strip_prefix("drydock ")?;
    args::RENAMED
        .iter()
        .find(|(sub, old, _)| {
            *sub == subcommand
                && argument
                    .split_once('=')
                    .map_or(argument.as_str(), |(flag, _)| flag)
                    == *old
        })
        .map(|(_, _, advice)| *advice)
}

/// Runs `command` on the system `sysfs` describes. Returns the exit status; a failure is one
/// line on `err`.
pub fn run(command: &Command, sysfs: &Sysfs, out: &mut dyn Write, err: &mut dyn Write) -> u8 {
    let result = match command {
        Command::List(args) => pci_ids::PciIds::load(sysfs.root(), args.pci_ids.as_deref())
            .map_err(Failure::failed)
            .and_then(|names| list::listed(sysfs, args, &names))
            .and_then(|devices| list::print(out, &devices, args.json))
            .map(|()| exit_status::SUCCESS),
        Command::Bind(args) => bind::bind(sysfs, args, out, err).map(|()| exit_status::SUCCESS),
        Command::Unbind(args) => bind::unbind(sysfs, args, out).map(|()| exit_status::SUCCESS),
        Command::Check(args) => check::check(sysfs, args, out).map(|ready| {
            if ready {
                exit_status::SUCCESS
            } else {
                exit_status::FAILURE
            }
        }),
        Command::New(args) => new::new(args, out).map(|()| exit_status::SUCCESS),
        Command::Completions(args) => {
            generate::completions(args, out).map(|()| exit_status::SUCCESS)
        }
        Command::Man(args) => generate::man(args, out).map(|()| exit_status::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(failure) => {
            output::line(err, &format!("drydock: {}", failure.message));
            failure.code
        }
    }
}
