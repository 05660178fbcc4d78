//! `drydock-vm`: boot drydock's test guest by hand.
//!
//! ```text
//! cargo run -p drydock-tests --bin drydock-vm -- shell [--profile P]
//! cargo run -p drydock-tests --bin drydock-vm -- run [--profile P] [--timeout SECS] -- PROGRAM [ARGS...]
//! cargo run -p drydock-tests --bin drydock-vm -- demo
//! cargo run -p drydock-tests --bin drydock-vm -- nvme-bench [--profile P] [--out DIR] [-- ARGS...]
//! cargo run -p drydock-tests --bin drydock-vm -- edu-bench [--out DIR] [-- BENCH ARGS...]
//! ```
//!
//! Exit statuses follow every drydock program's ([`drydock_host::exit_status`]): 2 for a bad
//! command line; `run`, `demo` and the benchmarks exit with the guest program's status, and with
//! 125 when the guest itself failed.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use drydock_host::exit_status::{self, NOT_RUN};
use drydock_host::log_filter;
use drydock_tests::cache::Cache;
use drydock_tests::elf::Elf;
use drydock_tests::guest::{GuestBinaries, GUEST_TARGET};
use drydock_tests::profile::{self, Profile, PROFILES};
use drydock_tests::qemu::Console;
use drydock_tests::spdk;
use drydock_tests::vm::{self, Ending, RunDir, Watchdog};
use drydock_tests::{Context, Error, Result};

