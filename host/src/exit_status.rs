//! The exit statuses of drydock's programs: one scheme for the `drydock` command, the driver
//! binaries and `drydock-vm`.
//!
//! | status | meaning |
//! |---|---|
//! | [`SUCCESS`], 0 | done (a driver binary: stopped by a signal after a clean teardown) |
//! | [`FAILURE`], 1 | refused or failed (a device in use, nothing to drive, a driver that could not load) |
//! | [`USAGE`], 2 | a bad command line, with one line that says what is wrong |
//! | [`SOFTWARE`], 70 | a bug: a panic (`EX_SOFTWARE` of `sysexits.h`) |
//!
//! `drydock-vm run` passes on the exit status of the program it runs in the guest, so its own
//! failures (the guest did not boot, timed out) take [`NOT_RUN`], as `env` and `timeout` do.
//! `docs/cli.md` describes the scheme for users.

/// Done.
pub const SUCCESS: u8 = 0;

/// Refused or failed.
pub const FAILURE: u8 = 1;

/// A bad command line.
pub const USAGE: u8 = 2;

/// A bug in drydock: a panic (`EX_SOFTWARE`).
pub const SOFTWARE: u8 = 70;

/// `drydock-vm`: the program could not be run to its end (the guest failed), as opposed to the
/// program's own status, which is passed on.
pub const NOT_RUN: u8 = 125;
