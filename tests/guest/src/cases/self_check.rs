//! Cases that misbehave on purpose, so the runner's tests can check that one case's failure,
//! panic, hang or death is recorded as such and does not take the run down, the host's tests can
//! check that a guest that stops making progress is killed at its deadline, and that a kernel
//! message reporting trouble fails the case that does not expect it.

use std::time::Duration;

use super::CaseResult;

/// Passes, after printing to both streams.
pub fn pass() -> CaseResult {
    println!("self-check: to stdout");
    eprintln!("self-check: to stderr");
    Ok(())
}

/// Fails with a message.
pub fn fail() -> CaseResult {
    Err("self-check: failing on purpose".into())
}

/// Panics.
pub fn panic() -> CaseResult {
    panic!("self-check: panicking on purpose");
}

/// Never returns; the runner must kill it at its timeout.
pub fn hang() -> CaseResult {
    println!("self-check: hanging");
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Kills itself with SIGKILL.
pub fn sigkill() -> CaseResult {
    // SAFETY: raise has no memory-safety preconditions.
    unsafe { libc::raise(libc::SIGKILL) };
    unreachable!("SIGKILL cannot be caught");
}

/// Stops the runner (this case's parent) with SIGSTOP, so the guest neither reports nor powers
/// off: to the host, a hung guest, which its watchdog must kill.
pub fn freeze_runner() -> CaseResult {
    println!("self-check: freezing the runner");
    // SAFETY: getppid and kill have no memory-safety preconditions; the parent is the runner,
    // which started this case and is waiting for it.
    unsafe { libc::kill(libc::getppid(), libc::SIGSTOP) };
    Ok(())
}

/// The warning [`kernel_warning`] logs: a line as the kernel's `WARN()` starts its report with.
pub const WARNING: &str = "WARNING: CPU: 0 PID: 1 at self_check.rs:1 kernel_warning+0x0/0x1";

/// Logs [`WARNING`] in the kernel log, at `KERN_WARNING`, through `/dev/kmsg`.
pub fn kernel_warning() -> CaseResult {
    std::fs::write("/dev/kmsg", format!("<4>{WARNING}\n"))
        .map_err(|e| format!("cannot write to /dev/kmsg: {e}"))?;
    println!("self-check: logged {WARNING:?}");
    Ok(())
}
