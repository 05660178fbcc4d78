// `LockedBy` tells owners apart by address, so neither the lock nor the data it protects may be
// zero-sized (two of them could share an address). 7.3 rejects both with `build_assert!`; drydock
// with `const_assert!`, at compile time.
use kernel::prelude::*;
use kernel::sync::lock::{Backend, Lock};
use kernel::sync::{new_mutex, static_lock_class, LockedBy, Mutex};

/// A backend whose lock state takes no room, which makes `Lock<(), Nothing>` zero-sized.
struct Nothing;

// SAFETY: nothing is ever shared through it (the program never runs).
unsafe impl Backend for Nothing {
    type State = ();
    type GuardState = ();

    unsafe fn init(
        _ptr: *mut Self::State,
        _name: *const kernel::ffi::c_char,
        _key: *mut kernel::bindings::lock_class_key,
    ) {
    }

    unsafe fn lock(_ptr: *mut Self::State) -> Self::GuardState {}

    unsafe fn try_lock(_ptr: *mut Self::State) -> Option<Self::GuardState> {
        Some(())
    }

    unsafe fn unlock(_ptr: *mut Self::State, _guard_state: &Self::GuardState) {}

    unsafe fn assert_is_held(_ptr: *mut Self::State) {}
}

fn main() {
    // A zero-sized lock.
    let lock = KBox::pin_init(Lock::<(), Nothing>::new((), c"zst", static_lock_class!()), GFP_KERNEL)
        .unwrap();
    let _ = LockedBy::new(&lock, 0u32);

    // A lock of zero-sized data: its guard's data cannot identify the owner.
    let owner: Pin<KBox<Mutex<()>>> = KBox::pin_init(new_mutex!(()), GFP_KERNEL).unwrap();
    let data = LockedBy::new(&owner, 0u32);
    let mut guard = owner.lock();
    let _ = data.access(&guard);
    let _ = data.access_mut(&mut guard);
}
