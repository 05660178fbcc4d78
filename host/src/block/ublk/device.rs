//! A ublk device as its server holds it: added, or taken back after its server died; its
//! parameters, its character device `/dev/ublkcN`, and the commands that start, stop and delete
//! it.
//!
//! A server that asks for user recovery ([`Options::recovery`]) leaves its device behind when it
//! dies: ublk keeps the disk and the requests the server had (`UBLK_F_USER_RECOVERY_REISSUE`
//! issues them again), and queues new ones, until a new server takes the device back
//! ([`Device::recover`]: `UBLK_U_CMD_START_USER_RECOVERY`, the fetches of every queue, then
//! `UBLK_U_CMD_END_USER_RECOVERY` from [`Device::start`]). The device carries a mark of its
//! server's choosing (`ublksrv_flags`, which ublk keeps and does not read), by which the new
//! server finds it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::control::Control;
use super::uapi::{
    ublk_param_basic, ublk_params, ublksrv_ctrl_cmd, ublksrv_ctrl_dev_info, UBLKSRV_IO_BUF_OFFSET,
    UBLK_ATTR_ROTATIONAL, UBLK_ATTR_VOLATILE_CACHE, UBLK_F_CMD_IOCTL_ENCODE, UBLK_F_USER_COPY,
    UBLK_F_USER_RECOVERY, UBLK_F_USER_RECOVERY_REISSUE, UBLK_MAX_QUEUE_DEPTH,
    UBLK_PARAM_TYPE_BASIC, UBLK_QID_OFF, UBLK_TAG_OFF, UBLK_U_CMD_ADD_DEV, UBLK_U_CMD_DEL_DEV,
    UBLK_U_CMD_END_USER_RECOVERY, UBLK_U_CMD_GET_DEV_INFO, UBLK_U_CMD_SET_PARAMS,
    UBLK_U_CMD_START_DEV, UBLK_U_CMD_START_USER_RECOVERY, UBLK_U_CMD_STOP_DEV,
};
use crate::block::genhd::DiskParams;
use crate::block::SECTOR_SHIFT;
use crate::errno::Errno;
use crate::print::{printk, Level};

/// How long to wait for `/dev/ublkcN` to appear after the device is added, and for a dead
/// server's device to become recoverable (its character device closed, its queue quiesced).
const PATIENCE: Duration = Duration::from_secs(10);

/// What a server asks of its device beyond the disk's parameters.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// The largest request, in bytes: the size of the server's buffer of each tag.
    pub max_io_bytes: u32,
    /// Whether the disk has a volatile write cache, so that flushes reach the server.
    pub write_cache: bool,
    /// Whether the device outlives its server for a new one to take back (user recovery, with
    /// the requests the dead server had issued again).
    pub recovery: bool,
    /// The server's mark, by which a new server finds the device ([`Device::recover`]).
    pub mark: u64,
}

/// A ublk device of this process: added or being taken back, until deleted.
pub struct Device {
    name: String,
    control: Mutex<Control>,
    info: ublksrv_ctrl_dev_info,
    cdev: Arc<File>,
    recovering: AtomicBool,
    recovered: bool,
}

/// A control command for device `dev_id` with the buffer `buf`, or none.
fn command<T>(dev_id: u32, buf: Option<&mut T>, data: u64) -> ublksrv_ctrl_cmd {
    let (addr, len) = match buf {
        Some(buf) => (
            core::ptr::from_mut(buf) as u64,
            u16::try_from(core::mem::size_of::<T>()).unwrap_or(u16::MAX),
        ),
        None => (0, 0),
    };
    ublksrv_ctrl_cmd {
        dev_id,
        queue_id: u16::MAX,
        len,
        addr,
        data,
    }
}

/// Logs that `what` failed for the disk `name`, and returns the errno.
pub(super) fn failed(name: &str, what: &str, e: Errno) -> Errno {
    printk(
        Level::Err,
        "ublk",
        None,
        format_args!("{name}: ublk: {what} failed: {e}\n"),
    );
    e
}

