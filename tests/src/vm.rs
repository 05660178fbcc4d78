//! Booting a guest: its run directory, its scratch disks, QEMU, and the watchdog that ends a
//! hung guest.
//!
//! A boot goes like this: the host writes the per-boot script [`GUEST_SCRIPT`] and the guest path
//! of the kernel's module tree ([`KERNEL_MODULES`]) into a fresh [`RunDir`] and starts QEMU. The guest's init (see [`crate::initramfs`]) mounts the run
//! directory, writes [`BOOTED_FILE`], runs the script, writes its exit status to
//! [`EXIT_STATUS_FILE`] and powers off, which ends QEMU. The host polls: until the guest has
//! booted it allows [`Watchdog::boot`], afterwards [`Watchdog::run`]; past either it kills QEMU.

use std::fs::{self, File};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use drydock_guest::layout::{Role, DEVICES, HOST_ROOT_MOUNT, NVME_BACKING_BYTES};
use drydock_guest::protocol::{GUEST_MOUNT, KERNEL_MODULES};

use crate::cache::Cache;
use crate::kernel::GuestKernel;
use crate::profile::Profile;
use crate::qemu::{self, Console, QemuConfig};
use crate::{bzimage, initramfs, prereq, Context, Error, Result};

/// The script the guest's init runs, written by the host into the run directory.
pub const GUEST_SCRIPT: &str = "guest.sh";
/// Written by init once the guest is up, holding its uptime in seconds.
pub const BOOTED_FILE: &str = "booted";
/// Written by init with the exit status of [`GUEST_SCRIPT`].
pub const EXIT_STATUS_FILE: &str = "exit-status";
/// The guest's serial console (kernel messages and init's output).
pub const CONSOLE_LOG: &str = "console.log";
/// QEMU's own standard output and error.
pub const QEMU_LOG: &str = "qemu.log";
/// Standard output of a program run with [`program_script`].
pub const PROGRAM_STDOUT: &str = "program.stdout";
/// Standard error of a program run with [`program_script`].
pub const PROGRAM_STDERR: &str = "program.stderr";

/// How often the host checks on a running guest.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The default time a guest has from QEMU's start until init runs the per-boot script.
/// A boot takes a few seconds under TCG; the margin is for a machine busy with other work.
pub const DEFAULT_BOOT_TIMEOUT: Duration = Duration::from_secs(120);

/// The boot timeout: `DRYDOCK_BOOT_TIMEOUT` (seconds) if set, else [`DEFAULT_BOOT_TIMEOUT`].
pub fn boot_timeout() -> Result<Duration> {
    match std::env::var("DRYDOCK_BOOT_TIMEOUT") {
        Err(_) => Ok(DEFAULT_BOOT_TIMEOUT),
        Ok(text) => text.parse().map(Duration::from_secs).map_err(|_| {
            Error::new(format!(
                "DRYDOCK_BOOT_TIMEOUT must be a number of seconds, not `{text}`"
            ))
        }),
    }
}

/// The per-boot directory shared with the guest.
///
/// It is removed when dropped, unless [`RunDir::keep`] was called (as it is for failed runs)
/// or `DRYDOCK_KEEP_RUNS` is set.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    keep: bool,
}

impl RunDir {
    /// Creates a fresh run directory under the system's temporary directory.
    pub fn create(label: &str) -> Result<RunDir> {
        let mut dir = RunDir::create_in(&std::env::temp_dir(), label)?;
        dir.keep = std::env::var_os("DRYDOCK_KEEP_RUNS").is_some();
        Ok(dir)
    }

