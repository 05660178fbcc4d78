//! Cases that misbehave on purpose, so the runner's tests can check that one case's failure,
//! panic, hang or death is recorded as such and does not take the run down.

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
