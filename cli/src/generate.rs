//! `drydock completions` and `drydock man`: shell completions and manual pages, generated from the
//! same clap definitions as the command line itself ([`Cli`]), so they never drift from it.

use std::io::Write;

use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};
use crate::Failure;

/// The command line's definition, built (subcommands named `drydock-bind` and so on), without
/// clap's `help` subcommand, which is not drydock's.
fn definition() -> clap::Command {
    let mut command = Cli::command().disable_help_subcommand(true);
    command.build();
    command
}

/// Writes `text` to `out`; a reader that went away ends the output quietly, as everywhere.
fn emit(out: &mut dyn Write, text: &[u8]) {
    let _ = out.write_all(text);
}

/// Writes the completion script for `args.shell` to `out`.
pub(crate) fn completions(args: &CompletionsArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let mut command = definition();
    let name = command.get_name().to_owned();
    // Generated into memory first: the generators panic on a failed write.
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, name, &mut script);
    emit(out, &script);
    Ok(())
}

/// Writes the manual page of `drydock`, or of the subcommand `args` names, to `out`, in roff.
pub(crate) fn man(args: &ManArgs, out: &mut dyn Write) -> Result<(), Failure> {
    let command = definition();
    let page = match &args.subcommand {
        None => command,
        Some(name) => command.find_subcommand(name).cloned().ok_or_else(|| {
            let names: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
            Failure::usage(format!(
                "no subcommand `{name}`: drydock has {}",
                names.join(", ")
            ))
        })?,
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .source(format!("drydock {}", env!("CARGO_PKG_VERSION")))
        .manual("drydock")
        .render(&mut roff)
        .map_err(|e| Failure::failed(format!("cannot render the manual page: {e}")))?;
    emit(out, &roff);
    Ok(())
}
