//! The misc device of docs/devices.md, `drivers/caesar`, as its binary serves it through CUSE:
//! `/dev/caesar` appears, `caesar-client`, another process, gets from each of two open files the
//! results the page describes (the texts, shifts and positions, the ioctls' values and every
//! error), the page's own shell line prints its enciphered text, and `SIGTERM` removes the node,
//! a file still open then failing with `ENOTCONN`: the CUSE connection is gone with the process.
//!
//! The driver is not a module of the proof kernel (`tests/kernel/drivers` lists the PCI drivers
//! the proof compares), so the results are compared with the page's, not with an in-kernel run.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::process::Command;

use super::driver_process::{beside_me, DriverProcess};
use super::misc_device::{node_appears, node_goes};
use super::{ensure, shell, CaseResult};

/// The device's node.
const NODE: &str = "/dev/caesar";

/// What `caesar-client` prints: docs/devices.md's sections 1 to 9, call by call.
const EXPECTED: &str = r#"open: ok
get shift: 0 shift=13
write "Hello, world!": 13
read 5: 5 "Uryyb"
read 100: 8 ", jbeyq!"
read 100: 0
set shift 3: 0
get shift: 0 shift=3
write " abc xyz": 8
read 100: 8 " def abc"
length: 21
set shift 26: -1 EINVAL
get shift: 0 shift=3
unknown command: -1 ENOTTY
get shift to an unmapped address: -1 EFAULT
set shift from an unmapped address: -1 EFAULT
mmap: -1 ENODEV
second open: ok
second get shift: 0 shift=13
second read 100: 0
second write "Uryyb": 5
second read 100: 5 "Hello"
length: 21
second write 5000 bytes: 4091
second write "more": -1 ENOSPC
second length: 4096
second read 10000: 4091 (4091 of them '.')
second close: 0
close: 0
"#;

/// The page's shell line (section 9): one open file for the write and the read that follows.
const SHELL_LINE: &str = "exec 3<>/dev/caesar; echo Hello, world >&3; cat <&3";

/// `caesar`, used by other processes through CUSE, then stopped with `SIGTERM`.
pub fn caesar_served_through_cuse() -> CaseResult {
    ensure!(
        !Path::new(NODE).exists(),
        "{NODE} exists before the process runs"
    );
    println!("$ caesar");
    let mut process = DriverProcess::start("caesar", &[], &[("DRYDOCK_LOG", "info")])?;
    let used = process
        .wait_for_line("misc: /dev/caesar created with CUSE")
        .and_then(|_| node_appears(NODE))
        .and_then(|()| use_device());
    let held = match used {
        Ok(held) => held,
        Err(err) => {
            process.kill();
            return Err(err);
        }
    };
    let log = process.stop_with(libc::SIGTERM)?;
    node_goes(NODE)?;
    ensure!(
        log.iter()
            .any(|line| line.ends_with("caesar: registering /dev/caesar")),
        "the driver did not log its module's `registering /dev/caesar`"
    );
    let mut held = held;
    let after = held.write(b"late").map_err(|e| e.raw_os_error());
    ensure!(
        after == Err(Some(libc::ENOTCONN)),
        "a write on a file still open when the process stopped returned {after:?}, not ENOTCONN"
    );
    Ok(())
}

/// Runs the client and the page's shell line on the node; returns a file left open, written.
fn use_device() -> Result<std::fs::File, String> {
    let client = shell::output_of(Command::new(beside_me("caesar-client")?).arg(NODE))?;
    println!("--- caesar-client ---\n{client}");
    ensure!(
        client == EXPECTED,
        "caesar-client printed\n{client}\nrather than\n{EXPECTED}"
    );
    let line = shell::run(Path::new("/"), SHELL_LINE, &[])?;
    ensure!(
        line == "Uryyb, jbeyq\n",
        "`{SHELL_LINE}` printed {line:?}, not \"Uryyb, jbeyq\\n\""
    );
    let mut held = OpenOptions::new()
        .read(true)
        .write(true)
        .open(NODE)
        .map_err(|e| format!("cannot open {NODE}: {e}"))?;
    let written = held.write(b"held").map_err(|e| e.to_string());
    ensure!(
        written == Ok(4),
        "a write on the file held open returned {written:?}"
    );
    Ok(held)
}