    fn create_in(parent: &Path, label: &str) -> Result<RunDir> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let path = loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = parent.join(format!("drydock-run-{label}-{}-{n}", std::process::id()));
            match fs::create_dir(&path) {
                Ok(()) => break path,
                // Left by an earlier process with the same ID (kept for inspection).
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::new(format!(
                        "cannot create the run directory {}: {e}",
                        path.display()
                    )))
                }
            }
        };
        let path = path
            .canonicalize()
            .with_context(|| format!("cannot resolve {}", path.display()))?;
        Ok(RunDir { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file in the directory.
    pub fn file(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.path.join(relative)
    }

    /// The content of a file in the directory, if it exists and is readable.
    pub fn read(&self, relative: impl AsRef<Path>) -> Option<String> {
        fs::read(self.file(relative))
            .ok()
            .map(|b| String::from_utf8_lossy(&b).into_owned())
    }

    /// Writes a file in the directory.
    pub fn write(&self, relative: impl AsRef<Path>, content: &str) -> Result<()> {
        let path = self.file(relative);
        fs::write(&path, content).with_context(|| format!("cannot write {}", path.display()))
    }

    /// Keeps the directory after this value is dropped, for a person to inspect.
    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// The last `lines` lines of the file `relative`, or a note that it is empty or missing.
    pub fn tail(&self, relative: &str, lines: usize) -> String {
        match self.read(relative) {
            None => format!("({} does not exist)", self.file(relative).display()),
            Some(text) if text.trim().is_empty() => "(empty)".into(),
            Some(text) => tail(&text, lines),
        }
    }

    /// What a person needs to see when a guest misbehaved: the tail of the console and
    /// QEMU's own messages.
    pub fn diagnostics(&self) -> String {
        format!(
            "--- guest console, last 40 lines ({}) ---\n{}\n--- QEMU messages ({}) ---\n{}",
            self.file(CONSOLE_LOG).display(),
            self.tail(CONSOLE_LOG, 40),
            self.file(QEMU_LOG).display(),
            self.tail(QEMU_LOG, 20),
        )
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.keep {
            // Best effort: a leftover directory in the temporary directory is harmless.
            let _ = fs::remove_dir_all(&self.path);
        }
    }
}

/// The last `lines` lines of `text`, with a note of how many were left out.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    let skipped = all.len().saturating_sub(lines);
    let mut out = String::new();
    if skipped > 0 {
        out.push_str(&format!("[... {skipped} earlier lines ...]\n"));
    }
    out.push_str(&all[skipped..].join("\n"));
    out
}

/// Quotes `word` for a POSIX shell.
pub fn shell_quote(word: &str) -> String {
    format!("'{}'", word.replace('\'', r"'\''"))
}

/// Where a host path appears inside the guest.
pub fn guest_path(host_path: &Path) -> Result<PathBuf> {
    let absolute = host_path
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", host_path.display()))?;
    let relative = absolute
        .strip_prefix("/")
        .expect("canonical paths are absolute");
    let mut inside = PathBuf::from(HOST_ROOT_MOUNT);
    if !relative.as_os_str().is_empty() {
        inside.push(relative);
    }
    Ok(inside)
}

/// The log filter variables set here (`RUST_LOG`, `DRYDOCK_LOG`:
/// [`drydock_host::log_filter::VARIABLES`]), for a program run in a guest to log as it would
/// here.
pub fn log_environment() -> Vec<(&'static str, String)> {
    drydock_host::log_filter::VARIABLES
        .iter()
        .filter_map(|name| std::env::var(name).ok().map(|value| (*name, value)))
        .collect()
}

/// A per-boot script that runs a host program in the guest, in the guest's view of
/// `host_cwd`, with the variables `env` set, its output going to [`PROGRAM_STDOUT`] and
/// [`PROGRAM_STDERR`].
pub fn program_script(
    program: &Path,
    args: &[String],
    host_cwd: &Path,
    env: &[(&str, String)],
) -> Result<String> {
    let mut command = vec![shell_quote(&guest_path(program)?.to_string_lossy())];
    command.extend(args.iter().map(|a| shell_quote(a)));
    let cwd = guest_path(host_cwd)?;
    Ok(format!(
        "cd {} || exit 125\n{}exec {} </dev/null >{GUEST_MOUNT}/{PROGRAM_STDOUT} \
         2>{GUEST_MOUNT}/{PROGRAM_STDERR}\n",
        shell_quote(&cwd.to_string_lossy()),
        exports(env),
        command.join(" "),
    ))
}

/// Shell lines exporting the variables `env`.
fn exports(env: &[(&str, String)]) -> String {
    env.iter()
        .map(|(name, value)| format!("export {name}={}\n", shell_quote(value)))
        .collect()
}

