//! ublk's control device, `/dev/ublk-control`: adding, starting, stopping and deleting devices.
//!
//! Each command is an `IORING_OP_URING_CMD` on the control device, with a 32-byte
//! `ublksrv_ctrl_cmd` in a 128-byte SQE, waited for on the calling thread.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;

use io_uring::{cqueue, opcode, squeue, types, IoUring};

use super::uapi::ublksrv_ctrl_cmd;
use crate::errno::Errno;
use crate::error::HostError;

/// The control device.
pub(super) const CONTROL: &str = "/dev/ublk-control";

/// An open control device with its ring.
pub(super) struct Control {
    file: File,
    ring: IoUring<squeue::Entry128, cqueue::Entry>,
}

impl Control {
    /// Opens the control device; says what to do if there is none.
    pub(super) fn open() -> Result<Control, HostError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(CONTROL)
            .map_err(|e| {
                HostError::os(
                    format!(
                        "opening {CONTROL} to serve a disk with ublk (it needs Linux 6.5 or \
                         later built with CONFIG_BLK_DEV_UBLK: `modprobe ublk_drv`, and root)"
                    ),
                    e,
                )
            })?;
        let ring = IoUring::builder()
            .build(4)
            .map_err(|e| HostError::os("creating an io_uring for ublk's control device", e))?;
        Ok(Control { file, ring })
    }

    /// Runs control command `op` and waits for its result (a non-negative value, or an errno).
    pub(super) fn command(&mut self, op: u32, cmd: ublksrv_ctrl_cmd) -> Result<i32, Errno> {
        let sqe = opcode::UringCmd80::new(types::Fd(self.file.as_raw_fd()), op)
            .cmd(cmd.to_sqe_cmd())
            .build();
        // SAFETY: The command's buffer (`cmd.addr`), if any, is the caller's and outlives the
        // wait below, which returns only once the kernel completed the command.
        unsafe { self.ring.submission().push(&sqe) }.map_err(|_| Errno::EBUSY)?;
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(Errno::from_io(&e)),
            }
        }
        let cqe = self.ring.completion().next().ok_or(Errno::EIO)?;
        match Errno::from_errno(cqe.result()) {
            Some(errno) => Err(errno),
            None => Ok(cqe.result()),
        }
    }
}
