//! The module's parameters (the process's, set once: a test binary of their own): `deferred=1`
//! ends each request in `complete`, where `Request::complete` has the dispatch call it, and the
//! disk has the size and block size the parameters give.

#[path = "support/disk_io.rs"]
mod disk_io;

use drydock_host::block::local::Disk;
use drydock_sim::SimBus;

#[test]
fn the_parameters_size_the_disk_and_choose_where_requests_end() {
    let module = &nulldisk::__DRYDOCK_MODULE;
    for param in ["block_size=4096", "capacity_mib=1", "deferred=1"] {
        module.set_param(param).unwrap();
    }
    let bus = SimBus::new();
    let _module = bus.load(module).expect("the module loads");
    let disk = Disk::open("nulldisk0").unwrap();
    assert_eq!(disk.params().sectors, 1 << 11);
    assert_eq!(disk.params().logical_block_size, 4096);
    assert_eq!(disk.params().physical_block_size, 4096);
    disk_io::read_and_write(&disk);
}
