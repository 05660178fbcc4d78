//! Running host tools with errors that show what was run and what it said.

use std::process::{Command, Output};

use crate::{Error, Result};

/// How a command is shown in messages: the program and its arguments, space-separated.
pub fn display(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` to completion with its output captured, and returns its standard output.
///
/// Fails, quoting the command and its standard error, if it cannot be started or exits
/// unsuccessfully.
pub fn output(cmd: &mut Command) -> Result<String> {
    let out = run(cmd)?;
    if !out.status.success() {
        return Err(failure(cmd, &out));
    }
    String::from_utf8(out.stdout)
        .map_err(|_| Error::new(format!("`{}` printed non-UTF-8 output", display(cmd))))
}

/// Runs `cmd` to completion with its output captured, whatever its exit status.
pub fn run(cmd: &mut Command) -> Result<Output> {
    cmd.output()
        .map_err(|e| Error::new(format!("cannot run `{}`: {e}", display(cmd))))
}

/// The error for a command that ran and failed.
pub fn failure(cmd: &Command, out: &Output) -> Error {
    let mut message = format!("`{}` failed ({})", display(cmd), out.status);
    for stream in [&out.stderr, &out.stdout] {
        let text = String::from_utf8_lossy(stream);
        let text = text.trim();
        if !text.is_empty() {
            message.push_str(":\n");
            message.push_str(text);
        }
    }
    Error::new(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_returns_stdout() {
        assert_eq!(output(Command::new("echo").arg("hi")).unwrap(), "hi\n");
    }

    #[test]
    fn failures_quote_the_command_and_its_stderr() {
        let err = output(Command::new("sh").args(["-c", "echo oops >&2; exit 3"])).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with("`sh -c echo oops >&2; exit 3` failed (exit status: 3)"),
            "{text}"
        );
        assert!(text.ends_with("oops"), "{text}");
    }

    #[test]
    fn missing_programs_are_named() {
        let err = output(&mut Command::new("/nonexistent/tool")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot run `/nonexistent/tool`"),
            "{err}"
        );
    }
}
