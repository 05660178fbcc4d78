//! A driver module's binary run by a case as a user starts it: its log (standard error) read line
//! by line as it comes, stopped with a signal, checking that it unloaded and exited cleanly, or
//! waited for when it ends by itself.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use super::ensure;

/// How long a driver may take from start to `bound to` (an NVMe reset and Identify under TCG
/// take about a second), and from the signal to its exit.
pub(super) const PATIENCE: Duration = Duration::from_secs(60);

/// The binary `name` built next to this one.
pub(super) fn beside_me(name: &str) -> Result<PathBuf, String> {
    Ok(std::env::current_exe()
        .map_err(|e| format!("cannot find own binary: {e}"))?
        .with_file_name(name))
}

/// A driver process whose standard error (its log) is read line by line on a thread.
pub(super) struct DriverProcess {
    child: Child,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl DriverProcess {
    /// Starts the binary `name`, built next to this one, with `args` (the devices, if any) and
    /// the environment variables `env` added to this process's.
    pub(super) fn start(name: &str, args: &[&str], env: &[(&str, &str)]) -> Result<Self, String> {
        Self::start_as(None, &beside_me(name)?, args, env)
    }

    /// Like [`Self::start`], for the binary at `binary`, as user and group `uid` (without
    /// supplementary groups) if given, as a user without root starts it.
    pub(super) fn start_as(
        uid: Option<u32>,
        binary: &Path,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Result<Self, String> {
        let mut command = Command::new(binary);
        if let Some(uid) = uid {
            command.uid(uid).gid(uid);
        }
        let mut child = command
            .args(args)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", binary.display()))?;
        let stderr = child.stderr.take().ok_or("no pipe from the driver")?;
        let (sender, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                // Shown as it comes, so a case that hangs still shows what the driver said.
                println!("  | {line}");
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self {
            child,
            lines,
            log: Vec::new(),
        })
    }

    /// Reads the log until a line contains `text`, and returns that line.
    pub(super) fn wait_for_line(&mut self, text: &str) -> Result<String, String> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let found = line.contains(text);
                    self.log.push(line.clone());
                    if found {
                        return Ok(line);
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    let status = self.child.wait().map_err(|e| e.to_string())?;
                    return Err(format!(
                        "no log line containing {text:?} within {PATIENCE:?} (the driver ended: {status})"
                    ));
                }
            }
        }
    }

    /// The process's ID.
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether the process has ended, as [`Child::try_wait`] says: `Ok(None)` while it runs.
    pub(super) fn try_wait(&mut self) -> std::io::Result<Option<ExitStatus>> {
        self.child.try_wait()
    }

    /// Kills the process (SIGKILL) and reaps it, ignoring errors: for a case giving up on it.
    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to end by itself; returns its status and whole log.
    pub(super) fn wait_exit(mut self) -> Result<(ExitStatus, Vec<String>), String> {
        let status = self.child.wait().map_err(|e| e.to_string())?;
        self.read_to_end();
        Ok((status, self.log))
    }

    /// Adds to the log whatever the ended process wrote, to the end of its standard error (the
    /// reading thread ends there, which ends the channel).
    fn read_to_end(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while let Ok(line) = self
            .lines
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        {
            self.log.push(line);
        }
    }

    /// Sends `signal`, waits for the exit, and checks it was clean: status 0 after the runtime
    /// logged the signal and unloaded. Returns the whole log.
    pub(super) fn stop_with(mut self, signal: libc::c_int) -> Result<Vec<String>, String> {
        let pid = libc::pid_t::try_from(self.child.id()).map_err(|e| e.to_string())?;
        // SAFETY: `kill` has no memory-safety preconditions; the pid is our child's, not yet
        // reaped, so it cannot name another process.
        let sent = unsafe { libc::kill(pid, signal) };
        ensure!(sent == 0, "kill({pid}, {signal}) failed");
        self.wait_for_line(&format!("signal {signal} received, unloading"))?;
        self.exits_cleanly(&format!("signal {signal}"))
    }

    /// Waits for the process to exit (after `why`: a signal, a device's removal) and checks that
    /// its status is 0. Returns the whole log.
    pub(super) fn exits_cleanly(mut self, why: &str) -> Result<Vec<String>, String> {
        let deadline = Instant::now() + PATIENCE;
        let status = loop {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                break status;
            }
            if Instant::now() >= deadline {
                self.kill();
                return Err(format!(
                    "the driver did not exit within {PATIENCE:?} of {why}"
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Whatever the driver logged while unloading.
        self.read_to_end();
        ensure!(
            status.success(),
            "the driver exited with {status} after {why}; its log:\n{}",
            self.log.join("\n")
        );
        Ok(self.log)
    }
}