fn usage() -> String {
    let mut text = String::from(
        "Usage:
  drydock-vm shell [--profile P]
      Build the guest binaries, then boot a guest with an interactive shell on the console, in
      the guest's view of the current directory, with `drydock` and the drivers' binaries (edu,
      nvme, pci-testdev...) on its PATH: a playground on the guest's devices, through real VFIO.
      The host's root directory is mounted read-only at /host. Exit the shell (or press Ctrl-A X)
      to stop the guest.
  drydock-vm run [--profile P] [--timeout SECS] -- PROGRAM [ARGS...]
      Boot a guest and run PROGRAM (a static executable or a busybox shell script on the host)
      in it, as root, in the guest's view of the current directory. Its output is streamed
      here; drydock-vm exits with its exit status, or with 125 if the guest failed.
      --timeout stops the guest that many seconds after boot.
  drydock-vm demo
      Build the guest binaries and run the edu driver of drivers/edu as a process on the guest's
      edu, behind the emulated IOMMU: it probes the device, computes factorials and makes DMA
      round trips, checks each, and releases the device.
  drydock-vm nvme-bench [--profile P] [--out DIR] [-- BENCH ARGS...]
      Build nvme-bench and run it in a guest: drydock's NVMe driver on controller 0 against the
      kernel's nvme driver on controller 1, side by side (docs/benchmarks.md). The table and
      the charts are copied to DIR (default target/nvme-bench). BENCH ARGS go to nvme-bench
      (for example --seconds 2 --only qd1). The guest boots the default profile unless
      --profile names another: kernel73 has ublk, which nvme-bench's variant ublk needs
      (-- --variants ublk,kernel).
  drydock-vm edu-bench [--out DIR] [-- BENCH ARGS...]
      Boot the proof kernel's guest (kernel73) and time the edu driver file's interrupt and DMA
      round trips as the kernel's module and as a drydock process on the same edu, alternating
      (docs/benchmarks.md). results.md and results.csv are copied to DIR (default
      target/edu-bench). BENCH ARGS: --repeat R, --irq-trips N, --dma-trips M.

profiles:
",
    );
    for p in PROFILES {
        // One line per profile, its summary going on below the name when it is long.
        let mut line = format!("  {:16} ", p.name);
        for word in p.summary.split(' ') {
            if line.len() + word.len() > 100 {
                text.push_str(line.trim_end());
                text.push('\n');
                line = " ".repeat(19);
            }
            line.push_str(word);
            line.push(' ');
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(
        "
environment:
  DRYDOCK_CACHE          cache directory (default ~/.cache/drydock)
  DRYDOCK_BOOT_TIMEOUT   seconds a guest may take to boot (default 120)
  DRYDOCK_KEEP_RUNS      keep every run directory (console log, results) for inspection
  DRYDOCK_GUEST_BIN_DIR  prebuilt static guest binaries to use instead of building them

log level (drydock-vm prints its progress whatever it is set to; `run`, `demo` and the
benchmarks pass RUST_LOG and DRYDOCK_LOG to the program in the guest):
",
    );
    text.push_str(log_filter::HELP);
    text.push_str(
        "
exit status: 2 bad command line; `run`, `demo` and the benchmarks the program's own, or 125 when
the guest failed (it did not boot, it timed out, QEMU failed); `shell` 0, or 125.
",
    );
    text
}

/// Why drydock-vm stops without a status of the guest program's.
enum Stop {
    /// A bad command line: this, in one line, and status 2.
    Usage(String),
    /// The harness or the guest failed: status 125.
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(err: Error) -> Self {
        Stop::Failed(err)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match dispatch(&args) {
        Ok(code) => code,
        Err(Stop::Usage(problem)) => {
            eprintln!("drydock-vm: {problem}; see `drydock-vm --help`");
            ExitCode::from(exit_status::USAGE)
        }
        Err(Stop::Failed(e)) => {
            eprintln!("drydock-vm: {e}");
            ExitCode::from(NOT_RUN)
        }
    }
}

fn dispatch(args: &[String]) -> std::result::Result<ExitCode, Stop> {
    let Some((command, rest)) = args.split_first() else {
        eprint!("{}", usage());
        return Ok(ExitCode::from(exit_status::USAGE));
    };
    match command.as_str() {
        "shell" => {
            let options = Options::parse(rest)?;
            if !options.program.is_empty() || options.timeout.is_some() {
                return Err(Stop::Usage("shell takes only --profile".to_owned()));
            }
            Ok(shell(options.profile)?)
        }
        "run" => {
            let options = Options::parse(rest)?;
            let Some((program, program_args)) = options.program.split_first() else {
                return Err(Stop::Usage("run needs `-- PROGRAM`".to_owned()));
            };
            Ok(run(
                options.profile,
                Path::new(program),
                program_args,
                options.timeout,
            )?)
        }
        "demo" if rest.is_empty() => Ok(demo()?),
        "demo" => Err(Stop::Usage("demo takes no arguments".to_owned())),
        "nvme-bench" => nvme_bench(rest),
        "edu-bench" => edu_bench(rest),
        "help" | "--help" | "-h" => {
            print!("{}", usage());
            Ok(ExitCode::SUCCESS)
        }
        _ => Err(Stop::Usage(format!(
            "unknown command `{command}` (the commands: shell, run, demo, nvme-bench, edu-bench)"
        ))),
    }
}

/// The options `shell` and `run` take.
struct Options {
    profile: &'static Profile,
    timeout: Option<Duration>,
    program: Vec<String>,
}

impl Options {
    fn parse(args: &[String]) -> std::result::Result<Self, Stop> {
        let mut options = Options {
            profile: profile::default_profile(),
            timeout: None,
            program: Vec::new(),
        };
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = |name: &str| {
                args.next()
                    .ok_or_else(|| Stop::Usage(format!("{name} needs a value")))
            };
            match arg.as_str() {
                "--profile" => {
                    let name = value("--profile")?;
                    options.profile =
                        profile::profile(name).map_err(|e| Stop::Usage(e.to_string()))?;
                }
                "--timeout" => {
                    let text = value("--timeout")?;
                    let secs = text.parse().map_err(|_| {
                        Stop::Usage(format!("--timeout takes seconds, not `{text}`"))
                    })?;
                    options.timeout = Some(Duration::from_secs(secs));
                }
                "--" => {
                    options.program = args.cloned().collect();
                    break;
                }
                other => return Err(Stop::Usage(format!("unexpected argument `{other}`"))),
            }
        }
        Ok(options)
    }
}

fn shell(profile: &'static Profile) -> Result<ExitCode> {
    let binaries = GuestBinaries::locate_or_build_programs()?;
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let script = vm::shell_script(
        binaries.dir(),
        &binaries.programs()?,
        &cwd,
        &vm::log_environment(),
    )?;
    let cache = Cache::from_env()?;
    let guest = vm::prepare(profile, &cache)?;
    let run_dir = RunDir::create(profile.name)?;
    eprintln!(
        "drydock-vm: booting the `{}` guest ({}); exit the shell or press Ctrl-A X to stop it",
        profile.name, guest.kernel.description
    );
    let watchdog = Watchdog {
        boot: vm::boot_timeout()?,
        run: None,
    };
    let exit = guest.boot(&run_dir, &script, Console::Interactive, watchdog, || {})?;
    match exit.ending {
        Ending::Finished { .. } | Ending::Stopped => Ok(ExitCode::SUCCESS),
        _ => Err(Error::new(
            exit.problem().expect("a failed ending has a problem"),
        )),
    }
}

/// Copies what is appended to a file to one of our output streams.
struct Follower {
    path: PathBuf,
    offset: u64,
}

impl Follower {
    fn new(path: PathBuf) -> Self {
        Follower { path, offset: 0 }
    }

    fn copy_new(&mut self, out: &mut dyn Write) {
        let Ok(mut file) = File::open(&self.path) else {
            return; // not created yet
        };
        let mut chunk = Vec::new();
        if file.seek(SeekFrom::Start(self.offset)).is_ok() && file.read_to_end(&mut chunk).is_ok() {
            self.offset += chunk.len() as u64;
            let _ = out.write_all(&chunk);
            let _ = out.flush();
        }
    }
}

fn run(
    profile: &'static Profile,
    program: &Path,
    args: &[String],
    timeout: Option<Duration>,
) -> Result<ExitCode> {
    run_program(profile, program, args, timeout).map(|(code, _)| code)
}

/// Runs `program` in a guest as [`run`] does; returns its exit status and the run directory
/// (deleted when dropped), which holds what the program wrote to `/drydock`.
fn run_program(
    profile: &'static Profile,
    program: &Path,
    args: &[String],
    timeout: Option<Duration>,
) -> Result<(ExitCode, RunDir)> {
    let data = std::fs::read(program)
        .with_context(|| format!("cannot read the program {}", program.display()))?;
    if let Ok(elf) = Elf::parse(&data) {
        if elf.needs_interpreter().unwrap_or(false) {
            return Err(Error::new(format!(
                "{} is dynamically linked, but the guest has no shared libraries; build it with \
                 RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --target {GUEST_TARGET}",
                program.display()
            )));
        }
    }
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    let script = vm::program_script(program, args, &cwd, &vm::log_environment())?;

    let cache = Cache::from_env()?;
    let guest = vm::prepare(profile, &cache)?;
    let mut run_dir = RunDir::create(profile.name)?;
    eprintln!(
        "drydock-vm: booting the `{}` guest ({}) to run {}",
        profile.name,
        guest.kernel.description,
        vm::guest_path(program)?.display()
    );
    let mut stdout = Follower::new(run_dir.file(vm::PROGRAM_STDOUT));
    let mut stderr = Follower::new(run_dir.file(vm::PROGRAM_STDERR));
    let watchdog = Watchdog {
        boot: vm::boot_timeout()?,
        run: timeout,
    };
    let exit = guest.boot(&run_dir, &script, Console::Captured, watchdog, || {
        stdout.copy_new(&mut io::stdout());
        stderr.copy_new(&mut io::stderr());
    })?;
    let boot = exit
        .boot_time
        .map_or("-".into(), |t| format!("{:.1} s", t.as_secs_f64()));
    match exit.ending {
        Ending::Finished { status } => {
            eprintln!(
                "drydock-vm: the program exited with status {status} (guest booted in {boot}, \
                 ran {:.1} s in all)",
                exit.total.as_secs_f64()
            );
            Ok((
                ExitCode::from(u8::try_from(status).unwrap_or(NOT_RUN)),
                run_dir,
            ))
        }
        _ => {
            run_dir.keep();
            Err(Error::new(format!(
                "{}\n{}",
                exit.problem().expect("a failed ending has a problem"),
                run_dir.diagnostics()
            )))
        }
    }
}

fn demo() -> Result<ExitCode> {
    eprintln!(
        "drydock demo: boot a QEMU guest (TCG, emulated Intel IOMMU), hand QEMU's edu device to \
         vfio-pci, and run the edu driver (drivers/edu) on it as a process."
    );
    let binaries = GuestBinaries::locate_or_build_programs()?;
    run(
        profile::default_profile(),
        &binaries.runner(),
        &["demo".to_owned()],
        Some(Duration::from_secs(120)),
    )
}

/// Builds the guest binaries and runs `nvme-bench` in the default guest, then copies its results
/// (`results.md`, `results.csv`, `iops.svg`, `latency.svg`) from the run directory to `--out`.
fn nvme_bench(args: &[String]) -> std::result::Result<ExitCode, Stop> {
    let mut leading = Vec::new();
    if spdk::wanted(args) {
        let perf = spdk::build(&Cache::from_env()?)?;
        leading.extend([
            "--spdk".to_owned(),
            vm::guest_path(&perf)?.display().to_string(),
        ]);
    }
    guest_bench(
        "nvme-bench",
        args,
        Some(profile::default_profile()),
        GuestBinaries::nvme_bench,
        &leading,
    )
}

/// Builds the guest binaries and runs `drydock-guest edu-bench` in the proof kernel's guest,
/// then copies its results (`results.md`, `results.csv`) to `--out`.
fn edu_bench(args: &[String]) -> std::result::Result<ExitCode, Stop> {
    guest_bench(
        "edu-bench",
        args,
        None,
        GuestBinaries::runner,
        &["edu-bench".to_owned()],
    )
}

/// Builds the guest binaries and runs the benchmark `name` in a guest: the guest program
/// `program` picks among them, with `leading` arguments, then `--out` and the directory it writes
/// its results to, then the arguments after `--` in `args`; copies the results from the run
/// directory to `--out DIR` in `args` (default `target/<name>`). The guest boots the profile
/// `--profile P` in `args` names, or `default` if that is given (a benchmark that takes
/// `--profile`), or the proof kernel's (`kernel73`).
fn guest_bench(
    name: &str,
    args: &[String],
    default: Option<&'static Profile>,
    program: fn(&GuestBinaries) -> PathBuf,
    leading: &[String],
) -> std::result::Result<ExitCode, Stop> {
    let (ours, bench_args) = match args.iter().position(|a| a == "--") {
        Some(i) => (&args[..i], &args[i + 1..]),
        None => (args, &[][..]),
    };
    let takes = if default.is_some() {
        "[--profile P] [--out DIR] [-- ARGS]"
    } else {
        "[--out DIR] [-- ARGS]"
    };
    let mut out = drydock_tests::guest::workspace_root().join(format!("target/{name}"));
    let mut profile = default;
    let mut ours = ours.iter();
    while let Some(flag) = ours.next() {
        let value = ours.next();
        match (flag.as_str(), value) {
            ("--out", Some(dir)) => out = PathBuf::from(dir),
            ("--profile", Some(p)) if default.is_some() => {
                profile = Some(profile::profile(p).map_err(|e| Stop::Usage(e.to_string()))?);
            }
            _ => return Err(Stop::Usage(format!("{name} takes {takes}"))),
        }
    }
    let profile = match profile {
        Some(profile) => profile,
        None => profile::profile("kernel73").map_err(Stop::Failed)?,
    };
    let binaries = GuestBinaries::locate_or_build_programs()?;
    let guest_results = format!("{}/results", drydock_guest::protocol::GUEST_MOUNT);
    let mut bench = leading.to_vec();
    bench.extend(["--out".to_owned(), guest_results]);
    bench.extend(bench_args.iter().cloned());
    let (code, run_dir) = run_program(profile, &program(&binaries), &bench, None)?;
    let results = run_dir.file("results");
    if results.is_dir() {
        std::fs::create_dir_all(&out)
            .with_context(|| format!("cannot create {}", out.display()))?;
        for entry in std::fs::read_dir(&results).context("cannot list the results")? {
            let entry = entry.context("cannot list the results")?;
            std::fs::copy(entry.path(), out.join(entry.file_name()))
                .with_context(|| format!("cannot copy {}", entry.path().display()))?;
        }
        eprintln!("drydock-vm: results in {}", out.display());
    }
    Ok(code)
}
