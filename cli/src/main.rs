//! `drydock`: see the library's documentation and `docs/cli.md`.

use std::panic;
use std::process::ExitCode;

fn main() -> ExitCode {
    // A bug must still end in one line, not a backtrace.
    panic::set_hook(Box::new(|info| {
        eprintln!(
            "drydock: internal error ({info}); this is a bug in drydock: please report it with \
             the command you ran"
        );
    }));
    let code = panic::catch_unwind(|| {
        let mut out = std::io::stdout().lock();
        let mut err = std::io::stderr().lock();
        drydock_cli::main(std::env::args_os(), &mut out, &mut err)
    })
    .unwrap_or(drydock_host::exit_status::SOFTWARE);
    ExitCode::from(code)
}
