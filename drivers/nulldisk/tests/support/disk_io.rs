//! What the disk tests share (`#[path = "support/disk_io.rs"] mod disk_io;`).

use std::time::Duration;

use drydock_host::block::local::{Disk, Io, Op};

/// How long an I/O may take on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

/// Submits one batch to the disk's hardware queue (a write, a read, the last block, a flush) and
/// checks that each I/O ended with all its bytes: the driver ended every request it was given.
pub(crate) fn read_and_write(disk: &Disk) {
    let params = disk.params();
    let block = params.logical_block_size >> 9;
    let io = |op, sector, sectors| Io {
        op,
        sector,
        sectors,
    };
    let ios = [
        io(Op::Write, 0, 8 * block),
        io(Op::Read, 0, 8 * block),
        io(Op::Read, params.sectors - u64::from(block), block),
        io(Op::Flush, 0, 0),
    ];
    let completions = disk
        .submit(0, &ios)
        .expect("the disk has a hardware queue 0");
    let outcomes: Vec<_> = completions
        .iter()
        .map(|c| c.wait(PATIENCE).expect("the driver ended the request"))
        .collect();
    let size = params.logical_block_size;
    assert_eq!(outcomes, [Ok(8 * size), Ok(8 * size), Ok(size), Ok(0)]);
}
