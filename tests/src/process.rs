//! Running host tools with errors that show what was run and what it said.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};
use std::thread;

use crate::cache::Cache;
use crate::guest::workspace_root;
use crate::{progress, vm, Context, Error, Result};

/// Lines of a build script's standard error kept in an error (the diagnostics the proof kernel's
/// prints are at most 200 lines, followed by its own summary).
const ERROR_LINES: usize = 240;

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

/// The last line of `command`'s standard output `stdout`: the path a build script reports.
pub fn last_line(command: &str, stdout: &str) -> Result<String> {
    stdout
        .lines()
        .last()
        .map(str::to_owned)
        .ok_or_else(|| Error::new(format!("`{command}` printed no path")))
}

/// Runs the build script `command` (a path relative to the workspace root: `tests/kernel/build`,
/// `benches/nvme/spdk/build`) with `args` and the cache `cache`; returns its standard output. Its
/// standard error goes to ours as it comes and, on failure, into the error.
pub fn build_script(command: &str, cache: &Cache, args: &[&std::ffi::OsStr]) -> Result<String> {
    let mut cmd = Command::new(workspace_root().join(command));
    cmd.args(args)
        .env("DRYDOCK_CACHE", cache.root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .with_context(|| format!("cannot run `{}`", display(&cmd)))?;
    let stderr = child.stderr.take().expect("piped");
    let copier = thread::spawn(move || {
        let mut kept = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(|l| l.ok()) {
            progress::say(&line);
            kept.push(line);
        }
        kept
    });
    let mut stdout = String::new();
    let read = child
        .stdout
        .take()
        .expect("piped")
        .read_to_string(&mut stdout);
    let status = child
        .wait()
        .with_context(|| format!("cannot wait for `{}`", display(&cmd)))?;
    let stderr = copier.join().unwrap_or_default();
    read.with_context(|| format!("cannot read the output of `{}`", display(&cmd)))?;
    if !status.success() {
        return Err(Error::new(format!(
            "`{}` failed ({status}); it printed:\n{}",
            display(&cmd),
            vm::tail(&stderr.join("\n"), ERROR_LINES)
        )));
    }
    Ok(stdout)
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