impl Device {
    /// Adds a device for the disk `params` and sets its parameters.
    pub fn add(params: &DiskParams, options: &Options) -> Result<Device, Errno> {
        let name = &params.name;
        if params.queue_depth > UBLK_MAX_QUEUE_DEPTH || params.nr_hw_queues > u32::from(u16::MAX) {
            return Err(failed(
                name,
                &format!(
                    "a queue depth of {} (ublk's limit is 4096)",
                    params.queue_depth
                ),
                Errno::EINVAL,
            ));
        }
        let recovery = if options.recovery {
            UBLK_F_USER_RECOVERY | UBLK_F_USER_RECOVERY_REISSUE
        } else {
            0
        };
        let mut control = Control::open()?;
        let mut info = ublksrv_ctrl_dev_info {
            nr_hw_queues: u16::try_from(params.nr_hw_queues).unwrap_or(u16::MAX),
            queue_depth: u16::try_from(params.queue_depth).unwrap_or(u16::MAX),
            max_io_buf_bytes: options.max_io_bytes,
            dev_id: u32::MAX,
            ublksrv_pid: i32::try_from(std::process::id()).unwrap_or(0),
            flags: UBLK_F_USER_COPY | UBLK_F_CMD_IOCTL_ENCODE | recovery,
            ublksrv_flags: options.mark,
            ..Default::default()
        };
        control
            .command(UBLK_U_CMD_ADD_DEV, command(u32::MAX, Some(&mut info), 0))
            .map_err(|e| failed(name, "adding the device", e))?;
        let set_up = Self::set_up(&mut control, params, options, &info);
        match set_up {
            Ok(cdev) => Ok(Device {
                name: name.clone(),
                control: Mutex::new(control),
                info,
                cdev: Arc::new(cdev),
                recovering: AtomicBool::new(false),
                recovered: false,
            }),
            Err(e) => {
                Self::delete_id(&mut control, name, info.dev_id);
                Err(e)
            }
        }
    }

    /// Checks what ublk granted, sets the parameters and opens the character device.
    fn set_up(
        control: &mut Control,
        params: &DiskParams,
        options: &Options,
        info: &ublksrv_ctrl_dev_info,
    ) -> Result<File, Errno> {
        let name = &params.name;
        if info.flags & UBLK_F_USER_COPY == 0 {
            return Err(failed(
                name,
                "UBLK_F_USER_COPY (this kernel's ublk lacks it: Linux 6.5 has it)",
                Errno::EOPNOTSUPP,
            ));
        }
        if options.recovery && info.flags & UBLK_F_USER_RECOVERY_REISSUE == 0 {
            return Err(failed(
                name,
                "UBLK_F_USER_RECOVERY_REISSUE (this kernel's ublk lacks it: Linux 6.0 has it)",
                Errno::EOPNOTSUPP,
            ));
        }
        let shift = |size: u32| u8::try_from(size.trailing_zeros()).unwrap_or(u8::MAX);
        let mut attrs = 0;
        if params.rotational {
            attrs |= UBLK_ATTR_ROTATIONAL;
        }
        if options.write_cache {
            attrs |= UBLK_ATTR_VOLATILE_CACHE;
        }
        let mut ublk_params = ublk_params {
            len: u32::try_from(core::mem::size_of::<ublk_params>()).unwrap_or(0),
            types: UBLK_PARAM_TYPE_BASIC,
            basic: ublk_param_basic {
                attrs,
                logical_bs_shift: shift(params.logical_block_size),
                physical_bs_shift: shift(params.physical_block_size),
                // 1 byte each, which the block layer raises to the physical block size and rounds
                // down to none, as for a driver that sets neither.
                io_opt_shift: 0,
                io_min_shift: 0,
                max_sectors: options.max_io_bytes >> SECTOR_SHIFT,
                dev_sectors: params.sectors,
                ..Default::default()
            },
        };
        control
            .command(
                UBLK_U_CMD_SET_PARAMS,
                command(info.dev_id, Some(&mut ublk_params), 0),
            )
            .map_err(|e| failed(name, "setting the parameters", e))?;
        open_cdev(info.dev_id).map_err(|e| failed(name, "opening", e))
    }

