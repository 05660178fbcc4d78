// The good twin of `compile-fail/locked_by_zero_sized_owner.rs`: the lock's data has a size.
use kernel::prelude::*;
use kernel::sync::{new_mutex, LockedBy, Mutex};

fn main() {
    let owner: Pin<KBox<Mutex<u8>>> = KBox::pin_init(new_mutex!(0), GFP_KERNEL).unwrap();
    let data = LockedBy::new(&owner, 1u32);
    let mut guard = owner.lock();
    *data.access_mut(&mut guard) += 1;
    assert_eq!(*data.access(&guard), 2);
}
