//! The ublk driver's user API (`include/uapi/linux/ublk_cmd.h` of Linux 7.3), the part the
//! front end uses.

/// `_IOWR('u', nr, size)`: a command that reads and writes its `size`-byte argument.
const fn iowr(nr: u32, size: usize) -> u32 {
    (3 << 30) | ((size as u32) << 16) | ((b'u' as u32) << 8) | nr
}

/// `_IOR('u', nr, size)`: a command that writes its `size`-byte argument.
const fn ior(nr: u32, size: usize) -> u32 {
    (2 << 30) | ((size as u32) << 16) | ((b'u' as u32) << 8) | nr
}

/// Reads a device's description (`UBLK_U_CMD_GET_DEV_INFO`).
pub(super) const UBLK_U_CMD_GET_DEV_INFO: u32 = ior(0x02, CTRL_CMD_SIZE);
/// Adds a device (`UBLK_U_CMD_ADD_DEV`).
pub(super) const UBLK_U_CMD_ADD_DEV: u32 = iowr(0x04, CTRL_CMD_SIZE);
/// Deletes a device (`UBLK_U_CMD_DEL_DEV`).
pub(super) const UBLK_U_CMD_DEL_DEV: u32 = iowr(0x05, CTRL_CMD_SIZE);
/// Starts a device once its queues fetch (`UBLK_U_CMD_START_DEV`): adds its disk.
pub(super) const UBLK_U_CMD_START_DEV: u32 = iowr(0x06, CTRL_CMD_SIZE);
/// Stops a device (`UBLK_U_CMD_STOP_DEV`): deletes its disk after the I/O in flight.
pub(super) const UBLK_U_CMD_STOP_DEV: u32 = iowr(0x07, CTRL_CMD_SIZE);
/// Sets a device's parameters (`UBLK_U_CMD_SET_PARAMS`).
pub(super) const UBLK_U_CMD_SET_PARAMS: u32 = iowr(0x08, CTRL_CMD_SIZE);

/// Begins taking back a device whose server died (`UBLK_U_CMD_START_USER_RECOVERY`).
pub(super) const UBLK_U_CMD_START_USER_RECOVERY: u32 = iowr(0x10, CTRL_CMD_SIZE);
/// Ends taking it back once the new server's queues fetch (`UBLK_U_CMD_END_USER_RECOVERY`): the
/// requests kept meanwhile go to the new server.
pub(super) const UBLK_U_CMD_END_USER_RECOVERY: u32 = iowr(0x11, CTRL_CMD_SIZE);

/// Fetches a tag's next request (`UBLK_U_IO_FETCH_REQ`).
pub(super) const UBLK_U_IO_FETCH_REQ: u32 = iowr(0x20, IO_CMD_SIZE);
/// Reports a tag's result and fetches its next request (`UBLK_U_IO_COMMIT_AND_FETCH_REQ`).
pub(super) const UBLK_U_IO_COMMIT_AND_FETCH_REQ: u32 = iowr(0x21, IO_CMD_SIZE);

/// A device whose server dies keeps its disk and waits for a new server (Linux 6.0).
pub(super) const UBLK_F_USER_RECOVERY: u64 = 1 << 3;
/// With [`UBLK_F_USER_RECOVERY`], the requests the dead server had are issued again to the new
/// one, rather than failed (Linux 6.0).
pub(super) const UBLK_F_USER_RECOVERY_REISSUE: u64 = 1 << 4;
/// The ioctl-encoded commands above are understood (Linux 6.4).
pub(super) const UBLK_F_CMD_IOCTL_ENCODE: u64 = 1 << 6;
/// The server copies data with `pread`/`pwrite` on `/dev/ublkcN` instead of giving buffers
/// (Linux 6.5).
pub(super) const UBLK_F_USER_COPY: u64 = 1 << 7;

/// The disk's medium rotates.
pub(super) const UBLK_ATTR_ROTATIONAL: u32 = 1 << 1;
/// The device has a volatile write cache: flushes reach the server.
pub(super) const UBLK_ATTR_VOLATILE_CACHE: u32 = 1 << 2;
/// The parameters include [`ublk_param_basic`].
pub(super) const UBLK_PARAM_TYPE_BASIC: u32 = 1 << 0;

/// A fetched tag holds a request.
pub(super) const UBLK_IO_RES_OK: i32 = 0;
/// The device is stopping: the tag fetches nothing more (`-ENODEV`).
pub(super) const UBLK_IO_RES_ABORT: i32 = -19;

/// Where a request's data is in `/dev/ublkcN` with user copy (`UBLKSRV_IO_BUF_OFFSET`).
pub(super) const UBLKSRV_IO_BUF_OFFSET: u64 = 0x8000_0000;
/// Where the tag is in that position (`UBLK_TAG_OFF`).
pub(super) const UBLK_TAG_OFF: u32 = 25;
/// Where the queue is in that position (`UBLK_QID_OFF`: after 16 bits of tag).
pub(super) const UBLK_QID_OFF: u32 = UBLK_TAG_OFF + 16;

