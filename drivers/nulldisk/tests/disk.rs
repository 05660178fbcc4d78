//! The disk `nulldisk0`, served in process (`drydock_host::block::local`, with the dispatch ublk
//! requests go through) with the module's default parameters: it has the size and block size
//! asked for, every read and write to it ends with all its bytes, and unloading the module
//! removes it.

#[path = "support/disk_io.rs"]
mod disk_io;

use drydock_host::block::genhd::DiskParams;
use drydock_host::block::local::Disk;
use drydock_host::errno::Errno;
use drydock_sim::SimBus;

#[test]
fn the_default_disk_is_16_mib_of_512_byte_blocks_whose_requests_end() {
    let bus = SimBus::new();
    let module = bus
        .load(&nulldisk::__DRYDOCK_MODULE)
        .expect("the module loads");
    let disk = Disk::open("nulldisk0").expect("loading the module added the disk");
    assert_eq!(
        *disk.params(),
        DiskParams {
            name: "nulldisk0".into(),
            sectors: 16 << 11,
            logical_block_size: 512,
            physical_block_size: 512,
            rotational: false,
            nr_hw_queues: 1,
            queue_depth: 64,
        }
    );
    disk_io::read_and_write(&disk);
    drop(disk);
    drop(module);
    assert_eq!(Disk::open("nulldisk0").err(), Some(Errno::ENODEV));
}