/// A per-boot script that runs an interactive shell on the console, in the guest's view of
/// `host_cwd` (or `/` if the guest cannot enter it), with the variables `env` set and the host
/// directory `bin_dir` first on `PATH`: the guest binaries, whose names `programs` are, so that
/// `drydock` and the drivers' binaries run by name.
pub fn shell_script(
    bin_dir: &Path,
    programs: &[String],
    host_cwd: &Path,
    env: &[(&str, String)],
) -> Result<String> {
    let greeting = format!(
        "drydock guest shell: the host root is at {HOST_ROOT_MOUNT} (read-only); exit to power \
         off.\non PATH, built for the guest: {}\ntry: drydock list; drydock bind 0000:00:02.0; \
         edu --demo",
        programs.join(" ")
    );
    Ok(format!(
        "echo {}\n\
         export PATH={}:\"$PATH\"\n\
         {}export PS1='drydock-guest:\\w# '\n\
         cd {} || cd /\n\
         exec setsid cttyhack sh\n",
        shell_quote(&greeting),
        shell_quote(&guest_path(bin_dir)?.to_string_lossy()),
        exports(env),
        shell_quote(&guest_path(host_cwd)?.to_string_lossy()),
    ))
}

/// How long a guest may take.
#[derive(Debug, Clone, Copy)]
pub struct Watchdog {
    /// From QEMU's start until the guest has booted.
    pub boot: Duration,
    /// From boot until QEMU exits; `None` for no limit.
    pub run: Option<Duration>,
}

/// Which limit a guest ran past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// It did not boot in time.
    Boot,
    /// It booted but did not finish in time.
    Run,
}

/// How a boot ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The per-boot script ran and exited with this status.
    Finished {
        /// The script's exit status.
        status: i32,
    },
    /// QEMU exited normally, but the script never finished: init failed, or the kernel
    /// panicked (and the guest was reset, which ends QEMU).
    Stopped,
    /// QEMU itself failed (for example, aborted on a device model's hardware error).
    QemuFailed {
        /// QEMU's exit status.
        status: ExitStatus,
    },
    /// The watchdog killed QEMU.
    TimedOut {
        /// The phase that took too long.
        phase: Phase,
        /// The limit it ran past.
        limit: Duration,
    },
}

/// The result of a boot.
#[derive(Debug, Clone, Copy)]
pub struct GuestExit {
    /// How it ended.
    pub ending: Ending,
    /// Time from QEMU's start until the guest had booted, if it did.
    pub boot_time: Option<Duration>,
    /// Time from QEMU's start until it exited.
    pub total: Duration,
}

impl GuestExit {
    /// What went wrong, if the per-boot script did not run to completion.
    pub fn problem(&self) -> Option<String> {
        match self.ending {
            Ending::Finished { .. } => None,
            Ending::Stopped => Some(
                "the guest stopped before its script finished (init failed or the kernel \
                 panicked; see the console)"
                    .into(),
            ),
            Ending::QemuFailed { status } => Some(format!("QEMU failed ({status})")),
            Ending::TimedOut { phase, limit } => Some(match phase {
                Phase::Boot => format!(
                    "the guest did not boot within {} s; QEMU was killed (raise \
                     DRYDOCK_BOOT_TIMEOUT if the machine is just slow)",
                    limit.as_secs()
                ),
                Phase::Run => format!(
                    "the guest did not finish within {} s of booting; QEMU was killed",
                    limit.as_secs()
                ),
            }),
        }
    }
}

/// A guest ready to boot: packages installed, kernel fetched, initramfs built.
#[derive(Debug)]
pub struct PreparedGuest {
    /// The profile.
    pub profile: &'static Profile,
    /// The kernel.
    pub kernel: GuestKernel,
    /// The image QEMU boots: the kernel's image, or its unpacked form (see [`bzimage`]).
    pub boot_image: PathBuf,
    /// The initramfs.
    pub initramfs: PathBuf,
}

/// Makes everything ready to boot `profile`: installs host packages, fetches the kernel and
/// builds the initramfs, each only if needed.
pub fn prepare(profile: &'static Profile, cache: &Cache) -> Result<PreparedGuest> {
    prereq::ensure_host_packages(cache)?;
    let kernel = (profile.kernel)(cache)?;
    let boot_image = bzimage::fast_boot_image(cache, &kernel.image)?;
    let initramfs = initramfs::build(cache, &kernel, profile.modules)?;
    Ok(PreparedGuest {
        profile,
        kernel,
        boot_image,
        initramfs,
    })
}

