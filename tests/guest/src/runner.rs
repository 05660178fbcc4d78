//! Running a plan: each case in its own child process, with its own timeout.
//!
//! The runner re-executes its own binary as `drydock-guest case <name>` in a new process group,
//! with the case's standard output and error going straight to files in the run directory. A
//! case that panics, hangs or is killed therefore loses only its own result: a hang is ended by
//! killing the whole process group when the case's timeout expires, and the runner goes on with
//! the next case.

use std::fs::{self, File};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use drydock_guest::protocol::{self, Outcome, Status};

use crate::cases::{self, Planned};
use crate::kmsg::KernelLog;

/// How often the runner checks whether a case has finished.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Runs every case in `run_dir`'s plan and records the results there.
///
/// Failing cases are results, not errors; this fails only if the plan cannot be read, names an
/// unknown case, or results cannot be written.
pub fn run_plan(run_dir: &Path) -> Result<(), String> {
    let plan_path = run_dir.join(protocol::PLAN);
    let plan = fs::read_to_string(&plan_path)
        .map_err(|e| format!("cannot read {}: {e}", plan_path.display()))?;
    let names = protocol::parse_plan(&plan).map_err(|e| format!("{}: {e}", plan_path.display()))?;
    let plan: Vec<Planned> = names
        .iter()
        .map(|name| {
            cases::find(name).ok_or_else(|| format!("the plan names no known case `{name}`"))
        })
        .collect::<Result<_, _>>()?;

    let mut kernel_log = KernelLog::open();
    if let Ok(log) = &mut kernel_log {
        // Skip the boot messages: each case gets only what is logged while it runs.
        let _ = log.read_new();
    }
    let self_exe = std::env::current_exe().map_err(|e| format!("cannot find own binary: {e}"))?;

    println!("drydock-guest: running {} case(s)", plan.len());
    for Planned { name, case, .. } in plan {
        let dir = run_dir.join(protocol::case_dir(&name));
        fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let output = |file: &str| {
            File::create(dir.join(file))
                .map_err(|e| format!("cannot create {file} for {name}: {e}"))
        };
        let child = Command::new(&self_exe)
            .args(["case", &name])
            .stdin(Stdio::null())
            .stdout(output(protocol::CASE_STDOUT)?)
            .stderr(output(protocol::CASE_STDERR)?)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start case {name}: {e}"))?;
        let outcome = supervise(child, case.timeout)
            .map_err(|e| format!("lost track of case {name}: {e}"))?;

        let kmsg = match &mut kernel_log {
            Ok(log) => log
                .read_new()
                .unwrap_or_else(|e| format!("(cannot read the kernel log: {e})\n")),
            Err(e) => format!("(cannot open /dev/kmsg: {e})\n"),
        };
        write(&dir.join(protocol::CASE_KMSG), &kmsg)?;
        write(&dir.join(protocol::CASE_OUTCOME), &format!("{outcome}\n"))?;
        println!("drydock-guest: {name} {outcome}");
    }

    let dmesg = KernelLog::open()
        .and_then(|mut log| log.read_new())
        .unwrap_or_else(|e| format!("(cannot read the kernel log: {e})\n"));
    write(&run_dir.join(protocol::DMESG), &dmesg)
}

fn write(path: &Path, text: &str) -> Result<(), String> {
    fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Waits for a case's process to end, killing its process group at `timeout`.
fn supervise(mut child: Child, timeout: Duration) -> std::io::Result<Outcome> {
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if start.elapsed() >= timeout {
            break None;
        }
        thread::sleep(POLL_INTERVAL);
    };
    // Kill the whole group: also whatever the case started and left behind.
    let group = child.id() as libc::pid_t;
    // SAFETY: kill has no memory-safety preconditions; the group is the case's own.
    unsafe { libc::kill(-group, libc::SIGKILL) };
    let duration = start.elapsed();
    let status = match status {
        Some(status) => status_of(status),
        None => {
            child.wait()?;
            Status::TimedOut
        }
    };
    Ok(Outcome { status, duration })
}

fn status_of(status: ExitStatus) -> Status {
    match (status.code(), status.signal()) {
        (Some(0), _) => Status::Passed,
        (Some(exit_code), _) => Status::Failed { exit_code },
        (None, Some(signal)) => Status::Killed { signal },
        (None, None) => unreachable!("a process either exits or is killed by a signal"),
    }
}
