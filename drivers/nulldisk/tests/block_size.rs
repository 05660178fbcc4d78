//! A block size the block layer refuses (the parameters are the process's, set once: a test
//! binary of its own): `GenDiskBuilder` fails with `EINVAL`, and so does the module's load, which
//! adds no disk.

use drydock_host::block::local::Disk;
use drydock_host::errno::Errno;
use drydock_sim::SimBus;

#[test]
fn a_block_size_that_is_no_power_of_two_fails_the_load() {
    let module = &nulldisk::__DRYDOCK_MODULE;
    module.set_param("block_size=1000").unwrap();
    assert_eq!(SimBus::new().load(module).err(), Some(Errno::EINVAL));
    assert_eq!(Disk::open("nulldisk0").err(), Some(Errno::ENODEV));
}