/// The NVMe backing files of one boot, in `/dev/shm`, removed when dropped.
struct ScratchDisks {
    paths: Vec<PathBuf>,
}

impl ScratchDisks {
    fn create(run_dir: &RunDir) -> Result<Self> {
        let stem = run_dir
            .path()
            .file_name()
            .expect("run directories have a name")
            .to_string_lossy()
            .into_owned();
        let mut disks = ScratchDisks { paths: Vec::new() };
        for device in DEVICES {
            if let Role::Nvme { index, .. } = device.role {
                let path = PathBuf::from(format!("/dev/shm/{stem}-nvme{index}.img"));
                let file = File::create_new(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                disks.paths.push(path);
                // A sparse file: it takes memory only for blocks the guest writes.
                file.set_len(NVME_BACKING_BYTES)
                    .context("cannot size an NVMe backing file")?;
            }
        }
        Ok(disks)
    }
}

impl Drop for ScratchDisks {
    fn drop(&mut self) {
        for path in &self.paths {
            let _ = fs::remove_file(path);
        }
    }
}

/// A QEMU process that is killed if it is still running when this is dropped.
struct QemuProcess {
    child: Child,
}

impl Drop for QemuProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl PreparedGuest {
    /// Boots the guest to run `script`, and waits until QEMU exits or the watchdog kills it.
    /// `tick` is called every poll interval while the guest runs (for streaming output).
    pub fn boot(
        &self,
        run_dir: &RunDir,
        script: &str,
        console: Console,
        watchdog: Watchdog,
        mut tick: impl FnMut(),
    ) -> Result<GuestExit> {
        run_dir.write(GUEST_SCRIPT, script)?;
        run_dir.write(
            KERNEL_MODULES,
            &format!("{}\n", guest_path(&self.kernel.modules_dir)?.display()),
        )?;
        let disks = ScratchDisks::create(run_dir)?;
        let config = QemuConfig {
            profile: self.profile,
            kernel: &self.boot_image,
            initramfs: &self.initramfs,
            run_dir: run_dir.path(),
            console_log: &run_dir.file(CONSOLE_LOG),
            nvme_backing: &disks.paths,
            console,
        };
        let mut cmd = qemu::command(&config);
        match console {
            Console::Captured => {
                let log =
                    File::create(run_dir.file(QEMU_LOG)).context("cannot create the QEMU log")?;
                let log2 = log.try_clone().context("cannot create the QEMU log")?;
                cmd.stdin(Stdio::null()).stdout(log).stderr(log2);
            }
            Console::Interactive => {}
        }
        // SAFETY: the closure only calls prctl, which is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                // If the thread that started QEMU dies, QEMU dies too: no guest outlives a
                // crashed test run.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let start = Instant::now();
        let mut qemu = QemuProcess {
            child: cmd
                .spawn()
                .with_context(|| format!("cannot start {} (from qemu-system-x86)", qemu::QEMU))?,
        };

        let mut booted_at = None;
        let (ending, total) = loop {
            tick();
            if booted_at.is_none() && run_dir.file(BOOTED_FILE).exists() {
                booted_at = Some(start.elapsed());
            }
            if let Some(status) = qemu.child.try_wait().context("cannot wait for QEMU")? {
                let total = start.elapsed();
                let ending = if !status.success() {
                    Ending::QemuFailed { status }
                } else {
                    match run_dir
                        .read(EXIT_STATUS_FILE)
                        .and_then(|s| s.trim().parse().ok())
                    {
                        Some(status) => Ending::Finished { status },
                        None => Ending::Stopped,
                    }
                };
                break (ending, total);
            }
            let timeout = match booted_at {
                None => Some((Phase::Boot, watchdog.boot, Duration::ZERO)),
                Some(at) => watchdog.run.map(|limit| (Phase::Run, limit, at)),
            };
            if let Some((phase, limit, since)) = timeout {
                if start.elapsed() > since + limit {
                    let _ = qemu.child.kill();
                    let _ = qemu.child.wait();
                    break (Ending::TimedOut { phase, limit }, start.elapsed());
                }
            }
            thread::sleep(POLL_INTERVAL);
        };
        tick();
        drop(disks);
        Ok(GuestExit {
            ending,
            boot_time: booted_at,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_survives_single_quotes() {
        assert_eq!(shell_quote("plain"), "'plain'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
    }

    #[test]
    fn tail_keeps_the_last_lines_and_says_how_many_were_cut() {
        assert_eq!(tail("a\nb\nc\n", 5), "a\nb\nc");
        assert_eq!(tail("a\nb\nc\n", 2), "[... 1 earlier lines ...]\nb\nc");
    }

    #[test]
    fn host_paths_appear_under_the_host_mount() {
        let here = std::env::current_dir().unwrap().canonicalize().unwrap();
        let inside = guest_path(&here).unwrap();
        assert_eq!(
            inside,
            Path::new("/host").join(here.strip_prefix("/").unwrap())
        );
        assert!(guest_path(Path::new("/nonexistent/x")).is_err());
    }

    #[test]
    fn shell_scripts_put_the_guest_binaries_first_on_path() {
        let bin_dir = std::env::temp_dir();
        let programs = ["drydock".to_owned(), "edu".to_owned()];
        let env = [("RUST_LOG", "debug".to_owned())];
        let script = shell_script(&bin_dir, &programs, Path::new("/"), &env).unwrap();
        let inside = guest_path(&bin_dir).unwrap();
        let lines: Vec<&str> = script.lines().collect();
        assert!(
            lines[0].starts_with("echo 'drydock guest shell: "),
            "{script}"
        );
        assert!(
            script.contains("\non PATH, built for the guest: drydock edu\n"),
            "{script}"
        );
        assert!(
            lines.contains(&format!("export PATH='{}':\"$PATH\"", inside.display()).as_str()),
            "{script}"
        );
        assert!(lines.contains(&"export RUST_LOG='debug'"), "{script}");
        assert!(lines.contains(&"cd '/host' || cd /"), "{script}");
        assert_eq!(lines.last(), Some(&"exec setsid cttyhack sh"), "{script}");
        // A shell reads it (`-n`: without running it).
        let parsed = std::process::Command::new("sh")
            .args(["-n", "-c", &script])
            .status()
            .unwrap();
        assert!(parsed.success(), "{script}");
    }

    #[test]
    fn program_scripts_quote_and_redirect() {
        let script =
            program_script(Path::new("/bin/sh"), &["it's".into()], Path::new("/"), &[]).unwrap();
        let program = guest_path(Path::new("/bin/sh")).unwrap();
        assert_eq!(
            script,
            format!(
                "cd '/host' || exit 125\nexec '{}' 'it'\\''s' </dev/null \
                 >/drydock/program.stdout 2>/drydock/program.stderr\n",
                program.display()
            )
        );
        // The log filter goes with the program.
        let script = program_script(
            Path::new("/bin/sh"),
            &[],
            Path::new("/"),
            &[("RUST_LOG", "warn,edu=debug".into())],
        )
        .unwrap();
        assert!(
            script.contains("\nexport RUST_LOG='warn,edu=debug'\nexec "),
            "{script}"
        );
    }

    #[test]
    fn run_dirs_are_fresh_and_removed_unless_kept() {
        let parent = std::env::temp_dir();
        let a = RunDir::create_in(&parent, "unit").unwrap();
        let b = RunDir::create_in(&parent, "unit").unwrap();
        assert_ne!(a.path(), b.path());
        a.write("x", "1\n2\n").unwrap();
        assert_eq!(a.read("x").as_deref(), Some("1\n2\n"));
        assert_eq!(a.tail("x", 1), "[... 1 earlier lines ...]\n2");
        assert!(a.tail("missing", 3).ends_with("/missing does not exist)"));
        let (pa, pb) = (a.path().to_owned(), b.path().to_owned());
        drop(a);
        let mut b = b;
        b.keep();
        drop(b);
        assert!(!pa.exists());
        assert!(pb.exists());
        fs::remove_dir_all(pb).unwrap();
    }
}