    /// Finds the device marked `mark` whose server died, and begins taking it back: `Ok(None)`
    /// if there is none. The disk `name` is for the messages.
    pub fn recover(name: &str, mark: u64) -> Result<Option<Device>, Errno> {
        let mut control = Control::open()?;
        let Ok(entries) = std::fs::read_dir("/dev") else {
            return Ok(None);
        };
        let ids = entries.filter_map(|entry| {
            let file = entry.ok()?.file_name();
            file.to_str()?.strip_prefix("ublkc")?.parse::<u32>().ok()
        });
        for dev_id in ids {
            let mut info = ublksrv_ctrl_dev_info::default();
            let found = control
                .command(UBLK_U_CMD_GET_DEV_INFO, command(dev_id, Some(&mut info), 0))
                .is_ok_and(|_| {
                    info.ublksrv_flags == mark && info.flags & UBLK_F_USER_RECOVERY != 0
                });
            if !found {
                continue;
            }
            // The dead server's character device closes, and then its queue quiesces, a little
            // after it died.
            let start = Instant::now();
            loop {
                match control.command(
                    UBLK_U_CMD_START_USER_RECOVERY,
                    command::<()>(dev_id, None, 0),
                ) {
                    Ok(_) => break,
                    Err(Errno::EBUSY) if start.elapsed() < PATIENCE => {
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    Err(e) => {
                        return Err(failed(
                            name,
                            &format!(
                                "taking back /dev/ublkb{dev_id} (state {}, server {})",
                                info.state, info.ublksrv_pid
                            ),
                            e,
                        ))
                    }
                }
            }
            let cdev = open_cdev(dev_id).map_err(|e| failed(name, "opening", e))?;
            printk(
                Level::Info,
                "ublk",
                None,
                format_args!("{name}: taking back /dev/ublkb{dev_id}, whose server died\n"),
            );
            return Ok(Some(Device {
                name: name.to_owned(),
                control: Mutex::new(control),
                info,
                cdev: Arc::new(cdev),
                recovering: AtomicBool::new(true),
                recovered: true,
            }));
        }
        Ok(None)
    }

    /// Whether the device was taken back from a server that died ([`Device::recover`]).
    pub fn recovered(&self) -> bool {
        self.recovered
    }

    /// The disk's name, as its driver gave it (for the messages).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device's number: its disk is `/dev/ublkbN`.
    pub fn id(&self) -> u32 {
        self.info.dev_id
    }

    /// The number of queues.
    pub fn queues(&self) -> u16 {
        self.info.nr_hw_queues
    }

    /// The tags of each queue.
    pub fn depth(&self) -> u16 {
        self.info.queue_depth
    }

    /// The largest request, in bytes.
    pub fn max_io_bytes(&self) -> u32 {
        self.info.max_io_buf_bytes
    }

    /// The character device, which the queues' threads serve ([`super::serve_queue`]).
    pub fn cdev(&self) -> &Arc<File> {
        &self.cdev
    }

    /// Starts the device once every tag of every queue fetches (the call waits for them): adds
    /// its disk, or, for a device being taken back, hands it the requests kept meanwhile.
    pub fn start(&self) -> Result<(), Errno> {
        let pid = u64::from(std::process::id());
        let (op, what) = if self.recovering.load(Ordering::SeqCst) {
            (UBLK_U_CMD_END_USER_RECOVERY, "taking back the device")
        } else {
            (UBLK_U_CMD_START_DEV, "starting the device")
        };
        self.control()
            .command(op, command::<()>(self.info.dev_id, None, pid))
            .map_err(|e| failed(&self.name, what, e))?;
        self.recovering.store(false, Ordering::SeqCst);
        let verb = if op == UBLK_U_CMD_START_DEV {
            "served as"
        } else {
            "serves again"
        };
        printk(
            Level::Info,
            "ublk",
            None,
            format_args!("{}: {verb} /dev/ublkb{}\n", self.name, self.info.dev_id),
        );
        Ok(())
    }

    /// Stops the device: its disk goes once its I/O ended, and each tag's fetch completes with
    /// `UBLK_IO_RES_ABORT`, which ends the queues' threads.
    pub fn stop(&self) -> Result<(), Errno> {
        self.control()
            .command(
                UBLK_U_CMD_STOP_DEV,
                command::<()>(self.info.dev_id, None, 0),
            )
            .map(|_| ())
            .map_err(|e| failed(&self.name, "stopping the device", e))
    }

    /// Deletes the device, once the queues' threads are gone: ublk deletes it once its character
    /// device is closed, which this closes first.
    pub fn delete(self) {
        let Device {
            name,
            control,
            info,
            cdev,
            ..
        } = self;
        drop(cdev);
        let mut control = control.into_inner().unwrap_or_else(|e| e.into_inner());
        Self::delete_id(&mut control, &name, info.dev_id);
    }

    /// The control device, for a command.
    fn control(&self) -> std::sync::MutexGuard<'_, Control> {
        self.control.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn delete_id(control: &mut Control, name: &str, dev_id: u32) {
        if let Err(e) = control.command(UBLK_U_CMD_DEL_DEV, command::<()>(dev_id, None, 0)) {
            failed(name, "deleting the device", e);
        }
    }

    /// Where the data of `tag` of queue `q_id` starts in the character device: below
    /// `i64::MAX` for every queue and tag, so `pread` and `pwrite` take it as it is.
    fn position(q_id: u16, tag: u16) -> u64 {
        UBLKSRV_IO_BUF_OFFSET + (u64::from(q_id) << UBLK_QID_OFF) + (u64::from(tag) << UBLK_TAG_OFF)
    }

    /// Copies the data of the write on `tag` of queue `q_id` into `buf` (its `buf.len()` first
    /// bytes): the one copy of the request's data, ublk's own (`pread` on the character device).
    pub fn copy_from_request(&self, q_id: u16, tag: u16, buf: &mut [u8]) -> Result<(), Errno> {
        request_copy(self.cdev.read_exact_at(buf, Self::position(q_id, tag)))
    }

    /// Copies `buf` into the read on `tag` of queue `q_id` (its `buf.len()` first bytes): the
    /// one copy of the request's data, ublk's own (`pwrite` on the character device).
    pub fn copy_to_request(&self, q_id: u16, tag: u16, buf: &[u8]) -> Result<(), Errno> {
        request_copy(self.cdev.write_all_at(buf, Self::position(q_id, tag)))
    }
}

/// What a copy of a request's data that did not move every byte is to ublk: the errno of the
/// `pread` or `pwrite` that failed, or `EIO` for one that copied nothing (the request holds fewer
/// bytes than asked). `read_exact_at` and `write_all_at` go on after a short copy and after
/// `EINTR`, and give a copy of nothing as an error without an errno (`UnexpectedEof`,
/// `WriteZero`), which [`Errno::from_io`] makes `EIO`.
fn request_copy(copied: std::io::Result<()>) -> Result<(), Errno> {
    copied.map_err(|e| Errno::from_io(&e))
}

/// Opens `/dev/ublkcN`, waiting a little for it to appear.
fn open_cdev(dev_id: u32) -> Result<File, Errno> {
    let path = format!("/dev/ublkc{dev_id}");
    let start = Instant::now();
    loop {
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
        {
            Ok(file) => return Ok(file),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && start.elapsed() < PATIENCE => {
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => return Err(Errno::from_io(&e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_requests_data_is_where_ublk_puts_it() {
        // `ublk_pos_to_hwq`, `ublk_pos_to_tag` and `ublk_pos_to_buf_off` of 7.3's ublk_drv.c
        // take the position apart as: 0x80000000, then the queue from bit 41, the tag from bit
        // 25, the offset below.
        assert_eq!(Device::position(0, 0), 0x8000_0000);
        assert_eq!(Device::position(3, 5), 0x8000_0000 + (3 << 41) + (5 << 25));
        assert_eq!(
            Device::position(1, 4095),
            0x8000_0000 + (1 << 41) + (4095 << 25)
        );
        // `pread` and `pwrite` take an `off_t`: the last byte of the last tag's largest request
        // (512 KiB, ublk's limit) is still one.
        let last = Device::position(u16::MAX, u16::MAX) + (512 << 10) - 1;
        assert!(i64::try_from(last).is_ok());
    }

    /// A file of `len` bytes, each its offset's low byte, opened for reading (and writing if
    /// `write`), standing for the character device.
    fn file(len: usize, write: bool) -> File {
        let path = std::env::temp_dir().join(format!(
            "drydock-ublk-copy-{}-{len}-{write}",
            std::process::id()
        ));
        let bytes: Vec<u8> = (0..len).map(|i| i as u8).collect();
        std::fs::write(&path, bytes).unwrap();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .open(&path)
            .unwrap();
        std::fs::remove_file(&path).unwrap();
        file
    }

    #[test]
    fn a_copy_moves_every_byte_or_fails_with_an_errno() {
        let cdev = file(8192, true);
        let mut buf = [0u8; 4096];
        assert_eq!(request_copy(cdev.read_exact_at(&mut buf, 4096)), Ok(()));
        assert!(buf.iter().enumerate().all(|(i, &b)| b == i as u8));
        assert_eq!(request_copy(cdev.write_all_at(&[7; 100], 8000)), Ok(()));
        let mut end = [0u8; 192];
        cdev.read_exact_at(&mut end, 8000).unwrap();
        assert_eq!(end[..100], [7; 100]);
        assert_eq!(end[100], (8100 % 256) as u8);

        // Fewer bytes than asked: the copy ends at nothing copied, which ublk gets as `EIO`.
        assert_eq!(
            request_copy(cdev.read_exact_at(&mut buf, 6144)),
            Err(Errno::EIO)
        );
        // A failed call is its errno.
        let read_only = file(4096, false);
        assert_eq!(
            request_copy(read_only.write_all_at(&buf, 0)),
            Err(Errno::EBADF)
        );
    }
}