/// The deepest a ublk queue may be.
pub(super) const UBLK_MAX_QUEUE_DEPTH: u32 = 4096;

/// `UBLK_IO_OP_*`: a request's operation, in the low 8 bits of its descriptor's `op_flags`.
pub(super) const UBLK_IO_OP_READ: u32 = 0;
pub(super) const UBLK_IO_OP_WRITE: u32 = 1;
pub(super) const UBLK_IO_OP_FLUSH: u32 = 2;
pub(super) const UBLK_IO_OP_DISCARD: u32 = 3;
pub(super) const UBLK_IO_OP_WRITE_ZEROES: u32 = 5;

/// The size of [`ublksrv_ctrl_cmd`].
const CTRL_CMD_SIZE: usize = 32;
/// The size of an I/O command (`struct ublksrv_io_cmd`).
const IO_CMD_SIZE: usize = 16;

/// A control command (`struct ublksrv_ctrl_cmd`), in an SQE's command area.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ublksrv_ctrl_cmd {
    /// The device.
    pub(super) dev_id: u32,
    /// The queue, or `u16::MAX` for none.
    pub(super) queue_id: u16,
    /// The length of the buffer at `addr`.
    pub(super) len: u16,
    /// A buffer the command reads or writes.
    pub(super) addr: u64,
    /// Inline data.
    pub(super) data: u64,
}

impl ublksrv_ctrl_cmd {
    /// The command as the 80 bytes of a 128-byte SQE's command area.
    pub(super) fn to_sqe_cmd(self) -> [u8; 80] {
        let mut cmd = [0u8; 80];
        cmd[0..4].copy_from_slice(&self.dev_id.to_ne_bytes());
        cmd[4..6].copy_from_slice(&self.queue_id.to_ne_bytes());
        cmd[6..8].copy_from_slice(&self.len.to_ne_bytes());
        cmd[8..16].copy_from_slice(&self.addr.to_ne_bytes());
        cmd[16..24].copy_from_slice(&self.data.to_ne_bytes());
        // `dev_path_len`, `pad` and `reserved` stay 0.
        cmd
    }
}

/// An I/O command (`struct ublksrv_io_cmd`) as the 16 bytes of an SQE's command area.
pub(super) fn io_cmd(q_id: u16, tag: u16, result: i32) -> [u8; IO_CMD_SIZE] {
    let mut cmd = [0u8; IO_CMD_SIZE];
    cmd[0..2].copy_from_slice(&q_id.to_ne_bytes());
    cmd[2..4].copy_from_slice(&tag.to_ne_bytes());
    cmd[4..8].copy_from_slice(&result.to_ne_bytes());
    // `addr` stays 0: with `UBLK_F_USER_COPY` the server gives no buffer.
    cmd
}

/// A device's description (`struct ublksrv_ctrl_dev_info`), which `ADD_DEV` reads and fills.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ublksrv_ctrl_dev_info {
    pub(super) nr_hw_queues: u16,
    pub(super) queue_depth: u16,
    pub(super) state: u16,
    pub(super) io_desc_size: u16,
    pub(super) max_io_buf_bytes: u32,
    pub(super) dev_id: u32,
    pub(super) ublksrv_pid: i32,
    pub(super) pad1: u32,
    pub(super) flags: u64,
    pub(super) ublksrv_flags: u64,
    pub(super) owner_uid: u32,
    pub(super) owner_gid: u32,
    pub(super) reserved1: u64,
    pub(super) reserved2: u64,
}

/// A request's descriptor (`struct ublksrv_io_desc`), in the queue's shared array.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ublksrv_io_desc {
    /// The operation (bits 0-7) and flags.
    pub(super) op_flags: u32,
    /// The sectors to transfer.
    pub(super) nr_sectors: u32,
    /// The first sector.
    pub(super) start_sector: u64,
    /// The buffer (unused with `UBLK_F_USER_COPY`).
    pub(super) addr: u64,
}

/// The basic parameters of a device (`struct ublk_param_basic`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ublk_param_basic {
    pub(super) attrs: u32,
    pub(super) logical_bs_shift: u8,
    pub(super) physical_bs_shift: u8,
    pub(super) io_opt_shift: u8,
    pub(super) io_min_shift: u8,
    pub(super) max_sectors: u32,
    pub(super) chunk_sectors: u32,
    pub(super) dev_sectors: u64,
    pub(super) virt_boundary_mask: u64,
}

/// The parameters `SET_PARAMS` takes (`struct ublk_params`), up to the basic ones: the driver
/// reads `len` bytes.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct ublk_params {
    pub(super) len: u32,
    pub(super) types: u32,
    pub(super) basic: ublk_param_basic,
}
